//! The `hookline.v1.EventIngest` gRPC service.

use std::sync::Arc;

use hookline_proto::v1;
use hookline_proto::v1::event_ingest_server::EventIngest;
use hookline_runtime::config::IngestSettings;
use tonic::{Request, Response, Status};

use crate::admission::Admission;
use crate::catalog::LiveCatalog;
use crate::error::IngestError;
use crate::event;
use hookline_core::catalog::Catalog;
use hookline_core::messages::EventMessage;
use hookline_runtime::auth::{Action, Caller};
use hookline_runtime::prometheus;
use hookline_runtime::publisher::EventPublisher;

#[derive(Clone)]
pub struct IngestService {
    publisher: EventPublisher,
    catalog: LiveCatalog,
    admission: Arc<Admission>,
    max_data_bytes: usize,
}

impl IngestService {
    pub fn new(publisher: EventPublisher, catalog: LiveCatalog, settings: &IngestSettings) -> Self {
        Self {
            publisher,
            catalog,
            admission: Arc::new(Admission::new(settings.organisation_in_flight)),
            max_data_bytes: settings.max_data_bytes,
        }
    }
}

/// The most events one `PublishEvents` call may carry.
pub const MAX_BATCH: usize = 1000;

impl IngestService {
    /// Authorises and validates one event.
    fn prepare(
        &self,
        caller: &Caller,
        request: v1::PublishEventRequest,
        catalog: &Catalog,
    ) -> Result<EventMessage, Status> {
        let organisation = caller.authorize(Action::Publish, &request.organisation_id)?;
        Ok(event::parse(
            request,
            organisation,
            catalog,
            self.max_data_bytes,
        )?)
    }

    /// Authorises, validates and publishes one event; counts the outcome by (catalog) event type.
    async fn accept(
        &self,
        caller: &Caller,
        request: v1::PublishEventRequest,
        catalog: &Catalog,
    ) -> Result<String, Status> {
        let event_type = if catalog.knows(&request.event_type) {
            request.event_type.clone()
        } else {
            "other".to_owned()
        };
        let result = match self.prepare(caller, request, catalog) {
            Ok(event) => self.publish(&event).await,
            Err(status) => Err(status),
        };
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(status) => prometheus::code_label(status.code()),
        };
        metrics::counter!(prometheus::INGEST_EVENTS, "event_type" => event_type, "outcome" => outcome)
            .increment(1);
        result
    }

    /// Publishes one prepared event, once its organisation has a place in flight, and waits for the
    /// broker's confirm.
    async fn publish(&self, event: &EventMessage) -> Result<String, Status> {
        let _place = self.admission.admit(&event.organisation_id).await;
        self.publisher
            .publish(event)
            .await
            .map_err(IngestError::Unavailable)?;
        tracing::debug!(event_id = %event.id, event_type = %event.event_type, "event accepted");
        Ok(event.id.to_string())
    }
}

/// One batch entry's result, from what a single call would have answered.
fn result_of(outcome: Result<String, Status>) -> v1::PublishEventResult {
    match outcome {
        Ok(event_id) => v1::PublishEventResult {
            event_id,
            ..Default::default()
        },
        Err(status) => v1::PublishEventResult {
            event_id: String::new(),
            code: status.code() as i32,
            field: tonic_types::StatusExt::get_details_bad_request(&status)
                .and_then(|d| d.field_violations.into_iter().next())
                .map(|v| v.field)
                .unwrap_or_default(),
            message: status.message().to_owned(),
        },
    }
}

#[tonic::async_trait]
impl EventIngest for IngestService {
    async fn publish_event(
        &self,
        request: Request<v1::PublishEventRequest>,
    ) -> Result<Response<v1::PublishEventResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let catalog = self.catalog.current();
        let event_id = self.accept(&caller, request.into_inner(), &catalog).await?;
        Ok(Response::new(v1::PublishEventResponse { event_id }))
    }

    async fn publish_events(
        &self,
        request: Request<v1::PublishEventsRequest>,
    ) -> Result<Response<v1::PublishEventsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let events = request.into_inner().events;
        if events.len() > MAX_BATCH {
            return Err(hookline_runtime::grpc::invalid_argument([(
                "events",
                format!("at most {MAX_BATCH} events per call; got {}", events.len()).as_str(),
            )]));
        }
        let catalog = self.catalog.current();
        // Every valid event is published at once on the confirmed channel, so the confirms overlap.
        let outcomes = futures_util::future::join_all(
            events
                .into_iter()
                .map(|request| self.accept(&caller, request, &catalog)),
        )
        .await;
        Ok(Response::new(v1::PublishEventsResponse {
            results: outcomes.into_iter().map(result_of).collect(),
        }))
    }
}
