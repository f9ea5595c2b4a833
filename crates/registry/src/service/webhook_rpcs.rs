//! The webhook RPCs: create, read, list, update, delete, switch on and off, and rotate the secret.

use hookline_core::endpoint_auth::EndpointAuth;
use hookline_proto::v1;
use hookline_runtime::auth::Action;
use hookline_store::status::WebhookStatus;
use tonic::{Request, Response};
use uuid::Uuid;

use std::collections::BTreeMap;

use super::{RegistryService, Reply, authorize, found, ping_event};
use crate::catalog;
use crate::error::RegistryError;
use crate::input::{self, RawFields, WebhookFields};
use crate::store::SealedAuth;
use crate::{page, store};

/// The editable fields of a create or an update request, whose messages name them alike.
macro_rules! raw_fields {
    ($request:expr) => {
        RawFields {
            name: &$request.name,
            url: &$request.url,
            description: &$request.description,
            status: $request.status,
            event_types: &$request.event_types,
            event_versions: &$request.event_versions,
            // A create's plain number and an update's optional one alike.
            rate_limit: Option::<u32>::from($request.rate_limit),
        }
    };
}

impl RegistryService {
    pub(super) async fn webhook_create(
        &self,
        request: Request<v1::CreateWebhookRequest>,
    ) -> Reply<v1::CreateWebhookResponse> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let mut fields = WebhookFields::parse(raw_fields!(r), self.allow_insecure_http)?;
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
        self.ping_if_switched_on(None, &row).await?;
        Ok(Response::new(v1::CreateWebhookResponse {
            webhook: Some(row.into()),
            secret,
        }))
    }

    pub(super) async fn webhook_get(
        &self,
        request: Request<v1::GetWebhookRequest>,
    ) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ReadWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let row = store::get_webhook(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        Ok(Response::new(found(row, "webhook")?.into()))
    }

    pub(super) async fn webhook_list(
        &self,
        request: Request<v1::ListWebhooksRequest>,
    ) -> Reply<v1::ListWebhooksResponse> {
        let (org, r) = authorize(request, Action::ReadWebhooks)?;
        let limit = page::size(r.page_size);
        let after = page::decode(&r.page_token)?;
        let rows = store::list_webhooks(&self.pool, org.as_str(), after, limit)
            .await
            .map_err(RegistryError::from)?;
        let (webhooks, next_page_token) = page::finish(rows, limit, |w| (w.created_at, w.id));
        Ok(Response::new(v1::ListWebhooksResponse {
            webhooks,
            next_page_token,
            max_webhooks: self.max_webhooks,
        }))
    }

    pub(super) async fn webhook_update(
        &self,
        request: Request<v1::UpdateWebhookRequest>,
    ) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let mut fields = WebhookFields::parse(raw_fields!(r), self.allow_insecure_http)?;
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
        let changed = store::update_webhook(&self.pool, org.as_str(), id, &fields, stored.as_ref())
            .await
            .map_err(RegistryError::from)?;
        let (row, before) = found(changed, "webhook")?;
        self.ping_if_switched_on(Some(before), &row).await?;
        Ok(Response::new(row.into()))
    }

    pub(super) async fn webhook_delete(
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

    pub(super) async fn webhook_set_status(
        &self,
        request: Request<v1::SetWebhookStatusRequest>,
    ) -> Reply<v1::Webhook> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let id = input::id(&r.id, "id")?;
        let status = input::parse_status(r.status)
            .map_err(|why| RegistryError::invalid("status", why))?
            .ok_or_else(|| RegistryError::invalid("status", "must be ENABLED or DISABLED"))?;
        let changed = store::set_status(&self.pool, org.as_str(), id, status)
            .await
            .map_err(RegistryError::from)?;
        let (row, before) = found(changed, "webhook")?;
        self.ping_if_switched_on(Some(before), &row).await?;
        Ok(Response::new(row.into()))
    }

    /// Pings `row` if it is enabled and was not `before` (`None`: it is new): each time a webhook becomes
    /// enabled, and only then (seed 003: toggling a webhook on generates a payload to the endpoint). The
    /// ping is sent after the commit, since fan-out sends it only to a webhook it finds enabled. If the
    /// broker does not take it, the switch is undone (a new webhook deleted, an enabled one switched off,
    /// each only if unchanged since), so the caller's retry, which UNAVAILABLE invites, pings it.
    async fn ping_if_switched_on(
        &self,
        before: Option<WebhookStatus>,
        row: &store::WebhookRow,
    ) -> Result<(), RegistryError> {
        if row.status != WebhookStatus::Enabled || before == Some(WebhookStatus::Enabled) {
            return Ok(());
        }
        let Err(error) = self.events.publish(&ping_event(row)).await else {
            return Ok(());
        };
        let created = before.is_none();
        store::undo_enable(
            &self.pool,
            &row.organisation_id,
            row.id,
            row.updated_at,
            created,
        )
        .await?;
        Err(RegistryError::not_sent(if created {
            "the webhook was not created: its ping could not be sent; retry"
        } else {
            "the webhook was not enabled: its ping could not be sent; retry"
        })(error))
    }

    pub(super) async fn webhook_rotate_secret(
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
}
