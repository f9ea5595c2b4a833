//! `hookline-bench`: the whole pipeline (ingest → fan-out → attempt → local receiver) on this machine,
//! beside a baseline of raw RabbitMQ publish-with-confirm plus consume, measured in the same run.
//!
//! Prints deliveries per second at saturation, p50/p99 latency from the publish call to receipt at a
//! fixed moderate rate, and the ratio of saturation throughput to the baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hookline_proto::v1;
use hookline_runtime::amqp;
use hookline_runtime::config::Settings;
use hookline_tests::bench::{
    BenchDb, LatencyReceiver, Mode, event, publish_steadily, quantile_ms, take_publish_calls,
    wait_until_delivering, worst_by_interval,
};
use hookline_tests::raw_broker::{self, BASELINE_MESSAGES};
use hookline_tests::raw_latency;
use tokio_util::sync::CancellationToken;

/// Events published at saturation.
const SATURATION_EVENTS: usize = 20_000;
/// Concurrent `PublishEvent` calls at saturation.
const PUBLISHERS: usize = 256;
/// The fixed rate of the latency run, and how long it lasts.
const LATENCY_RATE: u64 = 1_000;
const LATENCY_SECONDS: u64 = 10;
/// Events in the batch-ingest run, per `PublishEvents` call, and calls in flight.
const BATCH_EVENTS: usize = 40_000;
const BATCH_SIZE: usize = 1_000;
const BATCH_CALLS: usize = 4;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    BenchDb::around(run).await
}

async fn run(db: &BenchDb) -> anyhow::Result<()> {
    let prefix = db.prefix.as_str();
    let settings = db.settings(&[])?;
    let telemetry = hookline_runtime::telemetry::init("hookline-bench", &settings.log)?;
    // `BENCH_ONLY=latency` runs the latency measurements alone (the raw floor and the pipeline's).
    let latency_only = std::env::var("BENCH_ONLY").is_ok_and(|only| only == "latency");
    let mut table = Vec::new();

    let mut baseline = 0.0;
    if !latency_only {
        println!(
            "baseline: raw RabbitMQ, {BASELINE_MESSAGES} persistent messages to a quorum queue, confirms and acks"
        );
        baseline = raw_broker::one_hop(&settings, prefix).await?;
        println!("  {baseline:.0} msg/s");
        table.push((
            "baseline: raw RabbitMQ confirmed publish + consume".to_string(),
            format!("{baseline:.0} msg/s"),
        ));
    }
    println!(
        "latency floor: raw RabbitMQ, {LATENCY_RATE} msg/s for {LATENCY_SECONDS}s through two confirmed hops"
    );
    let floor = raw_latency::two_hops(&settings, prefix, LATENCY_RATE, LATENCY_SECONDS).await?;
    let floor = (quantile_ms(&floor, 0.50), quantile_ms(&floor, 0.99));
    println!("  p50 {:.1} ms, p99 {:.1} ms", floor.0, floor.1);

    let mode = Mode::from_args();
    println!("pipeline: {}", mode.describe());
    let pipeline = mode.start(db, &[]).await?;
    let receiver = LatencyReceiver::start(Duration::ZERO).await?;
    pipeline.webhook("org_bench", &receiver.url).await?;
    let ingest = pipeline.ingest.clone();
    wait_until_delivering(&ingest, &receiver).await?;
    if !latency_only {
        saturation(&ingest, &receiver, baseline, &mut table).await?;
    }

    println!("latency: {LATENCY_RATE} events/s for {LATENCY_SECONDS}s, publish call to receipt");
    receiver.take_latencies();
    take_publish_calls();
    let before = receiver.count();
    let total = publish_steadily(&ingest, "org_bench", LATENCY_RATE, LATENCY_SECONDS).await;
    receiver
        .wait_for(before + total, Duration::from_secs(120))
        .await?;
    let samples = receiver.take_samples();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        let worst = worst_by_interval(&samples, 250_000);
        eprintln!("worst ms by quarter second: {worst:?}");
    }
    let latencies: Vec<u64> = samples.iter().map(|(_, latency)| *latency).collect();
    let calls = take_publish_calls();
    let pct = |p: f64| quantile_ms(&latencies, p);
    println!(
        "  p50 {:.1} ms, p99 {:.1} ms over {} deliveries; PublishEvent calls p50 {:.1} ms, p99 {:.1} ms",
        pct(0.50),
        pct(0.99),
        latencies.len(),
        quantile_ms(&calls, 0.50),
        quantile_ms(&calls, 0.99),
    );
    println!(
        "  deferred so far: {:.0}",
        pipeline.metric("hookline_deliveries_deferred_total").await
    );
    pipeline.stop().await?;

    if !latency_only {
        // Last, so the queues it fills (and deletes) cannot slow the pipeline runs above.
        println!(
            "batch ingest: {BATCH_EVENTS} events through PublishEvents ({BATCH_SIZE} a call, {BATCH_CALLS} calls in flight)"
        );
        let publish_baseline = raw_broker::publish_only(&settings, prefix, BATCH_EVENTS).await?;
        println!("  baseline: raw confirmed publishes, {publish_baseline:.0} msg/s");
        let batch_rate = batch_ingest_rate(&settings, prefix).await?;
        println!("  PublishEvents: {batch_rate:.0} events/s");
        table.push((
            "baseline: raw confirmed publishes, no consumer".into(),
            format!("{publish_baseline:.0} msg/s"),
        ));
        table.push((
            format!("batch ingest (PublishEvents, {BATCH_SIZE} a call)"),
            format!("{batch_rate:.0} events/s"),
        ));
        table.push((
            "batch ingest ÷ raw publishes".into(),
            format!("{:.2}", batch_rate / publish_baseline),
        ));
    }
    table.push((
        format!("latency floor: raw RabbitMQ, two confirmed hops at {LATENCY_RATE}/s, p50 / p99"),
        format!("{:.1} ms / {:.1} ms", floor.0, floor.1),
    ));
    table.push((
        format!("latency at {LATENCY_RATE}/s, p50 / p99"),
        format!("{:.1} ms / {:.1} ms", pct(0.50), pct(0.99)),
    ));
    table.push((
        "latency ÷ floor, p50 / p99".into(),
        format!("{:.2} / {:.2}", pct(0.50) / floor.0, pct(0.99) / floor.1),
    ));
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    for (measure, value) in &table {
        println!("| {measure} | {value} |");
    }
    telemetry.shutdown().await;
    Ok(())
}

