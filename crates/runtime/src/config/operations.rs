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

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load_from(None, env).map_err(|e| e.to_string())
    }

    #[test]
    fn an_endpoint_needs_a_valid_secret_and_none_needs_nothing() {
        let url = (
            "HOOKLINE__OPERATIONS__WEBHOOK_URL",
            "https://ops.example.com/hooks",
        );
        let none = load(&[]).unwrap();
        assert!(!none.operations.endpoint());
        for secret in ["", "not-a-secret", "whsec_\u{0}\u{1b}[2J", "whsec_!!!"] {
            let error = load(&[url, ("HOOKLINE__OPERATIONS__WEBHOOK_SECRET", secret)])
                .expect_err("a bad secret is refused at start");
            assert!(error.contains("operations.webhook_secret"), "{error}");
        }
        let secret = hookline_core::signing::SigningSecret::generate().encode();
        let set = load(&[url, ("HOOKLINE__OPERATIONS__WEBHOOK_SECRET", &secret)]).unwrap();
        assert!(set.operations.endpoint());
        assert!(set.operations.signing_secret().is_some());
    }
}
