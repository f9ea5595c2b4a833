//! Per-webhook rate limits, shared by every worker through one schedule row per webhook (GCRA: each
//! delivery reserves the schedule's next slot, one interval after the last). A task whose slot is due
//! within its endpoint's local window waits for it here, holding a prefetch slot but no attempt slot; one
//! whose slot is further off waits in the broker's deferral queues, carrying its slot, and is sent when it
//! comes back without reserving again. Waiting is never an attempt.
//!
//! Reserving happens before the endpoint's gate: a slot that goes unused (the breaker opened, the
//! webhook was switched off, the worker stopped) is skipped, so the limit can be undershot but never
//! overshot by the schedule.

use std::time::Duration;

use chrono::Utc;
use hookline_core::messages::{DeliveryTask, RateSlot};
use hookline_runtime::prometheus;
use hookline_runtime::topology::DEFER_STEPS;
use lapin::Channel;
use tokio_util::sync::CancellationToken;

use crate::attempt::{AttemptError, AttemptStage};
use crate::gate::DeferReason;

/// Whether a task may go on to its attempt, or was handed to the broker to wait for its slot.
pub(crate) enum Paced {
    Go,
    Held,
}

/// How far off a slot may be for its task to wait in the worker: the shortest deferral step (a task held
/// in the broker for a slot nearer than that would come back late), and no more than the endpoint's share
/// of the worker allows, so at most `endpoint_concurrency` of one endpoint's tasks wait here at once.
pub(crate) fn local_window(per_second: u32, endpoint_concurrency: u32) -> Duration {
    let share = Duration::from_secs_f64(f64::from(endpoint_concurrency) / f64::from(per_second));
    share.min(DEFER_STEPS[0])
}

impl AttemptStage {
    /// Keeps `task` to its webhook's limit of `per_second`: takes its slot (the one it carries, or a new
    /// reservation) and waits for it here if it is due within the local window, or holds the task in the
    /// broker until then.
    pub(crate) async fn pace(
        &self,
        channel: &Channel,
        task: &mut DeliveryTask,
        per_second: u32,
        shutdown: &CancellationToken,
    ) -> Result<Paced, AttemptError> {
        let wait = match task.rate_slot.take() {
            Some(slot) if slot.per_second == per_second => {
                (slot.at - Utc::now()).to_std().unwrap_or_default()
            }
            _ => {
                self.webhooks
                    .reserve_rate_slot(task.webhook_id, per_second)
                    .await?
            }
        };
        if wait > local_window(per_second, self.gate.limits().endpoint_concurrency) {
            let held = DeliveryTask {
                rate_slot: Some(RateSlot {
                    at: Utc::now() + wait,
                    per_second,
                }),
                ..task.clone()
            };
            metrics::counter!(
                prometheus::DEFERRED,
                "reason" => DeferReason::RateLimited.label(),
                "stage" => "attempt"
            )
            .increment(1);
            self.hold(channel, &held, wait).await?;
            return Ok(Paced::Held);
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(Paced::Go),
            () = shutdown.cancelled() => Err(AttemptError::Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_window_is_the_shortest_step_or_the_endpoints_share() {
        assert_eq!(local_window(10, 64), DEFER_STEPS[0]);
        assert_eq!(local_window(64, 64), DEFER_STEPS[0]);
        assert_eq!(local_window(1000, 64), Duration::from_millis(64));
    }
}
