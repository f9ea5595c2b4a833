//! The stylesheets, built into the binary: no CDN, no build step, nothing fetched at run time.

use axum::extract::Query;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use hookline_core::brand::is_colour;
use serde::Deserialize;

const CONSOLE_CSS: &str = include_str!("../assets/console.css");
const CONSOLE_JS: &str = include_str!("../assets/console.js");

pub async fn console_css() -> Response {
    css(CONSOLE_CSS.to_owned())
}

/// The one script: progressive help (copy buttons); every page works without it.
pub async fn console_js() -> Response {
    asset(CONSOLE_JS.to_owned(), "text/javascript; charset=utf-8")
}

#[derive(Deserialize)]
pub struct Brand {
    /// `rrggbb`, without the `#` (which a URL would need escaped).
    c: Option<String>,
}

/// The brand colour as a stylesheet of its own: the CSP allows no inline style, and a colour checked
/// to be `#rrggbb` is the only thing that reaches it.
pub async fn brand_css(
    axum::extract::State(app): axum::extract::State<crate::App>,
    Query(brand): Query<Brand>,
) -> Response {
    let colour = brand
        .c
        .map(|c| format!("#{c}"))
        .filter(|c| is_colour(c))
        .unwrap_or_else(|| app.brand_colour.clone());
    css(format!(":root {{ --brand: {colour}; }}\n"))
}

fn css(body: String) -> Response {
    asset(body, "text/css; charset=utf-8")
}

fn asset(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
