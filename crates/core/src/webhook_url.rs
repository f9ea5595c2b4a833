//! `WebhookUrl`: an endpoint URL that passed the scheme policy.

use std::fmt;

/// A parsed absolute `https://` URL (or `http://` where insecure HTTP is allowed) with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

/// Why a URL cannot be a webhook endpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidWebhookUrl {
    #[error("is not an absolute URL: {0}")]
    Unparsable(String),
    #[error("must use https (plain http is allowed only when endpoints.allow_insecure_http is on)")]
    InsecureScheme,
    #[error("scheme `{0}` is not supported; use https")]
    UnsupportedScheme(String),
    #[error("must have a host")]
    NoHost,
    #[error("must not carry credentials; use endpoint authentication instead")]
    Credentials,
    #[error("is longer than {MAX_LEN} characters")]
    TooLong,
}

/// The longest URL accepted, well within what receivers and proxies handle.
const MAX_LEN: usize = 2048;

impl WebhookUrl {
    /// Parses `raw` and applies the scheme policy: https always, http only when `allow_insecure_http`.
    pub fn parse(raw: &str, allow_insecure_http: bool) -> Result<Self, InvalidWebhookUrl> {
        if raw.len() > MAX_LEN {
            return Err(InvalidWebhookUrl::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|e| InvalidWebhookUrl::Unparsable(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure_http => {}
            "http" => return Err(InvalidWebhookUrl::InsecureScheme),
            other => return Err(InvalidWebhookUrl::UnsupportedScheme(other.to_owned())),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidWebhookUrl::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidWebhookUrl::Credentials);
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The host, when it is written as an IP address rather than a name.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(ip) => Some(ip.into()),
            url::Host::Ipv6(ip) => Some(ip.into()),
            url::Host::Domain(_) => None,
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_always_accepted() {
        assert!(WebhookUrl::parse("https://example.com/hooks", false).is_ok());
    }

    #[test]
    fn http_needs_the_insecure_flag() {
        assert_eq!(
            WebhookUrl::parse("http://example.com/", false),
            Err(InvalidWebhookUrl::InsecureScheme)
        );
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/", true).is_ok());
    }

    #[test]
    fn other_inputs_are_refused() {
        assert!(matches!(
            WebhookUrl::parse("not a url", true),
            Err(InvalidWebhookUrl::Unparsable(_))
        ));
        assert!(matches!(
            WebhookUrl::parse("ftp://x.org/", true),
            Err(InvalidWebhookUrl::UnsupportedScheme(_))
        ));
        assert_eq!(
            WebhookUrl::parse("https://u:p@x.org/", true),
            Err(InvalidWebhookUrl::Credentials)
        );
    }
}
