//! One signed, SSRF-vetted HTTP attempt, and what it needs: the webhook's target (URL, secrets,
//! endpoint credentials, breaker) and the organisation's unit system, read through short-lived caches;
//! the sender with its vetting resolver; what an attempt produced; and the SQL of the delivery log.
//! Delivery workers make their attempts with it, and the registry its synchronous test events, so the
//! two send exactly the same request and neither service depends on the other.

pub mod failure;
pub mod organisations;
pub mod outcome;
pub mod resolver;
pub mod sender;
pub mod store;
pub mod webhooks;
