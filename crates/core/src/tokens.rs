//! What a Hookline token says: its claims, the roles it can carry, and minting with the development
//! secret. Verification, which needs the configured keys and the gRPC edge, lives in the services' runtime;
//! this half is what the CLI needs to mint a token, so it links no server code.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The `org` claim value that acts for every organisation.
pub const ANY_ORGANISATION: &str = "*";
/// The permission (seed 003's `Org.webhooks`) that lets a user manage its organisation's webhooks.
pub const WEBHOOKS_PERMISSION: &str = "org.webhooks";

/// A role a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, in every organisation, including the event catalog.
    SuperAdmin,
    /// Everything within its organisation.
    OrgAdmin,
    /// Publishes events to ingest.
    Publisher,
    /// Reads the event and delivery logs and the catalog.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::SuperAdmin,
        Role::OrgAdmin,
        Role::Publisher,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::OrgAdmin => "org_admin",
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a role (super_admin, org_admin, publisher, viewer)")
            })
    }
}

/// The claims of a Hookline token. `exp` is required: no token lives forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    /// The organisation the token acts for; `"*"` for every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Signs `claims` with the HS256 development secret (`hookline token mint`, tests).
pub fn mint_hs256(
    secret: &SecretString,
    claims: &Claims,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}
