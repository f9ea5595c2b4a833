//! Broker outages: when RabbitMQ drops the services' connections, they reconnect with backoff and
//! carry on, and nothing accepted is lost.

use hookline_proto::v1;
use hookline_tests::ops::stops_cleanly;
use hookline_tests::stack::publish_request;
use hookline_tests::{DEADLINE, Receiver, Reply, Stack, eventually};
use hookline_tests::{LONG_DEADLINE, ORG};
use sqlx::PgPool;
use tokio::process::Command;

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

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn services_reconnect_after_the_broker_drops_them_and_lose_nothing(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let first = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;

    let closed = close_connections_mentioning(&stack.settings.amqp.prefix).await;
    assert!(
        closed >= 2,
        "closed the ingest and delivery connections, got {closed}"
    );

    // Ingest answers UNAVAILABLE until it has reconnected; a producer retries, as it would in production.
    let second = eventually("ingest to accept events again", LONG_DEADLINE, || async {
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
    let requests = receiver.wait_for(2, LONG_DEADLINE).await;
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        ids.contains(&first) && ids.contains(&second),
        "both events delivered: {ids:?}"
    );

    let deliveries = eventually("both deliveries to succeed", LONG_DEADLINE, || async {
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

/// A stage that stops by itself ends the connection's work, so the worker reconnects. Here the fan-out
/// stops because the broker returns its task as unroutable (the webhook's deliveries shard was unbound,
/// as an operator's mistake or a failed-over broker might leave it): no channel or connection error
/// says so, only the publish. The worker must reconnect, declare its topology again, and deliver the
/// event, rather than keep consuming deliveries with the fan-out dead and its events unacked while it
/// reports ready.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_stage_that_stops_makes_the_worker_reconnect(pool: PgPool) {
    // No direct attempts, so every task is published to the deliveries exchange.
    let stack = Stack::start_with(pool, &[("HOOKLINE__DELIVERY__DIRECT_ATTEMPTS", "0")]).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;

    let topology = stack.topology();
    let webhook_id = webhook.id.parse().unwrap();
    let mut binding = topology.delivery_headers(&webhook_id);
    binding.insert(
        "x-match".into(),
        lapin::types::AMQPValue::LongString("all".into()),
    );
    stack
        .broker()
        .await
        .queue_unbind(
            topology.deliveries_queue_of(&webhook_id).as_str().into(),
            topology.deliveries_exchange().as_str().into(),
            "".into(),
            binding,
        )
        .await
        .expect("the webhook's shard is unbound");
    let second = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 2}))
        .await;
    let requests = receiver.wait_for(2, LONG_DEADLINE).await;
    assert!(
        requests.iter().any(|r| r.header("webhook-id") == second),
        "the event published after the refusal is delivered"
    );
}

/// A worker whose connection the broker drops reconnects at once, although an attempt is still in
/// flight: that attempt can no longer ack its task, so waiting for it (here for up to a 60 s grace
/// period) would only hold back every other organisation's deliveries.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_dropped_connection_is_replaced_without_waiting_for_attempts_in_flight(pool: PgPool) {
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__SHUTDOWN_GRACE", "60s"),
            ("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "60s"),
        ],
    )
    .await;
    let slow = Receiver::start(|_| Reply {
        delay: std::time::Duration::from_secs(60),
        ..Reply::status(200)
    })
    .await;
    let fast = Receiver::always(200).await;
    stack
        .webhook("org_slow", &slow.url(), &["job.completed"])
        .await;
    stack.webhook(ORG, &fast.url(), &["job.completed"]).await;
    stack
        .publish("org_slow", "job.completed", serde_json::json!({"n": 1}))
        .await;
    slow.wait_for(1, DEADLINE).await;

    let worker = format!("hookline-delivery/{}", stack.settings.amqp.prefix);
    assert_eq!(close_connections_mentioning(&worker).await, 1);
    let event = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 2}))
        .await;
    // Well within the grace period the old connection's attempt could have held it for.
    let requests = fast.wait_for(1, DEADLINE).await;
    assert_eq!(requests[0].header("webhook-id"), event);
}

