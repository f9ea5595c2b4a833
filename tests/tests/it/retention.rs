//! Retention: events past the configured age disappear with their deliveries and attempts; newer ones stay.

use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn expired_events_are_pruned_with_their_deliveries_and_attempts(pool: PgPool) {
    let stack = Stack::start_with(
        pool.clone(),
        &[
            ("HOOKLINE__RETENTION__INTERVAL", "200ms"),
            ("HOOKLINE__RETENTION__BATCH", "1"),
        ],
    )
    .await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let old = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": "old"}))
        .await;
    let new = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": "new"}))
        .await;
    eventually("both deliveries to succeed", DEADLINE, || async {
        let all = stack.deliveries(ORG, &webhook.id).await;
        (all.len() == 2
            && all
                .iter()
                .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32))
        .then_some(())
    })
    .await;

    sqlx::query("UPDATE events SET received_at = now() - interval '31 days' WHERE id = $1::uuid")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();

    let left = eventually("the expired event to be pruned", DEADLINE, || async {
        let left = stack.deliveries(ORG, &webhook.id).await;
        (left.len() == 1).then_some(left)
    })
    .await;
    assert_eq!(left[0].event_id, new, "the recent event stays");
    let counts: (i64, i64) = sqlx::query_as(
        // The events' rows; the webhook's ping (it was created on) is recent and stays too.
        "SELECT (SELECT count(*) FROM events WHERE event_type = 'job.completed'),
                (SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                 WHERE d.event_type = 'job.completed')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1), "one event and its one attempt remain");
}
