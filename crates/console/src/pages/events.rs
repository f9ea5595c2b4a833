//! The event log (seed 002's Event logs tab): search by event type, id and time range; each event links
//! to its deliveries.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use hookline_proto::v1;
use serde::Deserialize;

use crate::display;
use crate::error::{PageError, render};
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Deserialize, Default)]
pub struct EventFilters {
    pub org: Option<String>,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub page: String,
}

pub struct Row {
    pub id: String,
    pub received: String,
    pub event_type: String,
    pub version: u32,
    pub test: bool,
    pub data: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    filters: EventFilters,
    rows: Vec<Row>,
    next: Option<String>,
}

pub async fn list(
    user: SignedIn,
    Query(filters): Query<EventFilters>,
) -> Result<Response, PageError> {
    let organisation = user.organisation(filters.org.as_deref())?;
    let page = user
        .registry()?
        .list_events(v1::ListEventsRequest {
            organisation_id: organisation.clone(),
            event_type: filters.event_type.trim().to_owned(),
            event_id: filters.id.trim().to_owned(),
            received_after: display::parse_time(&filters.from),
            received_before: display::parse_time(&filters.to),
            page_size: 50,
            page_token: filters.page.clone(),
        })
        .await?
        .into_inner();
    let layout = user.layout(&organisation, "events");
    let next = (!page.next_page_token.is_empty()).then(|| {
        let query = crate::pages::query(&[
            ("event_type", &filters.event_type),
            ("id", &filters.id),
            ("from", &filters.from),
            ("to", &filters.to),
            ("page", &page.next_page_token),
        ]);
        layout.href("/events", &query)
    });
    let rows = page
        .events
        .into_iter()
        .map(|e| Row {
            received: display::time(e.received_at.as_ref()),
            id: e.id,
            event_type: e.event_type,
            version: e.version,
            test: e.test,
            data: e.data,
        })
        .collect();
    Ok(render(&EventsPage {
        layout,
        filters,
        rows,
        next,
    }))
}
