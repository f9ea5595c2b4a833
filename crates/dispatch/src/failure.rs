//! Why an attempt failed, as a type. The sender decides it once, where it knows what happened; the
//! gate, the spans, the log and the dead letter read it from there instead of parsing a message.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// Why an attempt did not succeed. Its text (`Display`) is what the attempt log and the dead letter's
/// `x-last-error` header show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFailure {
    /// No request was sent: the URL or its address is not allowed here, or no request could be made of
    /// it.
    Refused(String),
    /// No connection to the endpoint could be opened.
    Connect(String),
    /// The connection opened, but TLS failed (an untrusted or mismatched certificate, say).
    Tls(String),
    /// The connection failed during the exchange, before a status arrived.
    Transport(String),
    /// No answer within the request timeout.
    Timeout(Duration),
    /// The endpoint answered outside 2xx and 3xx.
    Status(StatusCode),
    /// The endpoint answered with a redirect, which is never followed.
    Redirect(StatusCode),
    /// The status arrived, but the body broke off.
    Body(String),
}

impl AttemptFailure {
    /// The low-cardinality `error.type` of a failure without a response; `None` when there was one
    /// (the status itself says what went wrong).
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Self::Refused(_) => Some(REFUSED),
            Self::Connect(_) | Self::Tls(_) | Self::Transport(_) => Some(TRANSPORT),
            Self::Timeout(_) => Some(TIMEOUT),
            Self::Status(_) | Self::Redirect(_) | Self::Body(_) => None,
        }
    }

    /// Whether the failure says the endpoint is struggling, so the gate should send it less: it timed
    /// out, could not be reached, or asked for less (429, 503).
    pub fn signals_overload(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Connect(_) | Self::Tls(_) | Self::Transport(_) => true,
            Self::Status(status) => asks_to_wait(*status),
            Self::Refused(_) | Self::Redirect(_) | Self::Body(_) => false,
        }
    }

    /// Whether another attempt could succeed. Only `410 Gone` says it cannot: the endpoint declares
    /// itself removed for good, so the schedule's remaining attempts would only knock on a closed door
    /// (and, as Stripe and Svix do, the delivery ends at once). Everything else (a timeout, a 5xx, a
    /// 4xx from a misconfigured receiver, an address refused today by DNS that may change) is retried.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Status(StatusCode::GONE))
    }

    /// A failure of the HTTP client, classified by what its chain of causes says.
    pub fn from_client(error: &(dyn StdError + 'static)) -> Self {
        let text = describe(error);
        let mut cause = Some(error);
        while let Some(current) = cause {
            if is_tls(current) {
                return Self::Tls(text);
            }
            cause = current.source();
        }
        match error.downcast_ref::<hyper_util::client::legacy::Error>() {
            Some(client) if client.is_connect() => Self::Connect(text),
            _ => Self::Transport(text),
        }
    }
}

/// Whether `error` is rustls' own. The TLS connector reports it inside `io::Error`s (two deep), which
/// do not name it as their source.
fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

/// Whether a status asks the client to come back later (and may say when, in `Retry-After`).
pub fn asks_to_wait(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    )
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(why) => f.write_str(why),
            Self::Connect(why) | Self::Tls(why) | Self::Transport(why) | Self::Body(why) => {
                f.write_str(why)
            }
            Self::Timeout(after) => write!(f, "timed out after {after:?}"),
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::Redirect(status) => write!(f, "HTTP {status}: redirects are not followed"),
        }
    }
}

/// `error.type` values of failures without a response: the endpoint's address is not allowed, the
/// connection or TLS failed, or the deadline passed.
pub const REFUSED: &str = "refused";
pub const TRANSPORT: &str = "transport";
pub const TIMEOUT: &str = "timeout";

/// An error and its causes on one line: hyper's own message alone ("client error (Connect)") does not
/// say what went wrong.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests;
