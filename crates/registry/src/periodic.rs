//! The registry's periodic checks (overdue retries, failing webhooks) share one rhythm: a tick every
//! interval until shutdown, skipped while the registry is not ready (its database or broker away), so a
//! check never piles up errors during an outage it cannot act on.

use std::future::Future;
use std::time::Duration;

use hookline_runtime::ops::Health;
use tokio_util::sync::CancellationToken;

/// Runs `check` every `interval` until `shutdown`, while the registry is ready.
pub async fn every<F, Fut>(
    interval: Duration,
    health: &Health,
    shutdown: &CancellationToken,
    mut check: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if health.is_ready() {
            check().await;
        }
    }
}
