//! A webhook is pinged each time it becomes enabled, and only then (seed 003): created enabled, switched
//! on, or updated to enabled. The ping is a signed `webhook.ping` delivery, logged like any other,
//! whatever event types the webhook subscribes to. Switching on a webhook that is already on, or editing
//! it while on, sends nothing.

use hookline_proto::v1;
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;

fn set_status(webhook: &v1::Webhook, status: v1::WebhookStatus) -> v1::SetWebhookStatusRequest {
    v1::SetWebhookStatusRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
        status: status.into(),
    }
}

/// Publishes an event to `webhook` and waits until it is delivered. One organisation's events are fanned
/// out in order, so any ping the calls before it sent is logged by then, and the count of pings is final.
async fn settle_with_an_event(stack: &Stack, receiver: &Receiver, webhook: &v1::Webhook) {
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    receiver.wait_for(1, DEADLINE).await;
    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn enabling_a_webhook_sends_it_a_signed_ping(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let bystander = Receiver::always(200).await;
    let disabled = v1::WebhookStatus::Disabled.into();
    let (webhook, secret) = stack
        .create(v1::CreateWebhookRequest {
            status: disabled,
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    let (other, _) = stack
        .create(v1::CreateWebhookRequest {
            status: disabled,
            ..webhook_request(ORG, &bystander.url(), &["job.completed"])
        })
        .await;

    stack
        .registry
        .clone()
        .set_webhook_status(set_status(&webhook, v1::WebhookStatus::Enabled))
        .await
        .expect("enabling");

    let ping = receiver.wait_for_pings(1, DEADLINE).await.remove(0);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&ping.body, &ping.headers)
        .expect("signed");
    let body = ping.json();
    assert_eq!(body["eventType"], "webhook.ping");
    assert_eq!(body["webhookId"], webhook.id);
    assert_eq!(body["data"]["object"]["objectType"], "webhook");
    hookline_tests::eventually("the ping logged as succeeded", DEADLINE, || async {
        let pings = stack.pings(ORG, &webhook.id).await;
        (pings.len() == 1 && pings[0].status == v1::DeliveryStatus::Succeeded as i32).then_some(())
    })
    .await;
    assert!(stack.pings(ORG, &other.id).await.is_empty());
    assert!(
        bystander.pings().is_empty(),
        "only the enabled webhook is pinged"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_webhook_is_pinged_each_time_it_becomes_enabled_and_only_then(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let mut registry = stack.registry.clone();

    // Created enabled: pinged.
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    receiver.wait_for_pings(1, DEADLINE).await;

    // Switched on again, and edited while on: nothing is sent.
    registry
        .set_webhook_status(set_status(&webhook, v1::WebhookStatus::Enabled))
        .await
        .expect("enabling again");
    let edit = |status: v1::WebhookStatus| v1::UpdateWebhookRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
        name: "renamed".into(),
        url: receiver.url(),
        status: status.into(),
        event_types: vec!["job.completed".into()],
        ..Default::default()
    };
    registry
        .update_webhook(edit(v1::WebhookStatus::Enabled))
        .await
        .expect("editing");
    settle_with_an_event(&stack, &receiver, &webhook).await;
    assert_eq!(
        receiver.pings().len(),
        1,
        "no ping for a webhook already on"
    );
    assert_eq!(stack.pings(ORG, &webhook.id).await.len(), 1);

    // Off, then on by an edit: pinged again. Off, then switched on: and again.
    registry
        .set_webhook_status(set_status(&webhook, v1::WebhookStatus::Disabled))
        .await
        .expect("disabling");
    registry
        .update_webhook(edit(v1::WebhookStatus::Enabled))
        .await
        .expect("enabling by an edit");
    receiver.wait_for_pings(2, DEADLINE).await;
    registry
        .set_webhook_status(set_status(&webhook, v1::WebhookStatus::Disabled))
        .await
        .expect("disabling");
    registry
        .set_webhook_status(set_status(&webhook, v1::WebhookStatus::Enabled))
        .await
        .expect("enabling");
    receiver.wait_for_pings(3, DEADLINE).await;
}

/// Two administrators switch the same webhook on at once: the row lock lets one see it off, so the
/// endpoint is pinged once.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn concurrent_enables_ping_once(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let (webhook, _) = stack
        .create(v1::CreateWebhookRequest {
            status: v1::WebhookStatus::Disabled.into(),
            ..webhook_request(ORG, &receiver.url(), &["job.completed"])
        })
        .await;
    let enable = || {
        let mut registry = stack.registry.clone();
        let request = set_status(&webhook, v1::WebhookStatus::Enabled);
        async move { registry.set_webhook_status(request).await }
    };
    let calls: Vec<_> = (0..8).map(|_| enable()).collect();
    for answer in futures_util::future::join_all(calls).await {
        answer.expect("every call answers OK");
    }
    settle_with_an_event(&stack, &receiver, &webhook).await;
    assert_eq!(
        stack.pings(ORG, &webhook.id).await.len(),
        1,
        "eight enables, one ping"
    );
    receiver.wait_for_pings(1, DEADLINE).await;
}

/// A registry whose broker cannot be reached: every ping fails to publish.
async fn registry_without_a_broker(pool: PgPool) -> hookline_tests::auth::RegistryClient {
    let env = hookline_tests::stack::test_env(
        &pool,
        &[("HOOKLINE__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
    );
    let settings =
        hookline_runtime::config::Settings::load_from(None, env).expect("test settings are valid");
    let registry = hookline_registry::Registry::build(&settings, pool)
        .await
        .expect("registry binds");
    let addr = registry.listeners().grpc_addr();
    tokio::spawn(registry.run_until_stopped(tokio_util::sync::CancellationToken::new()));
    let channel = hookline_tests::stack::connect(addr).await;
    hookline_tests::auth::registry_client(channel, &hookline_tests::auth::super_admin())
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_switch_on_whose_ping_cannot_be_sent_is_undone(pool: PgPool) {
    let mut registry = registry_without_a_broker(pool).await;
    let request = webhook_request(ORG, "https://hooks.example.com/in", &["job.completed"]);

    // Created on: refused as UNAVAILABLE (a retry pings it), and not left behind half made.
    let refused = registry
        .create_webhook(request.clone())
        .await
        .expect_err("created on without its ping");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("retry"), "{refused:?}");
    let list = v1::ListWebhooksRequest {
        organisation_id: ORG.into(),
        ..Default::default()
    };
    let listed = registry.list_webhooks(list.clone()).await.unwrap();
    assert!(
        listed.into_inner().webhooks.is_empty(),
        "the new webhook is deleted"
    );

    // Created off, then switched on or updated to on: refused, and still off.
    let off = registry
        .create_webhook(v1::CreateWebhookRequest {
            status: v1::WebhookStatus::Disabled.into(),
            ..request.clone()
        })
        .await
        .expect("a webhook created off sends no ping")
        .into_inner()
        .webhook
        .unwrap();
    let switched = registry
        .set_webhook_status(set_status(&off, v1::WebhookStatus::Enabled))
        .await
        .expect_err("switched on without its ping");
    assert_eq!(switched.code(), tonic::Code::Unavailable);
    let updated = registry
        .update_webhook(v1::UpdateWebhookRequest {
            organisation_id: ORG.into(),
            id: off.id.clone(),
            name: request.name.clone(),
            url: request.url.clone(),
            status: v1::WebhookStatus::Enabled.into(),
            event_types: request.event_types.clone(),
            ..Default::default()
        })
        .await
        .expect_err("updated to on without its ping");
    assert_eq!(updated.code(), tonic::Code::Unavailable);
    let listed = registry.list_webhooks(list).await.unwrap().into_inner();
    assert_eq!(listed.webhooks.len(), 1);
    assert_eq!(listed.webhooks[0].status(), v1::WebhookStatus::Disabled);
}
