//! Endpoint authentication: Basic credentials or a shared-secret header reach the receiver on every
//! request, and no API ever returns them.

use hookline_proto::v1;
use hookline_proto::v1::endpoint_auth::Method;
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;
use tonic::Code;

fn auth(method: Method) -> Option<v1::EndpointAuth> {
    Some(v1::EndpointAuth {
        method: Some(method),
    })
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn basic_and_header_credentials_arrive_at_the_receiver(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let basic_receiver = Receiver::always(200).await;
    let header_receiver = Receiver::always(200).await;
    let basic = Method::Basic(v1::BasicAuth {
        username: "hookline".into(),
        password: "pa55word".into(),
    });
    let header = Method::Header(v1::HeaderAuth {
        name: "X-Webhook-Secret".into(),
        value: "shared-s3cret".into(),
    });
    let (basic_hook, _) = stack
        .create(v1::CreateWebhookRequest {
            auth: auth(basic),
            ..webhook_request(ORG, &basic_receiver.url(), &["job.completed"])
        })
        .await;
    let (header_hook, _) = stack
        .create(v1::CreateWebhookRequest {
            auth: auth(header),
            ..webhook_request(ORG, &header_receiver.url(), &["job.completed"])
        })
        .await;
    assert_eq!(basic_hook.auth_method, v1::EndpointAuthMethod::Basic as i32);
    assert_eq!(
        header_hook.auth_method,
        v1::EndpointAuthMethod::Header as i32
    );

    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let request = basic_receiver.wait_for(1, DEADLINE).await.remove(0);
    assert_eq!(
        request.header("authorization"),
        "Basic aG9va2xpbmU6cGE1NXdvcmQ="
    );
    let request = header_receiver.wait_for(1, DEADLINE).await.remove(0);
    assert_eq!(request.header("x-webhook-secret"), "shared-s3cret");
    assert_eq!(
        request.header("authorization"),
        "",
        "header auth sends no Authorization"
    );

    // Write-only: reads show the method, never the credentials.
    let mut registry = stack.registry.clone();
    let read = registry.get_webhook(v1::GetWebhookRequest {
        organisation_id: ORG.into(),
        id: header_hook.id.clone(),
    });
    let read = format!("{:?}", read.await.unwrap().into_inner());
    assert!(
        !read.contains("shared-s3cret") && !read.contains("X-Webhook-Secret"),
        "{read}"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn updates_keep_credentials_unless_they_replace_them(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let header = Method::Header(v1::HeaderAuth {
        name: "x-secret".into(),
        value: "one".into(),
    });
    let request = v1::CreateWebhookRequest {
        auth: auth(header),
        ..webhook_request(ORG, &receiver.url(), &["job.completed"])
    };
    let (hook, _) = stack.create(request.clone()).await;
    let update = |auth: Option<v1::EndpointAuth>| v1::UpdateWebhookRequest {
        organisation_id: ORG.into(),
        id: hook.id.clone(),
        name: request.name.clone(),
        url: request.url.clone(),
        description: String::new(),
        status: 0,
        event_types: request.event_types.clone(),
        auth,
        event_versions: Default::default(),
        rate_limit: None,
    };
    let mut registry = stack.registry.clone();

    let kept = registry
        .update_webhook(update(None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.auth_method, v1::EndpointAuthMethod::Header as i32);
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    assert_eq!(
        receiver.wait_for(1, DEADLINE).await[0].header("x-secret"),
        "one"
    );

    let removed = registry
        .update_webhook(update(auth(Method::None(v1::NoAuth {}))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.auth_method, v1::EndpointAuthMethod::None as i32);

    let bad = Method::Header(v1::HeaderAuth {
        name: "webhook-signature".into(),
        value: "x".into(),
    });
    let status = registry
        .update_webhook(update(auth(bad)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("auth.header.name"),
        "{}",
        status.message()
    );
}
