//! What an attempt produced, and what happens to the delivery next.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_store::status::DeliveryStatus;
use uuid::Uuid;

use crate::failure::{self, AttemptFailure};

/// How an attempt went, as far as the gate cares.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    Success,
    /// `overload` marks the failures that say the endpoint is struggling (timeouts, connection failures,
    /// 429, 503); `retry_after` is the pause it asked for.
    Failure {
        overload: bool,
        retry_after: Option<Duration>,
    },
}

/// A delivery's state, as stored in `deliveries.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Retrying,
    Succeeded,
    Failed,
    /// The webhook was disabled or deleted before this attempt.
    Cancelled,
}

impl From<DeliveryState> for DeliveryStatus {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Retrying => Self::Retrying,
            DeliveryState::Succeeded => Self::Succeeded,
            DeliveryState::Failed => Self::Failed,
            DeliveryState::Cancelled => Self::Cancelled,
        }
    }
}

/// The response to one HTTP attempt, or why there was none.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub started_at: DateTime<Utc>,
    /// How long the attempt took, to the nanosecond (the log keeps whole milliseconds).
    pub duration: std::time::Duration,
    pub request_body: String,
    /// The request's headers as sent, endpoint credentials masked.
    pub request_headers: Vec<(String, String)>,
    /// `None` when no response arrived.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
    /// Why the attempt failed; `None` on a 2xx.
    pub failure: Option<AttemptFailure>,
}

impl HttpExchange {
    /// The duration in whole milliseconds, as the delivery log keeps it.
    pub fn duration_ms(&self) -> i32 {
        i32::try_from(self.duration.as_millis()).unwrap_or(i32::MAX)
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// Why the attempt failed, as the log and the dead letter show it.
    pub fn error(&self) -> Option<String> {
        self.failure.as_ref().map(ToString::to_string)
    }

    /// What the attempt says about the endpoint's health (see [`AttemptFailure::signals_overload`]);
    /// a 429 or 503 may name the pause it wants.
    pub fn verdict(&self) -> Verdict {
        let Some(failure) = &self.failure else {
            return Verdict::Success;
        };
        let asks_to_wait =
            matches!(failure, AttemptFailure::Status(s) if failure::asks_to_wait(*s));
        Verdict::Failure {
            overload: failure.signals_overload(),
            retry_after: asks_to_wait.then(|| self.retry_after()).flatten(),
        }
    }

    /// The response's `Retry-After`, in seconds or as an HTTP date; `None` when absent, unreadable or
    /// already past.
    fn retry_after(&self) -> Option<Duration> {
        let (_, value) = self
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?;
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(std::time::SystemTime::now()).ok()
    }
}

/// One change to the delivery log: the delivery's new state, and the attempt that led to it, if any.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: Uuid,
    pub state: DeliveryState,
    /// The attempt number this outcome is for (attempts made so far).
    pub attempt: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub exchange: Option<HttpExchange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange that ended with `failure`, or succeeded; a status failure carries its status.
    fn answer(failure: Option<AttemptFailure>, headers: &[(&str, &str)]) -> HttpExchange {
        let status = match &failure {
            Some(AttemptFailure::Status(s)) => Some(s.as_u16()),
            Some(_) => None,
            None => Some(200),
        };
        HttpExchange {
            started_at: Utc::now(),
            duration: std::time::Duration::from_millis(1),
            request_body: String::new(),
            request_headers: Vec::new(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::new(),
            body_truncated: false,
            failure,
        }
    }

    fn status(code: u16) -> Option<AttemptFailure> {
        Some(AttemptFailure::Status(
            http::StatusCode::from_u16(code).unwrap(),
        ))
    }

    fn retry_after(v: Verdict) -> Option<Duration> {
        match v {
            Verdict::Failure { retry_after, .. } => retry_after,
            Verdict::Success => None,
        }
    }

    #[test]
    fn retry_after_is_read_from_429_and_503_only() {
        let in_seconds = answer(status(429), &[("retry-after", " 7 ")]);
        assert_eq!(
            retry_after(in_seconds.verdict()),
            Some(Duration::from_secs(7))
        );
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
        let as_date = answer(status(503), &[("Retry-After", soon.as_str())]);
        let got = retry_after(as_date.verdict()).expect("a date in the future");
        assert!(
            got > Duration::from_secs(85) && got <= Duration::from_secs(90),
            "{got:?}"
        );
        assert_eq!(
            retry_after(answer(status(500), &[("retry-after", "7")]).verdict()),
            None
        );
        assert_eq!(
            retry_after(answer(status(429), &[("retry-after", "soon")]).verdict()),
            None
        );
    }

    /// What an endpoint may send as `Retry-After`: nothing readable pauses it, and the largest
    /// readable value is passed on for the gate to bound (`delivery.max_retry_after`).
    #[test]
    fn a_hostile_retry_after_is_ignored_or_passed_on_whole() {
        let huge = "9".repeat(10_000);
        for value in [
            "-5",
            "1e9",
            "7\u{0}",
            "\u{1}",
            "",
            huge.as_str(),
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert_eq!(
                retry_after(answer(status(429), &[("retry-after", value)]).verdict()),
                None,
                "{value:.40}"
            );
        }
        assert_eq!(
            retry_after(answer(status(429), &[("retry-after", "18446744073709551615")]).verdict()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn overload_is_told_from_other_failures() {
        let overloaded =
            |x: HttpExchange| matches!(x.verdict(), Verdict::Failure { overload: true, .. });
        let timeout = AttemptFailure::Timeout(Duration::from_secs(1));
        assert!(overloaded(answer(Some(timeout), &[])));
        let reset = AttemptFailure::Transport("connection reset".into());
        assert!(overloaded(answer(Some(reset), &[])));
        assert!(overloaded(answer(status(429), &[])));
        let private = AttemptFailure::Refused("not a public address".into());
        assert!(!overloaded(answer(Some(private), &[])));
        assert!(!overloaded(answer(status(400), &[])));
        assert!(matches!(answer(None, &[]).verdict(), Verdict::Success));
    }
}
