//! Per-webhook rate limits: set and shown through the registry, and held across two worker processes
//! that share nothing but the database and the broker. Waiting for a turn is never an attempt, and a
//! worker killed or stopped while tasks wait loses none of them.

use std::time::{Duration, Instant};

use hookline_proto::v1;
use hookline_tests::stack::{spawn_worker_process, webhook_request};
use hookline_tests::{LONG_DEADLINE, ORG, Receiver, Stack, eventually};
use sqlx::PgPool;
use tonic::Code;

/// The shortest span that holds `n + 1` consecutive requests, and the most requests within any second.
fn tightest(at: &[Instant], n: usize) -> (Duration, usize) {
    let shortest = at.windows(n + 1).map(|w| w[n] - w[0]).min();
    let busiest = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t - at[i] < Duration::from_secs(1))
                .count()
        })
        .max();
    (shortest.unwrap_or(Duration::MAX), busiest.unwrap_or(0))
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_limit_holds_across_two_worker_processes(pool: PgPool) {
    const PER_SECOND: u32 = 10;
    const EVENTS: usize = 40;
    let stack = Stack::without_worker(pool, &[]).await;
    let _workers = [
        spawn_worker_process(&stack.env),
        spawn_worker_process(&stack.env),
    ];
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .create(v1::CreateWebhookRequest {
            rate_limit: PER_SECOND,
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    assert_eq!(
        webhook.rate_limit, PER_SECOND,
        "the webhook shows its limit"
    );

    // A burst four seconds' worth deep: most tasks wait for their turn in the broker, some in a worker.
    stack.publish_batch(ORG, EVENTS).await;
    let events = receiver.wait_for(EVENTS, LONG_DEADLINE).await;
    let pings = receiver.wait_for_pings(1, LONG_DEADLINE).await;
    let mut at: Vec<Instant> = events.iter().chain(&pings).map(|r| r.at).collect();
    at.sort();
    let (shortest, busiest) = tightest(&at, PER_SECOND as usize);
    let mut sent: Vec<Instant> = events.iter().map(|r| r.at).collect();
    sent.sort();
    let rate = (EVENTS - 1) as f64 / (sent[EVENTS - 1] - sent[0]).as_secs_f64();
    eprintln!(
        "rate limit {PER_SECOND}/s, two worker processes, {} requests: {PER_SECOND} intervals took at \
         least {shortest:?}; at most {busiest} requests within a second; the events at {rate:.2}/s",
        at.len()
    );
    // Eleven requests never within 0.9 s (a tenth of slack for the timers and the receiver).
    assert!(
        shortest >= Duration::from_millis(900),
        "{} requests within {shortest:?}, over the limit of {PER_SECOND}/s",
        PER_SECOND + 1
    );
    assert!(
        rate > f64::from(PER_SECOND) * 0.8,
        "the schedule is kept, not merely undershot: {rate:.2}/s"
    );

    // Waiting was never an attempt: every delivery succeeded at its first.
    let deliveries = eventually("every delivery recorded", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries(ORG, &webhook.id).await;
        let done = deliveries.len() == EVENTS
            && deliveries
                .iter()
                .all(|d| d.status() == v1::DeliveryStatus::Succeeded);
        done.then_some(deliveries)
    })
    .await;
    for d in &deliveries {
        assert_eq!(d.attempts, 1, "a delivery that waited its turn: {d:?}");
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_limit_is_set_kept_and_removed_through_the_registry(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let mut registry = stack.registry.clone();
    let request = webhook_request(ORG, "https://hooks.example.com/in", &["job.completed"]);
    let too_fast = registry
        .create_webhook(v1::CreateWebhookRequest {
            rate_limit: 1001,
            ..request.clone()
        })
        .await
        .expect_err("above the highest limit");
    assert_eq!(too_fast.code(), Code::InvalidArgument);
    assert!(too_fast.message().contains("rate_limit"), "{too_fast:?}");

    let (created, _) = stack
        .create(v1::CreateWebhookRequest {
            rate_limit: 25,
            status: v1::WebhookStatus::Disabled.into(),
            ..request.clone()
        })
        .await;
    let update = |rate_limit: Option<u32>| v1::UpdateWebhookRequest {
        organisation_id: ORG.into(),
        id: created.id.clone(),
        name: "renamed".into(),
        url: request.url.clone(),
        event_types: request.event_types.clone(),
        rate_limit,
        ..Default::default()
    };
    let kept = registry.update_webhook(update(None)).await.unwrap();
    assert_eq!(kept.into_inner().rate_limit, 25, "absent keeps the limit");
    let listed = stack.webhooks(ORG).await;
    assert_eq!(listed[0].rate_limit, 25, "ListWebhooks shows it");
    let moved = registry.update_webhook(update(Some(5))).await.unwrap();
    assert_eq!(moved.into_inner().rate_limit, 5);
    let removed = registry.update_webhook(update(Some(0))).await.unwrap();
    assert_eq!(removed.into_inner().rate_limit, 0, "0 removes it");
    let bad = registry
        .update_webhook(update(Some(5000)))
        .await
        .expect_err("above the highest limit");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("rate_limit"), "{bad:?}");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_raised_limit_applies_to_the_backlog_at_once(pool: PgPool) {
    const EVENTS: usize = 30;
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .create(v1::CreateWebhookRequest {
            rate_limit: 1,
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    // At one a second, this backlog's slots reach half a minute ahead.
    stack.publish_batch(ORG, EVENTS).await;
    receiver.wait_for(1, LONG_DEADLINE).await;
    let raised = Instant::now();
    let request = webhook_request(ORG, &receiver.url(), &["job.completed"]);
    stack
        .registry
        .clone()
        .update_webhook(v1::UpdateWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
            name: request.name,
            url: request.url,
            event_types: request.event_types,
            rate_limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("raising the limit");
    // The tasks holding slots of the old schedule give them up when they come back from their deferral
    // step (5 s at most) and take the new schedule's.
    receiver.wait_for(EVENTS, Duration::from_secs(15)).await;
    eprintln!(
        "{EVENTS} events at 1/s, then 100/s: the rest delivered {:?} after the change",
        raised.elapsed()
    );
}

/// Tasks waiting for their turn, in a worker or in the broker, survive that worker being killed and the
/// next being stopped: every event is delivered, and none needed a second attempt, since waiting is not
/// one and a waiting task holds no request.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn tasks_waiting_their_turn_survive_a_killed_and_a_stopped_worker(pool: PgPool) {
    const EVENTS: usize = 10;
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::always(200).await;
    let mut worker = spawn_worker_process(&stack.env);
    let (webhook, _) = stack
        .create(v1::CreateWebhookRequest {
            rate_limit: 2,
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    stack.publish_batch(ORG, EVENTS).await;

    // Two went out: the next slots' tasks are waiting, here within the second and in the broker after.
    receiver.wait_for(2, LONG_DEADLINE).await;
    worker.kill().await.expect("kill -9");
    let mut worker = spawn_worker_process(&stack.env);
    receiver.wait_for(5, LONG_DEADLINE).await;
    hookline_tests::ops::stops_cleanly(&mut worker, "the worker").await;
    let _worker = spawn_worker_process(&stack.env);

    let deliveries = eventually("every delivery to succeed", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries(ORG, &webhook.id).await;
        (deliveries.len() == EVENTS
            && deliveries
                .iter()
                .all(|d| d.status() == v1::DeliveryStatus::Succeeded))
        .then_some(deliveries)
    })
    .await;
    for d in &deliveries {
        assert_eq!(d.attempts, 1, "waiting is never an attempt: {d:?}");
    }
    let ids: std::collections::HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), EVENTS, "every event arrived");
}
