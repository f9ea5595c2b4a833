//! The HTTP side of an attempt: one signed POST, with a deadline, no redirects followed, and the
//! response captured up to a size cap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use hookline_core::address_policy::AddressPolicy;
use hookline_core::headers::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use hookline_core::signing::signature_header;
use hookline_core::storable;
use hookline_core::webhook_url::WebhookUrl;
use hookline_runtime::config::EndpointPolicy;
use hookline_runtime::spans;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tracing::Instrument as _;

use crate::failure::AttemptFailure;
use crate::outcome::HttpExchange;
use crate::resolver::VettingResolver;
use crate::webhooks::Target;

/// Sends attempts. One per worker, so connections to each endpoint are pooled and reused.
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector<VettingResolver>>, Full<Bytes>>,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
    max_response_body: usize,
    allow_insecure_http: bool,
    user_agent: HeaderValue,
}

/// Why the sender cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot read the extra root certificate {path}: {source}")]
    RootCertificate {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot use the extra root certificate {path}: {source}")]
    UntrustedRoot {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

impl Sender {
    /// `max_idle_per_host` keep-alive connections stay open to each host between attempts. It should be
    /// the most attempts that can run at once: many webhooks may share one host, and a pool smaller
    /// than the attempts in flight closes a connection after each surplus attempt, to open a new one
    /// for the next (measured with 64 idle under 512 in flight: a new TCP connection every 2–3
    /// deliveries, 7,200–7,700 sockets in TIME-WAIT per 20,000, paid by the endpoint too).
    pub fn new(
        timeout: Duration,
        max_response_body: usize,
        max_idle_per_host: usize,
        endpoints: &EndpointPolicy,
    ) -> Result<Self, SenderError> {
        let policy = Arc::new(endpoints.address_policy());
        let mut http = HttpConnector::new_with_resolver(VettingResolver::new(policy.clone()));
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(&endpoints.extra_root_certificates)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle_per_host)
            .build(https);
        let user_agent = HeaderValue::from_str(&format!("Hookline/{}", hookline_runtime::VERSION))
            .expect("the version is a valid header value");
        Ok(Self {
            client,
            policy,
            timeout,
            max_response_body,
            allow_insecure_http: endpoints.allow_insecure_http,
            user_agent,
        })
    }

    /// Signs `body` with `target`'s secrets and POSTs it to `url` (the target's own, or another URL of its
    /// organisation for a test event). Never fails: every problem becomes the exchange's `failure`.
    pub async fn send(
        &self,
        url: &str,
        target: &Target,
        msg_id: &str,
        body: Vec<u8>,
    ) -> HttpExchange {
        let started_at = Utc::now();
        let clock = Instant::now();
        let request_body = String::from_utf8_lossy(&body).into_owned();
        let mut exchange = HttpExchange {
            started_at,
            duration: std::time::Duration::ZERO,
            request_body,
            request_headers: Vec::new(),
            status: None,
            headers: Vec::new(),
            body: String::new(),
            body_truncated: false,
            failure: None,
        };
        // The policy is checked again here: the URL may predate a stricter configuration.
        let result = match WebhookUrl::parse(url, self.allow_insecure_http) {
            Ok(url) => {
                let span = spans::http_post(url.url());
                let result = self
                    .post(&url, target, msg_id, body, &mut exchange)
                    .instrument(span.clone())
                    .await;
                let kind = result.as_ref().err().and_then(AttemptFailure::kind);
                spans::http_ended(&span, exchange.status, kind);
                result
            }
            Err(e) => Err(AttemptFailure::Refused(format!("refused: url {e}"))),
        };
        exchange.failure = result.err();
        exchange.duration = clock.elapsed();
        exchange
    }

    /// Sends the request within the deadline.
    async fn post(
        &self,
        url: &WebhookUrl,
        target: &Target,
        msg_id: &str,
        body: Vec<u8>,
        exchange: &mut HttpExchange,
    ) -> Result<(), AttemptFailure> {
        let request = self.request(url, target, msg_id, body, exchange.started_at.timestamp())?;
        exchange.request_headers = shown_headers(&request, target);
        tokio::time::timeout(self.timeout, self.exchange(request, exchange))
            .await
            .map_err(|_| AttemptFailure::Timeout(self.timeout))?
    }

    fn request(
        &self,
        url: &WebhookUrl,
        target: &Target,
        msg_id: &str,
        body: Vec<u8>,
        timestamp: i64,
    ) -> Result<Request<Full<Bytes>>, AttemptFailure> {
        // Hosts given as addresses never reach the resolver, so they are vetted here.
        if let Some(ip) = url.ip() {
            self.policy
                .check(ip)
                .map_err(|e| AttemptFailure::Refused(e.to_string()))?;
        }
        let signature = signature_header(&target.secrets, msg_id, timestamp, &body);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, self.user_agent.clone())
            .header(WEBHOOK_ID, msg_id)
            .header(WEBHOOK_TIMESTAMP, timestamp)
            .header(WEBHOOK_SIGNATURE, signature);
        if let Some((name, value)) = &target.auth {
            request = request.header(name, value);
        }
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AttemptFailure::Refused(format!("cannot build the request: {e}")))
    }

    /// Fills in the response; `Err` says why the attempt failed.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        exchange: &mut HttpExchange,
    ) -> Result<(), AttemptFailure> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| AttemptFailure::from_client(&e))?;
        let status = response.status();
        exchange.status = Some(status.as_u16());
        exchange.headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    storable::lossy(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| AttemptFailure::Body(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let room = self.max_response_body - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                exchange.body_truncated = true;
                break;
            }
        }
        // A receiver's body may hold anything, NUL included; the log must still be written.
        exchange.body = storable::lossy(String::from_utf8_lossy(&kept).into_owned());
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(AttemptFailure::Redirect(status))
        } else {
            Err(AttemptFailure::Status(status))
        }
    }
}

/// The text shown for an endpoint credential in a request's headers.
pub const MASKED: &str = "********";

/// `request`'s headers as text, the endpoint credential masked: logs and test-event answers show them.
fn shown_headers(request: &Request<Full<Bytes>>, target: &Target) -> Vec<(String, String)> {
    let secret = target.auth.as_ref().map(|(name, _)| name);
    request
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if Some(name) == secret {
                MASKED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// The system's roots plus the configured extra ones, with the ring provider every crate here uses.
fn tls_config(extra_roots: &[PathBuf]) -> Result<rustls::ClientConfig, SenderError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "skipping an unreadable system root certificate");
    }
    roots.add_parsable_certificates(native.certs);
    for path in extra_roots {
        for cert in
            CertificateDer::pem_file_iter(path).map_err(|source| SenderError::RootCertificate {
                path: path.clone(),
                source,
            })?
        {
            let cert = cert.map_err(|source| SenderError::RootCertificate {
                path: path.clone(),
                source,
            })?;
            roots
                .add(cert)
                .map_err(|source| SenderError::UntrustedRoot {
                    path: path.clone(),
                    source,
                })?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
