//! A `PublishEvents` batch as one trace, and calls to methods a server does not serve.

use super::*;

/// A `PublishEvents` batch is one trace, the caller's: its server span holds one send span per event, and
/// each event's processing continues from its own send, so every event's deliveries are told apart in
/// the one trace (the messaging conventions' batch pattern, whose per-message creation context these
/// sends are; a trace per event would cut them off from the call that made them). A send without a
/// routing key (a task handed to the deliveries exchange) records none. A call to a method the server
/// does not serve is named by a fixed value, never by the caller's path.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_batch_is_one_trace_with_a_send_per_event(pool: PgPool) {
    let collector = Collector::start().await;
    let stack = Stack::without_worker(pool, &[]).await;
    let receiver = Receiver::start(|_| Reply::status(200)).await;
    enabled_without_ping(&stack, &receiver.url()).await;
    // Every task through the deliveries queue, so the trace shows that send too.
    let traced = Traced::start_with(
        &stack,
        &collector,
        &[("HOOKLINE__DELIVERY__DIRECT_ATTEMPTS", "0")],
    )
    .await;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let event = || publish_request(ORG, "job.completed", serde_json::json!({"jobId": "J-8"}));
    let mut request = tonic::Request::new(hookline_proto::v1::PublishEventsRequest {
        events: vec![event(), event(), event()],
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    traced
        .ingest
        .clone()
        .publish_events(request)
        .await
        .expect("publishing a batch");
    receiver.wait_for(3, LONG_DEADLINE).await;
    // One RPC; per event a send to the events exchange and one to the deliveries exchange, the fan-out's
    // and the attempt's processing, and a POST.
    let spans = collector
        .wait_for_trace(&trace_id, LONG_DEADLINE, |spans| {
            kinds(spans) == (1, 6, 6, 3)
        })
        .await;
    let rpc = one(&spans, "RPC server", |s| s.kind == SERVER);
    assert_eq!(rpc.name, "hookline.v1.EventIngest/PublishEvents");
    let topology = stack.topology();
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == PRODUCER && s.name == format!("send {}", topology.events_exchange()))
        .collect();
    assert_eq!(sends.len(), 3, "a send per event");
    for send in &sends {
        assert_eq!(send.parent_span_id, rpc.span_id);
        let processing = one(&spans, "an event's fan-out", |s| {
            s.kind == CONSUMER && s.parent_span_id == send.span_id
        });
        assert_eq!(
            processing.attribute("hookline.event_id"),
            send.attribute("messaging.message.id"),
            "each event continues from its own send"
        );
    }
    let handed = spans.iter().filter(|s| {
        s.kind == PRODUCER && s.name == format!("send {}", topology.deliveries_exchange())
    });
    for send in handed {
        assert!(
            !send.has("messaging.rabbitmq.destination.routing_key"),
            "an empty routing key is left out: {send:#?}"
        );
    }

    // A method this server does not serve: named by a fixed value, not the path the caller chose.
    let other_trace = uuid::Uuid::new_v4().simple().to_string();
    let channel = listening(&traced.ingest_addr).await;
    let mut wrong =
        hookline_tests::auth::registry_client(channel, &hookline_tests::auth::super_admin());
    let mut call = tonic::Request::new(hookline_proto::v1::GetWebhookRequest::default());
    call.metadata_mut().insert(
        "traceparent",
        format!("00-{other_trace}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let refused = wrong
        .get_webhook(call)
        .await
        .expect_err("ingest serves no registry");
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    let spans = collector
        .wait_for_trace(&other_trace, LONG_DEADLINE, |spans| !spans.is_empty())
        .await;
    let rpc = one(&spans, "RPC server", |s| s.kind == SERVER);
    assert_eq!(rpc.name, "_OTHER");
    assert_eq!(rpc.attribute("rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(rpc.status, 2, "UNIMPLEMENTED is the server's error");
}
