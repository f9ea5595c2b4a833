//! The event catalog: every type with its description and each version's JSON Schema and example, so
//! an administrator sees what each event will carry before subscribing to it.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use hookline_proto::v1;

use crate::error::{PageError, render};
use crate::pages::webhooks::OrgQuery;
use crate::signed::SignedIn;
use crate::view::Layout;

pub struct Version {
    pub number: u32,
    pub schema: String,
    pub example: String,
}

pub struct Type {
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub versions: Vec<Version>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    layout: Layout,
    types: Vec<Type>,
}

pub async fn list(user: SignedIn, Query(query): Query<OrgQuery>) -> Result<Response, PageError> {
    let organisation = user.organisation(query.org.as_deref())?;
    let catalog = user
        .registry()?
        .list_event_types(v1::ListEventTypesRequest::default())
        .await?
        .into_inner();
    let types = catalog
        .event_types
        .into_iter()
        .map(|t| Type {
            name: t.name,
            description: t.description,
            built_in: t.built_in,
            versions: t
                .versions
                .into_iter()
                .map(|v| Version {
                    number: v.version,
                    schema: json(v.schema),
                    example: json(v.example),
                })
                .collect(),
        })
        .collect();
    Ok(render(&CatalogPage {
        layout: user.layout(&organisation, "catalog"),
        types,
    }))
}

/// A protobuf Struct as indented JSON.
fn json(value: Option<prost_types::Struct>) -> String {
    let Some(value) = value else {
        return String::new();
    };
    match hookline_core::json_struct::to_json(value) {
        Ok(map) => serde_json::to_string_pretty(&map).unwrap_or_default(),
        Err(e) => format!("(cannot be shown: {e})"),
    }
}
