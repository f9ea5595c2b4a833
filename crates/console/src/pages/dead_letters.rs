//! Dead letters: deliveries whose every attempt failed, waiting in the dead-letter queue, and replay of
//! the ones selected or of all of one webhook's (for when the endpoint works again).

use askama::Template;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use hookline_proto::v1;
use serde::Deserialize;

use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::pages::deliveries::Row;
use crate::pages::webhooks::OrgQuery;
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Deserialize, Default)]
pub struct DeadQuery {
    pub org: Option<String>,
    #[serde(default)]
    pub webhook: String,
    #[serde(default)]
    pub page: String,
    /// How many went back into the queue, after a replay.
    pub replayed: Option<u32>,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    layout: Layout,
    webhook: String,
    webhooks: Vec<(String, String)>,
    rows: Vec<Row>,
    next: Option<String>,
    replayed: Option<u32>,
}

pub async fn list(user: SignedIn, Query(query): Query<DeadQuery>) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let mut registry = user.registry()?;
    let page = registry
        .list_dead_letters(v1::ListDeadLettersRequest {
            organisation_id: organisation.clone(),
            webhook_id: query.webhook.clone(),
            page_size: 50,
            page_token: query.page.clone(),
        })
        .await?
        .into_inner();
    let webhooks = crate::pages::webhooks::names(&mut registry, &organisation).await?;
    let layout = user.layout(&organisation, "dead-letters");
    let next = (!page.next_page_token.is_empty()).then(|| {
        let query =
            crate::pages::query(&[("webhook", &query.webhook), ("page", &page.next_page_token)]);
        layout.href("/dead-letters", &query)
    });
    Ok(render(&DeadLettersPage {
        layout,
        webhook: query.webhook,
        webhooks,
        rows: page.deliveries.into_iter().map(Row::from).collect(),
        next,
        replayed: query.replayed,
    }))
}

/// Replays the selected dead letters (`id`, repeated), or every one of `webhook`.
pub async fn replay(
    user: SignedIn,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, submitted) = user.submitted(query.org.as_deref(), &body)?;
    let ids = submitted.all("id");
    let webhook = submitted.one("webhook");
    if ids.is_empty() && webhook.is_empty() {
        return Err(PageError::BadRequest(
            "Select the dead letters to replay.".into(),
        ));
    }
    let replayed = user
        .registry()?
        .replay_dead_letters(v1::ReplayDeadLettersRequest {
            organisation_id: organisation.clone(),
            delivery_ids: if webhook.is_empty() { ids } else { Vec::new() },
            webhook_id: webhook,
        })
        .await?
        .into_inner()
        .replayed;
    let layout = user.layout(&organisation, "dead-letters");
    let to = layout.href("/dead-letters", &format!("replayed={replayed}"));
    Ok(Redirect::to(&to).into_response())
}
