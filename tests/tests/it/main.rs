//! The cross-service tests that can share one process, as one test binary: linking the whole stack once
//! instead of once per area. `metrics.rs`, `traces.rs` and `poison.rs` stay binaries of their own because
//! they read process-wide state (the Prometheus recorder, the OpenTelemetry exporter) that other tests' work
//! would add to.

mod auth;
mod catalog;
mod cli;
mod console;
mod console_a11y;
mod console_hostile;
mod console_log;
mod console_pages;
mod console_test_event;
mod console_webhooks;
mod crash;
mod endpoint_auth;
mod envelope;
mod fuzz;
mod ingest;
mod isolation;
mod lifecycle;
mod localisation;
mod log;
mod operational;
mod overdue;
mod ping;
mod pipeline;
mod rate_limit;
mod reconnect;
mod redeliver;
mod registry;
mod retention;
mod secrets;
mod shards;
mod ssrf;
mod test_event;
mod tls;
mod versions;
