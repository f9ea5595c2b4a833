//! The ingest application: bound listeners, the publisher and the gRPC service.

use hookline_proto::v1::event_ingest_server::EventIngestServer;
use hookline_runtime::config::{Settings, StartError};
use hookline_runtime::ops::{GrpcListeners, Health};
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, LiveCatalog};
use crate::service::IngestService;
use hookline_runtime::amqp::AMQP;
use hookline_runtime::auth::Verifier;
use hookline_runtime::background::Background;
use hookline_runtime::publisher::EventPublisher;

/// An ingest service bound to its ports, ready to run.
pub struct Ingest {
    listeners: GrpcListeners,
    health: Health,
    settings: Settings,
    verifier: Verifier,
}

impl Ingest {
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let health = Health::new(&[AMQP]);
        Ok(Self {
            verifier: settings.auth.verifier()?,
            listeners: GrpcListeners::bind(
                settings.ingest.grpc_listen,
                "ingest gRPC",
                settings.ingest.http_listen,
                health.clone(),
            )
            .await?,
            health,
            settings: settings.clone(),
        })
    }

    /// Where it listens (the ports chosen, when bound to port 0).
    pub fn listeners(&self) -> &GrpcListeners {
        &self.listeners
    }

    /// Connects to the broker in the background and serves until `shutdown` fires.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let topology = self.settings.topology();
        let publisher = EventPublisher::start(
            "hookline-ingest",
            self.settings.amqp.url.clone(),
            topology,
            self.health.clone(),
        );
        let catalog = LiveCatalog::new();
        let mut background = Background::new(&shutdown);
        background.spawn(
            "catalog follower",
            catalog::follow(
                self.settings.amqp.url.clone(),
                self.settings.topology(),
                catalog.clone(),
                shutdown.clone(),
            ),
        );
        let background = background.watch();
        let ops = tokio::spawn(self.listeners.ops.run_until_stopped(shutdown.clone()));
        let service = EventIngestServer::with_interceptor(
            IngestService::new(publisher.clone(), catalog, &self.settings.ingest),
            self.verifier.interceptor(),
        );
        // The server answers every call in flight before it returns; only then does the channel close.
        let served =
            hookline_runtime::grpc::serve(self.listeners.grpc, service, self.health, shutdown)
                .await;
        publisher.stop();
        served?;
        ops.await??;
        background.await?
    }
}
