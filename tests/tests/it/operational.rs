//! Operational events: an organisation that subscribes a webhook to Hookline's own events hears, signed
//! like any delivery, when one of its deliveries dead-letters and when one of its webhooks is switched
//! off. Producers cannot publish them, nor anything to the operations endpoint's reserved organisation,
//! which a token bound to it cannot read either. The platform's operations endpoint hears every organisation's.
//! A worker stopped with SIGTERM during deliveries' last attempts still tells of their outcomes.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::ops::stops_cleanly;
use hookline_tests::receiver::Reply;
use hookline_tests::stack::{publish_request, spawn_worker_process};
use hookline_tests::{DEADLINE, LONG_DEADLINE, ORG};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_subscriber_hears_of_a_dead_letter_and_a_webhook_switched_off(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let gone = Receiver::always(410).await;
    let operations = Receiver::always(200).await;
    let (broken, _) = stack.webhook(ORG, &gone.url(), &["job.completed"]).await;
    let (watcher, secret) = stack
        .webhook(
            ORG,
            &operations.url(),
            &["delivery.dead_lettered", "webhook.disabled"],
        )
        .await;
    let event = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-1"}))
        .await;

    let heard = operations.wait_for(2, DEADLINE).await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut by_type = std::collections::BTreeMap::new();
    for request in &heard {
        verifier
            .verify(&request.body, &request.headers)
            .expect("signed like any delivery");
        let body = request.json();
        by_type.insert(body["eventType"].as_str().unwrap().to_owned(), body);
    }
    let dead = &by_type["delivery.dead_lettered"]["data"]["object"];
    let failed = stack.deliveries(ORG, &broken.id).await.remove(0);
    assert_eq!(dead["objectType"], "delivery");
    assert_eq!(dead["deliveryId"], failed.id);
    assert_eq!(dead["webhookId"], broken.id);
    assert_eq!(dead["eventId"], event);
    assert_eq!(dead["eventType"], "job.completed");
    assert_eq!(dead["attempts"], 1);
    assert_eq!(dead["lastStatus"], 410);
    let disabled = &by_type["webhook.disabled"]["data"]["object"];
    assert_eq!(disabled["webhookId"], broken.id);
    assert_eq!(disabled["url"], gone.url());
    assert_eq!(disabled["reason"], "the endpoint answered 410 Gone");
    assert_eq!(by_type["webhook.disabled"]["organisationId"], ORG);
    // The watcher's own deliveries of them are logged like any other.
    stack
        .settled(ORG, &watcher.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
}

/// SIGTERM while the only attempts of 20 deliveries wait for a `410 Gone`: the worker finishes them, and
/// publishes each one's `delivery.dead_lettered` and `webhook.disabled` before it closes their connection
/// (notices go out in the background, so a stop right behind them used to drop some). The next worker
/// delivers all 40.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_worker_stopped_during_last_attempts_still_tells_of_them(pool: PgPool) {
    const WEBHOOKS: usize = 20;
    let stack = Stack::without_worker(pool, &[]).await;
    // Within the tests' 2 s request timeout.
    let gone = Receiver::start(|_| Reply {
        delay: Duration::from_secs(1),
        ..Reply::status(410)
    })
    .await;
    let operations = Receiver::always(200).await;
    stack.webhooks_at(ORG, &gone.url(), WEBHOOKS).await;
    stack
        .webhook(
            ORG,
            &operations.url(),
            &["delivery.dead_lettered", "webhook.disabled"],
        )
        .await;
    let mut stopping = spawn_worker_process(&stack.env);
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    gone.wait_for(WEBHOOKS, LONG_DEADLINE).await;
    stops_cleanly(&mut stopping, "the worker during its attempts").await;

    let mut next = spawn_worker_process(&stack.env);
    let heard = operations.wait_for(2 * WEBHOOKS, LONG_DEADLINE).await;
    let mut by_type = std::collections::BTreeMap::<String, usize>::new();
    for request in &heard {
        let event_type = request.json()["eventType"].as_str().unwrap().to_owned();
        *by_type.entry(event_type).or_default() += 1;
    }
    let expected = [
        ("delivery.dead_lettered".to_owned(), WEBHOOKS),
        ("webhook.disabled".to_owned(), WEBHOOKS),
    ];
    assert_eq!(by_type, expected.into());
    stops_cleanly(&mut next, "the next worker").await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_operations_endpoint_hears_of_webhooks_switched_off_in_two_organisations(pool: PgPool) {
    const OTHER: &str = "org_globex";
    let operations = Receiver::always(200).await;
    let secret = hookline_core::signing::SigningSecret::generate().encode();
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__OPERATIONS__WEBHOOK_URL", &operations.url()),
            ("HOOKLINE__OPERATIONS__WEBHOOK_SECRET", &secret),
        ],
    )
    .await;
    let gone = Receiver::always(410).await;
    let mut broken = std::collections::BTreeMap::new();
    for org in [ORG, OTHER] {
        let (webhook, _) = stack.webhook(org, &gone.url(), &["job.completed"]).await;
        broken.insert(org, webhook.id);
        stack
            .publish(org, "job.completed", serde_json::json!({"jobId": "J-1"}))
            .await;
    }

    // Each organisation's 410 brings a webhook.disabled and a delivery.dead_lettered.
    let heard = operations.wait_for(4, DEADLINE).await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut disabled = std::collections::BTreeMap::new();
    for request in &heard {
        verifier
            .verify(&request.body, &request.headers)
            .expect("signed with operations.webhook_secret");
        let body = request.json();
        assert_eq!(body["organisationId"], "hookline-operations");
        let object = &body["data"]["object"];
        if body["eventType"] == "webhook.disabled" {
            let org = object["organisationId"].as_str().unwrap().to_owned();
            disabled.insert(org, object["webhookId"].as_str().unwrap().to_owned());
        }
    }
    let expected: std::collections::BTreeMap<_, _> = broken
        .iter()
        .map(|(org, id)| (org.to_string(), id.clone()))
        .collect();
    assert_eq!(disabled, expected, "one webhook.disabled per organisation");
    // Neither organisation sees the operations endpoint among its webhooks.
    for org in [ORG, OTHER] {
        assert_eq!(stack.webhooks(org).await.len(), 1);
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn producers_cannot_publish_operational_events(pool: PgPool) {
    let stack = Stack::start(pool).await;
    for event_type in hookline_core::operational::TYPES {
        let request = publish_request(ORG, event_type, serde_json::json!({}));
        let refused = stack
            .ingest
            .clone()
            .publish_event(request)
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{event_type}");
        assert!(
            refused.message().contains("published by Hookline itself"),
            "{}",
            refused.message()
        );
    }
    // Nor to the operations endpoint's organisation, whatever the type; and a token bound to that
    // organisation reads nothing of it.
    let reserved = hookline_core::operational::OPERATIONS_ORGANISATION;
    let refused = stack
        .ingest
        .clone()
        .publish_event(publish_request(
            reserved,
            "job.completed",
            serde_json::json!({}),
        ))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(refused.message().contains(reserved), "{refused:?}");
    let bound = hookline_tests::auth::token(
        Some(reserved),
        &[hookline_runtime::auth::Role::OrgAdmin],
        &[],
    );
    let listed = stack
        .registry_as(&bound)
        .list_webhooks(v1::ListWebhooksRequest::default())
        .await
        .expect_err("refused");
    assert_eq!(listed.code(), tonic::Code::PermissionDenied);
}
