//! The shared broker, seen from the tests: how many messages a queue holds, and deleting a test's
//! topology when it is done with it.

use hookline_runtime::config::Settings;

/// Deletes every queue and exchange of `settings`' prefix. Call it only once nothing can declare them.
pub async fn delete_queues(settings: &Settings) -> lapin::Result<()> {
    let topology = settings.topology();
    let connection =
        hookline_runtime::amqp::connect(&settings.amqp.url, "hookline-tests-cleanup").await?;
    let channel = connection.create_channel().await?;
    topology.delete(&channel).await?;
    hookline_runtime::amqp::close_channel(channel).await;
    connection.close(200, "done".into()).await
}

/// How many messages ready for consumers `queue` holds (the broker does not count unacked ones here).
pub async fn message_count(channel: &lapin::Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{queue} exists: {e}"))
        .message_count()
}

/// How many messages `queue` holds, ready or delivered and not yet acked (read with `rabbitmqctl`, as
/// AMQP counts only ready ones): 0 once every message published to it has been consumed and acked.
pub async fn messages_held(queue: &str) -> u32 {
    let listing = tokio::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name", "messages"])
        .output()
        .await
        .expect("rabbitmqctl runs (RabbitMQ's CLI is installed with the broker)");
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(name, _)| *name == queue)
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}
