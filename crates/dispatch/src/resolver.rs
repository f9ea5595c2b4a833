//! DNS for deliveries: resolves an endpoint's host and keeps only the addresses the policy allows. The
//! HTTP connector connects to exactly these addresses, so a host cannot be re-resolved to a private address
//! between the check and the connection (DNS rebinding).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hookline_core::address_policy::AddressPolicy;
use hyper_util::client::legacy::connect::dns::Name;

/// A resolver that drops every address the [`AddressPolicy`] refuses, and fails when none is left.
#[derive(Clone)]
pub struct VettingResolver {
    policy: Arc<AddressPolicy>,
}

impl VettingResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for VettingResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<_>, Vec<_>) = resolved
                .into_iter()
                .partition(|addr| policy.check(addr.ip()).is_ok());
            if allowed.is_empty() {
                let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "refused: {} resolves only to non-public addresses ({})",
                        name,
                        refused.join(", ")
                    ),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}
