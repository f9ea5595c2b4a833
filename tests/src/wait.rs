//! Polling with a deadline, in place of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often conditions are re-checked.
const POLL: Duration = Duration::from_millis(25);

/// Polls `check` until it returns `Some`, or panics with `what` once `deadline` has passed.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
