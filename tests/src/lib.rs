//! Test support: the three services started in-process against a fresh database and a fresh queue
//! prefix, webhook receivers that record what they get, and polling with deadlines.

pub mod auth;
pub mod bench;
pub mod broker;
pub mod browser;
pub mod chaos;
pub mod collector;
pub mod console;
pub mod cost;
pub mod delivery_log;
pub mod fuzz;
pub mod load;
pub mod logs;
pub mod ops;
pub mod raw_broker;
pub mod raw_latency;
pub mod receiver;
pub mod secret_scan;
pub mod stack;
pub mod wait;

pub use receiver::{Receiver, Reply};
pub use stack::Stack;
pub use wait::eventually;

/// How long a test waits for something that should happen within a second or two (a delivery, a log row).
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);
/// How long a test waits across a fault: a killed process, a broker or database outage, a burst.
pub const LONG_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// The organisation a test acts for when it needs only one.
pub const ORG: &str = "org_acme";
