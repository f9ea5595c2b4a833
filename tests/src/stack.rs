//! The whole pipeline in-process: registry, ingest and a delivery worker, isolated by a fresh database
//! (from `#[sqlx::test]`) and a random queue prefix.

use std::time::Duration;

use crate::auth::{IngestClient, RegistryClient, ingest_client, registry_client};
use hookline_proto::v1;
use hookline_runtime::config::Settings;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use crate::broker::{delete_queues, message_count};

/// The defaults every test stack overrides: local ports, plain HTTP receivers, and a retry schedule in
/// seconds instead of minutes.
pub const TEST_ENV: &[(&str, &str)] = &[
    ("HOOKLINE__REGISTRY__GRPC_LISTEN", "127.0.0.1:0"),
    ("HOOKLINE__REGISTRY__HTTP_LISTEN", "127.0.0.1:0"),
    ("HOOKLINE__INGEST__GRPC_LISTEN", "127.0.0.1:0"),
    ("HOOKLINE__INGEST__HTTP_LISTEN", "127.0.0.1:0"),
    ("HOOKLINE__DELIVERY__HTTP_LISTEN", "127.0.0.1:0"),
    ("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "true"),
    // Test receivers listen on loopback, which deliveries may otherwise never reach.
    ("HOOKLINE__ENDPOINTS__ALLOWED_CIDRS", "127.0.0.1/32"),
    // Tests register more webhooks per organisation than production's default of five.
    ("HOOKLINE__REGISTRY__MAX_WEBHOOKS_PER_ORGANISATION", "100"),
    // A fixed master key: tests need one, and nothing they seal outlives them.
    (
        "HOOKLINE__SECRETS__MASTER_KEYS",
        "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ),
    ("HOOKLINE__DELIVERY__RETRY_SCHEDULE", "1s,2s"),
    ("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "2s"),
    ("HOOKLINE__SHUTDOWN_GRACE", "5s"),
    ("HOOKLINE__LOG__FILTER", "warn"),
    (
        "HOOKLINE__AUTH__HS256_SECRET",
        crate::auth::TEST_HS256_SECRET,
    ),
];

/// A running pipeline. Everything stops when it is dropped.
pub struct Stack {
    pub settings: Settings,
    pub pool: PgPool,
    /// Clients acting as a super_admin, who may do anything in any organisation it names.
    pub registry: RegistryClient,
    pub ingest: IngestClient,
    /// The raw channels, for health and reflection clients.
    pub registry_channel: Channel,
    pub ingest_channel: Channel,
    /// The gRPC addresses of the registry and ingest (for clients outside the process, like the CLI).
    pub registry_addr: std::net::SocketAddr,
    pub ingest_addr: std::net::SocketAddr,
    /// The HTTP (health and metrics) addresses of the registry and ingest.
    pub registry_ops: std::net::SocketAddr,
    pub ingest_ops: std::net::SocketAddr,
    /// Environment that reproduces `settings` for a worker started as a separate process.
    pub env: Vec<(String, String)>,
    shutdown: CancellationToken,
}

impl Drop for Stack {
    /// Stops the services and deletes the stack's queues, so test runs do not pile up quorum queues on
    /// the shared broker. The services run on the test's runtime, which this blocks, so none of them can
    /// declare a queue again while it is being deleted.
    fn drop(&mut self) {
        self.shutdown.cancel();
        let settings = self.settings.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(delete_queues(&settings))
        });
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!(
                "could not delete the test queues of {}: {error}",
                self.settings.amqp.prefix
            );
        }
    }
}

/// The URL of the database `pool` is connected to, on the server named by `DATABASE_URL`.
pub fn database_url(pool: &PgPool) -> String {
    let base =
        std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests (see the Makefile)");
    let name = pool
        .connect_options()
        .get_database()
        .expect("test pools name their database")
        .to_owned();
    with_database(&base, &name)
}

/// `url` naming database `name` instead, with its parameters (`?sslmode=…`) kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let server = path.rsplit_once('/').map_or(path, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Test settings for `pool`, with `overrides` (`HOOKLINE__…` pairs) applied last.
pub fn test_env(pool: &PgPool, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(String, String)> = TEST_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("HOOKLINE__AMQP__PREFIX".into(), prefix));
    env.push(("HOOKLINE__DATABASE__URL".into(), database_url(pool)));
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

