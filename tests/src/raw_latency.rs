//! The broker's own latency floor for a delivery's path: a message published with a confirm to one
//! quorum queue, relayed by a consumer that publishes it (confirmed) to a second one before acking, and
//! consumed there. Hookline's events take the same two confirmed hops (ingest → fan-out → attempt), plus
//! a PostgreSQL write and the HTTP request, so this is what its latency is measured against.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hookline_runtime::amqp;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use crate::bench::{declare_quorum, now_us};

/// Publishes `rate` messages a second for `seconds` through two confirmed hops and returns each one's
/// latency (µs) from the publish call to its receipt after the second hop.
pub async fn two_hops(
    settings: &hookline_runtime::config::Settings,
    prefix: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Vec<u64>> {
    let connection = amqp::connect(&settings.amqp.url, "hookline-bench-latency").await?;
    let queues = [format!("{prefix}.latency-1"), format!("{prefix}.latency-2")];
    let publisher = amqp::confirmed_channel(&connection).await?;
    for queue in &queues {
        declare_quorum(&publisher, queue).await?;
    }
    let (relay_channel, relay_in) = consumer(&connection, &queues[0]).await?;
    let relay_out = amqp::confirmed_channel(&connection).await?;
    let (last_channel, mut last) = consumer(&connection, &queues[1]).await?;

    let second = queues[1].clone();
    let relay = tokio::spawn(async move {
        let mut relay_in = relay_in;
        while let Some(Ok(message)) = relay_in.next().await {
            let (channel, second) = (relay_out.clone(), second.clone());
            // Each message relayed on its own, as the fan-out's batches overlap.
            tokio::spawn(async move {
                let properties = amqp::json_properties("relayed");
                if amqp::publish_confirmed(&channel, "", &second, &message.data, properties)
                    .await
                    .is_ok()
                {
                    let _ = message.acker.ack(BasicAckOptions::default()).await;
                }
            });
        }
    });
    let total = (rate * seconds) as usize;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let received = {
        let latencies = latencies.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = last.next().await {
                let sent_at = message.data[..8].try_into().map(u64::from_le_bytes);
                let _ = message.acker.ack(BasicAckOptions::default()).await;
                let mut latencies = latencies.lock().expect("latency lock");
                latencies.push(now_us().saturating_sub(sent_at.unwrap_or_default()));
                if latencies.len() == total {
                    break;
                }
            }
        })
    };

    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for _ in 0..total {
        ticker.tick().await;
        let (channel, first) = (publisher.clone(), queues[0].clone());
        tokio::spawn(async move {
            // The stamp, then padding to the size of a bench event.
            let mut body = now_us().to_le_bytes().to_vec();
            body.resize(400, b'x');
            let properties = amqp::json_properties("raw");
            amqp::publish_confirmed(&channel, "", &first, &body, properties).await
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !received.is_finished() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the raw two-hop messages never all arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.abort();
    // Consumers' channels are closed before their queues are deleted: otherwise the broker's cancel of
    // the consumer can cross the client's own, and lapin reports an unexpected cancel-ok.
    amqp::close_channel(relay_channel).await;
    amqp::close_channel(last_channel).await;
    for queue in &queues {
        publisher
            .queue_delete(queue.as_str().into(), Default::default())
            .await?;
    }
    let _ = connection.close(200, "done".into()).await;
    let latencies = std::mem::take(&mut *latencies.lock().expect("latency lock"));
    Ok(latencies)
}

async fn consumer(
    connection: &lapin::Connection,
    queue: &str,
) -> lapin::Result<(lapin::Channel, lapin::Consumer)> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(1_000, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}
