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
