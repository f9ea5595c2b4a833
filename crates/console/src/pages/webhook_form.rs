//! The create and edit form (seed 003's pencil, seed 002's callback URL): name, URL, description,
//! status, the events grouped by resource from the catalog, and the endpoint's authentication. The API
//! validates; its field violations come back beside the fields.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use hookline_proto::v1;
use hookline_proto::v1::endpoint_auth::Method;

use crate::error::{PageError, render};
use crate::form::{FieldErrors, FormBody, Submitted};
use crate::pages::secret::SecretPage;
use crate::pages::webhooks::OrgQuery;
use crate::registry::Client;
use crate::signed::SignedIn;
use crate::view::Layout;

/// The form's fields that the API's violations are placed on.
const FIELDS: &[&str] = &[
    "name",
    "url",
    "description",
    "status",
    "event_types",
    "event_versions",
    "auth",
    "rate_limit",
];

/// The form field that pins `event_type` to a version (seed 000's event versions).
const VERSION_FIELD: &str = "version.";

/// What the form shows: a webhook's values, or what was submitted.
#[derive(Default)]
pub struct Values {
    pub name: String,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    /// The version pinned per event type: the webhook's, or what was submitted.
    pub versions: BTreeMap<String, u32>,
    /// `none`, `basic`, `header`, or `keep` (edit: leave the stored credentials as they are).
    pub auth: String,
    pub basic_username: String,
    pub header_name: String,
    /// Deliveries a second at most, as typed; empty for no limit.
    pub rate_limit: String,
}

/// The catalog's event types of one resource, for one group of checkboxes.
pub struct Group {
    pub resource: String,
    pub types: Vec<Choice>,
}

/// One event type of the catalog, as a checkbox with, when it has several, its versions to pin.
pub struct Choice {
    pub name: String,
    pub description: String,
    /// Oldest first.
    pub versions: Vec<u32>,
}

#[derive(Template)]
#[template(path = "webhook_form.html")]
struct FormPage {
    layout: Layout,
    /// `None` for a new webhook.
    id: Option<String>,
    values: Values,
    groups: Vec<Group>,
    errors: FieldErrors,
}

impl FormPage {
    fn subscribed(&self, event_type: &str) -> bool {
        self.values.event_types.iter().any(|t| t == event_type)
    }

    /// The version `choice` is shown pinned to: the webhook's or the submitted pin, else the latest
    /// (what the API pins a type to when it is subscribed without one).
    fn pinned(&self, choice: &Choice) -> u32 {
        self.values
            .versions
            .get(&choice.name)
            .copied()
            .or_else(|| choice.versions.last().copied())
            .unwrap_or(1)
    }
}

pub async fn new(user: SignedIn, Query(query): Query<OrgQuery>) -> Result<Response, PageError> {
    open(user, None, query).await
}

pub async fn edit(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
) -> Result<Response, PageError> {
    open(user, Some(id), query).await
}

/// The empty form, or webhook `id`'s values with its credentials kept unless replaced.
async fn open(user: SignedIn, id: Option<String>, query: OrgQuery) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    user.may_manage()?;
    let mut registry = user.registry()?;
    let values = match &id {
        None => Values {
            auth: "none".into(),
            ..Values::default()
        },
        Some(id) => {
            let webhook = registry
                .get_webhook(v1::GetWebhookRequest {
                    organisation_id: organisation.clone(),
                    id: id.clone(),
                })
                .await?
                .into_inner();
            Values {
                enabled: webhook.status() == v1::WebhookStatus::Enabled,
                name: webhook.name,
                url: webhook.url,
                description: webhook.description,
                event_types: webhook.event_types,
                versions: webhook.event_versions.into_iter().collect(),
                auth: "keep".into(),
                rate_limit: match webhook.rate_limit {
                    0 => String::new(),
                    limit => limit.to_string(),
                },
                ..Values::default()
            }
        }
    };
    let errors = FieldErrors::default();
    form(&user, &mut registry, &organisation, id, values, errors).await
}

pub async fn create(
    user: SignedIn,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    save(user, None, query, body).await
}

pub async fn update(
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<OrgQuery>,
    FormBody(body): FormBody,
) -> Result<Response, PageError> {
    save(user, Some(id), query, body).await
}

