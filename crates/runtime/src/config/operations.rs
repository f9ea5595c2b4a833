//! The platform team's operations endpoint: one webhook that receives every organisation's operational
//! events (README, "Operational events").

use hookline_core::signing::SigningSecret;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct OperationsSettings {
    /// Where the operational events of every organisation go; empty for nowhere.
    pub webhook_url: String,
    /// The `whsec_…` secret its deliveries are signed with, as the platform team's receiver knows it.
    pub webhook_secret: SecretString,
}

impl OperationsSettings {
    /// Whether an operations endpoint is configured, so every operational event is copied to it.
    pub fn endpoint(&self) -> bool {
        !self.webhook_url.trim().is_empty()
    }

    /// The signing secret, when the endpoint is configured and its secret is a valid one.
    pub fn signing_secret(&self) -> Option<SigningSecret> {
        SigningSecret::parse(self.webhook_secret.expose_secret().trim()).ok()
    }

    /// What is wrong, if anything: an endpoint needs a valid secret to be signed like any webhook.
    pub(super) fn invalid(&self) -> Option<String> {
        (self.endpoint() && self.signing_secret().is_none()).then(|| {
            "operations.webhook_secret must be a `whsec_` secret when operations.webhook_url is set"
                .into()
        })
    }
}