/// `amqp.url` may list several brokers (a cluster's nodes): every service skips one that refuses and
/// connects to the next, so the pipeline works with its first node down.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn services_fail_over_to_the_next_broker_of_the_list(pool: PgPool) {
    let stack = Stack::start_with(
        pool,
        &[(
            "HOOKLINE__AMQP__URL",
            "amqp://guest:guest@127.0.0.1:1/%2f, amqp://guest:guest@127.0.0.1:5672/%2f",
        )],
    )
    .await;
    let receiver = Receiver::always(200).await;
    stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let event = stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    let requests = receiver.wait_for(1, DEADLINE).await;
    assert_eq!(requests[0].header("webhook-id"), event);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn workers_survive_postgresql_dropping_their_connections(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    receiver.wait_for(1, LONG_DEADLINE).await;

    // PostgreSQL ends every other session of this test's database, as a restart would.
    let name = pool.connect_options().get_database().unwrap().to_owned();
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
    receiver.wait_for(2, LONG_DEADLINE).await;
    eventually(
        "both deliveries to be recorded as succeeded",
        LONG_DEADLINE,
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

/// Starts `binary` as a process with `overrides`, its ops port at a known address, logging JSON to a
/// file; returns the process, that address and the log's path.
fn start_logging(
    pool: &PgPool,
    binary: &str,
    ops_port_variable: &str,
    overrides: &[(&str, &str)],
) -> (
    tokio::process::Child,
    std::net::SocketAddr,
    std::path::PathBuf,
) {
    let ops = hookline_tests::ops::free_addr();
    let ops_listen = ops.to_string();
    let mut overrides = overrides.to_vec();
    overrides.extend([
        (ops_port_variable, ops_listen.as_str()),
        ("HOOKLINE__LOG__FORMAT", "json"),
    ]);
    let env = hookline_tests::stack::test_env(pool, &overrides);
    let (out, log) = hookline_tests::logs::file(binary);
    let child = hookline_tests::stack::binary(binary, &env)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
    (child, ops, log)
}

/// What an orchestrator's probes see of a service whose dependency is away: alive (`/healthz` 200, so
/// it is not restarted) but not ready (`/readyz` 503, naming the dependency), so no traffic reaches it.
async fn alive_but_not_ready(ops: std::net::SocketAddr, dependency: &str) {
    let (status, _) = eventually("/healthz to answer", LONG_DEADLINE, || {
        hookline_tests::ops::get(ops, "/healthz")
    })
    .await;
    assert_eq!(status, 200, "alive while {dependency} is away");
    let (status, body) = hookline_tests::ops::get(ops, "/readyz")
        .await
        .expect("/readyz answers");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&format!("{dependency}: down")), "{body}");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn services_without_their_database_wait_alive_but_not_ready(pool: PgPool) {
    for (binary, ops_port_variable) in [
        ("hookline-delivery", "HOOKLINE__DELIVERY__HTTP_LISTEN"),
        ("hookline-registry", "HOOKLINE__REGISTRY__HTTP_LISTEN"),
    ] {
        let (mut child, ops, log) = start_logging(
            &pool,
            binary,
            ops_port_variable,
            &[(
                "HOOKLINE__DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/nowhere",
            )],
        );
        eventually("three retries with backoff", LONG_DEADLINE, || async {
            let text = std::fs::read_to_string(&log).ok()?;
            (text.matches("PostgreSQL unreachable; retrying").count() >= 3).then_some(())
        })
        .await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "{binary} still running, not crash-looping"
        );
        alive_but_not_ready(ops, "database").await;
        stops_cleanly(&mut child, binary).await;
        let _ = std::fs::remove_file(&log);
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn ingest_without_the_broker_is_alive_not_ready_and_refuses_events(pool: PgPool) {
    let grpc = hookline_tests::ops::free_addr().to_string();
    let (mut child, ops, log) = start_logging(
        &pool,
        "hookline-ingest",
        "HOOKLINE__INGEST__HTTP_LISTEN",
        &[
            ("HOOKLINE__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
            ("HOOKLINE__INGEST__GRPC_LISTEN", &grpc),
        ],
    );
    alive_but_not_ready(ops, "amqp").await;

    // The gRPC health service says the same, and an event is refused rather than accepted and lost.
    let channel = hookline_tests::ops::listening(&grpc).await;
    let status = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hookline.v1.EventIngest".into(),
        })
        .await
        .expect("the health service answers")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    let refused =
        hookline_tests::auth::ingest_client(channel, &hookline_tests::auth::super_admin())
            .publish_event(publish_request(ORG, "job.completed", serde_json::json!({})))
            .await
            .expect_err("no broker, no acceptance");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    stops_cleanly(&mut child, "hookline-ingest").await;
    let _ = std::fs::remove_file(&log);
}

/// SIGTERM while an organisation's batch is queued behind its in-flight bound (1 here, so the batch
/// goes out one confirm at a time): ingest answers the call before it exits, and what it answers is
/// true. The publisher outlives the server, so every event of the call is published and confirmed and
/// answered OK; and the events queues hold exactly the events answered OK, so an event answered
/// `UNAVAILABLE` (were there any) would really not have been accepted.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn sigterm_while_a_batch_waits_behind_the_in_flight_bound_answers_and_exits(pool: PgPool) {
    let grpc = hookline_tests::ops::free_addr().to_string();
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let (mut child, ops, log) = start_logging(
        &pool,
        "hookline-ingest",
        "HOOKLINE__INGEST__HTTP_LISTEN",
        &[
            ("HOOKLINE__INGEST__GRPC_LISTEN", &grpc),
            ("HOOKLINE__INGEST__ORGANISATION_IN_FLIGHT", "1"),
            ("HOOKLINE__AMQP__PREFIX", &prefix),
        ],
    );
    let channel = hookline_tests::ops::listening(&grpc).await;
    let mut ingest =
        hookline_tests::auth::ingest_client(channel, &hookline_tests::auth::super_admin());
    eventually("ingest ready", LONG_DEADLINE, || async {
        let (status, _) = hookline_tests::ops::get(ops, "/readyz").await?;
        (status == 200).then_some(())
    })
    .await;
    let events = (0..hookline_ingest::MAX_BATCH)
        .map(|n| publish_request(ORG, "job.completed", serde_json::json!({"n": n})))
        .collect();
    let call = tokio::spawn(async move {
        ingest
            .publish_events(v1::PublishEventsRequest { events })
            .await
    });
    // In the middle: some of the batch confirmed, the rest still waiting for a place.
    eventually("part of the batch accepted", LONG_DEADLINE, || async {
        let (_, metrics) = hookline_tests::ops::get(ops, "/metrics").await?;
        metrics
            .lines()
            .any(|l| l.starts_with("hookline_ingest_events_total") && l.contains("accepted"))
            .then_some(())
    })
    .await;
    stops_cleanly(&mut child, "hookline-ingest").await;

    let results = tokio::time::timeout(LONG_DEADLINE, call)
        .await
        .expect("the call is answered")
        .expect("the call's task")
        .expect("the call is answered before ingest exits")
        .into_inner()
        .results;
    let accepted = results.iter().filter(|r| r.code == 0).count();
    assert_eq!(
        accepted,
        hookline_ingest::MAX_BATCH,
        "every event in flight at SIGTERM is published: {:?}",
        results.iter().find(|r| r.code != 0)
    );
    let settings = hookline_runtime::config::Settings::load_from(
        None,
        hookline_tests::stack::test_env(&pool, &[("HOOKLINE__AMQP__PREFIX", &prefix)]),
    )
    .expect("settings");
    let broker = hookline_runtime::amqp::connect(&settings.amqp.url, "hookline-tests")
        .await
        .unwrap()
        .create_channel()
        .await
        .unwrap();
    let mut queued = 0;
    for queue in settings.topology().events_queues() {
        queued += hookline_tests::stack::message_count(&broker, &queue).await;
    }
    assert_eq!(
        queued as usize, accepted,
        "the queues hold what was accepted"
    );
    hookline_tests::stack::delete_queues(&settings)
        .await
        .expect("the test's queues are deleted");
    let _ = std::fs::remove_file(&log);
}