/// Creates the webhook (`id` is `None`) or replaces its fields. A new webhook's secret is shown once;
/// field errors send the form back with what was typed.
async fn save(
    user: SignedIn,
    id: Option<String>,
    query: OrgQuery,
    body: Bytes,
) -> Result<Response, PageError> {
    let (organisation, submitted) = user.submitted(query.org.as_deref(), &body)?;
    let (values, auth) = read(&submitted);
    let mut registry = user.registry()?;
    let (name, url, description) = (
        values.name.clone(),
        values.url.clone(),
        values.description.clone(),
    );
    let (status, event_types) = (status(values.enabled).into(), values.event_types.clone());
    let rate_limit = rate_limit(&values.rate_limit);
    // Only the subscribed types' pins are sent: a pin for an unticked type would be refused.
    let event_versions: std::collections::HashMap<String, u32> = values
        .versions
        .iter()
        .filter(|(t, _)| event_types.contains(t))
        .map(|(t, v)| (t.clone(), *v))
        .collect();
    let saved = match &id {
        None => registry
            .create_webhook(v1::CreateWebhookRequest {
                organisation_id: organisation.clone(),
                name,
                url,
                description,
                status,
                event_types,
                auth,
                event_versions: event_versions.clone(),
                rate_limit,
            })
            .await
            .map(|created| Some(created.into_inner())),
        Some(id) => registry
            .update_webhook(v1::UpdateWebhookRequest {
                organisation_id: organisation.clone(),
                id: id.clone(),
                name,
                url,
                description,
                status,
                event_types,
                auth,
                event_versions: event_versions.clone(),
                rate_limit: Some(rate_limit),
            })
            .await
            .map(|_| None),
    };
    match saved {
        Ok(Some(created)) => Ok(SecretPage::created(
            &user,
            &organisation,
            &created.webhook.unwrap_or_default(),
            created.secret,
        )),
        Ok(None) => Ok(Redirect::to(&user.path("/webhooks", &organisation)).into_response()),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let errors = FieldErrors::from_status(&status, FIELDS);
            form(&user, &mut registry, &organisation, id, values, errors).await
        }
        Err(status) => Err(status.into()),
    }
}

/// The values and the credentials a submitted form carries. Passwords and header values are never
/// sent back to the page.
fn read(submitted: &Submitted) -> (Values, Option<v1::EndpointAuth>) {
    let values = Values {
        name: submitted.one("name"),
        url: submitted.one("url"),
        description: submitted.one("description"),
        enabled: submitted.one("status") == "on",
        event_types: submitted.all("event_types"),
        versions: submitted
            .prefixed(VERSION_FIELD)
            .filter_map(|(t, v)| Some((t.to_owned(), v.parse().ok()?)))
            .collect(),
        auth: submitted.one("auth"),
        basic_username: submitted.one("basic_username"),
        header_name: submitted.one("header_name"),
        rate_limit: submitted.one("rate_limit").trim().to_owned(),
    };
    let method = match values.auth.as_str() {
        "basic" => Some(Method::Basic(v1::BasicAuth {
            username: values.basic_username.clone(),
            password: submitted.one("basic_password"),
        })),
        "header" => Some(Method::Header(v1::HeaderAuth {
            name: values.header_name.clone(),
            value: submitted.one("header_value"),
        })),
        "keep" => None,
        _ => Some(Method::None(v1::NoAuth {})),
    };
    (
        values,
        method.map(|method| v1::EndpointAuth {
            method: Some(method),
        }),
    )
}

/// The typed limit for the API: empty is none (0). Anything that is not a number is sent as one the API
/// refuses, so its violation, naming `rate_limit`, lands beside the field like every other.
fn rate_limit(typed: &str) -> u32 {
    if typed.is_empty() {
        return 0;
    }
    typed.parse().unwrap_or(u32::MAX)
}

fn status(enabled: bool) -> v1::WebhookStatus {
    if enabled {
        v1::WebhookStatus::Enabled
    } else {
        v1::WebhookStatus::Disabled
    }
}

async fn form(
    user: &SignedIn,
    registry: &mut Client,
    organisation: &str,
    id: Option<String>,
    values: Values,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let catalog = registry
        .list_event_types(v1::ListEventTypesRequest::default())
        .await?
        .into_inner();
    let mut groups: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    for event_type in catalog.event_types {
        let resource = event_type
            .name
            .split_once('.')
            .map_or(event_type.name.as_str(), |(r, _)| r)
            .to_owned();
        groups.entry(resource).or_default().push(Choice {
            versions: event_type.versions.iter().map(|v| v.version).collect(),
            name: event_type.name,
            description: event_type.description,
        });
    }
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = FormPage {
        layout: user.layout(organisation, "webhooks"),
        id,
        values,
        groups: groups
            .into_iter()
            .map(|(resource, types)| Group { resource, types })
            .collect(),
        errors,
    };
    Ok((status, render(&page)).into_response())
}
