//! The registry's gRPC API, called as the signed-in user: the console has no rights of its own.

use std::time::Duration;

use hookline_proto::bearer::Bearer;
use hookline_proto::v1::webhook_registry_client::WebhookRegistryClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type Client = WebhookRegistryClient<InterceptedService<Channel, Bearer>>;

/// One connection to the registry, shared by every user's calls.
#[derive(Clone)]
pub struct Registry(Channel);

impl Registry {
    /// Connects when first used, and again after the registry restarts: the console starts without it.
    /// Connecting and each call give up after `timeout`, so a stalled registry costs a page that long
    /// at most, never a browser tab held open.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(Self(endpoint.connect_lazy()))
    }

    /// A client that calls with `bearer`.
    pub fn as_user(&self, bearer: Bearer) -> Client {
        WebhookRegistryClient::with_interceptor(self.0.clone(), bearer)
    }
}
