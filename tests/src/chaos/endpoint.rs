//! The customer's side of the fault suite: one HTTP server whose paths are webhooks' endpoints. It
//! verifies every request's signature with the webhook's secret and records what arrived, so the suite
//! can hold each event answered OK against what each webhook received.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookline_core::signing::{self, SigningSecret};

/// One request that arrived.
/// How far a request's timestamp may be from now, as the reference libraries allow.
const TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Receipt {
    /// The endpoint's path segment (which webhook).
    pub hook: String,
    /// `webhook-id`: the event id, the same on every retry.
    pub msg_id: String,
    /// The `seq` the producer put in the event's data.
    pub seq: Option<u64>,
    /// Whether the signature verified with the webhook's secret.
    pub verified: bool,
    /// What the endpoint answered.
    pub status: u16,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    secrets: Mutex<HashMap<String, SigningSecret>>,
    receipts: Mutex<Vec<Receipt>>,
    /// Whether each delivery's first request is answered 503.
    fail_first: AtomicBool,
    seen: Mutex<HashSet<(String, String)>>,
}

/// A running endpoint server; it stops with the runtime.
pub struct Endpoints {
    base: String,
    inner: Arc<Inner>,
}

impl Endpoints {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/hooks", listener.local_addr()?);
        let app = Router::new()
            .route("/hooks/{hook}", post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { base, inner })
    }

    /// The URL of endpoint `hook`.
    pub fn url(&self, hook: &str) -> String {
        format!("{}/{hook}", self.base)
    }

    /// Requests to `hook` are verified with `secret` (the `whsec_…` the registry returned).
    pub fn trust(&self, hook: &str, secret: &str) -> anyhow::Result<()> {
        let secret = SigningSecret::parse(secret)?;
        self.inner
            .secrets
            .lock()
            .expect("secrets lock")
            .insert(hook.to_owned(), secret);
        Ok(())
    }

    /// From now on, answer the first request of each (webhook, event) with 503.
    pub fn fail_first_attempts(&self, fail: bool) {
        self.inner.fail_first.store(fail, Ordering::Relaxed);
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.inner.receipts.lock().expect("receipts lock").clone()
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let msg_id = header(hookline_core::headers::WEBHOOK_ID).to_owned();
    let verified = inner
        .secrets
        .lock()
        .expect("secrets lock")
        .get(&hook)
        .is_some_and(|secret| {
            let now = chrono::Utc::now().timestamp();
            signing::verify_request(secret, header, &body, now, TOLERANCE).is_ok()
        });
    let seq = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/data/object/seq")?.as_u64());
    let first = inner
        .seen
        .lock()
        .expect("seen lock")
        .insert((hook.clone(), msg_id.clone()));
    let status = if first && inner.fail_first.load(Ordering::Relaxed) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    inner.receipts.lock().expect("receipts lock").push(Receipt {
        hook,
        msg_id,
        seq,
        verified,
        status: status.as_u16(),
        at: std::time::Instant::now(),
    });
    status
}
