//! The signing secret, shown once (seeds 000/001: "save the API key, which is shown only this once"):
//! after create, and after "Generate new". It is the answer to the POST itself, never a page that can be
//! fetched again: leaving or reloading it loses the secret, and `Cache-Control: no-store` keeps it out of
//! the browser's cache.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use hookline_proto::v1;

use crate::App;
use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::pages::webhooks::OrgQuery;
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Template)]
#[template(path = "secret.html")]
pub struct SecretPage {
    layout: Layout,
    title: &'static str,
    webhook_name: String,
    secret: String,
    /// How long the previous secret keeps signing, after a rotation.
    overlap: Option<String>,
}

impl SecretPage {
    pub fn created(
        user: &SignedIn,
        organisation: &str,
        webhook: &v1::Webhook,
        secret: String,
    ) -> Response {
        render(&Self {
            layout: user.layout(organisation, "webhooks"),
            title: "Webhook created",
            webhook_name: webhook.name.clone(),
            secret,
            overlap: None,
        })
    }
}

/// "Generate new": rotates the signing secret and shows the new one, once.
pub async fn rotate(
    State(app): State<App>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, _) = user.submitted(query.org.as_deref(), &body)?;
    let rotated = user
        .registry()?
        .rotate_secret(v1::RotateSecretRequest {
            organisation_id: organisation.clone(),
            id,
        })
        .await?
        .into_inner();
    let webhook = rotated.webhook.unwrap_or_default();
    Ok(render(&SecretPage {
        layout: user.layout(&organisation, "webhooks"),
        title: "New signing secret",
        webhook_name: webhook.name,
        secret: rotated.secret,
        overlap: Some(humantime::format_duration(app.rotation_overlap).to_string()),
    }))
}
