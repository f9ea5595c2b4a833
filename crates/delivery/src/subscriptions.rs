//! Who receives an organisation's events: its enabled webhooks and its "Enable event triggers" switch,
//! kept in the worker between fan-outs. Reading them for every batch cost a query and a transaction per
//! batch (at low rates, per event). Each kept entry carries the generation it was read at
//! (`subscription_generations`, bumped by triggers on every change to what is read here), and the
//! fan-out's insert checks that generation in the same statement, so a change committed before an
//! event's fan-out is never missed: a stale entry makes the insert write nothing, and it is read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_core::messages::EventMessage;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// Organisations kept before those unused for [`IDLE`] are forgotten; if that is not enough (a producer
/// naming a new organisation in every event), all are, so the cache never holds more than this.
const KEPT: usize = 10_000;
const IDLE: Duration = Duration::from_secs(60);

/// An enabled webhook, as the fan-out needs it.
#[derive(Debug)]
pub struct Subscriber {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    /// Pinned versions by event type; a type without a pin gets version 1 (webhooks made before pins).
    pub event_versions: HashMap<String, u32>,
}

impl Subscriber {
    /// The version of `event` this webhook receives: its pin, or the version an addressed event (a ping)
    /// was made in.
    pub fn version_of(&self, event: &EventMessage) -> u32 {
        match event.webhook_id {
            Some(_) => event.version,
            None => self
                .event_versions
                .get(&event.event_type)
                .copied()
                .unwrap_or(1),
        }
    }

    /// Whether `event` goes to this webhook: an addressed event (a ping) to its webhook alone, others by
    /// subscription.
    pub fn wants(&self, event: &EventMessage) -> bool {
        match event.webhook_id {
            Some(target) => self.id == target,
            None => self.event_types.contains(&event.event_type),
        }
    }
}

/// One organisation's subscriptions, as of `generation`.
#[derive(Debug)]
pub struct Subscriptions {
    pub generation: i64,
    /// The organisation's "Enable event triggers" switch.
    pub triggers_enabled: bool,
    pub webhooks: Vec<Subscriber>,
}

/// Subscriptions by organisation, with when each was last used.
pub struct SubscriptionCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Subscriptions>)>>,
    kept: usize,
}

impl Default for SubscriptionCache {
    fn default() -> Self {
        Self::keeping(KEPT)
    }
}

impl SubscriptionCache {
    /// A cache of at most `kept` organisations.
    pub(crate) fn keeping(kept: usize) -> Self {
        Self {
            entries: Mutex::default(),
            kept,
        }
    }

    /// How many organisations are kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().expect("subscriptions lock").len()
    }

    /// The subscriptions of each of `organisations`: kept ones, and the others read (all in one query).
    /// Keyed by the caller's own strings, so a batch whose organisations are all kept allocates no key.
    pub async fn get<'a>(
        &self,
        pool: &PgPool,
        organisations: &[&'a str],
    ) -> Result<HashMap<&'a str, Arc<Subscriptions>>, sqlx::Error> {
        let now = Instant::now();
        let mut found = HashMap::with_capacity(organisations.len());
        let mut missing = Vec::new();
        {
            let mut entries = self.entries.lock().expect("subscriptions lock");
            for organisation in organisations {
                match entries.get_mut(*organisation) {
                    Some((used, kept)) => {
                        *used = now;
                        found.insert(*organisation, kept.clone());
                    }
                    None => missing.push(*organisation),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut read = read(pool, &missing).await?;
        let mut entries = self.entries.lock().expect("subscriptions lock");
        if entries.len() + read.len() > self.kept {
            entries.retain(|_, (used, _)| used.elapsed() < IDLE);
        }
        if entries.len() + read.len() > self.kept {
            entries.clear();
        }
        // `read` answers for every organisation it was asked about, with or without webhooks.
        for organisation in missing {
            let Some((key, subscriptions)) = read.remove_entry(organisation) else {
                continue;
            };
            let subscriptions = Arc::new(subscriptions);
            if entries.len() < self.kept {
                entries.insert(key, (now, subscriptions.clone()));
            }
            found.insert(organisation, subscriptions);
        }
        Ok(found)
    }

    /// Forgets `organisations`, whose kept generation a write found out of date.
    pub fn forget(&self, organisations: &[&str]) {
        let mut entries = self.entries.lock().expect("subscriptions lock");
        for organisation in organisations {
            entries.remove(*organisation);
        }
    }
}

/// A row of [`read`]: an organisation, and one of its enabled webhooks if it has any.
#[derive(sqlx::FromRow)]
struct Row {
    organisation_id: String,
    generation: i64,
    triggers_enabled: bool,
    id: Option<Uuid>,
    url: Option<String>,
    event_types: Option<Vec<String>>,
    event_versions: Option<Json<HashMap<String, u32>>>,
}

/// Reads the subscriptions of `organisations` in one statement, so each generation matches the rows
/// read with it. An organisation without webhooks is read (and kept) too.
async fn read(
    pool: &PgPool,
    organisations: &[&str],
) -> Result<HashMap<String, Subscriptions>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT o.organisation_id, COALESCE(g.generation, 0) AS generation,
                COALESCE(s.event_triggers_enabled, true) AS triggers_enabled,
                w.id, w.url, w.event_types, w.event_versions
         FROM UNNEST($1::text[]) AS o(organisation_id)
         LEFT JOIN subscription_generations g USING (organisation_id)
         LEFT JOIN organisation_settings s USING (organisation_id)
         LEFT JOIN webhooks w ON w.organisation_id = o.organisation_id AND w.status = 'enabled'",
    )
    .bind(organisations)
    .fetch_all(pool)
    .await?;
    let mut read: HashMap<String, Subscriptions> = HashMap::new();
    for row in rows {
        let subscriptions = read
            .entry(row.organisation_id)
            .or_insert_with(|| Subscriptions {
                generation: row.generation,
                triggers_enabled: row.triggers_enabled,
                webhooks: Vec::new(),
            });
        if let (Some(id), Some(url), Some(event_types), Some(Json(event_versions))) =
            (row.id, row.url, row.event_types, row.event_versions)
        {
            subscriptions.webhooks.push(Subscriber {
                id,
                url,
                event_types,
                event_versions,
            });
        }
    }
    Ok(read)
}