impl Stack {
    /// Starts registry, ingest and one delivery worker with the test settings.
    pub async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, &[]).await
    }

    /// Like [`Stack::start`], with setting overrides.
    pub async fn start_with(pool: PgPool, overrides: &[(&str, &str)]) -> Self {
        let mut stack = Self::without_worker(pool, overrides).await;
        stack.spawn_worker();
        stack
    }

    /// Registry and ingest only; start workers with [`Stack::spawn_worker`] or as processes.
    pub async fn without_worker(pool: PgPool, overrides: &[(&str, &str)]) -> Self {
        let env = test_env(&pool, overrides);
        let settings = Settings::load_from(None, env.clone()).expect("test settings are valid");
        // Tests never export spans unless the developer points OTEL_EXPORTER_OTLP_ENDPOINT somewhere.
        drop(
            hookline_runtime::telemetry::init("hookline-tests", &settings.log).expect("telemetry"),
        );
        let shutdown = CancellationToken::new();

        let registry = hookline_registry::Registry::build(&settings, pool.clone())
            .await
            .expect("registry binds");
        let registry_addr = registry.listeners().grpc_addr();
        let registry_ops = registry.listeners().ops_addr();
        tokio::spawn(registry.run_until_stopped(shutdown.clone()));
        let ingest = hookline_ingest::Ingest::build(&settings)
            .await
            .expect("ingest binds");
        let ingest_addr = ingest.listeners().grpc_addr();
        let ingest_ops = ingest.listeners().ops_addr();
        tokio::spawn(ingest.run_until_stopped(shutdown.clone()));

        let registry_channel = connect(registry_addr).await;
        let ingest_channel = connect(ingest_addr).await;
        let admin = crate::auth::super_admin();
        let registry = registry_client(registry_channel.clone(), &admin);
        let ingest = ingest_client(ingest_channel.clone(), &admin);
        let stack = Self {
            settings,
            pool,
            registry,
            ingest,
            registry_channel,
            ingest_channel,
            registry_addr,
            ingest_addr,
            registry_ops,
            ingest_ops,
            env,
            shutdown,
        };
        stack.wait_until_ready().await;
        stack
    }

    /// A registry client that sends `token`.
    pub fn registry_as(&self, token: &str) -> RegistryClient {
        registry_client(self.registry_channel.clone(), token)
    }

    /// An ingest client that sends `token`.
    pub fn ingest_as(&self, token: &str) -> IngestClient {
        ingest_client(self.ingest_channel.clone(), token)
    }

    /// Starts another ingest replica with the stack's settings, as a super_admin's client; it stops with
    /// the stack.
    pub async fn another_ingest(&self) -> IngestClient {
        let ingest = hookline_ingest::Ingest::build(&self.settings)
            .await
            .expect("ingest binds");
        let addr = ingest.listeners().grpc_addr();
        tokio::spawn(ingest.run_until_stopped(self.shutdown.child_token()));
        let channel = connect(addr).await;
        serving(&channel, "hookline.v1.EventIngest").await;
        ingest_client(channel, &crate::auth::super_admin())
    }

    /// Starts another in-process delivery worker; returns the token that stops it.
    pub fn spawn_worker(&mut self) -> CancellationToken {
        let stop = self.shutdown.child_token();
        let settings = self.settings.clone();
        let pool = self.pool.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            let worker = hookline_delivery::Delivery::build(&settings, pool)
                .await
                .expect("worker binds");
            worker.run_until_stopped(token).await
        });
        stop
    }

    /// Ingest and the registry answer UNAVAILABLE for broker work until their connections are up; tests
    /// start once both report SERVING.
    async fn wait_until_ready(&self) {
        serving(&self.ingest_channel, "hookline.v1.EventIngest").await;
        serving(&self.registry_channel, "hookline.v1.WebhookRegistry").await;
    }

    /// Registers an enabled webhook of `organisation` for `event_types` at `url`; returns it and its secret.
    pub async fn webhook(
        &self,
        organisation: &str,
        url: &str,
        event_types: &[&str],
    ) -> (v1::Webhook, String) {
        self.create(webhook_request(organisation, url, event_types))
            .await
    }

    /// Registers `count` enabled webhooks of `organisation` for `job.completed`, all at `url`, so each
    /// event fans out to `count` deliveries to one receiver; returns their ids.
    pub async fn webhooks_at(&self, organisation: &str, url: &str, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(
                self.webhook(organisation, url, &["job.completed"])
                    .await
                    .0
                    .id,
            );
        }
        ids
    }

    /// Registers the webhook `request` describes; returns it and its secret.
    /// Records the secret made and any endpoint credentials for the scan after the run
    /// ([`crate::secret_scan`]).
    pub async fn create(&self, request: v1::CreateWebhookRequest) -> (v1::Webhook, String) {
        if let Some(secret) = crate::secret_scan::credentials(request.auth.as_ref()) {
            crate::secret_scan::record(&secret);
        }
        let response = self
            .registry
            .clone()
            .create_webhook(request)
            .await
            .expect("creating a webhook")
            .into_inner();
        crate::secret_scan::record(&crate::secret_scan::Secret::signing(
            "a webhook's signing secret",
            &response.secret,
        ));
        (
            response.webhook.expect("a created webhook"),
            response.secret,
        )
    }

    /// Publishes `data` as an event; returns its id.
    pub async fn publish(
        &self,
        organisation: &str,
        event_type: &str,
        data: serde_json::Value,
    ) -> String {
        self.ingest
            .clone()
            .publish_event(publish_request(organisation, event_type, data))
            .await
            .expect("publishing an event")
            .into_inner()
            .event_id
    }

    /// Publishes `count` `job.completed` events (`{"n": 0…}`) in one `PublishEvents` call; returns their
    /// ids, each one checked accepted.
    pub async fn publish_batch(&self, organisation: &str, count: usize) -> Vec<String> {
        let events = (0..count)
            .map(|n| publish_request(organisation, "job.completed", serde_json::json!({"n": n})))
            .collect();
        let results = self
            .ingest
            .clone()
            .publish_events(v1::PublishEventsRequest { events })
            .await
            .expect("a batch")
            .into_inner()
            .results;
        assert!(
            results
                .iter()
                .all(|r| r.code == 0 && !r.event_id.is_empty()),
            "every event accepted"
        );
        results.into_iter().map(|r| r.event_id).collect()
    }

    /// A fresh broker connection, for inspecting queues.
    pub async fn broker(&self) -> lapin::Channel {
        let connection = hookline_runtime::amqp::connect(&self.settings.amqp.url, "hookline-tests")
            .await
            .expect("broker");
        connection.create_channel().await.expect("channel")
    }

    /// Publishes `body` to the events exchange as `organisation`'s, bypassing ingest and its checks: a
    /// message that only a faulty or hostile producer would send. Returns once the broker confirmed it.
    pub async fn publish_raw_event(&self, organisation: &str, body: &[u8]) {
        let connection = hookline_runtime::amqp::connect(&self.settings.amqp.url, "hookline-tests")
            .await
            .expect("broker");
        let channel = hookline_runtime::amqp::confirmed_channel(&connection)
            .await
            .expect("channel");
        let topology = self.topology();
        hookline_runtime::amqp::publish_traced(
            &channel,
            &topology.events_exchange(),
            &topology.event_routing_key(organisation),
            body,
            "raw",
            Default::default(),
        )
        .await
        .expect("the broker confirms the raw event");
        let _ = connection.close(200, "done".into()).await;
    }

    pub fn topology(&self) -> hookline_runtime::topology::Topology {
        self.settings.topology()
    }
}

