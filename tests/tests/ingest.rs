//! Ingest's contract: bad events get INVALID_ARGUMENT naming the field; health and reflection are served.

use hookline_proto::v1;
use hookline_tests::Stack;
use hookline_tests::stack::publish_request;
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_registry::MIGRATOR")]
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
