//! `SendTestEvent`: the catalog's example, sent now to one webhook (or another URL of its organisation).

use crate::test_delivery::TestEventError;
use hookline_core::catalog::stamp_object_type;
use hookline_core::event_type::EventType;
use hookline_core::messages::EventMessage;
use hookline_proto::v1;
use hookline_runtime::auth::Action;
use tonic::{Request, Response};
use uuid::Uuid;

use super::{RegistryService, Reply, authorize, found};
use crate::error::RegistryError;
use crate::{catalog, convert, input, store};

impl RegistryService {
    pub(super) async fn test_event(
        &self,
        request: Request<v1::SendTestEventRequest>,
    ) -> Reply<v1::SendTestEventResponse> {
        let (org, r) = authorize(request, Action::ManageWebhooks)?;
        let webhook_id = input::id(&r.webhook_id, "webhook_id")?;
        let event_type = EventType::parse(&r.event_type)
            .map_err(|e| RegistryError::invalid("event_type", e.to_string()))?;
        let webhook = store::get_webhook(&self.pool, org.as_str(), webhook_id)
            .await
            .map_err(RegistryError::from)?;
        found(webhook, "webhook")?;
        let url = match r.url.trim() {
            "" => None,
            url => {
                let known = store::organisation_has_url(&self.pool, org.as_str(), url)
                    .await
                    .map_err(RegistryError::from)?;
                if !known {
                    return Err(RegistryError::invalid(
                        "url",
                        "must be the URL of one of the organisation's webhooks",
                    )
                    .into());
                }
                Some(url)
            }
        };
        let (def, _) = catalog::all(&self.pool)
            .await
            .map_err(RegistryError::from)?
            .into_iter()
            .find(|(def, _)| def.name == event_type.as_str())
            .ok_or_else(|| {
                RegistryError::invalid(
                    "event_type",
                    "is not in the event catalog (see ListEventTypes)",
                )
            })?;
        let version = match r.version {
            0 => def.latest(),
            v => def.version(v),
        }
        .ok_or_else(|| {
            RegistryError::invalid(
                "version",
                format!("{} has no version {}", def.name, r.version),
            )
        })?;
        let mut data = version.example.clone();
        // Registered examples were checked with it set; built-in ones carry it already.
        let _ = stamp_object_type(&event_type, &mut data);
        let event = EventMessage {
            id: Uuid::now_v7(),
            organisation_id: org.to_string(),
            event_type: event_type.to_string(),
            occurred_at: chrono::Utc::now(),
            version: version.version,
            data,
            webhook_id: Some(webhook_id),
            versions: Default::default(),
        };
        let sent = self
            .tests
            .send(&event, webhook_id, url)
            .await
            .map_err(|e| match e {
                TestEventError::WebhookGone => RegistryError::NotFound("webhook"),
                TestEventError::Database(e) => RegistryError::Database(e),
            })?;
        Ok(Response::new(convert::test_event_response(sent)))
    }
}
