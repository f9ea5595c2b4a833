//! An endpoint's life: what Hookline does when an endpoint says it is gone.

use hookline_proto::v1;
use hookline_tests::stack::message_count;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_410_ends_the_delivery_at_once_in_the_dead_letter_queue(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(410).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-410"}))
        .await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Failed, DEADLINE)
        .await;

    let codes: Vec<_> = failed
        .attempts
        .iter()
        .map(|a| (a.attempt, a.response_status))
        .collect();
    assert_eq!(codes, vec![(1, 410)], "no retry after a 410");
    let broker = stack.broker().await;
    let topology = stack.topology();
    eventually("the dead letter", DEADLINE, || async {
        (message_count(&broker, &topology.dead_letter_queue()).await == 1).then_some(())
    })
    .await;
    for delay in topology.retry_schedule() {
        let queue = topology.retry_queue(*delay);
        assert_eq!(message_count(&broker, &queue).await, 0, "{queue} is empty");
    }
    assert_eq!(receiver.count(), 1);
}
