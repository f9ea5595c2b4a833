//! Submitted forms: `application/x-www-form-urlencoded` bodies read as name → values, since a form's
//! checkboxes send one name many times, and the API's field violations mapped back onto the fields.

use std::collections::BTreeMap;

use tonic_types::StatusExt as _;

/// A submitted form.
pub struct Submitted(Vec<(String, String)>);

impl Submitted {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
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
