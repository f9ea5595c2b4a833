//! The SQL of the fan-out: events and their deliveries, written in one statement per batch. The
//! attempt's own statements (targets, breakers, outcomes) are in `hookline_dispatch::store`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hookline_core::messages::{EventMessage, delivery_id};
use hookline_store::status::DeliveryStatus;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::subscriptions::{Subscriber, SubscriptionCache, Subscriptions};

type Result<T> = std::result::Result<T, sqlx::Error>;

/// Tries of a fan-out whose subscriptions keep going out of date before it writes what it read last.
const STALE_TRIES: u32 = 3;

/// A delivery whose first task must be published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::FromRow)]
pub struct Planned {
    pub id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    pub version: i32,
}

/// Records `events` and one delivery per enabled, subscribed webhook of the same organisation, and returns
/// the deliveries whose first task must be published: those created now, and, for events the broker
/// `redelivered` (a worker may have died between recording and publishing), those still waiting for their
/// first attempt. Events and deliveries are written by one statement, so they land together or not at all.
///
/// Who is subscribed comes from `subscriptions`; the statement writes nothing if any organisation's
/// generation moved since, and the organisation is read again. After [`STALE_TRIES`] such tries (an
/// organisation whose webhooks change without pause) the last reading is written as it is, as a read
/// followed by a write always was, so no organisation's changes can hold a batch back.
pub async fn fan_out(
    pool: &PgPool,
    subscriptions: &SubscriptionCache,
    events: &[EventMessage],
    redelivered: &[Uuid],
) -> Result<Vec<Planned>> {
    let organisations: Vec<&str> = events
        .iter()
        .map(|e| e.organisation_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut tries = 0;
    let inserted = loop {
        tries += 1;
        let current = subscriptions.get(pool, &organisations).await?;
        match insert(pool, events, &current, tries < STALE_TRIES).await? {
            Some(inserted) => break inserted,
            None => {
                tracing::debug!(
                    "an organisation's webhooks changed since they were read; reading again"
                );
                subscriptions.forget(&organisations);
            }
        }
    };
    // Skipped deliveries are recorded, never attempted.
    let skipped = inserted
        .iter()
        .filter(|(_, status)| *status == DeliveryStatus::Skipped)
        .count();
    if skipped > 0 {
        metrics::counter!(hookline_runtime::prometheus::DELIVERIES, "outcome" => "skipped")
            .increment(skipped as u64);
    }
    let mut planned: Vec<Planned> = inserted
        .into_iter()
        .filter(|(_, status)| *status == DeliveryStatus::Pending)
        .map(|(p, _)| p)
        .collect();

    if !redelivered.is_empty() {
        let waiting: Vec<Planned> = sqlx::query_as(
            "SELECT id, event_id, webhook_id, version FROM deliveries
             WHERE event_id = ANY($1) AND status = 'pending' AND attempts = 0",
        )
        .bind(redelivered)
        // Rare, and a generic plan for an array made while the table was small would scan it.
        .persistent(false)
        .fetch_all(pool)
        .await?;
        let known: HashSet<Planned> = planned.iter().cloned().collect();
        planned.extend(waiting.into_iter().filter(|p| !known.contains(p)));
    }
    Ok(planned)
}

/// Writes `events` and the deliveries `current` subscriptions give them, in one statement; when `check`,
/// only if every organisation is still at the generation its subscriptions were read at (`None` if not).
/// Returns each new delivery and its status.
async fn insert(
    pool: &PgPool,
    events: &[EventMessage],
    current: &HashMap<&str, Arc<Subscriptions>>,
    check: bool,
) -> Result<Option<Vec<(Planned, DeliveryStatus)>>> {
    let mut deliveries = Rows::default();
    for event in events {
        let Some(subscriptions) = current.get(event.organisation_id.as_str()) else {
            continue;
        };
        for webhook in subscriptions.webhooks.iter().filter(|w| w.wants(event)) {
            deliveries.push(event, webhook, subscriptions.triggers_enabled);
        }
    }
    // Unchecked, the generations are left out, and the statement finds nothing out of date.
    let checked: Vec<(&str, i64)> = current
        .iter()
        .filter(|_| check)
        .map(|(organisation, s)| (*organisation, s.generation))
        .collect();
    let rows: Vec<PlannedRow> = sqlx::query_as(
        "WITH current AS (
             SELECT NOT EXISTS (
                 SELECT 1 FROM UNNEST($16::text[], $17::bigint[]) AS c(organisation_id, generation)
                 LEFT JOIN subscription_generations g USING (organisation_id)
                 WHERE COALESCE(g.generation, 0) <> c.generation
             ) AS fresh
         ), new_events AS (
             INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data, versions)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::jsonb[],
                 $13::jsonb[])
             WHERE (SELECT fresh FROM current)
             ON CONFLICT (id) DO NOTHING
         ), new_deliveries AS (
             INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, version, status,
                 reason)
             SELECT d.id, d.event_id, d.webhook_id, d.organisation_id, d.event_type, d.url, d.version,
                    CASE WHEN d.reason IS NULL THEN 'pending' ELSE 'skipped' END, d.reason
             FROM UNNEST($7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[], $14::int[],
                         $15::text[])
                  AS d(id, event_id, webhook_id, organisation_id, event_type, url, version, reason)
             WHERE (SELECT fresh FROM current)
             ON CONFLICT (id) DO NOTHING
             RETURNING id, event_id, webhook_id, version, status
         )
         SELECT c.fresh, d.id, d.event_id, d.webhook_id, d.version, d.status
         FROM current c LEFT JOIN new_deliveries d ON true",
    )
    .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.organisation_id.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.version as i32).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| Json(&e.data)).collect::<Vec<_>>())
    .bind(&deliveries.ids)
    .bind(&deliveries.event_ids)
    .bind(&deliveries.webhook_ids)
    .bind(&deliveries.organisations)
    .bind(&deliveries.event_types)
    .bind(&deliveries.urls)
    .bind(events.iter().map(|e| Json(&e.versions)).collect::<Vec<_>>())
    .bind(&deliveries.versions)
    .bind(&deliveries.reasons)
    .bind(checked.iter().map(|(o, _)| *o).collect::<Vec<_>>())
    .bind(checked.iter().map(|(_, g)| *g).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    if rows.first().is_some_and(|r| !r.fresh) {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|r| {
                let planned = Planned {
                    id: r.id?,
                    event_id: r.event_id?,
                    webhook_id: r.webhook_id?,
                    version: r.version?,
                };
                Some((planned, r.status?))
            })
            .collect(),
    ))
}

