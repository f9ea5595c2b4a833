//! Test callers: HS256 tokens signed with the test stack's development secret, and clients that send them.

use hookline_proto::v1::event_ingest_client::EventIngestClient;
use hookline_proto::v1::webhook_registry_client::WebhookRegistryClient;
use hookline_runtime::auth::{Claims, Role, mint_hs256};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The development secret every test stack verifies tokens with.
pub const TEST_HS256_SECRET: &str = "hookline-tests-hs256-secret-not-for-production";

/// A registry client that sends one caller's token.
pub type RegistryClient = WebhookRegistryClient<InterceptedService<Channel, Bearer>>;
/// An ingest client that sends one caller's token.
pub type IngestClient = EventIngestClient<InterceptedService<Channel, Bearer>>;

/// The claims of a caller of `org` (`None`: no `org` claim) with `roles` and `permissions`, valid for an
/// hour.
pub fn claims(org: Option<&str>, roles: &[Role], permissions: &[&str]) -> Claims {
    Claims {
        sub: "test-user".into(),
        org: org.map(str::to_owned),
        roles: roles.to_vec(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        exp: jsonwebtoken_now() + 3600,
        iss: None,
        aud: None,
    }
}

/// `claims` signed with the test stack's secret.
pub fn sign(claims: &Claims) -> String {
    mint_hs256(&TEST_HS256_SECRET.into(), claims).expect("HS256 signing")
}

/// A signed token for [`claims`].
pub fn token(org: Option<&str>, roles: &[Role], permissions: &[&str]) -> String {
    sign(&claims(org, roles, permissions))
}

/// The platform operator's token: super_admin, acting for any organisation it names.
pub fn super_admin() -> String {
    token(None, &[Role::SuperAdmin], &[])
}

fn jsonwebtoken_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Adds `authorization: Bearer <token>` to every call (no header at all for an empty token).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self((!token.is_empty()).then(|| {
            format!("Bearer {token}")
                .parse()
                .expect("a token is valid ASCII metadata")
        }))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub fn registry_client(channel: Channel, token: &str) -> RegistryClient {
    WebhookRegistryClient::with_interceptor(channel, Bearer::new(token))
}

pub fn ingest_client(channel: Channel, token: &str) -> IngestClient {
    EventIngestClient::with_interceptor(channel, Bearer::new(token))
}
