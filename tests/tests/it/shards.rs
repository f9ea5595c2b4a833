//! Shards: one organisation's burst does not hold back another's events, and messages left in the
//! unsharded queues of earlier versions are still delivered.

use std::time::{Duration, Instant};

use hookline_core::messages::{DeliveryTask, EventMessage};
use hookline_proto::v1;
use hookline_runtime::amqp;
use hookline_tests::LONG_DEADLINE;
use hookline_tests::stack::publish_request;
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;
use uuid::Uuid;

const BURST: usize = 4_000;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn each_message_lands_in_its_own_shard_alone(pool: PgPool) {
    // No worker: the queues keep what is routed to them.
    let stack = Stack::without_worker(pool, &[]).await;
    let topology = stack.topology();
    let connection = amqp::connect(&stack.settings.amqp.url, "hookline-tests")
        .await
        .unwrap();
    let channel = amqp::confirmed_channel(&connection).await.unwrap();
    let webhook = Uuid::now_v7();
    amqp::publish_traced(
        &channel,
        &topology.deliveries_exchange(),
        "",
        b"{}",
        "t",
        topology.delivery_headers(&webhook),
    )
    .await
    .unwrap();
    amqp::publish_traced(
        &channel,
        &topology.events_exchange(),
        &topology.event_routing_key("org_a"),
        b"{}",
        "e",
        Default::default(),
    )
    .await
    .unwrap();
    let mut holding = Vec::new();
    for queue in topology
        .deliveries_queues()
        .into_iter()
        .chain(topology.events_queues())
    {
        let count = hookline_tests::stack::message_count(&channel, &queue).await;
        if count > 0 {
            holding.push((queue, count));
        }
    }
    assert_eq!(
        holding,
        vec![
            (topology.deliveries_queue_of(&webhook), 1),
            (topology.events_queue_of("org_a"), 1)
        ]
    );
    let _ = connection.close(200, "done".into()).await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_burst_from_one_organisation_does_not_hold_back_another(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let topology = stack.topology();
    let a = Receiver::always(200).await;
    let b = Receiver::always(200).await;
    let (a_hook, _) = stack.webhook("org_a", &a.url(), &["job.completed"]).await;
    // Shards are chosen by hash; 7 webhooks in 8 land apart from A's. This test is about those (the README
    // says what the eighth gets), so it registers B's until one does.
    let a_shard = topology.deliveries_queue_of(&a_hook.id.parse().unwrap());
    let b_hook = loop {
        let (hook, _) = stack.webhook("org_b", &b.url(), &["job.completed"]).await;
        if topology.deliveries_queue_of(&hook.id.parse().unwrap()) != a_shard {
            break hook;
        }
        stack
            .registry
            .clone()
            .delete_webhook(v1::DeleteWebhookRequest {
                organisation_id: "org_b".into(),
                id: hook.id,
            })
            .await
            .expect("deleting the webhook");
    };
    assert_ne!(
        topology.events_queue_of("org_a"),
        topology.events_queue_of("org_b")
    );

    let burst = v1::PublishEventsRequest {
        events: (0..1_000)
            .map(|_| publish_request("org_a", "job.completed", serde_json::json!({})))
            .collect(),
    };
    for _ in 0..BURST / 1_000 {
        stack
            .ingest
            .clone()
            .publish_events(burst.clone())
            .await
            .expect("the burst is accepted");
    }
    let published = Instant::now();
    stack
        .publish("org_b", "job.completed", serde_json::json!({}))
        .await;
    b.wait_for(1, LONG_DEADLINE).await;
    let waited = published.elapsed();
    let a_done = a.count();
    assert!(
        a_done < BURST,
        "B's event arrived before A's burst was through ({a_done} of {BURST} delivered)"
    );
    assert!(waited < Duration::from_secs(2), "B waited {waited:?}");
    stack
        .settled(
            "org_b",
            &b_hook.id,
            v1::DeliveryStatus::Succeeded,
            LONG_DEADLINE,
        )
        .await;
    a.wait_for(BURST, LONG_DEADLINE).await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn messages_in_the_queues_of_earlier_versions_are_still_delivered(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (hook, _) = stack
        .webhook("org_a", &receiver.url(), &["job.completed"])
        .await;
    let prefix = stack.settings.amqp.prefix.clone();
    let connection = amqp::connect(&stack.settings.amqp.url, "hookline-tests")
        .await
        .unwrap();
    let channel = amqp::confirmed_channel(&connection).await.unwrap();

    // An event, as an unsharded ingest published it: to the `<prefix>.events` fanout exchange.
    let event = EventMessage {
        id: Uuid::now_v7(),
        organisation_id: "org_a".into(),
        event_type: "job.completed".into(),
        occurred_at: chrono::Utc::now(),
        version: 1,
        data: serde_json::json!({"objectType": "job"})
            .as_object()
            .unwrap()
            .clone(),
        webhook_id: None,
        versions: Default::default(),
    };
    let body = serde_json::to_vec(&event).unwrap();
    let legacy_events = format!("{prefix}.events");
    amqp::publish_traced(&channel, &legacy_events, "", &body, "e", Default::default())
        .await
        .unwrap();

    // A task, as an unsharded retry queue dead-letters it: to the `<prefix>.deliveries` fanout exchange.
    // It belongs to a delivery the log already holds (a second event's).
    let second = stack
        .publish("org_a", "job.completed", serde_json::json!({}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;
    let deliveries = stack.deliveries("org_a", &hook.id).await;
    let delivery = deliveries
        .iter()
        .find(|d| d.event_id == second)
        .or_else(|| deliveries.first())
        .expect("a delivery");
    let mut old = event.clone();
    old.id = second.parse().unwrap();
    let task = DeliveryTask::chain(
        delivery.id.parse().unwrap(),
        hook.id.parse().unwrap(),
        2,
        old,
    );
    let legacy_deliveries = format!("{prefix}.deliveries");
    let body = serde_json::to_vec(&task).unwrap();
    amqp::publish_traced(
        &channel,
        &legacy_deliveries,
        "",
        &body,
        "t",
        Default::default(),
    )
    .await
    .unwrap();

    let received = receiver.wait_for(3, LONG_DEADLINE).await;
    let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.contains(&event.id.to_string().as_str()), "{ids:?}");
    assert_eq!(
        ids.iter().filter(|id| **id == second).count(),
        2,
        "the second event's first attempt and the old queue's task: {ids:?}"
    );
    let _ = connection.close(200, "done".into()).await;
}
