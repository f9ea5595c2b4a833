//! How a client of the contract says who is calling: every call carries `authorization: Bearer <JWT>`.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

/// Sends `authorization: Bearer <token>` on every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

/// A token that cannot travel in a header (a control character or non-ASCII text).
#[derive(Debug, thiserror::Error)]
#[error("the token is not valid header text")]
pub struct InvalidToken;

impl Bearer {
    pub fn new(token: &str) -> Result<Self, InvalidToken> {
        format!("Bearer {token}")
            .parse()
            .map(Self)
            .map_err(|_| InvalidToken)
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}
