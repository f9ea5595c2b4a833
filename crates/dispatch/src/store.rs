//! The SQL of one attempt and its log: a webhook's target and breaker, an organisation's unit system,
//! test deliveries, and the batched write of outcomes. Delivery workers and the registry's test events
//! both run these, so the delivery log has one writer's vocabulary.

use chrono::{DateTime, Utc};
use hookline_core::messages::EventMessage;
use hookline_core::units::UnitSystem;
use hookline_store::status::{DeliveryStatus, WebhookStatus};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::outcome::Outcome;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// A webhook's URL, status and sealed secrets: the current one, and the previous one while its rotation
/// overlap lasts.
#[derive(Debug, sqlx::FromRow)]
pub struct TargetRow {
    pub url: String,
    pub status: WebhookStatus,
    #[sqlx(flatten)]
    pub sealed: hookline_store::sealed::SealedColumns,
    pub circuit_open_until: Option<DateTime<Utc>>,
    pub rate_limit: Option<i32>,
}

pub async fn webhook_target(pool: &PgPool, id: Uuid) -> Result<Option<TargetRow>> {
    sqlx::query_as(
        "SELECT url, status, secret_key_id, secret_sealed,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret_key_id END
                    AS previous_secret_key_id,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret_sealed END
                    AS previous_secret_sealed,
                auth_key_id, auth_sealed, circuit_open_until, rate_limit
         FROM webhooks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Reserves the next slot of `webhook`'s schedule at `per_second` deliveries a second: the later of now
/// and the schedule's next free time, which moves on by one interval. Returns how long from now the slot
/// is, by the database's clock, so workers whose clocks differ still keep one schedule. Each row lock
/// makes concurrent reservations take consecutive slots.
pub async fn reserve_rate_slot(
    pool: &PgPool,
    webhook: Uuid,
    per_second: u32,
) -> Result<std::time::Duration> {
    let seconds: f64 = sqlx::query_scalar(
        "INSERT INTO webhook_rate_slots AS s (webhook_id, next_at)
         VALUES ($1, clock_timestamp() + make_interval(secs => $2))
         ON CONFLICT (webhook_id) DO UPDATE
             SET next_at = greatest(s.next_at, clock_timestamp()) + make_interval(secs => $2)
         RETURNING extract(epoch FROM s.next_at - make_interval(secs => $2) - clock_timestamp())::float8",
    )
    .bind(webhook)
    .bind(1.0 / f64::from(per_second.max(1)))
    .fetch_one(pool)
    .await?;
    Ok(std::time::Duration::try_from_secs_f64(seconds).unwrap_or_default())
}

pub async fn unit_system(pool: &PgPool, organisation_id: &str) -> Result<UnitSystem> {
    let raw: Option<String> = sqlx::query_scalar(
        "SELECT unit_system FROM organisation_settings WHERE organisation_id = $1",
    )
    .bind(organisation_id)
    .fetch_optional(pool)
    .await?;
    Ok(raw.map(|r| UnitSystem::from_db(&r)).unwrap_or_default())
}

/// A delivery that needs a task published for its first attempt, in its webhook's version of the event.
/// Marks `webhook`'s breaker open for `cooloff`, keeping when it first opened; true when it was closed
/// (so of all the workers' breakers, only the first to open reports it).
pub async fn open_circuit(
    pool: &PgPool,
    webhook: Uuid,
    cooloff: std::time::Duration,
) -> Result<bool> {
    let was_closed: Option<bool> = sqlx::query_scalar(
        "UPDATE webhooks w SET circuit_opened_at = COALESCE(w.circuit_opened_at, now()),
                               circuit_open_until = now() + make_interval(secs => $2)
         FROM (SELECT id, circuit_opened_at FROM webhooks WHERE id = $1 FOR UPDATE) before
         WHERE w.id = before.id
         RETURNING before.circuit_opened_at IS NULL",
    )
    .bind(webhook)
    .bind(cooloff.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(was_closed.unwrap_or(false))
}

/// Switches `webhook` off with `reason`, if it is on; true when it was. Its pending retries then end
/// cancelled, as after an administrator's switch.
pub async fn disable(pool: &PgPool, webhook: Uuid, reason: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET status = 'disabled', disabled_reason = $2, disabled_at = now(),
                             updated_at = now()
         WHERE id = $1 AND status = 'enabled'",
    )
    .bind(webhook)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks `webhook`'s breaker closed; true when it was open.
pub async fn close_circuit(pool: &PgPool, webhook: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET circuit_opened_at = NULL, circuit_open_until = NULL
         WHERE id = $1 AND circuit_opened_at IS NOT NULL",
    )
    .bind(webhook)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a test event and its one delivery to `url`, both marked as tests, ready for their attempt.
pub async fn insert_test(
    pool: &PgPool,
    event: &EventMessage,
    delivery: Uuid,
    webhook: Uuid,
    url: &str,
) -> Result<()> {
    sqlx::query(
        "WITH new_event AS (
             INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data, test)
             VALUES ($1, $2, $3, $4, $5, $6, true)
         )
         INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, status, test)
         VALUES ($7, $1, $8, $2, $3, $9, 'pending', true)",
    )
    .bind(event.id)
    .bind(&event.organisation_id)
    .bind(&event.event_type)
    .bind(event.version as i32)
    .bind(event.occurred_at)
    .bind(Json(&event.data))
    .bind(delivery)
    .bind(webhook)
    .bind(url)
    .execute(pool)
    .await
    .map(drop)
}