/// Saturation: many callers publish every event at once; reports the rate they are delivered at, and its
/// ratio to the raw broker `baseline`.
async fn saturation(
    ingest: &hookline_tests::auth::IngestClient,
    receiver: &LatencyReceiver,
    baseline: f64,
    table: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    println!(
        "saturation: {SATURATION_EVENTS} events, {PUBLISHERS} concurrent PublishEvent calls, one webhook"
    );
    let before = receiver.count();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|_| {
            let (ingest, next) = (ingest.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < SATURATION_EVENTS {
                    ingest
                        .clone()
                        .publish_event(event("org_bench"))
                        .await
                        .expect("publish");
                }
            })
        })
        .collect();
    for p in publishers {
        p.await?;
    }
    let accepted_in = started.elapsed();
    receiver
        .wait_for(before + SATURATION_EVENTS, Duration::from_secs(300))
        .await?;
    let delivered_in = started.elapsed();
    let ingest_rate = SATURATION_EVENTS as f64 / accepted_in.as_secs_f64();
    let delivery_rate = SATURATION_EVENTS as f64 / delivered_in.as_secs_f64();
    println!("  ingest accepted {ingest_rate:.0} events/s");
    println!("  delivered {delivery_rate:.0} deliveries/s end to end");
    table.push((
        format!("ingest accepted (PublishEvent, {PUBLISHERS} concurrent)"),
        format!("{ingest_rate:.0} events/s"),
    ));
    table.push((
        "end to end at saturation".into(),
        format!("{delivery_rate:.0} deliveries/s"),
    ));
    table.push((
        "end to end ÷ baseline".into(),
        format!("{:.2}", delivery_rate / baseline),
    ));
    Ok(())
}

/// Events per second that `PublishEvents` accepts (broker-confirmed), with an ingest of its own whose
/// events queue nobody consumes, so that it is measured like the raw publishes beside it.
async fn batch_ingest_rate(settings: &Settings, prefix: &str) -> anyhow::Result<f64> {
    let mut settings = settings.clone();
    settings.amqp.prefix = format!("{prefix}-batch");
    let stop = CancellationToken::new();
    let ingest = hookline_ingest::Ingest::build(&settings).await?;
    let addr = ingest.listeners().grpc_addr();
    let service = tokio::spawn(ingest.run_until_stopped(stop.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let client = hookline_tests::auth::ingest_client(channel, &hookline_tests::auth::super_admin());
    let batch = || v1::PublishEventsRequest {
        events: (0..BATCH_SIZE).map(|_| event("org_bench")).collect(),
    };
    let accepted = |r: &v1::PublishEventsResponse| r.results.iter().all(|r| r.code == 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .clone()
        .publish_events(batch())
        .await
        .is_ok_and(|r| accepted(r.get_ref()))
    {
        anyhow::ensure!(Instant::now() < deadline, "batch ingest never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let calls = futures_util::stream::iter(0..BATCH_EVENTS / BATCH_SIZE)
        .map(|_| {
            let mut client = client.clone();
            async move { client.publish_events(batch()).await }
        })
        .buffer_unordered(BATCH_CALLS)
        .collect::<Vec<_>>()
        .await;
    let rate = BATCH_EVENTS as f64 / started.elapsed().as_secs_f64();
    for call in calls {
        anyhow::ensure!(accepted(call?.get_ref()), "a batch event was refused");
    }
    stop.cancel();
    let _ = service.await;
    let connection = amqp::connect(&settings.amqp.url, "hookline-bench").await?;
    let channel = connection.create_channel().await?;
    settings.topology().delete(&channel).await?;
    connection.close(200, "done".into()).await?;
    Ok(rate)
}
