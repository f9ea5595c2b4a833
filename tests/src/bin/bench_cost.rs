//! `hookline-bench-cost [WORKERS]`: what a delivery costs, with the real binaries as processes of their
//! own (registry, ingest, WORKERS delivery workers) and the load generator and receiver in this one.
//!
//! For steady rates, saturation (fan-out 1) and fan-out 100, it prints per delivery: the workers' CPU,
//! the whole machine's CPU, PostgreSQL transactions (those that wrote, and all), new connections to the
//! endpoint, and the workers' memory; with latency at the steady rates and deliveries per second beside
//! a raw RabbitMQ one-hop baseline taken in the same run.
//!
//! `BENCH_PROFILE=<file>` records the workers with `perf` during the saturation phase (`make profile`).

use std::time::{Duration, Instant};

use hookline_runtime::prometheus::DIRECT_ATTEMPTS;
use hookline_tests::bench::{
    BenchDb, LatencyReceiver, Pipeline, publish_burst, publish_steadily, quantile_ms,
    take_publish_calls, wait_until_delivering,
};
use hookline_tests::cost::{Cost, Reading, memory_mib};
use hookline_tests::raw_broker;
use sqlx::PgPool;

/// The steady rates (events a second, one webhook each) and how long each lasts.
const RATES: [u64; 3] = [200, 500, 1_000];
const STEADY_SECONDS: u64 = 10;
/// How long each steady rate runs unmeasured first.
const WARM_UP_SECONDS: u64 = 2;
/// How long the pipeline is watched with nothing to do.
const IDLE_SECONDS: u64 = 5;
/// Events published at once for saturation (fan-out 1), and for fan-out 100.
const SATURATION_EVENTS: usize = 40_000;
const FANOUT: usize = 100;
const FANOUT_EVENTS: usize = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    BenchDb::around(run).await
}

async fn run(db: &BenchDb) -> anyhow::Result<()> {
    let workers = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |phase: &str| only.is_empty() || only == phase;
    let settings = db.settings(&[])?;
    println!("baseline: raw RabbitMQ one hop, persistent, confirms and acks");
    let baseline = raw_broker::one_hop(&settings, &db.prefix).await?;
    println!("  {baseline:.0} msg/s");

    println!(
        "pipeline: {workers} worker process(es), registry and ingest in processes of their own"
    );
    let fanout = FANOUT.to_string();
    let overrides = [(
        "HOOKLINE__REGISTRY__MAX_WEBHOOKS_PER_ORGANISATION",
        fanout.as_str(),
    )];
    let pipeline = Pipeline::spawn(db, &overrides, workers).await?;
    let receiver = LatencyReceiver::start(Duration::ZERO).await?;
    pipeline.webhook("org_bench", &receiver.url).await?;
    wait_until_delivering(&pipeline.ingest, &receiver).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await?;
    let bench = Bench {
        pids: pipeline.worker_pids(),
        pool,
        receiver,
    };
    let mut rows = Vec::new();

    // What the pipeline costs with nothing to do, beside which the low rates' costs are read.
    let idle = Reading::take(&bench.pids, &bench.pool).await?;
    tokio::time::sleep(Duration::from_secs(IDLE_SECONDS)).await;
    let idle = idle.cost_until(&Reading::take(&bench.pids, &bench.pool).await?, 1);
    println!(
        "idle: workers {:.1} % of a core, machine {:.1} % of a core",
        idle.process_us / idle.seconds / 1e4,
        idle.machine_us / idle.seconds / 1e4
    );

    if runs("steady") {
        for rate in RATES {
            println!("steady: {rate} events/s for {STEADY_SECONDS} s, fan-out 1");
            // Unmeasured: the endpoint's connections and the pools settle at the new rate first.
            let arrived = bench.receiver.count();
            let warm = publish_steadily(&pipeline.ingest, "org_bench", rate, WARM_UP_SECONDS).await;
            let arrived = arrived + warm;
            bench
                .receiver
                .wait_for(arrived, Duration::from_secs(60))
                .await?;
            let (cost, connections, latency) = bench
                .phase(|| async {
                    publish_steadily(&pipeline.ingest, "org_bench", rate, STEADY_SECONDS).await
                })
                .await?;
            let row = Row::new(format!("{rate}/s, fan-out 1"), cost, connections, &bench)?;
            rows.push(row.with_latency(latency).print(baseline));
        }
    }
    if runs("saturation") {
        println!(
            "saturation: {SATURATION_EVENTS} events at once (PublishEvents, 1,000 a call), fan-out 1"
        );
        let direct = pipeline.metric(DIRECT_ATTEMPTS).await;
        let profile = Profile::start(&bench.pids)?;
        let (cost, connections, _) = bench
            .phase(|| async {
                publish_burst(&pipeline.ingest, "org_bench", SATURATION_EVENTS)
                    .await
                    .expect("the burst is accepted");
                SATURATION_EVENTS
            })
            .await?;
        profile.stop().await?;
        // How many took one broker hop: the rest crossed the deliveries queue as well.
        let direct = pipeline.metric(DIRECT_ATTEMPTS).await - direct;
        println!(
            "  first attempts made by the fan-out itself (one hop): {direct:.0} of {SATURATION_EVENTS}"
        );
        let row = Row::new("saturation, fan-out 1".into(), cost, connections, &bench)?;
        rows.push(row.print(baseline));
    }
    if runs("fanout") {
        println!("fan-out: {FANOUT_EVENTS} events at once to {FANOUT} webhooks");
        for n in 0..FANOUT {
            pipeline
                .webhook("org_fanout", &format!("{}?n={n}", bench.receiver.url))
                .await?;
        }
        let (cost, connections, _) = bench
            .phase(|| async {
                publish_burst(&pipeline.ingest, "org_fanout", FANOUT_EVENTS)
                    .await
                    .expect("the burst is accepted");
                FANOUT_EVENTS * FANOUT
            })
            .await?;
        let row = Row::new(
            format!("saturation, fan-out {FANOUT}"),
            cost,
            connections,
            &bench,
        )?;
        rows.push(row.print(baseline));
    }
    pipeline.stop().await?;

    println!();
    println!("baseline: raw RabbitMQ one hop {baseline:.0} msg/s; {workers} worker(s)");
    println!(
        "| phase | deliveries/s | ÷ baseline | p50 / p99 | worker CPU per delivery | machine CPU per delivery | PostgreSQL writes / all transactions per delivery | new connections per 100 deliveries | worker RSS now / peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", row.markdown(baseline));
    }
    Ok(())
}

