//! Organisation settings (org admins): seed 002's "Enable event triggers" switch, and the unit system
//! quantities are delivered in (seeds 000/001).

use askama::Template;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use hookline_proto::v1;

use crate::error::{PageError, render};
use crate::form::FormBody;
use crate::pages::webhooks::OrgQuery;
use crate::signed::SignedIn;
use crate::view::Layout;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    triggers: bool,
    imperial: bool,
    updated: String,
}

pub async fn show(user: SignedIn, Query(query): Query<OrgQuery>) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let settings = user
        .registry()?
        .get_organisation_settings(v1::GetOrganisationSettingsRequest {
            organisation_id: organisation.clone(),
        })
        .await?
        .into_inner();
    Ok(render(&SettingsPage {
        layout: user.layout(&organisation, "settings"),
        triggers: settings.event_triggers_enabled,
        imperial: settings.unit_system() == v1::UnitSystem::Imperial,
        updated: crate::display::time(settings.updated_at.as_ref()),
    }))
}

pub async fn save(
    user: SignedIn,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    let (organisation, submitted) = user.submitted(query.org.as_deref(), &body)?;
    let unit_system = match submitted.one("units").as_str() {
        "imperial" => v1::UnitSystem::Imperial,
        _ => v1::UnitSystem::Metric,
    };
    user.registry()?
        .update_organisation_settings(v1::UpdateOrganisationSettingsRequest {
            organisation_id: organisation.clone(),
            unit_system: unit_system.into(),
            event_triggers_enabled: Some(submitted.one("triggers") == "on"),
        })
        .await?;
    Ok(Redirect::to(&user.path("/settings", &organisation)).into_response())
}
