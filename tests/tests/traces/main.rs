//! One trace per event: the caller's W3C trace context flows through ingest, RabbitMQ, the fan-out and
//! every delivery attempt, the retry that came back from a retry queue included, and each process exports
//! its spans over OTLP/gRPC to a real collector. The ids are in the JSON logs too.

use std::sync::{Arc, Mutex};

use hookline_tests::collector::{
    CLIENT, CONSUMER, CollectedSpan, Collector, INTERNAL, PRODUCER, SERVER,
};
use hookline_tests::ops::{free_addr, listening};
use hookline_tests::stack::{binary, publish_request, webhook_request};
use hookline_tests::{LONG_DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack, eventually};
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt as _;

/// The only span matching `what`.
fn one<'a>(
    spans: &'a [CollectedSpan],
    what: &str,
    matches: impl Fn(&CollectedSpan) -> bool,
) -> &'a CollectedSpan {
    let found: Vec<_> = spans.iter().filter(|s| matches(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} span in {spans:#?}");
    found[0]
}

/// How many of `spans` are of each kind: (server, producer, consumer, client).
fn kinds(spans: &[CollectedSpan]) -> (usize, usize, usize, usize) {
    let count = |kind| spans.iter().filter(|s| s.kind == kind).count();
    (
        count(SERVER),
        count(PRODUCER),
        count(CONSUMER),
        count(CLIENT),
    )
}

/// A process's stdout lines as they come; `ended` finishes once the process has closed its stdout.
struct Captured {
    lines: Arc<Mutex<Vec<String>>>,
    ended: tokio::task::JoinHandle<()>,
}

/// Collects a process's stdout lines, and copies them to the run's logs for the secret scan.
fn capture(stdout: tokio::process::ChildStdout) -> Captured {
    use std::io::Write as _;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let (mut copy, _) = hookline_tests::logs::file("captured");
    let ended = tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = writeln!(copy, "{line}");
            sink.lock().unwrap().push(line);
        }
    });
    Captured { lines, ended }
}

/// The first JSON line among `logs` that `matches`, waiting for it.
async fn log_line(
    logs: &Mutex<Vec<String>>,
    what: &str,
    matches: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    eventually(what, LONG_DEADLINE, || {
        let found = logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(&matches);
        async move { found }
    })
    .await
}

/// Ingest and a worker as processes of their own, exporting to `collector`, the worker logging JSON
/// with its attempts' DEBUG lines; both are killed when this is dropped.
struct Traced {
    ingest: hookline_tests::auth::IngestClient,
    ingest_addr: String,
    logs: Arc<Mutex<Vec<String>>>,
    logs_ended: tokio::task::JoinHandle<()>,
    worker: tokio::process::Child,
    _ingest: tokio::process::Child,
}

impl Traced {
    async fn start(stack: &Stack, collector: &Collector) -> Self {
        Self::start_with(stack, collector, &[]).await
    }

    /// [`Traced::start`] with settings `extra` for both processes.
    async fn start_with(stack: &Stack, collector: &Collector, extra: &[(&str, &str)]) -> Self {
        let ingest_addr = free_addr().to_string();
        let mut env = stack.env.clone();
        env.extend(collector.env());
        env.push(("HOOKLINE__LOG__FORMAT".into(), "json".into()));
        // Each attempt's outcome is a DEBUG line. With any DEBUG directive, sqlx asks whether its query
        // log is on after every query, which once made the next span vanish from the trace: every trace
        // here is checked whole under this filter.
        env.push((
            "HOOKLINE__LOG__FILTER".into(),
            "info,hookline_delivery=debug".into(),
        ));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut ingest_env = env.clone();
        ingest_env.push(("HOOKLINE__INGEST__GRPC_LISTEN".into(), ingest_addr.clone()));
        let ingest = binary("hookline-ingest", &ingest_env)
            .spawn()
            .expect("starting hookline-ingest");
        let mut worker = binary("hookline-delivery", &env)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting hookline-delivery");
        let Captured { lines: logs, ended } = capture(worker.stdout.take().expect("piped stdout"));
        let channel = listening(&ingest_addr).await;
        // Once ingest is connected to the broker, one call per event: a retried call would be a second
        // RPC span.
        hookline_tests::stack::serving(&channel, "hookline.v1.EventIngest").await;
        Self {
            ingest: hookline_tests::auth::ingest_client(
                channel,
                &hookline_tests::auth::super_admin(),
            ),
            ingest_addr,
            logs,
            logs_ended: ended,
            worker,
            _ingest: ingest,
        }
    }

