//! The event catalog: every seeded type listed with its schema and example, subscriptions and events of
//! unknown types refused, events checked against their schema, and types registered by a super_admin
//! reaching ingest through the catalog stream (also an ingest started afterwards).

use std::time::Duration;

use hookline_core::json_struct::from_json;
use hookline_proto::v1;
use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::stack::{publish_request, webhook_request};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;
use tonic::Code;

const ORG: &str = "org_catalog";

/// The fields an `INVALID_ARGUMENT` names in its `BadRequest` details.
fn bad_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    tonic_types::StatusExt::get_details_bad_request(status)
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

fn object(json: serde_json::Value) -> prost_types::Struct {
    from_json(json.as_object().expect("an object").clone())
}

fn registration(name: &str, version: u32) -> v1::RegisterEventTypeRequest {
    v1::RegisterEventTypeRequest {
        name: name.into(),
        description: "An invoice was paid.".into(),
        version,
        schema: Some(object(serde_json::json!({
            "type": "object",
            "required": ["objectType", "amount"],
            "properties": {"amount": {"type": "number", "minimum": 0}}
        }))),
        example: Some(object(serde_json::json!({"amount": 12.5}))),
    }
}

/// Waits until `ingest` accepts an `invoice.paid` event, which it does once the catalog stream told it of
/// the type.
async fn accepts_invoices(ingest: &hookline_tests::auth::IngestClient) {
    eventually(
        "ingest to accept invoice.paid",
        Duration::from_secs(20),
        || {
            let mut ingest = ingest.clone();
            async move {
                let data = serde_json::json!({"amount": 5});
                ingest
                    .publish_event(publish_request(ORG, "invoice.paid", data))
                    .await
                    .ok()
            }
        },
    )
    .await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn every_seeded_event_type_is_listed_with_a_schema_and_an_example(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let viewer = stack.registry_as(&token(Some(ORG), &[Role::Viewer], &[]));
    let listed = viewer
        .clone()
        .list_event_types(v1::ListEventTypesRequest::default())
        .await
        .expect("any caller reads the catalog")
        .into_inner()
        .event_types;
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    for seeded in [
        "job.completed",
        "job.created",
        "job.updated",
        "job.assigned",
        "job.image_created",
        "job.document_created",
        "job.status_changed",
        "estimate.created",
        "estimate.updated",
        "signed_document.signed",
        "signable_document.signed",
        "api.created",
        "api_version.deleted",
        "api_endpoint.updated",
        "billing_plan.deleted",
        "subscription.created",
        "user.deleted",
        "team.updated",
        "app.created",
        "app_key.deleted",
        "organization.updated",
        "target_group.created",
        "documentation.deleted",
        "workflow.updated",
        "announcement.created",
        "discussion.created",
        "discussion_comment.created",
        "message.created",
        "jobs_request.created",
        "jobs_request.updated",
    ] {
        let t = listed
            .iter()
            .find(|t| t.name == seeded)
            .unwrap_or_else(|| panic!("{seeded} missing from {names:?}"));
        assert!(t.built_in && !t.description.is_empty(), "{t:?}");
        let v1 = &t.versions[0];
        assert_eq!(v1.version, 1);
        assert!(v1.schema.is_some() && v1.example.is_some(), "{seeded}");
    }

    let jobs = viewer
        .clone()
        .list_event_types(v1::ListEventTypesRequest {
            resource: "job".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .event_types;
    assert_eq!(jobs.len(), 7, "{jobs:?}");
    assert!(jobs.iter().all(|t| t.name.starts_with("job.")));
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn unknown_types_and_objects_that_break_their_schema_are_refused(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let status = stack
        .registry
        .clone()
        .create_webhook(webhook_request(
            ORG,
            "https://example.com/h",
            &["job.completed", "job.exploded"],
        ))
        .await
        .expect_err("an unknown type");
    assert_eq!(bad_fields(&status), ["event_types"]);
    assert!(status.message().contains("job.exploded"), "{status:?}");

    let mut ingest = stack.ingest.clone();
    let status = ingest
        .publish_event(publish_request(ORG, "job.exploded", serde_json::json!({})))
        .await
        .expect_err("an unknown type");
    assert_eq!(bad_fields(&status), ["event_type"]);

    let status = ingest
        .publish_event(publish_request(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-1", "distance": {"value": 3}}),
        ))
        .await
        .expect_err("distance lacks its unit");
    assert_eq!(bad_fields(&status), ["data"]);
    assert!(status.message().contains("`/distance`"), "{status:?}");

    ingest
        .publish_event(publish_request(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-1", "distance": {"value": 3, "unit": "km"}}),
        ))
        .await
        .expect("a valid job");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_super_admin_registers_a_type_that_ingest_then_accepts_and_delivers(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let org_admin = stack.registry_as(&token(Some(ORG), &[Role::OrgAdmin], &[]));
    let status = org_admin
        .clone()
        .register_event_type(registration("invoice.paid", 1))
        .await
        .expect_err("only super_admin changes the catalog");
    assert_eq!(status.code(), Code::PermissionDenied);

    let mut admin = stack.registry.clone();
    let mut bad = registration("Invoice", 0);
    bad.schema = Some(object(serde_json::json!({"type": "nonsense"})));
    let status = admin.register_event_type(bad).await.unwrap_err();
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(fields, ["name", "schema", "version"]);
    let mut wrong_example = registration("invoice.paid", 1);
    wrong_example.example = Some(object(serde_json::json!({"amount": -1})));
    let status = admin.register_event_type(wrong_example).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["example"]);
    let status = admin
        .register_event_type(registration("job.completed", 1))
        .await
        .expect_err("built-in versions stay");
    assert_eq!(status.code(), Code::AlreadyExists);

    let registered = admin
        .register_event_type(registration("invoice.paid", 1))
        .await
        .expect("registered")
        .into_inner();
    assert!(!registered.built_in);
    assert_eq!(registered.versions.len(), 1);

    // Ingest learns of it from the catalog stream.
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack.webhook(ORG, &receiver.url(), &["invoice.paid"]).await;
    accepts_invoices(&stack.ingest).await;
    let status = stack
        .ingest
        .clone()
        .publish_event(publish_request(
            ORG,
            "invoice.paid",
            serde_json::json!({"amount": "5"}),
        ))
        .await
        .expect_err("its schema applies");
    assert!(status.message().contains("`/amount`"), "{status:?}");
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].json()["data"]["object"]["amount"], 5);
    assert_eq!(got[0].json()["webhookId"], webhook.id.as_str());

    // An ingest replica started later reads the registered type from the stream.
    accepts_invoices(&stack.another_ingest().await).await;

    let listed = admin
        .list_event_types(v1::ListEventTypesRequest {
            resource: "invoice".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .event_types;
    assert_eq!(listed, vec![registered]);
}
