//! `hookline listen`: a local webhook receiver, like `stripe listen`. It verifies each request's
//! signature and timestamp with the webhook's secret, answers 204 (or 400 for a bad request), and prints
//! the event readably, marking forged and stale requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookline_core::headers::WEBHOOK_ID;
use hookline_core::signing::{SigningSecret, VerifyError, verify_request};
use secrecy::{ExposeSecret, SecretString};

#[derive(clap::Args)]
pub struct ListenArgs {
    /// The port to listen on (127.0.0.1 unless --host says otherwise).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The webhook's `whsec_…` secret.
    #[arg(long, env = "HOOKLINE_WEBHOOK_SECRET", hide_env_values = true)]
    secret: SecretString,
    /// How far a request's timestamp may be from now before it counts as stale (a replay).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    tolerance: Duration,
}

struct Listener {
    secret: SigningSecret,
    tolerance: Duration,
}

impl ListenArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let secret = SigningSecret::parse(self.secret.expose_secret())
            .map_err(|_| anyhow::anyhow!("--secret is not a whsec_… secret"))?;
        let state = Arc::new(Listener {
            secret,
            tolerance: self.tolerance,
        });
        let app = Router::new().fallback(receive).with_state(state);
        let addr = SocketAddr::new(self.host, self.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        println!(
            "listening on http://{}, verifying signatures; Ctrl-C stops",
            listener.local_addr()?
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    }
}

async fn receive(
    State(listener): State<Arc<Listener>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let id = header(WEBHOOK_ID);
    let now = chrono::Utc::now().timestamp();
    let verdict = verify_request(&listener.secret, header, &body, now, listener.tolerance);
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let mark = match &verdict {
        Ok(()) => "verified".to_owned(),
        Err(VerifyError::Stale(_)) => format!("STALE: {}", verdict.as_ref().unwrap_err()),
        Err(e) => format!("FORGED: {e}"),
    };
    println!(
        "{} {} {} [{mark}]\n{}",
        event["dateTime"].as_str().unwrap_or("-"),
        event["eventType"].as_str().unwrap_or("(not an event)"),
        id,
        serde_json::to_string_pretty(&event["data"]["object"]).unwrap_or_default()
    );
    if verdict.is_ok() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::BAD_REQUEST
    }
}
