//! What a scenario must show once its faults are over: every event answered OK delivered to each
//! webhook, nothing refused delivered, duplicates only under the same `webhook-id`, no delivery left in a
//! non-final state, and the delivery log agreeing with what the endpoints received.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::endpoint::Receipt;
use super::producer::Ledger;

/// One scenario's row of the suite's table.
#[derive(Debug, Default)]
pub struct Verdict {
    pub scenario: &'static str,
    pub accepted: usize,
    pub refused: usize,
    pub unknown: usize,
    /// Deliveries (event × webhook) of accepted events that arrived, answered 2xx.
    pub delivered: usize,
    /// Deliveries of accepted events that never arrived.
    pub missing: usize,
    /// Refused events that arrived anyway.
    pub refused_delivered: usize,
    /// Requests beyond the first success of a delivery.
    pub duplicates: usize,
    /// Deliveries whose copies carried different `webhook-id`s, or any request that failed to verify.
    pub forged_or_renamed: usize,
    /// Deliveries still pending or retrying at the end.
    pub stuck: usize,
    /// Up to five of the stuck deliveries, described.
    pub stuck_sample: Vec<String>,
    /// Deliveries the log and the endpoints disagree on (succeeded in one, not in the other).
    pub log_disagrees: usize,
    /// From the end of the faults to the last accepted event arriving.
    pub drain: Duration,
    /// The longest time from a failed attempt's end to the next attempt's start, in the log.
    pub slowest_retry: Option<Duration>,
    /// The scenario's bound on [`Self::slowest_retry`], if it has one.
    pub retry_within: Option<Duration>,
    pub unexpected: Vec<String>,
    /// Secrets found in the services' logs.
    pub leaks: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.missing == 0
            && self.refused_delivered == 0
            && self.forged_or_renamed == 0
            && self.stuck == 0
            && self.log_disagrees == 0
            && self.unexpected.is_empty()
            && self.leaks.is_empty()
            && self.retries_on_schedule()
    }

    /// Whether every retry started within the scenario's bound (if it sets one).
    pub fn retries_on_schedule(&self) -> bool {
        match (self.slowest_retry, self.retry_within) {
            (Some(slowest), Some(bound)) => slowest <= bound,
            _ => true,
        }
    }

    /// Duplicates per delivery, in percent.
    pub fn duplicate_rate(&self) -> f64 {
        100.0 * self.duplicates as f64 / self.delivered.max(1) as f64
    }
}

/// Successful receipts by webhook (`hook`), then by `seq`: the `webhook-id`s that arrived.
fn successes(receipts: &[Receipt]) -> BTreeMap<&str, BTreeMap<u64, Vec<&str>>> {
    let mut by_hook: BTreeMap<&str, BTreeMap<u64, Vec<&str>>> = BTreeMap::new();
    for receipt in receipts.iter().filter(|r| r.status < 300) {
        if let Some(seq) = receipt.seq {
            by_hook
                .entry(&receipt.hook)
                .or_default()
                .entry(seq)
                .or_default()
                .push(&receipt.msg_id);
        }
    }
    by_hook
}

/// A few unfinished deliveries as the log has them, so a failed run says where they stopped.
async fn stuck_sample(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT format('%s %s attempts=%s next=%s claimed=%s until=%s age=%s', id, status, attempts,
                       next_attempt_at, claimed_attempt, claim_expires_at, now() - updated_at)
           FROM deliveries WHERE status IN ('pending', 'retrying') ORDER BY updated_at LIMIT 5",
    )
    .fetch_all(pool)
    .await
}

/// How many deliveries of `pool`'s log are in a non-final state.
pub async fn unfinished(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'retrying')")
        .fetch_one(pool)
        .await
}

/// Whether every accepted event has arrived at each of `hooks`, and nothing is left unfinished.
pub async fn drained(ledger: &Ledger, hooks: &[&str], receipts: &[Receipt], pool: &PgPool) -> bool {
    let arrived = successes(receipts);
    let all_arrived = hooks.iter().all(|hook| {
        arrived
            .get(hook)
            .is_some_and(|got| ledger.accepted.keys().all(|seq| got.contains_key(seq)))
    });
    all_arrived && unfinished(pool).await.is_ok_and(|n| n == 0)
}

/// Judges the scenario. `hooks` maps each endpoint path to its webhook id.
pub async fn judge(
    scenario: &'static str,
    ledger: Ledger,
    hooks: &HashMap<String, String>,
    receipts: &[Receipt],
    pool: &PgPool,
    faults_ended: Instant,
) -> anyhow::Result<Verdict> {
    let last_arrival = receipts
        .iter()
        .filter(|r| r.status < 300)
        .map(|r| r.at)
        .max();
    let arrived = successes(receipts);
    let mut verdict = Verdict {
        scenario,
        accepted: ledger.accepted.len(),
        refused: ledger.refused.len(),
        unknown: ledger.unknown.len(),
        drain: last_arrival.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(faults_ended)
        }),
        unexpected: ledger.unexpected.clone(),
        forged_or_renamed: receipts.iter().filter(|r| !r.verified).count(),
        stuck: usize::try_from(unfinished(pool).await?)?,
        stuck_sample: stuck_sample(pool).await?,
        slowest_retry: slowest_retry(pool).await?,
        ..Default::default()
    };
    for hook in hooks.keys() {
        let got = arrived.get(hook.as_str()).cloned().unwrap_or_default();
        for (seq, event_id) in &ledger.accepted {
            match got.get(seq) {
                Some(ids) => {
                    verdict.delivered += 1;
                    verdict.duplicates += ids.len() - 1;
                    if ids.iter().any(|id| id != event_id) {
                        verdict.forged_or_renamed += 1;
                    }
                }
                None => verdict.missing += 1,
            }
        }
        verdict.refused_delivered += ledger
            .refused
            .iter()
            .filter(|s| got.contains_key(s))
            .count();
    }
    verdict.log_disagrees = log_disagreements(hooks, receipts, pool).await?;
    Ok(verdict)
}

/// The longest gap in the log between the end of a failed attempt and the start of the same
/// delivery's next attempt: the retry schedule's delay plus however late the retry was.
async fn slowest_retry(pool: &PgPool) -> sqlx::Result<Option<Duration>> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT max(extract(epoch FROM next.started_at - failed.started_at)
                    - failed.duration_ms / 1000.0)::float8
           FROM delivery_attempts failed
           JOIN delivery_attempts next
             ON next.delivery_id = failed.delivery_id AND next.attempt = failed.attempt + 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// Deliveries that succeeded in the log but never arrived, or arrived but did not succeed in the log.
async fn log_disagreements(
    hooks: &HashMap<String, String>,
    receipts: &[Receipt],
    pool: &PgPool,
) -> anyhow::Result<usize> {
    let mut disagreements = 0;
    for (hook, webhook_id) in hooks {
        let logged: BTreeSet<String> = sqlx::query_scalar(
            "SELECT event_id::text FROM deliveries WHERE webhook_id = $1::uuid AND status = 'succeeded'",
        )
        .bind(webhook_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        let seen: BTreeSet<String> = receipts
            .iter()
            .filter(|r| &r.hook == hook && r.status < 300)
            .map(|r| r.msg_id.clone())
            .collect();
        disagreements += logged.symmetric_difference(&seen).count();
    }
    Ok(disagreements)
}
