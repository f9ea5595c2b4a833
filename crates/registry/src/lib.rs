//! The webhook registry: a gRPC service over PostgreSQL that owns webhooks and exposes the delivery log.
//! It applies the schema (`hookline_store::MIGRATOR`) with `hookline-registry migrate`.

pub mod app;
mod auto_disable;
mod catalog;
mod convert;
mod dead_letters;
mod error;
mod input;
mod operations;
mod overdue;
mod page;
mod periodic;
mod queue_metrics;
mod reseal;
mod retention;
mod service;
mod settings;
mod store;
mod test_delivery;

pub use app::Registry;
