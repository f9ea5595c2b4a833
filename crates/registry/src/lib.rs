//! The webhook registry: a gRPC service over PostgreSQL that owns webhooks and exposes the delivery log.
//! It also owns the database schema (`migrations/`).

pub mod app;
mod catalog;
mod convert;
mod dead_letters;
mod error;
mod input;
mod page;
mod queue_metrics;
mod reseal;
mod retention;
mod service;
mod settings;
mod store;
mod test_delivery;

pub use app::Registry;

/// The schema every Hookline service that touches PostgreSQL relies on.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
