//! Crash safety: a worker process killed with SIGKILL in the middle of a delivery loses nothing.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::stack::spawn_worker_process;
use hookline_tests::{Receiver, Reply, Stack};
use sqlx::PgPool;

const DEADLINE: Duration = Duration::from_secs(30);
const ORG: &str = "org_acme";

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
async fn worker_killed_mid_delivery_loses_nothing(pool: PgPool) {
    let mut stack =
        Stack::without_worker(pool, &[("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "60s")]).await;
    // The first request hangs, holding the worker mid-delivery; any later one succeeds.
    let receiver = Receiver::start(|n| match n {
        0 => Reply {
            status: 200,
            delay: Duration::from_secs(120),
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
    receiver.wait_for(1, DEADLINE).await;
    doomed.kill().await.expect("SIGKILL the worker");
    let status = doomed.wait().await.expect("reaping the worker");
    assert!(!status.success(), "the worker died by signal: {status:?}");

    // A surviving worker gets the unacked task back from the broker and delivers it.
    stack.spawn_worker();
    let requests = receiver.wait_for(2, DEADLINE).await;
    assert_eq!(
        requests[1].header("webhook-id"),
        event_id,
        "the redelivery carries the same webhook-id"
    );
    let done = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    assert!(
        done.attempts
            .iter()
            .any(|a| a.success && a.response_status == 200)
    );
}
