//! The registry's contract: webhook CRUD scoped to an organisation, the secret shown once, validation
//! errors naming the field, health and reflection.

use hookline_proto::v1;
use hookline_tests::ORG;
use hookline_tests::Stack;
use sqlx::PgPool;
use tonic::Code;

fn create(url: &str) -> v1::CreateWebhookRequest {
    v1::CreateWebhookRequest {
        organisation_id: ORG.into(),
        name: "Billing".into(),
        url: url.into(),
        description: "Sends invoices".into(),
        status: v1::WebhookStatus::Unspecified.into(),
        event_types: vec!["job.completed".into()],
        auth: None,
        event_versions: Default::default(),
        rate_limit: 0,
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn webhooks_can_be_created_read_listed_updated_toggled_and_deleted(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let mut registry = stack.registry.clone();

    let created = registry
        .create_webhook(create("https://example.com/hooks"))
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    hookline_core::signing::SigningSecret::parse(&created.secret)
        .expect("a Standard Webhooks secret");
    let webhook = created.webhook.unwrap();
    assert_eq!(
        webhook.status,
        v1::WebhookStatus::Disabled as i32,
        "new webhooks start disabled"
    );
    assert_eq!(
        (webhook.name.as_str(), webhook.url.as_str()),
        ("Billing", "https://example.com/hooks")
    );
    assert!(webhook.created_at.is_some() && webhook.updated_at.is_some());

    let got = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, webhook);

    let updated = registry
        .update_webhook(v1::UpdateWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
            name: "Billing v2".into(),
            url: "https://example.com/v2".into(),
            description: String::new(),
            status: v1::WebhookStatus::Unspecified.into(),
            event_types: vec!["job.completed".into(), "estimate.updated".into()],
            auth: None,
            event_versions: Default::default(),
            rate_limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "Billing v2");
    assert_eq!(
        updated.event_types,
        vec!["job.completed", "estimate.updated"]
    );
    assert_eq!(
        updated.status,
        v1::WebhookStatus::Disabled as i32,
        "unspecified status is kept"
    );

    let enabled = registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
            status: v1::WebhookStatus::Enabled.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(enabled.status, v1::WebhookStatus::Enabled as i32);

    for n in 0..4 {
        registry
            .create_webhook(create(&format!("https://example.com/{n}")))
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = registry
            .list_webhooks(v1::ListWebhooksRequest {
                organisation_id: ORG.into(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.webhooks);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed.len(), 5, "pages of 2 cover all 5 webhooks once");
    assert_eq!(listed[0].id, webhook.id, "oldest first");

    registry
        .delete_webhook(v1::DeleteWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
        })
        .await
        .unwrap();
    let gone = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn another_organisation_cannot_see_or_change_a_webhook(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    let mut registry = stack.registry.clone();
    let webhook = registry
        .create_webhook(create("https://example.com/h"))
        .await
        .unwrap()
        .into_inner()
        .webhook
        .unwrap();
    let other = "org_other".to_owned();

    let get = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: other.clone(),
            id: webhook.id.clone(),
        })
        .await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound);
    let delete = registry
        .delete_webhook(v1::DeleteWebhookRequest {
            organisation_id: other.clone(),
            id: webhook.id.clone(),
        })
        .await;
    assert_eq!(delete.unwrap_err().code(), Code::NotFound);
    let toggle = registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: other.clone(),
            id: webhook.id.clone(),
            status: 1,
        })
        .await;
    assert_eq!(toggle.unwrap_err().code(), Code::NotFound);
    let list = registry
        .list_webhooks(v1::ListWebhooksRequest {
            organisation_id: other,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(list.into_inner().webhooks.is_empty());
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn bad_webhook_input_gets_invalid_argument_naming_the_field(pool: PgPool) {
    let stack = Stack::without_worker(
        pool,
        &[("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "false")],
    )
    .await;
    let mut registry = stack.registry.clone();
    let valid = || create("https://example.com/hooks");
    let cases: Vec<(&str, v1::CreateWebhookRequest)> = vec![
        (
            "name",
            v1::CreateWebhookRequest {
                name: String::new(),
                ..valid()
            },
        ),
        (
            "name",
            v1::CreateWebhookRequest {
                name: "n".repeat(101),
                ..valid()
            },
        ),
        (
            "url",
            v1::CreateWebhookRequest {
                url: "not a url".into(),
                ..valid()
            },
        ),
        (
            "url",
            v1::CreateWebhookRequest {
                url: "http://example.com/plain".into(),
                ..valid()
            },
        ),
        (
            "description",
            v1::CreateWebhookRequest {
                description: "d".repeat(1001),
                ..valid()
            },
        ),
        (
            "event_types",
            v1::CreateWebhookRequest {
                event_types: vec![],
                ..valid()
            },
        ),
        (
            "event_types",
            v1::CreateWebhookRequest {
                event_types: vec!["completed".into()],
                ..valid()
            },
        ),
        (
            "status",
            v1::CreateWebhookRequest {
                status: 9,
                ..valid()
            },
        ),
        (
            "organisation_id",
            v1::CreateWebhookRequest {
                organisation_id: String::new(),
                ..valid()
            },
        ),
    ];
    for (field, request) in cases {
        let status = registry
            .create_webhook(request)
            .await
            .expect_err("rejected");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().contains(&format!("{field}:")),
            "{:?} names {field}",
            status.message()
        );
        let details =
            tonic_types::StatusExt::get_details_bad_request(&status).expect("BadRequest details");
        assert!(
            details.field_violations.iter().any(|v| v.field == field),
            "{details:?} names {field}"
        );
    }

    let unknown = uuid::Uuid::now_v7().to_string();
    let status = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG.into(),
            id: unknown.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = registry
        .get_delivery(v1::GetDeliveryRequest {
            organisation_id: ORG.into(),
            id: unknown,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG.into(),
            id: "42".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message().contains("id:")),
        (Code::InvalidArgument, true)
    );
}

/// The services a server lists through reflection `$version` (`v1` or `v1alpha`, whose messages are
/// alike but distinct types), sorted.
macro_rules! list_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = ServerReflectionClient::new($channel)
            .server_reflection_info(futures_util::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses
            .message()
            .await
            .unwrap()
            .expect("a reflection response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("a service list")
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }};
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn both_servers_offer_health_and_reflection(pool: PgPool) {
    let stack = Stack::without_worker(pool, &[]).await;
    for (channel, service, ops, dependencies) in [
        (
            stack.registry_channel.clone(),
            "hookline.v1.WebhookRegistry",
            stack.registry_ops,
            &["amqp", "database"][..],
        ),
        (
            stack.ingest_channel.clone(),
            "hookline.v1.EventIngest",
            stack.ingest_ops,
            &["amqp"][..],
        ),
    ] {
        let health =
            hookline_tests::eventually("SERVING", std::time::Duration::from_secs(10), || {
                let mut client =
                    tonic_health::pb::health_client::HealthClient::new(channel.clone());
                async move {
                    let request = tonic_health::pb::HealthCheckRequest {
                        service: service.into(),
                    };
                    let status = client.check(request).await.ok()?.into_inner().status;
                    (status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
                        .then_some(status)
                }
            })
            .await;
        assert_eq!(health, 1);
        // The HTTP probes agree: alive, and ready with every dependency up.
        let get = |path| hookline_tests::ops::get(ops, path);
        assert_eq!(get("/healthz").await.map(|(status, _)| status), Some(200));
        let (status, body) = get("/readyz").await.expect("/readyz answers");
        assert_eq!(status, 200, "{body}");
        for dependency in dependencies {
            assert!(body.contains(&format!("{dependency}: up")), "{body}");
        }

        // Each server lists what it serves, and only that, in both reflection versions.
        let mut expected = vec![
            service.to_owned(),
            "grpc.health.v1.Health".to_owned(),
            "grpc.reflection.v1.ServerReflection".to_owned(),
            "grpc.reflection.v1alpha.ServerReflection".to_owned(),
        ];
        expected.sort();
        assert_eq!(list_services!(v1, channel.clone()), expected);
        assert_eq!(list_services!(v1alpha, channel), expected);
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn an_organisation_cannot_register_more_webhooks_than_its_limit(pool: PgPool) {
    let stack = Stack::without_worker(
        pool,
        &[("HOOKLINE__REGISTRY__MAX_WEBHOOKS_PER_ORGANISATION", "2")],
    )
    .await;
    let mut registry = stack.registry.clone();
    let first = registry
        .create_webhook(create("https://example.com/1"))
        .await
        .unwrap()
        .into_inner();
    registry
        .create_webhook(create("https://example.com/2"))
        .await
        .unwrap();

    let refused = registry
        .create_webhook(create("https://example.com/3"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("2 webhooks"),
        "{}",
        refused.message()
    );

    let elsewhere = v1::CreateWebhookRequest {
        organisation_id: "org_other".into(),
        ..create("https://example.com/x")
    };
    registry
        .create_webhook(elsewhere)
        .await
        .expect("the limit is per organisation");

    let id = first.webhook.unwrap().id;
    registry
        .delete_webhook(v1::DeleteWebhookRequest {
            organisation_id: ORG.into(),
            id,
        })
        .await
        .unwrap();
    registry
        .create_webhook(create("https://example.com/3"))
        .await
        .expect("room again after a delete");
}
