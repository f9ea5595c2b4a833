//! The webhooks table (seed 003's Webhooks tab): name, URL, status toggle, subscribed events; "Create"
//! at the top right. Turning a webhook on sends it the ping (seed 003), and the page says so.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use hookline_proto::v1;
use serde::Deserialize;

use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::registry::Client;
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Deserialize, Default)]
pub struct OrgQuery {
    pub org: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub org: Option<String>,
    /// The webhook just turned on: the page says its ping was sent.
    pub pinged: Option<String>,
}

/// One row of the table.
pub struct Row {
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    /// Why Hookline switched it off (its endpoint answered 410 Gone, say); empty if it did not.
    pub disabled_reason: String,
    pub events: Vec<String>,
    /// The latest delivery's state and response code; empty when none.
    pub latest: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    rows: Vec<Row>,
    /// The most webhooks the organisation may register.
    max: u32,
    /// "Turned on …: a ping was sent" after a toggle.
    notice: Option<String>,
}

pub async fn list(user: SignedIn, Query(query): Query<ListQuery>) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let mut registry = user.registry()?;
    let (webhooks, max) = all(&mut registry, &organisation).await?;
    let latest = latest_results(&registry, &organisation, &webhooks).await?;
    let rows: Vec<Row> = webhooks
        .into_iter()
        .zip(latest)
        .map(|(w, latest)| Row {
            enabled: w.status() == v1::WebhookStatus::Enabled,
            id: w.id,
            name: w.name,
            url: w.url,
            disabled_reason: w.disabled_reason,
            events: w.event_types,
            latest,
        })
        .collect();
    let notice = query
        .pinged
        .and_then(|id| rows.iter().find(|r| r.id == id && r.enabled))
        .map(|row| format!("{} is on. A ping was sent to {}.", row.name, row.url));
    Ok(render(&WebhooksPage {
        layout: user.layout(&organisation, "webhooks"),
        rows,
        max,
        notice,
    }))
}

/// Every webhook of `organisation`: a handful (its limit is small), so pages show them all. Also the
/// most it may register.
pub async fn all(
    registry: &mut Client,
    organisation: &str,
) -> Result<(Vec<v1::Webhook>, u32), PageError> {
    let mut webhooks = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .list_webhooks(v1::ListWebhooksRequest {
                organisation_id: organisation.to_owned(),
                page_size: 100,
                page_token,
            })
            .await?
            .into_inner();
        webhooks.extend(page.webhooks);
        if page.next_page_token.is_empty() {
            return Ok((webhooks, page.max_webhooks));
        }
        page_token = page.next_page_token;
    }
}

/// Each webhook's latest delivery, as "state (code)", asked for all of them at once.
async fn latest_results(
    registry: &Client,
    organisation: &str,
    webhooks: &[v1::Webhook],
) -> Result<Vec<String>, PageError> {
    let asks = webhooks.iter().map(|w| {
        let mut registry = registry.clone();
        let request = v1::ListDeliveriesRequest {
            organisation_id: organisation.to_owned(),
            webhook_id: w.id.clone(),
            page_size: 1,
            ..Default::default()
        };
        async move { registry.list_deliveries(request).await }
    });
    let mut results = Vec::with_capacity(webhooks.len());
    for answer in futures_util::future::join_all(asks).await {
        let latest = answer?.into_inner().deliveries.into_iter().next();
        results.push(latest.map_or_else(String::new, |d| {
            let state = crate::display::state(d.status());
            match d.last_response_status {
                0 => state.to_owned(),
                code => format!("{state} ({code})"),
            }
        }));
    }
    Ok(results)
}

/// Every webhook's id and name, for a filter's drop-down.
pub async fn names(
    registry: &mut Client,
    organisation: &str,
) -> Result<Vec<(String, String)>, PageError> {
    Ok(all(registry, organisation)
        .await?
        .0
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect())
}

/// The status toggle: `status=on` turns the webhook on (and the registry pings it), `off` turns it off.
pub async fn set_status(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, submitted) = user.submitted(query.org.as_deref(), &body)?;
    let on = submitted.one("status") == "on";
    let status = if on {
        v1::WebhookStatus::Enabled
    } else {
        v1::WebhookStatus::Disabled
    };
    user.registry()?
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id: organisation.clone(),
            id: id.clone(),
            status: status.into(),
        })
        .await?;
    let list = user.path("/webhooks", &organisation);
    let to = if on {
        let joiner = if list.contains('?') { '&' } else { '?' };
        format!("{list}{joiner}pinged={id}")
    } else {
        list
    };
    Ok(Redirect::to(&to).into_response())
}