/// Whether the log shows `attempt` (or a later one) of `delivery` succeeded: a task the broker redelivers
/// after that was already sent, and its ack was lost on the way.
pub async fn succeeded_by(pool: &PgPool, delivery: Uuid, attempt: u32) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = $1 AND status = 'succeeded' AND attempts >= $2)",
    )
    .bind(delivery)
    .bind(attempt as i32)
    .fetch_one(pool)
    .await
}

/// What a worker may do with a retry's task: send it, drop it because that attempt was already made,
/// or hold it until another copy's claim runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    AlreadyMade,
    HeldUntil(DateTime<Utc>),
}

/// Claims `attempt` of `delivery` for `lease` before it is sent. Two copies of one retry's task can
/// exist (the retry the broker finally brings back, and the copy the registry re-drove when it was
/// overdue, or one a `Redeliver` queued meanwhile); the claim lets one of them through, the attempt
/// recorded ends the other, and a claim whose holder died runs out after `lease`.
pub async fn claim_attempt(
    pool: &PgPool,
    delivery: Uuid,
    attempt: u32,
    lease: std::time::Duration,
) -> Result<Claim> {
    let granted = sqlx::query(
        "UPDATE deliveries
         SET claimed_attempt = $2, claim_expires_at = now() + make_interval(secs => $3)
         WHERE id = $1 AND attempts < $2
           AND (claimed_attempt IS DISTINCT FROM $2 OR claim_expires_at < now())",
    )
    .bind(delivery)
    .bind(attempt as i32)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    if granted == 1 {
        return Ok(Claim::Granted);
    }
    let row: Option<(i32, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT attempts, claim_expires_at FROM deliveries WHERE id = $1")
            .bind(delivery)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some((attempts, Some(until))) if attempts < attempt as i32 => Claim::HeldUntil(until),
        // Made already, or the delivery is gone (pruned with its event): nothing to send.
        _ => Claim::AlreadyMade,
    })
}

