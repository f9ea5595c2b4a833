//! What the outside world sends the console, in headless Chromium: control characters pasted into the
//! form, a form of a megabyte, and a registry that is stopped or never answers. Each gets a clear page
//! at once, nothing is stored, and nothing hangs.

use std::time::Duration;

use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::{DEADLINE, ORG, Receiver, Stack};
use sqlx::PgPool;

/// Signs an organisation admin in and opens the create form.
async fn create_form(console: &hookline_tests::console::Console) -> Browser {
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[])))
        .await;
    browser.goto(&format!("{}/webhooks/new", console.url)).await;
    browser
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn control_characters_in_the_form_get_errors_beside_their_fields(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(204).await;
    let console = stack.console().await;
    let browser = create_form(&console).await;
    // WebDriver cannot type U+0000, so the values are set as a paste or an autofill would set them.
    browser
        .eval(
            "document.getElementById('name').value = 'Jobs\\u0000';
             document.getElementById('description').value = 'line one\\nbell \\u0007 here';
             return null;",
        )
        .await;
    browser.fill("#url", &receiver.url()).await;
    browser
        .click("input[name=event_types][value='job.completed']")
        .await;
    browser.follow(".form-actions button[type=submit]").await;

    assert_eq!(browser.text("h1").await, "Create webhook");
    assert!(
        browser.text("#name-error").await.contains("U+0000"),
        "{}",
        browser.text("#name-error").await
    );
    assert!(
        browser.text("#description-error").await.contains("U+0007"),
        "{}",
        browser.text("#description-error").await
    );
    assert_eq!(browser.count("#url-error").await, 0);
    assert!(stack.webhooks(ORG).await.is_empty(), "nothing was stored");
    assert_eq!(receiver.count(), 0);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_form_of_a_megabyte_is_refused_with_a_page(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let console = stack.console().await;
    let browser = create_form(&console).await;
    browser
        .eval(
            "document.getElementById('name').value = 'Big';
             document.getElementById('description').value = 'x'.repeat(1 << 20);
             return null;",
        )
        .await;
    browser.follow(".form-actions button[type=submit]").await;
    assert_eq!(browser.text("h1").await, "Too large");
    assert!(browser.text("main").await.contains("64 KiB"));
    // The console is unharmed: the next page loads.
    browser.goto(&format!("{}/webhooks", console.url)).await;
    assert_eq!(browser.text("h1").await, "Webhooks");
}

/// A listener that accepts connections and never answers: a registry stalled by a lock or a full queue.
async fn stalled_registry() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_stalled_or_stopped_registry_gives_an_unavailable_page_in_bounded_time(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let (stalled, _task) = stalled_registry().await;
    let stopped = hookline_tests::ops::free_addr();
    for registry in [stalled, stopped] {
        let console = stack
            .console_with(|s| {
                s.console.registry_url = format!("http://{registry}");
                s.console.registry_timeout = Duration::from_secs(2);
            })
            .await;
        let browser = Browser::start(1280).await;
        // The sign-in needs no registry; the webhooks table it opens does.
        let shown = tokio::time::timeout(
            DEADLINE,
            browser.goto(&console.sign_in_link(&token(Some(ORG), &[Role::OrgAdmin], &[]))),
        )
        .await;
        assert!(shown.is_ok(), "the page for {registry} was still loading");
        assert_eq!(browser.text("h1").await, "Unavailable", "{registry}");
        assert!(
            browser.text("main").await.contains("Try again"),
            "{registry}"
        );
    }
}
