//! Signing in by link, and out.
//!
//! The host product's backend mints a short-lived token for one of its users and sends the user to
//! `/sign-in?token=…`. The console checks the token, seals it into the session cookie, and redirects to
//! a URL without it, so the token leaves neither the address bar nor the history.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use hookline_core::brand::{is_colour, logo_origin};
use serde::Deserialize;

use crate::App;
use crate::error::PageError;
use crate::session::{self, Session};
use crate::signed::SignedIn;

#[derive(Deserialize)]
pub struct SignInLink {
    #[serde(default)]
    token: String,
    /// A brand colour for this session, `#rrggbb`.
    #[serde(default)]
    brand: Option<String>,
    /// A logo for this session: an address on the configured logo's origin or an embedding origin.
    #[serde(default)]
    logo: Option<String>,
}

pub async fn sign_in(
    State(app): State<App>,
    Query(link): Query<SignInLink>,
) -> Result<Response, PageError> {
    if link.token.is_empty() {
        return Err(PageError::BadLink("it carries no token".into()));
    }
    let claims = app
        .verifier
        .claims(&link.token)
        .map_err(|e| PageError::BadLink(e.to_string()))?;
    let brand = link.brand.filter(|c| is_colour(c));
    let logo = link
        .logo
        .filter(|l| logo_origin(l).is_some_and(|o| app.logo_origins.contains(&o)));
    let session = Session::new(link.token, claims.exp, brand, logo);
    tracing::info!(subject = %claims.sub, "console sign-in");
    let mut headers = HeaderMap::new();
    session::set(&mut headers, app.sealer.cookie(&session));
    Ok((headers, Redirect::to("/webhooks")).into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(app): State<App>,
    user: SignedIn,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let mut headers = HeaderMap::new();
    session::set(&mut headers, app.sealer.clearing());
    Ok((headers, PageError::SignedOut).into_response())
}
