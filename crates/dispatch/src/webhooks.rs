//! Where deliveries go: webhook targets read from PostgreSQL and kept briefly, so a busy endpoint costs
//! one read per TTL rather than one per attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hookline_core::endpoint_auth::{EndpointAuth, seal_context};
use hookline_core::secret_box::{Sealed, SecretBox};
use hookline_core::signing::SigningSecret;
use http::{HeaderName, HeaderValue};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{self, TargetRow};
use hookline_store::status::WebhookStatus;

/// Why a webhook was switched off when its endpoint answered `410 Gone`, as `GetWebhook` shows it.
pub const GONE_REASON: &str = "the endpoint answered 410 Gone";

/// What the attempt stage needs to know about a webhook.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    /// The current secret first; during a rotation overlap, the previous one after it.
    pub secrets: Vec<SigningSecret>,
    /// The endpoint-authentication header, if the webhook has one.
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub enabled: bool,
    /// Until when a worker's breaker holds the endpoint's attempts back, if it is open.
    pub circuit_open_until: Option<DateTime<Utc>>,
    /// The most deliveries a second the endpoint is sent, across every worker, if limited.
    pub rate_limit: Option<u32>,
}

/// A change of an endpoint's breaker, to be made visible (its row, the log, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened { for_: Duration },
    Closed,
}

/// When an entry was read, and what: `None` remembers a deleted webhook.
type Entry = (Instant, Option<Arc<Target>>);

/// Webhook targets by id, each kept for at most `ttl`.
pub struct WebhookCache {
    pool: PgPool,
    secrets: SecretBox,
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl WebhookCache {
    pub fn new(pool: PgPool, secrets: SecretBox, ttl: Duration) -> Self {
        Self {
            pool,
            secrets,
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
        let target = store::webhook_target(&self.pool, id)
            .await?
            .and_then(|row| self.target(id, row));
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() > 100_000 {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(id, (Instant::now(), target.clone()));
        Ok(target)
    }

    /// Records a change of the webhook's breaker in its row, for every worker and for `GetWebhook`, and
    /// forgets the cached target so this worker reads the new state too. True when the row changed
    /// state (closed to open, or open to closed), which other workers' breakers may already have done.
    pub async fn set_circuit(&self, id: Uuid, transition: Transition) -> Result<bool, sqlx::Error> {
        let changed = match transition {
            Transition::Opened { for_ } => store::open_circuit(&self.pool, id, for_).await?,
            Transition::Closed => store::close_circuit(&self.pool, id).await?,
        };
        self.entries.lock().expect("cache lock").remove(&id);
        Ok(changed)
    }

    /// Reserves the next slot of the webhook's rate-limit schedule; how long from now it is.
    pub async fn reserve_rate_slot(
        &self,
        id: Uuid,
        per_second: u32,
    ) -> Result<Duration, sqlx::Error> {
        store::reserve_rate_slot(&self.pool, id, per_second).await
    }

    /// Switches the webhook off for `reason` (its endpoint said it is gone) in its row, for every worker,
    /// and forgets the cached target. True when this call switched it off.
    pub async fn disable(&self, id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
        let disabled = store::disable(&self.pool, id, reason).await?;
        self.entries.lock().expect("cache lock").remove(&id);
        Ok(disabled)
    }

    /// Opens the row's sealed secrets. A webhook whose current secret cannot be opened is treated as gone,
    /// and says so in the log: signing with anything else would fail every receiver's check.
    fn target(&self, id: Uuid, row: TargetRow) -> Option<Arc<Target>> {
        let open = |key_id: Option<String>, bytes: Option<Vec<u8>>, context: &[u8]| {
            let sealed = Sealed {
                key_id: key_id?,
                bytes: bytes?,
            };
            let plain = self.secrets.open(&sealed, context).inspect_err(|error| {
                tracing::error!(webhook_id = %id, %error, "cannot open the webhook's sealed secrets");
            });
            plain.ok()
        };
        let signing = |plain: Vec<u8>| SigningSecret::parse(std::str::from_utf8(&plain).ok()?).ok();
        let sealed = row.sealed;
        let current = signing(open(
            sealed.secret_key_id,
            sealed.secret_sealed,
            id.as_bytes(),
        )?)?;
        let previous = open(
            sealed.previous_secret_key_id,
            sealed.previous_secret_sealed,
            id.as_bytes(),
        )
        .and_then(signing);
        let auth = match (sealed.auth_key_id, sealed.auth_sealed) {
            (None, None) => None,
            // Credentials that cannot be opened would fail the receiver's check on every attempt.
            (key_id, bytes) => {
                let plain = open(key_id, bytes, &seal_context(&id))?;
                EndpointAuth::from_bytes(&plain)?.to_header()
            }
        };
        let secrets = std::iter::once(current).chain(previous).collect();
        Some(Arc::new(Target {
            url: row.url,
            secrets,
            auth,
            enabled: row.status == WebhookStatus::Enabled,
            circuit_open_until: row.circuit_open_until,
            rate_limit: row.rate_limit.and_then(|r| u32::try_from(r).ok()),
        }))
    }
}
