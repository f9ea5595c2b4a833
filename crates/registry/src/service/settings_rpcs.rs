//! `GetOrganisationSettings` and `UpdateOrganisationSettings` (org_admin or super_admin).

use hookline_core::units::UnitSystem;
use hookline_proto::v1;
use hookline_runtime::auth::Action;
use tonic::{Request, Response};

use super::{RegistryService, Reply, authorize};
use crate::error::RegistryError;
use crate::settings;

impl RegistryService {
    pub(super) async fn settings_get(
        &self,
        request: Request<v1::GetOrganisationSettingsRequest>,
    ) -> Reply<v1::OrganisationSettings> {
        let (org, _) = authorize(request, Action::ManageSettings)?;
        let row = settings::get(&self.pool, org.as_str())
            .await
            .map_err(RegistryError::from)?;
        Ok(Response::new(row.into()))
    }

    pub(super) async fn settings_update(
        &self,
        request: Request<v1::UpdateOrganisationSettingsRequest>,
    ) -> Reply<v1::OrganisationSettings> {
        let (org, r) = authorize(request, Action::ManageSettings)?;
        let unit_system = match v1::UnitSystem::try_from(r.unit_system) {
            Ok(v1::UnitSystem::Unspecified) => None,
            Ok(v1::UnitSystem::Metric) => Some(UnitSystem::Metric),
            Ok(v1::UnitSystem::Imperial) => Some(UnitSystem::Imperial),
            Err(_) => {
                return Err(RegistryError::invalid(
                    "unit_system",
                    format!("{} is not a UnitSystem", r.unit_system),
                )
                .into());
            }
        };
        let row = settings::update(
            &self.pool,
            org.as_str(),
            unit_system,
            r.event_triggers_enabled,
        )
        .await
        .map_err(RegistryError::from)?;
        tracing::info!(organisation_id = %org, unit_system = %row.unit_system,
            event_triggers_enabled = row.event_triggers_enabled, "organisation settings changed");
        Ok(Response::new(row.into()))
    }
}
