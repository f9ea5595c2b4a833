//! Deliveries never reach private, loopback, link-local or metadata addresses unless allowlisted, whether
//! the URL names the address or a host that resolves to it. Refusals happen before any connection.

use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn non_public_addresses_are_refused_and_the_refusal_is_logged(pool: PgPool) {
    // No allowlist: loopback is as forbidden as any other private range.
    let stack = Stack::start_with(pool, &[("HOOKLINE__ENDPOINTS__ALLOWED_CIDRS", "")]).await;
    let receiver = Receiver::always(200).await;
    let port = receiver
        .url()
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .unwrap()
        .to_owned();

    let targets = [
        "http://10.0.0.1/hooks".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://127.0.0.1:{port}/hooks"),
        format!("http://[::1]:{port}/hooks"),
        format!("http://[::ffff:127.0.0.1]:{port}/hooks"),
        // Loopback written the ways URL parsers accept: decimal, hex, octal, shortened.
        format!("http://2130706433:{port}/hooks"),
        format!("http://0x7f.0.0.1:{port}/hooks"),
        format!("http://0177.0.0.1:{port}/hooks"),
        format!("http://127.1:{port}/hooks"),
        // Loopback inside IPv6: IPv4-compatible, NAT64 (well-known prefix), and 6to4.
        format!("http://[::127.0.0.1]:{port}/hooks"),
        format!("http://[64:ff9b::7f00:1]:{port}/hooks"),
        format!("http://[2002:7f00:1::1]:{port}/hooks"),
        // A name that resolves to loopback: refused by the resolver, after the lookup.
        format!("http://localhost:{port}/hooks"),
    ];
    let mut webhooks = Vec::new();
    for url in &targets {
        webhooks.push((url, stack.webhook(ORG, url, &["job.completed"]).await.0));
    }

    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;

    for (url, webhook) in webhooks {
        let refused = stack
            .settled(ORG, &webhook.id, v1::DeliveryStatus::Retrying, DEADLINE)
            .await;
        let attempt = &refused.attempts[0];
        assert_eq!(attempt.response_status, 0, "{url}: no response");
        assert!(
            attempt.error.contains("refused"),
            "{url}: {:?}",
            attempt.error
        );
        assert!(
            attempt.error.contains("non-public"),
            "{url}: {:?}",
            attempt.error
        );
    }
    assert_eq!(receiver.count(), 0, "nothing reached the loopback receiver");
}
