//! The fault suite (`make chaos`): the real binaries as processes (registry, ingest, two workers) on a
//! private PostgreSQL and a vhost of their own (or, for a broker node's failure, a private three-node
//! cluster), fed a steady load of events for two webhooks while a scenario's faults strike; then each
//! scenario is judged from outside (see [`verdict`]).

pub mod cluster;
pub mod endpoint;
pub mod faults;
pub mod fleet;
pub mod postgres;
pub mod producer;
pub mod verdict;
pub mod vhost;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use crate::secret_scan::{self, Secret};
use cluster::Cluster;
use endpoint::Endpoints;
use faults::{Fault, Targets};
use fleet::Fleet;
use hookline_proto::v1;
use hookline_proto::v1::endpoint_auth::Method;
use postgres::PrivatePostgres;
use verdict::Verdict;
use vhost::Vhost;

/// The organisation every scenario publishes for.
const ORGANISATION: &str = "org_chaos";
/// The endpoints (paths) of the two webhooks every event goes to.
const HOOKS: [&str; 2] = ["a", "b"];
/// How long a scenario may take to deliver everything once its faults are over.
const DRAIN_DEADLINE: Duration = Duration::from_secs(180);
/// How often the drain is checked.
const POLL: Duration = Duration::from_millis(200);

/// One scenario: a load, and the fault that strikes during it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    /// How long the producer publishes.
    pub load: Duration,
    /// Events a second, and events per `PublishEvents` call.
    pub rate: u32,
    pub batch: usize,
    /// Whether each delivery's first request is answered 503 (so every delivery retries once).
    pub fail_first: bool,
    pub fault: Fault,
    /// How long after a failed attempt the next one must have started, at the latest (the schedule's
    /// delay included); `None` when the scenario makes no promise about it.
    pub retry_within: Option<Duration>,
    /// Settings of this scenario beside the suite's (`HOOKLINE__…` pairs).
    pub settings: &'static [(&'static str, &'static str)],
}

/// What every scenario shares: a private PostgreSQL, a vhost, the endpoints, and where logs go.
pub struct Suite {
    postgres: PrivatePostgres,
    vhost: Vhost,
    logs: PathBuf,
    workers: usize,
    runs: usize,
}

impl Suite {
    pub async fn start(workers: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let logs = exe
            .parent()
            .context("the binary's folder")?
            .join("chaos-logs");
        let _ = std::fs::remove_dir_all(&logs);
        Ok(Self {
            postgres: PrivatePostgres::start().await?,
            vhost: Vhost::create().await?,
            logs,
            workers,
            runs: 0,
        })
    }

    /// Where the services' logs of every scenario are.
    pub fn logs(&self) -> &std::path::Path {
        &self.logs
    }

    /// Runs `scenario` on a fresh database and queue prefix, and judges it.
    pub async fn run(&mut self, scenario: Scenario) -> anyhow::Result<Verdict> {
        self.runs += 1;
        let database = format!("chaos_{}", self.runs);
        let pool = self.database(&database).await?;
        let endpoints = Endpoints::start().await?;
        endpoints.fail_first_attempts(scenario.fail_first);
        let logs = self
            .logs
            .join(format!("{}-{}", self.runs, slug(scenario.name)));
        let cluster = match scenario.fault.needs_cluster() {
            true => Some(Cluster::start().await?),
            false => None,
        };
        let broker = cluster
            .as_ref()
            .map_or_else(|| self.vhost.amqp_url(), Cluster::amqp_url);
        let mut env = self.env(&database, broker);
        env.extend(
            scenario
                .settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut fleet = Fleet::start(env, self.workers, logs.clone()).await?;

        let (hooks, mut secrets) = register(&mut fleet, &endpoints).await?;
        secrets.extend(Self::configured_secrets(&fleet));

        let stop = CancellationToken::new();
        let call_started = Arc::new(tokio::sync::Notify::new());
        let producer = tokio::spawn(producer::publish(
            fleet.ingest.clone(),
            ORGANISATION.into(),
            scenario.rate,
            scenario.batch,
            stop.clone(),
            call_started.clone(),
        ));
        let load_ends = tokio::time::Instant::now() + scenario.load;
        let targets = Targets {
            fleet: &mut fleet,
            postgres: &self.postgres,
            vhost: &self.vhost,
            pool: &pool,
            cluster: cluster.as_ref(),
            call_started,
        };
        let injected = scenario.fault.inject(targets).await;
        tokio::time::sleep_until(load_ends).await;
        stop.cancel();
        let ledger = producer.await?;
        let faults_ended = Instant::now();
        injected.with_context(|| format!("injecting {:?}", scenario.fault))?;

        let deadline = Instant::now() + DRAIN_DEADLINE;
        while Instant::now() < deadline
            && !verdict::drained(&ledger, &HOOKS, &endpoints.receipts(), &pool).await
        {
            tokio::time::sleep(POLL).await;
        }
        let mut verdict = verdict::judge(
            scenario.name,
            ledger,
            &hooks,
            &endpoints.receipts(),
            &pool,
            faults_ended,
        )
        .await?;
        verdict.retry_within = scenario.retry_within;
        fleet.stop().await;
        drop(cluster);
        pool.close().await;
        verdict.leaks = secret_scan::leaks(&logs, &secrets)?;
        Ok(verdict)
    }

    /// The credentials of the services' settings and of the fleet's clients.
    fn configured_secrets(fleet: &Fleet) -> Vec<Secret> {
        let mut secrets = secret_scan::configured();
        secrets.push(Secret::plain("the super_admin token", &fleet.token));
        secrets
    }

    /// Creates `name` on the private server, migrated, and a small pool on it.
    async fn database(&self, name: &str) -> anyhow::Result<sqlx::PgPool> {
        let mut admin = sqlx::PgConnection::connect(&self.postgres.url("postgres")).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.postgres.url(name))
            .await?;
        hookline_store::MIGRATOR.run(&pool).await?;
        Ok(pool)
    }

