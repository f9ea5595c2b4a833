//! The ingest error type and its mapping onto gRPC status codes.

use hookline_runtime::amqp::PublishError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event breaks the contract; names the field.
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The broker did not confirm the event, so it may not be stored.
    #[error("the event was not accepted; retry later")]
    Unavailable(#[source] PublishError),
}

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
