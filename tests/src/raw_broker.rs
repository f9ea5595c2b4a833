//! The broker's own throughput, measured in the same run as the pipeline it is compared with: persistent
//! messages to a quorum queue with confirms, consumed and acked (one hop), or published alone.

use std::time::Instant;

use futures_util::StreamExt as _;
use hookline_runtime::amqp;
use hookline_runtime::config::Settings;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use crate::bench::declare_quorum;

/// Messages in the one-hop baseline, and confirms in flight.
pub const BASELINE_MESSAGES: usize = 50_000;
const BASELINE_WINDOW: usize = 1_000;

/// Raw broker throughput: persistent messages through a quorum queue with confirms and acks (one hop).
pub async fn one_hop(settings: &Settings, prefix: &str) -> anyhow::Result<f64> {
    let connection = amqp::connect(&settings.amqp.url, "hookline-bench").await?;
    let publisher = amqp::confirmed_channel(&connection).await?;
    let consumer_channel = connection.create_channel().await?;
    let queue = format!("{prefix}.baseline");
    declare_quorum(&publisher, &queue).await?;
    consumer_channel
        .basic_qos(1000, BasicQosOptions::default())
        .await?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let body = serde_json::to_vec(&serde_json::json!({"payload": "x".repeat(400)}))?;

    let started = Instant::now();
    let consume = tokio::spawn(async move {
        for _ in 0..BASELINE_MESSAGES {
            let delivery = consumer
                .next()
                .await
                .expect("a message")
                .expect("a delivery");
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
        // Closed before the queue is deleted: otherwise the broker's cancel of the consumer can cross the
        // client's own and lapin reports an unexpected cancel-ok.
        amqp::close_channel(consumer_channel).await;
    });
    publish_window(&publisher, &queue, &body, BASELINE_MESSAGES).await?;
    consume.await?;
    let rate = BASELINE_MESSAGES as f64 / started.elapsed().as_secs_f64();
    publisher
        .queue_delete(queue.as_str().into(), Default::default())
        .await?;
    Ok(rate)
}

/// Publishes `count` copies of `body` to `queue` with confirms, [`BASELINE_WINDOW`] in flight.
async fn publish_window(
    publisher: &lapin::Channel,
    queue: &str,
    body: &[u8],
    count: usize,
) -> anyhow::Result<()> {
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    for n in 0..count {
        if in_flight.len() >= BASELINE_WINDOW {
            in_flight.next().await.expect("a confirm")?;
        }
        in_flight.push(async move {
            amqp::publish_confirmed(
                publisher,
                "",
                queue,
                body,
                amqp::json_properties(&n.to_string()),
            )
            .await
        });
    }
    while let Some(confirm) = in_flight.next().await {
        confirm?;
    }
    Ok(())
}

/// Raw confirmed publishes alone (no consumer): the baseline of batch ingest.
pub async fn publish_only(
    settings: &Settings,
    prefix: &str,
    messages: usize,
) -> anyhow::Result<f64> {
    let connection = amqp::connect(&settings.amqp.url, "hookline-bench").await?;
    let publisher = amqp::confirmed_channel(&connection).await?;
    let queue = format!("{prefix}.publish-baseline");
    declare_quorum(&publisher, &queue).await?;
    // The size of a bench event as ingest publishes it.
    let body = serde_json::to_vec(&serde_json::json!({"payload": "x".repeat(400)}))?;
    let started = Instant::now();
    publish_window(&publisher, &queue, &body, messages).await?;
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    publisher
        .queue_delete(queue.as_str().into(), Default::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(rate)
}
