//! The catalog RPCs: `ListEventTypes` for every caller, `RegisterEventType` for super_admins.

use hookline_proto::v1;
use hookline_runtime::auth::{Action, Caller};
use tonic::{Request, Response};

use super::{RegistryService, Reply};
use crate::catalog;
use crate::error::RegistryError;

impl RegistryService {
    pub(super) async fn catalog_list(
        &self,
        request: Request<v1::ListEventTypesRequest>,
    ) -> Reply<v1::ListEventTypesResponse> {
        Caller::of(&request)?.authorize_global(Action::ReadCatalog)?;
        let resource = request.into_inner().resource;
        let event_types = catalog::all(&self.pool)
            .await
            .map_err(RegistryError::from)?
            .into_iter()
            .filter(|(def, _)| {
                resource.is_empty() || def.name.split_once('.').map(|(r, _)| r) == Some(&resource)
            })
            .map(|(def, built_in)| catalog::to_proto(def, built_in))
            .collect();
        Ok(Response::new(v1::ListEventTypesResponse { event_types }))
    }

    pub(super) async fn catalog_register(
        &self,
        request: Request<v1::RegisterEventTypeRequest>,
    ) -> Reply<v1::EventType> {
        let caller = Caller::of(&request)?;
        caller.authorize_global(Action::ManageCatalog)?;
        let subject = caller.subject.clone();
        let registration = catalog::parse_registration(request.into_inner(), &subject)?;
        let name = registration.name.as_str().to_owned();
        let version = registration.version.version;
        if hookline_core::catalog::built_in_type(&name)
            .and_then(|t| t.version(version))
            .is_some()
        {
            return Err(RegistryError::AlreadyExists(format!(
                "{name} version {version} is built in and cannot be replaced; register version {} instead",
                version + 1
            ))
            .into());
        }
        catalog::register(&self.pool, &registration)
            .await
            .map_err(RegistryError::from)?;
        tracing::info!(event_type = %name, version, by = %subject, "event type registered");
        catalog::announce(&self.pool, &self.events)
            .await
            .map_err(RegistryError::not_sent(
                "the event type is registered, but ingest has not been told yet; call again",
            ))?;
        let (def, built_in) = catalog::all(&self.pool)
            .await
            .map_err(RegistryError::from)?
            .into_iter()
            .find(|(def, _)| def.name == name)
            .ok_or(RegistryError::NotFound("event type"))?;
        Ok(Response::new(catalog::to_proto(def, built_in)))
    }
}
