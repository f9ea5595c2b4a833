//! What the benchmarks share: a database of their own, settings, the pipeline in one process, and a
//! receiver that measures publish-to-receipt latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use hookline_proto::v1;
use hookline_runtime::amqp;
use hookline_runtime::config::Settings;
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use crate::auth::{IngestClient, RegistryClient};
use crate::stack::publish_request;

/// The instant `sentAt` counts from, shared by publishers and receivers of one process.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Microseconds since [`ORIGIN`].
pub fn now_us() -> u64 {
    ORIGIN.elapsed().as_micros() as u64
}

/// A `job.completed` event of `organisation` stamped with the time of its publication.
pub fn event(organisation: &str) -> v1::PublishEventRequest {
    publish_request(
        organisation,
        "job.completed",
        serde_json::json!({"jobId": "J-1", "sentAt": now_us(), "notes": "x".repeat(200)}),
    )
}

/// The `p` quantile (0..1) of `samples`, in milliseconds; `samples` are µs.
pub fn quantile_ms(samples: &[u64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default() as f64 / 1000.0
}

/// The worst latency (ms) of the events sent in each `interval` (µs) of a run, counted from the first:
/// when a tail happened. `samples` are (sent at, latency) in µs.
pub fn worst_by_interval(
    samples: &[(u64, u64)],
    interval: u64,
) -> std::collections::BTreeMap<u64, u64> {
    let first = samples.iter().map(|(at, _)| *at).min().unwrap_or_default();
    let mut worst = std::collections::BTreeMap::new();
    for (at, latency) in samples {
        let entry = worst.entry((at - first) / interval).or_insert(0);
        *entry = (*entry).max(*latency / 1000);
    }
    worst
}

/// A database created for one benchmark run and dropped after it.
pub struct BenchDb {
    pub prefix: String,
    pub url: String,
    admin: sqlx::PgConnection,
    name: String,
}

impl BenchDb {
    pub async fn create() -> anyhow::Result<Self> {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let name = prefix.replace('-', "_");
        let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
        let url = format!("{server}/{name}");
        let mut admin = sqlx::PgConnection::connect(&base)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        Ok(Self {
            prefix,
            url,
            admin,
            name,
        })
    }

    pub async fn drop(mut self) -> anyhow::Result<()> {
        let drop = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut self.admin)
            .await?;
        Ok(())
    }

    /// The benchmark settings: this database and prefix, loopback receivers allowed, every port chosen by
    /// the system; then any `HOOKLINE__…` variables of this process; then `overrides`.
    pub fn settings(&self, overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Ok(Settings::load_from(None, self.env(overrides))?)
    }

    /// The environment [`BenchDb::settings`] reads, for services started as processes.
    pub fn env(&self, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("HOOKLINE__AMQP__PREFIX", self.prefix.as_str()),
            ("HOOKLINE__DATABASE__URL", self.url.as_str()),
            ("HOOKLINE__DATABASE__MAX_CONNECTIONS", "20"),
            ("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "true"),
            ("HOOKLINE__ENDPOINTS__ALLOWED_CIDRS", "127.0.0.1/32"),
            ("HOOKLINE__LOG__FILTER", "warn"),
            (
                "HOOKLINE__AUTH__HS256_SECRET",
                crate::auth::TEST_HS256_SECRET,
            ),
            (
                "HOOKLINE__SECRETS__MASTER_KEYS",
                "bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("HOOKLINE__REGISTRY__GRPC_LISTEN", "127.0.0.1:0"),
            ("HOOKLINE__REGISTRY__HTTP_LISTEN", "127.0.0.1:0"),
            ("HOOKLINE__INGEST__GRPC_LISTEN", "127.0.0.1:0"),
            ("HOOKLINE__INGEST__HTTP_LISTEN", "127.0.0.1:0"),
            ("HOOKLINE__DELIVERY__HTTP_LISTEN", "127.0.0.1:0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // Settings from the environment (for experiments), then the scenario's own.
        env.extend(std::env::vars().filter(|(k, _)| k.starts_with("HOOKLINE__")));
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env
    }
}

/// How a benchmark runs the services: `hookline-bench… [WORKERS] [processes]`.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub workers: usize,
    /// The real binaries as processes of their own, instead of all in the benchmark's process.
    pub processes: bool,
}

impl Mode {
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self {
            workers: args.iter().find_map(|a| a.parse().ok()).unwrap_or(1),
            processes: args.iter().any(|a| a == "processes"),
        }
    }

    pub fn describe(&self) -> String {
        let place = if self.processes {
            "registry, ingest and each worker in processes of their own"
        } else {
            "every service in the benchmark's process"
        };
        format!("{} worker(s); {place}", self.workers)
    }

    /// Starts the pipeline on `db` with `overrides`, as this mode says.
    pub async fn start(
        &self,
        db: &BenchDb,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<Pipeline> {
        if self.processes {
            Pipeline::spawn(db, overrides, self.workers).await
        } else {
            Pipeline::start(&db.settings(overrides)?, self.workers).await
        }
    }
}

/// Registry, ingest and `workers` delivery workers, in this process or as processes of their own, with
/// super-admin clients.
pub struct Pipeline {
    pub registry: RegistryClient,
    pub ingest: IngestClient,
    pub settings: Settings,
    stop: CancellationToken,
    services: Vec<tokio::task::JoinHandle<Result<(), hookline_runtime::config::StartError>>>,
    /// The service processes, when not in this one (killed when dropped).
    processes: Vec<tokio::process::Child>,
    /// The workers' ops ports, when they are processes.
    worker_ops: Vec<std::net::SocketAddr>,
}

impl Pipeline {
    /// Starts the pipeline on `db`, migrated first.
    pub async fn start(settings: &Settings, workers: usize) -> anyhow::Result<Self> {
        // The pool the binaries make, so its sessions are set up as in production.
        let pool = hookline_store::db::lazy_pool(&settings.database)?;
        hookline_store::MIGRATOR.run(&pool).await?;
        let stop = CancellationToken::new();
        let registry = hookline_registry::Registry::build(settings, pool.clone()).await?;
        let registry_addr = registry.grpc_addr();
        let ingest = hookline_ingest::Ingest::build(settings).await?;
        let ingest_addr = ingest.grpc_addr();
        let mut services = vec![
            tokio::spawn(registry.run_until_stopped(stop.clone())),
            tokio::spawn(ingest.run_until_stopped(stop.clone())),
        ];
        for _ in 0..workers {
            let worker = hookline_delivery::Delivery::build(settings, pool.clone()).await?;
            services.push(tokio::spawn(worker.run_until_stopped(stop.clone())));
        }
        let admin = crate::auth::super_admin();
        let registry =
            crate::auth::registry_client(crate::stack::connect(registry_addr).await, &admin);
        let ingest = crate::auth::ingest_client(crate::stack::connect(ingest_addr).await, &admin);
        crate::stack::serving(
            &crate::stack::connect(ingest_addr).await,
            "hookline.v1.EventIngest",
        )
        .await;
        Ok(Self {
            registry,
            ingest,
            settings: settings.clone(),
            stop,
            services,
            processes: Vec::new(),
            worker_ops: Vec::new(),
        })
    }

    /// Starts the real binaries (next to this one) as processes: registry, ingest and `workers` workers,
    /// with `db`'s environment and `overrides`, on ports chosen here.
    pub async fn spawn(
        db: &BenchDb,
        overrides: &[(&str, &str)],
        workers: usize,
    ) -> anyhow::Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect(&db.url)
            .await?;
        hookline_store::MIGRATOR.run(&pool).await?;
        pool.close().await;
        let (registry_addr, ingest_addr) = (crate::ops::free_addr(), crate::ops::free_addr());
        let mut env = db.env(overrides);
        env.extend(
            [
                ("HOOKLINE__REGISTRY__GRPC_LISTEN", registry_addr.to_string()),
                (
                    "HOOKLINE__REGISTRY__HTTP_LISTEN",
                    crate::ops::free_addr().to_string(),
                ),
                ("HOOKLINE__INGEST__GRPC_LISTEN", ingest_addr.to_string()),
                (
                    "HOOKLINE__INGEST__HTTP_LISTEN",
                    crate::ops::free_addr().to_string(),
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let settings = Settings::load_from(None, env.clone())?;
        let mut processes = vec![
            sibling("hookline-registry", &env)?,
            sibling("hookline-ingest", &env)?,
        ];
        let mut worker_ops = Vec::new();
        for _ in 0..workers {
            let ops = crate::ops::free_addr();
            let mut worker_env = env.clone();
            worker_env.push(("HOOKLINE__DELIVERY__HTTP_LISTEN".into(), ops.to_string()));
            processes.push(sibling("hookline-delivery", &worker_env)?);
            worker_ops.push(ops);
        }
        let admin = crate::auth::super_admin();
        let registry = crate::ops::listening(&registry_addr.to_string()).await;
        let ingest = crate::ops::listening(&ingest_addr.to_string()).await;
        crate::stack::serving(&ingest, "hookline.v1.EventIngest").await;
        crate::stack::serving(&registry, "hookline.v1.WebhookRegistry").await;
        Ok(Self {
            registry: crate::auth::registry_client(registry, &admin),
            ingest: crate::auth::ingest_client(ingest, &admin),
            settings,
            stop: CancellationToken::new(),
            services: Vec::new(),
            processes,
            worker_ops,
        })
    }

    /// A metric summed over every worker: from this process's recorder, or from each worker process's
    /// `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        if self.worker_ops.is_empty() {
            return metric(
                hookline_runtime::prometheus::handle().render().as_str(),
                series,
            );
        }
        let mut sum = 0.0;
        for ops in &self.worker_ops {
            if let Some((_, text)) = crate::ops::get(*ops, "/metrics").await {
                sum += metric(&text, series);
            }
        }
        sum
    }

    /// Registers an enabled webhook of `organisation` for `job.completed` at `url`.
    pub async fn webhook(&self, organisation: &str, url: &str) -> anyhow::Result<v1::Webhook> {
        let request = crate::stack::webhook_request(organisation, url, &["job.completed"]);
        let created = self.registry.clone().create_webhook(request).await?;
        created.into_inner().webhook.context("a created webhook")
    }

    /// Stops every service, then deletes the deployment's queues.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        for service in self.services {
            let _ = service.await;
        }
        for process in &mut self.processes {
            let _ = process.kill().await;
        }
        let connection = amqp::connect(&self.settings.amqp.url, "hookline-bench").await?;
        let channel = connection.create_channel().await?;
        self.settings.topology().delete(&channel).await?;
        amqp::close_channel(channel).await;
        connection.close(200, "done".into()).await?;
        Ok(())
    }
}

