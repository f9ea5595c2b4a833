//! The registry application: bound listeners and the services behind them.

use crate::test_delivery::TestEvents;
use hookline_core::secret_box::SecretBox;
use hookline_proto::v1::webhook_registry_server::WebhookRegistryServer;
use hookline_runtime::amqp::AMQP;
use hookline_runtime::auth::Verifier;
use hookline_runtime::background::Background;
use hookline_runtime::config::{Settings, StartError};
use hookline_runtime::ops::{GrpcListeners, Health};
use hookline_runtime::publisher::EventPublisher;
use hookline_store::db;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::service::RegistryService;
use crate::{auto_disable, catalog, operations, overdue, queue_metrics, reseal, retention};

/// A registry bound to its ports, ready to run.
pub struct Registry {
    listeners: GrpcListeners,
    pool: PgPool,
    health: Health,
    settings: Settings,
    secrets: SecretBox,
    verifier: Verifier,
    tests: TestEvents,
}

impl Registry {
    /// Binds the gRPC and HTTP listeners (port 0 picks a free port, as tests do).
    pub async fn build(settings: &Settings, pool: PgPool) -> Result<Self, StartError> {
        let health = Health::new(&[db::DATABASE, AMQP]);
        Ok(Self {
            secrets: settings.secrets.secret_box()?,
            verifier: settings.auth.verifier()?,
            tests: TestEvents::new(settings, pool.clone(), settings.secrets.secret_box()?)
                .map_err(|e| StartError::Setup(format!("test events: {e}")))?,
            listeners: GrpcListeners::bind(
                settings.registry.grpc_listen,
                "registry gRPC",
                settings.registry.http_listen,
                health.clone(),
            )
            .await?,
            pool,
            health,
            settings: settings.clone(),
        })
    }

    /// Where it listens (the ports chosen, when bound to port 0).
    pub fn listeners(&self) -> &GrpcListeners {
        &self.listeners
    }

    /// Serves `/healthz` at once; once PostgreSQL answers, re-seals secrets that need it, then serves
    /// until `shutdown` fires and lets in-flight calls finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let ops = tokio::spawn(self.listeners.ops.run_until_stopped(shutdown.clone()));
        if !db::wait_until_up(&self.pool, &shutdown).await {
            ops.await??;
            return Ok(());
        }
        reseal::reseal_all(&self.pool, &self.secrets)
            .await
            .map_err(|e| StartError::Setup(format!("database: {e}")))?;
        operations::keep_registered(&self.pool, &self.settings, &self.secrets).await?;
        let mut background = Background::new(&shutdown);
        background.spawn(
            "database health",
            db::watch(self.pool.clone(), self.health.clone(), shutdown.clone()),
        );
        background.spawn(
            "retention",
            retention::run(
                self.pool.clone(),
                self.settings.retention.clone(),
                shutdown.clone(),
            ),
        );
        background.spawn(
            "queue metrics",
            queue_metrics::run(
                self.settings.amqp.url.clone(),
                self.settings.topology(),
                self.pool.clone(),
                self.health.clone(),
                self.settings.registry.metrics_interval,
                shutdown.clone(),
            ),
        );
        let topology = self.settings.topology();
        let events = EventPublisher::start(
            "hookline-registry",
            self.settings.amqp.url.clone(),
            topology,
            self.health.clone(),
        );
        background.spawn(
            "overdue retries",
            overdue::run(
                self.pool.clone(),
                events.clone(),
                self.health.clone(),
                self.settings.registry.retry_overdue_after,
                self.settings.registry.metrics_interval,
                shutdown.clone(),
            ),
        );
        background.spawn(
            "failing webhooks",
            auto_disable::run(
                self.pool.clone(),
                events.clone(),
                self.health.clone(),
                self.settings.registry.auto_disable_after,
                self.settings.operations.endpoint(),
                self.settings.registry.metrics_interval,
                shutdown.clone(),
            ),
        );
        background.spawn(
            "catalog announcement",
            catalog::announce_at_start(self.pool.clone(), events.clone(), shutdown.clone()),
        );
        let background = background.watch();
        let service = WebhookRegistryServer::with_interceptor(
            RegistryService::new(
                self.pool,
                &self.settings,
                self.secrets,
                events.clone(),
                self.tests,
            ),
            self.verifier.interceptor(),
        );
        // The server answers every call in flight before it returns; only then does the channel close.
        let served =
            hookline_runtime::grpc::serve(self.listeners.grpc, service, self.health, shutdown)
                .await;
        // A background check that began before the shutdown finishes first, and may still announce
        // (a failing webhook switched off): the publisher closes only after it.
        let background = background.await;
        events.stop();
        served?;
        ops.await??;
        background?
    }
}
