//! Organisation settings the attempt stage needs (the unit system), kept briefly like webhook targets,
//! so a busy organisation costs one read per TTL rather than one per attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookline_core::messages::EventMessage;
use hookline_core::units::{self, UnitSystem};
use sqlx::PgPool;

use crate::store;

/// Unit systems by organisation, each kept for at most `ttl`.
pub struct OrganisationCache {
    pool: PgPool,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, UnitSystem)>>,
}

impl OrganisationCache {
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        Self {
            pool,
            ttl,
            entries: Mutex::default(),
        }
    }

    pub async fn unit_system(&self, organisation_id: &str) -> Result<UnitSystem, sqlx::Error> {
        if let Some((at, system)) = self
            .entries
            .lock()
            .expect("cache lock")
            .get(organisation_id)
            && at.elapsed() < self.ttl
        {
            return Ok(*system);
        }
        let system = store::unit_system(&self.pool, organisation_id).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() > 100_000 {
            entries.clear();
        }
        entries.insert(organisation_id.to_owned(), (Instant::now(), system));
        Ok(system)
    }

    /// `event` as its organisation receives it now: quantities in its unit system. The original stays
    /// as it was, so a retry converts again with the settings of its own moment.
    pub async fn localised(&self, event: &EventMessage) -> Result<EventMessage, sqlx::Error> {
        let system = self.unit_system(&event.organisation_id).await?;
        let mut event = event.clone();
        units::localise_object(&mut event.data, system);
        Ok(event)
    }
}
