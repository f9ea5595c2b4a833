//! The console's log history and dead letters, in headless Chromium, against a real failing endpoint.

use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::{DEADLINE, ORG, Receiver, Reply, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn attempts_appear_in_the_log_then_the_dead_letter_is_replayed_to_the_mended_endpoint(
    pool: PgPool,
) {
    let stack = Stack::start(pool).await;
    // Fails the first three requests (every attempt of the test schedule), then answers.
    let receiver = Receiver::start(|n| Reply::status(if n < 3 { 500 } else { 204 })).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;
    stack
        .publish(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-<b>1</b>"}),
        )
        .await;

    // The log history, filtered to the webhook, shows the attempts as they happen: the state is
    // read each time the page is loaded again.
    let log = format!("{}/deliveries?webhook={}", console.url, webhook.id);
    let seen = std::cell::RefCell::new(Vec::new());
    eventually("the delivery to fail three times", DEADLINE, || {
        let (browser, log, seen) = (&browser, &log, &seen);
        async move {
            browser.goto(log).await;
            if browser.count("tbody tr").await == 0 {
                return None;
            }
            let row = (
                browser.text("td.attempts").await,
                browser.text(".state").await,
                browser.text("td.response").await,
            );
            let mut seen = seen.borrow_mut();
            if seen.last() != Some(&row) {
                seen.push(row.clone());
            }
            (row.1 == "failed").then_some(())
        }
    })
    .await;
    let seen = seen.into_inner();
    assert_eq!(
        seen.last().unwrap(),
        &("3".to_owned(), "failed".to_owned(), "500".to_owned())
    );
    assert!(
        seen.len() >= 2,
        "the log showed the attempts as they came: {seen:?}"
    );
    browser.screenshot("log-history").await;

    // Its details: the payload, as text, and every attempt with its response. From here on, with the
    // keyboard alone.
    browser.activate("a.expand").await;
    assert!(browser.text("h1").await.starts_with("Delivery"));
    assert!(browser.text("pre.payload").await.contains("J-<b>1</b>"));
    assert_eq!(browser.count("section.attempt").await, 3);
    assert!(browser.text("section.attempt h3").await.contains("500"));
    browser.screenshot("delivery").await;

    // The dead letter, replayed once the endpoint works: it arrives.
    browser.goto(&format!("{}/dead-letters", console.url)).await;
    assert_eq!(browser.count("tbody tr").await, 1);
    browser.screenshot("dead-letters").await;
    browser.tick("input[name=id]").await;
    browser.activate("button[name=selected]").await;
    assert_eq!(browser.text(".notice").await, "1 replayed.");
    receiver.wait_for(4, DEADLINE).await;
    eventually("the replayed delivery to succeed", DEADLINE, || async {
        browser.goto(&log).await;
        (browser.text(".state").await == "succeeded").then_some(())
    })
    .await;
    assert_eq!(browser.text("td.attempts").await, "4");
    browser.goto(&format!("{}/dead-letters", console.url)).await;
    assert_eq!(
        browser.text("main > p:last-of-type").await,
        "No dead letters."
    );

    // Redeliver, from the delivery's details, sends it once more.
    browser.goto(&log).await;
    browser.activate("a.expand").await;
    browser
        .activate("form[action*='/redeliver'] button[type=submit]")
        .await;
    receiver.wait_for(5, DEADLINE).await;
    eventually("the redelivery to be logged", DEADLINE, || async {
        browser.goto(&log).await;
        (browser.text("td.attempts").await == "5" && browser.text(".state").await == "succeeded")
            .then_some(())
    })
    .await;
}
