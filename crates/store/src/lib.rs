//! Hookline's PostgreSQL schema and how the services reach it: the migrations (applied by
//! `hookline-registry migrate`), and the pool every service that touches the database makes, with its
//! session settings, start-up wait, health watch and the test of which errors come from the data.
//! Ingest and the CLI never link it.

pub mod db;
pub mod sealed;
pub mod status;

/// The schema every Hookline service that touches PostgreSQL relies on.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
