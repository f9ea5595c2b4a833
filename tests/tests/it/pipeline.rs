//! The pipeline end to end: publish through ingest, deliver signed, retry, dead-letter, record.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::stack::{message_count, publish_request};
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack, eventually};
use lapin::options::BasicGetOptions;
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn published_event_reaches_subscribed_webhook_with_a_verifiable_signature(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, secret) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    let event_id = stack
        .publish(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-1", "total": 12}),
        )
        .await;
    let request = receiver.wait_for(1, DEADLINE).await.remove(0);

    standardwebhooks::Webhook::new(&secret)
        .expect("the secret is in Standard Webhooks form")
        .verify(&request.body, &request.headers)
        .expect("the reference library verifies the signature");
    assert_eq!(request.header("webhook-id"), event_id);
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("Hookline/"));

    let body = request.json();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["webhookId"], webhook.id);
    assert_eq!(body["organisationId"], ORG);
    assert_eq!(body["eventType"], "job.completed");
    assert_eq!(body["version"], 1);
    assert_eq!(
        body["data"]["object"],
        serde_json::json!({"objectType": "job", "jobId": "J-1", "total": 12})
    );
    let date_time = body["dateTime"].as_str().expect("dateTime is a string");
    assert!(
        date_time.ends_with('Z') && chrono_like(date_time),
        "{date_time} is RFC 3339 UTC"
    );

    let delivery = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let d = delivery.delivery.expect("a delivery");
    assert_eq!(
        (d.event_id.as_str(), d.attempts, d.last_response_status),
        (event_id.as_str(), 1, 200)
    );
    assert_eq!(delivery.attempts.len(), 1);
    assert!(delivery.attempts[0].success);
    assert_eq!(
        delivery.payload.as_bytes(),
        &request.body[..],
        "the log keeps the exact bytes sent"
    );
}

fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn disabled_unsubscribed_and_foreign_webhooks_receive_nothing(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let target = Receiver::always(200).await;
    let disabled = Receiver::always(200).await;
    let unsubscribed = Receiver::always(200).await;
    let foreign = Receiver::always(200).await;

    let (target_hook, _) = stack.webhook(ORG, &target.url(), &["job.completed"]).await;
    let (disabled_hook, _) = stack
        .webhook(ORG, &disabled.url(), &["job.completed"])
        .await;
    stack
        .registry
        .clone()
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: ORG.into(),
            id: disabled_hook.id.clone(),
            status: v1::WebhookStatus::Disabled.into(),
        })
        .await
        .expect("disabling");
    stack
        .webhook(ORG, &unsubscribed.url(), &["estimate.updated"])
        .await;
    stack
        .webhook("org_other", &foreign.url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-2"}))
        .await;
    target.wait_for(1, DEADLINE).await;
    stack
        .settled(
            ORG,
            &target_hook.id,
            v1::DeliveryStatus::Succeeded,
            DEADLINE,
        )
        .await;

    // Fan-out creates every delivery of an event in one transaction, so by now all of them exist.
    let all = stack.deliveries(ORG, "").await;
    assert_eq!(
        all.len(),
        1,
        "only the enabled, subscribed webhook gets a delivery: {all:?}"
    );
    assert!(stack.deliveries("org_other", "").await.is_empty());
    assert_eq!(
        (disabled.count(), unsubscribed.count(), foreign.count()),
        (0, 0, 0)
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn failing_endpoint_gets_three_attempts_then_lands_in_the_dead_letter_queue(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(500).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    let event_id = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-3"}))
        .await;
    let requests = receiver.wait_for(3, DEADLINE).await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Failed, DEADLINE)
        .await;

    // The schedule in tests is [1s, 2s].
    let gaps = [
        requests[1].at - requests[0].at,
        requests[2].at - requests[1].at,
    ];
    assert!(
        gaps[0] >= Duration::from_millis(900),
        "first retry after ~1s, got {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(1900),
        "second retry after ~2s, got {:?}",
        gaps[1]
    );
    assert!(
        requests.iter().all(|r| r.header("webhook-id") == event_id),
        "webhook-id is stable across retries"
    );

    let codes: Vec<_> = failed
        .attempts
        .iter()
        .map(|a| (a.attempt, a.response_status, a.success))
        .collect();
    assert_eq!(
        codes,
        vec![(1, 500, false), (2, 500, false), (3, 500, false)]
    );
    assert!(failed.attempts.iter().all(|a| a.error.contains("500")));
    let delivery = failed.delivery.expect("a delivery");
    assert_eq!(delivery.attempts, 3);

    let broker = stack.broker().await;
    let topology = stack.topology();
    let dead = eventually("the dead letter", DEADLINE, || async {
        broker
            .basic_get(
                topology.dead_letter_queue().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")
    })
    .await;
    let task: hookline_core::messages::DeliveryTask =
        serde_json::from_slice(&dead.data).expect("a delivery task");
    let headers = dead
        .properties
        .headers()
        .clone()
        .expect("dead letters carry headers");
    let last_status = headers.inner().get(hookline_core::headers::LAST_STATUS);
    assert_eq!(last_status, Some(&lapin::types::AMQPValue::LongUInt(500)));
    let last_error = match headers.inner().get(hookline_core::headers::LAST_ERROR) {
        Some(lapin::types::AMQPValue::LongString(e)) => {
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
        other => panic!("a last-error header, got {other:?}"),
    };
    assert!(last_error.contains("HTTP 500"), "{last_error}");
    assert!(
        format!("{last_error:?}").contains("HTTP 500"),
        "{last_error:?}"
    );
    assert_eq!(
        (task.delivery_id.to_string(), task.attempt),
        (delivery.id.clone(), 3)
    );

    // Nothing is scheduled after the third failure: every retry queue is empty.
    for delay in topology.retry_schedule() {
        let count = message_count(&broker, &topology.retry_queue(*delay)).await;
        assert_eq!(count, 0, "{} is empty", topology.retry_queue(*delay));
    }
    assert_eq!(receiver.count(), 3);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn endpoint_failing_once_then_succeeding_ends_succeeded_after_two_attempts(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::start(|n| Reply::status(if n == 0 { 503 } else { 204 })).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-4"}))
        .await;
    let done = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;

    let codes: Vec<_> = done
        .attempts
        .iter()
        .map(|a| (a.attempt, a.response_status, a.success))
        .collect();
    assert_eq!(codes, vec![(1, 503, false), (2, 204, true)]);
    assert_eq!(done.delivery.expect("a delivery").attempts, 2);
    assert_eq!(receiver.count(), 2);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn slow_endpoint_does_not_hold_back_a_fast_one(pool: PgPool) {
    let stack = Stack::start_with(pool, &[("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "3s")]).await;
    let slow = Receiver::start(|_| Reply {
        delay: Duration::from_secs(30),
        ..Reply::status(200)
    })
    .await;
    let fast = Receiver::always(200).await;
    let (slow_hook, _) = stack
        .webhook("org_slow", &slow.url(), &["job.completed"])
        .await;
    let (fast_hook, _) = stack.webhook(ORG, &fast.url(), &["job.completed"]).await;

    for _ in 0..20 {
        stack
            .publish("org_slow", "job.completed", serde_json::json!({}))
            .await;
    }
    slow.wait_for(20, DEADLINE).await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    fast.wait_for(1, DEADLINE).await;

    // The fast delivery finished while all 20 slow attempts were still waiting for their timeout.
    stack
        .settled(ORG, &fast_hook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let slow_deliveries = stack.deliveries("org_slow", &slow_hook.id).await;
    assert_eq!(slow_deliveries.len(), 20);
    assert!(
        slow_deliveries.iter().all(|d| d.attempts == 0),
        "slow attempts were still in flight"
    );

    // And the slow ones fail by timeout, to be retried.
    let retrying = stack
        .settled(
            "org_slow",
            &slow_hook.id,
            v1::DeliveryStatus::Retrying,
            DEADLINE,
        )
        .await;
    assert!(
        retrying.attempts[0].error.contains("timed out"),
        "{:?}",
        retrying.attempts[0]
    );
    assert_eq!(retrying.attempts[0].response_status, 0);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn publish_with_the_broker_unreachable_returns_unavailable(pool: PgPool) {
    let env = hookline_tests::stack::test_env(
        &pool,
        &[("HOOKLINE__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
    );
    let settings = hookline_runtime::config::Settings::load_from(None, env).expect("settings");
    let ingest = hookline_ingest::Ingest::build(&settings)
        .await
        .expect("ingest binds");
    let addr = ingest.listeners().grpc_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ingest.run_until_stopped(stop.clone()));
    let channel = hookline_tests::stack::connect(addr).await;
    let mut client =
        hookline_tests::auth::ingest_client(channel, &hookline_tests::auth::super_admin());

    let status = client
        .publish_event(publish_request(ORG, "job.completed", serde_json::json!({})))
        .await
        .expect_err("no broker, no OK");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    stop.cancel();
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn attempt_log_keeps_headers_and_a_capped_body_and_redirects_fail(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let big = Receiver::start(|_| Reply {
        body_len: 100_000,
        ..Reply::status(200)
    })
    .await;
    let redirect = Receiver::always(302).await;
    let (big_hook, _) = stack.webhook(ORG, &big.url(), &["job.completed"]).await;
    let (redirect_hook, _) = stack
        .webhook(ORG, &redirect.url(), &["job.completed"])
        .await;
    let (refused_hook, _) = stack
        .webhook(ORG, "http://127.0.0.1:1/hooks", &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;

    let logged = stack
        .settled(ORG, &big_hook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let attempt = &logged.attempts[0];
    assert_eq!(
        attempt.response_body.len(),
        65_536,
        "the body is capped at the default 64 KiB"
    );
    assert!(attempt.response_body_truncated);
    let (name, value) = hookline_tests::receiver::RECEIVER_HEADER;
    assert_eq!(
        attempt.response_headers.get(name).map(String::as_str),
        Some(value)
    );
    assert!(attempt.duration_ms < 20_000 && attempt.started_at.is_some());

    let redirected = stack
        .settled(
            ORG,
            &redirect_hook.id,
            v1::DeliveryStatus::Retrying,
            DEADLINE,
        )
        .await;
    assert_eq!(redirected.attempts[0].response_status, 302);
    assert!(
        redirected.attempts[0]
            .error
            .contains("redirects are not followed"),
        "{:?}",
        redirected.attempts[0]
    );
    assert_eq!(
        redirect.count(),
        1,
        "the redirect was not followed anywhere"
    );

    let refused = stack
        .settled(
            ORG,
            &refused_hook.id,
            v1::DeliveryStatus::Retrying,
            DEADLINE,
        )
        .await;
    assert_eq!(refused.attempts[0].response_status, 0);
    assert!(
        refused.attempts[0]
            .error
            .to_lowercase()
            .contains("connection refused"),
        "{:?}",
        refused.attempts[0]
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_pending_retry_of_a_disabled_webhook_ends_cancelled_not_delivered(pool: PgPool) {
    let stack = Stack::start_with(pool, &[("HOOKLINE__DELIVERY__WEBHOOK_CACHE_TTL", "0s")]).await;
    let receiver = Receiver::always(500).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Retrying, DEADLINE)
        .await;

    let disable = v1::SetWebhookStatusRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
        status: v1::WebhookStatus::Disabled.into(),
    };
    stack
        .registry
        .clone()
        .set_webhook_status(disable)
        .await
        .unwrap();

    let cancelled = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Cancelled, DEADLINE)
        .await;
    assert_eq!(cancelled.attempts.len(), 1, "the retry was not attempted");
    assert_eq!(receiver.count(), 1);
}

/// The fan-out builds and sends an event's tasks a batch's length at a time, so that its memory does
/// not grow with an organisation's webhooks. With batches of 2, one direct attempt at a time and 5
/// webhooks, 3 events make 15 deliveries sent in many slices, some attempted directly and the rest
/// through the deliveries queue: each arrives exactly once, for its own webhook, and succeeds at the
/// first attempt.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn every_delivery_of_an_event_fanned_out_in_slices_arrives_once(pool: PgPool) {
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__DELIVERY__FANOUT_BATCH", "2"),
            ("HOOKLINE__DELIVERY__DIRECT_ATTEMPTS", "1"),
        ],
    )
    .await;
    let receiver = Receiver::always(200).await;
    let webhooks = stack.webhooks_at(ORG, &receiver.url(), 5).await;
    let events = stack.publish_batch(ORG, 3).await;

    let expected: std::collections::BTreeSet<(String, String)> = webhooks
        .iter()
        .flat_map(|w| events.iter().map(move |e| (w.clone(), e.clone())))
        .collect();
    let pairs = |requests: &[hookline_tests::receiver::Received]| {
        requests
            .iter()
            .map(|r| {
                let body = r.json();
                (
                    body["webhookId"].as_str().unwrap_or_default().to_owned(),
                    r.header("webhook-id").to_owned(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(pairs(&receiver.wait_for(15, DEADLINE).await), expected);
    for webhook in &webhooks {
        hookline_tests::eventually("3 first attempts that succeeded", DEADLINE, || async {
            let deliveries = stack.deliveries(ORG, webhook).await;
            (deliveries.len() == 3
                && deliveries
                    .iter()
                    .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32 && d.attempts == 1))
            .then_some(())
        })
        .await;
    }
    assert_eq!(receiver.count(), 15, "no delivery was sent twice");
}
