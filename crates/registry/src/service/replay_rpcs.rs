//! `Redeliver`, `ListDeadLetters` and `ReplayDeadLetters`: sending deliveries again, one by id or the
//! dead letters of a selection.

use std::collections::HashSet;

use hookline_core::messages::DeliveryTask;
use hookline_proto::v1;
use hookline_runtime::auth::Action;
use hookline_store::status::DeliveryStatus;
use tonic::{Request, Response};

use super::{RegistryService, Reply, authorize, found, in_version};
use crate::error::RegistryError;
use crate::store::{self, DeliveryFilter};
use crate::{dead_letters, input};

impl RegistryService {
    pub(super) async fn replay_redeliver(
        &self,
        request: Request<v1::RedeliverRequest>,
    ) -> Reply<v1::Delivery> {
        let (org, r) = authorize(request, Action::Redeliver)?;
        let id = input::id(&r.id, "id")?;
        let delivery = store::get_delivery(&self.pool, org.as_str(), id)
            .await
            .map_err(RegistryError::from)?;
        let delivery = found(delivery, "delivery")?;
        // A pending delivery has an attempt queued or under way that is not logged yet: a redelivery
        // numbered from the log would repeat that attempt's number, and be dropped as its duplicate.
        if delivery.status == DeliveryStatus::Pending {
            return Err(RegistryError::Precondition(
                "the delivery has an attempt queued or under way; redeliver it once that attempt is logged",
            )
            .into());
        }
        if delivery.test {
            return Err(RegistryError::Precondition(
                "test deliveries are not redelivered; send another test event",
            )
            .into());
        }
        let event = store::get_event(&self.pool, org.as_str(), delivery.event_id)
            .await
            .map_err(RegistryError::from)?;
        let next = delivery.attempts.max(0) as u32 + 1;
        let event = in_version(found(event, "event")?.into(), delivery.version)?;
        let task = DeliveryTask::chain(delivery.id, delivery.webhook_id, next, event);
        // Published first, then marked queued: a failed publish leaves the log as it was.
        self.events
            .publish_task(&task)
            .await
            .map_err(RegistryError::not_sent(
                "the redelivery was not queued; retry",
            ))?;
        let marked = store::mark_redelivered(&self.pool, org.as_str(), id, delivery.attempts)
            .await
            .map_err(RegistryError::from)?;
        tracing::info!(delivery_id = %id, attempt = next, "redelivery queued");
        // If the attempt was already recorded, the delivery as read is the closest answer.
        Ok(Response::new(marked.unwrap_or(delivery).into()))
    }

    pub(super) async fn replay_list(
        &self,
        request: Request<v1::ListDeadLettersRequest>,
    ) -> Reply<v1::ListDeadLettersResponse> {
        let (org, r) = authorize(request, Action::ReadLog)?;
        let filter = DeliveryFilter {
            webhook_id: input::optional_id(&r.webhook_id, "webhook_id")?,
            status: Some(DeliveryStatus::Failed),
            exclude_tests: true,
            ..DeliveryFilter::default()
        };
        let (deliveries, next_page_token) = self
            .delivery_page(org.as_str(), &filter, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(v1::ListDeadLettersResponse {
            deliveries,
            next_page_token,
        }))
    }

    pub(super) async fn replay_dead(
        &self,
        request: Request<v1::ReplayDeadLettersRequest>,
    ) -> Reply<v1::ReplayDeadLettersResponse> {
        let (org, r) = authorize(request, Action::Redeliver)?;
        let deliveries = r
            .delivery_ids
            .iter()
            .map(|id| input::id(id, "delivery_ids"))
            .collect::<Result<HashSet<_>, _>>()?;
        let webhook_id = input::optional_id(&r.webhook_id, "webhook_id")?;
        if deliveries.is_empty() && webhook_id.is_none() {
            return Err(RegistryError::invalid(
                "delivery_ids",
                "give delivery ids or a webhook_id",
            )
            .into());
        }
        // Another organisation's webhook or delivery does not exist here, as for every other RPC.
        if let Some(id) = webhook_id {
            let webhook = store::get_webhook(&self.pool, org.as_str(), id)
                .await
                .map_err(RegistryError::from)?;
            found(webhook, "webhook")?;
        }
        let ids: Vec<_> = deliveries.iter().copied().collect();
        let owned = store::count_deliveries(&self.pool, org.as_str(), &ids)
            .await
            .map_err(RegistryError::from)?;
        if owned < ids.len() as i64 {
            return Err(RegistryError::NotFound("delivery").into());
        }
        let selection = dead_letters::Selection {
            organisation_id: org.to_string(),
            deliveries,
            webhook_id,
        };
        const STOPPED: &str = "the dead-letter queue could not be replayed; retry";
        let channel = self
            .events
            .channel()
            .map_err(RegistryError::not_sent(STOPPED))?;
        let replayed = dead_letters::replay(&channel, &self.topology, &selection)
            .await
            .map_err(RegistryError::not_sent(STOPPED))?;
        store::mark_replayed(&self.pool, org.as_str(), &replayed)
            .await
            .map_err(RegistryError::from)?;
        tracing::info!(organisation_id = %org, replayed = replayed.len(), "dead letters replayed");
        Ok(Response::new(v1::ReplayDeadLettersResponse {
            replayed: replayed.len() as u32,
        }))
    }
}