    /// Stops the worker with SIGTERM and returns every line it wrote, once it has exited.
    async fn worker_lines(mut self) -> Vec<String> {
        hookline_tests::ops::stops_cleanly(&mut self.worker, "the worker").await;
        tokio::time::timeout(LONG_DEADLINE, self.logs_ended)
            .await
            .expect("the worker's stdout to close")
            .expect("the capture task");
        std::mem::take(&mut *self.logs.lock().unwrap())
    }
}

/// Publishes a `job.completed` as a caller whose span `caller_span` of `trace_id` did (`sampled`) or
/// did not sample its trace; returns the event id.
/// A webhook for `job.completed`, enabled in the database directly. Enabling it through the API would
/// ping it, and the ping is a trace of its own (the registry's), which would mix with the event's here.
async fn enabled_without_ping(stack: &Stack, url: &str) -> hookline_proto::v1::Webhook {
    let request = hookline_proto::v1::CreateWebhookRequest {
        status: hookline_proto::v1::WebhookStatus::Disabled.into(),
        ..webhook_request(ORG, url, &["job.completed"])
    };
    let (webhook, _) = stack.create(request).await;
    sqlx::query("UPDATE webhooks SET status = 'enabled' WHERE id = $1::uuid")
        .bind(&webhook.id)
        .execute(&stack.pool)
        .await
        .expect("enabled");
    webhook
}

