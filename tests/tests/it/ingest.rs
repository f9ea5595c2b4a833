//! Ingest's contract: bad events get INVALID_ARGUMENT naming the field; health and reflection are served.

use hookline_proto::v1;
use hookline_tests::Stack;
use hookline_tests::stack::publish_request;
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn bad_events_get_invalid_argument_naming_the_field(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let valid = || publish_request("org_1", "job.completed", serde_json::json!({"jobId": "J"}));
    let cases: Vec<(&str, v1::PublishEventRequest)> = vec![
        (
            "organisation_id",
            v1::PublishEventRequest {
                organisation_id: String::new(),
                ..valid()
            },
        ),
        (
            "event_type",
            v1::PublishEventRequest {
                event_type: "jobcompleted".into(),
                ..valid()
            },
        ),
        (
            "event_type",
            v1::PublishEventRequest {
                event_type: "Job.Completed".into(),
                ..valid()
            },
        ),
        (
            "data",
            v1::PublishEventRequest {
                data: None,
                ..valid()
            },
        ),
        (
            "data.objectType",
            publish_request(
                "org_1",
                "job.completed",
                serde_json::json!({"objectType": "estimate"}),
            ),
        ),
    ];
    for (field, request) in cases {
        let status = stack
            .ingest
            .clone()
            .publish_event(request)
            .await
            .expect_err("rejected");
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{field}: {status:?}"
        );
        assert!(
            status.message().contains(field),
            "{:?} names {field}",
            status.message()
        );
        let details =
            tonic_types::StatusExt::get_details_bad_request(&status).expect("BadRequest details");
        assert_eq!(details.field_violations[0].field, field);
    }
    stack
        .ingest
        .clone()
        .publish_event(valid())
        .await
        .expect("a valid event is accepted");
}

/// Data nested past protobuf's recursion limit cannot be decoded. That is the caller's error, said as
/// such: `INVALID_ARGUMENT` naming the field and the limit, never `INTERNAL`, which invites retries.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn data_nested_past_the_decoder_s_limit_is_an_invalid_argument(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let mut data = serde_json::json!({"leaf": true});
    for _ in 0..150 {
        data = serde_json::json!({ "a": data });
    }
    let status = stack
        .ingest
        .clone()
        .publish_event(publish_request("org_1", "job.completed", data))
        .await
        .expect_err("rejected");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    for named in [
        "PublishEventRequest",
        "data",
        "recursion limit",
        "100 levels",
    ] {
        assert!(status.message().contains(named), "{named}: {status:?}");
    }
}

/// The same idempotency key, sent at once through two ingest replicas, yields one event id and one
/// delivery; sent again later, still the same id and no second delivery.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn an_idempotency_key_delivers_once_across_ingest_replicas(pool: PgPool) {
    use std::time::Duration;
    const ORG: &str = "org_idem";
    const KEYS: usize = 10;
    let stack = Stack::start(pool).await;
    let receiver = hookline_tests::Receiver::always(200).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let first = stack.ingest.clone();
    let second = stack.another_ingest().await;
    let keyed = |key: usize, n: usize| v1::PublishEventRequest {
        idempotency_key: format!("order-{key}"),
        ..publish_request(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": format!("J-{n}")}),
        )
    };
    let mut ids = Vec::new();
    for key in 0..KEYS {
        let (mut a, mut b) = (first.clone(), second.clone());
        let (x, y) = tokio::join!(
            a.publish_event(keyed(key, 1)),
            b.publish_event(keyed(key, 2))
        );
        let (x, y) = (
            x.unwrap().into_inner().event_id,
            y.unwrap().into_inner().event_id,
        );
        assert_eq!(x, y, "both replicas answer with the same event id");
        ids.push(x);
    }
    let deliveries = hookline_tests::eventually(
        "every delivery to succeed",
        Duration::from_secs(20),
        || async {
            let all = stack.deliveries(ORG, &webhook.id).await;
            let done = all.len() == KEYS
                && all
                    .iter()
                    .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32);
            done.then_some(all)
        },
    )
    .await;
    assert!(deliveries.iter().all(|d| d.attempts == 1));
    let repeat = first
        .clone()
        .publish_event(keyed(0, 3))
        .await
        .unwrap()
        .into_inner()
        .event_id;
    assert_eq!(
        repeat, ids[0],
        "a key is remembered after its event was delivered"
    );

    // A sentinel published after the repeat: once it is delivered, the repeat has been handled too.
    let sentinel = stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "last"}))
        .await;
    let received = hookline_tests::eventually("the sentinel", Duration::from_secs(20), || async {
        let got = receiver.received();
        got.iter()
            .any(|r| r.header("webhook-id") == sentinel)
            .then_some(got)
    })
    .await;
    let mut seen: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), received.len(), "no event was delivered twice");
    assert_eq!(received.len(), KEYS + 1);
}

