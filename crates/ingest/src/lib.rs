//! Event ingest: validates events from producers and publishes them to RabbitMQ, answering only after the
//! broker has confirmed them. It never touches PostgreSQL, so events are accepted while the database is down.

mod admission;
pub mod app;
mod catalog;
mod error;
mod event;
mod service;

pub use error::{MAYBE_ACCEPTED, NOT_ACCEPTED};

pub use app::Ingest;
pub use service::MAX_BATCH;
