//! Event versions (seed 000): a webhook pins a payload version per event type; one event published in
//! several versions reaches each webhook in its own version, byte for byte unchanged by newer versions;
//! a pin to a version the event lacks gives a SKIPPED delivery with the reason.

use hookline_core::json_struct::from_json;
use hookline_proto::v1;
use hookline_tests::DEADLINE;
use hookline_tests::stack::{publish_request, webhook_request};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;
use tonic::Code;

const ORG: &str = "org_versions";

fn object(json: serde_json::Value) -> prost_types::Struct {
    from_json(json.as_object().expect("an object").clone())
}

/// Registers version 2 of `job.completed`, whose `status` is an object instead of a string.
async fn register_job_completed_v2(stack: &Stack) {
    stack
        .registry
        .clone()
        .register_event_type(v1::RegisterEventTypeRequest {
            name: "job.completed".into(),
            description: "Occurs when a job is completed (status as an object).".into(),
            version: 2,
            schema: Some(object(serde_json::json!({
                "type": "object",
                "required": ["objectType", "jobId", "status"],
                "properties": {"status": {"type": "object", "required": ["code"]}}
            }))),
            example: Some(object(
                serde_json::json!({"jobId": "J-1", "status": {"code": "done"}}),
            )),
        })
        .await
        .expect("version 2 registered");
}

