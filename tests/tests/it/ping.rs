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
