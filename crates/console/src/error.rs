//! What a page shows when it cannot show what was asked: each failure as a page with its status code,
//! worded for the administrator reading it.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tonic::Code;

use crate::view::Layout;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, or its token is no longer accepted.
    #[error("You are signed out. Open a new sign-in link from the product you came from.")]
    SignedOut,
    /// The sign-in link's token was refused.
    #[error("This sign-in link cannot be used: {0}. Ask for a new one.")]
    BadLink(String),
    /// A form came back without this session's CSRF token.
    #[error(
        "This form has expired or did not come from this console. Reload the page and try again."
    )]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("There is no such page.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("The webhook service is unavailable. Try again in a moment.")]
    Unavailable,
    /// A platform operator's token acts for every organisation, and the page was asked without one.
    #[error("Your sign-in acts for every organisation. Name the one to open.")]
    ChooseOrganisation,
    #[error("This form is larger than the console accepts ({} KiB).", crate::form::MAX_FORM_BYTES / 1024)]
    TooLarge,
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignedOut | Self::BadLink(_) => StatusCode::UNAUTHORIZED,
            Self::Csrf | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ChooseOrganisation => StatusCode::OK,
        }
    }
}

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            Code::Unauthenticated => Self::SignedOut,
            Code::PermissionDenied => Self::Forbidden(status.message().to_owned()),
            Code::NotFound => Self::NotFound,
            Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
                Self::BadRequest(status.message().to_owned())
            }
            _ => {
                tracing::warn!(code = ?status.code(), message = status.message(), "registry call failed");
                Self::Unavailable
            }
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    layout: Layout,
    title: &'a str,
    message: String,
    choose_organisation: bool,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status() {
            StatusCode::UNAUTHORIZED => "Signed out",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Cannot do that",
            StatusCode::PAYLOAD_TOO_LARGE => "Too large",
            StatusCode::OK => "Choose an organisation",
            _ => "Unavailable",
        };
        let page = MessagePage {
            layout: Layout::anonymous(),
            title,
            message: self.to_string(),
            choose_organisation: matches!(self, Self::ChooseOrganisation),
        };
        (self.status(), render(&page)).into_response()
    }
}

/// A page as HTML; a template that fails to render is a bug, answered with a plain 500.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