fn both_versions() -> v1::PublishEventRequest {
    v1::PublishEventRequest {
        version: 1,
        versions: vec![v1::VersionedData {
            version: 2,
            data: Some(object(
                serde_json::json!({"jobId": "J-7", "status": {"code": "done"}}),
            )),
        }],
        ..publish_request(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-7", "status": "done"}),
        )
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn webhooks_pinned_to_different_versions_receive_their_own_version(pool: PgPool) {
    let stack = Stack::start(pool).await;
    // Pinned before version 2 exists: the latest then is 1, and it stays 1.
    let old = Receiver::always(200).await;
    let (old_hook, _) = stack.webhook(ORG, &old.url(), &["job.completed"]).await;
    assert_eq!(old_hook.event_versions["job.completed"], 1);
    assert_eq!(old_hook.framework_version, 1);
    register_job_completed_v2(&stack).await;
    // Subscribed after: the latest, 2.
    let new = Receiver::always(200).await;
    let (new_hook, _) = stack.webhook(ORG, &new.url(), &["job.completed"]).await;
    assert_eq!(new_hook.event_versions["job.completed"], 2);

    let ingest = stack.ingest.clone();
    let event_id = eventually("ingest to know version 2", DEADLINE, || {
        let mut ingest = ingest.clone();
        async move {
            Some(
                ingest
                    .publish_event(both_versions())
                    .await
                    .ok()?
                    .into_inner()
                    .event_id,
            )
        }
    })
    .await;
    let v1_body = old.wait_for(1, DEADLINE).await[0].json();
    let v2_body = new.wait_for(1, DEADLINE).await[0].json();
    assert_eq!(v1_body["id"], event_id.as_str());
    assert_eq!(v2_body["id"], event_id.as_str());
    assert_eq!(v1_body["version"], 1);
    assert_eq!(
        v1_body["data"]["object"],
        serde_json::json!({"objectType": "job", "jobId": "J-7", "status": "done"})
    );
    assert_eq!(v2_body["version"], 2);
    assert_eq!(
        v2_body["data"]["object"]["status"],
        serde_json::json!({"code": "done"})
    );

    // The log keeps each delivery's version, and redelivery sends the same version again.
    let detail = stack
        .settled(ORG, &old_hook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let delivery = detail.delivery.clone().expect("the delivery");
    assert_eq!(delivery.version, 1);
    let logged: serde_json::Value = serde_json::from_str(&detail.payload).unwrap();
    assert_eq!(logged["version"], 1);
    stack
        .registry
        .clone()
        .redeliver(v1::RedeliverRequest {
            organisation_id: ORG.into(),
            id: delivery.id.clone(),
        })
        .await
        .expect("redelivered");
    let again = old.wait_for(2, DEADLINE).await;
    assert_eq!(
        again[1].body, again[0].body,
        "the same version, byte for byte"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn pins_move_with_update_and_a_missing_version_is_skipped_with_the_reason(pool: PgPool) {
    let stack = Stack::start(pool).await;
    register_job_completed_v2(&stack).await;
    let receiver = Receiver::always(200).await;
    let (hook, _) = stack
        .create(v1::CreateWebhookRequest {
            event_versions: [("job.completed".to_owned(), 1)].into(),
            ..webhook_request(ORG, &receiver.url(), &["job.completed", "estimate.updated"])
        })
        .await;
    assert_eq!(hook.event_versions["job.completed"], 1, "the pin asked for");
    assert_eq!(hook.event_versions["estimate.updated"], 1, "the latest");

    let mut registry = stack.registry.clone();
    let update = |versions: &[(&str, u32)]| v1::UpdateWebhookRequest {
        organisation_id: ORG.into(),
        id: hook.id.clone(),
        name: hook.name.clone(),
        url: hook.url.clone(),
        event_types: hook.event_types.clone(),
        event_versions: versions.iter().map(|(t, v)| (t.to_string(), *v)).collect(),
        ..Default::default()
    };
    for bad in [
        [("job.completed", 3)],
        [("job.created", 1)],
        [("job.completed", 0)],
    ] {
        let status = registry.update_webhook(update(&bad)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
        let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
        assert_eq!(
            details.field_violations[0].field, "event_versions",
            "{bad:?}"
        );
    }
    let moved = registry
        .update_webhook(update(&[("job.completed", 2)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.event_versions["job.completed"], 2);
    let kept = registry
        .update_webhook(update(&[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kept.event_versions["job.completed"], 2,
        "an update naming no pin keeps it"
    );

    // Published in version 1 only: the webhook pinned to 2 is skipped, saying why, and gets nothing.
    let ingest = stack.ingest.clone();
    eventually("ingest to know version 2", DEADLINE, || {
        let mut ingest = ingest.clone();
        let mut probe = both_versions();
        probe.organisation_id = "org_probe".into();
        async move { ingest.publish_event(probe).await.ok() }
    })
    .await;
    stack
        .publish(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-8", "status": "done"}),
        )
        .await;
    let skipped = stack
        .settled(ORG, &hook.id, v1::DeliveryStatus::Skipped, DEADLINE)
        .await
        .delivery
        .unwrap();
    assert_eq!(skipped.version, 2);
    assert!(
        skipped.reason.contains("pinned to version 2"),
        "{}",
        skipped.reason
    );
    assert!(
        skipped.reason.contains("version(s) 1"),
        "{}",
        skipped.reason
    );
    assert_eq!(skipped.attempts, 0);
    // A later event in both versions arrives, so the skipped one was never sent.
    stack
        .ingest
        .clone()
        .publish_event(both_versions())
        .await
        .unwrap();
    let got = receiver.wait_for(1, DEADLINE).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["version"], 2);
}

/// The console's form pins each event type that has several versions: a new webhook pinned to the older
/// version gets it, and the edit form shows the pin and moves it.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_console_form_pins_and_moves_event_versions(pool: PgPool) {
    use hookline_runtime::auth::Role;
    use hookline_tests::browser::Browser;

    let stack = Stack::start(pool).await;
    register_job_completed_v2(&stack).await;
    let receiver = Receiver::always(204).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    let admin = hookline_tests::auth::token(Some(ORG), &[Role::OrgAdmin], &[]);
    browser.goto(&console.sign_in_link(&admin)).await;
    browser.goto(&format!("{}/webhooks/new", console.url)).await;
    let select = "select[name='version.job.completed']";
    assert_eq!(
        browser
            .eval(&format!(
                "return document.querySelector(\"{select}\").value;"
            ))
            .await,
        "2",
        "a new subscription shows the latest"
    );
    assert_eq!(
        browser
            .count("select[name='version.estimate.updated']")
            .await,
        0,
        "a type with one version has nothing to choose"
    );
    browser.fill("#name", "Pinned").await;
    browser.fill("#url", &receiver.url()).await;
    browser
        .click("input[name=event_types][value='job.completed']")
        .await;
    browser
        .eval(&format!(
            "document.querySelector(\"{select}\").value = '1'; return null;"
        ))
        .await;
    browser.follow(".form-actions button[type=submit]").await;
    assert_eq!(browser.text("h1").await, "Webhook created");

    let hook = stack.webhooks(ORG).await.remove(0);
    assert_eq!(
        hook.event_versions["job.completed"], 1,
        "the pin chosen in the form"
    );

    browser
        .goto(&format!("{}/webhooks/{}/edit", console.url, hook.id))
        .await;
    assert_eq!(
        browser
            .eval(&format!(
                "return document.querySelector(\"{select}\").value;"
            ))
            .await,
        "1",
        "the edit form shows the pin"
    );
    browser
        .eval(&format!(
            "document.querySelector(\"{select}\").value = '2'; return null;"
        ))
        .await;
    browser.follow(".form-actions button[type=submit]").await;
    let moved = stack.webhooks(ORG).await.remove(0);
    assert_eq!(moved.event_versions["job.completed"], 2, "the pin moved");
}
