//! `hookline-console`: the administrators' web screens. A client of the registry's public gRPC API,
//! called with each signed-in user's own token; it holds no database connection and no rights of its
//! own. Pages are rendered on the server from templates checked at compile time, and every asset is
//! built into the binary.

mod assets;
mod display;
mod error;
mod form;
mod pages;
mod registry;
mod security;
mod session;
mod signed;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use hookline_runtime::auth::Verifier;
use hookline_runtime::config::{Settings, StartError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::registry::Registry;
use crate::session::Sealer;

/// What every request handler shares.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    verifier: Verifier,
    sealer: Sealer,
    registry: Registry,
    csp: HeaderValue,
    embeddable: bool,
    brand_colour: String,
    /// The configured logo (empty: none), and the origins a sign-in link's logo may come from.
    logo_url: String,
    logo_origins: Vec<String>,
    /// How long a rotated secret keeps signing beside the new one (`secrets.rotation_overlap`), which the
    /// "Generate new" page explains.
    rotation_overlap: std::time::Duration,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The console bound to its port, ready to serve.
pub struct Console {
    listener: TcpListener,
    app: App,
}

impl Console {
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let console = &settings.console;
        let registry =
            Registry::new(&console.registry_url, console.registry_timeout).map_err(|e| {
                StartError::Setup(format!(
                    "console.registry_url `{}`: {e}",
                    console.registry_url
                ))
            })?;
        let app = App(Arc::new(Inner {
            verifier: settings.auth.verifier()?,
            sealer: Sealer::new(console),
            registry,
            csp: security::content_security_policy(
                &console.frame_ancestors,
                &console.logo_origins(),
            ),
            logo_origins: console.logo_origins(),
            logo_url: console.logo_url.clone(),
            embeddable: !console.frame_ancestors.is_empty(),
            brand_colour: console.brand_colour.clone(),
            rotation_overlap: settings.secrets.rotation_overlap,
        }));
        let listener = hookline_runtime::ops::bind(console.listen, "console").await?;
        Ok(Self { listener, app })
    }

    /// Where it listens (the port chosen, when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, finishing the requests in flight.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let router = router(self.app);
        axum::serve(hookline_runtime::ops::no_delay(self.listener), router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        Ok(())
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in::sign_in))
        .route("/sign-out", post(pages::sign_in::sign_out))
        .route(
            "/webhooks",
            get(pages::webhooks::list).post(pages::webhook_form::create),
        )
        .route("/webhooks/new", get(pages::webhook_form::new))
        .route("/webhooks/{id}", post(pages::webhook_form::update))
        .route("/webhooks/{id}/edit", get(pages::webhook_form::edit))
        .route("/webhooks/{id}/status", post(pages::webhooks::set_status))
        .route("/webhooks/{id}/rotate", post(pages::secret::rotate))
        .route(
            "/webhooks/{id}/test",
            get(pages::test_event::open).post(pages::test_event::send),
        )
        .route("/deliveries", get(pages::deliveries::list))
        .route("/deliveries/{id}", get(pages::deliveries::detail))
        .route(
            "/deliveries/{id}/redeliver",
            post(pages::deliveries::redeliver),
        )
        .route("/events", get(pages::events::list))
        .route("/catalog", get(pages::catalog::list))
        .route(
            "/settings",
            get(pages::settings::show).post(pages::settings::save),
        )
        .route("/dead-letters", get(pages::dead_letters::list))
        .route("/dead-letters/replay", post(pages::dead_letters::replay))
        .route("/assets/console.js", get(assets::console_js))
        .route("/assets/console.css", get(assets::console_css))
        .route("/assets/brand.css", get(assets::brand_css))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .fallback(|| async { error::PageError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(form::MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            security::headers,
        ))
        .with_state(app)
}
