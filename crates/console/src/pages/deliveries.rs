//! Log history (seed 003), for the whole organisation or one webhook: every delivery with its latest
//! response and state, filtered by webhook, event type, state and time, in pages that stay stable while
//! new deliveries arrive. Each row's details show the payload and every attempt, with "Redeliver".

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use hookline_proto::v1;
use serde::Deserialize;

use crate::display;
use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::pages::webhooks::OrgQuery;
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Deserialize, Default)]
pub struct Filters {
    pub org: Option<String>,
    #[serde(default)]
    pub webhook: String,
    /// Only this event's deliveries (the event log links here).
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub state: String,
    /// `datetime-local` values, read as UTC.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// The page token of the page shown; empty for the first.
    #[serde(default)]
    pub page: String,
}

impl Filters {
    /// The query of these filters on page `page`, for the pagination links.
    fn query(&self, page: &str) -> String {
        let query = crate::pages::query(&[
            ("org", self.org.as_deref().unwrap_or_default()),
            ("webhook", &self.webhook),
            ("event", &self.event),
            ("event_type", &self.event_type),
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
            ("page", page),
        ]);
        format!("?{query}")
    }
}

/// One row of the log.
pub struct Row {
    pub id: String,
    pub created: String,
    pub event_type: String,
    pub url: String,
    pub response: String,
    pub attempts: u32,
    pub state: &'static str,
    pub test: bool,
}

impl From<v1::Delivery> for Row {
    fn from(d: v1::Delivery) -> Self {
        Self {
            created: display::time(d.created_at.as_ref()),
            state: display::state(d.status()),
            response: match d.last_response_status {
                0 => String::new(),
                code => code.to_string(),
            },
            id: d.id,
            event_type: d.event_type,
            url: d.url,
            attempts: d.attempts,
            test: d.test,
        }
    }
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct LogPage {
    layout: Layout,
    filters: Filters,
    webhooks: Vec<(String, String)>,
    states: Vec<&'static str>,
    rows: Vec<Row>,
    next: Option<String>,
    first: Option<String>,
}

pub async fn list(user: SignedIn, Query(filters): Query<Filters>) -> Result<Response, PageError> {
    let organisation = user.organisation(filters.org.as_deref())?;
    let mut registry = user.registry()?;
    let status = match filters.state.as_str() {
        "" => v1::DeliveryStatus::Unspecified,
        word => display::parse_state(word)
            .ok_or_else(|| PageError::BadRequest(format!("`{word}` is not a delivery state.")))?,
    };
    let page = registry
        .list_deliveries(v1::ListDeliveriesRequest {
            organisation_id: organisation.clone(),
            webhook_id: filters.webhook.clone(),
            page_size: 50,
            page_token: filters.page.clone(),
            event_type: filters.event_type.trim().to_owned(),
            status: status.into(),
            created_after: display::parse_time(&filters.from),
            created_before: display::parse_time(&filters.to),
            event_id: filters.event.trim().to_owned(),
        })
        .await?
        .into_inner();
    let webhooks = crate::pages::webhooks::names(&mut registry, &organisation).await?;
    let next = (!page.next_page_token.is_empty()).then(|| filters.query(&page.next_page_token));
    let first = (!filters.page.is_empty()).then(|| filters.query(""));
    Ok(render(&LogPage {
        layout: user.layout(&organisation, "deliveries"),
        webhooks,
        states: display::STATES.iter().map(|(word, _)| *word).collect(),
        rows: page.deliveries.into_iter().map(Row::from).collect(),
        filters,
        next,
        first,
    }))
}

/// One attempt, as the details show it.
pub struct Attempt {
    pub number: u32,
    pub started: String,
    pub duration_ms: u32,
    pub status: String,
    pub success: bool,
    pub error: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DetailPage {
    layout: Layout,
    delivery: Row,
    webhook_id: String,
    payload: String,
    attempts: Vec<Attempt>,
}

pub async fn detail(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let found = user
        .registry()?
        .get_delivery(v1::GetDeliveryRequest {
            organisation_id: organisation.clone(),
            id,
        })
        .await?
        .into_inner();
    let delivery = found.delivery.ok_or(PageError::NotFound)?;
    let attempts = found
        .attempts
        .into_iter()
        .map(|a| {
            let mut headers: Vec<_> = a.response_headers.into_iter().collect();
            headers.sort();
            Attempt {
                number: a.attempt,
                started: display::time(a.started_at.as_ref()),
                duration_ms: a.duration_ms,
                status: match a.response_status {
                    0 => "no response".into(),
                    code => code.to_string(),
                },
                success: a.success,
                error: a.error,
                headers,
                body: a.response_body,
                body_truncated: a.response_body_truncated,
            }
        })
        .collect();
    Ok(render(&DetailPage {
        layout: user.layout(&organisation, "deliveries"),
        webhook_id: delivery.webhook_id.clone(),
        delivery: Row::from(delivery),
        payload: pretty(&found.payload),
        attempts,
    }))
}

/// "Redeliver": the delivery is sent again as a new chain of attempts.
pub async fn redeliver(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, _) = user.submitted(query.org.as_deref(), &body)?;
    user.registry()?
        .redeliver(v1::RedeliverRequest {
            organisation_id: organisation.clone(),
            id: id.clone(),
        })
        .await?;
    let to = user.path(&format!("/deliveries/{id}"), &organisation);
    Ok(Redirect::to(&to).into_response())
}

/// JSON indented for reading; anything else as it came.
fn pretty(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| raw.to_owned())
}