/// A batch answers per event: good events are confirmed and delivered, a bad one gets its own error and
/// never rejects its neighbours.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_batch_accepts_each_good_event_and_rejects_each_bad_one_alone(pool: PgPool) {
    use hookline_runtime::auth::Role;
    use std::time::Duration;
    const ORG: &str = "org_batch";
    let stack = Stack::start(pool).await;
    let receiver = hookline_tests::Receiver::always(200).await;
    stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let publisher = stack.ingest_as(&hookline_tests::auth::token(
        Some(ORG),
        &[Role::Publisher],
        &[],
    ));
    let job = |n: i32| {
        publish_request(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": format!("J-{n}")}),
        )
    };
    let batch = vec![
        job(1),
        publish_request(ORG, "job.exploded", serde_json::json!({})),
        job(2),
        publish_request("org_other", "job.completed", serde_json::json!({})),
        publish_request(ORG, "job.completed", serde_json::json!({"jobId": 7})),
        job(3),
    ];
    let results = publisher
        .clone()
        .publish_events(v1::PublishEventsRequest { events: batch })
        .await
        .expect("a batch")
        .into_inner()
        .results;
    let codes: Vec<(tonic::Code, &str)> = results
        .iter()
        .map(|r| (tonic::Code::from_i32(r.code), r.field.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (tonic::Code::Ok, ""),
            (tonic::Code::InvalidArgument, "event_type"),
            (tonic::Code::Ok, ""),
            (tonic::Code::PermissionDenied, ""),
            (tonic::Code::InvalidArgument, "data"),
            (tonic::Code::Ok, ""),
        ]
    );
    assert!(results[4].message.contains("/jobId"), "{:?}", results[4]);
    let accepted: Vec<&str> = results
        .iter()
        .map(|r| r.event_id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    assert_eq!(accepted.len(), 3);
    let got = receiver.wait_for(3, Duration::from_secs(20)).await;
    let mut delivered: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    delivered.sort();
    let mut expected = accepted.clone();
    expected.sort();
    assert_eq!(delivered, expected);

    let too_many = vec![job(0); hookline_ingest::MAX_BATCH + 1];
    let status = publisher
        .clone()
        .publish_events(v1::PublishEventsRequest { events: too_many })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

/// An organisation's burst beyond `ingest.organisation_in_flight` waits in ingest rather than failing:
/// a full batch through a bound of 2 is accepted whole, and every event is delivered once.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_burst_beyond_the_in_flight_bound_waits_and_is_all_accepted(pool: PgPool) {
    use std::collections::HashSet;
    use std::time::Duration;
    const ORG: &str = "org_burst";
    let stack = Stack::start_with(pool, &[("HOOKLINE__INGEST__ORGANISATION_IN_FLIGHT", "2")]).await;
    let receiver = hookline_tests::Receiver::always(200).await;
    stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let ids = stack.publish_batch(ORG, hookline_ingest::MAX_BATCH).await;
    let accepted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(accepted.len(), hookline_ingest::MAX_BATCH);
    let got = receiver
        .wait_for(hookline_ingest::MAX_BATCH, Duration::from_secs(60))
        .await;
    let delivered: HashSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(delivered, accepted);
}
