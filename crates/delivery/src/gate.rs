//! The endpoint gate: per webhook, whether a task is attempted now, waits in the worker for a moment, or is
//! deferred through the broker, so that no endpoint can hold more than its share of a worker.
//!
//! Each endpoint has, in each worker:
//! - a **concurrency limit**, adaptive (AIMD): it starts at `delivery.endpoint_concurrency`, halves when an
//!   attempt times out, fails to connect, or is answered 429 or 503, and grows back by one per limit's
//!   worth of successes. A task over the limit waits here only while the endpoint would take it within
//!   `delivery.max_local_wait` (judged from its latency); otherwise it is deferred. Waiting holds a
//!   prefetch slot, never an HTTP slot.
//! - a **circuit breaker**: `delivery.breaker_failures` failed attempts in a row open it for
//!   `delivery.breaker_cooloff`. While open, tasks are deferred without a request. Then one probe is let
//!   through: success closes it, failure opens it for another cool-off. Opening is written to the
//!   webhook's row, so every worker defers that endpoint's tasks from its next read of the row.
//! - a **pause** when a 429 or 503 carried `Retry-After` (bounded by `delivery.max_retry_after`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_runtime::prometheus;
use tokio::sync::Notify;
use uuid::Uuid;

/// The gate's settings.
#[derive(Debug, Clone)]
pub struct Limits {
    pub endpoint_concurrency: u32,
    pub max_local_wait: Duration,
    pub breaker_failures: u32,
    pub breaker_cooloff: Duration,
    pub max_retry_after: Duration,
}

/// Why a task was deferred, for the log and the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferReason {
    /// The endpoint is at its concurrency limit and would not take the task soon.
    Busy,
    /// The endpoint's breaker is open.
    CircuitOpen,
    /// The endpoint asked for a pause with `Retry-After`.
    RetryAfter,
    /// The webhook's rate limit: the task's slot is not due yet.
    RateLimited,
}

impl DeferReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Busy => "endpoint_busy",
            Self::CircuitOpen => "circuit_open",
            Self::RetryAfter => "retry_after",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// The gate's answer for one task.
pub enum Admission {
    /// Attempt it now; report how it went through the permit.
    Now(Permit),
    /// Wait for the notification (or a short recheck), then ask again with `waited` set.
    Wait(Arc<Notify>),
    /// Defer it for at least this long.
    Defer(Duration, DeferReason),
}

/// Whether an endpoint has room for a task, before any waiting: [`Gate::admit_first`]'s answer.
pub enum Room {
    /// Attempt it now; report how it went through the permit.
    Now(Permit),
    /// The endpoint takes nothing for this long (its breaker open, or paused by `Retry-After`).
    Closed(Duration, DeferReason),
    /// The endpoint is at its concurrency limit.
    Full,
}

pub use hookline_dispatch::outcome::Verdict;
pub use hookline_dispatch::webhooks::Transition;

#[derive(Debug)]
enum Circuit {
    Closed,
    Open {
        until: Instant,
    },
    /// The cool-off has passed; `probing` while the one probe is in flight.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug)]
struct Endpoint {
    /// Start times of the attempts in flight, by permit number.
    in_flight: HashMap<u64, Instant>,
    waiting: u32,
    limit: f64,
    /// Smoothed duration of finished attempts.
    latency: Option<Duration>,
    failures: u32,
    circuit: Circuit,
    paused_until: Option<Instant>,
    wake: Arc<Notify>,
    /// Tasks deferred as busy lately (halving every second): the backlog beyond this worker, so that a
    /// long backlog is deferred for longer rather than cycled through the shortest step.
    deferred: f64,
    deferred_at: Instant,
}

impl Endpoint {
    fn new(limit: u32) -> Self {
        Self {
            in_flight: HashMap::new(),
            waiting: 0,
            limit: f64::from(limit),
            latency: None,
            failures: 0,
            circuit: Circuit::Closed,
            paused_until: None,
            wake: Arc::new(Notify::new()),
            deferred: 0.0,
            deferred_at: Instant::now(),
        }
    }

    /// The lately deferred count, decayed to `now`.
    fn backlog(&mut self, now: Instant) -> f64 {
        let seconds = (now - self.deferred_at).as_secs_f64();
        self.deferred *= 0.5_f64.powf(seconds);
        self.deferred_at = now;
        self.deferred
    }