/// A row of the fan-out insert: whether the subscriptions were current, and a delivery it wrote (none
/// when it wrote none).
#[derive(sqlx::FromRow)]
struct PlannedRow {
    fresh: bool,
    id: Option<Uuid>,
    event_id: Option<Uuid>,
    webhook_id: Option<Uuid>,
    version: Option<i32>,
    status: Option<DeliveryStatus>,
}

/// Column arrays of new delivery rows, for one `UNNEST` insert.
#[derive(Default)]
struct Rows<'a> {
    ids: Vec<Uuid>,
    event_ids: Vec<Uuid>,
    webhook_ids: Vec<Uuid>,
    organisations: Vec<&'a str>,
    event_types: Vec<&'a str>,
    urls: Vec<&'a str>,
    versions: Vec<i32>,
    /// Why a delivery is skipped; `None` for one to attempt.
    reasons: Vec<Option<String>>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, event: &'a EventMessage, webhook: &'a Subscriber, triggers_enabled: bool) {
        let version = webhook.version_of(event);
        let published = event.published_versions();
        self.ids.push(delivery_id(event.id, webhook.id));
        self.event_ids.push(event.id);
        self.webhook_ids.push(webhook.id);
        self.organisations.push(&event.organisation_id);
        self.event_types.push(&event.event_type);
        self.urls.push(&webhook.url);
        self.versions.push(version as i32);
        self.reasons.push(if !triggers_enabled {
            Some("event triggers are switched off for the organisation".to_owned())
        } else if !published.contains(&version) {
            Some(format!(
                "the webhook is pinned to version {version} of {}, but the event was published in version(s) {}",
                event.event_type,
                published.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ))
        } else {
            None
        });
    }
}

#[cfg(test)]
mod tests;