async fn publish_traced(
    ingest: &mut hookline_tests::auth::IngestClient,
    trace_id: &str,
    caller_span: &str,
    sampled: bool,
) -> String {
    let mut request = tonic::Request::new(publish_request(
        ORG,
        "job.completed",
        serde_json::json!({"jobId": "J-7"}),
    ));
    let flags = if sampled { "01" } else { "00" };
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-{flags}")
            .parse()
            .unwrap(),
    );
    ingest
        .publish_event(request)
        .await
        .expect("publishing through the ingest process")
        .into_inner()
        .event_id
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn one_trace_runs_from_the_callers_publish_through_every_attempt(pool: PgPool) {
    let collector = Collector::start().await;
    let stack = Stack::without_worker(pool, &[]).await;
    let topology = stack.topology();
    // The first attempt fails, the retry (1 s later, through the retry queue) succeeds.
    let receiver = Receiver::start(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let webhook = enabled_without_ping(&stack, &receiver.url()).await;

    let traced = Traced::start(&stack, &collector).await;
    let mut ingest = traced.ingest.clone();

    // The caller is traced: its span is the root, passed in the gRPC metadata.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let event_id = publish_traced(&mut ingest, &trace_id, caller_span, true).await;
    receiver.wait_for(2, LONG_DEADLINE).await;

    let webhook_id: uuid::Uuid = webhook.id.parse().unwrap();
    let attempt_queue = format!("process {}", topology.deliveries_queue_of(&webhook_id));
    // Each process exports in its own batches: wait for every span the trace should hold, by kind: the
    // RPC; the event's and the retry's sends; the fan-out and the retry's processing; two POSTs. The
    // first attempt is the fan-out's own (one broker hop), an internal span.
    let spans = collector
        .wait_for_trace(&trace_id, LONG_DEADLINE, |spans| {
            kinds(spans) == (1, 2, 2, 2) && spans.iter().any(|s| s.kind == INTERNAL)
        })
        .await;

    // Ingest: the RPC, a child of the caller's span, and the publish to the events exchange inside it.
    let rpc = one(&spans, "RPC server", |s| s.kind == SERVER);
    assert_eq!(rpc.service, "hookline-ingest");
    assert_eq!(rpc.name, "hookline.v1.EventIngest/PublishEvent");
    assert_eq!(rpc.parent_span_id, caller_span);
    assert_eq!(rpc.attribute("rpc.system").as_deref(), Some("grpc"));
    assert_eq!(rpc.attribute("rpc.grpc.status_code").as_deref(), Some("0"));
    let events_exchange = topology.events_exchange();
    let publish = one(&spans, "event send", |s| {
        s.kind == PRODUCER
            && s.attribute("messaging.destination.name") == Some(events_exchange.clone())
    });
    assert_eq!(publish.service, "hookline-ingest");
    assert_eq!(publish.parent_span_id, rpc.span_id);
    assert_eq!(publish.name, format!("send {events_exchange}"));
    assert_eq!(
        publish.attribute("messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        publish.attribute("messaging.message.id"),
        Some(event_id.clone())
    );

    // The worker's fan-out continues from the message's headers and publishes the delivery task.
    let fan_out = one(&spans, "fan-out", |s| {
        s.name == format!("process {}", topology.events_queue_of(ORG))
    });
    assert_eq!(fan_out.service, "hookline-delivery");
    assert_eq!(fan_out.kind, CONSUMER);
    assert_eq!(fan_out.parent_span_id, publish.span_id);
    assert_eq!(
        fan_out.attribute("hookline.event_id"),
        Some(event_id.clone())
    );
    assert_eq!(
        fan_out.attribute("messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        fan_out.attribute("messaging.operation.type").as_deref(),
        Some("process")
    );
    // Its first attempt is made by the fan-out itself: no task crosses the deliveries queue.
    let deliveries_exchange = topology.deliveries_exchange();
    assert!(
        !spans.iter().any(|s| s.kind == PRODUCER
            && s.attribute("messaging.destination.name") == Some(deliveries_exchange.clone())),
        "a healthy first attempt takes no deliveries-queue hop: {spans:#?}"
    );
    let first = one(&spans, "attempt 1", |s| s.kind == INTERNAL);
    assert_eq!(first.name, "attempt");
    assert_eq!(first.parent_span_id, fan_out.span_id);
    assert_eq!(
        first.int("hookline.attempt"),
        Some(1),
        "an integer attribute"
    );
    assert_eq!(first.attribute("hookline.event_id"), Some(event_id.clone()));
    assert_eq!(
        first.attribute("hookline.webhook_id"),
        Some(webhook.id.clone())
    );
    let second = one(&spans, "attempt 2", |s| {
        s.name == attempt_queue && s.int("hookline.attempt") == Some(2)
    });
    assert_eq!(second.kind, CONSUMER);
    let delivery_id = first
        .attribute("hookline.delivery_id")
        .expect("a delivery id");
    let post_of = |attempt: &CollectedSpan| {
        one(&spans, "POST", |s| {
            s.kind == CLIENT && s.parent_span_id == attempt.span_id
        })
        .clone()
    };
    let failed = post_of(first);
    assert_eq!(failed.name, "POST");
    assert_eq!(
        failed.attribute("http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(failed.int("http.response.status_code"), Some(500));
    // http://127.0.0.1:<port>/hooks
    let receiver_port: i64 = receiver
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(failed.int("server.port"), Some(receiver_port));
    assert_eq!(failed.status, 2, "a 500 marks the client span as an error");
    assert_eq!(failed.attribute("url.full"), Some(receiver.url()));

    // The retry went through the retry queue (dead-lettered back), keeping the context of attempt 1.
    let retry = one(&spans, "retry send", |s| {
        s.kind == PRODUCER && s.parent_span_id == first.span_id
    });
    assert_eq!(
        retry.attribute("messaging.rabbitmq.destination.routing_key"),
        topology.retry_queue_after(1).map(|(queue, _)| queue)
    );
    assert_eq!(second.parent_span_id, retry.span_id);
    assert_eq!(
        second.attribute("messaging.rabbitmq.destination.routing_key"),
        retry.attribute("messaging.rabbitmq.destination.routing_key"),
        "attempt 2 came back from the retry queue"
    );
    assert_eq!(
        second.attribute("hookline.delivery_id"),
        Some(delivery_id.clone())
    );
    let succeeded = post_of(second);
    assert_eq!(succeeded.int("http.response.status_code"), Some(200));
    assert_ne!(succeeded.status, 2);

    // The worker's JSON log line for the success carries the trace and span ids at its top level (the
    // span of attempt 2, where it was written, after the POST) and the event, delivery and webhook in
    // its spans.
    let line = log_line(&traced.logs, "the worker's `delivered` log line", |l| {
        l["message"] == "delivered"
    })
    .await;
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
    assert_eq!(line["span_id"], second.span_id.as_str(), "{line}");
    let span = &line["spans"][0];
    assert_eq!(span["hookline.event_id"], event_id.as_str(), "{line}");
    assert_eq!(span["hookline.delivery_id"], delivery_id.as_str(), "{line}");
    assert_eq!(span["hookline.webhook_id"], webhook.id.as_str(), "{line}");
    // The failed attempt's DEBUG line gives its next attempt's time as RFC 3339, and the status as a
    // number.
    let failed_line = log_line(&traced.logs, "the worker's `attempt failed` line", |l| {
        l["message"] == "attempt failed"
    })
    .await;
    assert_eq!(failed_line["level"], "DEBUG", "{failed_line}");
    assert_eq!(failed_line["status"], 500, "{failed_line}");
    let next = failed_line["next_attempt_at"].as_str().expect("a time");
    assert!(
        chrono::DateTime::parse_from_rfc3339(next).is_ok(),
        "{failed_line}"
    );
    // No span carries the trace id as an attribute: it is the span's own.
    assert!(spans.iter().all(|s| !s.has("trace_id")), "{spans:#?}");
    // Every messaging span names the broker it talked to.
    for messaging in spans
        .iter()
        .filter(|s| s.kind == PRODUCER || s.kind == CONSUMER)
    {
        assert_eq!(
            messaging.attribute("server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(messaging.int("server.port"), Some(5672), "{messaging:#?}");
    }
}

/// A caller that did not sample its trace gets no spans from any service, and no service starts a trace
/// of its own for the event instead: the "not sampled" decision travels through ingest, the events
/// queue, the fan-out and the deliveries queue, and the spans that exist only for traces are not even
/// made. The worker's log lines still carry the ids and the trace id.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_trace_the_caller_did_not_sample_stays_unsampled_in_every_service(pool: PgPool) {
    let collector = Collector::start().await;
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::start(|_| Reply::status(200)).await;
    enabled_without_ping(&stack, &receiver.url()).await;
    let traced = Traced::start(&stack, &collector).await;
    let mut ingest = traced.ingest.clone();

    let unsampled_trace = uuid::Uuid::new_v4().simple().to_string();
    let unsampled_event =
        publish_traced(&mut ingest, &unsampled_trace, "00f067aa0ba902b7", false).await;
    receiver.wait_for(1, LONG_DEADLINE).await;
    // Then a sampled event through the same processes. Each process exports its spans in the order they
    // ended, so once this trace is complete, any span of the first event would have arrived before it.
    let sampled_trace = uuid::Uuid::new_v4().simple().to_string();
    publish_traced(&mut ingest, &sampled_trace, "00f067aa0ba902b8", true).await;
    receiver.wait_for(2, LONG_DEADLINE).await;
    collector
        .wait_for_trace(&sampled_trace, LONG_DEADLINE, |spans| {
            kinds(spans) == (1, 1, 1, 1) && spans.iter().any(|s| s.kind == INTERNAL)
        })
        .await;

    assert_eq!(collector.trace(&unsampled_trace), vec![]);
    let strays: Vec<_> = collector
        .all()
        .into_iter()
        .filter(|s| s.trace_id != sampled_trace)
        .collect();
    assert_eq!(strays, vec![], "no service started a trace of its own");

    let line = log_line(
        &traced.logs,
        "the unsampled event's `delivered` line",
        |l| {
            l["message"] == "delivered"
                && l["spans"][0]["hookline.event_id"] == unsampled_event.as_str()
        },
    )
    .await;
    assert_eq!(line["trace_id"], unsampled_trace.as_str(), "{line}");
}

mod batch;
mod export;
mod levels;
