//! Where deliveries go: webhook targets read from PostgreSQL and kept briefly, so a busy endpoint costs
//! one read per TTL rather than one per attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_common::endpoint_auth::{EndpointAuth, seal_context};
use hookline_common::secret_box::{Sealed, SecretBox};
use hookline_common::signing::SigningSecret;
use http::{HeaderName, HeaderValue};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{self, TargetRow};

/// What the attempt stage needs to know about a webhook.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    /// The current secret first; during a rotation overlap, the previous one after it.
    pub secrets: Vec<SigningSecret>,
    /// The endpoint-authentication header, if the webhook has one.
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub enabled: bool,
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
        let current = signing(open(row.secret_key_id, row.secret_sealed, id.as_bytes())?)?;
        let previous = open(
            row.previous_secret_key_id,
            row.previous_secret_sealed,
            id.as_bytes(),
        )
        .and_then(signing);
        let auth = match (row.auth_key_id, row.auth_sealed) {
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
            enabled: row.status == "enabled",
        }))
    }
}
