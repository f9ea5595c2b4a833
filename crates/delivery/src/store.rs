//! The SQL of the fan-out: events and their deliveries, written in one statement per batch. The
//! attempt's own statements (targets, breakers, outcomes) are in `hookline_dispatch::store`.

use std::collections::{HashMap, HashSet};

use hookline_core::messages::{EventMessage, delivery_id};
use hookline_store::status::DeliveryStatus;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

type Result<T> = std::result::Result<T, sqlx::Error>;

#[derive(Debug, sqlx::FromRow)]
struct Subscriber {
    id: Uuid,
    organisation_id: String,
    url: String,
    event_types: Vec<String>,
    /// Pinned versions by event type; a type without a pin gets version 1 (webhooks made before pins).
    event_versions: Json<HashMap<String, u32>>,
    /// The organisation's "Enable event triggers" switch.
    triggers_enabled: bool,
}

impl Subscriber {
    /// The version of `event` this webhook receives: its pin, or the version an addressed event (a ping)
    /// was made in.
    fn version_of(&self, event: &EventMessage) -> u32 {
        match event.webhook_id {
            Some(_) => event.version,
            None => self
                .event_versions
                .0
                .get(&event.event_type)
                .copied()
                .unwrap_or(1),
        }
    }
}

/// The organisation's unit system; the default for one without settings.
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
pub async fn fan_out(
    pool: &PgPool,
    events: &[EventMessage],
    redelivered: &[Uuid],
) -> Result<Vec<Planned>> {
    let organisations: Vec<&str> = events
        .iter()
        .map(|e| e.organisation_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let subscribers: Vec<Subscriber> = sqlx::query_as(
        "SELECT w.id, w.organisation_id, w.url, w.event_types, w.event_versions,
                COALESCE(s.event_triggers_enabled, true) AS triggers_enabled
         FROM webhooks w LEFT JOIN organisation_settings s USING (organisation_id)
         WHERE w.status = 'enabled' AND w.organisation_id = ANY($1)",
    )
    .bind(&organisations)
    .fetch_all(pool)
    .await?;

    let mut rows = Rows::default();
    for event in events {
        // An addressed event (a ping) goes to its webhook alone, if enabled; others by subscription.
        let matching = subscribers.iter().filter(|s| {
            s.organisation_id == event.organisation_id
                && match event.webhook_id {
                    Some(target) => s.id == target,
                    None => s.event_types.contains(&event.event_type),
                }
        });
        for s in matching {
            rows.push(event, s);
        }
    }
    let inserted: Vec<(Planned, DeliveryStatus)> = sqlx::query_as::<_, PlannedRow>(
        "WITH new_events AS (
             INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data, versions)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::jsonb[],
                 $13::jsonb[])
             ON CONFLICT (id) DO NOTHING
         )
         INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, version, status, reason)
         SELECT d.id, d.event_id, d.webhook_id, d.organisation_id, d.event_type, d.url, d.version,
                CASE WHEN d.reason IS NULL THEN 'pending' ELSE 'skipped' END, d.reason
         FROM UNNEST($7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[], $14::int[],
                     $15::text[])
              AS d(id, event_id, webhook_id, organisation_id, event_type, url, version, reason)
         ON CONFLICT (id) DO NOTHING
         RETURNING id, event_id, webhook_id, version, status",
    )
    .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.organisation_id.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.version as i32).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| Json(&e.data)).collect::<Vec<_>>())
    .bind(&rows.ids)
    .bind(&rows.event_ids)
    .bind(&rows.webhook_ids)
    .bind(&rows.organisations)
    .bind(&rows.event_types)
    .bind(&rows.urls)
    .bind(events.iter().map(|e| Json(&e.versions)).collect::<Vec<_>>())
    .bind(&rows.versions)
    .bind(&rows.reasons)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (Planned { id: r.id, event_id: r.event_id, webhook_id: r.webhook_id, version: r.version }, r.status))
    .collect();
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

/// A delivery row as the fan-out insert returns it.
#[derive(sqlx::FromRow)]
struct PlannedRow {
    id: Uuid,
    event_id: Uuid,
    webhook_id: Uuid,
    version: i32,
    status: DeliveryStatus,
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
    fn push(&mut self, event: &'a EventMessage, webhook: &'a Subscriber) {
        let version = webhook.version_of(event);
        let published = event.published_versions();
        self.ids.push(delivery_id(event.id, webhook.id));
        self.event_ids.push(event.id);
        self.webhook_ids.push(webhook.id);
        self.organisations.push(&event.organisation_id);
        self.event_types.push(&event.event_type);
        self.urls.push(&webhook.url);
        self.versions.push(version as i32);
        self.reasons.push(if !webhook.triggers_enabled {
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
