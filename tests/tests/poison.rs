//! Poison: data the database cannot store never holds other work hostage. Ingest and the registry refuse
//! it by name; a worker that gets it anyway (from a producer that skips ingest) splits its batch, delivers
//! the neighbours and sets the poison aside, with the reason, in the rejected-events queue.

use hookline_core::headers;
use hookline_core::messages::EventMessage;
use hookline_proto::v1;
use hookline_tests::LONG_DEADLINE;
use hookline_tests::receiver::Reply;
use hookline_tests::stack::{publish_request, webhook_request};
use hookline_tests::{Receiver, Stack, eventually};
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use sqlx::PgPool;
use uuid::Uuid;

/// An event of `organisation` as a producer that skips ingest would write it; `note` goes into its data.
fn raw_event(organisation: &str, note: &str) -> (Uuid, Vec<u8>) {
    let event = EventMessage {
        id: Uuid::now_v7(),
        organisation_id: organisation.into(),
        event_type: "job.completed".into(),
        occurred_at: chrono::Utc::now(),
        version: 1,
        data: serde_json::json!({"objectType": "job", "jobId": "J-1", "note": note})
            .as_object()
            .unwrap()
            .clone(),
        webhook_id: None,
        versions: Default::default(),
    };
    (event.id, serde_json::to_vec(&event).unwrap())
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn ingest_and_the_registry_refuse_nul_naming_the_field(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let refused = stack
        .ingest
        .clone()
        .publish_event(publish_request(
            "org_a",
            "job.completed",
            serde_json::json!({"jobId": "J-1", "note": "a\u{0}b"}),
        ))
        .await
        .expect_err("U+0000 cannot be stored");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("data") && refused.message().contains("`note`"),
        "{}",
        refused.message()
    );

    // U+0000 cannot be stored; other control characters could steer a terminal that prints the name.
    for (name, description, field, point) in [
        ("a\u{0}b", "", "name", "U+0000"),
        ("fine", "c\u{0}d", "description", "U+0000"),
        ("a\u{1b}]0;owned\u{7}", "", "name", "U+001B"),
        ("line\nbreak", "", "name", "U+000A"),
        (
            "fine",
            "tabs\tand\nbreaks are kept, DEL\u{7f} is not",
            "description",
            "U+007F",
        ),
    ] {
        let mut request = webhook_request("org_a", "http://127.0.0.1:9/h", &["job.completed"]);
        request.name = name.into();
        request.description = description.into();
        let refused = stack
            .registry
            .clone()
            .create_webhook(request)
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(
            refused
                .message()
                .contains(&format!("{field}: contains {point}")),
            "{}",
            refused.message()
        );
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_poisoned_batch_delivers_its_neighbours_and_sets_the_poison_aside(pool: PgPool) {
    // No worker yet: the events queue up, so the first worker takes them in one batch.
    let mut stack = Stack::without_worker(pool, &[]).await;
    let a = Receiver::always(200).await;
    let b = Receiver::always(200).await;
    stack.webhook("org_a", &a.url(), &["job.completed"]).await;
    stack.webhook("org_b", &b.url(), &["job.completed"]).await;

    // Good and poisoned events interleaved, from two organisations.
    let mut good = Vec::new();
    let mut poison = Vec::new();
    for i in 0..30 {
        let organisation = if i % 2 == 0 { "org_a" } else { "org_b" };
        let (id, body) = if i % 3 == 1 {
            let (id, body) = raw_event(organisation, "a\u{0}b");
            poison.push(id);
            (id, body)
        } else {
            let (id, body) = raw_event(organisation, "fine");
            good.push(id);
            (id, body)
        };
        let _ = id;
        stack.publish_raw_event(organisation, &body).await;
    }
    stack.spawn_worker();

    let received: Vec<String> = [
        a.wait_for(10, LONG_DEADLINE).await,
        b.wait_for(10, LONG_DEADLINE).await,
    ]
    .concat()
    .iter()
    .map(|r| r.header("webhook-id").to_owned())
    .collect();
    let mut expected: Vec<String> = good.iter().map(Uuid::to_string).collect();
    let mut got = received.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every good event is delivered, once");

    // Each poisoned event waits in the rejected-events queue, saying why.
    let broker = stack.broker().await;
    let queue = stack.topology().rejected_events_queue();
    let mut rejected = Vec::new();
    while rejected.len() < poison.len() {
        let message = eventually("a rejected event", LONG_DEADLINE, || async {
            broker
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get")
        })
        .await;
        let event: EventMessage = serde_json::from_slice(&message.data).expect("the event as sent");
        let reason = message
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(headers::REJECTED_REASON).cloned());
        let Some(AMQPValue::LongString(reason)) = reason else {
            panic!("a rejected event says why, got {reason:?}")
        };
        let reason = String::from_utf8_lossy(reason.as_bytes()).into_owned();
        assert!(reason.contains("Unicode"), "{reason}");
        rejected.push(event.id);
    }
    rejected.sort();
    poison.sort();
    assert_eq!(rejected, poison);

    // Nothing of the poison reached the log, and nothing is left unacked.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE id = ANY($1)")
        .bind(&poison)
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let metrics = eventually("the rejections counted", LONG_DEADLINE, || async {
        let (_, body) = hookline_tests::ops::get(stack.registry_ops, "/metrics").await?;
        body.lines()
            .any(|l| {
                l.starts_with("hookline_messages_rejected_total")
                    && l.contains(r#"stage="fanout""#)
                    && l.contains(r#"reason="unstorable""#)
            })
            .then_some(body)
    })
    .await;
    assert!(!metrics.is_empty());
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_response_holding_nul_is_logged_and_does_not_block_the_log(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let nul = Receiver::start(|_| Reply {
        body: Some(b"ok\0but hostile"),
        ..Reply::status(200)
    })
    .await;
    let (hook, _) = stack.webhook("org_a", &nul.url(), &["job.completed"]).await;
    stack
        .publish(
            "org_a",
            "job.completed",
            serde_json::json!({"jobId": "J-1"}),
        )
        .await;
    let done = stack
        .settled(
            "org_a",
            &hook.id,
            v1::DeliveryStatus::Succeeded,
            LONG_DEADLINE,
        )
        .await;
    assert_eq!(done.attempts.len(), 1);
    assert_eq!(done.attempts[0].response_body, "ok\u{FFFD}but hostile");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn other_control_characters_are_stored_and_delivered_byte_for_byte(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    stack
        .webhook("org_a", &receiver.url(), &["job.completed"])
        .await;
    // Every control character but NUL is valid in text and jsonb, so refusing them would be wrong.
    let note: String = (1u8..0x20)
        .map(char::from)
        .chain(['\u{7f}', '\u{2028}'])
        .collect();
    stack
        .publish(
            "org_a",
            "job.completed",
            serde_json::json!({"jobId": "J-1", "note": note}),
        )
        .await;
    let got = receiver.wait_for(1, LONG_DEADLINE).await;
    assert_eq!(got[0].json()["data"]["object"]["note"], note.as_str());
}
