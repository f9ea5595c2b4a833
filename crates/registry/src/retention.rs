//! Retention: a background task that deletes events older than the configured age, with their
//! deliveries and attempts, in small batches so that writers are never locked out for long.

use std::time::Duration;

use hookline_runtime::config::RetentionSettings;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Pause between two batches of one sweep, leaving room for other work.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Sweeps every `interval` until `shutdown`. With a zero `max_age` it keeps everything.
pub async fn run(pool: PgPool, settings: RetentionSettings, shutdown: CancellationToken) {
    if settings.max_age.is_zero() {
        return;
    }
    loop {
        match sweep(&pool, &settings, &shutdown).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(deleted, max_age = ?settings.max_age, "pruned expired events")
            }
            Err(error) => {
                tracing::warn!(%error, "retention sweep failed; trying again next interval")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Deletes expired events batch by batch until none is left; returns how many.
async fn sweep(
    pool: &PgPool,
    settings: &RetentionSettings,
    shutdown: &CancellationToken,
) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let batch = delete_batch(pool, settings.max_age, settings.batch).await?;
        deleted += batch;
        if batch < u64::from(settings.batch) || shutdown.is_cancelled() {
            return Ok(deleted);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}

/// Deletes up to `batch` of the oldest expired events. Rows another sweeper holds are skipped, so several
/// registry replicas can prune side by side.
async fn delete_batch(pool: &PgPool, max_age: Duration, batch: u32) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM events WHERE id IN (
             SELECT id FROM events WHERE received_at < now() - make_interval(secs => $1)
             ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(max_age.as_secs_f64())
    .bind(i64::from(batch))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
