//! How Hookline authenticates itself to an endpoint, beside the signature: nothing, HTTP Basic, or a
//! shared secret in a header of the receiver's choosing. Credentials are write-only: stored sealed and
//! never returned by any API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::headers;

/// The longest username, password, header name or header value accepted.
const MAX_LEN: usize = 1024;

/// Headers Hookline sets itself, which a header credential may not replace.
const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "authorization",
    "connection",
    "transfer-encoding",
    headers::WEBHOOK_ID,
    headers::WEBHOOK_SIGNATURE,
    headers::WEBHOOK_TIMESTAMP,
];

/// An endpoint's authentication, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum EndpointAuth {
    None,
    Basic { username: String, password: String },
    Header { name: String, value: String },
}

/// Why credentials are unusable; names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct InvalidAuth {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidAuth {
    InvalidAuth {
        field,
        reason: reason.into(),
    }
}

impl EndpointAuth {
    pub fn basic(username: &str, password: &str) -> Result<Self, InvalidAuth> {
        if username.is_empty() || username.len() > MAX_LEN || username.contains(':') {
            return Err(invalid(
                "auth.basic.username",
                format!("must be 1-{MAX_LEN} characters without ':'"),
            ));
        }
        if password.len() > MAX_LEN || password.chars().any(char::is_control) {
            return Err(invalid(
                "auth.basic.password",
                format!("must be at most {MAX_LEN} printable characters"),
            ));
        }
        Ok(Self::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    pub fn header(name: &str, value: &str) -> Result<Self, InvalidAuth> {
        let name = name.to_ascii_lowercase();
        if name.len() > MAX_LEN || HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(
                "auth.header.name",
                "must be a valid HTTP header name",
            ));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(invalid(
                "auth.header.name",
                format!("`{name}` is set by Hookline itself"),
            ));
        }
        if value.is_empty() || value.len() > MAX_LEN || HeaderValue::from_str(value).is_err() {
            return Err(invalid(
                "auth.header.value",
                format!("must be 1-{MAX_LEN} visible characters"),
            ));
        }
        Ok(Self::Header {
            name,
            value: value.to_owned(),
        })
    }

    /// The method's stored name: `none`, `basic` or `header`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic { .. } => "basic",
            Self::Header { .. } => "header",
        }
    }

    /// The header to send with every request, if any.
    pub fn to_header(&self) -> Option<(HeaderName, HeaderValue)> {
        match self {
            Self::None => None,
            Self::Basic { username, password } => {
                let token = B64.encode(format!("{username}:{password}"));
                let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
                value.set_sensitive(true);
                Some((http::header::AUTHORIZATION, value))
            }
            Self::Header { name, value } => {
                let mut value = HeaderValue::from_str(value).ok()?;
                value.set_sensitive(true);
                Some((HeaderName::from_bytes(name.as_bytes()).ok()?, value))
            }
        }
    }

    /// The serialised form that gets sealed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("credentials always serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// What sealed credentials are bound to: their webhook, and their purpose, so they cannot be swapped with
/// the webhook's signing secret.
pub fn seal_context(webhook_id: &uuid::Uuid) -> Vec<u8> {
    [webhook_id.as_bytes().as_slice(), b":auth"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_becomes_an_authorization_header() {
        let (name, value) = EndpointAuth::basic("hook", "s3cret")
            .unwrap()
            .to_header()
            .unwrap();
        assert_eq!(name, "authorization");
        assert_eq!(value, "Basic aG9vazpzM2NyZXQ=");
        assert!(value.is_sensitive());
    }

    #[test]
    fn header_auth_is_sent_under_its_own_name() {
        let auth = EndpointAuth::header("X-RapidAPI-Webhook-Secret", "abc").unwrap();
        let (name, value) = auth.to_header().unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("x-rapidapi-webhook-secret", "abc")
        );
        assert_eq!(EndpointAuth::from_bytes(&auth.to_bytes()), Some(auth));
    }

    #[test]
    fn bad_credentials_name_their_field() {
        assert_eq!(
            EndpointAuth::basic("", "p").unwrap_err().field,
            "auth.basic.username"
        );
        assert_eq!(
            EndpointAuth::basic("a:b", "p").unwrap_err().field,
            "auth.basic.username"
        );
        assert_eq!(
            EndpointAuth::header("bad name", "v").unwrap_err().field,
            "auth.header.name"
        );
        assert_eq!(
            EndpointAuth::header("webhook-signature", "v")
                .unwrap_err()
                .field,
            "auth.header.name"
        );
        assert_eq!(
            EndpointAuth::header("x-secret", "a\nb").unwrap_err().field,
            "auth.header.value"
        );
        assert_eq!(
            EndpointAuth::header("x-secret", "").unwrap_err().field,
            "auth.header.value"
        );
    }
}
