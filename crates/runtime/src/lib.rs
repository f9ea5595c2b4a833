//! How a Hookline service process runs: configuration and CLI arguments, telemetry, spans and metrics,
//! the ops HTTP server, the gRPC server and its authentication, shutdown and background tasks, and
//! the RabbitMQ connection, topology and publisher. The domain these carry is in
//! `hookline-core`.

pub mod amqp;
pub mod auth;
pub mod background;
pub mod cli;
pub mod config;
pub mod grpc;
mod json_log;
pub mod ops;
pub mod prometheus;
pub mod publisher;
pub mod shutdown;
pub mod spans;
pub mod telemetry;
pub mod topology;

/// The version every service reports in `user-agent` and logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
