//! What the benchmarks share: a database of their own, settings, the pipeline in one process, and a
//! receiver that measures publish-to-receipt latency.

use std::sync::LazyLock;
use std::time::Instant;

use anyhow::Context as _;
use hookline_proto::v1;
use hookline_runtime::amqp;
use hookline_runtime::config::Settings;
use hookline_store::db::Planning;
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use crate::auth::{IngestClient, RegistryClient};
pub use crate::load::{
    LatencyReceiver, publish_burst, publish_steadily, take_publish_calls, wait_until_delivering,
};
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
        let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into()
        });
        let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let name = prefix.replace('-', "_");
        let url = crate::stack::with_database(&base, &name);
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

    /// Runs `bench` on a database of its own, and drops the database whatever became of it.
    pub async fn around(
        bench: impl AsyncFnOnce(&BenchDb) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let db = Self::create().await?;
        let result = bench(&db).await;
        db.drop().await?;
        result
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
    /// The registry's gRPC address (for a console in front of it).
    pub registry_addr: std::net::SocketAddr,
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
        // The pools the binaries make, so their sessions are set up as in production.
        let pool = hookline_store::db::lazy_pool(&settings.database, Planning::Cached)?;
        hookline_store::MIGRATOR.run(&pool).await?;
        let stop = CancellationToken::new();
        let registry_pool = hookline_store::db::lazy_pool(&settings.database, Planning::EachRun)?;
        let registry = hookline_registry::Registry::build(settings, registry_pool).await?;
        let registry_addr = registry.listeners().grpc_addr();
        let ingest = hookline_ingest::Ingest::build(settings).await?;
        let ingest_addr = ingest.listeners().grpc_addr();
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
            registry_addr,
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
            registry_addr,
            ingest: crate::auth::ingest_client(ingest, &admin),
            settings,
            stop: CancellationToken::new(),
            services: Vec::new(),
            processes,
            worker_ops,
        })
    }

    /// The process ids of the workers, when they are processes of their own.
    pub fn worker_pids(&self) -> Vec<u32> {
        // Registry and ingest come first (`Pipeline::spawn`).
        self.processes
            .iter()
            .skip(2)
            .filter_map(|p| p.id())
            .collect()
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

/// The samples of the Prometheus `text` whose line starts with `series`, summed over their label sets.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Variables of the benchmark's own environment that reach the binaries it starts, so that runtime and
/// allocator settings can be compared without a rebuild (`TOKIO_WORKER_THREADS=1`, `_RJEM_MALLOC_CONF=…`).
const PASSED_THROUGH: [&str; 2] = ["TOKIO_WORKER_THREADS", "_RJEM_MALLOC_CONF"];

/// Starts the workspace binary `name` that sits next to this executable, with `env` and nothing else of
/// the benchmark's environment but [`PASSED_THROUGH`].
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
        .envs(
            PASSED_THROUGH
                .iter()
                .filter_map(|k| Some((*k, std::env::var(k).ok()?))),
        )
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