    /// Idle and healthy: nothing would be lost by forgetting it.
    fn forgettable(&self, now: Instant) -> bool {
        self.in_flight.is_empty()
            && self.waiting == 0
            && matches!(self.circuit, Circuit::Closed)
            && self.paused_until.is_none_or(|t| t <= now)
    }

    /// The time one attempt takes: the smoothed latency, or longer if an attempt in flight already has.
    fn latency(&self, now: Instant) -> Duration {
        let oldest = self.in_flight.values().map(|t| now - *t).max();
        self.latency
            .into_iter()
            .chain(oldest)
            .max()
            .unwrap_or_default()
    }
}

/// Endpoints this worker tracks at most before idle ones are forgotten.
const TRACKED: usize = 10_000;

/// The gate of one worker. Cheap to share behind an `Arc`.
pub struct Gate {
    limits: Limits,
    endpoints: Mutex<HashMap<Uuid, Endpoint>>,
    next_permit: std::sync::atomic::AtomicU64,
}

impl Gate {
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            endpoints: Mutex::default(),
            next_permit: Default::default(),
        })
    }

    /// Decides for a task of `webhook`. `shared_open_until` is the breaker state another worker wrote to
    /// the webhook's row; `waited` says the task has been waiting here (so it no longer counts as waiting).
    pub fn admit(
        self: &Arc<Self>,
        webhook: Uuid,
        shared_open_until: Option<Instant>,
        waited: bool,
    ) -> Admission {
        let now = Instant::now();
        let mut endpoints = self.endpoints.lock().expect("gate lock");
        match self.room(&mut endpoints, webhook, shared_open_until, waited, now) {
            Room::Now(permit) => Admission::Now(permit),
            Room::Closed(wait, reason) => Admission::Defer(wait, reason),
            Room::Full => {
                let e = endpoints.get_mut(&webhook).expect("tracked by `room`");
                // Tasks ahead of this one (waiting here, or deferred lately) leave at `limit` per latency.
                let ahead = f64::from(e.waiting) + e.backlog(now) + 1.0;
                let wait = e.latency(now).mul_f64(ahead / e.limit.max(1.0));
                if wait > self.limits.max_local_wait {
                    e.deferred += 1.0;
                    Admission::Defer(wait, DeferReason::Busy)
                } else {
                    e.waiting += 1;
                    Admission::Wait(e.wake.clone())
                }
            }
        }
    }

    /// Decides for a task the fan-out holds before any attempt. Unlike [`Gate::admit`], it neither waits
    /// nor counts a full endpoint's task as its backlog: the fan-out queues that task, and the attempt
    /// that consumes it asks [`Gate::admit`].
    pub fn admit_first(
        self: &Arc<Self>,
        webhook: Uuid,
        shared_open_until: Option<Instant>,
    ) -> Room {
        let now = Instant::now();
        let mut endpoints = self.endpoints.lock().expect("gate lock");
        self.room(&mut endpoints, webhook, shared_open_until, false, now)
    }

    /// Whether the endpoint takes the task now: the pause, the breaker, then the concurrency limit.
    fn room(
        self: &Arc<Self>,
        endpoints: &mut HashMap<Uuid, Endpoint>,
        webhook: Uuid,
        shared_open_until: Option<Instant>,
        waited: bool,
        now: Instant,
    ) -> Room {
        if endpoints.len() > TRACKED {
            endpoints.retain(|_, e| !e.forgettable(now));
        }
        let limit = self.limits.endpoint_concurrency;
        let e = endpoints
            .entry(webhook)
            .or_insert_with(|| Endpoint::new(limit));
        if waited {
            e.waiting = e.waiting.saturating_sub(1);
        }
        if let Some(until) = e.paused_until {
            if until > now {
                return Room::Closed(until - now, DeferReason::RetryAfter);
            }
            e.paused_until = None;
        }
        // Another worker's breaker counts like this worker's own.
        if let Some(until) = shared_open_until.filter(|t| *t > now)
            && matches!(e.circuit, Circuit::Closed)
        {
            e.circuit = Circuit::Open { until };
            count_open(endpoints);
            return Room::Closed(until - now, DeferReason::CircuitOpen);
        }
        let mut probe = false;
        match e.circuit {
            Circuit::Open { until } if until > now => {
                return Room::Closed(until - now, DeferReason::CircuitOpen);
            }
            Circuit::Open { .. } | Circuit::HalfOpen { probing: false } => {
                e.circuit = Circuit::HalfOpen { probing: true };
                probe = true;
            }
            Circuit::HalfOpen { probing: true } => {
                return Room::Closed(self.limits.breaker_cooloff, DeferReason::CircuitOpen);
            }
            Circuit::Closed => {}
        }
        if !probe && (e.in_flight.len() as f64) >= e.limit.floor() {
            return Room::Full;
        }
        let number = self
            .next_permit
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.in_flight.insert(number, now);
        Room::Now(Permit {
            gate: self.clone(),
            webhook,
            number,
            probe,
            done: false,
        })
    }

    /// A task told to wait gives up waiting (the worker is stopping) without asking again.
    pub fn stop_waiting(&self, webhook: Uuid) {
        let mut endpoints = self.endpoints.lock().expect("gate lock");
        if let Some(e) = endpoints.get_mut(&webhook) {
            e.waiting = e.waiting.saturating_sub(1);
        }
    }

    /// Learns from a finished attempt; returns the breaker's change, if any. An attempt that never
    /// happened (`verdict` `None`) only frees its slot, and if it was the probe, lets the next task probe:
    /// otherwise the breaker would wait for a probe's verdict forever, deferring every task.
    fn finish(&self, permit: &Permit, verdict: Option<Verdict>) -> Option<Transition> {
        let now = Instant::now();
        let mut endpoints = self.endpoints.lock().expect("gate lock");
        let e = endpoints.get_mut(&permit.webhook)?;
        let started = e.in_flight.remove(&permit.number);
        e.wake.notify_one();
        let Some(verdict) = verdict else {
            if permit.probe && matches!(e.circuit, Circuit::HalfOpen { probing: true }) {
                e.circuit = Circuit::HalfOpen { probing: false };
            }
            return None;
        };
        if let Some(started) = started {
            let took = now - started;
            e.latency = Some(match e.latency {
                None => took,
                Some(smoothed) => smoothed.mul_f64(0.8) + took.mul_f64(0.2),
            });
        }
        let ceiling = f64::from(self.limits.endpoint_concurrency);
        match verdict {
            Verdict::Success => {
                e.limit = (e.limit + 1.0 / e.limit).min(ceiling);
                e.failures = 0;
                if matches!(e.circuit, Circuit::Closed) {
                    return None;
                }
                e.circuit = Circuit::Closed;
                e.wake.notify_waiters();
                count_open(&endpoints);
                Some(Transition::Closed)
            }
            Verdict::Failure {
                overload,
                retry_after,
            } => {
                if overload {
                    e.limit = (e.limit / 2.0).max(1.0);
                }
                if let Some(pause) = retry_after {
                    let until = now + pause.min(self.limits.max_retry_after);
                    e.paused_until = Some(e.paused_until.map_or(until, |t| t.max(until)));
                }
                e.failures += 1;
                let probe_failed = matches!(e.circuit, Circuit::HalfOpen { probing: true });
                let trips = matches!(e.circuit, Circuit::Closed)
                    && e.failures >= self.limits.breaker_failures;
                if !(probe_failed || trips) {
                    return None;
                }
                let for_ = self.limits.breaker_cooloff;
                e.circuit = Circuit::Open { until: now + for_ };
                count_open(&endpoints);
                Some(Transition::Opened { for_ })
            }
        }
    }
}

/// Sets the gauge of open breakers; called only when one changes, which is rare.
fn count_open(endpoints: &HashMap<Uuid, Endpoint>) {
    let open = endpoints
        .values()
        .filter(|e| !matches!(e.circuit, Circuit::Closed))
        .count();
    metrics::gauge!(prometheus::CIRCUITS_OPEN).set(open as f64);
}

/// An attempt slot of one endpoint. Report the attempt with [`Permit::finish`]; dropped unreported (the
/// attempt never happened), it only frees the slot.
pub struct Permit {
    gate: Arc<Gate>,
    webhook: Uuid,
    number: u64,
    /// The one attempt a half-open breaker lets through.
    probe: bool,
    done: bool,
}

impl Permit {
    pub fn finish(mut self, verdict: Verdict) -> Option<Transition> {
        self.done = true;
        self.gate.finish(&self, Some(verdict))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.gate.finish(self, None);
        }
    }
}

#[cfg(test)]
mod tests;
