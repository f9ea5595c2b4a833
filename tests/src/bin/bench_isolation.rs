//! `hookline-bench-isolation`: what one customer's trouble costs the others, each figure beside the same
//! measure without the trouble, in the same run.
//!
//! - slow endpoint: X's endpoint never answers within the 3 s timeout and has a backlog of 10,000
//!   events; Y receives a steady 200 events/s. Y's p99 and throughput, alone and beside X.
//! - endpoint down: X's endpoint never answers within the 3 s timeout until its breaker opens, then
//!   receives a steady 500 events/s beside Y's 200 events/s. Y's p99 alone and beside X, and where X's
//!   tasks were deferred: by the fan-out (no deliveries-queue hop) or by the attempt stage. Beside it,
//!   Y beside Z's 500 events/s to a healthy endpoint: what that rate costs Y when nothing is wrong.
//! - organisation burst: A publishes 200,000 events at once; B publishes 100 events/s. B's p99, alone,
//!   while A's burst is published, and while A's backlog is delivered.
//! - poison: 1,000 events the database refuses, published straight to the broker among 1,000 good ones;
//!   every good one must arrive.

use std::time::{Duration, Instant};

use hookline_core::messages::EventMessage;
use hookline_runtime::amqp;
use hookline_tests::bench::{
    BenchDb, LatencyReceiver, Mode, Pipeline, publish_burst, publish_steadily, quantile_ms,
    take_publish_calls, worst_by_interval,
};

const STEADY_SECONDS: u64 = 15;
const SLOW_BACKLOG: usize = 10_000;
const Y_RATE: u64 = 200;
const X_DOWN_RATE: u64 = 500;
const BURST: usize = 200_000;
const B_RATE: u64 = 100;
const POISON: usize = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args();
    println!("{}", mode.describe());
    println!("| scenario | measure | value |");
    println!("|---|---|---|");
    // `BENCH_ONLY=slow|down|burst|poison` runs one scenario.
    let only = std::env::var("BENCH_ONLY").ok();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("slow") {
        slow_endpoint(mode).await?;
    }
    if run("down") {
        endpoint_down(mode).await?;
    }
    if run("burst") {
        organisation_burst(mode).await?;
    }
    if run("poison") {
        poison(mode).await?;
    }
    Ok(())
}

/// A steady flow to `receiver`'s organisation: its p50, p99 (ms) and delivered rate. Prints, when
/// `BENCH_TIMELINE` is set, each second's worst latency, to see when a tail happened.
async fn steady(
    pipeline: &Pipeline,
    receiver: &LatencyReceiver,
    organisation: &str,
    rate: u64,
) -> anyhow::Result<(f64, f64, f64)> {
    receiver.take_latencies();
    take_publish_calls();
    let before = receiver.count();
    let started = Instant::now();
    let total = publish_steadily(&pipeline.ingest, organisation, rate, STEADY_SECONDS).await;
    receiver
        .wait_for(before + total, Duration::from_secs(600))
        .await?;
    let delivered = total as f64 / started.elapsed().as_secs_f64();
    let samples = receiver.take_samples();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        let worst = worst_by_interval(&samples, 1_000_000);
        eprintln!("{organisation}: worst ms by second: {worst:?}");
        let calls = take_publish_calls();
        eprintln!(
            "{organisation}: PublishEvent calls p50 / p99: {:.1} / {:.1} ms",
            quantile_ms(&calls, 0.5),
            quantile_ms(&calls, 0.99)
        );
    }
    let latencies: Vec<u64> = samples.into_iter().map(|(_, l)| l).collect();
    Ok((
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        delivered,
    ))
}

fn row(scenario: &str, measure: &str, value: String) {
    println!("| {scenario} | {measure} | {value} |");
}

