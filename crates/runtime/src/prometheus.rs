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
/// (`endpoint_busy`, `circuit_open`, `retry_after`, `rate_limited`) and `stage` (`fanout` for a new task
/// deferred before its first hop, `attempt` for one consumed from the deliveries queue).
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

/// What a metric is, for its `# TYPE` line.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the services export, with its kind, unit and help text: the one list that `describe`
/// registers and the dashboard is checked against.
const EXPORTED: &[(&str, Kind, Option<metrics::Unit>, &str)] = {
    use Kind::*;
    use metrics::Unit::Seconds;
    &[
        (
            INGEST_EVENTS,
            Counter,
            None,
            "Events ingest answered, by event type and outcome.",
        ),
        (
            DELIVERIES,
            Counter,
            None,
            "Deliveries that reached an end, by outcome.",
        ),
        (
            ATTEMPTS,
            Counter,
            None,
            "HTTP delivery attempts, by outcome and status class.",
        ),
        (
            DIRECT_ATTEMPTS,
            Counter,
            None,
            "First attempts the fan-out made itself, without the deliveries-queue hop.",
        ),
        (
            ATTEMPT_DURATION,
            Histogram,
            Some(Seconds),
            "Duration of one delivery attempt.",
        ),
        (
            IN_FLIGHT,
            Gauge,
            None,
            "Delivery attempts in flight in this worker.",
        ),
        (QUEUE_MESSAGES, Gauge, None, "Messages ready in each queue."),
        (
            OLDEST_DEAD_LETTER,
            Gauge,
            Some(Seconds),
            "Age of the oldest dead letter.",
        ),
        (
            OVERDUE_RETRY,
            Gauge,
            Some(Seconds),
            "How far the most overdue retry is past its due time.",
        ),
        (
            REDRIVEN,
            Counter,
            None,
            "Overdue retries published again because the broker had not returned them.",
        ),
        (
            REJECTED,
            Counter,
            None,
            "Messages set aside as impossible to process, by stage and reason.",
        ),
        (
            DEFERRED,
            Counter,
            None,
            "Tasks deferred because their endpoint could not take them, by reason and stage.",
        ),
        (
            CIRCUIT_TRANSITIONS,
            Counter,
            None,
            "Circuit-breaker changes, by new state.",
        ),
        (
            WEBHOOKS_DISABLED,
            Counter,
            None,
            "Webhooks switched off by Hookline, by reason (gone, failing).",
        ),
        (
            CIRCUITS_OPEN,
            Gauge,
            None,
            "Endpoints whose breaker is open in this worker.",
        ),
        (
            GRPC_REQUESTS,
            Counter,
            None,
            "gRPC calls, by service, method and code.",
        ),
        (
            GRPC_DURATION,
            Histogram,
            Some(Seconds),
            "Duration of gRPC calls.",
        ),
    ]
};

fn describe() {
    metrics::with_recorder(|recorder| {
        for &(name, kind, unit, help) in EXPORTED {
            let (name, help) = (name.into(), help.into());
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, help),
                Kind::Gauge => recorder.describe_gauge(name, unit, help),
                Kind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
    });
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

    /// `/metrics` explains what each metric counts, in what unit.
    #[test]
    fn every_metric_is_described() {
        let handle = handle();
        for &(name, kind, ..) in EXPORTED {
            match kind {
                Kind::Counter => metrics::counter!(name).increment(0),
                Kind::Gauge => metrics::gauge!(name).set(0.0),
                Kind::Histogram => metrics::histogram!(name).record(0.0),
            }
        }
        let text = handle.render();
        for &(name, _, _, help) in EXPORTED {
            assert!(
                text.contains(&format!("# HELP {name} {help}")),
                "{name}: {text}"
            );
        }
    }

    /// Every metric the shipped Grafana dashboard queries is one the services export.
    #[test]
    fn the_dashboard_queries_only_exported_metrics() {
        let dashboard = include_str!("../../../deploy/grafana/hookline.json");
        let mut queried = 0;
        for (start, _) in dashboard.match_indices("hookline_") {
            let name: String = dashboard[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let base = name.trim_end_matches("_bucket");
            assert!(
                EXPORTED.iter().any(|(exported, ..)| *exported == base),
                "the dashboard queries {name}"
            );
            queried += 1;
        }
        assert!(queried >= 10);
    }
}