/// A delivery's attempt log as (attempt number, response status) pairs, oldest first.
pub fn attempt_statuses(delivery: &v1::GetDeliveryResponse) -> Vec<(u32, u32)> {
    delivery
        .attempts
        .iter()
        .map(|a| (a.attempt, a.response_status))
        .collect()
}

/// Waits until `service` behind `channel` reports SERVING.
pub async fn serving(channel: &Channel, service: &str) {
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    crate::eventually(
        &format!("{service} to be ready"),
        Duration::from_secs(30),
        || {
            let mut health = health.clone();
            async move {
                let request = tonic_health::pb::HealthCheckRequest {
                    service: service.into(),
                };
                let status = health.check(request).await.ok()?.into_inner().status;
                let serving =
                    tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
                (status == serving).then_some(())
            }
        },
    )
    .await;
}

/// A request for an enabled webhook with no endpoint authentication.
pub fn webhook_request(
    organisation: &str,
    url: &str,
    event_types: &[&str],
) -> v1::CreateWebhookRequest {
    v1::CreateWebhookRequest {
        organisation_id: organisation.into(),
        name: "test webhook".into(),
        url: url.into(),
        description: String::new(),
        status: v1::WebhookStatus::Enabled.into(),
        event_types: event_types.iter().map(|t| t.to_string()).collect(),
        auth: None,
        event_versions: Default::default(),
        rate_limit: 0,
    }
}

/// A `PublishEventRequest` carrying `data` (a JSON object) as its Struct.
pub fn publish_request(
    organisation: &str,
    event_type: &str,
    data: serde_json::Value,
) -> v1::PublishEventRequest {
    let serde_json::Value::Object(map) = data else {
        panic!("event data must be a JSON object")
    };
    v1::PublishEventRequest {
        organisation_id: organisation.into(),
        event_type: event_type.into(),
        data: Some(hookline_core::json_struct::from_json(map)),
        idempotency_key: String::new(),
        occurred_at: None,
        version: 0,
        versions: Vec::new(),
    }
}

/// A gRPC channel to a local service.
pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid endpoint")
        .connect()
        .await
        .expect("connecting to a local service")
}

/// Starts `hookline-delivery` as a separate process with `env`. It is killed when the handle drops.
pub fn spawn_worker_process(env: &[(String, String)]) -> tokio::process::Child {
    binary("hookline-delivery", env)
        .spawn()
        .expect("starting hookline-delivery")
}

/// Where the workspace's binary `name` is: `target/<profile>/`, beside a binary of this crate or one
/// folder above the test executables (`deps/`).
pub fn binary_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the executable's path");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|bin| bin.exists())
        .unwrap_or_else(|| {
            panic!("target/<profile>/{name} exists: run `cargo build --bins` (make test does)")
        })
}

/// A command running one of the workspace's binaries with exactly `env`. The binaries are built by
/// `make test` (`cargo build --bins`) next to the test executables. Its output goes to a file of its
/// own among the run's logs (scanned for secrets after the run), unless the caller takes it.
pub fn binary(name: &str, env: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary_path(name));
    command
        .env_clear()
        .envs(env.iter().cloned())
        .kill_on_drop(true);
    let (log, _) = crate::logs::file(name);
    command.stdout(log.try_clone().expect("a log file's handle"));
    command.stderr(log);
    command
}
