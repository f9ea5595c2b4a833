//! The registry's error type and its single mapping onto gRPC status codes.

use tonic::Status;

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Input that breaks the contract; each entry names a field and what is wrong with it.
    #[error("invalid argument: {}", describe(.0))]
    Invalid(Vec<(&'static str, String)>),
    /// Nothing with this id exists in the caller's organisation.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The organisation already has as many webhooks as it may.
    #[error(
        "the organisation already has {0} webhooks, the most it may register; delete one first"
    )]
    WebhookLimit(u32),
    /// The thing to create exists and may not be replaced.
    #[error("{0}")]
    AlreadyExists(String),
    /// The call cannot apply to this thing in its present state (the answer says why and what to do).
    #[error("{0}")]
    Precondition(&'static str),
    /// The broker did not take what the call had to send; `answer` tells the caller what did happen and
    /// that calling again is safe.
    #[error("{answer}: {source}")]
    NotSent {
        answer: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

fn describe(violations: &[(&'static str, String)]) -> String {
    violations
        .iter()
        .map(|(field, why)| format!("{field}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl RegistryError {
    /// A `NotSent` error with `answer`, for `map_err`.
    pub fn not_sent<E: std::error::Error + Send + Sync + 'static>(
        answer: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |source| Self::NotSent {
            answer,
            source: Box::new(source),
        }
    }

    pub fn invalid(field: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid(vec![(field, why.into())])
    }
}

impl From<RegistryError> for Status {
    fn from(err: RegistryError) -> Self {
        match &err {
            RegistryError::Invalid(violations) => hookline_runtime::grpc::invalid_argument(
                violations.iter().map(|(field, why)| (*field, why.as_str())),
            ),
            RegistryError::NotFound(_) => Status::not_found(err.to_string()),
            RegistryError::WebhookLimit(_) => Status::failed_precondition(err.to_string()),
            RegistryError::AlreadyExists(_) => Status::already_exists(err.to_string()),
            RegistryError::Precondition(why) => Status::failed_precondition(*why),
            RegistryError::NotSent { answer, source } => {
                // The broker's details stay in the log; the caller learns what to do.
                tracing::warn!(error = %source, "{answer}");
                Status::unavailable(*answer)
            }
            // A stored row the registry cannot read is its own fault, not the caller's: neither
            // INVALID_ARGUMENT nor a retry will help.
            RegistryError::Database(
                source @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)),
            ) => {
                tracing::error!(error = %source, "the registry cannot read a stored row");
                Status::internal("the registry cannot read a stored row; its log says which")
            }
            // A value the database refuses is the caller's to fix; UNAVAILABLE would have it retry
            // forever. Fields known to hold such values are refused by name before this.
            RegistryError::Database(source) if hookline_store::db::is_data_error(source) => {
                tracing::info!(error = %source, "the database refused a value of the request");
                Status::invalid_argument(
                    "a field holds a value the database cannot store (such as U+0000)",
                )
            }
            RegistryError::Database(source) => {
                // Details stay in the log; the caller learns only that it may retry.
                tracing::error!(error = %source, "registry database error");
                Status::unavailable("the registry's database is unavailable; retry later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_stored_row_is_internal_and_a_refused_value_invalid() {
        let unreadable = Status::from(RegistryError::Database(sqlx::Error::Decode(
            "not a list of pairs".into(),
        )));
        assert_eq!(unreadable.code(), tonic::Code::Internal);
        let refused = Status::from(RegistryError::Database(sqlx::Error::Encode(
            "U+0000".into(),
        )));
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }
}
