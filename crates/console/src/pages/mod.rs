//! The console's screens, one module each.

pub mod dead_letters;
pub mod deliveries;
pub mod secret;
pub mod sign_in;
pub mod test_event;
pub mod webhook_form;
pub mod webhooks;

use axum::response::{IntoResponse, Redirect, Response};

/// `/`: the webhooks table is the first screen (seed 003's Webhooks tab).
pub async fn home() -> Response {
    Redirect::to("/webhooks").into_response()
}
