//! The signed-in user of a request: the sealed session opened, and its token verified again, so a
//! session never outlives its token and the page knows the roles it carries.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hookline_core::organisation::OrganisationId;
use hookline_proto::bearer::Bearer;
use hookline_runtime::auth::{Action, Caller};

use crate::App;
use crate::error::PageError;
use crate::form::Submitted;
use crate::registry::Client;
use crate::security::csrf_matches;
use crate::session::Session;
use crate::view::Layout;

pub struct SignedIn {
    pub session: Session,
    pub caller: Caller,
    registry: crate::registry::Registry,
    /// The logo the header shows: the session's, or the configured one (empty: none).
    logo: String,
}

impl FromRequestParts<App> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let session = app
            .sealer
            .open(&parts.headers)
            .ok_or(PageError::SignedOut)?;
        let caller = app
            .verifier
            .verify(&session.token)
            .map_err(|_| PageError::SignedOut)?;
        let logo = session.logo.clone().unwrap_or_else(|| app.logo_url.clone());
        Ok(Self {
            session,
            caller,
            registry: app.registry.clone(),
            logo,
        })
    }
}

impl SignedIn {
    /// The registry, called with this user's token.
    pub fn registry(&self) -> Result<Client, PageError> {
        let bearer = Bearer::new(&self.session.token).map_err(|_| PageError::SignedOut)?;
        Ok(self.registry.as_user(bearer))
    }

    /// The organisation a page shows: the token's own, or, for a caller that acts for every
    /// organisation, the one it names in `?org=`. Naming another organisation than the token's own is
    /// refused here, and would be by the registry too.
    pub fn organisation(&self, requested: Option<&str>) -> Result<String, PageError> {
        let requested = requested.map(str::trim).filter(|r| !r.is_empty());
        match (self.caller.own_organisation(), requested) {
            (Some(own), None) => Ok(own.to_string()),
            (Some(own), Some(named)) if own.as_str() == named => Ok(own.to_string()),
            (Some(own), Some(_)) => Err(PageError::Forbidden(format!(
                "You are signed in for organisation {own} only."
            ))),
            (None, Some(named)) if self.caller.acts_for_every_organisation() => {
                OrganisationId::parse(named)
                    .map(|org| org.as_str().to_owned())
                    .map_err(|_| {
                        PageError::BadRequest(format!("`{named}` is not an organisation id."))
                    })
            }
            (None, None) if self.caller.acts_for_every_organisation() => {
                Err(PageError::ChooseOrganisation)
            }
            (None, _) => Err(PageError::Forbidden(
                "Your sign-in is not bound to an organisation.".into(),
            )),
        }
    }

    /// Refuses a page or form that manages webhooks to a caller whose token does not allow it (the
    /// registry would refuse the call too; this keeps a viewer from an empty form).
    pub fn may_manage(&self) -> Result<(), PageError> {
        if self.caller.may(Action::ManageWebhooks) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "Your role lets you view webhooks, not change them.".into(),
            ))
        }
    }

    /// `path` in `organisation`: with `?org=` for a caller that names the organisation on each page.
    pub fn path(&self, path: &str, organisation: &str) -> String {
        if self.caller.acts_for_every_organisation() {
            format!("{path}?org={organisation}")
        } else {
            path.to_owned()
        }
    }

    /// A submitted form of this session in `organisation`: refused without the session's CSRF token.
    pub fn submitted(
        &self,
        organisation: Option<&str>,
        body: &[u8],
    ) -> Result<(String, Submitted), PageError> {
        let organisation = self.organisation(organisation)?;
        let submitted = Submitted::parse(body);
        self.check_csrf(&submitted.one("csrf"))?;
        Ok((organisation, submitted))
    }

    /// Refuses a form that does not carry this session's CSRF token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        if csrf_matches(&self.session.csrf, submitted) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }

    pub fn layout(&self, organisation: &str, section: &'static str) -> Layout {
        Layout {
            organisation: organisation.to_owned(),
            org_query: self.path("", organisation),
            subject: self.caller.subject.clone(),
            brand_css: Layout::brand_css(self.session.brand.as_deref()),
            logo: self.logo.clone(),
            may_manage: self.caller.may(Action::ManageWebhooks),
            may_configure: self.caller.may(Action::ManageSettings),
            csrf: self.session.csrf.clone(),
            section,
        }
    }
}
