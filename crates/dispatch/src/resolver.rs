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
    lookup: Lookup,
}

/// Where names are looked up: the system's resolver, or a test's.
pub type Lookup = Arc<dyn Fn(String) -> Looking + Send + Sync>;
type Looking = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

impl VettingResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        let lookup: Lookup = Arc::new(|name: String| {
            Box::pin(
                async move { Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.collect()) },
            )
        });
        Self::with_lookup(policy, lookup)
    }

    /// Vets what `lookup` answers instead of the system's resolver.
    pub fn with_lookup(policy: Arc<AddressPolicy>, lookup: Lookup) -> Self {
        Self { policy, lookup }
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
        let looking = (self.lookup)(name.as_str().to_owned());
        Box::pin(async move {
            let resolved = looking.await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A name that rebinds: its first lookup answers `first`, every later one `then`.
    fn rebinding(first: Vec<SocketAddr>, then: Vec<SocketAddr>) -> Lookup {
        let lookups = Arc::new(AtomicUsize::new(0));
        Arc::new(move |_name: String| {
            let answer = if lookups.fetch_add(1, Ordering::SeqCst) == 0 {
                first.clone()
            } else {
                then.clone()
            };
            Box::pin(async move { Ok(answer) })
        })
    }

    /// A listener on `ip`, port `port` (0: any), that nothing has connected to yet.
    fn listener(ip: &str, port: u16) -> std::net::TcpListener {
        let listener = std::net::TcpListener::bind((ip, port)).expect("a loopback port");
        listener.set_nonblocking(true).unwrap();
        listener
    }

    /// DNS rebinding through a test resolver: a name that first resolves to an allowed address, then to
    /// a forbidden one, is connected to the allowed one and then refused, and the forbidden address's
    /// listener never sees a connection. Each connection resolves and vets afresh, and connects only to
    /// the addresses it vetted, so no check can be answered by one lookup and the connection by another.
    #[tokio::test]
    async fn a_name_that_rebinds_to_a_forbidden_address_is_refused_before_any_connection() {
        let allowed = listener("127.0.0.2", 0);
        let port = allowed.local_addr().unwrap().port();
        let forbidden = listener("127.0.0.1", port);
        let addr = |ip: &str| SocketAddr::new(ip.parse().unwrap(), port);
        let policy = Arc::new(AddressPolicy::new(vec!["127.0.0.2/32".parse().unwrap()]));
        let resolver = VettingResolver::with_lookup(
            policy,
            rebinding(vec![addr("127.0.0.2")], vec![addr("127.0.0.1")]),
        );
        let mut connector =
            hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(resolver);
        let uri: http::Uri = format!("http://rebind.example:{port}/hooks")
            .parse()
            .unwrap();

        tower_service::Service::call(&mut connector, uri.clone())
            .await
            .expect("the first answer is allowed");
        assert!(allowed.accept().is_ok(), "connected to the allowed address");

        let refused = tower_service::Service::call(&mut connector, uri).await;
        let error = refused.expect_err("the rebound name is refused");
        assert!(format!("{error:?}").contains("non-public"), "{error:?}");
        let touched = forbidden.accept();
        assert!(
            matches!(&touched, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the forbidden address saw a connection: {touched:?}"
        );
    }

    #[tokio::test]
    async fn only_the_allowed_addresses_of_a_mixed_answer_are_used() {
        let policy = Arc::new(AddressPolicy::new(Vec::new()));
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let private: SocketAddr = "10.0.0.1:0".parse().unwrap();
        let mut resolver =
            VettingResolver::with_lookup(policy, rebinding(vec![private, public], vec![private]));
        let name: Name = "mixed.example".parse().unwrap();
        let first: Vec<_> = tower_service::Service::call(&mut resolver, name.clone())
            .await
            .unwrap()
            .collect();
        assert_eq!(first, vec![public]);
        assert!(
            tower_service::Service::call(&mut resolver, name)
                .await
                .is_err()
        );
    }
}
