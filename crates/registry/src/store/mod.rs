//! Every SQL statement the registry runs. All of them are scoped to an organisation.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use uuid::Uuid;

use hookline_core::secret_box::Sealed;

use crate::input::WebhookFields;
use crate::page::Cursor;
use hookline_store::status::WebhookStatus;

mod log;
pub use log::*;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// A webhook as a change left it, and its status before the change.
pub type Changed = (WebhookRow, WebhookStatus);

#[derive(Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub name: String,
    pub url: String,
    pub description: String,
    pub status: WebhookStatus,
    pub event_types: Vec<String>,
    pub auth_method: String,
    pub event_versions: sqlx::types::Json<BTreeMap<String, u32>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub circuit_opened_at: Option<DateTime<Utc>>,
    pub circuit_open_until: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub rate_limit: Option<i32>,
}

/// The columns of a [`WebhookRow`], as a macro so statements stay `&'static str` (built with `concat!`).
macro_rules! webhook_columns {
    () => {
        "id, organisation_id, name, url, description, status, event_types, auth_method, event_versions,
         created_at, updated_at, circuit_opened_at, circuit_open_until, disabled_reason, disabled_at,
         rate_limit"
    };
}

fn type_names(fields: &WebhookFields) -> Vec<String> {
    fields
        .event_types
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}

/// The requested rate limit as the column's type (0 is none; the parser keeps it to 1000 at most).
fn rate_limit(fields: &WebhookFields) -> Option<i32> {
    fields
        .rate_limit
        .map(|r| i32::try_from(r).unwrap_or(i32::MAX))
}

/// Endpoint credentials as stored: the method, and the sealed credentials unless the method is `none`.
pub struct SealedAuth<'a> {
    pub method: &'a str,
    pub sealed: Option<&'a Sealed>,
}

