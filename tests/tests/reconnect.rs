//! Broker outages: when RabbitMQ drops the services' connections, they reconnect with backoff and
//! carry on, and nothing accepted is lost.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::stack::publish_request;
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);
const ORG: &str = "org_acme";

/// Closes, from the broker's side, every connection whose client properties mention `fragment`.
async fn close_connections_mentioning(fragment: &str) -> usize {
    let listing = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs (RabbitMQ's CLI is installed with the broker)");
    let mut closed = 0;
    for line in String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| l.contains(fragment))
    {
        let pid = line.split('\t').next().expect("a pid column");
        let status = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test: broker-side close"])
            .status()
            .await
            .expect("rabbitmqctl close_connection");
        closed += usize::from(status.success());
    }
    closed
}

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
async fn services_reconnect_after_the_broker_drops_them_and_lose_nothing(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let first = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, DEADLINE).await;

    let closed = close_connections_mentioning(&stack.settings.amqp.prefix).await;
    assert!(
        closed >= 2,
        "closed the ingest and delivery connections, got {closed}"
    );

    // Ingest answers UNAVAILABLE until it has reconnected; a producer retries, as it would in production.
    let second = eventually("ingest to accept events again", DEADLINE, || async {
        let request = publish_request(ORG, "job.completed", serde_json::json!({"n": 2}));
        stack
            .ingest
            .clone()
            .publish_event(request)
            .await
            .ok()
            .map(|r| r.into_inner().event_id)
    })
    .await;
    let requests = receiver.wait_for(2, DEADLINE).await;
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        ids.contains(&first) && ids.contains(&second),
        "both events delivered: {ids:?}"
    );

    let deliveries = eventually("both deliveries to succeed", DEADLINE, || async {
        let all = stack.deliveries(ORG, &webhook.id).await;
        (all.len() == 2
            && all
                .iter()
                .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32))
        .then_some(all)
    })
    .await;
    assert_eq!(deliveries.len(), 2);
}
