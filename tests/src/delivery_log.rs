//! The delivery log as tests read it. A webhook created enabled is pinged first, so the event
//! deliveries a test waits on are listed apart from its pings.

use std::time::Duration;

use hookline_core::messages::PING_EVENT_TYPE;
use hookline_proto::v1;

use crate::Stack;

impl Stack {
    /// The deliveries of `organisation` (to `webhook_id`, unless empty) of `event_type` (any, if empty),
    /// newest first.
    async fn listed(
        &self,
        organisation: &str,
        webhook_id: &str,
        event_type: &str,
    ) -> Vec<v1::Delivery> {
        self.registry
            .clone()
            .list_deliveries(v1::ListDeliveriesRequest {
                organisation_id: organisation.into(),
                webhook_id: webhook_id.into(),
                event_type: event_type.into(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("listing deliveries")
            .into_inner()
            .deliveries
    }

    /// The deliveries of events to `webhook_id` (every webhook of `organisation`, if empty), newest
    /// first; its pings are left out (see [`Stack::pings`]).
    pub async fn deliveries(&self, organisation: &str, webhook_id: &str) -> Vec<v1::Delivery> {
        let mut deliveries = self.listed(organisation, webhook_id, "").await;
        deliveries.retain(|d| d.event_type != PING_EVENT_TYPE);
        deliveries
    }

    /// Waits until a ping of `webhook_id` has succeeded. A success resets the endpoint's count of failures
    /// in a row and closes its breaker, so a test of the breaker lets the ping land first.
    pub async fn ping_succeeded(&self, organisation: &str, webhook_id: &str) {
        crate::eventually("the ping to succeed", crate::LONG_DEADLINE, || async {
            self.pings(organisation, webhook_id)
                .await
                .iter()
                .any(|p| p.status == v1::DeliveryStatus::Succeeded as i32)
                .then_some(())
        })
        .await;
    }

    /// The pings of `webhook_id`, newest first.
    pub async fn pings(&self, organisation: &str, webhook_id: &str) -> Vec<v1::Delivery> {
        self.listed(organisation, webhook_id, PING_EVENT_TYPE).await
    }

    pub async fn delivery(&self, organisation: &str, id: &str) -> v1::GetDeliveryResponse {
        self.registry
            .clone()
            .get_delivery(v1::GetDeliveryRequest {
                organisation_id: organisation.into(),
                id: id.into(),
            })
            .await
            .expect("getting a delivery")
            .into_inner()
    }

    /// Waits until a delivery of an event to `webhook_id` has reached `status`, and returns it with its
    /// attempts.
    pub async fn settled(
        &self,
        organisation: &str,
        webhook_id: &str,
        status: v1::DeliveryStatus,
        deadline: Duration,
    ) -> v1::GetDeliveryResponse {
        let what = format!("a delivery to {webhook_id} to be {status:?}");
        let delivery = crate::eventually(&what, deadline, || async {
            let deliveries = self.deliveries(organisation, webhook_id).await;
            deliveries.into_iter().find(|d| d.status == status as i32)
        })
        .await;
        self.delivery(organisation, &delivery.id).await
    }
}
