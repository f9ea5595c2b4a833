//! Broker outages: when RabbitMQ drops the services' connections, they reconnect with backoff and
//! carry on, and nothing accepted is lost.

use std::time::Duration;

use hookline_proto::v1;
use hookline_tests::stack::publish_request;
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);
const ORG: &str = "org_acme";

/// Closes, from the broker's side, every connection whose client properties mention `fragment`.
async fn close_connections_mentioning(fragment: &str) -> usize {
    let listing = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs (RabbitMQ's CLI is installed with the broker)");
    let mut closed = 0;
    for line in String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| l.contains(fragment))
    {
        let pid = line.split('\t').next().expect("a pid column");
        let status = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test: broker-side close"])
            .status()
            .await
            .expect("rabbitmqctl close_connection");
        closed += usize::from(status.success());
    }
    closed
}

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
async fn services_reconnect_after_the_broker_drops_them_and_lose_nothing(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let first = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, DEADLINE).await;

    let closed = close_connections_mentioning(&stack.settings.amqp.prefix).await;
    assert!(
        closed >= 2,
        "closed the ingest and delivery connections, got {closed}"
    );

    // Ingest answers UNAVAILABLE until it has reconnected; a producer retries, as it would in production.
    let second = eventually("ingest to accept events again", DEADLINE, || async {
        let request = publish_request(ORG, "job.completed", serde_json::json!({"n": 2}));
        stack
            .ingest
            .clone()
            .publish_event(request)
            .await
            .ok()
            .map(|r| r.into_inner().event_id)
    })
    .await;
    let requests = receiver.wait_for(2, DEADLINE).await;
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        ids.contains(&first) && ids.contains(&second),
        "both events delivered: {ids:?}"
    );

    let deliveries = eventually("both deliveries to succeed", DEADLINE, || async {
        let all = stack.deliveries(ORG, &webhook.id).await;
        (all.len() == 2
            && all
                .iter()
                .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32))
        .then_some(all)
    })
    .await;
    assert_eq!(deliveries.len(), 2);
}

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
async fn workers_survive_postgresql_dropping_their_connections(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, DEADLINE).await;

    // PostgreSQL ends every other session of this test's database, as a restart would.
    let database = hookline_tests::stack::database_url(&pool);
    let name = database.rsplit('/').next().unwrap().to_owned();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!ended.is_empty(), "the services had connections to end");

    stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 2}))
        .await;
    receiver.wait_for(2, DEADLINE).await;
    eventually(
        "both deliveries to be recorded as succeeded",
        DEADLINE,
        || async {
            let all = stack.deliveries(ORG, &webhook.id).await;
            (all.len() == 2
                && all
                    .iter()
                    .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32))
            .then_some(())
        },
    )
    .await;
}

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
async fn a_worker_without_its_database_retries_instead_of_exiting(pool: PgPool) {
    let env = hookline_tests::stack::test_env(
        &pool,
        &[
            (
                "HOOKLINE__DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/nowhere",
            ),
            ("HOOKLINE__LOG__FORMAT", "json"),
        ],
    );
    let log = std::env::temp_dir().join(format!(
        "hookline-delivery-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    let out = std::fs::File::create(&log).unwrap();
    let mut worker = hookline_tests::stack::binary("hookline-delivery", &env)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("starting hookline-delivery");

    eventually("three retries with backoff", DEADLINE, || async {
        let text = std::fs::read_to_string(&log).ok()?;
        (text.matches("PostgreSQL unreachable; retrying").count() >= 3).then_some(())
    })
    .await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "still running, not crash-looping"
    );

    let pid = worker.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(DEADLINE, worker.wait())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        status.success(),
        "SIGTERM during the retries stops it cleanly: {status:?}"
    );
}
