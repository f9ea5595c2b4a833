//! What the Hookline services share: configuration, the event and delivery messages, the envelope sent to
//! webhooks, signing, the RabbitMQ topology, connections, telemetry, shutdown and the ops HTTP server.

pub mod address_policy;
pub mod amqp;
pub mod auth;
pub mod background;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod endpoint_auth;
pub mod envelope;
pub mod event_type;
pub mod grpc;
pub mod headers;
pub mod json_struct;
pub mod messages;
pub mod ops;
pub mod organisation;
pub mod prometheus;
pub mod publisher;
pub mod secret_box;
pub mod shutdown;
pub mod signing;
pub mod spans;
pub mod storable;
pub mod telemetry;
pub mod topology;
pub mod units;
pub mod webhook_url;

/// The version every service reports in `user-agent` and logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
