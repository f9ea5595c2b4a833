//! The ingest error type and its mapping onto gRPC status codes.

use hookline_runtime::amqp::PublishError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event breaks the contract; names the field.
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The broker did not confirm the event: it was not stored, or, when
    /// [`PublishError::may_have_been_stored`], it may have been. Either way the caller retries; the
    /// message says which, so a caller without an idempotency key knows a retry may duplicate it.
    #[error("{}", if .0.may_have_been_stored() { MAYBE_ACCEPTED } else { NOT_ACCEPTED })]
    Unavailable(#[source] PublishError),
}

/// The answer for an event the broker certainly did not store.
pub const NOT_ACCEPTED: &str = "the event was not accepted; retry later";
/// The answer for an event the broker may have stored although it did not confirm it.
pub const MAYBE_ACCEPTED: &str = "the broker did not confirm the event, which may have been accepted; retry with the same idempotency_key";

impl IngestError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<IngestError> for Status {
    fn from(err: IngestError) -> Self {
        match &err {
            IngestError::Invalid { field, reason } => {
                hookline_runtime::grpc::invalid_argument([(*field, reason.as_str())])
            }
            IngestError::Unavailable(source) => {
                // While the broker is away every event fails the same way; the supervisor logs the
                // outage once and the ingest metric counts the refusals, so one line per event would
                // only flood the log (a 1,000-event batch, 1,000 lines).
                if matches!(source, PublishError::NotConnected) {
                    tracing::debug!("event refused: not connected to the broker");
                } else {
                    tracing::warn!(error = ?source, "event not confirmed by the broker");
                }
                Status::unavailable(err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_answer_says_whether_the_event_may_have_been_stored() {
        let answer = |e: PublishError| Status::from(IngestError::Unavailable(e));
        for certain in [PublishError::NotConnected, PublishError::Unroutable] {
            let status = answer(certain);
            assert_eq!(
                (status.code(), status.message()),
                (tonic::Code::Unavailable, NOT_ACCEPTED)
            );
        }
        for unsure in [
            PublishError::Timeout(Duration::from_secs(10)),
            PublishError::Nacked,
        ] {
            let status = answer(unsure);
            assert_eq!(
                (status.code(), status.message()),
                (tonic::Code::Unavailable, MAYBE_ACCEPTED)
            );
        }
    }
}
