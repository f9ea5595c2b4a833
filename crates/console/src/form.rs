//! Submitted forms: `application/x-www-form-urlencoded` bodies read as name → values, since a form's
//! checkboxes send one name many times, and the API's field violations mapped back onto the fields.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use tonic_types::StatusExt as _;

use crate::error::PageError;

/// The largest form body the console reads. The largest real form, a webhook subscribed to the most
/// event types the API allows with a pin for each and a full description, is under a third of it.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A submitted form's raw body, read only up to [`MAX_FORM_BYTES`] (the router's body limit): a larger
/// one is refused with a page (413) before it is buffered, so no request makes the console hold megabytes.
pub struct FormBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    PageError::TooLarge
                } else {
                    PageError::BadRequest("The form did not arrive whole. Try again.".into())
                }
            })
    }
}

/// A submitted form.
pub struct Submitted(Vec<(String, String)>);

impl Submitted {
    /// Reads a body. Browsers send every line break in a textarea as CRLF (the HTML form encoding), and
    /// the API keeps line feeds but refuses carriage returns, so CRLF becomes LF here: a description of
    /// several lines is stored as typed, while a lone CR is still refused beside its field.
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.replace("\r\n", "\n")))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// The fields whose names start with `prefix`, as (the rest of the name, the value trimmed).
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.trim())))
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Why the API refused a form: each reason by the form field it concerns, and the rest.
#[derive(Default)]
pub struct FieldErrors {
    by_field: BTreeMap<String, String>,
    pub general: Vec<String>,
}

impl FieldErrors {
    /// The violations an `INVALID_ARGUMENT` carries (its `BadRequest` details), placed on `fields` (a
    /// violation of `auth.basic.username` belongs to the field `auth`); without details, its message.
    pub fn from_status(status: &tonic::Status, fields: &[&str]) -> Self {
        let mut errors = Self::default();
        let violations = status
            .get_details_bad_request()
            .map(|bad| bad.field_violations)
            .unwrap_or_default();
        if violations.is_empty() {
            errors.general.push(status.message().to_owned());
        }
        for violation in violations {
            let field = violation
                .field
                .split(['.', '['])
                .next()
                .unwrap_or_default()
                .to_owned();
            if fields.contains(&field.as_str()) {
                let entry = errors.by_field.entry(field).or_default();
                if !entry.is_empty() {
                    entry.push_str("; ");
                }
                entry.push_str(&violation.description);
            } else {
                errors
                    .general
                    .push(format!("{}: {}", violation.field, violation.description));
            }
        }
        errors
    }

    /// The error beside `field`; empty when none.
    pub fn of(&self, field: &str) -> &str {
        self.by_field.get(field).map_or("", String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }
}
