//! Test events (seed 002): the catalog's example delivered at once, signed like any delivery, to a
//! webhook that may still be disabled, with the exact request and the response in the answer and a test
//! delivery in the log.

use std::time::Duration;

use hookline_proto::v1;
use hookline_proto::v1::endpoint_auth::Method;
use hookline_tests::stack::webhook_request;
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;
use tonic::Code;

const ORG: &str = "org_tests";

fn test_event(webhook: &str, event_type: &str, url: &str) -> v1::SendTestEventRequest {
    v1::SendTestEventRequest {
        organisation_id: ORG.into(),
        webhook_id: webhook.into(),
        event_type: event_type.into(),
        version: 0,
        url: url.into(),
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_test_event_reaches_a_disabled_webhook_and_returns_request_and_response(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::always(202).await;
    let (webhook, secret) = stack
        .create(v1::CreateWebhookRequest {
            status: v1::WebhookStatus::Unspecified.into(),
            auth: Some(v1::EndpointAuth {
                method: Some(Method::Basic(v1::BasicAuth {
                    username: "hook".into(),
                    password: "s3cret-password".into(),
                })),
            }),
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    assert_eq!(webhook.status, v1::WebhookStatus::Disabled as i32);

    let answer = stack
        .registry
        .clone()
        .send_test_event(test_event(&webhook.id, "estimate.created", ""))
        .await
        .expect("a test event")
        .into_inner();

    // The receiver got exactly the request the answer shows, and its signature verifies.
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let received = &got[0];
    let request = answer.request.expect("the request");
    assert_eq!(request.url, receiver.url());
    assert_eq!(request.body.as_bytes(), received.body.as_ref());
    standardwebhooks::Webhook::new(&secret)
        .expect("a Standard Webhooks secret")
        .verify(&received.body, &received.headers)
        .expect("the test event is signed like any delivery");
    assert_eq!(request.headers["webhook-id"], received.header("webhook-id"));
    assert_eq!(
        request.headers["webhook-signature"],
        received.header("webhook-signature")
    );
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.headers["authorization"], "********",
        "credentials are masked"
    );
    assert!(
        received.header("authorization").starts_with("Basic "),
        "but sent"
    );
    assert!(!request.body.contains("s3cret"));

    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["eventType"], "estimate.created");
    assert_eq!(body["webhookId"], webhook.id.as_str());
    assert_eq!(body["data"]["object"]["objectType"], "estimate");
    assert_eq!(
        body["data"]["object"]["estimateId"], "E-311",
        "the catalog's example"
    );
    assert_eq!(body["version"], 1);

    let response = answer.response.expect("a response");
    assert_eq!(response.status, 202);
    assert_eq!(response.headers["x-test-receiver"], "hookline-tests");
    assert_eq!(response.body, "xx");
    assert!(answer.success && answer.error.is_empty());

    // Logged, marked as a test: in the delivery log and the event log, never among dead letters.
    let logged = stack.delivery(ORG, &answer.delivery_id).await;
    let delivery = logged.delivery.unwrap();
    assert!(delivery.test);
    assert_eq!(delivery.status, v1::DeliveryStatus::Succeeded as i32);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(logged.attempts[0].response_status, 202);
    assert_eq!(logged.payload, request.body);
    let events = stack
        .registry
        .clone()
        .list_events(v1::ListEventsRequest {
            organisation_id: ORG.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.test && e.event_type == "estimate.created")
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_failing_test_event_reports_the_failure_and_is_no_dead_letter(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let failing = Receiver::always(500).await;
    let (webhook, _) = stack.webhook(ORG, &failing.url(), &["job.completed"]).await;
    let answer = stack
        .registry
        .clone()
        .send_test_event(test_event(&webhook.id, "job.completed", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.success);
    assert_eq!(answer.error, "HTTP 500 Internal Server Error");
    assert_eq!(answer.response.unwrap().status, 500);
    let logged = stack
        .delivery(ORG, &answer.delivery_id)
        .await
        .delivery
        .unwrap();
    assert_eq!(logged.status, v1::DeliveryStatus::Failed as i32);
    let dead = stack
        .registry
        .clone()
        .list_dead_letters(v1::ListDeadLettersRequest {
            organisation_id: ORG.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(dead.deliveries.is_empty(), "{dead:?}");
    let status = stack
        .registry
        .clone()
        .redeliver(v1::RedeliverRequest {
            organisation_id: ORG.into(),
            id: answer.delivery_id,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn test_events_go_only_to_urls_of_the_organisation(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let own = Receiver::always(200).await;
    let other = Receiver::always(200).await;
    let (webhook, _) = stack.webhook(ORG, &own.url(), &["job.completed"]).await;
    stack.webhook(ORG, &other.url(), &["job.created"]).await;
    let (foreign, _) = stack
        .webhook("org_else", &own.url(), &["job.completed"])
        .await;
    let mut registry = stack.registry.clone();

    // Another URL of the organisation: it goes there, signed with this webhook's secret.
    let answer = registry
        .send_test_event(test_event(&webhook.id, "job.completed", &other.url()))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.success, "{answer:?}");
    assert_eq!(other.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(own.count(), 0);

    let status = registry
        .send_test_event(test_event(
            &webhook.id,
            "job.completed",
            "https://attacker.example/x",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("url"), "{status:?}");
    let status = registry
        .send_test_event(test_event(&webhook.id, "job.exploded", ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = registry
        .send_test_event(test_event(&foreign.id, "job.completed", ""))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::NotFound,
        "another organisation's webhook"
    );
    assert_eq!(own.count(), 0);
}
