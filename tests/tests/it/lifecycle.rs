//! An endpoint's life: what Hookline does when an endpoint says it is gone. A `410 Gone` ends the
//! delivery at once in the dead-letter queue and switches the webhook off with the reason shown, so it
//! does not keep filling the queue; switching it back on clears the reason and pings it.

use hookline_proto::v1;
use hookline_runtime::auth::Role;
use hookline_tests::auth::token;
use hookline_tests::browser::Browser;
use hookline_tests::stack::message_count;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_410_ends_the_delivery_at_once_in_the_dead_letter_queue(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(410).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-410"}))
        .await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Failed, DEADLINE)
        .await;

    let codes: Vec<_> = failed
        .attempts
        .iter()
        .map(|a| (a.attempt, a.response_status))
        .collect();
    assert_eq!(codes, vec![(1, 410)], "no retry after a 410");
    let broker = stack.broker().await;
    let topology = stack.topology();
    eventually("the dead letter", DEADLINE, || async {
        (message_count(&broker, &topology.dead_letter_queue()).await == 1).then_some(())
    })
    .await;
    for delay in topology.retry_schedule() {
        let queue = topology.retry_queue(*delay);
        assert_eq!(message_count(&broker, &queue).await, 0, "{queue} is empty");
    }
    assert_eq!(receiver.count(), 1);

    let mut registry = stack.registry.clone();
    let off = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
        })
        .await
        .expect("the webhook")
        .into_inner();
    assert_eq!(off.status, v1::WebhookStatus::Disabled as i32);
    assert_eq!(off.disabled_reason, "the endpoint answered 410 Gone");
    assert!(off.disabled_at.is_some());
    // An administrator sees why on the console's webhooks table.
    let console = stack.console().await;
    let browser = Browser::start(1280).await;
    browser
        .goto(&console.sign_in_link(&token(Some(ORG), &[Role::Viewer], &[])))
        .await;
    assert_eq!(browser.text(".status").await, "Off");
    assert_eq!(
        browser.text(".disabled-reason").await,
        "Turned off by Hookline: the endpoint answered 410 Gone."
    );
    assert!(browser.accessibility_violations().await.is_empty());
    // Nothing more goes to it: the next event is recorded with no delivery to it.
    let next = stack
        .publish(
            ORG,
            "job.completed",
            serde_json::json!({"jobId": "J-after"}),
        )
        .await;
    eventually("the next event recorded", DEADLINE, || async {
        let listed = registry
            .clone()
            .list_events(v1::ListEventsRequest {
                organisation_id: ORG.into(),
                event_id: next.clone(),
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner();
        (!listed.events.is_empty()).then_some(())
    })
    .await;
    assert_eq!(stack.deliveries(ORG, &webhook.id).await.len(), 1);

    let on = registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: ORG.into(),
            id: webhook.id.clone(),
            status: v1::WebhookStatus::Enabled.into(),
        })
        .await
        .expect("switched back on")
        .into_inner();
    assert_eq!(on.disabled_reason, "", "switching it on clears the reason");
    assert!(on.disabled_at.is_none());
    receiver.wait_for_pings(1, DEADLINE).await;
}

/// A webhook whose deliveries all fail for `registry.auto_disable_after` (seconds here, 5 days by
/// default) is switched off with the reason, while a healthy one beside it stays on.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_webhook_failing_for_the_whole_period_is_switched_off(pool: PgPool) {
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__REGISTRY__AUTO_DISABLE_AFTER", "3s"),
            ("HOOKLINE__REGISTRY__METRICS_INTERVAL", "200ms"),
        ],
    )
    .await;
    let failing = Receiver::always(500).await;
    let healthy = Receiver::always(200).await;
    let (broken, _) = stack.webhook(ORG, &failing.url(), &["job.completed"]).await;
    let (fine, _) = stack
        .webhook(ORG, &healthy.url(), &["job.completed", "webhook.disabled"])
        .await;
    let started = std::time::Instant::now();
    let mut registry = stack.registry.clone();
    let get = |id: String| {
        let mut registry = registry.clone();
        async move {
            let request = v1::GetWebhookRequest {
                organisation_id: ORG.into(),
                id,
            };
            registry
                .get_webhook(request)
                .await
                .expect("the webhook")
                .into_inner()
        }
    };

    // Events keep coming, every 300 ms, and every one fails at the broken endpoint.
    let mut last_published: Option<std::time::Instant> = None;
    let off = eventually("the failing webhook switched off", DEADLINE, || {
        let due =
            last_published.is_none_or(|at| at.elapsed() > std::time::Duration::from_millis(300));
        if due {
            last_published = Some(std::time::Instant::now());
        }
        let (stack, get, id) = (&stack, &get, broken.id.clone());
        async move {
            if due {
                stack
                    .publish(ORG, "job.completed", serde_json::json!({}))
                    .await;
            }
            let webhook = get(id).await;
            (webhook.status == v1::WebhookStatus::Disabled as i32).then_some(webhook)
        }
    })
    .await;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "not before the period has passed"
    );
    assert_eq!(off.disabled_reason, "every delivery failed for 3 seconds");
    assert!(off.disabled_at.is_some());
    assert!(failing.count() > 0 && healthy.count() > 0);
    // The healthy webhook, subscribed to webhook.disabled, hears of it.
    let told = eventually(
        "webhook.disabled at the healthy webhook",
        DEADLINE,
        || async {
            healthy
                .received()
                .into_iter()
                .map(|r| r.json())
                .find(|body| {
                    body["eventType"] == "webhook.disabled"
                        && body["data"]["object"]["webhookId"] == broken.id
                })
        },
    )
    .await;
    assert_eq!(
        told["data"]["object"]["reason"],
        "every delivery failed for 3 seconds"
    );
    let on = get(fine.id.clone()).await;
    assert_eq!(
        on.status,
        v1::WebhookStatus::Enabled as i32,
        "the healthy one stays on"
    );
    assert_eq!(on.disabled_reason, "");

    // Switched back on, the reason is cleared.
    let back = registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: ORG.into(),
            id: broken.id.clone(),
            status: v1::WebhookStatus::Enabled.into(),
        })
        .await
        .expect("switched back on")
        .into_inner();
    assert_eq!(back.disabled_reason, "");
}
