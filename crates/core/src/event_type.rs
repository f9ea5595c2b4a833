//! `EventType`: a parsed `{resource}.{event}` name such as `job.completed`.

use std::fmt;

/// An event type, valid by construction: two lower-snake-case segments joined by a dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(String);

/// Why a string is not an event type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not of the form {{resource}}.{{event}} in lower snake case, e.g. job.completed")]
pub struct InvalidEventType(pub String);

/// The longest event type accepted; keeps names usable as labels and keys.
const MAX_LEN: usize = 100;

impl EventType {
    /// Parses `{resource}.{event}`; each part starts with a letter and holds only `a-z`, `0-9` and `_`.
    pub fn parse(raw: &str) -> Result<Self, InvalidEventType> {
        let valid_part = |p: &str| {
            p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match raw.split_once('.') {
            Some((resource, event))
                if raw.len() <= MAX_LEN && valid_part(resource) && valid_part(event) =>
            {
                Ok(Self(raw.to_owned()))
            }
            _ => Err(InvalidEventType(raw.to_owned())),
        }
    }

    /// The resource part: `job` for `job.completed`. It is the `objectType` of `data.object`.
    pub fn resource(&self) -> &str {
        self.0.split_once('.').map_or(&self.0, |(r, _)| r)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_resource_dot_event() {
        for ok in [
            "job.completed",
            "job.image_created",
            "signed_document.signed",
            "a1.b2",
        ] {
            assert_eq!(EventType::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(EventType::parse("job.completed").unwrap().resource(), "job");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "job",
            "job.",
            ".completed",
            "Job.completed",
            "job.completed.now",
            "job-x.y",
            "1job.x",
            "job. x",
        ] {
            assert!(EventType::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
