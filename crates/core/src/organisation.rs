//! `OrganisationId`: the tenant every webhook, event and delivery belongs to.

use std::fmt;

/// An organisation id: 1–64 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrganisationId(String);

/// Why a string is not an organisation id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be 1-64 characters of letters, digits, '_' or '-'")]
pub struct InvalidOrganisationId;

impl OrganisationId {
    pub fn parse(raw: &str) -> Result<Self, InvalidOrganisationId> {
        let valid = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidOrganisationId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
