//! The webhooks table (seed 003's Webhooks tab): name, URL, status, subscribed events.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use hookline_proto::v1;
use serde::Deserialize;

use crate::error::{PageError, render};
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Deserialize, Default)]
pub struct OrgQuery {
    pub org: Option<String>,
}

/// One row of the table.
pub struct Row {
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub events: Vec<String>,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    rows: Vec<Row>,
}

pub async fn list(user: SignedIn, Query(query): Query<OrgQuery>) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let mut registry = user.registry()?;
    let mut rows = Vec::new();
    let mut page_token = String::new();
    // An organisation has a handful of webhooks (its limit is small), so the table shows them all.
    loop {
        let page = registry
            .list_webhooks(v1::ListWebhooksRequest {
                organisation_id: organisation.clone(),
                page_size: 100,
                page_token,
            })
            .await?
            .into_inner();
        rows.extend(page.webhooks.into_iter().map(|w| Row {
            enabled: w.status() == v1::WebhookStatus::Enabled,
            id: w.id,
            name: w.name,
            url: w.url,
            events: w.event_types,
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(render(&WebhooksPage {
        layout: user.layout(&organisation, "webhooks"),
        rows,
    }))
}
