//! How values from the API read on a page: times in UTC, delivery states in words.

use chrono::{DateTime, NaiveDateTime, Utc};
use hookline_proto::v1;

/// `2026-12-06 03:52:10 UTC`; empty for a missing time.
pub fn time(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A `datetime-local` field's value (`2026-12-06T03:52`, read as UTC) as a timestamp; `None` when empty
/// or not a time.
pub fn parse_time(raw: &str) -> Option<prost_types::Timestamp> {
    let raw = raw.trim();
    let at = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .ok()?
        .and_utc();
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// The delivery states a filter offers, by the word in the URL.
pub const STATES: &[(&str, v1::DeliveryStatus)] = &[
    ("pending", v1::DeliveryStatus::Pending),
    ("retrying", v1::DeliveryStatus::Retrying),
    ("succeeded", v1::DeliveryStatus::Succeeded),
    ("failed", v1::DeliveryStatus::Failed),
    ("skipped", v1::DeliveryStatus::Skipped),
    ("cancelled", v1::DeliveryStatus::Cancelled),
];

/// A delivery state's word: `succeeded`, `failed`, …
pub fn state(status: v1::DeliveryStatus) -> &'static str {
    STATES
        .iter()
        .find(|(_, s)| *s == status)
        .map_or("unknown", |(word, _)| word)
}

/// The state a filter word names.
pub fn parse_state(word: &str) -> Option<v1::DeliveryStatus> {
    STATES.iter().find(|(w, _)| *w == word).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_are_read_as_utc_and_shown_as_utc() {
        let at = parse_time("2026-12-06T03:52").unwrap();
        assert_eq!(time(Some(&at)), "2026-12-06 03:52:00 UTC");
        assert!(parse_time("").is_none() && parse_time("yesterday").is_none());
        for (word, status) in STATES {
            assert_eq!((state(*status), parse_state(word)), (*word, Some(*status)));
        }
    }
}
