//! Where deliveries go: webhook targets read from PostgreSQL and kept briefly, so a busy endpoint costs
//! one read per TTL rather than one per attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_common::signing::SigningSecret;
use sqlx::PgPool;
use uuid::Uuid;

use crate::store;

/// What the attempt stage needs to know about a webhook.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    pub secret: SigningSecret,
    pub enabled: bool,
}

/// When an entry was read, and what: `None` remembers a deleted webhook.
type Entry = (Instant, Option<Arc<Target>>);

/// Webhook targets by id, each kept for at most `ttl`.
pub struct WebhookCache {
    pool: PgPool,
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl WebhookCache {
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        Self {
            pool,
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The webhook's current target, or `None` when it no longer exists.
    pub async fn get(&self, id: Uuid) -> Result<Option<Arc<Target>>, sqlx::Error> {
        if let Some((at, target)) = self.entries.lock().expect("cache lock").get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(target.clone());
        }
        let target = store::webhook_target(&self.pool, id).await?.and_then(|row| {
            match SigningSecret::parse(&row.secret) {
                Ok(secret) => Some(Arc::new(Target { url: row.url, secret, enabled: row.status == "enabled" })),
                Err(_) => {
                    tracing::error!(webhook_id = %id, "stored signing secret is malformed; skipping webhook");
                    None
                }
            }
        });
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() > 100_000 {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(id, (Instant::now(), target.clone()));
        Ok(target)
    }
}