/// Inserts a webhook with its sealed signing secret, unless its organisation already has `limit`
/// webhooks (then `None`). A per-organisation lock makes the count and the insert one step, so concurrent
/// creates cannot overshoot the limit.
#[allow(clippy::too_many_arguments)]
pub async fn insert_webhook(
    pool: &PgPool,
    id: Uuid,
    organisation_id: &str,
    fields: &WebhookFields,
    status: WebhookStatus,
    secret: &Sealed,
    auth: &SealedAuth<'_>,
    limit: u32,
) -> Result<Option<WebhookRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))")
        .bind(organisation_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE organisation_id = $1")
        .bind(organisation_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= i64::from(limit) {
        return Ok(None);
    }
    let row = sqlx::query_as(concat!(
        "INSERT INTO webhooks (id, organisation_id, name, url, description, status, event_types,
                               secret_key_id, secret_sealed, auth_method, auth_key_id, auth_sealed, event_versions,
                               rate_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULLIF($14, 0)) RETURNING ",
        webhook_columns!()
    ))
    .bind(id)
    .bind(organisation_id)
    .bind(&fields.name)
    .bind(fields.url.as_str())
    .bind(&fields.description)
    .bind(status)
    .bind(type_names(fields))
    .bind(&secret.key_id)
    .bind(&secret.bytes)
    .bind(auth.method)
    .bind(auth.sealed.map(|s| &s.key_id))
    .bind(auth.sealed.map(|s| &s.bytes))
    .bind(sqlx::types::Json(&fields.pins))
    .bind(rate_limit(fields).unwrap_or(0))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Makes `secret` the signing secret. The current one keeps signing until `overlap` has passed; with no
/// overlap it is dropped at once.
pub async fn rotate_secret(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    secret: &Sealed,
    overlap: std::time::Duration,
) -> Result<Option<WebhookRow>> {
    let keep_previous = !overlap.is_zero();
    sqlx::query_as(concat!(
        "UPDATE webhooks SET
             previous_secret_key_id = CASE WHEN $5 THEN secret_key_id END,
             previous_secret_sealed = CASE WHEN $5 THEN secret_sealed END,
             previous_secret_expires_at = CASE WHEN $5 THEN now() + make_interval(secs => $6) END,
             secret_key_id = $3, secret_sealed = $4, updated_at = now()
         WHERE organisation_id = $1 AND id = $2 RETURNING ",
        webhook_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(&secret.key_id)
    .bind(&secret.bytes)
    .bind(keep_previous)
    .bind(overlap.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// A webhook's secrets as stored, for re-sealing.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredSecrets {
    pub id: Uuid,
    /// Plaintext from before secrets were sealed.
    pub secret: Option<String>,
    #[sqlx(flatten)]
    pub sealed: hookline_store::sealed::SealedColumns,
}

/// Webhooks whose secrets are plaintext or sealed under a key other than `active_key_id`.
pub async fn secrets_to_reseal(pool: &PgPool, active_key_id: &str) -> Result<Vec<StoredSecrets>> {
    sqlx::query_as(
        "SELECT id, secret, secret_key_id, secret_sealed, previous_secret_key_id, previous_secret_sealed,
                auth_key_id, auth_sealed
         FROM webhooks
         WHERE secret IS NOT NULL OR secret_key_id IS DISTINCT FROM $1
            OR (previous_secret_key_id IS NOT NULL AND previous_secret_key_id <> $1)
            OR (auth_key_id IS NOT NULL AND auth_key_id <> $1)",
    )
    .bind(active_key_id)
    .fetch_all(pool)
    .await
}

/// Re-sealed secrets and credentials of one webhook.
pub struct Resealed {
    pub current: Sealed,
    pub previous: Option<Sealed>,
    pub auth: Option<Sealed>,
}

/// Stores re-sealed secrets and credentials, and clears any plaintext.
pub async fn store_resealed(pool: &PgPool, id: Uuid, resealed: &Resealed) -> Result<()> {
    sqlx::query(
        "UPDATE webhooks SET secret = NULL, secret_key_id = $2, secret_sealed = $3,
                previous_secret_key_id = $4, previous_secret_sealed = $5, auth_key_id = $6, auth_sealed = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(&resealed.current.key_id)
    .bind(&resealed.current.bytes)
    .bind(resealed.previous.as_ref().map(|p| &p.key_id))
    .bind(resealed.previous.as_ref().map(|p| &p.bytes))
    .bind(resealed.auth.as_ref().map(|p| &p.key_id))
    .bind(resealed.auth.as_ref().map(|p| &p.bytes))
    .execute(pool)
    .await
    .map(drop)
}

pub async fn get_webhook(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
) -> Result<Option<WebhookRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        webhook_columns!(),
        " FROM webhooks WHERE organisation_id = $1 AND id = $2"
    ))
    .bind(organisation_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Oldest first, starting after `after`.
pub async fn list_webhooks(
    pool: &PgPool,
    organisation_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<WebhookRow>> {
    let (at, id) = after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        webhook_columns!(),
        " FROM webhooks
         WHERE organisation_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(organisation_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Replaces the editable fields; a `None` status or `None` credentials keep the current ones.
pub async fn update_webhook(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    fields: &WebhookFields,
    auth: Option<&SealedAuth<'_>>,
) -> Result<Option<Changed>> {
    let mut tx = pool.begin().await?;
    let Some(before) = lock_status(&mut tx, organisation_id, id).await? else {
        return Ok(None);
    };
    if let Some(limit) = rate_limit(fields) {
        // A new limit starts a new schedule, from now: one reserved under a lower limit could lie far
        // ahead. Slots that tasks hold under the old limit are given up when they come back.
        sqlx::query(
            "DELETE FROM webhook_rate_slots s USING webhooks w
             WHERE s.webhook_id = $1 AND w.id = $1 AND w.rate_limit IS DISTINCT FROM NULLIF($2, 0)",
        )
        .bind(id)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
    }
    let row = sqlx::query_as(concat!(
        "UPDATE webhooks SET name = $3, url = $4, description = $5, status = COALESCE($6, status),
                event_types = $7, updated_at = now(),
                -- A change of status by an administrator replaces the reason Hookline had switched it off.
                disabled_reason = CASE WHEN $6 IS NULL OR $6 = status THEN disabled_reason END,
                disabled_at = CASE WHEN $6 IS NULL OR $6 = status THEN disabled_at END,
                auth_method = COALESCE($8, auth_method),
                auth_key_id = CASE WHEN $8 IS NULL THEN auth_key_id ELSE $9 END,
                auth_sealed = CASE WHEN $8 IS NULL THEN auth_sealed ELSE $10 END,
                event_versions = $11,
                rate_limit = CASE WHEN $12 IS NULL THEN rate_limit ELSE NULLIF($12, 0) END,
                -- A new URL is a new endpoint: its breaker starts closed.
                circuit_opened_at = CASE WHEN url = $4 THEN circuit_opened_at END,
                circuit_open_until = CASE WHEN url = $4 THEN circuit_open_until END
         WHERE organisation_id = $1 AND id = $2 RETURNING ",
        webhook_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(&fields.name)
    .bind(fields.url.as_str())
    .bind(&fields.description)
    .bind(fields.status)
    .bind(type_names(fields))
    .bind(auth.map(|a| a.method))
    .bind(auth.and_then(|a| a.sealed).map(|s| &s.key_id))
    .bind(auth.and_then(|a| a.sealed).map(|s| &s.bytes))
    .bind(sqlx::types::Json(&fields.pins))
    .bind(rate_limit(fields))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((row, before)))
}

/// Undoes the switch that left `id` enabled at `updated_at`, when its ping could not be sent: a webhook
/// created enabled is deleted, one switched on is switched off. Only if nothing changed it since.
pub async fn undo_enable(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    updated_at: DateTime<Utc>,
    created: bool,
) -> Result<()> {
    let statement = if created {
        "DELETE FROM webhooks WHERE organisation_id = $1 AND id = $2 AND updated_at = $3"
    } else {
        "UPDATE webhooks SET status = 'disabled', updated_at = now()
         WHERE organisation_id = $1 AND id = $2 AND updated_at = $3"
    };
    sqlx::query(statement)
        .bind(organisation_id)
        .bind(id)
        .bind(updated_at)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn set_status(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    status: WebhookStatus,
) -> Result<Option<Changed>> {
    let mut tx = pool.begin().await?;
    let Some(before) = lock_status(&mut tx, organisation_id, id).await? else {
        return Ok(None);
    };
    let row = sqlx::query_as(concat!(
        "UPDATE webhooks SET status = $3, updated_at = now(),
                disabled_reason = CASE WHEN $3 = status THEN disabled_reason END,
                disabled_at = CASE WHEN $3 = status THEN disabled_at END
         WHERE organisation_id = $1 AND id = $2 RETURNING ",
        webhook_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((row, before)))
}

/// A webhook's status, its row locked until `tx` ends: a change made in `tx` then knows whether it
/// switched the webhook on, and two concurrent enables cannot both see it off (so only one pings). `None`
/// when the organisation has no such webhook.
async fn lock_status(
    tx: &mut PgConnection,
    organisation_id: &str,
    id: Uuid,
) -> Result<Option<WebhookStatus>> {
    sqlx::query_scalar(
        "SELECT status FROM webhooks WHERE organisation_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(organisation_id)
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// True when a webhook was deleted. Its delivery log stays.
pub async fn delete_webhook(pool: &PgPool, organisation_id: &str, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE organisation_id = $1 AND id = $2")
        .bind(organisation_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether `url` is the URL of one of the organisation's webhooks (where test events may be sent).
pub async fn organisation_has_url(pool: &PgPool, organisation_id: &str, url: &str) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM webhooks WHERE organisation_id = $1 AND url = $2)",
    )
    .bind(organisation_id)
    .bind(url)
    .fetch_one(pool)
    .await
}
