//! The console's "Test event" dialog, in headless Chromium: the exact request with credentials masked,
//! and the endpoint's response, markup in it shown as text.

use hookline_proto::v1;
use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG, Receiver, Reply, Stack};
use sqlx::PgPool;

const HOSTILE_BODY: &[u8] =
    b"<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_test_event_shows_the_request_and_the_endpoint_s_answer_as_text(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::start(|_| Reply {
        body: Some(HOSTILE_BODY),
        headers: &[("x-echo", "\"><svg onload=alert(1)>")],
        ..Reply::status(418)
    })
    .await;
    let mut request = webhook_request(ORG, &receiver.url(), &["job.completed"]);
    request.name = "Teapot".into();
    request.status = v1::WebhookStatus::Disabled.into();
    request.auth = Some(v1::EndpointAuth {
        method: Some(v1::endpoint_auth::Method::Header(v1::HeaderAuth {
            name: "x-api-key".into(),
            value: "key-that-must-stay-hidden".into(),
        })),
    });
    stack.create(request).await;
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;

    // With the keyboard alone.
    browser.activate("a.test").await;
    assert_eq!(browser.text("h1").await, "Test event: Teapot");
    browser.activate("main button[type=submit]").await;

    assert_eq!(browser.text("#response-status").await, "418");
    let request_area = browser
        .text("section[aria-labelledby=request-heading]")
        .await;
    assert!(request_area.contains(&receiver.url()), "{request_area}");
    assert!(request_area.contains("webhook-signature"), "{request_area}");
    assert!(request_area.contains("x-api-key"), "{request_area}");
    assert!(
        !browser.source().await.contains("key-that-must-stay-hidden"),
        "the endpoint's credential is masked"
    );
    assert!(
        browser
            .text(".request-body")
            .await
            .contains("job.completed")
    );
    assert_eq!(
        browser.text(".response-body").await.as_bytes(),
        HOSTILE_BODY,
        "the response body is shown as its text"
    );
    let response_area = browser.text("section.response").await;
    assert!(
        response_area.contains("\"><svg onload=alert(1)>"),
        "{response_area}"
    );
    assert_eq!(browser.title().await, "Test event: Teapot · Hookline");
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main script, main img, main svg').length;")
            .await,
        0
    );
    assert_eq!(receiver.wait_for(1, DEADLINE).await.len(), 1);
    browser.screenshot("test-event").await;
}
