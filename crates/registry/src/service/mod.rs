//! The `hookline.v1.WebhookRegistry` gRPC service.

mod catalog_rpcs;
mod log_rpcs;
mod replay_rpcs;
mod settings_rpcs;
mod test_events;
mod webhook_rpcs;

use hookline_core::messages::EventMessage;
use hookline_runtime::publisher::EventPublisher;
use hookline_runtime::topology::Topology;
use std::time::Duration;

use hookline_core::endpoint_auth::{EndpointAuth, seal_context};
use hookline_core::organisation::OrganisationId;
use hookline_core::secret_box::{Sealed, SecretBox};
use hookline_core::signing::SigningSecret;
use hookline_proto::v1;
use hookline_proto::v1::webhook_registry_server::WebhookRegistry;
use hookline_runtime::auth::{Action, Caller};
use hookline_runtime::config::Settings;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::sync::Arc;

use crate::test_delivery::TestEvents;

use crate::error::RegistryError;
use crate::store::DeliveryFilter;
use crate::{page, store};

/// The registry's request handlers.
#[derive(Clone)]
pub struct RegistryService {
    pool: PgPool,
    allow_insecure_http: bool,
    secrets: SecretBox,
    rotation_overlap: Duration,
    max_webhooks: u32,
    events: EventPublisher,
    topology: Topology,
    tests: Arc<TestEvents>,
}

impl RegistryService {
    pub fn new(
        pool: PgPool,
        settings: &Settings,
        secrets: SecretBox,
        events: EventPublisher,
        tests: TestEvents,
    ) -> Self {
        Self {
            tests: Arc::new(tests),
            events,
            topology: settings.topology(),
            pool,
            allow_insecure_http: settings.endpoints.allow_insecure_http,
            secrets,
            rotation_overlap: settings.secrets.rotation_overlap,
            max_webhooks: settings.registry.max_webhooks_per_organisation,
        }
    }

    /// One page of the delivery log, and the token of the next.
    async fn delivery_page(
        &self,
        organisation_id: &str,
        filter: &DeliveryFilter,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<v1::Delivery>, String), RegistryError> {
        let limit = page::size(page_size);
        let before = page::decode(page_token)?;
        let rows =
            store::list_deliveries(&self.pool, organisation_id, filter, before, limit).await?;
        Ok(page::finish(rows, limit, |d| (d.created_at, d.id)))
    }

    /// Endpoint credentials sealed for storage; `None` for no authentication.
    fn seal_auth(&self, id: Uuid, auth: &EndpointAuth) -> Option<Sealed> {
        (*auth != EndpointAuth::None)
            .then(|| self.secrets.seal(&auth.to_bytes(), &seal_context(&id)))
    }