/// An endpoint that answers after `delay`, counts requests, and keeps each delivery's latency from its
/// `sentAt`.
pub struct LatencyReceiver {
    pub url: String,
    state: ReceiverState,
}

#[derive(Clone)]
struct ReceiverState {
    count: Arc<AtomicUsize>,
    /// (sent at, latency), µs.
    latencies: Arc<Mutex<Vec<(u64, u64)>>>,
    delay: Duration,
}

impl LatencyReceiver {
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let state = ReceiverState {
            count: Arc::default(),
            latencies: Arc::default(),
            delay,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, state })
    }

    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::Relaxed)
    }

    /// The latencies (µs) recorded since the last call, which forgets them.
    pub fn take_latencies(&self) -> Vec<u64> {
        self.take_samples().into_iter().map(|(_, l)| l).collect()
    }

    /// Like [`LatencyReceiver::take_latencies`], with when each event was sent (µs since the origin).
    pub fn take_samples(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.state.latencies.lock().expect("latency lock"))
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.count() < n {
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {n} deliveries arrived",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

async fn receive(State(state): State<ReceiverState>, body: Bytes) -> &'static str {
    // Counted on arrival: a slow receiver's count is the requests it got.
    state.count.fetch_add(1, Ordering::Relaxed);
    let sent_at = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b["data"]["object"]["sentAt"].as_u64());
    if let Some(sent_at) = sent_at {
        let latency = now_us().saturating_sub(sent_at);
        let sample = (sent_at, latency);
        state.latencies.lock().expect("latency lock").push(sample);
    }
    // Latency is taken on arrival; a zero delay skips the timer, which would round up to the next
    // millisecond before answering.
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    "ok"
}

