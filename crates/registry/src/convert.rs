//! Database rows to `hookline.v1` messages.

use crate::test_delivery::TestDelivery;
use chrono::{DateTime, Utc};
use hookline_proto::v1;
use hookline_store::status::{DeliveryStatus, WebhookStatus};

use crate::store::{AttemptRow, DeliveryRow, EventLogRow, WebhookRow};

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn webhook_status(status: WebhookStatus) -> v1::WebhookStatus {
    match status {
        WebhookStatus::Enabled => v1::WebhookStatus::Enabled,
        WebhookStatus::Disabled => v1::WebhookStatus::Disabled,
    }
}

fn auth_method(db: &str) -> v1::EndpointAuthMethod {
    match db {
        "basic" => v1::EndpointAuthMethod::Basic,
        "header" => v1::EndpointAuthMethod::Header,
        _ => v1::EndpointAuthMethod::None,
    }
}

fn delivery_status(status: DeliveryStatus) -> v1::DeliveryStatus {
    match status {
        DeliveryStatus::Pending => v1::DeliveryStatus::Pending,
        DeliveryStatus::Retrying => v1::DeliveryStatus::Retrying,
        DeliveryStatus::Succeeded => v1::DeliveryStatus::Succeeded,
        DeliveryStatus::Failed => v1::DeliveryStatus::Failed,
        DeliveryStatus::Skipped => v1::DeliveryStatus::Skipped,
        DeliveryStatus::Cancelled => v1::DeliveryStatus::Cancelled,
    }
}

impl From<WebhookRow> for v1::Webhook {
    fn from(row: WebhookRow) -> Self {
        Self {
            id: row.id.to_string(),
            organisation_id: row.organisation_id,
            name: row.name,
            url: row.url,
            description: row.description,
            status: webhook_status(row.status).into(),
            event_types: row.event_types,
            auth_method: auth_method(&row.auth_method).into(),
            created_at: Some(timestamp(row.created_at)),
            updated_at: Some(timestamp(row.updated_at)),
            event_versions: row.event_versions.0.into_iter().collect(),
            framework_version: hookline_core::envelope::FRAMEWORK_VERSION,
            circuit: Some(circuit(row.circuit_opened_at, row.circuit_open_until)),
            disabled_reason: row.disabled_reason.unwrap_or_default(),
            disabled_at: row.disabled_at.map(timestamp),
            rate_limit: row.rate_limit.map_or(0, |r| r.unsigned_abs()),
        }
    }
}

/// The breaker as stored: closed without an opening time; open until its probe time, half-open after.
fn circuit(opened_at: Option<DateTime<Utc>>, probe_at: Option<DateTime<Utc>>) -> v1::Circuit {
    let state = match (opened_at, probe_at) {
        (Some(_), Some(probe)) if probe > Utc::now() => v1::CircuitState::Open,
        (Some(_), _) => v1::CircuitState::HalfOpen,
        (None, _) => v1::CircuitState::Closed,
    };
    v1::Circuit {
        state: state.into(),
        opened_at: opened_at.map(timestamp),
        probe_at: opened_at.and(probe_at).map(timestamp),
    }
}

impl From<DeliveryRow> for v1::Delivery {
    fn from(row: DeliveryRow) -> Self {
        Self {
            id: row.id.to_string(),
            organisation_id: row.organisation_id,
            webhook_id: row.webhook_id.to_string(),
            event_id: row.event_id.to_string(),
            event_type: row.event_type,
            url: row.url,
            status: delivery_status(row.status).into(),
            attempts: row.attempts.max(0) as u32,
            last_response_status: row.last_response_status.unwrap_or(0).max(0) as u32,
            created_at: Some(timestamp(row.created_at)),
            updated_at: Some(timestamp(row.updated_at)),
            next_attempt_at: row.next_attempt_at.map(timestamp),
            test: row.test,
            version: row.version.max(0) as u32,
            reason: row.reason.unwrap_or_default(),
        }
    }
}

impl From<EventLogRow> for v1::Event {
    fn from(row: EventLogRow) -> Self {
        Self {
            id: row.id.to_string(),
            organisation_id: row.organisation_id,
            event_type: row.event_type,
            version: row.version.max(0) as u32,
            occurred_at: Some(timestamp(row.occurred_at)),
            received_at: Some(timestamp(row.received_at)),
            data: row.data.0.to_string(),
            test: row.test,
        }
    }
}

/// The stored delivery status a filter asks for; `None` for UNSPECIFIED (no filter).
pub fn delivery_status_filter(status: v1::DeliveryStatus) -> Option<DeliveryStatus> {
    Some(match status {
        v1::DeliveryStatus::Unspecified => return None,
        v1::DeliveryStatus::Pending => DeliveryStatus::Pending,
        v1::DeliveryStatus::Retrying => DeliveryStatus::Retrying,
        v1::DeliveryStatus::Succeeded => DeliveryStatus::Succeeded,
        v1::DeliveryStatus::Failed => DeliveryStatus::Failed,
        v1::DeliveryStatus::Skipped => DeliveryStatus::Skipped,
        v1::DeliveryStatus::Cancelled => DeliveryStatus::Cancelled,
    })
}

/// A request's optional time bound.
pub fn time(
    ts: Option<prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, crate::error::RegistryError> {
    ts.map(|t| {
        DateTime::from_timestamp(t.seconds, t.nanos.try_into().unwrap_or(u32::MAX))
            .ok_or_else(|| crate::error::RegistryError::invalid(field, "is not a valid timestamp"))
    })
    .transpose()
}

impl From<AttemptRow> for v1::DeliveryAttempt {
    fn from(row: AttemptRow) -> Self {
        let mut response_headers = std::collections::HashMap::<String, String>::new();
        for (name, value) in row.response_headers.0 {
            // A header sent several times is shown once, its values joined as HTTP allows.
            response_headers
                .entry(name)
                .and_modify(|v| *v = format!("{v}, {value}"))
                .or_insert(value);
        }
        Self {
            attempt: row.attempt.max(0) as u32,
            started_at: Some(timestamp(row.started_at)),
            duration_ms: row.duration_ms.max(0) as u32,
            response_status: row.response_status.unwrap_or(0).max(0) as u32,
            response_headers,
            response_body: row.response_body,
            response_body_truncated: row.response_body_truncated,
            error: row.error.unwrap_or_default(),
            success: row.success,
            request_body: row.request_body,
        }
    }
}

/// The answer to `SendTestEvent`: the request as sent and the response as received.
pub fn test_event_response(sent: TestDelivery) -> v1::SendTestEventResponse {
    let x = sent.exchange;
    let error = x.error();
    let duration_ms = x.duration_ms().max(0) as u32;
    v1::SendTestEventResponse {
        delivery_id: sent.delivery_id.to_string(),
        request: Some(v1::SentRequest {
            url: sent.url,
            headers: x.request_headers.into_iter().collect(),
            body: x.request_body,
        }),
        response: x.status.map(|status| v1::ReceivedResponse {
            status: status.into(),
            headers: x.headers.into_iter().collect(),
            body: x.body,
            body_truncated: x.body_truncated,
        }),
        duration_ms,
        success: error.is_none(),
        error: error.unwrap_or_default(),
    }
}
