//! The console's screens, one module each.

pub mod catalog;
pub mod dead_letters;
pub mod deliveries;
pub mod events;
pub mod secret;
pub mod settings;
pub mod sign_in;
pub mod test_event;
pub mod webhook_form;
pub mod webhooks;

use axum::response::{IntoResponse, Redirect, Response};

/// `/`: the webhooks table is the first screen (seed 003's Webhooks tab).
pub async fn home() -> Response {
    Redirect::to("/webhooks").into_response()
}

/// A query string of the non-empty `pairs`, encoded, for links that keep a page's filters.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    query.finish()
}
