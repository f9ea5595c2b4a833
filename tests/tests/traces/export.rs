//! What a service does with spans it cannot export.

use super::*;

/// Spans that cannot be exported are not lost silently: with the collector unreachable, the service
/// says so in its log (the SDK's own warning), so an SRE looking for a missing trace finds why.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn an_unreachable_collector_is_reported_in_the_log(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let ingest_addr = free_addr().to_string();
    let mut env = stack.env.clone();
    env.extend([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            format!("http://{}", free_addr()),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("HOOKLINE__LOG__FORMAT".into(), "json".into()),
        ("HOOKLINE__LOG__FILTER".into(), "info".into()),
        ("HOOKLINE__INGEST__GRPC_LISTEN".into(), ingest_addr.clone()),
    ]);
    let mut ingest = binary("hookline-ingest", &env)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting hookline-ingest");
    let logs = capture(ingest.stdout.take().expect("piped stdout")).lines;
    let channel = listening(&ingest_addr).await;
    hookline_tests::stack::serving(&channel, "hookline.v1.EventIngest").await;
    hookline_tests::auth::ingest_client(channel, &hookline_tests::auth::super_admin())
        .publish_event(publish_request(ORG, "job.completed", serde_json::json!({})))
        .await
        .expect("publishing still works without a collector");

    let line = log_line(&logs, "a log line saying spans were not exported", |l| {
        l["name"] == "BatchSpanProcessor.ExportError"
    })
    .await;
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["target"], "opentelemetry_sdk", "{line}");
    let _ = ingest.start_kill();
}
