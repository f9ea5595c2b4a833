//! The payload contract: every body a webhook receives (published events, the ping, test events)
//! satisfies the envelope schema shipped in `proto/hookline/v1/envelope.schema.json`.

use std::time::Duration;

use hookline_core::catalog::{check, compile};
use hookline_proto::v1;
use hookline_tests::stack::webhook_request;
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;

const ORG: &str = "org_envelope";
const SCHEMA: &str = include_str!("../../../proto/hookline/v1/envelope.schema.json");

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn every_delivered_body_satisfies_the_envelope_schema(pool: PgPool) {
    let schema =
        compile(&serde_json::from_str(SCHEMA).expect("the schema is JSON")).expect("a schema");
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .create(v1::CreateWebhookRequest {
            status: v1::WebhookStatus::Disabled.into(),
            ..webhook_request(ORG, &receiver.url(), &["job.completed", "estimate.updated"])
        })
        .await;
    let mut registry = stack.registry.clone();
    registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
            status: v1::WebhookStatus::Enabled.into(),
        })
        .await
        .expect("enabled, and pinged");
    stack
        .publish(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-1", "distance": {"value": 2, "unit": "km"}}),
        )
        .await;
    stack
        .publish(
            ORG,
            "estimate.updated",
            serde_json::json!({"estimateId": "E-1", "total": 10.5}),
        )
        .await;
    registry
        .send_test_event(v1::SendTestEventRequest {
            organisation_id: ORG.into(),
            webhook_id: webhook.id.clone(),
            event_type: "signed_document.signed".into(),
            ..Default::default()
        })
        .await
        .expect("a test event");

    let mut received = receiver.wait_for(3, Duration::from_secs(20)).await;
    received.extend(receiver.wait_for_pings(1, Duration::from_secs(20)).await);
    let mut types = Vec::new();
    for request in &received {
        let body = request.json();
        check(&schema, &body).unwrap_or_else(|e| panic!("{body} breaks the envelope schema: {e}"));
        assert_eq!(body["id"], request.header("webhook-id"));
        types.push(body["eventType"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(
        types,
        [
            "estimate.updated",
            "job.completed",
            "signed_document.signed",
            "webhook.ping"
        ]
    );

    // The schema has teeth: a body without its version, or with a bare date, fails it.
    let mut body = received[0].json();
    body.as_object_mut().unwrap().remove("version");
    assert!(check(&schema, &body).is_err());
    let mut body = received[0].json();
    body["dateTime"] = "2026-11-24".into();
    assert!(check(&schema, &body).is_err());
}