/// A pipeline whose attempts time out after 3 s, org_y's webhook at an endpoint that answers at once,
/// and org_x's at one that never answers in time. Both webhooks are registered.
async fn y_and_silent_x(
    mode: Mode,
) -> anyhow::Result<(BenchDb, Pipeline, LatencyReceiver, LatencyReceiver)> {
    let db = BenchDb::create().await?;
    let pipeline = mode
        .start(&db, &[("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "3s")])
        .await?;
    let y = LatencyReceiver::start(Duration::ZERO).await?;
    let x = LatencyReceiver::start(Duration::from_secs(60)).await?;
    pipeline.webhook("org_y", &y.url).await?;
    pipeline.webhook("org_x", &x.url).await?;
    Ok((db, pipeline, y, x))
}

async fn slow_endpoint(mode: Mode) -> anyhow::Result<()> {
    let (db, pipeline, y, x) = y_and_silent_x(mode).await?;
    steady(&pipeline, &y, "org_y", 50).await?; // warm-up

    let (p50, p99, rate) = steady(&pipeline, &y, "org_y", Y_RATE).await?;
    row(
        "slow endpoint",
        "Y alone: p50 / p99",
        format!("{p50:.1} / {p99:.1} ms"),
    );
    row(
        "slow endpoint",
        "Y alone: delivered",
        format!("{rate:.0}/s"),
    );
    let deferred_before = pipeline.metric("hookline_deliveries_deferred_total").await;
    publish_burst(&pipeline.ingest, "org_x", SLOW_BACKLOG).await?;
    // First while X's backlog is still being fanned out (its events' own burst), then beside the backlog
    // once it is recorded: the slow endpoint alone.
    let (p50a, p99a, _) = steady(&pipeline, &y, "org_y", Y_RATE).await?;
    row(
        "slow endpoint",
        "Y while X's 10,000 events arrive: p50 / p99",
        format!("{p50a:.1} / {p99a:.1} ms"),
    );
    let (p50x, p99x, ratex) = steady(&pipeline, &y, "org_y", Y_RATE).await?;
    row(
        "slow endpoint",
        "Y beside X's standing backlog: p50 / p99",
        format!("{p50x:.1} / {p99x:.1} ms"),
    );
    row(
        "slow endpoint",
        "Y beside X: delivered",
        format!("{ratex:.0}/s"),
    );
    row(
        "slow endpoint",
        "Y's p99 beside X ÷ alone",
        format!("{:.2}", p99x / p99),
    );
    row(
        "slow endpoint",
        "Y's rate beside X ÷ alone",
        format!("{:.2}", ratex / rate),
    );
    let deferred = pipeline.metric("hookline_deliveries_deferred_total").await - deferred_before;
    row(
        "slow endpoint",
        "X: deferrals, breaker openings",
        format!(
            "{deferred:.0}, {:.0}",
            pipeline
                .metric("hookline_circuit_breaker_transitions_total{to=\"open\"}")
                .await
        ),
    );
    row("slow endpoint", "X: requests sent", x.count().to_string());
    pipeline.stop().await?;
    db.drop().await
}

async fn endpoint_down(mode: Mode) -> anyhow::Result<()> {
    const SCENARIO: &str = "endpoint down";
    let (db, pipeline, y, x) = y_and_silent_x(mode).await?;
    let z = LatencyReceiver::start(Duration::ZERO).await?;
    pipeline.webhook("org_z", &z.url).await?;
    steady(&pipeline, &y, "org_y", 50).await?; // warm-up
    let (p50, p99, _) = steady(&pipeline, &y, "org_y", Y_RATE).await?;
    row(
        SCENARIO,
        "Y alone: p50 / p99",
        format!("{p50:.1} / {p99:.1} ms"),
    );
    // The same traffic to a healthy endpoint, for what X's rate costs Y whatever X's state.
    let (p50z, p99z, _) = beside(&pipeline, &y, "org_z").await?;
    row(
        SCENARIO,
        "Y beside Z's 500/s to a healthy endpoint: p50 / p99",
        format!("{p50z:.1} / {p99z:.1} ms"),
    );

    // Enough timeouts to open X's breaker (`delivery.breaker_failures`, 10 by default).
    publish_burst(&pipeline.ingest, "org_x", 20).await?;
    let opened = Instant::now();
    while pipeline.metric("hookline_circuit_breakers_open").await < 1.0 {
        anyhow::ensure!(
            opened.elapsed() < Duration::from_secs(120),
            "X's breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deferred = |stage: &'static str| {
        let pipeline = &pipeline;
        async move {
            pipeline
                .metric(&format!(
                    r#"hookline_deliveries_deferred_total{{reason="circuit_open",stage="{stage}"}}"#
                ))
                .await
        }
    };
    let (fanout_before, attempt_before) = (deferred("fanout").await, deferred("attempt").await);
    let requests_before = x.count();
    let (p50x, p99x, _) = beside(&pipeline, &y, "org_x").await?;
    row(
        SCENARIO,
        "Y beside X's 500/s behind its open breaker: p50 / p99",
        format!("{p50x:.1} / {p99x:.1} ms"),
    );
    row(
        SCENARIO,
        "Y's p99 beside X ÷ alone, ÷ beside Z",
        format!("{:.2}, {:.2}", p99x / p99, p99x / p99z),
    );
    let (fanout, attempt) = (
        deferred("fanout").await - fanout_before,
        deferred("attempt").await - attempt_before,
    );
    row(
        SCENARIO,
        "X: events published, deferred by the fan-out, deferred by the attempt stage",
        format!(
            "{}, {fanout:.0}, {attempt:.0}",
            X_DOWN_RATE * STEADY_SECONDS
        ),
    );
    row(
        SCENARIO,
        "X: requests meanwhile",
        (x.count() - requests_before).to_string(),
    );
    pipeline.stop().await?;
    db.drop().await
}

/// Y's steady flow (as [`steady`]) while `neighbour` publishes [`X_DOWN_RATE`] events a second.
async fn beside(
    pipeline: &Pipeline,
    y: &LatencyReceiver,
    neighbour: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let publishing = publish_steadily(&pipeline.ingest, neighbour, X_DOWN_RATE, STEADY_SECONDS);
    tokio::join!(steady(pipeline, y, "org_y", Y_RATE), publishing).0
}

async fn organisation_burst(mode: Mode) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let pipeline = mode.start(&db, &[]).await?;
    let a = LatencyReceiver::start(Duration::ZERO).await?;
    let b = LatencyReceiver::start(Duration::ZERO).await?;
    pipeline.webhook("org_a", &a.url).await?;
    pipeline.webhook("org_b", &b.url).await?;
    steady(&pipeline, &b, "org_b", 50).await?; // warm-up

    let (p50, p99, _) = steady(&pipeline, &b, "org_b", B_RATE).await?;
    row(
        "organisation burst",
        "B alone: p50 / p99",
        format!("{p50:.1} / {p99:.1} ms"),
    );
    let started = Instant::now();
    let burst = {
        let ingest = pipeline.ingest.clone();
        tokio::spawn(async move {
            publish_burst(&ingest, "org_a", BURST).await?;
            anyhow::Ok(started.elapsed())
        })
    };
    // First while A's events are being published, then while its backlog is drained: the first is
    // ingest's and the broker's fairness, the second the shards'.
    let (p50b, p99b, _) = steady(&pipeline, &b, "org_b", B_RATE).await?;
    let published = burst.await??;
    row(
        "organisation burst",
        "B while A's burst is published: p50 / p99",
        format!("{p50b:.1} / {p99b:.1} ms"),
    );
    row(
        "organisation burst",
        "B's p99 while A publishes ÷ alone",
        format!("{:.2}", p99b / p99),
    );
    row(
        "organisation burst",
        "A: 200,000 published in",
        format!("{:.1} s", published.as_secs_f64()),
    );
    if a.count() < BURST {
        let (p50d, p99d, _) = steady(&pipeline, &b, "org_b", B_RATE).await?;
        row(
            "organisation burst",
            "B while A's backlog drains: p50 / p99",
            format!("{p50d:.1} / {p99d:.1} ms"),
        );
        row(
            "organisation burst",
            "B's p99 while A's backlog drains ÷ alone",
            format!("{:.2}", p99d / p99),
        );
    }
    a.wait_for(BURST, Duration::from_secs(900)).await?;
    row(
        "organisation burst",
        "A: 200,000 delivered in",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    pipeline.stop().await?;
    db.drop().await
}

async fn poison(mode: Mode) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let pipeline = mode.start(&db, &[]).await?;
    let settings = pipeline.settings.clone();
    let good = LatencyReceiver::start(Duration::ZERO).await?;
    pipeline.webhook("org_p", &good.url).await?;

    let connection = amqp::connect(&settings.amqp.url, "hookline-bench").await?;
    let channel = amqp::confirmed_channel(&connection).await?;
    let topology = settings.topology();
    let started = Instant::now();
    for i in 0..2 * POISON {
        let note = if i % 2 == 0 { "fine" } else { "a\u{0}b" };
        let event = EventMessage {
            id: uuid::Uuid::now_v7(),
            organisation_id: "org_p".into(),
            event_type: "job.completed".into(),
            occurred_at: chrono::Utc::now(),
            version: 1,
            data: serde_json::json!({"objectType": "job", "jobId": "J", "note": note})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            webhook_id: None,
            versions: Default::default(),
        };
        let body = serde_json::to_vec(&event)?;
        amqp::publish_traced(
            &channel,
            &topology.events_exchange(),
            &topology.event_routing_key("org_p"),
            &body,
            &event.id.to_string(),
            Default::default(),
        )
        .await?;
    }
    good.wait_for(POISON, Duration::from_secs(600)).await?;
    row(
        "poison",
        "good events delivered beside 1,000 refused",
        format!(
            "{} of {POISON} in {:.1} s",
            good.count(),
            started.elapsed().as_secs_f64()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while pipeline.metric("hookline_messages_rejected_total").await < POISON as f64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    row(
        "poison",
        "set aside",
        format!(
            "{:.0}",
            pipeline.metric("hookline_messages_rejected_total").await
        ),
    );
    amqp::close_channel(channel).await;
    connection.close(200, "done".into()).await?;
    pipeline.stop().await?;
    db.drop().await
}
