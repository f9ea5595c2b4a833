//! The "Test event" dialog (seed 002): choose the Test URL (one of the organisation's webhook URLs) and
//! an event type, send the catalog's example now, and read the exact request (credentials masked) and
//! the response, or why there was none.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use hookline_proto::v1;

use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::pages::webhooks::{OrgQuery, all};
use crate::signed::SignedIn;
use crate::view::Layout;

/// What was sent and what came back.
pub struct Exchange {
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    /// `None` when no response arrived.
    pub status: Option<u32>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    pub duration_ms: u32,
    pub success: bool,
    pub error: String,
}

#[derive(Template)]
#[template(path = "test_event.html")]
struct TestPage {
    layout: Layout,
    id: String,
    name: String,
    urls: Vec<String>,
    url: String,
    event_types: Vec<String>,
    event_type: String,
    exchange: Option<Exchange>,
}

pub async fn open(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    user.may_manage()?;
    page(&user, &organisation, id, None, String::new(), None).await
}

pub async fn send(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, submitted) = user.submitted(query.org.as_deref(), &body)?;
    let (url, event_type) = (submitted.one("url"), submitted.one("event_type"));
    let sent = user
        .registry()?
        .send_test_event(v1::SendTestEventRequest {
            organisation_id: organisation.clone(),
            webhook_id: id.clone(),
            event_type: event_type.clone(),
            version: 0,
            url: url.clone(),
        })
        .await?
        .into_inner();
    let request = sent.request.unwrap_or_default();
    let exchange = Exchange {
        url: request.url,
        request_headers: sorted(request.headers),
        request_body: request.body,
        status: sent.response.as_ref().map(|r| r.status),
        response_headers: sent
            .response
            .as_ref()
            .map(|r| sorted(r.headers.clone()))
            .unwrap_or_default(),
        response_body: sent.response.map(|r| r.body).unwrap_or_default(),
        duration_ms: sent.duration_ms,
        success: sent.success,
        error: sent.error,
    };
    page(
        &user,
        &organisation,
        id,
        Some(url),
        event_type,
        Some(exchange),
    )
    .await
}

async fn page(
    user: &SignedIn,
    organisation: &str,
    id: String,
    url: Option<String>,
    event_type: String,
    exchange: Option<Exchange>,
) -> Result<Response, PageError> {
    let mut registry = user.registry()?;
    let (webhooks, _) = all(&mut registry, organisation).await?;
    let this = webhooks
        .iter()
        .find(|w| w.id == id)
        .ok_or(PageError::NotFound)?;
    let mut urls: Vec<String> = webhooks.iter().map(|w| w.url.clone()).collect();
    urls.sort();
    urls.dedup();
    let catalog = registry
        .list_event_types(v1::ListEventTypesRequest::default())
        .await?
        .into_inner();
    // The webhook's own types first: those are what it will be sent.
    let mut event_types = this.event_types.clone();
    event_types.extend(
        catalog
            .event_types
            .into_iter()
            .map(|t| t.name)
            .filter(|name| !this.event_types.contains(name)),
    );
    Ok(render(&TestPage {
        layout: user.layout(organisation, "webhooks"),
        name: this.name.clone(),
        url: url.unwrap_or_else(|| this.url.clone()),
        id,
        urls,
        event_type,
        event_types,
        exchange,
    }))
}

fn sorted(headers: std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut headers: Vec<_> = headers.into_iter().collect();
    headers.sort();
    headers
}
