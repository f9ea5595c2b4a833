//! The event log and the delivery log: filters, and cursor pagination that stays stable while new rows
//! arrive.

use std::time::Duration;

use hookline_core::messages::PING_EVENT_TYPE;
use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

fn in_an_hour() -> Option<prost_types::Timestamp> {
    let t = std::time::SystemTime::now() + Duration::from_secs(3600);
    Some(prost_types::Timestamp::from(t))
}

async fn list(stack: &Stack, request: v1::ListDeliveriesRequest) -> Vec<v1::Delivery> {
    let request = v1::ListDeliveriesRequest {
        organisation_id: ORG.into(),
        page_size: 100,
        ..request
    };
    stack
        .registry
        .clone()
        .list_deliveries(request)
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn deliveries_and_events_can_be_filtered(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let ok = Receiver::always(200).await;
    let failing = Receiver::always(500).await;
    let (ok_hook, _) = stack
        .webhook(ORG, &ok.url(), &["job.completed", "estimate.updated"])
        .await;
    let (failing_hook, _) = stack.webhook(ORG, &failing.url(), &["job.completed"]).await;
    let job = stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    stack
        .publish(ORG, "estimate.updated", serde_json::json!({}))
        .await;
    stack
        .settled(
            ORG,
            &failing_hook.id,
            v1::DeliveryStatus::Retrying,
            DEADLINE,
        )
        .await;
    eventually("the estimate to be delivered", DEADLINE, || async {
        let done = list(
            &stack,
            v1::ListDeliveriesRequest {
                webhook_id: ok_hook.id.clone(),
                ..Default::default()
            },
        )
        .await;
        (done
            .iter()
            .filter(|d| d.status == v1::DeliveryStatus::Succeeded as i32)
            .filter(|d| d.event_type != PING_EVENT_TYPE)
            .count()
            == 2)
            .then_some(())
    })
    .await;

    let by_type = list(
        &stack,
        v1::ListDeliveriesRequest {
            event_type: "estimate.updated".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_type.len(), 1);
    assert_eq!(by_type[0].webhook_id, ok_hook.id);
    // One event's deliveries: one per webhook it went to.
    let mut of_job: Vec<String> = list(
        &stack,
        v1::ListDeliveriesRequest {
            event_id: job.clone(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .map(|d| {
        assert_eq!(d.event_id, job);
        d.webhook_id
    })
    .collect();
    of_job.sort();
    let mut both = vec![ok_hook.id.clone(), failing_hook.id.clone()];
    both.sort();
    assert_eq!(of_job, both);
    let retrying = v1::ListDeliveriesRequest {
        status: v1::DeliveryStatus::Retrying.into(),
        ..Default::default()
    };
    let retrying = list(&stack, retrying).await;
    assert_eq!(
        (retrying.len(), retrying[0].webhook_id.as_str()),
        (1, failing_hook.id.as_str())
    );
    assert_eq!(
        list(
            &stack,
            v1::ListDeliveriesRequest {
                created_after: in_an_hour(),
                ..Default::default()
            }
        )
        .await
        .len(),
        0
    );
    assert_eq!(
        list(
            &stack,
            v1::ListDeliveriesRequest {
                created_before: in_an_hour(),
                ..Default::default()
            }
        )
        .await
        .len(),
        // The events' three, and the pings of the two webhooks (both created on).
        5
    );

    let mut registry = stack.registry.clone();
    let events = |request: v1::ListEventsRequest| {
        let mut registry = registry.clone();
        async move {
            let request = v1::ListEventsRequest {
                organisation_id: ORG.into(),
                ..request
            };
            registry
                .list_events(request)
                .await
                .unwrap()
                .into_inner()
                .events
        }
    };
    // The two published events, and the two webhooks' pings.
    assert_eq!(events(Default::default()).await.len(), 4);
    let jobs = events(v1::ListEventsRequest {
        event_type: "job.completed".into(),
        ..Default::default()
    })
    .await;
    assert_eq!((jobs.len(), jobs[0].id.as_str()), (1, job.as_str()));
    assert!(
        jobs[0].data.contains("\"objectType\":\"job\""),
        "{}",
        jobs[0].data
    );
    let by_id = events(v1::ListEventsRequest {
        event_id: job.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_id.len(), 1);
    assert!(
        events(v1::ListEventsRequest {
            received_after: in_an_hour(),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    let other = v1::ListEventsRequest {
        organisation_id: "org_other".into(),
        ..Default::default()
    };
    assert!(
        registry
            .list_events(other)
            .await
            .unwrap()
            .into_inner()
            .events
            .is_empty(),
        "scoped to the caller"
    );
    let bad = v1::ListEventsRequest {
        organisation_id: ORG.into(),
        event_type: "nope".into(),
        ..Default::default()
    };
    assert_eq!(
        registry.list_events(bad).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn pages_stay_stable_while_new_deliveries_arrive(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let count = |n: usize| {
        let stack = &stack;
        let webhook = webhook.id.clone();
        async move {
            eventually(&format!("{n} deliveries"), DEADLINE, || async {
                (stack.deliveries(ORG, &webhook).await.len() == n).then_some(())
            })
            .await
        }
    };
    for _ in 0..5 {
        stack
            .publish(ORG, "job.completed", serde_json::json!({}))
            .await;
    }
    count(5).await;
    let before = stack.deliveries(ORG, &webhook.id).await;

    // The events' deliveries, not the ping the webhook got when it was created.
    let page = |token: String| v1::ListDeliveriesRequest {
        page_size: 2,
        page_token: token,
        event_type: "job.completed".into(),
        ..Default::default()
    };
    let mut registry = stack.registry.clone();
    let first = registry.list_deliveries(v1::ListDeliveriesRequest {
        organisation_id: ORG.into(),
        ..page(String::new())
    });
    let first = first.await.unwrap().into_inner();
    for _ in 0..3 {
        stack
            .publish(ORG, "job.completed", serde_json::json!({}))
            .await;
    }
    count(8).await;

    let mut seen: Vec<String> = first.deliveries.iter().map(|d| d.id.clone()).collect();
    let mut token = first.next_page_token;
    while !token.is_empty() {
        let next = registry.list_deliveries(v1::ListDeliveriesRequest {
            organisation_id: ORG.into(),
            ..page(token)
        });
        let next = next.await.unwrap().into_inner();
        seen.extend(next.deliveries.iter().map(|d| d.id.clone()));
        token = next.next_page_token;
    }
    let expected: Vec<String> = before.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        seen, expected,
        "the pages walk the original five, newest first, without repeats or gaps"
    );
}
