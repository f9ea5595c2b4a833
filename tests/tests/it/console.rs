//! The console in a real browser (headless Chromium) against the real stack.

use hookline_proto::v1;
use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::stack::webhook_request;
use hookline_tests::{ORG, Stack};
use sqlx::PgPool;

fn org_admin(org: &str) -> String {
    token(Some(org), &[Role::OrgAdmin], &[])
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_sign_in_link_opens_the_webhooks_table_and_leaves_no_token_in_the_address(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let mut request = webhook_request(ORG, "https://orders.example.com/hooks", &["job.completed"]);
    request.name = "Orders sync".into();
    stack.create(request).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;

    let token = org_admin(ORG);
    browser.goto(&console.sign_in_link(&token)).await;

    assert_eq!(browser.text("h1").await, "Webhooks");
    let url = browser.url().await;
    assert!(url.ends_with("/webhooks"), "{url}");
    assert!(!url.contains(&token) && !url.contains("token="), "{url}");
    let history: Vec<String> = serde_json::from_value(
        browser
            .eval("return [document.referrer, String(history.length)];")
            .await,
    )
    .unwrap();
    assert_eq!(history[0], "", "no referrer carries the link");
    assert_eq!(browser.text("tbody th").await, "Orders sync");
    assert_eq!(
        browser.text("td.url").await,
        "https://orders.example.com/hooks"
    );
    assert_eq!(browser.text(".status").await, "On");
    let limit = stack.settings.registry.max_webhooks_per_organisation;
    assert_eq!(
        browser.text("#webhook-count").await,
        format!("1 of up to {limit}")
    );
    // The session cookie is not readable by scripts.
    assert_eq!(browser.eval("return document.cookie;").await, "");
    browser.screenshot("webhooks").await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_bad_or_missing_sign_in_token_opens_no_session(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;

    browser.goto(&console.sign_in_link("not-a-token")).await;
    assert_eq!(browser.text("h1").await, "Signed out");
    assert!(browser.text(".message").await.contains("cannot be used"));
    browser.goto(&format!("{}/webhooks", console.url)).await;
    assert_eq!(browser.text("h1").await, "Signed out");

    let foreign = hookline_runtime::auth::mint_hs256(
        &"another-secret".into(),
        &hookline_tests::auth::claims(Some(ORG), &[Role::OrgAdmin], &[]),
    )
    .unwrap();
    browser.goto(&console.sign_in_link(&foreign)).await;
    assert_eq!(browser.text("h1").await, "Signed out");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn another_organisation_cannot_be_reached_by_its_url(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let mut request = webhook_request(ORG, "https://a.example.com/hooks", &["job.completed"]);
    request.name = "A's secret webhook".into();
    stack.create(request).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;

    browser
        .goto(&console.sign_in_link(&org_admin("org_other")))
        .await;
    assert_eq!(browser.text("h1").await, "Webhooks");
    browser
        .goto(&format!("{}/webhooks?org={ORG}", console.url))
        .await;
    assert_eq!(browser.text("h1").await, "Not allowed");
    let page = browser.eval("return document.body.innerText;").await;
    assert!(!page.as_str().unwrap().contains("A's secret webhook"));
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn signing_out_needs_the_session_csrf_token(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser.goto(&console.sign_in_link(&org_admin(ORG))).await;
    assert_eq!(browser.text("h1").await, "Webhooks");

    // A form posted without the token (as another site would) is refused, and the session stays.
    browser
        .follow_script(
            "const f = document.querySelector('form[action=\"/sign-out\"]');
             f.querySelector('input[name=csrf]').value = 'forged';
             f.submit(); return null;",
        )
        .await;
    assert_eq!(browser.text("h1").await, "Not allowed");
    browser.goto(&format!("{}/webhooks", console.url)).await;
    assert_eq!(browser.text("h1").await, "Webhooks");

    // With it, the session ends.
    browser.follow("form[action=\"/sign-out\"] button").await;
    assert_eq!(browser.text("h1").await, "Signed out");
    browser.goto(&format!("{}/webhooks", console.url)).await;
    assert_eq!(browser.text("h1").await, "Signed out");
}

/// Everything the console shows from a webhook's fields is text: markup in them never runs.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn markup_in_webhook_fields_is_shown_as_text_and_never_runs(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let payloads = [
        "<script>document.title='pwned'</script>",
        "\"><img src=x onerror=\"document.title='pwned'\">",
        "javascript:document.title='pwned'",
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let mut request = webhook_request(
            ORG,
            &format!("https://x{i}.example.com/?q=\"><svg onload=alert(1)>"),
            &["job.completed"],
        );
        request.name = (*payload).into();
        request.description = (*payload).into();
        request.status = v1::WebhookStatus::Disabled.into();
        stack.create(request).await;
    }
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser.goto(&console.sign_in_link(&org_admin(ORG))).await;

    assert_eq!(browser.text("h1").await, "Webhooks");
    let names = browser
        .eval("return [...document.querySelectorAll('tbody th')].map(e => e.textContent);")
        .await;
    let mut names: Vec<String> = serde_json::from_value(names).unwrap();
    names.sort();
    let mut expected: Vec<String> = payloads.iter().map(|p| p.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "each payload is shown as its own text");
    assert_eq!(browser.title().await, "Webhooks · Hookline");
    let injected = browser
        .eval("return document.querySelectorAll('tbody script, tbody img, tbody svg').length;")
        .await;
    assert_eq!(injected, 0);
}

/// A platform operator's token acts for every organisation: the console asks which one to open, and a
/// switcher in the header moves between them, keeping the organisation on every link. Keyboard only.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_platform_operator_chooses_and_switches_organisations(pool: PgPool) {
    let stack = Stack::start(pool).await;
    for (org, name) in [(ORG, "A's webhook"), ("org_other", "B's webhook")] {
        let mut request = webhook_request(org, "https://hooks.example.com/in", &["job.completed"]);
        request.name = name.into();
        stack.create(request).await;
    }
    let console = stack.console().await;
    let browser = Browser::start(1280).await;

    browser
        .goto(&console.sign_in_link(&hookline_tests::auth::super_admin()))
        .await;
    assert_eq!(browser.text("h1").await, "Choose an organisation");
    browser.tab_to("#org-choose").await;
    browser.keys(ORG).await;
    browser.enter().await;
    assert_eq!(browser.text("h1").await, "Webhooks");
    assert_eq!(browser.text("tbody th").await, "A's webhook");
    // Every section link keeps the organisation.
    let log = browser
        .eval("return document.querySelector('nav a[href^=\"/deliveries\"]').getAttribute('href');")
        .await;
    assert_eq!(log, format!("/deliveries?org={ORG}").as_str());

    browser.tab_to("#org-switch").await;
    // Ctrl+A (the modifier released by Null), then the new organisation replaces the current one.
    let (control, release) = (fantoccini::key::Key::Control, fantoccini::key::Key::Null);
    browser.keys(&format!("{control}a{release}")).await;
    browser.keys("org_other").await;
    browser.enter().await;
    assert_eq!(browser.text("tbody th").await, "B's webhook");
    assert!(browser.url().await.ends_with("/webhooks?org=org_other"));
    assert!(browser.accessibility_violations().await.is_empty());
}

/// Serves a small SVG logo for any path, on an origin of its own.
async fn logo_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="80" height="28"><rect width="80" height="28" fill="green"/></svg>"#;
    let app = axum::Router::new().fallback(move || async move {
        ([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg)
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    url
}

/// The embedding product brands the console: its colour and its logo from configuration or from the
/// sign-in link, the logo loaded under the CSP, and a link's logo from any other origin ignored.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_embedding_product_s_colour_and_logo_brand_the_console(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let (allowed, foreign) = (logo_server().await, logo_server().await);
    let console = stack
        .console_with(|s| s.console.logo_url = format!("{allowed}/logo.svg"))
        .await;
    let browser = Browser::start(1280).await;
    let link = console.sign_in_link(&org_admin(ORG));
    let logo = || async {
        hookline_tests::eventually("the logo to load", hookline_tests::DEADLINE, || {
            let browser = &browser;
            async move {
                let state = browser
                    .eval(
                        "const i = document.querySelector('header img.logo');
                         return i && i.complete && i.naturalWidth > 0 ? i.src : null;",
                    )
                    .await;
                state.as_str().map(str::to_owned)
            }
        })
        .await
    };

    browser
        .goto(&format!(
            "{link}&brand=%230a7d5a&logo={allowed}/session.svg"
        ))
        .await;
    assert_eq!(logo().await, format!("{allowed}/session.svg"));
    let accent = browser
        .eval(
            "return getComputedStyle(document.documentElement).getPropertyValue('--brand').trim();",
        )
        .await;
    assert_eq!(accent, "#0a7d5a");

    browser
        .goto(&format!("{link}&logo={foreign}/elsewhere.svg"))
        .await;
    assert_eq!(
        logo().await,
        format!("{allowed}/logo.svg"),
        "a link's logo from an origin not allowed is ignored for the configured one"
    );
    assert!(browser.accessibility_violations().await.is_empty());
}
