//! The log RPCs: the event log, the delivery log and one delivery with its attempts and payload.

use hookline_core::envelope::Envelope;
use hookline_core::messages::EventMessage;
use hookline_proto::v1;
use hookline_runtime::auth::Action;
use tonic::{Request, Response};

use super::{RegistryService, Reply, authorize, found};
use crate::convert;
use crate::error::RegistryError;
use crate::input;
use crate::store::{DeliveryFilter, EventFilter};
use crate::{page, store};

impl RegistryService {
    pub(super) async fn log_events(
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

    pub(super) async fn log_deliveries(
        &self,
        request: Request<v1::ListDeliveriesRequest>,
    ) -> Reply<v1::ListDeliveriesResponse> {
        let (org, r) = authorize(request, Action::ReadLog)?;
        let status = v1::DeliveryStatus::try_from(r.status).map_err(|_| {
            RegistryError::invalid("status", format!("{} is not a DeliveryStatus", r.status))
        })?;
        let filter = DeliveryFilter {
            webhook_id: input::optional_id(&r.webhook_id, "webhook_id")?,
            event_id: input::optional_id(&r.event_id, "event_id")?,
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

    pub(super) async fn log_delivery(
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
}
