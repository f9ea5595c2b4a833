//! A real HTTP webhook endpoint on 127.0.0.1 that records every request and answers as scripted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    /// Held this long before answering.
    pub delay: Duration,
    /// Bytes of body sent back (all `x`), unless `body` is given.
    pub body_len: usize,
    /// The exact body sent back, if not `x`s.
    pub body: Option<&'static [u8]>,
    /// Headers sent back beside [`RECEIVER_HEADER`].
    pub headers: &'static [(&'static str, &'static str)],
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            body_len: 2,
            body: None,
            headers: &[],
        }
    }
}

/// The header every receiver answer carries, so tests can find it in the attempt log.
pub const RECEIVER_HEADER: (&str, &str) = ("x-test-receiver", "hookline-tests");

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook bodies are JSON")
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Inner {
    received: Arc<Mutex<Vec<Received>>>,
    /// The `webhook.ping`s, apart: a webhook created enabled is pinged before any event, so the script's
    /// `n` and [`Receiver::count`] count the events alone. Pings are answered 204.
    pings: Arc<Mutex<Vec<Received>>>,
    script: Script,
}

/// A running receiver; it stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    inner: Inner,
    _stop: tokio_util::sync::DropGuard,
}

impl Receiver {
    /// Answers the `n`th request (0-based) with `script(n)`.
    pub async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let (listener, app, receiver, stop) = Self::prepare(script).await;
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .ok();
        });
        receiver
    }

    /// The parts both kinds of receiver share: a loopback listener, the recording app, the receiver, and
    /// the token its drop cancels.
    async fn prepare(
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> (
        tokio::net::TcpListener,
        Router,
        Self,
        tokio_util::sync::CancellationToken,
    ) {
        let inner = Inner {
            received: Arc::default(),
            pings: Arc::default(),
            script: Arc::new(script),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new()
            .route("/{*path}", post(record))
            .route("/", post(record))
            .with_state(inner.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let receiver = Self {
            addr,
            inner,
            _stop: stop.clone().drop_guard(),
        };
        (listener, app, receiver, stop)
    }

    /// Like [`Receiver::start`], over HTTPS with a fresh self-signed certificate for `localhost`. Returns the
    /// receiver and the certificate's PEM, which clients must trust explicitly.
    pub async fn start_tls(
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> (Self, String) {
        let (listener, app, receiver, stopped) = Self::prepare(script).await;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let cert_pem = certified.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .expect("a private key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    () = stopped.cancelled() => return,
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        (receiver, cert_pem)
    }

    /// The `https://localhost:<port>/hooks` URL of a receiver started with [`Receiver::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("https://localhost:{}/hooks", self.addr.port())
    }

    /// A receiver that always answers `status`.
    pub async fn always(status: u16) -> Self {
        Self::start(move |_| Reply::status(status)).await
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("receiver lock").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.received.lock().expect("receiver lock").len()
    }

    /// The pings that arrived, in order.
    pub fn pings(&self) -> Vec<Received> {
        self.inner.pings.lock().expect("receiver lock").clone()
    }

    /// Waits until at least `n` pings have arrived and returns them all.
    pub async fn wait_for_pings(&self, n: usize, deadline: Duration) -> Vec<Received> {
        self.wait_until(&self.inner.pings, &format!("{n} pings"), n, deadline)
            .await
    }

    /// Waits until at least `n` requests other than pings have arrived and returns them all.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Received> {
        self.wait_until(&self.inner.received, &format!("{n} requests"), n, deadline)
            .await
    }

    async fn wait_until(
        &self,
        list: &Mutex<Vec<Received>>,
        what: &str,
        n: usize,
        deadline: Duration,
    ) -> Vec<Received> {
        crate::eventually(&format!("{what} at {}", self.url()), deadline, || async {
            let got = list.lock().expect("receiver lock").clone();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

async fn record(
    State(inner): State<Inner>,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let request = Received {
        headers,
        body,
        at: Instant::now(),
    };
    if is_ping(&request.body) {
        inner.pings.lock().expect("receiver lock").push(request);
        return (StatusCode::NO_CONTENT, HeaderMap::new(), Vec::new());
    }
    let n = {
        let mut received = inner.received.lock().expect("receiver lock");
        received.push(request);
        received.len() - 1
    };
    let reply = (inner.script)(n);
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).expect("scripted statuses are valid");
    let body = match reply.body {
        Some(body) => body.to_vec(),
        None => vec![b'x'; reply.body_len],
    };
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in std::iter::once(&RECEIVER_HEADER).chain(reply.headers) {
        headers.insert(
            axum::http::HeaderName::from_static(name),
            axum::http::HeaderValue::from_static(value),
        );
    }
    (status, headers, body)
}

/// Whether a body is a `webhook.ping`'s (its envelope's `eventType`).
fn is_ping(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v["eventType"] == hookline_core::messages::PING_EVENT_TYPE)
}
