//! Switching a webhook on pings it: a signed `webhook.ping` delivery, logged like any other, whatever
//! event types the webhook subscribes to.

use hookline_proto::v1;
use hookline_tests::stack::webhook_request;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn enabling_a_webhook_sends_it_a_signed_ping(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let bystander = Receiver::always(200).await;
    let disabled = v1::WebhookStatus::Disabled.into();
    let request = v1::CreateWebhookRequest {
        status: disabled,
        ..webhook_request(ORG, &receiver.url(), &["job.completed"])
    };
    let (webhook, secret) = stack.create(request).await;
    stack
        .webhook(ORG, &bystander.url(), &["job.completed"])
        .await;

    let enable = v1::SetWebhookStatusRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
        status: v1::WebhookStatus::Enabled.into(),
    };
    stack
        .registry
        .clone()
        .set_webhook_status(enable)
        .await
        .expect("enabling");

    let ping = receiver.wait_for(1, DEADLINE).await.remove(0);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&ping.body, &ping.headers)
        .expect("signed");
    let body = ping.json();
    assert_eq!(body["eventType"], "webhook.ping");
    assert_eq!(body["webhookId"], webhook.id);
    assert_eq!(body["data"]["object"]["objectType"], "webhook");
    let logged = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    assert_eq!(logged.delivery.unwrap().event_type, "webhook.ping");
    assert_eq!(bystander.count(), 0, "only the enabled webhook is pinged");
}
