//! What an attempt produced, and what happens to the delivery next.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A delivery's state, as stored in `deliveries.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Retrying,
    Succeeded,
    Failed,
    /// The webhook was disabled or deleted before this attempt.
    Cancelled,
}

impl DeliveryState {
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The response to one HTTP attempt, or why there was none.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub request_body: String,
    /// The request's headers as sent, endpoint credentials masked.
    pub request_headers: Vec<(String, String)>,
    /// `None` when no response arrived.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
    /// Why the attempt failed; `None` on a 2xx.
    pub error: Option<String>,
}

impl HttpExchange {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
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