    /// The services' settings for a scenario on `database` and the `broker` URL: the tests' own, with a
    /// fresh queue prefix and JSON logs.
    fn env(&self, database: &str, broker: String) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = crate::stack::TEST_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend(
            [
                ("HOOKLINE__AMQP__URL", broker),
                (
                    "HOOKLINE__AMQP__PREFIX",
                    format!("chaos-{}", uuid::Uuid::new_v4().simple()),
                ),
                ("HOOKLINE__DATABASE__URL", self.postgres.url(database)),
                ("HOOKLINE__LOG__FORMAT", "json".into()),
                ("HOOKLINE__LOG__FILTER", "info".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    }
}

/// Registers the two webhooks, one with Basic credentials and one with a secret header, each with a
/// fresh secret; returns each endpoint's webhook id, and every secret made.
async fn register(
    fleet: &mut Fleet,
    endpoints: &Endpoints,
) -> anyhow::Result<(HashMap<String, String>, Vec<Secret>)> {
    let methods = [
        Method::Basic(v1::BasicAuth {
            username: "chaos".into(),
            password: uuid::Uuid::new_v4().simple().to_string(),
        }),
        Method::Header(v1::HeaderAuth {
            name: "X-Chaos-Secret".into(),
            value: uuid::Uuid::new_v4().simple().to_string(),
        }),
    ];
    let mut secrets = Vec::new();
    let mut hooks = HashMap::new();
    for (hook, method) in HOOKS.into_iter().zip(methods) {
        let auth = v1::EndpointAuth {
            method: Some(method),
        };
        secrets.extend(secret_scan::credentials(Some(&auth)));
        // Created off and switched on once the endpoint trusts its secret, so the ping verifies too.
        let request = v1::CreateWebhookRequest {
            auth: Some(auth),
            status: v1::WebhookStatus::Disabled.into(),
            ..crate::stack::webhook_request(ORGANISATION, &endpoints.url(hook), &["job.completed"])
        };
        let created = fleet.registry.create_webhook(request).await?.into_inner();
        endpoints.trust(hook, &created.secret)?;
        let id = created
            .webhook
            .as_ref()
            .context("a created webhook")?
            .id
            .clone();
        fleet
            .registry
            .set_webhook_status(v1::SetWebhookStatusRequest {
                organisation_id: ORGANISATION.into(),
                id,
                status: v1::WebhookStatus::Enabled.into(),
            })
            .await?;
        secrets.push(Secret::signing(
            format!("webhook {hook}'s signing secret"),
            &created.secret,
        ));
        let webhook = created.webhook.context("a created webhook")?;
        hooks.insert(hook.to_owned(), webhook.id);
    }
    Ok((hooks, secrets))
}

/// `name` as a folder name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
