//! The HTTP side of each service: `/healthz` (liveness), `/readyz` (dependencies connected) and `/metrics`
//! (Prometheus).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Whether each dependency of a service is connected. Cheap to clone; all clones share the state.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<BTreeMap<&'static str, bool>>>);

impl Health {
    /// Health with every named dependency initially down.
    pub fn new(dependencies: &[&'static str]) -> Self {
        Self(Arc::new(Mutex::new(
            dependencies.iter().map(|d| (*d, false)).collect(),
        )))
    }

    pub fn set(&self, dependency: &'static str, up: bool) {
        self.0.lock().expect("health lock").insert(dependency, up);
    }

    /// Ready when every dependency is up.
    pub fn is_ready(&self) -> bool {
        self.0.lock().expect("health lock").values().all(|up| *up)
    }

    fn report(&self) -> String {
        let deps = self.0.lock().expect("health lock");
        deps.iter()
            .map(|(d, up)| format!("{d}: {}\n", if *up { "up" } else { "down" }))
            .collect()
    }
}

/// Binds `addr`, naming `what` and the address in the error, so a port clash is obvious at start-up.
pub async fn bind(addr: SocketAddr, what: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for {what} on {addr}: {e}"))
    })
}

/// `listener`, with TCP_NODELAY set on every connection it accepts: a response written in more than one
/// segment would otherwise wait out the client's delayed ACK (40 ms on Linux) before its last one
/// (measured on the console's pages: 50 ms at p50 without it).
pub fn no_delay(listener: TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    })
}

/// The listeners of a gRPC service (registry, ingest): its API and its ops server, bound when the
/// service is built so that the addresses are known (port 0 in tests) before it runs.
pub struct GrpcListeners {
    pub grpc: TcpListener,
    pub ops: OpsServer,
}

impl GrpcListeners {
    /// Binds the API on `grpc` (`what` names it in an error) and the ops server on `ops`.
    pub async fn bind(
        grpc: SocketAddr,
        what: &str,
        ops: SocketAddr,
        health: Health,
    ) -> std::io::Result<Self> {
        Ok(Self {
            grpc: bind(grpc, what).await?,
            ops: OpsServer::bind(ops, health).await?,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr()
    }
}

/// The ops HTTP server, bound and ready to serve.
pub struct OpsServer {
    listener: TcpListener,
    router: Router,
}

impl OpsServer {
    pub async fn bind(addr: SocketAddr, health: Health) -> std::io::Result<Self> {
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(health);
        // Installed now, so metrics recorded before the first scrape are kept.
        crate::prometheus::handle();
        Ok(Self {
            listener: bind(addr, "/healthz, /readyz and /metrics").await?,
            router,
        })
    }

    /// The address it listens on (the port chosen, when it was bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(no_delay(self.listener), self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::prometheus::handle().render(),
    )
}

async fn readyz(State(health): State<Health>) -> (StatusCode, String) {
    let status = if health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, health.report())
}