/// Writes a batch of outcomes in one statement: the attempts, and each delivery's new state.
/// A delivery's state follows its latest attempt, in whatever order or batches the outcomes arrive: within
/// a batch only a delivery's latest outcome (a success before a failure of the same attempt) is applied,
/// because `UPDATE … FROM` would apply an arbitrary one of several rows for it; across batches a delivery
/// keeps its state when it already recorded a later attempt, or succeeded on this one (a duplicate of a
/// redelivered task cannot move it backwards). The statement is not prepared (`persistent(false)`), so
/// PostgreSQL plans it for the arrays it carries every time: a generic plan of this join, made while
/// `deliveries` was small, scans the whole table for every write (`hookline_store::db::Planning`).
pub async fn record(pool: &PgPool, outcomes: &[Outcome]) -> Result<()> {
    let attempts: Vec<_> = outcomes
        .iter()
        .filter_map(|o| Some((o, o.exchange.as_ref()?)))
        .collect();
    sqlx::query(
        "WITH new_attempts AS (
             INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, response_status,
                 response_headers, response_body, response_body_truncated, request_body, error, success)
             SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::jsonb[],
                 $7::text[], $8::bool[], $9::text[], $10::text[], $11::bool[])
         )
         UPDATE deliveries d
         SET status = u.status, attempts = u.attempt, next_attempt_at = u.next_attempt_at,
             last_response_status = CASE WHEN u.has_attempt THEN u.response_status ELSE d.last_response_status END,
             updated_at = now()
         FROM (SELECT DISTINCT ON (id) *
               FROM UNNEST($12::uuid[], $13::text[], $14::int[], $15::timestamptz[], $16::int[], $17::bool[])
                    AS u(id, status, attempt, next_attempt_at, response_status, has_attempt)
               ORDER BY id, attempt DESC, status = 'succeeded' DESC) u
         WHERE d.id = u.id
           AND (d.attempts < u.attempt OR (d.attempts = u.attempt AND d.status <> 'succeeded'))",
    )
    .bind(attempts.iter().map(|(o, _)| o.delivery_id).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(o, _)| o.attempt as i32).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.started_at).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.duration_ms()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.status.map(i32::from)).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| Json(&x.headers)).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.body.as_str()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.body_truncated).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.request_body.as_str()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.error()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, x)| x.succeeded()).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.delivery_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| DeliveryStatus::from(o.state)).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.attempt as i32).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.next_attempt_at).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(outcomes.iter().map(|o| o.exchange.as_ref().and_then(|x| x.status).map(i32::from)).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.exchange.is_some()).collect::<Vec<_>>())
    .persistent(false)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery of a fresh event in `status` after `attempts` attempts.
    async fn delivery(pool: &PgPool, status: DeliveryStatus, attempts: i32) -> Uuid {
        let (event, id) = (Uuid::now_v7(), Uuid::now_v7());
        sqlx::query(
            "INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data)
             VALUES ($1, 'org', 'job.completed', 1, now(), '{}')",
        )
        .bind(event)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, status, attempts)
             VALUES ($1, $2, $3, 'org', 'job.completed', 'https://example.com/', $4, $5)",
        )
        .bind(id)
        .bind(event)
        .bind(Uuid::now_v7())
        .bind(status)
        .bind(attempts)
        .execute(pool)
        .await
        .unwrap();
        id
    }

    #[sqlx::test(migrations = "../store/migrations")]
    async fn only_a_recorded_success_of_that_attempt_counts_as_sent(pool: PgPool) {
        let succeeded = delivery(&pool, DeliveryStatus::Succeeded, 2).await;
        assert!(succeeded_by(&pool, succeeded, 1).await.unwrap());
        assert!(succeeded_by(&pool, succeeded, 2).await.unwrap());
        // A redelivery started a new chain at attempt 3: not sent yet.
        assert!(!succeeded_by(&pool, succeeded, 3).await.unwrap());
        let retrying = delivery(&pool, DeliveryStatus::Retrying, 1).await;
        assert!(!succeeded_by(&pool, retrying, 1).await.unwrap());
        assert!(!succeeded_by(&pool, Uuid::now_v7(), 1).await.unwrap());
    }

    #[sqlx::test(migrations = "../store/migrations")]
    async fn one_copy_of_a_retry_is_granted_until_its_claim_runs_out_or_the_attempt_is_made(
        pool: PgPool,
    ) {
        let lease = std::time::Duration::from_secs(60);
        let id = delivery(&pool, DeliveryStatus::Retrying, 1).await;
        assert_eq!(
            claim_attempt(&pool, id, 2, lease).await.unwrap(),
            Claim::Granted
        );
        let Claim::HeldUntil(until) = claim_attempt(&pool, id, 2, lease).await.unwrap() else {
            panic!("a second copy is held while the first one's claim is live");
        };
        assert!(until > Utc::now() + chrono::Duration::seconds(50));
        // The holder died: once its claim ran out, the next copy goes.
        sqlx::query(
            "UPDATE deliveries SET claim_expires_at = now() - interval '1 second' WHERE id = $1",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(
            claim_attempt(&pool, id, 2, lease).await.unwrap(),
            Claim::Granted
        );
        // The attempt was recorded: every later copy is dropped.
        record(
            &pool,
            &[outcome(id, crate::outcome::DeliveryState::Retrying, 2)],
        )
        .await
        .unwrap();
        assert_eq!(
            claim_attempt(&pool, id, 2, lease).await.unwrap(),
            Claim::AlreadyMade
        );
        assert_eq!(
            claim_attempt(&pool, id, 3, lease).await.unwrap(),
            Claim::Granted
        );
        assert_eq!(
            claim_attempt(&pool, Uuid::now_v7(), 2, lease)
                .await
                .unwrap(),
            Claim::AlreadyMade
        );
    }

    fn outcome(id: Uuid, state: crate::outcome::DeliveryState, attempt: u32) -> Outcome {
        Outcome {
            delivery_id: id,
            state,
            attempt,
            next_attempt_at: None,
            exchange: None,
        }
    }

    /// A retry's outcome can be written in the same batch as the outcome of the attempt before it (the
    /// retry is published while that outcome still waits for its write). The delivery must end in the
    /// state of its latest attempt, whichever order the batch holds them in.
    #[sqlx::test(migrations = "../store/migrations")]
    async fn a_batch_holding_two_attempts_of_a_delivery_applies_the_later(pool: PgPool) {
        use crate::outcome::DeliveryState::{Retrying, Succeeded};
        for reversed in [false, true] {
            let id = delivery(&pool, DeliveryStatus::Pending, 0).await;
            let mut batch = vec![outcome(id, Retrying, 1), outcome(id, Succeeded, 2)];
            if reversed {
                batch.reverse();
            }
            record(&pool, &batch).await.unwrap();
            let (status, attempts): (DeliveryStatus, i32) =
                sqlx::query_as("SELECT status, attempts FROM deliveries WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(
                (status, attempts),
                (DeliveryStatus::Succeeded, 2),
                "batch order reversed: {reversed}"
            );
        }
    }

    /// Outcomes written while `deliveries` was empty must not leave behind a plan that scans the whole
    /// table once it has grown: each write finds its rows by key, whatever the table held when the
    /// connection first prepared the statement.
    #[sqlx::test(migrations = "../store/migrations")]
    async fn recording_an_outcome_never_scans_the_deliveries_table(
        _: sqlx::postgres::PgPoolOptions,
        options: sqlx::postgres::PgConnectOptions,
    ) {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(hookline_store::db::session_options(
                options,
                hookline_store::db::Planning::Cached,
            ))
            .await
            .unwrap();
        let succeed = |id| outcome(id, crate::outcome::DeliveryState::Succeeded, 1);
        // More runs than PostgreSQL's five before it considers a generic plan.
        for _ in 0..8 {
            record(
                &pool,
                &[succeed(delivery(&pool, DeliveryStatus::Pending, 0).await)],
            )
            .await
            .unwrap();
        }
        let event = delivery(&pool, DeliveryStatus::Pending, 0).await;
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, status)
             SELECT gen_random_uuid(), event_id, webhook_id, organisation_id, event_type, url, 'pending'
             FROM deliveries, generate_series(1, 5000) WHERE id = $1",
        )
        .bind(event)
        .execute(&pool)
        .await
        .unwrap();
        let scans = || async {
            sqlx::query("SELECT pg_stat_force_next_flush()")
                .execute(&pool)
                .await
                .unwrap();
            let scans: i64 = sqlx::query_scalar(
                "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'deliveries'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            scans
        };
        let before = scans().await;
        for _ in 0..3 {
            record(
                &pool,
                &[succeed(delivery(&pool, DeliveryStatus::Pending, 0).await)],
            )
            .await
            .unwrap();
        }
        assert_eq!(
            scans().await,
            before,
            "an outcome's write scanned the table"
        );
    }
}
