//! Names of the HTTP and AMQP headers Hookline sets, so each exists in one place.

/// Standard Webhooks: the message id, the same on every retry.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks: Unix seconds at which the attempt was signed.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks: space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Dead letters: the HTTP status of the last attempt (0 when none arrived).
pub const LAST_STATUS: &str = "x-hookline-last-status";
/// Dead letters: why the last attempt failed.
pub const LAST_ERROR: &str = "x-hookline-last-error";

/// Rejected messages: why a worker set the message aside.
pub const REJECTED_REASON: &str = "x-hookline-rejected-reason";
