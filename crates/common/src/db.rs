//! PostgreSQL pools.

use backon::Retryable;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::amqp::reconnect_backoff;
use crate::config::DatabaseSettings;

/// How long getting a connection may take before the caller is told; sqlx's 30 s default would hide an
/// outage behind long stalls, while the callers here retry with their own backoff.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a pool, retrying with backoff until the database answers or `cancel` fires (then `None`).
/// Once open, the pool replaces broken connections by itself.
pub async fn connect_with_retry(
    settings: &DatabaseSettings,
    cancel: &CancellationToken,
) -> Option<PgPool> {
    let attempt = || {
        PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(settings.url.expose_secret())
    };
    let retrying = attempt.retry(reconnect_backoff()).notify(
        |err, delay| tracing::warn!(error = %err, ?delay, "PostgreSQL unreachable; retrying"),
    );
    // Cancellation wins over a connection that happens to be ready at the same moment.
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        pool = retrying => pool.ok(),
    }
}

/// The health flag name of the database dependency.
pub const DATABASE: &str = "database";

/// How often [`watch`] checks the database.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the `database` health flag current until `shutdown`.
pub async fn watch(pool: PgPool, health: crate::ops::Health, shutdown: CancellationToken) {
    loop {
        let up = sqlx::query("SELECT 1").execute(&pool).await.is_ok();
        health.set(DATABASE, up);
        tokio::select! {
            () = tokio::time::sleep(CHECK_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
