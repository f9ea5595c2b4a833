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
    pub fn invalid(field: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid(vec![(field, why.into())])
    }
}

impl From<RegistryError> for Status {
    fn from(err: RegistryError) -> Self {
        match &err {
            RegistryError::Invalid(violations) => hookline_common::grpc::invalid_argument(
                violations.iter().map(|(field, why)| (*field, why.as_str())),
            ),
            RegistryError::NotFound(_) => Status::not_found(err.to_string()),
            RegistryError::WebhookLimit(_) => Status::failed_precondition(err.to_string()),
            RegistryError::AlreadyExists(_) => Status::already_exists(err.to_string()),
            // A value the database refuses is the caller's to fix; UNAVAILABLE would have it retry
            // forever. Fields known to hold such values are refused by name before this.
            RegistryError::Database(source) if hookline_common::db::is_data_error(source) => {
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
