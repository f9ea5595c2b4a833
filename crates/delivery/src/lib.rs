//! Delivery workers. Two stages run in every worker process, as competing consumers:
//! - fan-out ([`fanout`]) consumes events, records each event with one delivery per matching webhook, and
//!   publishes one delivery task each;
//! - attempts ([`attempt`]) POST each task, record the attempt, and schedule the retry or dead-letter it.
//!
//! Messages are acked only once their outcome is durable, so a killed worker loses nothing.

pub mod app;
mod attempt;
mod batch;
mod claims;
mod direct;
mod fanout;
mod gate;
mod notices;
mod rate;
mod recorder;
mod store;
mod subscriptions;
mod task;

pub use app::Delivery;