    /// A fresh secret for webhook `id`: its `whsec_…` form for the caller, sealed for storage.
    fn new_secret(&self, id: Uuid) -> (String, Sealed) {
        let secret = SigningSecret::generate().encode();
        let sealed = self.secrets.seal(secret.as_bytes(), id.as_bytes());
        (secret, sealed)
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The request's message and the organisation in which its caller may do `action`.
fn authorize<T: OrganisationScoped>(
    request: Request<T>,
    action: Action,
) -> Result<(OrganisationId, T), Status> {
    let org = Caller::of(&request)?.authorize(action, request.get_ref().organisation_id())?;
    Ok((org, request.into_inner()))
}

/// A request that names the organisation it acts in.
trait OrganisationScoped {
    fn organisation_id(&self) -> &str;
}

macro_rules! organisation_scoped {
    ($($request:ident),* $(,)?) => {$(
        impl OrganisationScoped for v1::$request {
            fn organisation_id(&self) -> &str {
                &self.organisation_id
            }
        }
    )*};
}

organisation_scoped!(
    CreateWebhookRequest,
    GetWebhookRequest,
    ListWebhooksRequest,
    UpdateWebhookRequest,
    DeleteWebhookRequest,
    SetWebhookStatusRequest,
    RotateSecretRequest,
    ListEventsRequest,
    ListDeliveriesRequest,
    GetDeliveryRequest,
    RedeliverRequest,
    ListDeadLettersRequest,
    ReplayDeadLettersRequest,
    SendTestEventRequest,
    GetOrganisationSettingsRequest,
    UpdateOrganisationSettingsRequest,
);

/// The `webhook.ping` event addressed to `webhook` alone.
fn ping_event(webhook: &store::WebhookRow) -> EventMessage {
    let target = hookline_core::operational::WebhookRef {
        organisation_id: &webhook.organisation_id,
        id: webhook.id,
        url: &webhook.url,
    };
    hookline_core::operational::ping(&target, &webhook.name)
}

/// `event` in the version a delivery carries.
fn in_version(event: EventMessage, version: i32) -> Result<EventMessage, RegistryError> {
    event
        .in_version(version.max(1) as u32)
        .ok_or(RegistryError::NotFound("event version"))
}

fn found<T>(row: Option<T>, what: &'static str) -> Result<T, RegistryError> {
    row.ok_or(RegistryError::NotFound(what))
}

#[tonic::async_trait]
impl WebhookRegistry for RegistryService {
    async fn create_webhook(
        &self,
        request: Request<v1::CreateWebhookRequest>,
    ) -> Reply<v1::CreateWebhookResponse> {
        self.webhook_create(request).await
    }

    async fn get_webhook(&self, request: Request<v1::GetWebhookRequest>) -> Reply<v1::Webhook> {
        self.webhook_get(request).await
    }

    async fn list_webhooks(
        &self,
        request: Request<v1::ListWebhooksRequest>,
    ) -> Reply<v1::ListWebhooksResponse> {
        self.webhook_list(request).await
    }

    async fn update_webhook(
        &self,
        request: Request<v1::UpdateWebhookRequest>,
    ) -> Reply<v1::Webhook> {
        self.webhook_update(request).await
    }

    async fn delete_webhook(
        &self,
        request: Request<v1::DeleteWebhookRequest>,
    ) -> Reply<v1::DeleteWebhookResponse> {
        self.webhook_delete(request).await
    }

    async fn set_webhook_status(
        &self,
        request: Request<v1::SetWebhookStatusRequest>,
    ) -> Reply<v1::Webhook> {
        self.webhook_set_status(request).await
    }

    async fn rotate_secret(
        &self,
        request: Request<v1::RotateSecretRequest>,
    ) -> Reply<v1::RotateSecretResponse> {
        self.webhook_rotate_secret(request).await
    }

    async fn list_events(
        &self,
        request: Request<v1::ListEventsRequest>,
    ) -> Reply<v1::ListEventsResponse> {
        self.log_events(request).await
    }

    async fn list_deliveries(
        &self,
        request: Request<v1::ListDeliveriesRequest>,
    ) -> Reply<v1::ListDeliveriesResponse> {
        self.log_deliveries(request).await
    }

    async fn redeliver(&self, request: Request<v1::RedeliverRequest>) -> Reply<v1::Delivery> {
        self.replay_redeliver(request).await
    }

    async fn list_dead_letters(
        &self,
        request: Request<v1::ListDeadLettersRequest>,
    ) -> Reply<v1::ListDeadLettersResponse> {
        self.replay_list(request).await
    }

    async fn replay_dead_letters(
        &self,
        request: Request<v1::ReplayDeadLettersRequest>,
    ) -> Reply<v1::ReplayDeadLettersResponse> {
        self.replay_dead(request).await
    }

    async fn get_delivery(
        &self,
        request: Request<v1::GetDeliveryRequest>,
    ) -> Reply<v1::GetDeliveryResponse> {
        self.log_delivery(request).await
    }

    async fn list_event_types(
        &self,
        request: Request<v1::ListEventTypesRequest>,
    ) -> Reply<v1::ListEventTypesResponse> {
        self.catalog_list(request).await
    }

    async fn register_event_type(
        &self,
        request: Request<v1::RegisterEventTypeRequest>,
    ) -> Reply<v1::EventType> {
        self.catalog_register(request).await
    }

    async fn send_test_event(
        &self,
        request: Request<v1::SendTestEventRequest>,
    ) -> Reply<v1::SendTestEventResponse> {
        self.test_event(request).await
    }

    async fn get_organisation_settings(
        &self,
        request: Request<v1::GetOrganisationSettingsRequest>,
    ) -> Reply<v1::OrganisationSettings> {
        self.settings_get(request).await
    }

    async fn update_organisation_settings(
        &self,
        request: Request<v1::UpdateOrganisationSettingsRequest>,
    ) -> Reply<v1::OrganisationSettings> {
        self.settings_update(request).await
    }
}
