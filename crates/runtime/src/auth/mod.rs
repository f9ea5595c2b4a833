//! Who is calling, and what they may do: bearer JWTs verified at the gRPC edge, turned into a [`Caller`]
//! that every handler asks before it touches an organisation's data.
//!
//! A token's `org` claim binds it to one organisation; `"*"` (for internal services that publish on behalf
//! of every organisation) and the `super_admin` role bind it to all of them. A token with neither acts for
//! none: the check fails closed.

mod token;

pub use hookline_core::tokens::{ANY_ORGANISATION, Claims, Role, WEBHOOKS_PERMISSION, mint_hs256};
pub use token::Verifier;

use hookline_core::operational::OPERATIONS_ORGANISATION;
use hookline_core::organisation::OrganisationId;

/// What a call wants to do; each RPC names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Register, change, delete, enable, rotate and test webhooks.
    ManageWebhooks,
    /// View webhooks (never their secrets or credentials): the console's read-only screens.
    ReadWebhooks,
    /// Read the event log, the delivery log and the dead letters.
    ReadLog,
    /// Redeliver and replay dead letters.
    Redeliver,
    /// Read the event catalog.
    ReadCatalog,
    /// Add event types or versions to the catalog.
    ManageCatalog,
    /// Publish events.
    Publish,
    /// Read and change organisation settings.
    ManageSettings,
}

/// The organisations a token may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Any,
    One(OrganisationId),
    None,
}

/// An authenticated caller, as its verified token describes it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    roles: Vec<Role>,
    permissions: Vec<String>,
    scope: Scope,
}

/// Why a caller may not make a call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The request does not say which organisation, and the token does not imply one.
    #[error("{0}")]
    Organisation(String),
}

impl From<AuthError> for tonic::Status {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthenticated(why) => tonic::Status::unauthenticated(why),
            AuthError::PermissionDenied(why) => tonic::Status::permission_denied(why),
            AuthError::Organisation(why) => {
                crate::grpc::invalid_argument([("organisation_id", why.as_str())])
            }
        }
    }
}

impl Caller {
    /// The caller a verified token describes.
    pub fn from_claims(claims: Claims) -> Self {
        let roles = claims.roles;
        let scope = if roles.contains(&Role::SuperAdmin) {
            Scope::Any
        } else {
            match claims.org.as_deref() {
                Some(ANY_ORGANISATION) => Scope::Any,
                Some(raw) => OrganisationId::parse(raw).map_or(Scope::None, Scope::One),
                None => Scope::None,
            }
        };
        Self {
            subject: claims.sub,
            roles,
            permissions: claims.permissions,
            scope,
        }
    }

    /// The caller the authentication layer attached to `request`.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Caller, AuthError> {
        request
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| AuthError::Unauthenticated("missing bearer token".into()))
    }

    /// The one organisation the token is bound to; `None` when it acts for every one (a super admin, an
    /// internal service) or for none.
    pub fn own_organisation(&self) -> Option<&OrganisationId> {
        match &self.scope {
            Scope::One(org) => Some(org),
            Scope::Any | Scope::None => None,
        }
    }

    /// Whether the caller may act in any organisation it names (and so switch between them).
    pub fn acts_for_every_organisation(&self) -> bool {
        self.scope == Scope::Any
    }

    fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller's roles and permissions allow `action` at all, in any organisation.
    pub fn may(&self, action: Action) -> bool {
        if self.has(Role::SuperAdmin) {
            return true;
        }
        let manager =
            self.has(Role::OrgAdmin) || self.permissions.iter().any(|p| p == WEBHOOKS_PERMISSION);
        match action {
            Action::ManageWebhooks | Action::Redeliver => manager,
            Action::ReadLog | Action::ReadWebhooks => manager || self.has(Role::Viewer),
            Action::ReadCatalog => true,
            Action::ManageCatalog => false,
            Action::Publish => self.has(Role::Publisher),
            Action::ManageSettings => self.has(Role::OrgAdmin),
        }
    }

    /// Checks `action` and settles the organisation it applies to: `requested` (a request's
    /// `organisation_id`), or the token's own organisation when the request leaves it empty.
    pub fn authorize(&self, action: Action, requested: &str) -> Result<OrganisationId, AuthError> {
        if !self.may(action) {
            return Err(AuthError::PermissionDenied(format!(
                "this token's roles do not allow {}",
                describe(action)
            )));
        }
        let organisation = self.organisation(requested)?;
        self.outside_reserved(action, &organisation)?;
        Ok(organisation)
    }

    /// The organisation of the operations endpoint (`hookline_core::operational`) receives every
    /// organisation's operational events, webhook URLs included: only callers acting for every
    /// organisation (the platform team) may see or change it, and nobody publishes to it, since its
    /// events come from Hookline alone. A token bound to it is what an identity provider's mistake
    /// would mint, and gets nothing.
    fn outside_reserved(
        &self,
        action: Action,
        organisation: &OrganisationId,
    ) -> Result<(), AuthError> {
        if organisation.as_str() != OPERATIONS_ORGANISATION {
            return Ok(());
        }
        if action == Action::Publish {
            return Err(AuthError::PermissionDenied(format!(
                "organisation {OPERATIONS_ORGANISATION} is reserved: its events come from Hookline only"
            )));
        }
        if !self.acts_for_every_organisation() {
            return Err(AuthError::PermissionDenied(format!(
                "organisation {OPERATIONS_ORGANISATION} is reserved for the platform's operations endpoint"
            )));
        }
        Ok(())
    }

    /// Checks an action that applies to no organisation (the catalog).
    pub fn authorize_global(&self, action: Action) -> Result<(), AuthError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied(format!(
                "this token's roles do not allow {}",
                describe(action)
            )))
        }
    }

    fn organisation(&self, requested: &str) -> Result<OrganisationId, AuthError> {
        if requested.is_empty() {
            return match &self.scope {
                Scope::One(org) => Ok(org.clone()),
                Scope::Any => Err(AuthError::Organisation(
                    "required: this token is not bound to one organisation".into(),
                )),
                Scope::None => Err(no_organisation()),
            };
        }
        let org =
            OrganisationId::parse(requested).map_err(|e| AuthError::Organisation(e.to_string()))?;
        match &self.scope {
            Scope::Any => Ok(org),
            Scope::One(own) if *own == org => Ok(org),
            Scope::One(own) => Err(AuthError::PermissionDenied(format!(
                "this token acts for organisation {own} only"
            ))),
            Scope::None => Err(no_organisation()),
        }
    }
}

fn no_organisation() -> AuthError {
    AuthError::PermissionDenied(
        "this token is not bound to an organisation (no `org` claim)".into(),
    )
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::ManageWebhooks => "managing webhooks (super_admin, org_admin or org.webhooks)",
        Action::ReadLog => "reading the logs (super_admin, org_admin, org.webhooks or viewer)",
        Action::ReadWebhooks => "viewing webhooks (super_admin, org_admin, org.webhooks or viewer)",
        Action::Redeliver => "redelivering (super_admin, org_admin or org.webhooks)",
        Action::ReadCatalog => "reading the catalog",
        Action::ManageCatalog => "changing the event catalog (super_admin)",
        Action::Publish => "publishing events (publisher)",
        Action::ManageSettings => "changing organisation settings (super_admin or org_admin)",
    }
}

#[cfg(test)]
mod tests;
