//! Batched, durable recording of outcomes. Attempt tasks hand their outcome over and wait until it is
//! committed; meanwhile a few writers turn everything that queued up into single statements.

use sqlx::PgPool;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch::{self, Settled};
use hookline_dispatch::outcome::Outcome;
use hookline_dispatch::store;

/// Why an outcome was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotRecorded {
    /// The database stayed away until shutdown; the task can be tried again.
    #[error("the outcome was not recorded before shutdown")]
    Interrupted,
    /// The database refuses the outcome's data, however often it is tried.
    #[error("the database refuses the outcome: {0}")]
    Refused(String),
}

type Request = (Outcome, oneshot::Sender<Result<(), NotRecorded>>);

/// A handle to the writer. Cheap to clone; the writer stops once every handle is dropped.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Request>,
    pool: PgPool,
}

impl Recorder {
    /// Starts the writer. While the database is down it retries with backoff, holding its batch, so the
    /// messages behind it stay unacked in RabbitMQ; on `shutdown` it gives up and reports failure.
    pub fn start(pool: PgPool, batch: usize, shutdown: CancellationToken) -> Self {
        let (queue, requests) = mpsc::channel(batch * 4);
        tokio::spawn(write(pool.clone(), requests, batch, shutdown));
        Self { queue, pool }
    }

    /// Whether `attempt` of `delivery` is already recorded as a success.
    pub async fn succeeded(&self, delivery: Uuid, attempt: u32) -> Result<bool, sqlx::Error> {
        store::succeeded_by(&self.pool, delivery, attempt).await
    }

    /// Claims `attempt` of `delivery` before it is sent (see [`store::claim_attempt`]).
    pub async fn claim(
        &self,
        delivery: Uuid,
        attempt: u32,
        lease: std::time::Duration,
    ) -> Result<store::Claim, sqlx::Error> {
        store::claim_attempt(&self.pool, delivery, attempt, lease).await
    }

    /// Returns once `outcome` is committed.
    pub async fn record(&self, outcome: Outcome) -> Result<(), NotRecorded> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send((outcome, done))
            .await
            .map_err(|_| NotRecorded::Interrupted)?;
        committed.await.unwrap_or(Err(NotRecorded::Interrupted))
    }
}

/// Batches written at once, when they are full.
const PARALLEL_WRITES: usize = 4;

/// How long the first outcome of a batch may wait for others before it is written. The wait falls
/// after the POST, so delivery latency does not see it; it only holds the event's ack a little longer.
/// Writing each outcome as soon as no write was under way made 4,026 writes for 10,000 deliveries at
/// 1,000/s, each paying its own planning and commit: a quarter of a core of PostgreSQL's time.
const LINGER: Duration = Duration::from_millis(10);

/// Group commit. Outcomes gather into a batch until it is full or its first outcome has waited
/// [`LINGER`]; then it is written, up to [`PARALLEL_WRITES`] batches side by side (only full ones
/// beside another). Under load batches fill before the linger ends; at low rates each write carries
/// every outcome of its 10 ms.
async fn write(
    pool: PgPool,
    mut requests: mpsc::Receiver<Request>,
    batch: usize,
    shutdown: CancellationToken,
) {
    let mut writes = tokio::task::JoinSet::new();
    let mut pending: Vec<Request> = Vec::with_capacity(batch);
    let mut open = true;
    // When the oldest pending outcome's wait ends.
    let mut due: Option<Instant> = None;
    while open || !pending.is_empty() || !writes.is_empty() {
        let room = batch - pending.len();
        // Armed only while no write is under way: beside a write, only full batches go.
        let idle = writes.is_empty();
        let linger = async move {
            match due {
                Some(due) if idle => sleep_until(due).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            received = requests.recv_many(&mut pending, room), if open && room > 0 => {
                open = received > 0;
            }
            Some(_) = writes.join_next(), if !writes.is_empty() => {}
            () = linger => {}
        }
        if !pending.is_empty() && due.is_none() {
            due = Some(Instant::now() + LINGER);
        }
        let expired = due.is_some_and(|due| Instant::now() >= due);
        while !pending.is_empty()
            && writes.len() < PARALLEL_WRITES
            && (pending.len() >= batch || !open || (expired && writes.is_empty()))
        {
            let next = pending.split_off(pending.len().min(batch));
            let full = std::mem::replace(&mut pending, next);
            let (pool, shutdown) = (pool.clone(), shutdown.clone());
            writes.spawn(async move { flush(&pool, full, &shutdown).await });
            due = (!pending.is_empty()).then(|| Instant::now() + LINGER);
        }
    }
}

async fn flush(pool: &PgPool, pending: Vec<Request>, shutdown: &CancellationToken) {
    let (outcomes, waiting): (Vec<Outcome>, Vec<_>) = pending.into_iter().unzip();
    let mut results = vec![Err(NotRecorded::Interrupted); outcomes.len()];
    let settled = batch::write_apart(&outcomes, "outcomes", shutdown, |chunk| {
        store::record(pool, chunk)
    })
    .await;
    for part in settled {
        match part {
            Settled::Written(range, ()) => results[range].fill(Ok(())),
            Settled::Refused(i, error) => results[i] = Err(NotRecorded::Refused(error.to_string())),
            Settled::Unwritten(range) => results[range].fill(Err(NotRecorded::Interrupted)),
        }
    }
    for (done, result) in waiting.into_iter().zip(results) {
        let _ = done.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_dispatch::failure::AttemptFailure;
    use hookline_dispatch::outcome::{DeliveryState, HttpExchange};

    /// Many outcomes at once, gathered into group writes, one of them carrying U+0000 (which `text`
    /// refuses): every good one is committed, the bad one alone is refused, and nothing waits forever.
    #[sqlx::test(migrations = "../store/migrations")]
    async fn a_refused_outcome_in_a_group_write_leaves_the_others_committed(pool: PgPool) {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "WITH e AS (INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data)
                        VALUES (gen_random_uuid(), 'org', 'job.completed', 1, now(), '{}') RETURNING id)
             INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, status)
             SELECT gen_random_uuid(), e.id, gen_random_uuid(), 'org', 'job.completed',
                    'https://example.com/', 'pending'
             FROM e, generate_series(1, 60) RETURNING id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let recorder = Recorder::start(pool.clone(), 8, CancellationToken::new());
        let outcome = |id: Uuid, error: &str| Outcome {
            delivery_id: id,
            state: DeliveryState::Failed,
            attempt: 1,
            next_attempt_at: None,
            exchange: Some(HttpExchange {
                started_at: chrono::Utc::now(),
                duration: std::time::Duration::from_millis(1),
                request_body: "{}".into(),
                request_headers: Vec::new(),
                status: Some(500),
                headers: Vec::new(),
                body: String::new(),
                body_truncated: false,
                failure: Some(AttemptFailure::Body(error.into())),
            }),
        };
        let poisoned = ids[17];
        let results = futures_util::future::join_all(ids.iter().map(|&id| {
            let error = if id == poisoned {
                "bad\u{0}byte"
            } else {
                "HTTP 500"
            };
            recorder.record(outcome(id, error))
        }))
        .await;
        for (id, result) in ids.iter().zip(&results) {
            if *id == poisoned {
                assert!(matches!(result, Err(NotRecorded::Refused(_))), "{result:?}");
            } else {
                assert!(result.is_ok(), "{id}: {result:?}");
            }
        }
        let failed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'failed'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(failed, 59);
    }
}
