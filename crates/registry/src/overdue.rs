//! Overdue retries. A retry waits out its delay in a broker queue whose TTL dead-letters it back to
//! the deliveries queue. Hookline does not rely on that being prompt: on RabbitMQ 3.10, after the node
//! leading the queues was killed, expired retries sat in their retry queue for 3–6 minutes while the
//! broker's dead-lettering waited out a confirm timeout. So the registry measures how far the most
//! overdue retry is past its due time, and re-drives any retry overdue by more than
//! `registry.retry_overdue_after`: it publishes the same attempt again (same number, same chain), and
//! the claim a worker takes before sending a retry lets only one copy through.

use std::time::Duration;

use hookline_core::messages::{DeliveryTask, EventMessage};
use hookline_runtime::ops::Health;
use hookline_runtime::prometheus::{OVERDUE_RETRY, REDRIVEN};
use hookline_runtime::publisher::EventPublisher;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store;

/// Retries re-driven per check at most; the rest wait for the next check.
const BATCH: i64 = 500;

/// Checks every `interval` until `shutdown`, while the registry is ready.
pub async fn run(
    pool: PgPool,
    events: EventPublisher,
    health: Health,
    after: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    crate::periodic::every(interval, &health, &shutdown, || async {
        match most_overdue(&pool).await {
            Ok(late) => metrics::gauge!(OVERDUE_RETRY).set(late),
            Err(error) => tracing::warn!(%error, "cannot read the most overdue retry"),
        }
        match redrive(&pool, &events, after).await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                ?after,
                "retries overdue: the broker did not bring them back; published again"
            ),
            Err(error) => tracing::warn!(%error, "cannot re-drive overdue retries"),
        }
    })
    .await;
}

/// Seconds the most overdue retry is past its due time; 0 when none is.
async fn most_overdue(pool: &PgPool) -> sqlx::Result<f64> {
    let late: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8 FROM deliveries
         WHERE status = 'retrying' AND next_attempt_at < now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(late.unwrap_or(0.0))
}

#[derive(sqlx::FromRow)]
struct Overdue {
    id: Uuid,
    webhook_id: Uuid,
    organisation_id: String,
    event_id: Uuid,
    attempts: i32,
    chain_start: i32,
    version: i32,
}

/// Publishes again each retry overdue by more than `after`, and moves its due time to now, so it is
/// re-driven again only if it stays overdue that long once more. Returns how many.
async fn redrive(pool: &PgPool, events: &EventPublisher, after: Duration) -> anyhow::Result<u64> {
    let overdue: Vec<Overdue> = sqlx::query_as(
        "SELECT id, webhook_id, organisation_id, event_id, attempts, chain_start, version
         FROM deliveries
         WHERE status = 'retrying' AND next_attempt_at < now() - make_interval(secs => $1)
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(after.as_secs_f64())
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    let mut redriven = 0;
    for row in overdue {
        let event = store::get_event(pool, &row.organisation_id, row.event_id).await?;
        let event = event.and_then(|e| EventMessage::from(e).in_version(row.version.max(1) as u32));
        // Pruned meanwhile, or a version no longer kept: nothing to send.
        let Some(event) = event else { continue };
        let task = DeliveryTask {
            chain_start: row.chain_start.max(1) as u32,
            ..DeliveryTask::chain(row.id, row.webhook_id, row.attempts as u32 + 1, event)
        };
        events.publish_task(&task).await?;
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = now()
             WHERE id = $1 AND status = 'retrying' AND attempts = $2",
        )
        .bind(row.id)
        .bind(row.attempts)
        .execute(pool)
        .await?;
        metrics::counter!(REDRIVEN).increment(1);
        redriven += 1;
    }
    Ok(redriven)
}
