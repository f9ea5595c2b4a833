//! Test support: the three services started in-process against a fresh database and a fresh queue
//! prefix, webhook receivers that record what they get, and polling with deadlines.

pub mod auth;
pub mod bench;
pub mod collector;
pub mod ops;
pub mod receiver;
pub mod stack;
pub mod wait;

pub use receiver::{Receiver, Reply};
pub use stack::Stack;
pub use wait::eventually;
