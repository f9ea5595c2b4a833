//! Every console screen passes axe-core with no serious or critical violation, in headless Chromium,
//! at desktop width and at 360 px (the narrowest iframe the console must fit).

use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG, Receiver, Reply, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn every_screen_passes_axe_at_desktop_and_phone_width(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::start(|n| Reply::status(if n < 3 { 500 } else { 204 })).await;
    let mut request = webhook_request(ORG, &receiver.url(), &["job.completed"]);
    request.name = "Orders".into();
    let (webhook, _) = stack.create(request).await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-1"}))
        .await;
    let failed = stack
        .settled(
            ORG,
            &webhook.id,
            hookline_proto::v1::DeliveryStatus::Failed,
            DEADLINE,
        )
        .await;
    let delivery = failed.delivery.expect("a delivery").id;
    let console = stack.console().await;

    for width in [1280, 360] {
        let browser = Browser::start(width).await;
        browser
            .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
            .await;
        let pages = [
            "/webhooks".to_owned(),
            "/webhooks/new".to_owned(),
            format!("/webhooks/{}/edit", webhook.id),
            format!("/webhooks/{}/test", webhook.id),
            "/deliveries".to_owned(),
            format!("/deliveries/{delivery}"),
            "/dead-letters".to_owned(),
            "/events".to_owned(),
            "/catalog".to_owned(),
            "/settings".to_owned(),
            "/no-such-page".to_owned(),
        ];
        let mut failures = Vec::new();
        for page in &pages {
            browser.goto(&format!("{}{page}", console.url)).await;
            for violation in browser.accessibility_violations().await {
                failures.push(format!("{width} px {page}: {violation}"));
            }
            let overflow = browser
                .eval("return document.documentElement.scrollWidth - window.innerWidth;")
                .await
                .as_i64()
                .unwrap_or_default();
            if overflow > 0 && width == 360 {
                let widest = browser
                    .eval(
                        "return [...document.querySelectorAll('body *')]
                           .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.parentElement.closest('.table-scroll'))
                           .slice(0, 4)
                           .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
                    )
                    .await;
                failures.push(format!(
                    "{width} px {page}: the page is {overflow} px too wide: {widest}"
                ));
            }
        }
        // The pages a form leads to: its errors, and a test event's answer.
        browser.goto(&format!("{}/webhooks/new", console.url)).await;
        browser.follow(".form-actions button[type=submit]").await;
        for violation in browser.accessibility_violations().await {
            failures.push(format!("{width} px form errors: {violation}"));
        }
        let test = format!("{}/webhooks/{}/test", console.url, webhook.id);
        browser.goto(&test).await;
        browser.follow("main button[type=submit]").await;
        for violation in browser.accessibility_violations().await {
            failures.push(format!("{width} px test event answer: {violation}"));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
