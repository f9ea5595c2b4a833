//! The console's event log, catalog and organisation settings, in headless Chromium.

use hookline_proto::v1;
use hookline_runtime::auth::{Role, WEBHOOKS_PERMISSION};
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::{DEADLINE, ORG, Receiver, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_event_log_finds_an_event_and_links_to_its_deliveries(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(204).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed", "estimate.updated"])
        .await;
    let job = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-9"}))
        .await;
    stack
        .publish(
            ORG,
            "estimate.updated",
            serde_json::json!({"estimateId": "E-1"}),
        )
        .await;
    receiver.wait_for(2, DEADLINE).await;
    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::Viewer], &[])))
        .await;

    browser.goto(&format!("{}/events", console.url)).await;
    // The webhook was created on, so its ping is in the log beside the two events.
    hookline_tests::eventually("the ping and both events in the log", DEADLINE, || async {
        browser.goto(&format!("{}/events", console.url)).await;
        (browser.count("tbody tr").await == 3).then_some(())
    })
    .await;
    // Filtered and followed with the keyboard alone.
    browser.tab_to("#e-type").await;
    browser.keys("job.completed").await;
    browser.activate(".filter-actions button").await;
    hookline_tests::eventually("the filtered page", DEADLINE, || async {
        let url = browser.url().await;
        (url.contains("event_type=job.completed") && browser.count("tbody tr").await == 1)
            .then_some(())
    })
    .await;
    assert!(browser.text("code.data").await.contains("J-9"));
    browser.screenshot("event-log").await;

    browser.activate("a.deliveries").await;
    assert_eq!(browser.text("h1").await, "Log history");
    assert_eq!(browser.count("tbody tr").await, 1);
    let shown = browser
        .eval("return new URL(location.href).searchParams.get('event');")
        .await;
    assert_eq!(shown, job.as_str(), "the log is filtered to the event");
    assert_eq!(
        browser
            .eval("return document.querySelector('tbody td:nth-child(3) code').textContent;")
            .await,
        "job.completed"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_catalog_shows_each_type_s_schema_and_example(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::Viewer], &[])))
        .await;
    browser.goto(&format!("{}/catalog", console.url)).await;
    assert_eq!(browser.text("h1").await, "Event catalog");
    browser.click("section[id='job.completed'] summary").await;
    let schema = browser.text("section[id='job.completed'] pre.schema").await;
    let schema: serde_json::Value = serde_json::from_str(&schema).expect("the schema is JSON");
    assert!(schema.is_object());
    let example = browser
        .text("section[id='job.completed'] pre.example")
        .await;
    assert!(
        serde_json::from_str::<serde_json::Value>(&example).is_ok(),
        "{example}"
    );
    browser.screenshot("catalog").await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn an_org_admin_turns_event_triggers_off_and_a_webhook_manager_cannot(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(204).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let console = stack.console().await;

    let manager = Browser::start(1280).await;
    manager
        .goto(&console.sign_in_link(&token(Some(ORG), &[], &[WEBHOOKS_PERMISSION])))
        .await;
    assert_eq!(manager.count("a[href^='/settings']").await, 0);
    manager.goto(&format!("{}/settings", console.url)).await;
    assert_eq!(manager.text("h1").await, "Not allowed");

    let admin = Browser::start(1280).await;
    admin
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;
    // With the keyboard alone: Space ticks, and an arrow moves the units' radio choice.
    admin.activate("a[href^='/settings']").await;
    assert_eq!(admin.text("h1").await, "Settings");
    admin.tick("input[name=triggers]").await;
    admin.tab_to("input[name=units][value=metric]").await;
    admin.keys(&fantoccini::key::Key::Down.to_string()).await;
    assert_eq!(
        admin
            .eval("return document.querySelector('input[name=units]:checked').value;")
            .await,
        "imperial"
    );
    admin.screenshot("settings").await;
    admin.activate(".form-actions button").await;
    assert_eq!(
        admin
            .eval("return document.querySelector('input[name=triggers]').checked;")
            .await,
        false
    );

    // With triggers off, the event is logged but not delivered.
    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-off"}))
        .await;
    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Skipped, DEADLINE)
        .await;
    assert_eq!(receiver.count(), 0);
}
