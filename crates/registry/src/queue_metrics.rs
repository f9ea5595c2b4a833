//! Queue depths (every work queue, the dead-letter queue and each retry queue included) and the age of
//! the oldest dead letter, sampled into Prometheus gauges so SREs see them without opening the broker.

use std::time::Duration;

use hookline_runtime::amqp;
use hookline_runtime::ops::Health;
use hookline_runtime::prometheus::{OLDEST_DEAD_LETTER, QUEUE_MESSAGES};
use hookline_runtime::topology::Topology;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Samples every `interval` until `shutdown`, on a connection of its own (a passive declare of a
/// missing queue closes its channel, which must not be the publisher's). It samples only while the
/// registry is ready: its publisher has then declared every queue, so none is missing.
pub async fn run(
    url: SecretString,
    topology: Topology,
    pool: PgPool,
    health: Health,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let name = format!("hookline-registry-metrics/{}", topology.prefix());
    let mut connections = amqp::Reconnecting::new(&url, &name, &shutdown);
    while let Some(connection) = connections.next().await {
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.cancelled() => break,
            }
            if !health.is_ready() {
                continue;
            }
            if let Err(error) = sample_queues(connection, &topology).await {
                tracing::warn!(%error, "cannot sample queue depths; reconnecting");
                break;
            }
            match oldest_dead_letter(&pool).await {
                Ok(age) => metrics::gauge!(OLDEST_DEAD_LETTER).set(age),
                Err(error) => tracing::warn!(%error, "cannot read the oldest dead letter"),
            }
        }
    }
}

async fn sample_queues(connection: &lapin::Connection, topology: &Topology) -> lapin::Result<()> {
    let prefix = format!("{}.", topology.prefix());
    let mut channel = connection.create_channel().await?;
    for queue in topology.work_queues() {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let label = queue.strip_prefix(&prefix).unwrap_or(&queue).to_owned();
        match channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(declared) => {
                metrics::gauge!(QUEUE_MESSAGES, "queue" => label)
                    .set(declared.message_count() as f64);
            }
            // Not declared yet (no worker has run): nothing waits in it; the channel is gone.
            Err(_) if connection.status().connected() => {
                metrics::gauge!(QUEUE_MESSAGES, "queue" => label).set(0.0);
                channel = connection.create_channel().await?;
            }
            Err(error) => return Err(error),
        }
    }
    amqp::close_channel(channel).await;
    Ok(())
}

/// Seconds since the oldest delivery still dead-lettered failed; 0 when there is none.
async fn oldest_dead_letter(pool: &PgPool) -> Result<f64, sqlx::Error> {
    let age: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(updated_at))::float8 FROM deliveries
         WHERE status = 'failed' AND NOT test",
    )
    .fetch_one(pool)
    .await?;
    Ok(age.unwrap_or(0.0))
}
