//! Connecting to the registry and ingest with the caller's token.

use anyhow::Context as _;
use hookline_proto::bearer::Bearer;
use hookline_proto::v1::event_ingest_client::EventIngestClient;
use hookline_proto::v1::webhook_registry_client::WebhookRegistryClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Where the services are, who is calling, and for which organisation.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// The registry's gRPC address.
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_REGISTRY",
        default_value = "http://127.0.0.1:50051"
    )]
    registry: String,
    /// Ingest's gRPC address.
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_INGEST",
        default_value = "http://127.0.0.1:50052"
    )]
    ingest: String,
    /// The bearer token (`hookline token mint` makes development ones).
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
    /// The organisation to act in; empty means the token's own.
    #[arg(long, global = true, env = "HOOKLINE_ORG", default_value = "")]
    pub org: String,
}

pub type Registry = WebhookRegistryClient<InterceptedService<Channel, Bearer>>;
pub type Ingest = EventIngestClient<InterceptedService<Channel, Bearer>>;

impl Connection {
    pub async fn registry(&self) -> anyhow::Result<Registry> {
        Ok(WebhookRegistryClient::with_interceptor(
            channel(&self.registry).await?,
            self.bearer()?,
        ))
    }

    pub async fn ingest(&self) -> anyhow::Result<Ingest> {
        Ok(EventIngestClient::with_interceptor(
            channel(&self.ingest).await?,
            self.bearer()?,
        ))
    }

    fn bearer(&self) -> anyhow::Result<Bearer> {
        anyhow::ensure!(
            !self.token.is_empty(),
            "no token: pass --token or set HOOKLINE_TOKEN (hookline token mint makes one for development)"
        );
        Ok(Bearer::new(&self.token)?)
    }
}

async fn channel(address: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("`{address}` is not an address"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))
}

/// A failed call as one line: its code and message.
pub fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}
