//! Who may call what: bearer tokens are required and verified, each role reaches only its own RPCs, and a
//! token bound to one organisation never sees another's data.

use hookline_proto::v1;
use hookline_runtime::auth::{Role, WEBHOOKS_PERMISSION};
use hookline_tests::auth::{RegistryClient, claims, token};
use hookline_tests::stack::{publish_request, webhook_request};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;
use std::time::Duration;
use tonic::Code;

const ORG_A: &str = "org_a";
const ORG_B: &str = "org_b";

/// Calls every registry RPC once with `client` against organisation `org` and the webhook and delivery
/// `ids` (which may belong to another organisation); returns each RPC's code.
async fn call_every_rpc(
    client: &RegistryClient,
    org: &str,
    webhook: &str,
    delivery: &str,
) -> Vec<(&'static str, Code)> {
    let c = || client.clone();
    let o = || org.to_owned();
    let w = || webhook.to_owned();
    let d = || delivery.to_owned();
    let create = webhook_request(org, "https://example.com/new", &["job.completed"]);
    vec![
        ("CreateWebhook", code(c().create_webhook(create).await)),
        (
            "GetWebhook",
            code(
                c().get_webhook(v1::GetWebhookRequest {
                    organisation_id: o(),
                    id: w(),
                })
                .await,
            ),
        ),
        (
            "ListWebhooks",
            code(
                c().list_webhooks(v1::ListWebhooksRequest {
                    organisation_id: o(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "UpdateWebhook",
            code(
                c().update_webhook(v1::UpdateWebhookRequest {
                    organisation_id: o(),
                    id: w(),
                    name: "renamed".into(),
                    url: "https://example.com/renamed".into(),
                    event_types: vec!["job.completed".into()],
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "SetWebhookStatus",
            code(
                c().set_webhook_status(v1::SetWebhookStatusRequest {
                    organisation_id: o(),
                    id: w(),
                    status: v1::WebhookStatus::Disabled.into(),
                })
                .await,
            ),
        ),
        (
            "RotateSecret",
            code(
                c().rotate_secret(v1::RotateSecretRequest {
                    organisation_id: o(),
                    id: w(),
                })
                .await,
            ),
        ),
        (
            "ListEvents",
            code(
                c().list_events(v1::ListEventsRequest {
                    organisation_id: o(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "ListDeliveries",
            code(
                c().list_deliveries(v1::ListDeliveriesRequest {
                    organisation_id: o(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "GetDelivery",
            code(
                c().get_delivery(v1::GetDeliveryRequest {
                    organisation_id: o(),
                    id: d(),
                })
                .await,
            ),
        ),
        (
            "Redeliver",
            code(
                c().redeliver(v1::RedeliverRequest {
                    organisation_id: o(),
                    id: d(),
                })
                .await,
            ),
        ),
        (
            "ListDeadLetters",
            code(
                c().list_dead_letters(v1::ListDeadLettersRequest {
                    organisation_id: o(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "ReplayDeadLetters",
            code(
                c().replay_dead_letters(v1::ReplayDeadLettersRequest {
                    organisation_id: o(),
                    delivery_ids: vec![d()],
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "ReplayDeadLetters by webhook",
            code(
                c().replay_dead_letters(v1::ReplayDeadLettersRequest {
                    organisation_id: o(),
                    webhook_id: w(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "SendTestEvent",
            code(
                c().send_test_event(v1::SendTestEventRequest {
                    organisation_id: o(),
                    webhook_id: w(),
                    event_type: "job.completed".into(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "GetOrganisationSettings",
            code(
                c().get_organisation_settings(v1::GetOrganisationSettingsRequest {
                    organisation_id: o(),
                })
                .await,
            ),
        ),
        (
            "UpdateOrganisationSettings",
            code(
                c().update_organisation_settings(v1::UpdateOrganisationSettingsRequest {
                    organisation_id: o(),
                    ..Default::default()
                })
                .await,
            ),
        ),
        (
            "DeleteWebhook",
            code(
                c().delete_webhook(v1::DeleteWebhookRequest {
                    organisation_id: o(),
                    id: w(),
                })
                .await,
            ),
        ),
    ]
}

/// RPCs outside the organisation matrix, each with where its access is tested instead.
const OUTSIDE_THE_MATRIX: &[(&str, &str)] = &[
    // The event catalog is platform-wide: any caller reads it, only a super_admin changes it.
    ("ListEventTypes", "catalog.rs"),
    ("RegisterEventType", "catalog.rs"),
    // Ingest: below, publishing only as a publisher and only into the token's organisation.
    ("PublishEvent", "auth.rs"),
    ("PublishEvents", "auth.rs"),
];

/// Every RPC of every hookline.v1 service, read from the served descriptor set, so an RPC added later
/// cannot be left out of the access tests.
fn every_rpc() -> std::collections::BTreeSet<String> {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(hookline_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    set.file
        .iter()
        .flat_map(|f| &f.service)
        .flat_map(|s| &s.method)
        .map(|m| m.name().to_owned())
        .collect()
}

/// The code a call ended with.
fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    result.map_or_else(|s| s.code(), |_| Code::Ok)
}

/// A webhook of `org` with one succeeded delivery; returns the webhook id and the delivery id.
async fn webhook_with_delivery(stack: &Stack, receiver: &Receiver, org: &str) -> (String, String) {
    let (webhook, _) = stack
        .webhook(org, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(org, "job.completed", serde_json::json!({"jobId": "J-1"}))
        .await;
    let delivery = stack
        .settled(
            org,
            &webhook.id,
            v1::DeliveryStatus::Succeeded,
            Duration::from_secs(20),
        )
        .await;
    (webhook.id, delivery.delivery.expect("a delivery").id)
}

const READS: &[&str] = &[
    "GetWebhook",
    "ListWebhooks",
    "ListEvents",
    "ListDeliveries",
    "GetDelivery",
    "ListDeadLetters",
];

/// Organisation settings: an org_admin's (or super_admin's), not a webhook manager's.
const SETTINGS: &[&str] = &["GetOrganisationSettings", "UpdateOrganisationSettings"];

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn each_role_reaches_only_the_rpcs_it_is_granted(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, delivery) = webhook_with_delivery(&stack, &receiver, ORG_A).await;

    struct Case {
        who: &'static str,
        token: String,
        allowed: fn(&str) -> bool,
    }
    let cases = [
        Case {
            who: "super_admin",
            token: token(None, &[Role::SuperAdmin], &[]),
            allowed: |_| true,
        },
        Case {
            who: "org_admin",
            token: token(Some(ORG_A), &[Role::OrgAdmin], &[]),
            allowed: |_| true,
        },
        Case {
            who: "org.webhooks",
            token: token(Some(ORG_A), &[], &[WEBHOOKS_PERMISSION]),
            allowed: |rpc| !SETTINGS.contains(&rpc),
        },
        Case {
            who: "viewer",
            token: token(Some(ORG_A), &[Role::Viewer], &[]),
            allowed: |rpc| READS.contains(&rpc),
        },
        Case {
            who: "publisher",
            token: token(Some(ORG_A), &[Role::Publisher], &[]),
            allowed: |_| false,
        },
        Case {
            who: "no role",
            token: token(Some(ORG_A), &[], &[]),
            allowed: |_| false,
        },
        Case {
            who: "org_admin of no org",
            token: token(None, &[Role::OrgAdmin], &[]),
            allowed: |_| false,
        },
    ];
    // The matrix covers every RPC but those tested elsewhere, named with their reason above.
    let admin = stack.registry_as(&cases[0].token);
    let mut covered: std::collections::BTreeSet<String> =
        call_every_rpc(&admin, ORG_A, &webhook, &delivery)
            .await
            .into_iter()
            .map(|(rpc, _)| rpc.split(' ').next().unwrap_or(rpc).to_owned())
            .collect();
    covered.extend(OUTSIDE_THE_MATRIX.iter().map(|(rpc, _)| rpc.to_string()));
    assert_eq!(covered, every_rpc(), "every RPC is in the access matrix");

    let mut failures = Vec::new();
    for case in &cases {
        let client = stack.registry_as(&case.token);
        // Deletion comes last, and the completeness check above already deleted the webhook, so every
        // role finds it gone alike.
        for (rpc, code) in call_every_rpc(&client, ORG_A, &webhook, &delivery).await {
            let granted = !matches!(code, Code::PermissionDenied | Code::Unauthenticated);
            if granted != (case.allowed)(rpc) {
                failures.push(format!("{} → {rpc}: {code:?}", case.who));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected codes:\n{}",
        failures.join("\n")
    );

    // Publishing needs `publisher`, in the event's own organisation (or `org: "*"` for platform services).
    let publish = |t: String, org: &'static str| {
        let mut ingest = stack.ingest_as(&t);
        async move {
            ingest
                .publish_event(publish_request(org, "job.completed", serde_json::json!({})))
                .await
                .map(|_| Code::Ok)
                .unwrap_or_else(|s| s.code())
        }
    };
    assert_eq!(
        publish(token(Some(ORG_A), &[Role::Publisher], &[]), ORG_A).await,
        Code::Ok
    );
    assert_eq!(
        publish(token(Some("*"), &[Role::Publisher], &[]), ORG_B).await,
        Code::Ok
    );
    assert_eq!(
        publish(token(Some(ORG_A), &[Role::Publisher], &[]), ORG_B).await,
        Code::PermissionDenied
    );
    assert_eq!(
        publish(token(Some(ORG_A), &[Role::OrgAdmin], &[]), ORG_A).await,
        Code::PermissionDenied
    );
    assert_eq!(
        publish(token(Some(ORG_A), &[Role::Viewer], &[]), ORG_A).await,
        Code::PermissionDenied
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn missing_forged_and_expired_tokens_are_unauthenticated(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let forged = hookline_runtime::auth::mint_hs256(
        &"not-the-secret".into(),
        &claims(None, &[Role::SuperAdmin], &[]),
    )
    .unwrap();
    let mut old = claims(Some(ORG_A), &[Role::OrgAdmin, Role::Publisher], &[]);
    old.exp = 1_000_000_000;
    let expired = hookline_tests::auth::sign(&old);
    for bad in ["", "garbage", forged.as_str(), expired.as_str()] {
        let status = stack
            .registry_as(bad)
            .list_webhooks(v1::ListWebhooksRequest {
                organisation_id: ORG_A.into(),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{bad:.20}: {status:?}"
        );
        let status = stack
            .ingest_as(bad)
            .publish_event(publish_request(
                ORG_A,
                "job.completed",
                serde_json::json!({}),
            ))
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{bad:.20}: {status:?}"
        );
    }
    let status = stack
        .registry_as(&expired)
        .list_webhooks(v1::ListWebhooksRequest::default())
        .await
        .unwrap_err();
    assert!(status.message().contains("expired"), "{status:?}");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_token_of_one_organisation_finds_nothing_of_another(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (b_webhook, b_delivery) = webhook_with_delivery(&stack, &receiver, ORG_B).await;
    let (a_webhook, _) = webhook_with_delivery(&stack, &receiver, ORG_A).await;
    let a_admin = stack.registry_as(&token(Some(ORG_A), &[Role::OrgAdmin], &[]));

    // Naming the other organisation outright is refused.
    for (rpc, code) in call_every_rpc(&a_admin, ORG_B, &b_webhook, &b_delivery).await {
        assert_eq!(code, Code::PermissionDenied, "{rpc} naming {ORG_B}");
    }
    // Acting in its own organisation (organisation_id left empty), B's ids do not exist.
    for (rpc, code) in call_every_rpc(&a_admin, "", &b_webhook, &b_delivery).await {
        let expected = match rpc {
            // These create or list within org_a, and so succeed.
            "CreateWebhook"
            | "ListWebhooks"
            | "ListEvents"
            | "ListDeliveries"
            | "ListDeadLetters"
            | "GetOrganisationSettings"
            | "UpdateOrganisationSettings" => Code::Ok,
            _ => Code::NotFound,
        };
        assert_eq!(code, expected, "{rpc} with {ORG_B}'s ids");
    }
    // Lists hold org_a's rows only, and B's webhook and delivery are untouched.
    let mut a = a_admin.clone();
    let webhooks = a
        .list_webhooks(v1::ListWebhooksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(webhooks.webhooks.iter().all(|w| w.organisation_id == ORG_A));
    assert!(webhooks.webhooks.iter().any(|w| w.id == a_webhook));
    let deliveries = a
        .list_deliveries(v1::ListDeliveriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!deliveries.deliveries.is_empty());
    assert!(
        deliveries
            .deliveries
            .iter()
            .all(|d| d.organisation_id == ORG_A)
    );
    let events = a
        .list_events(v1::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!events.events.is_empty());
    assert!(events.events.iter().all(|e| e.organisation_id == ORG_A));
    let b = stack.delivery(ORG_B, &b_delivery).await;
    assert_eq!(
        b.delivery.unwrap().status,
        v1::DeliveryStatus::Succeeded as i32
    );
    let still = stack
        .registry
        .clone()
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG_B.into(),
            id: b_webhook,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.name, "test webhook", "B's webhook was not renamed");
}
