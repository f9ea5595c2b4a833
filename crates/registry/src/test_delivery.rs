//! Test events (the "Test event" dialog of seed 002): one synchronous delivery of an example payload,
//! signed and sent by `hookline_dispatch` exactly as the delivery workers send, recorded in the log and
//! marked as a test. It works on disabled webhooks too, so owners can test before enabling.

use std::time::Duration;

use hookline_core::envelope::Envelope;
use hookline_core::messages::{EventMessage, delivery_id};
use hookline_core::secret_box::SecretBox;
use hookline_runtime::config::Settings;
use sqlx::PgPool;
use uuid::Uuid;

use hookline_dispatch::organisations::OrganisationCache;
use hookline_dispatch::outcome::{DeliveryState, HttpExchange, Outcome};
use hookline_dispatch::sender::{Sender, SenderError};
use hookline_dispatch::store;
use hookline_dispatch::webhooks::WebhookCache;

/// Sends test events. One per registry.
pub struct TestEvents {
    pool: PgPool,
    webhooks: WebhookCache,
    organisations: OrganisationCache,
    sender: Sender,
}

/// What a test event did.
#[derive(Debug)]
pub struct TestDelivery {
    pub delivery_id: Uuid,
    /// Where it was sent.
    pub url: String,
    /// The request as sent (credentials masked) and the response, or why there was none.
    pub exchange: HttpExchange,
}

#[derive(Debug, thiserror::Error)]
pub enum TestEventError {
    /// The webhook is gone, or its secrets cannot be opened.
    #[error("webhook not found")]
    WebhookGone,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Keep-alive connections the registry keeps to each host for test events.
const TEST_EVENT_IDLE_CONNECTIONS: usize = 4;

impl TestEvents {
    pub fn new(settings: &Settings, pool: PgPool, secrets: SecretBox) -> Result<Self, SenderError> {
        let d = &settings.delivery;
        Ok(Self {
            // Always read afresh: a test right after an edit must use the edit.
            webhooks: WebhookCache::new(pool.clone(), secrets, Duration::ZERO),
            organisations: OrganisationCache::new(pool.clone(), Duration::ZERO),
            // Test events are one at a time, made by hand.
            sender: Sender::new(
                d.request_timeout,
                d.max_response_body,
                TEST_EVENT_IDLE_CONNECTIONS,
                &settings.endpoints,
            )?,
            pool,
        })
    }

    /// Sends `event` to `webhook` (at `url` when given, else its own URL), waits for the answer and
    /// records it. The caller has checked that the webhook and `url` belong to the event's organisation.
    pub async fn send(
        &self,
        event: &EventMessage,
        webhook: Uuid,
        url: Option<&str>,
    ) -> Result<TestDelivery, TestEventError> {
        let target = self
            .webhooks
            .get(webhook)
            .await?
            .ok_or(TestEventError::WebhookGone)?;
        let url = url.unwrap_or(&target.url).to_owned();
        let delivery_id = delivery_id(event.id, webhook);
        store::insert_test(&self.pool, event, delivery_id, webhook, &url).await?;
        let body = Envelope::new(&self.organisations.localised(event).await?, webhook).to_bytes();
        let exchange = self
            .sender
            .send(&url, &target, &event.id.to_string(), body)
            .await;
        let outcome = Outcome {
            delivery_id,
            state: if exchange.succeeded() {
                DeliveryState::Succeeded
            } else {
                DeliveryState::Failed
            },
            attempt: 1,
            next_attempt_at: None,
            exchange: Some(exchange.clone()),
        };
        store::record(&self.pool, std::slice::from_ref(&outcome)).await?;
        tracing::info!(%delivery_id, webhook_id = %webhook, status = exchange.status, "test event sent");
        Ok(TestDelivery {
            delivery_id,
            url,
            exchange,
        })
    }
}
