//! The `hookline.v1.WebhookRegistry` gRPC service.

mod catalog_rpcs;
mod replay_rpcs;
mod settings_rpcs;
mod test_events;

use hookline_core::envelope::Envelope;
use hookline_core::messages::{EventMessage, PING_EVENT_TYPE};
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
use hookline_store::status::WebhookStatus;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::test_delivery::TestEvents;

use crate::error::RegistryError;
use crate::input::{self, RawFields, WebhookFields};
use crate::store::{DeliveryFilter, EventFilter, SealedAuth};
use crate::{catalog, convert};
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
    let data = serde_json::json!({
        "objectType": "webhook",
        "webhookId": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
    });
    EventMessage {
        id: Uuid::now_v7(),
        organisation_id: webhook.organisation_id.clone(),
        event_type: PING_EVENT_TYPE.to_owned(),
        occurred_at: chrono::Utc::now(),
        version: 1,
        data: data.as_object().cloned().unwrap_or_default(),
        webhook_id: Some(webhook.id),
        versions: Default::default(),
    }
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
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let mut fields = WebhookFields::parse(
            RawFields {
                name: &r.name,
                url: &r.url,
                description: &r.description,
                status: r.status,
                event_types: &r.event_types,
                event_versions: &r.event_versions,
            },
            self.allow_insecure_http,
        )?;
        catalog::resolve_pins(&self.pool, &mut fields, &BTreeMap::new()).await?;
        let auth = input::auth(r.auth)?.unwrap_or(EndpointAuth::None);
        let id = Uuid::now_v7();
        let (secret, sealed) = self.new_secret(id);
        let auth_sealed = self.seal_auth(id, &auth);
        let status = fields.status.unwrap_or(WebhookStatus::Disabled);
        let limit = self.max_webhooks;
        let row = store::insert_webhook(
            &self.pool,
            id,
            org.as_str(),
            &fields,
            status,
            &sealed,
            &SealedAuth {
                method: auth.method(),
                sealed: auth_sealed.as_ref(),
            },
            limit,
        )
        .await
        .map_err(RegistryError::from)?
        .ok_or(RegistryError::WebhookLimit(limit))?;
        tracing::info!(webhook_id = %row.id, organisation_id = %org, "webhook created");
        Ok(Response::new(v1::CreateWebhookResponse {
            webhook: Some(row.into()),
            secret,
        }))
    }

    async fn get_webhook(&self, request: Request<v1::GetWebhookRequest>) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let row = store::get_webhook(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        Ok(Response::new(found(row, "webhook")?.into()))
    }

    async fn list_webhooks(
        &self,
        request: Request<v1::ListWebhooksRequest>,
    ) -> Reply<v1::ListWebhooksResponse> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let limit = page::size(r.page_size);
        let after = page::decode(&r.page_token)?;
        let rows = store::list_webhooks(&self.pool, org.as_str(), after, limit)
            .await
            .map_err(RegistryError::from)?;
        let (webhooks, next_page_token) = page::finish(rows, limit, |w| (w.created_at, w.id));
        Ok(Response::new(v1::ListWebhooksResponse {
            webhooks,
            next_page_token,
        }))
    }

    async fn update_webhook(
        &self,
        request: Request<v1::UpdateWebhookRequest>,
    ) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let mut fields = WebhookFields::parse(
            RawFields {
                name: &r.name,
                url: &r.url,
                description: &r.description,
                status: r.status,
                event_types: &r.event_types,
                event_versions: &r.event_versions,
            },
            self.allow_insecure_http,
        )?;
        let current = store::get_webhook(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        catalog::resolve_pins(
            &self.pool,
            &mut fields,
            &found(current, "webhook")?.event_versions.0,
        )
        .await?;
        let auth = input::auth(r.auth)?;
        let auth_sealed = auth.as_ref().and_then(|a| self.seal_auth(id, a));
        let stored = auth.as_ref().map(|a| SealedAuth {
            method: a.method(),
            sealed: auth_sealed.as_ref(),
        });
        let row = store::update_webhook(&self.pool, org.as_str(), id, &fields, stored.as_ref())
            .await
            .map_err(RegistryError::from)?;
        Ok(Response::new(found(row, "webhook")?.into()))
    }

    async fn delete_webhook(
        &self,
        request: Request<v1::DeleteWebhookRequest>,
    ) -> Reply<v1::DeleteWebhookResponse> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let deleted = store::delete_webhook(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        if !deleted {
            return Err(RegistryError::NotFound("webhook").into());
        }
        tracing::info!(webhook_id = %id, organisation_id = %org, "webhook deleted");
        Ok(Response::new(v1::DeleteWebhookResponse {}))
    }

    async fn set_webhook_status(
        &self,
        request: Request<v1::SetWebhookStatusRequest>,
    ) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let status = input::parse_status(r.status)
            .map_err(|why| RegistryError::invalid("status", why))?
            .ok_or_else(|| RegistryError::invalid("status", "must be ENABLED or DISABLED"))?;
        let row = store::set_status(&self.pool, org.as_str(), id, status)
            .await
            .map_err(RegistryError::from)?;
        let row = found(row, "webhook")?;
        if status == WebhookStatus::Enabled {
            // Switching a webhook on pings it, signed and logged like any delivery.
            let ping = ping_event(&row);
            self.events
                .publish(&ping)
                .await
                .map_err(RegistryError::not_sent(
                    "the webhook is enabled, but its ping was not sent; call again to send it",
                ))?;
        }
        Ok(Response::new(row.into()))
    }

    async fn rotate_secret(
        &self,
        request: Request<v1::RotateSecretRequest>,
    ) -> Reply<v1::RotateSecretResponse> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let (secret, sealed) = self.new_secret(id);
        let row =
            store::rotate_secret(&self.pool, org.as_str(), id, &sealed, self.rotation_overlap)
                .await
                .map_err(RegistryError::from)?;
        let row = found(row, "webhook")?;
        tracing::info!(webhook_id = %id, organisation_id = %org, overlap = ?self.rotation_overlap, "secret rotated");
        Ok(Response::new(v1::RotateSecretResponse {
            webhook: Some(row.into()),
            secret,
        }))
    }

    async fn list_events(
        &self,
        request: Request<v1::ListEventsRequest>,
    ) -> Reply<v1::ListEventsResponse> {
        let (org, r) = authorize(request, Action::ReadLog)?;
        let filter = EventFilter {
            event_type: input::optional_event_type(&r.event_type)?,
            event_id: input::optional_id(&r.event_id, "event_id")?,
            received_after: convert::time(r.received_after, "received_after")?,
            received_before: convert::time(r.received_before, "received_before")?,
        };
        let limit = page::size(r.page_size);
        let before = page::decode(&r.page_token)?;
        let rows = store::list_events(&self.pool, org.as_str(), &filter, before, limit)
            .await
            .map_err(RegistryError::from)?;
        let (events, next_page_token) = page::finish(rows, limit, |e| (e.received_at, e.id));
        Ok(Response::new(v1::ListEventsResponse {
            events,
            next_page_token,
        }))
    }

    async fn list_deliveries(
        &self,
        request: Request<v1::ListDeliveriesRequest>,
    ) -> Reply<v1::ListDeliveriesResponse> {
        let (org, r) = authorize(request, Action::ReadLog)?;
        let status = v1::DeliveryStatus::try_from(r.status).map_err(|_| {
            RegistryError::invalid("status", format!("{} is not a DeliveryStatus", r.status))
        })?;
        let filter = DeliveryFilter {
            webhook_id: input::optional_id(&r.webhook_id, "webhook_id")?,
            event_type: input::optional_event_type(&r.event_type)?,
            status: convert::delivery_status_filter(status),
            created_after: convert::time(r.created_after, "created_after")?,
            created_before: convert::time(r.created_before, "created_before")?,
            exclude_tests: false,
        };
        let (deliveries, next_page_token) = self
            .delivery_page(org.as_str(), &filter, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(v1::ListDeliveriesResponse {
            deliveries,
            next_page_token,
        }))
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
        let (org, r) = authorize(request, Action::ReadLog)?;
        let id = input::id(&r.id, "id")?;
        let delivery = store::get_delivery(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        let delivery = found(delivery, "delivery")?;
        let attempts = store::list_attempts(&self.pool, delivery.id)
            .await
            .map_err(RegistryError::from)?;
        let payload = match attempts.last() {
            Some(latest) => latest.request_body.clone(),
            None => {
                let event = store::get_event(&self.pool, org.as_str(), delivery.event_id)
                    .await
                    .map_err(RegistryError::from)?;
                // A skipped delivery lacks its version, and has no payload: its `reason` says why.
                EventMessage::from(found(event, "event")?)
                    .in_version(delivery.version.max(1) as u32)
                    .map(|message| {
                        let body = Envelope::new(&message, delivery.webhook_id).to_bytes();
                        String::from_utf8_lossy(&body).into_owned()
                    })
                    .unwrap_or_default()
            }
        };
        Ok(Response::new(v1::GetDeliveryResponse {
            delivery: Some(delivery.into()),
            payload,
            attempts: attempts.into_iter().map(Into::into).collect(),
        }))
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
