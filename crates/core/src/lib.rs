//! Hookline's domain, shared by the services and the CLI: the event and delivery messages, the envelope
//! sent to webhooks and its signature, sealed secrets, webhook URL and address policy, endpoint
//! authentication, units, the event catalog and tokens. Nothing here does I/O or needs an async runtime,
//! a database or a broker, so the CLI can link it alone.

pub mod address_policy;
pub mod brand;
pub mod catalog;
pub mod endpoint_auth;
pub mod envelope;
pub mod event_type;
pub mod headers;
pub mod json_struct;
pub mod messages;
pub mod operational;
pub mod organisation;
pub mod plain_text;
pub mod secret_box;
pub mod signing;
pub mod storable;
pub mod tokens;
pub mod units;
pub mod webhook_url;
