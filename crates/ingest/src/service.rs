//! The `hookline.v1.EventIngest` gRPC service.

use hookline_proto::v1;
use hookline_proto::v1::event_ingest_server::EventIngest;
use tonic::{Request, Response, Status};

use crate::catalog::LiveCatalog;
use crate::error::IngestError;
use crate::event;
use hookline_common::auth::{Action, Caller};
use hookline_common::publisher::EventPublisher;

#[derive(Clone)]
pub struct IngestService {
    publisher: EventPublisher,
    catalog: LiveCatalog,
    max_data_bytes: usize,
}

impl IngestService {
    pub fn new(publisher: EventPublisher, catalog: LiveCatalog, max_data_bytes: usize) -> Self {
        Self {
            publisher,
            catalog,
            max_data_bytes,
        }
    }
}

#[tonic::async_trait]
impl EventIngest for IngestService {
    async fn publish_event(
        &self,
        request: Request<v1::PublishEventRequest>,
    ) -> Result<Response<v1::PublishEventResponse>, Status> {
        let organisation =
            Caller::of(&request)?.authorize(Action::Publish, &request.get_ref().organisation_id)?;
        let event = event::parse(
            request.into_inner(),
            organisation,
            &self.catalog.current(),
            self.max_data_bytes,
        )?;
        self.publisher
            .publish(&event)
            .await
            .map_err(IngestError::Unavailable)?;
        tracing::debug!(event_id = %event.id, event_type = %event.event_type, "event accepted");
        Ok(Response::new(v1::PublishEventResponse {
            event_id: event.id.to_string(),
        }))
    }
}
