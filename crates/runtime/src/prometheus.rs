//! Prometheus metrics: every metric name in one place, the process-wide recorder, and `/metrics`.
//!
//! Labels carry only bounded values (outcomes, status classes, RPC methods, catalog event types, queue
//! names of this deployment), never ids or URLs.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events ingest answered, by `event_type` (catalog types; `other` beside them) and `outcome`
/// (`accepted`, or the gRPC code of the rejection).
pub const INGEST_EVENTS: &str = "hookline_ingest_events_total";
/// Deliveries that reached an end, by `outcome`: `succeeded`, `failed` (dead-lettered), `cancelled`,
/// `skipped`.
pub const DELIVERIES: &str = "hookline_deliveries_total";
/// HTTP attempts, by `outcome` (`success`, `failure`) and `status_class` (`2xx` … `5xx`, `none`).
pub const ATTEMPTS: &str = "hookline_delivery_attempts_total";
/// First attempts a worker's fan-out made itself, without the deliveries-queue hop.
pub const DIRECT_ATTEMPTS: &str = "hookline_delivery_direct_attempts_total";
/// Seconds one attempt took, connect to last byte.
pub const ATTEMPT_DURATION: &str = "hookline_delivery_attempt_duration_seconds";
/// Attempts being made right now, per worker.
pub const IN_FLIGHT: &str = "hookline_deliveries_in_flight";
/// Messages ready in each queue of the deployment, by `queue` (its name without the prefix).
pub const QUEUE_MESSAGES: &str = "hookline_queue_messages";
/// Age of the oldest dead letter, 0 when there is none.
pub const OLDEST_DEAD_LETTER: &str = "hookline_dead_letter_oldest_age_seconds";
/// How far the most overdue retry is past its due time, 0 when none is (see the registry's `overdue`).
pub const OVERDUE_RETRY: &str = "hookline_retry_overdue_seconds";
/// Retries the registry published again because the broker had not brought them back in time.
pub const REDRIVEN: &str = "hookline_retries_redriven_total";
/// Messages a worker set aside because they can never be processed, by `stage` (`fanout`, `attempt`) and
/// `reason` (`unparsable`: not a message Hookline writes; `unstorable`: the database refuses its data).
pub const REJECTED: &str = "hookline_messages_rejected_total";
/// Tasks deferred because their endpoint could not take them then (not attempts), by `reason`
/// (`endpoint_busy`, `circuit_open`, `retry_after`).
pub const DEFERRED: &str = "hookline_deliveries_deferred_total";
/// Circuit-breaker changes, by `to` (`open`, `closed`).
pub const CIRCUIT_TRANSITIONS: &str = "hookline_circuit_breaker_transitions_total";
/// Webhooks Hookline switched off itself, by `reason` (`gone`: the endpoint answered 410; `failing`: every
/// delivery failed for `registry.auto_disable_after`).
pub const WEBHOOKS_DISABLED: &str = "hookline_webhooks_disabled_total";
/// Endpoints whose breaker is open (or probing) in this worker.
pub const CIRCUITS_OPEN: &str = "hookline_circuit_breakers_open";
/// gRPC calls, by `service`, `method` and `code`.
pub const GRPC_REQUESTS: &str = "hookline_grpc_requests_total";
/// Seconds a gRPC call took, by `service` and `method`.
pub const GRPC_DURATION: &str = "hookline_grpc_request_duration_seconds";

/// Buckets for latencies, in seconds: 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use. A process holds one recorder whatever number of
/// services it runs (tests run several), so they share it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        INGEST_EVENTS,
        "Events ingest answered, by event type and outcome."
    );
    describe_counter!(DELIVERIES, "Deliveries that reached an end, by outcome.");
    describe_counter!(
        ATTEMPTS,
        "HTTP delivery attempts, by outcome and status class."
    );
    describe_counter!(
        DIRECT_ATTEMPTS,
        "First attempts the fan-out made itself, without the deliveries-queue hop."
    );
    describe_histogram!(
        ATTEMPT_DURATION,
        Unit::Seconds,
        "Duration of one delivery attempt."
    );
    describe_gauge!(IN_FLIGHT, "Delivery attempts in flight in this worker.");
    describe_gauge!(QUEUE_MESSAGES, "Messages ready in each queue.");
    describe_gauge!(
        OLDEST_DEAD_LETTER,
        Unit::Seconds,
        "Age of the oldest dead letter."
    );
    describe_gauge!(
        OVERDUE_RETRY,
        Unit::Seconds,
        "How far the most overdue retry is past its due time."
    );
    describe_counter!(
        REDRIVEN,
        "Overdue retries published again because the broker had not returned them."
    );
    describe_counter!(
        REJECTED,
        "Messages set aside as impossible to process, by stage and reason."
    );
    describe_counter!(
        DEFERRED,
        "Tasks deferred because their endpoint could not take them."
    );
    describe_counter!(
        CIRCUIT_TRANSITIONS,
        "Circuit-breaker changes, by new state."
    );
    describe_counter!(
        WEBHOOKS_DISABLED,
        "Webhooks switched off by Hookline, by reason (gone, failing)."
    );
    describe_gauge!(
        CIRCUITS_OPEN,
        "Endpoints whose breaker is open in this worker."
    );
    describe_counter!(GRPC_REQUESTS, "gRPC calls, by service, method and code.");
    describe_histogram!(GRPC_DURATION, Unit::Seconds, "Duration of gRPC calls.");
}

/// `2xx` … `5xx` for a response status, `none` when no response arrived.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status.map(|s| s / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "none",
    }
}

/// The snake-case name of a gRPC code, for labels.
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the shipped Grafana dashboard queries is one the services export.
    #[test]
    fn the_dashboard_queries_only_exported_metrics() {
        let exported = [
            INGEST_EVENTS,
            DELIVERIES,
            ATTEMPTS,
            ATTEMPT_DURATION,
            IN_FLIGHT,
            QUEUE_MESSAGES,
            OLDEST_DEAD_LETTER,
            GRPC_REQUESTS,
            GRPC_DURATION,
            DEFERRED,
            CIRCUIT_TRANSITIONS,
            CIRCUITS_OPEN,
        ];
        let dashboard = include_str!("../../../deploy/grafana/hookline.json");
        let mut queried = 0;
        for (start, _) in dashboard.match_indices("hookline_") {
            let name: String = dashboard[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let base = name.trim_end_matches("_bucket");
            assert!(exported.contains(&base), "the dashboard queries {name}");
            queried += 1;
        }
        assert!(queried >= 10);
    }
}
