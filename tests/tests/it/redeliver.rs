//! Redelivery: a delivery sent again as a new chain of attempts, with the same `webhook-id`, whether it
//! had failed for good or succeeded.

use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_failed_delivery_can_be_redelivered_and_succeeds(pool: PgPool) {
    let stack = Stack::start(pool).await;
    // The first chain (3 attempts) fails; the endpoint is fixed afterwards.
    let receiver = Receiver::start(|n| Reply::status(if n < 3 { 500 } else { 200 })).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let event_id = stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Failed, DEADLINE)
        .await;
    let delivery_id = failed.delivery.unwrap().id;

    let redeliver = || v1::RedeliverRequest {
        organisation_id: ORG.into(),
        id: delivery_id.clone(),
    };
    stack
        .registry
        .clone()
        .redeliver(redeliver())
        .await
        .expect("redelivering");
    let done = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let numbers = hookline_tests::stack::attempt_statuses(&done);
    assert_eq!(numbers, vec![(1, 500), (2, 500), (3, 500), (4, 200)]);

    // A succeeded delivery can be sent again too.
    stack
        .registry
        .clone()
        .redeliver(redeliver())
        .await
        .expect("redelivering again");
    let requests = receiver.wait_for(5, DEADLINE).await;
    assert!(
        requests.iter().all(|r| r.header("webhook-id") == event_id),
        "the same webhook-id throughout"
    );
    eventually("the fifth attempt to be logged", DEADLINE, || async {
        let logged = stack.delivery(ORG, &delivery_id).await;
        (logged.attempts.len() == 5
            && logged.delivery?.status == v1::DeliveryStatus::Succeeded as i32)
            .then_some(())
    })
    .await;

    let other = v1::RedeliverRequest {
        organisation_id: "org_other".into(),
        id: delivery_id.clone(),
    };
    assert_eq!(
        stack
            .registry
            .clone()
            .redeliver(other)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn dead_letters_are_listed_and_replayed_from_the_queue(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::start(|n| Reply::status(if n < 3 { 500 } else { 200 })).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Failed, DEADLINE)
        .await
        .delivery
        .unwrap();

    let mut registry = stack.registry.clone();
    let list = |org: &str| v1::ListDeadLettersRequest {
        organisation_id: org.into(),
        ..Default::default()
    };
    let listed = registry
        .list_dead_letters(list(ORG))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(
        listed.iter().map(|d| &d.id).collect::<Vec<_>>(),
        vec![&failed.id]
    );
    assert!(
        registry
            .list_dead_letters(list("org_other"))
            .await
            .unwrap()
            .into_inner()
            .deliveries
            .is_empty()
    );

    let replay = |org: &str| v1::ReplayDeadLettersRequest {
        organisation_id: org.into(),
        webhook_id: webhook.id.clone(),
        ..Default::default()
    };
    // Another organisation cannot take it out of the queue: the webhook does not exist there.
    let foreign = registry
        .replay_dead_letters(replay("org_other"))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), tonic::Code::NotFound, "{foreign:?}");
    let replayed = eventually("the dead letter to be replayed", DEADLINE, || {
        let mut registry = registry.clone();
        let request = replay(ORG);
        // The dead letter is published just after the delivery is marked FAILED.
        async move {
            Some(
                registry
                    .replay_dead_letters(request)
                    .await
                    .ok()?
                    .into_inner()
                    .replayed,
            )
            .filter(|n| *n > 0)
        }
    })
    .await;
    assert_eq!(replayed, 1);

    let done = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    assert_eq!(
        done.attempts.last().map(|a| (a.attempt, a.response_status)),
        Some((4, 200))
    );
    assert_eq!(
        registry
            .replay_dead_letters(replay(ORG))
            .await
            .unwrap()
            .into_inner()
            .replayed,
        0,
        "the queue is empty"
    );
    assert!(
        registry
            .list_dead_letters(list(ORG))
            .await
            .unwrap()
            .into_inner()
            .deliveries
            .is_empty()
    );

    let nothing = v1::ReplayDeadLettersRequest {
        organisation_id: ORG.into(),
        ..Default::default()
    };
    assert_eq!(
        registry
            .replay_dead_letters(nothing)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::InvalidArgument
    );
}

/// A delivery whose attempt is under way but not logged is refused with the reason, not accepted and then
/// dropped as a duplicate of that attempt; once the attempt is logged, the redelivery goes out.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_delivery_is_redelivered_only_once_its_attempt_under_way_is_logged(pool: PgPool) {
    let stack = Stack::start(pool).await;
    // The first answer is held for a while, so its attempt stays under way while the test asks.
    let held = std::time::Duration::from_secs(5);
    let receiver = Receiver::start(move |n| Reply {
        delay: if n == 0 {
            held
        } else {
            std::time::Duration::ZERO
        },
        ..Reply::status(200)
    })
    .await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    receiver.wait_for(1, DEADLINE).await;
    let under_way = stack.deliveries(ORG, &webhook.id).await.remove(0);
    assert_eq!(under_way.status, v1::DeliveryStatus::Pending as i32);
    let redeliver = || v1::RedeliverRequest {
        organisation_id: ORG.into(),
        id: under_way.id.clone(),
    };
    let refused = stack
        .registry
        .clone()
        .redeliver(redeliver())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("under way"), "{refused:?}");

    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    stack
        .registry
        .clone()
        .redeliver(redeliver())
        .await
        .expect("redelivered once logged");
    let requests = receiver.wait_for(2, DEADLINE).await;
    assert_eq!(requests[1].body, requests[0].body);
}