/// Publishes `organisation`'s events at `rate` per second for `seconds`, without waiting for each
/// answer; returns how many were published.
pub async fn publish_steadily(
    ingest: &IngestClient,
    organisation: &str,
    rate: u64,
    seconds: u64,
) -> usize {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let total = rate * seconds;
    for _ in 0..total {
        ticker.tick().await;
        let (ingest, request) = (ingest.clone(), event(organisation));
        tokio::spawn(async move {
            let started = now_us();
            let answer = ingest.clone().publish_event(request).await;
            PUBLISH_CALLS
                .lock()
                .expect("publish-call lock")
                .push(now_us() - started);
            answer
        });
    }
    total as usize
}

/// How long each `PublishEvent` call of [`publish_steadily`] took (µs), until taken.
static PUBLISH_CALLS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The publish-call durations (µs) recorded since the last call, which forgets them: the part of a
/// delivery's latency spent before ingest answered.
pub fn take_publish_calls() -> Vec<u64> {
    std::mem::take(&mut *PUBLISH_CALLS.lock().expect("publish-call lock"))
}

/// Publishes `count` events of `organisation` through `PublishEvents`, 1,000 a call, 4 calls at once.
pub async fn publish_burst(
    ingest: &IngestClient,
    organisation: &str,
    count: usize,
) -> anyhow::Result<()> {
    use futures_util::StreamExt as _;
    const BATCH: usize = 1_000;
    let calls = futures_util::stream::iter((0..count).step_by(BATCH))
        .map(|start| {
            let mut ingest = ingest.clone();
            let events = (start..count.min(start + BATCH))
                .map(|_| event(organisation))
                .collect();
            async move {
                ingest
                    .publish_events(v1::PublishEventsRequest { events })
                    .await
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for call in calls {
        let refused = call?
            .into_inner()
            .results
            .iter()
            .filter(|r| r.code != 0)
            .count();
        anyhow::ensure!(refused == 0, "{refused} burst events were refused");
    }
    Ok(())
}

/// The samples of the Prometheus `text` whose line starts with `series`, summed over their label sets.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Starts the workspace binary `name` that sits next to this executable, with exactly `env`.
fn sibling(name: &str, env: &[(String, String)]) -> anyhow::Result<tokio::process::Child> {
    let path = std::env::current_exe()?.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it beside the benchmark (cargo build --release --bins)",
        path.display()
    );
    Ok(tokio::process::Command::new(path)
        .env_clear()
        .envs(env.iter().cloned())
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()?)
}

/// Declares `queue` as a durable quorum queue, like every queue of the pipeline the baselines stand beside.
pub async fn declare_quorum(channel: &lapin::Channel, queue: &str) -> lapin::Result<()> {
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    let options = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel.queue_declare(queue.into(), options, args).await?;
    Ok(())
}
