//! The statements of the event and delivery log: listing and reading deliveries, events and attempts,
//! and marking deliveries queued again. All of them are scoped to an organisation.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

use hookline_core::messages::EventMessage;
use hookline_store::status::DeliveryStatus;

use super::Result;
use crate::page::Cursor;

#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub url: String,
    pub status: DeliveryStatus,
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
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub status: Option<DeliveryStatus>,
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
           AND NOT ($10 AND test) AND ($11::uuid IS NULL OR event_id = $11)
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
    .bind(filter.event_id)
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

/// Marks a delivery queued again, its new chain starting at the next attempt, unless an attempt was
/// recorded since it was read (`attempts`).
pub async fn mark_redelivered(
    pool: &PgPool,
    organisation_id: &str,
    id: Uuid,
    attempts: i32,
) -> Result<Option<DeliveryRow>> {
    sqlx::query_as(concat!(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, chain_start = attempts + 1,
             updated_at = now()
         WHERE organisation_id = $1 AND id = $2 AND attempts = $3 RETURNING ",
        delivery_columns!()
    ))
    .bind(organisation_id)
    .bind(id)
    .bind(attempts)
    .fetch_optional(pool)
    .await
}

/// How many of `ids` are deliveries of the organisation.
pub async fn count_deliveries(pool: &PgPool, organisation_id: &str, ids: &[Uuid]) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE organisation_id = $1 AND id = ANY($2)",
    )
    .bind(organisation_id)
    .bind(ids)
    .fetch_one(pool)
    .await
}

/// Marks replayed dead letters as queued again, each new chain starting at the next attempt.
pub async fn mark_replayed(pool: &PgPool, organisation_id: &str, ids: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, chain_start = attempts + 1,
             updated_at = now()
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
