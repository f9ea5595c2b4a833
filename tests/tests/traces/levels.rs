//! Log levels: a customer's endpoint failing is the platform working, so at the default level it writes
//! neither a WARN or ERROR line nor a line per attempt. Its attempts are DEBUG lines, and the platform's
//! own faults keep WARN and ERROR.

use super::*;

/// Deliveries that fail twice each (first attempt and one retry), then dead-letter.
const EVENTS: usize = 10;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_failing_endpoint_writes_no_warning_and_no_line_per_attempt(pool: PgPool) {
    let collector = Collector::start().await;
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::always(500).await;
    let webhook = enabled_without_ping(&stack, &receiver.url()).await;
    let traced = Traced::start_with(
        &stack,
        &collector,
        &[
            ("HOOKLINE__LOG__FILTER", "info"),
            ("HOOKLINE__DELIVERY__RETRY_SCHEDULE", "1s"),
            // The breaker would defer the retries for its cool-off; that is another test's subject.
            ("HOOKLINE__DELIVERY__BREAKER_FAILURES", "1000"),
        ],
    )
    .await;
    let mut ingest = traced.ingest.clone();
    for n in 0..EVENTS {
        ingest
            .publish_event(publish_request(
                ORG,
                "job.completed",
                serde_json::json!({ "n": n }),
            ))
            .await
            .expect("publishing");
    }
    eventually("every delivery to dead-letter", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries(ORG, &webhook.id).await;
        (deliveries.len() == EVENTS
            && deliveries
                .iter()
                .all(|d| d.status == hookline_proto::v1::DeliveryStatus::Failed as i32))
        .then_some(())
    })
    .await;
    assert_eq!(receiver.count(), 2 * EVENTS, "two attempts each");

    let lines: Vec<serde_json::Value> = traced
        .worker_lines()
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // The worker did log at INFO (so an empty capture cannot pass), and its stop is the last thing it
    // says.
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "shutdown signal received; finishing in-flight work"),
        "{lines:#?}"
    );
    let loud: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert_eq!(loud, Vec::<&serde_json::Value>::new(), "no WARN or ERROR");
    let per_delivery: Vec<_> = lines
        .iter()
        .filter(|l| l["spans"].as_array().is_some_and(|s| !s.is_empty()))
        .collect();
    assert_eq!(
        per_delivery,
        Vec::<&serde_json::Value>::new(),
        "no line about one delivery at INFO"
    );
}
