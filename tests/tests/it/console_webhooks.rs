//! Managing webhooks in the console, in headless Chromium: the form, the secret shown once, the status
//! toggle and its ping, field errors from the API, and what a viewer cannot do.

use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::secret_scan::{self, Secret};
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG, Receiver, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn create_shows_the_secret_once_and_turning_it_on_pings_the_endpoint(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(204).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;

    browser.follow("a.button[href^='/webhooks/new']").await;
    assert_eq!(browser.text("h1").await, "Create webhook");
    browser.fill("#name", "Receiver").await;
    browser.fill("#url", &receiver.url()).await;
    browser.fill("#description", "Gets job events").await;
    browser
        .click("input[name=event_types][value='job.completed']")
        .await;
    browser.screenshot("webhook-form").await;
    browser.follow(".form-actions button[type=submit]").await;

    assert_eq!(browser.text("h1").await, "Webhook created");
    let secret = browser
        .eval("return document.getElementById('secret').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    secret_scan::record(&Secret::signing(
        "a console-created webhook's secret",
        &secret,
    ));
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(
        browser
            .text(".warning")
            .await
            .contains("will not be shown again")
    );
    // The committed screenshot shows no secret, not even a test one.
    browser
        .eval("document.getElementById('secret').value = 'whsec_' + '•'.repeat(44); return null;")
        .await;
    browser.screenshot("secret-once").await;

    // Back on the table, and on every page after, the secret is nowhere.
    browser.follow("main a[href^='/webhooks']").await;
    assert_eq!(browser.text("tbody th").await, "Receiver");
    assert_eq!(browser.text(".status").await, "Off");
    assert!(!browser.source().await.contains(&secret));
    browser.client.back().await.unwrap();
    assert!(
        !browser.source().await.contains(&secret),
        "going back does not show the secret again"
    );
    browser.goto(&format!("{}/webhooks", console.url)).await;

    // Turning it on sends the ping, signed with the secret just shown, and the page says so.
    assert!(receiver.pings().is_empty(), "created off: no ping yet");
    browser.follow("button.toggle").await;
    assert!(browser.text(".notice").await.contains("A ping was sent"));
    assert_eq!(browser.text(".status").await, "On");
    let ping = receiver.wait_for_pings(1, DEADLINE).await.remove(0);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&ping.body, &ping.headers)
        .expect("the ping verifies with the secret the console showed");
    assert_eq!(ping.json()["eventType"], "webhook.ping");
    // The table shows the ping as the latest delivery once it is recorded.
    hookline_tests::eventually("the ping in the table", DEADLINE, || async {
        browser.goto(&format!("{}/webhooks", console.url)).await;
        (browser.text("td.latest").await == "succeeded (204)").then_some(())
    })
    .await;
    browser.screenshot("webhooks-on").await;

    // Editing keeps the secret and the credentials, and saves the new values.
    browser.follow("td.actions a.edit").await;
    assert_eq!(browser.text("h1").await, "Edit webhook");
    browser
        .client
        .find(fantoccini::Locator::Css("#name"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    browser.fill("#name", "Receiver (jobs)").await;
    browser.follow(".form-actions button[type=submit]").await;
    assert_eq!(browser.text("tbody th").await, "Receiver (jobs)");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_api_s_field_errors_appear_beside_their_fields(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;
    browser.goto(&format!("{}/webhooks/new", console.url)).await;
    browser.fill("#name", "No events").await;
    browser.fill("#url", "ftp://example.com/x").await;
    browser.follow(".form-actions button[type=submit]").await;

    assert_eq!(browser.text("h1").await, "Create webhook");
    assert!(!browser.text("#url-error").await.is_empty());
    assert!(
        browser
            .text("#event_types-error")
            .await
            .contains("at least one")
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('url').getAttribute('aria-invalid');")
            .await,
        "true"
    );
    // What was typed is kept.
    assert_eq!(
        browser
            .eval("return document.getElementById('name').value;")
            .await,
        "No events"
    );
    assert_eq!(browser.count("#name-error").await, 0);
    browser.screenshot("webhook-form-errors").await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_viewer_sees_no_controls_and_the_server_refuses_them(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let mut request = webhook_request(ORG, "https://a.example.com/hooks", &["job.completed"]);
    request.status = hookline_proto::v1::WebhookStatus::Disabled.into();
    let (webhook, _) = stack.create(request).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::Viewer], &[])))
        .await;

    assert_eq!(browser.text("tbody th").await, "test webhook");
    for control in [
        "a.button",
        "button.toggle",
        "a.edit",
        "form[action*='/rotate']",
    ] {
        assert_eq!(browser.count(control).await, 0, "{control} is absent");
    }
    assert_eq!(browser.count("td.actions a").await, 1, "only Log history");
    browser.goto(&format!("{}/webhooks/new", console.url)).await;
    assert_eq!(browser.text("h1").await, "Not allowed");

    // Forged with the session's own CSRF token, the requests still fail: the registry refuses them.
    browser.goto(&format!("{}/webhooks", console.url)).await;
    for action in ["status", "rotate"] {
        browser
            .follow_script(&format!(
                "const csrf = document.querySelector('input[name=csrf]').value;
                 const f = document.createElement('form');
                 f.method = 'post'; f.action = '/webhooks/{id}/{action}';
                 for (const [k, v] of [['csrf', csrf], ['status', 'on']]) {{
                   const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
                 }}
                 document.body.appendChild(f); f.submit(); return null;",
                id = webhook.id
            ))
            .await;
        assert_eq!(browser.text("h1").await, "Not allowed", "{action}");
        browser.goto(&format!("{}/webhooks", console.url)).await;
    }
    assert_eq!(browser.text(".status").await, "Off");
}

/// The create-and-turn-on flow with the keyboard alone: Tab to each control, type, Space and Enter.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_webhook_is_created_and_turned_on_with_the_keyboard_alone(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(204).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;

    browser.tab_to("a.button").await;
    browser.enter().await;
    assert_eq!(browser.text("h1").await, "Create webhook");
    browser.tab_to("#name").await;
    browser.keys("Keyboard").await;
    browser.tab_to("#url").await;
    browser.keys(&receiver.url()).await;
    browser
        .tab_to("input[name=event_types][value='job.completed']")
        .await;
    browser.keys(" ").await;
    browser.tab_to(".form-actions button[type=submit]").await;
    browser.enter().await;

    assert_eq!(browser.text("h1").await, "Webhook created");
    let secret = browser
        .eval("return document.getElementById('secret').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    secret_scan::record(&Secret::signing(
        "a keyboard-created webhook's secret",
        &secret,
    ));
    browser.tab_to("main a[href^='/webhooks']").await;
    browser.enter().await;
    browser.tab_to("button.toggle").await;
    browser.enter().await;
    assert!(browser.text(".notice").await.contains("A ping was sent"));
    let ping = receiver.wait_for_pings(1, DEADLINE).await.remove(0);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&ping.body, &ping.headers)
        .expect("the ping verifies");
}
