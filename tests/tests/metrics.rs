//! Prometheus metrics on every service's `/metrics`: ingest outcomes by event type, delivery attempts by
//! status class, final outcomes, latency histograms, RPC counts by method and code, and queue depths with
//! the dead-letter queue and the age of its oldest letter.

use std::time::Duration;

use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

const ORG: &str = "org_metrics";

/// The value of the sample whose name and labels start with `series`, e.g.
/// `hookline_deliveries_total{outcome="failed"`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

/// `/metrics` of the service whose HTTP port is `addr`, over a plain HTTP/1.1 request.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, body) = hookline_tests::ops::get(addr, "/metrics")
        .await
        .expect("the ops port answers");
    assert_eq!(status, 200, "{body:.200}");
    body
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn metrics_show_outcomes_latencies_rpcs_and_the_dead_letter_queue(pool: PgPool) {
    let stack = Stack::start_with(pool, &[("HOOKLINE__REGISTRY__METRICS_INTERVAL", "200ms")]).await;
    let ok = Receiver::always(204).await;
    let broken = Receiver::always(503).await;
    stack.webhook(ORG, &ok.url(), &["job.completed"]).await;
    let (dead, _) = stack.webhook(ORG, &broken.url(), &["job.completed"]).await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-1"}))
        .await;
    let _ = stack
        .ingest
        .clone()
        .publish_event(hookline_tests::stack::publish_request(
            ORG,
            "job.exploded",
            serde_json::json!({}),
        ))
        .await
        .expect_err("an unknown type");
    stack
        .settled(
            ORG,
            &dead.id,
            hookline_proto::v1::DeliveryStatus::Failed,
            Duration::from_secs(20),
        )
        .await;

    let text = eventually(
        "the dead letter in the gauges",
        Duration::from_secs(20),
        || async {
            let text = scrape(stack.registry_ops).await;
            let depth = sample(&text, r#"hookline_queue_messages{queue="deliveries.dead"}"#)?;
            let age = sample(&text, "hookline_dead_letter_oldest_age_seconds")?;
            (depth >= 1.0 && age > 0.0).then_some(text)
        },
    )
    .await;
    let at_least = |series: &str, n: f64| {
        let value = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(value >= n, "{series} is {value}, expected at least {n}");
    };
    at_least(
        r#"hookline_ingest_events_total{event_type="job.completed",outcome="accepted"}"#,
        1.0,
    );
    at_least(
        r#"hookline_ingest_events_total{event_type="other",outcome="invalid_argument"}"#,
        1.0,
    );
    at_least(
        r#"hookline_delivery_attempts_total{outcome="success",status_class="2xx"}"#,
        1.0,
    );
    at_least(
        r#"hookline_delivery_attempts_total{outcome="failure",status_class="5xx"}"#,
        3.0,
    );
    at_least(r#"hookline_deliveries_total{outcome="succeeded"}"#, 1.0);
    at_least(r#"hookline_deliveries_total{outcome="failed"}"#, 1.0);
    at_least("hookline_delivery_attempt_duration_seconds_count", 4.0);
    // Durations are recorded as measured, not in whole milliseconds: the sum of a few loopback
    // attempts' durations is not a whole number of milliseconds.
    let sum = sample(&text, "hookline_delivery_attempt_duration_seconds_sum").expect("a sum");
    let millis = sum * 1000.0;
    assert!(
        (millis - millis.round()).abs() > 1e-6,
        "attempt durations of {sum} s in total: whole milliseconds"
    );
    at_least(
        r#"hookline_grpc_requests_total{service="hookline.v1.WebhookRegistry",method="CreateWebhook",code="ok"}"#,
        2.0,
    );
    at_least(
        r#"hookline_grpc_requests_total{service="hookline.v1.EventIngest",method="PublishEvent",code="invalid_argument"}"#,
        1.0,
    );
    at_least(
        r#"hookline_grpc_request_duration_seconds_bucket{service="hookline.v1.EventIngest",method="PublishEvent",le="+Inf"}"#,
        2.0,
    );
    for queue in [
        "events.0",
        "events.7",
        "events",
        "deliveries.3",
        "deliveries",
        "retry.1000ms",
        "retry.2000ms",
        "defer.1000ms",
        "defer.600000ms",
    ] {
        assert!(
            sample(
                &text,
                &format!(r#"hookline_queue_messages{{queue="{queue}"}}"#)
            )
            .is_some(),
            "{queue}"
        );
    }
    // No label carries an id or a URL.
    assert!(
        !text.contains(&dead.id) && !text.contains("127.0.0.1"),
        "{text}"
    );
    // Every service serves the same process-wide registry; ingest's port answers too.
    assert!(
        scrape(stack.ingest_ops)
            .await
            .contains("hookline_ingest_events_total")
    );
}
