//! Crash safety: a worker process killed with SIGKILL in the middle of a delivery loses nothing, and one
//! stopped with SIGTERM under load finishes what it holds, so nothing is lost or sent twice.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::ops::stops_cleanly;
use hookline_tests::stack::spawn_worker_process;
use hookline_tests::{LONG_DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn worker_killed_mid_delivery_loses_nothing(pool: PgPool) {
    let mut stack =
        Stack::without_worker(pool, &[("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "60s")]).await;
    // The first request hangs, holding the worker mid-delivery; any later one succeeds.
    let receiver = Receiver::start(|n| match n {
        0 => Reply {
            delay: Duration::from_secs(120),
            ..Reply::status(200)
        },
        _ => Reply::status(200),
    })
    .await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    let mut doomed = spawn_worker_process(&stack.env);
    let event_id = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-9"}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;
    doomed.kill().await.expect("SIGKILL the worker");
    let status = doomed.wait().await.expect("reaping the worker");
    assert!(!status.success(), "the worker died by signal: {status:?}");

    // A surviving worker gets the unacked task back from the broker and delivers it.
    delivered_by_another_worker(&mut stack, &receiver, &webhook.id, &event_id).await;
}

/// Starts a worker and checks that it sends the event `event_id` to `webhook` again (the same
/// `webhook-id`, the receiver's second request) and that the delivery ends succeeded.
async fn delivered_by_another_worker(
    stack: &mut Stack,
    receiver: &Receiver,
    webhook: &str,
    event_id: &str,
) {
    stack.spawn_worker();
    let requests = receiver.wait_for(2, LONG_DEADLINE).await;
    assert_eq!(
        requests[1].header("webhook-id"),
        event_id,
        "the redelivery carries the same webhook-id"
    );
    let done = stack
        .settled(ORG, webhook, v1::DeliveryStatus::Succeeded, LONG_DEADLINE)
        .await;
    assert!(
        done.attempts
            .iter()
            .any(|a| a.success && a.response_status == 200)
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn worker_process_stops_cleanly_on_sigterm(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let mut worker = spawn_worker_process(&stack.env);
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    stack
        .settled(
            ORG,
            &webhook.id,
            v1::DeliveryStatus::Succeeded,
            LONG_DEADLINE,
        )
        .await;

    stops_cleanly(&mut worker, "the worker").await;
}

#[sqlx::test(migrations = false)]
async fn registry_migrate_command_applies_and_is_idempotent(pool: PgPool) {
    let env = hookline_tests::stack::test_env(&pool, &[]);
    for _ in 0..2 {
        let status = hookline_tests::stack::binary("hookline-registry", &env)
            .arg("migrate")
            .status()
            .await
            .expect("running hookline-registry migrate");
        assert!(status.success());
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, hookline_store::MIGRATOR.iter().count());
    let webhooks: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(webhooks, 0, "the schema exists");
}

/// SIGTERM while events are streaming through: the worker finishes what it holds and exits cleanly,
/// another takes over the rest, and every event reaches the endpoint exactly once.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn sigterm_under_load_delivers_every_event_exactly_once(pool: PgPool) {
    const EVENTS: usize = 300;
    let mut stack = Stack::without_worker(pool, &[]).await;
    // Slow enough that attempts are in flight when the signal lands.
    let receiver = Receiver::start(|_| Reply {
        delay: Duration::from_millis(20),
        ..Reply::status(200)
    })
    .await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let mut worker = spawn_worker_process(&stack.env);
    let mut published = stack.publish_batch(ORG, EVENTS).await;

    receiver.wait_for(10, LONG_DEADLINE).await;
    stops_cleanly(&mut worker, "the worker").await;
    let before_takeover = receiver.count();

    stack.spawn_worker();
    hookline_tests::eventually("every delivery to succeed", LONG_DEADLINE, || async {
        // More deliveries than one page of the log: count them in the database.
        let succeeded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE webhook_id = $1::uuid AND status = 'succeeded' \
             AND event_type = 'job.completed'",
        )
        .bind(&webhook.id)
        .fetch_one(&stack.pool)
        .await
        .ok()?;
        (succeeded as usize == EVENTS).then_some(())
    })
    .await;
    let mut received: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    received.sort();
    published.sort();
    // On a failure, say what the log recorded for every event received twice.
    let twice: Vec<String> = received
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    let attempts: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s #%s: %s %s in %s ms at %s', d.event_id, a.attempt, a.response_status, \
                a.error, a.duration_ms, a.started_at) \
         FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
         WHERE d.event_id::text = ANY($1) ORDER BY d.event_id, a.started_at",
    )
    .bind(&twice)
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    assert_eq!(
        received, published,
        "each event exactly once ({before_takeover} before the takeover); attempts of those received \
         twice: {attempts:?}"
    );
}

/// SIGTERM while the worker's own first attempt (made by its fan-out, with no deliveries-queue hop)
/// cannot be recorded, its table locked: the worker still exits after its grace period, the event it
/// held returns to the queue unacked, and another worker delivers it once the database can record it.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn sigterm_while_a_direct_attempt_cannot_be_recorded_loses_nothing(pool: PgPool) {
    let mut stack =
        Stack::without_worker(pool.clone(), &[("HOOKLINE__SHUTDOWN_GRACE", "2s")]).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE delivery_attempts IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let mut stopped = spawn_worker_process(&stack.env);
    let event_id = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-7"}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;
    stops_cleanly(&mut stopped, "the worker").await;
    lock.rollback().await.unwrap();

    delivered_by_another_worker(&mut stack, &receiver, &webhook.id, &event_id).await;
}

/// SIGKILL while the fan-out is part-way through an event's slices (batches of 2, so each event's 5
/// deliveries go out as 3 slices): the events recorded but not yet acked come back, and their
/// redelivery publishes every delivery still waiting for its first attempt. Every (event, webhook) pair
/// arrives at least once, each has exactly one delivery row, and every delivery ends succeeded.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn worker_killed_between_fan_out_slices_loses_no_delivery(pool: PgPool) {
    const EVENTS: usize = 100;
    const WEBHOOKS: usize = 5;
    let mut stack = Stack::without_worker(
        pool,
        &[
            ("HOOKLINE__DELIVERY__FANOUT_BATCH", "2"),
            ("HOOKLINE__DELIVERY__DIRECT_ATTEMPTS", "1"),
        ],
    )
    .await;
    let receiver = Receiver::always(200).await;
    let webhooks = stack.webhooks_at(ORG, &receiver.url(), WEBHOOKS).await;
    let pool = stack.pool.clone();
    let recorded = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM deliveries WHERE event_type = 'job.completed'",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or_default() as usize
    };

    let mut doomed = spawn_worker_process(&stack.env);
    let events = stack.publish_batch(ORG, EVENTS).await;
    // Killed once the fan-out is well under way, long before it has recorded every event.
    hookline_tests::eventually("the fan-out to be under way", LONG_DEADLINE, || async {
        (recorded().await >= 50).then_some(())
    })
    .await;
    doomed.kill().await.expect("SIGKILL the worker");
    doomed.wait().await.expect("reaping the worker");
    let at_kill = recorded().await;
    assert!(
        at_kill < EVENTS * WEBHOOKS,
        "the kill landed before the fan-out finished ({at_kill} deliveries recorded)"
    );
    let before_takeover = receiver.count();

    stack.spawn_worker();
    hookline_tests::eventually("every delivery to succeed", LONG_DEADLINE, || async {
        let succeeded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE status = 'succeeded' \
                 AND event_type = 'job.completed'",
        )
        .fetch_one(&stack.pool)
        .await
        .ok()?;
        (succeeded as usize == EVENTS * WEBHOOKS).then_some(())
    })
    .await;
    assert_eq!(
        recorded().await,
        EVENTS * WEBHOOKS,
        "one delivery row per pair"
    );
    let expected: std::collections::BTreeSet<(String, String)> = webhooks
        .iter()
        .flat_map(|w| events.iter().map(move |e| (w.clone(), e.clone())))
        .collect();
    let received: std::collections::BTreeSet<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let webhook = r.json()["webhookId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (webhook, r.header("webhook-id").to_owned())
        })
        .collect();
    assert_eq!(
        received,
        expected,
        "every (event, webhook) pair arrived ({at_kill} deliveries recorded and {before_takeover} \
         received at the kill, {} requests in all)",
        receiver.count()
    );
}
