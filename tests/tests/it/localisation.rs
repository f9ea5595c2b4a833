//! Organisation settings: quantities delivered in the organisation's unit system (retries included, with
//! the exact bytes of each attempt in the log), and the "Enable event triggers" switch.

use hookline_proto::v1;
use hookline_runtime::auth::Role;
use hookline_tests::DEADLINE;
use hookline_tests::auth::token;
use hookline_tests::{Receiver, Reply, Stack};
use sqlx::PgPool;
use tonic::Code;

const METRIC: &str = "org_metric";
const IMPERIAL: &str = "org_imperial";
/// Settings are read afresh for every attempt, so a change shows at once.
const NO_CACHE: &[(&str, &str)] = &[("HOOKLINE__DELIVERY__WEBHOOK_CACHE_TTL", "0s")];

fn job() -> serde_json::Value {
    serde_json::json!({
        "jobId": "J-1",
        "distance": {"value": 12.5, "unit": "km"},
        "stops": [{"load": {"value": 70, "unit": "kg"}}],
        "note": "12.5 km"
    })
}

async fn set(stack: &Stack, org: &str, unit_system: v1::UnitSystem, triggers: Option<bool>) {
    stack
        .registry
        .clone()
        .update_organisation_settings(v1::UpdateOrganisationSettingsRequest {
            organisation_id: org.into(),
            unit_system: unit_system.into(),
            event_triggers_enabled: triggers,
        })
        .await
        .expect("settings updated");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_same_event_reaches_metric_and_imperial_organisations_in_their_units(pool: PgPool) {
    let stack = Stack::start_with(pool, NO_CACHE).await;
    set(&stack, IMPERIAL, v1::UnitSystem::Imperial, None).await;
    let metric = Receiver::always(200).await;
    let imperial = Receiver::always(200).await;
    stack
        .webhook(METRIC, &metric.url(), &["job.completed"])
        .await;
    stack
        .webhook(IMPERIAL, &imperial.url(), &["job.completed"])
        .await;
    stack.publish(METRIC, "job.completed", job()).await;
    stack.publish(IMPERIAL, "job.completed", job()).await;

    let m = metric.wait_for(1, DEADLINE).await[0].json();
    let i = imperial.wait_for(1, DEADLINE).await[0].json();
    assert_eq!(
        m["data"]["object"]["distance"],
        serde_json::json!({"value": 12.5, "unit": "km"})
    );
    assert_eq!(
        i["data"]["object"]["distance"],
        serde_json::json!({"value": 7.77, "unit": "mi"})
    );
    assert_eq!(
        i["data"]["object"]["stops"][0]["load"],
        serde_json::json!({"value": 154.0, "unit": "lb"})
    );
    assert_eq!(
        i["data"]["object"]["note"], "12.5 km",
        "text is never touched"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_retry_after_the_unit_system_changed_is_sent_in_the_new_units(pool: PgPool) {
    let stack = Stack::start_with(pool, NO_CACHE).await;
    let receiver = Receiver::start(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let (webhook, _) = stack
        .webhook(METRIC, &receiver.url(), &["job.completed"])
        .await;
    stack.publish(METRIC, "job.completed", job()).await;
    stack
        .settled(METRIC, &webhook.id, v1::DeliveryStatus::Retrying, DEADLINE)
        .await;
    set(&stack, METRIC, v1::UnitSystem::Imperial, None).await;
    let done = stack
        .settled(METRIC, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let bodies: Vec<serde_json::Value> = done
        .attempts
        .iter()
        .map(|a| serde_json::from_str(&a.request_body).unwrap())
        .collect();
    assert_eq!(bodies[0]["data"]["object"]["distance"]["unit"], "km");
    assert_eq!(bodies[1]["data"]["object"]["distance"]["unit"], "mi");
    let sent = receiver.received();
    assert_eq!(
        sent[1].body.as_ref(),
        done.attempts[1].request_body.as_bytes(),
        "the log has the bytes sent"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn with_event_triggers_off_events_are_logged_but_not_delivered(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(METRIC, &receiver.url(), &["job.completed"])
        .await;

    // Settings are the organisation admin's; defaults until changed.
    let admin = stack.registry_as(&token(Some(METRIC), &[Role::OrgAdmin], &[]));
    let defaults = admin
        .clone()
        .get_organisation_settings(v1::GetOrganisationSettingsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(defaults.unit_system, v1::UnitSystem::Metric as i32);
    assert!(defaults.event_triggers_enabled);
    let viewer = stack.registry_as(&token(Some(METRIC), &[Role::Viewer], &[]));
    let status = viewer
        .clone()
        .update_organisation_settings(v1::UpdateOrganisationSettingsRequest {
            event_triggers_enabled: Some(false),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let off = admin
        .clone()
        .update_organisation_settings(v1::UpdateOrganisationSettingsRequest {
            event_triggers_enabled: Some(false),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!off.event_triggers_enabled);
    assert_eq!(off.unit_system, v1::UnitSystem::Metric as i32, "unchanged");

    let event_id = stack.publish(METRIC, "job.completed", job()).await;
    let skipped = stack
        .settled(METRIC, &webhook.id, v1::DeliveryStatus::Skipped, DEADLINE)
        .await
        .delivery
        .unwrap();
    assert_eq!(skipped.event_id, event_id);
    assert!(
        skipped.reason.contains("event triggers are switched off"),
        "{}",
        skipped.reason
    );
    let events = admin
        .clone()
        .list_events(v1::ListEventsRequest {
            event_id: event_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1, "the event is logged");

    set(&stack, METRIC, v1::UnitSystem::Unspecified, Some(true)).await;
    let next = stack.publish(METRIC, "job.completed", job()).await;
    let got = receiver.wait_for(1, DEADLINE).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("webhook-id"),
        next,
        "only the event after switching on"
    );
}
