//! Every SQL statement the registry runs. All of them are scoped to an organisation.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

use hookline_common::messages::EventMessage;
use hookline_common::secret_box::Sealed;

use crate::input::{Status, WebhookFields};
use crate::page::Cursor;

type Result<T> = std::result::Result<T, sqlx::Error>;

#[derive(Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub name: String,
    pub url: String,
    pub description: String,
    pub status: String,
    pub event_types: Vec<String>,
    pub auth_method: String,
    pub event_versions: sqlx::types::Json<BTreeMap<String, u32>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub circuit_opened_at: Option<DateTime<Utc>>,
    pub circuit_open_until: Option<DateTime<Utc>>,
}

/// The columns of a [`WebhookRow`], as a macro so statements stay `&'static str` (built with `concat!`).
macro_rules! webhook_columns {
    () => {
        "id, organisation_id, name, url, description, status, event_types, auth_method, event_versions,
         created_at, updated_at, circuit_opened_at, circuit_open_until"
    };
}

fn type_names(fields: &WebhookFields) -> Vec<String> {
    fields
        .event_types
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
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
    status: Status,
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
                               secret_key_id, secret_sealed, auth_method, auth_key_id, auth_sealed, event_versions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ",
        webhook_columns!()
    ))
    .bind(id)
    .bind(organisation_id)
    .bind(&fields.name)
    .bind(fields.url.as_str())
    .bind(&fields.description)
    .bind(status.as_db())
    .bind(type_names(fields))
    .bind(&secret.key_id)
    .bind(&secret.bytes)
    .bind(auth.method)
    .bind(auth.sealed.map(|s| &s.key_id))
    .bind(auth.sealed.map(|s| &s.bytes))
    .bind(sqlx::types::Json(&fields.pins))
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
    pub secret_key_id: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    pub previous_secret_key_id: Option<String>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub auth_key_id: Option<String>,
    pub auth_sealed: Option<Vec<u8>>,
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
) -> Result<Option<WebhookRow>> {
    sqlx::query_as(concat!(
        "UPDATE webhooks SET name = $3, url = $4, description = $5, status = COALESCE($6, status),
                event_types = $7, updated_at = now(),
                auth_method = COALESCE($8, auth_method),
                auth_key_id = CASE WHEN $8 IS NULL THEN auth_key_id ELSE $9 END,
                auth_sealed = CASE WHEN $8 IS NULL THEN auth_sealed ELSE $10 END,
                event_versions = $11,
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
    .bind(fields.status.map(Status::as_db))
    .bind(type_names(fields))
    .bind(auth.map(|a| a.method))
    .bind(auth.and_then(|a| a.sealed).map(|s| &s.key_id))
    .bind(auth.and_then(|a| a.sealed).map(|s| &s.bytes))
    .bind(sqlx::types::Json(&fields.pins))
    .fetch_optional(pool)
    .await
}

pub async fn set_status(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    status: Status,
) -> Result<Option<WebhookRow>> {
    sqlx::query_as(concat!(
        "UPDATE webhooks SET status = $3, updated_at = now()
         WHERE organisation_id = $1 AND id = $2 RETURNING ",
        webhook_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(status.as_db())
    .fetch_optional(pool)
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

#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub url: String,
    pub status: String,
    pub attempts: i32,
    pub last_response_status: Option<i32>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub test: bool,
    pub version: i32,
    pub reason: Option<String>,
}

/// The columns of a [`DeliveryRow`].
macro_rules! delivery_columns {
    () => {
        "id, organisation_id, webhook_id, event_id, event_type, url, status, attempts,
         last_response_status, next_attempt_at, created_at, updated_at, test, version, reason"
    };
}

/// Optional filters of the delivery log; `None` matches everything.
#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub webhook_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub status: Option<&'static str>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Leave out test deliveries (they never enter the queues).
    pub exclude_tests: bool,
}

/// Newest first, starting before `before`.
pub async fn list_deliveries(
    pool: &PgPool,
    organisation_id: &str,
    filter: &DeliveryFilter,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let (at, id) = before.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries
         WHERE organisation_id = $1 AND ($2::uuid IS NULL OR webhook_id = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
           AND ($6::text IS NULL OR event_type = $6) AND ($7::text IS NULL OR status = $7)
           AND ($8::timestamptz IS NULL OR created_at >= $8) AND ($9::timestamptz IS NULL OR created_at < $9)
           AND NOT ($10 AND test)
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(organisation_id)
    .bind(filter.webhook_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .bind(&filter.event_type)
    .bind(filter.status)
    .bind(filter.created_after)
    .bind(filter.created_before)
    .bind(filter.exclude_tests)
    .fetch_all(pool)
    .await
}

/// Optional filters of the event log.
#[derive(Debug, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub event_id: Option<Uuid>,
    pub received_after: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct EventLogRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub event_type: String,
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub data: sqlx::types::Json<serde_json::Value>,
    pub test: bool,
}

/// Newest first, starting before `before`.
pub async fn list_events(
    pool: &PgPool,
    organisation_id: &str,
    filter: &EventFilter,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Vec<EventLogRow>> {
    let (at, id) = before.unzip();
    sqlx::query_as(
        "SELECT id, organisation_id, event_type, version, occurred_at, received_at, data, test FROM events
         WHERE organisation_id = $1 AND ($2::timestamptz IS NULL OR (received_at, id) < ($2, $3))
           AND ($5::text IS NULL OR event_type = $5) AND ($6::uuid IS NULL OR id = $6)
           AND ($7::timestamptz IS NULL OR received_at >= $7) AND ($8::timestamptz IS NULL OR received_at < $8)
         ORDER BY received_at DESC, id DESC LIMIT $4",
    )
    .bind(organisation_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .bind(&filter.event_type)
    .bind(filter.event_id)
    .bind(filter.received_after)
    .bind(filter.received_before)
    .fetch_all(pool)
    .await
}

pub async fn get_delivery(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
) -> Result<Option<DeliveryRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE organisation_id = $1 AND id = $2"
    ))
    .bind(organisation_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub response_headers: sqlx::types::Json<Vec<(String, String)>>,
    pub response_body: String,
    pub response_body_truncated: bool,
    pub request_body: String,
    pub error: Option<String>,
    pub success: bool,
}

/// Oldest first. The caller has already checked the delivery belongs to its organisation.
pub async fn list_attempts(pool: &PgPool, delivery_id: Uuid) -> Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "SELECT attempt, started_at, duration_ms, response_status, response_headers, response_body,
                response_body_truncated, request_body, error, success
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt, id",
    )
    .bind(delivery_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub event_type: String,
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    pub data: sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
    pub versions: sqlx::types::Json<BTreeMap<u32, serde_json::Map<String, serde_json::Value>>>,
}

impl From<EventRow> for EventMessage {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            organisation_id: row.organisation_id,
            event_type: row.event_type,
            occurred_at: row.occurred_at,
            version: row.version.max(0) as u32,
            data: row.data.0,
            webhook_id: None,
            versions: row.versions.0,
        }
    }
}

/// Marks a delivery queued again, unless an attempt was recorded since it was read (`attempts`).
pub async fn mark_redelivered(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    attempts: i32,
) -> Result<Option<DeliveryRow>> {
    sqlx::query_as(concat!(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, updated_at = now()
         WHERE organisation_id = $1 AND id = $2 AND attempts = $3 RETURNING ",
        delivery_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(attempts)
    .fetch_optional(pool)
    .await
}

/// Marks replayed dead letters as queued again.
pub async fn mark_replayed(pool: &PgPool, organisation_id: &str, ids: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, updated_at = now()
         WHERE organisation_id = $1 AND id = ANY($2) AND status = 'failed'",
    )
    .bind(organisation_id)
    .bind(ids)
    .execute(pool)
    .await
    .map(drop)
}

pub async fn get_event(pool: &PgPool, organisation_id: &str, id: Uuid) -> Result<Option<EventRow>> {
    sqlx::query_as(
        "SELECT id, organisation_id, event_type, version, occurred_at, data, versions
         FROM events WHERE organisation_id = $1 AND id = $2",
    )
    .bind(organisation_id)
    .bind(id)
    .fetch_optional(pool)
    .await
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