/// What every phase needs: the workers to measure, the database to count, the endpoint.
struct Bench {
    pids: Vec<u32>,
    pool: PgPool,
    receiver: LatencyReceiver,
}

impl Bench {
    /// Runs `load` (which returns how many deliveries it asked for), waits for them all, and returns
    /// their cost, the connections the endpoint accepted, and the latencies of those that carried a
    /// timestamp (µs).
    async fn phase<F, Fut>(&self, load: F) -> anyhow::Result<(Cost, usize, Vec<u64>)>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = usize>,
    {
        self.receiver.take_latencies();
        take_publish_calls();
        let (count, connections) = (self.receiver.count(), self.receiver.connections());
        let before = Reading::take(&self.pids, &self.pool)
            .await?
            .settled(&self.pool)
            .await?;
        let started = Instant::now();
        let deliveries = load().await;
        self.receiver
            .wait_for(count + deliveries, Duration::from_secs(600))
            .await?;
        let received_in = started.elapsed();
        let after = Reading::take(&self.pids, &self.pool)
            .await?
            .settled(&self.pool)
            .await?;
        let mut cost = before.cost_until(&after, deliveries);
        // The phase lasted until the last delivery arrived, not until the counters settled; CPU was
        // read at once.
        cost.seconds = received_in.as_secs_f64();
        Ok((
            cost,
            self.receiver.connections() - connections,
            self.receiver.take_latencies(),
        ))
    }
}

/// One line of the table.
struct Row {
    phase: String,
    cost: Cost,
    connections: usize,
    latency: Option<(f64, f64)>,
    /// The first worker's resident set now and at its peak, MiB.
    memory: (f64, f64),
}

impl Row {
    fn new(phase: String, cost: Cost, connections: usize, bench: &Bench) -> anyhow::Result<Self> {
        let memory = memory_mib(*bench.pids.first().expect("a worker"))?;
        Ok(Self {
            phase,
            cost,
            connections,
            latency: None,
            memory,
        })
    }

    fn with_latency(self, latencies: Vec<u64>) -> Self {
        let latency = Some((quantile_ms(&latencies, 0.5), quantile_ms(&latencies, 0.99)));
        Self { latency, ..self }
    }

    /// Prints the row as soon as it is measured, so a later phase's failure loses nothing.
    fn print(self, baseline: f64) -> Self {
        println!("  {}", self.markdown(baseline));
        self
    }

    fn markdown(&self, baseline: f64) -> String {
        let Cost {
            deliveries,
            seconds,
            process_us,
            machine_us,
            writes,
            commits,
        } = self.cost;
        let rate = deliveries as f64 / seconds;
        let latency = self.latency.map_or("–".to_owned(), |(p50, p99)| {
            format!("{p50:.1} / {p99:.1} ms")
        });
        format!(
            "| {} | {rate:.0} | {:.2} | {latency} | {process_us:.0} µs | {machine_us:.0} µs | {writes:.2} / {commits:.2} | {:.2} | {:.0} / {:.0} MiB |",
            self.phase,
            rate / baseline,
            self.connections as f64 * 100.0 / deliveries as f64,
            self.memory.0,
            self.memory.1,
        )
    }
}

/// `perf record` of the whole machine during the saturation phase, when `BENCH_PROFILE` names the file
/// to write; the workers' process ids go beside it (`<file>.pids`), for the report to pick them out.
///
/// The whole machine, not `-p <workers>`: recording processes whose threads come and go made perf 6.1
/// spin here (10.5 million wake-ups in one run, a core of its own, and 985 samples where the machine-wide
/// recording of the same phase took 5,887 without slowing it). Machine-wide recording needs root or
/// `perf_event_paranoid` ≤ 0.
struct Profile(Option<tokio::process::Child>);

impl Profile {
    fn start(pids: &[u32]) -> anyhow::Result<Self> {
        let Ok(file) = std::env::var("BENCH_PROFILE") else {
            return Ok(Self(None));
        };
        let pids: Vec<_> = pids.iter().map(u32::to_string).collect();
        std::fs::write(format!("{file}.pids"), pids.join(","))?;
        let child = tokio::process::Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "250",
                // Frame pointers (`make profile` builds with them): whole stacks, so costs can be read
                // inclusively. DWARF unwinding lost most stacks through glibc and the kernel.
                "--call-graph",
                "fp",
                "-a",
            ])
            .args(["-o", &file])
            .spawn()?;
        Ok(Self(Some(child)))
    }

    /// Stops the recording (perf writes its file on SIGINT).
    async fn stop(self) -> anyhow::Result<()> {
        let Some(mut child) = self.0 else {
            return Ok(());
        };
        let pid = child.id().expect("perf is running").to_string();
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()?;
        child.wait().await?;
        Ok(())
    }
}
