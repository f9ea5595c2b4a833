//! Organisation settings as stored: the unit system and the "Enable event triggers" switch.

use chrono::{DateTime, Utc};
use hookline_core::units::UnitSystem;
use hookline_proto::v1;
use sqlx::PgPool;

/// An organisation's settings row, or the defaults for one never changed.
#[derive(Debug, sqlx::FromRow)]
pub struct SettingsRow {
    pub organisation_id: String,
    pub unit_system: String,
    pub event_triggers_enabled: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn get(pool: &PgPool, organisation_id: &str) -> Result<SettingsRow, sqlx::Error> {
    let row = sqlx::query_as(
        "SELECT organisation_id, unit_system, event_triggers_enabled, updated_at
         FROM organisation_settings WHERE organisation_id = $1",
    )
    .bind(organisation_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_else(|| SettingsRow {
        organisation_id: organisation_id.to_owned(),
        unit_system: UnitSystem::default().as_db().to_owned(),
        event_triggers_enabled: true,
        updated_at: None,
    }))
}

/// Changes what is given (`None` keeps the current value) and returns the settings as they now are.
pub async fn update(
    pool: &PgPool,
    organisation_id: &str,
    unit_system: Option<UnitSystem>,
    event_triggers_enabled: Option<bool>,
) -> Result<SettingsRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO organisation_settings (organisation_id, unit_system, event_triggers_enabled)
         VALUES ($1, COALESCE($2, 'metric'), COALESCE($3, true))
         ON CONFLICT (organisation_id) DO UPDATE SET
             unit_system = COALESCE($2, organisation_settings.unit_system),
             event_triggers_enabled = COALESCE($3, organisation_settings.event_triggers_enabled),
             updated_at = now()
         RETURNING organisation_id, unit_system, event_triggers_enabled, updated_at",
    )
    .bind(organisation_id)
    .bind(unit_system.map(UnitSystem::as_db))
    .bind(event_triggers_enabled)
    .fetch_one(pool)
    .await
}

impl From<SettingsRow> for v1::OrganisationSettings {
    fn from(row: SettingsRow) -> Self {
        let unit_system = match UnitSystem::from_db(&row.unit_system) {
            UnitSystem::Metric => v1::UnitSystem::Metric,
            UnitSystem::Imperial => v1::UnitSystem::Imperial,
        };
        Self {
            organisation_id: row.organisation_id,
            unit_system: unit_system.into(),
            event_triggers_enabled: row.event_triggers_enabled,
            updated_at: row.updated_at.map(crate::convert::timestamp),
        }
    }
}
