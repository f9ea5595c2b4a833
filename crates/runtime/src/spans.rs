//! The spans that make one trace per event, and the W3C trace context that joins them across processes.
//!
//! A trace runs: the caller's gRPC call (its `traceparent` metadata) → the RPC server span → one `send`
//! span per event published → the fan-out's `process` span for that event → one `process` span per
//! delivery attempt, each with its HTTP `POST` span. A retry's task carries the context of the attempt
//! that failed, so the next attempt is that attempt's child, and a dead letter keeps the context of the
//! last one.
//!
//! Names and attributes follow the OpenTelemetry semantic conventions v1.30 for RPC, messaging
//! (RabbitMQ) and HTTP client spans, so any tracing backend shows them like other services' spans;
//! numbers are exported as integers. Hookline's own attributes are namespaced (`hookline.event_id`,
//! `hookline.event_type`, `hookline.delivery_id`, `hookline.webhook_id`, `hookline.attempt`), and because
//! they are fields of the spans they also appear in every JSON log line written inside them, beside the
//! line's top-level `trace_id` and `span_id` (`json_log`).
//!
//! Spans that exist only for traces (RPC, send, HTTP) are not created at all unless traces are exported,
//! so a deployment without a collector pays nothing for them; the `process` spans always exist, because
//! they also give log lines their ids. Under a parent the sampler dropped, the trace-only spans are not
//! made either, and the parent's context (with its "not sampled" flag) travels on in their place.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use lapin::types::{AMQPValue, FieldTable, ShortString};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: set once by `telemetry::init`.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

pub(crate) fn set_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// The RabbitMQ node this process last connected to, as `server.address` and `server.port` of its
/// messaging spans.
static BROKER: RwLock<Option<(String, i64)>> = RwLock::new(None);

/// Remembers the node at `url` (an `amqp://` or `amqps://` URL) for the messaging spans.
pub(crate) fn set_broker(url: &str) {
    let Ok(parsed) = url::Url::parse(url) else {
        return;
    };
    let default_port = if parsed.scheme() == "amqps" {
        5671
    } else {
        5672
    };
    let node = parsed.host_str().map(|host| {
        (
            host.to_owned(),
            i64::from(parsed.port().unwrap_or(default_port)),
        )
    });
    *BROKER.write().expect("broker lock") = node;
}

/// Sets `server.address` and `server.port` of a messaging span to the broker's.
fn broker_attributes(span: &Span) {
    if let Some((address, port)) = BROKER.read().expect("broker lock").clone() {
        span.set_attribute("server.address", address);
        span.set_attribute("server.port", port);
    }
}

/// Whether a span that exists only for traces is worth making as a child of the current span: traces
/// are exported, and the current trace is sampled (or there is none, and the new span starts one).
/// Making a span costs about as much as exporting it (BENCHMARKS.md, issue 5), so under an unsampled
/// parent, which nobody will see, none is made.
fn traced_here() -> bool {
    exporting() && !unsampled(&Span::current().context())
}

/// Whether `context` belongs to a trace the sampler dropped.
fn unsampled(context: &Context) -> bool {
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid() && !span_context.is_sampled()
}

/// What a call to a method the server does not serve is named by, in spans and metric labels: the
/// caller chooses the path, so it must not become a name (the HTTP conventions' value for the same case).
pub const UNKNOWN: &str = "_OTHER";

/// The server span of one gRPC call to `service`'s `method`, continuing the caller's trace from the
/// request `headers` (gRPC metadata).
pub fn rpc_server(service: &str, method: &str, headers: &http::HeaderMap) -> Span {
    if !exporting() {
        return Span::none();
    }
    let name = if method == UNKNOWN {
        UNKNOWN.to_owned()
    } else {
        format!("{service}/{method}")
    };
    let span = tracing::info_span!(
        "rpc",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
    );
    continue_trace(&span, extract(&HttpHeaders(headers)));
    span
}

/// Records how a call ended: its gRPC status code and, for the codes that mean the server failed, the
/// error status (client mistakes such as `INVALID_ARGUMENT` leave the span unset, as the conventions say).
pub fn rpc_ended(span: &Span, code: tonic::Code) {
    span.record("rpc.grpc.status_code", code as i32);
    use tonic::Code::*;
    if matches!(
        code,
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss
    ) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The producer span of one message published to `exchange` with `routing_key`: its context goes into
/// the message's headers with [`inject`].
pub fn amqp_send(exchange: &str, routing_key: &str, message_id: &str) -> Span {
    if !traced_here() {
        return Span::none();
    }
    // The default exchange has no name; the conventions name the span after the queue then.
    let destination = if exchange.is_empty() {
        routing_key
    } else {
        exchange
    };
    let name = format!("send {destination}");
    let span = tracing::info_span!(
        "amqp_send",
        otel.name = name.as_str(),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.operation.name = "send",
        messaging.destination.name = exchange,
        messaging.rabbitmq.destination.routing_key = Empty,
        messaging.message.id = message_id,
        error.type = Empty,
    );
    // The conventions leave an empty routing key out rather than record it empty.
    if !routing_key.is_empty() {
        span.record("messaging.rabbitmq.destination.routing_key", routing_key);
    }
    broker_attributes(&span);
    crate::json_log::remember_ids(&span);
    span
}

/// The consumer span that processes one message taken from `queue`, continuing the trace its
/// headers carry. `ids` are the Hookline ids it concerns, recorded on the span. It exists whether or not
/// traces are exported, because log lines take their ids from it; so the messaging attributes go to the
/// exported span alone, keeping the log lines short and costing nothing without export.
pub fn amqp_process(queue: &str, message: &lapin::message::Delivery, ids: Ids) -> Span {
    let span = tracing::info_span!(
        "amqp_process",
        otel.name = Empty,
        otel.kind = "consumer",
        hookline.event_id = Empty,
        hookline.event_type = Empty,
        hookline.delivery_id = Empty,
        hookline.webhook_id = Empty,
        hookline.attempt = Empty,
    );
    ids.record(&span);
    if !exporting() {
        return span;
    }
    span.record("otel.name", format!("process {queue}").as_str());
    let parent = message
        .properties
        .headers()
        .as_ref()
        .map(|headers| extract(&AmqpHeaders(headers)))
        .unwrap_or_default();
    if unsampled(&parent) {
        // The span still carries the trace id and the decision on; attributes nobody exports are not
        // built.
        continue_trace(&span, parent);
        return span;
    }
    let attributes = [
        KeyValue::new("messaging.system", "rabbitmq"),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.operation.name", "process"),
        KeyValue::new("messaging.destination.name", message.exchange.to_string()),
        KeyValue::new("messaging.destination.subscription.name", queue.to_owned()),
        KeyValue::new(
            "messaging.rabbitmq.message.delivery_tag",
            i64::try_from(message.delivery_tag).unwrap_or(i64::MAX),
        ),
    ];
    for attribute in attributes {
        span.set_attribute(attribute.key, attribute.value);
    }
    if !message.routing_key.as_str().is_empty() {
        span.set_attribute(
            "messaging.rabbitmq.destination.routing_key",
            message.routing_key.to_string(),
        );
    }
    broker_attributes(&span);
    if let Some(id) = message.properties.message_id() {
        span.set_attribute("messaging.message.id", id.to_string());
    }
    continue_trace(&span, parent);
    span
}

/// The span of an attempt the fan-out makes itself (no deliveries-queue hop), a child of `parent`, the
/// span of the event's processing. Like a consumer span it exists whether or not traces are exported,
/// because the attempt's log lines take their ids from it.
pub fn direct_attempt(parent: &Span, ids: Ids) -> Span {
    let span = tracing::info_span!(
        parent: parent,
        "attempt",
        otel.name = "attempt",
        otel.kind = "internal",
        hookline.event_id = Empty,
        hookline.event_type = Empty,
        hookline.delivery_id = Empty,
        hookline.webhook_id = Empty,
        hookline.attempt = Empty,
    );
    ids.record(&span);
    if exporting() {
        crate::json_log::remember_ids(&span);
    }
    span
}

/// The Hookline ids a consumer span concerns; whichever are known.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ids<'a> {
    pub event_id: Option<&'a uuid::Uuid>,
    pub event_type: Option<&'a str>,
    pub delivery_id: Option<&'a uuid::Uuid>,
    pub webhook_id: Option<&'a uuid::Uuid>,
    pub attempt: Option<u32>,
}

impl Ids<'_> {
    fn record(&self, span: &Span) {
        if let Some(id) = self.event_id {
            span.record("hookline.event_id", tracing::field::display(id));
        }
        if let Some(event_type) = self.event_type {
            span.record("hookline.event_type", event_type);
        }
        if let Some(id) = self.delivery_id {
            span.record("hookline.delivery_id", tracing::field::display(id));
        }
        if let Some(id) = self.webhook_id {
            span.record("hookline.webhook_id", tracing::field::display(id));
        }
        // Integers as i64: tracing-opentelemetry exports unsigned values as text.
        if let Some(attempt) = self.attempt {
            span.record("hookline.attempt", i64::from(attempt));
        }
    }
}

/// The client span of one webhook POST to `url`. The URL is recorded without its query string, which
/// may hold the customer's tokens (webhook URLs never carry credentials).
pub fn http_post(url: &url::Url) -> Span {
    if !traced_here() {
        return Span::none();
    }
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let span = tracing::info_span!(
        "http_post",
        otel.name = "POST",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "POST",
        url.full = shown.as_str(),
        server.address = url.host_str().unwrap_or_default(),
        server.port = url.port_or_known_default().map(i64::from),
        http.response.status_code = Empty,
        error.type = Empty,
    );
    crate::json_log::remember_ids(&span);
    span
}

/// Records how a POST ended: the response status if one came, and the error (an HTTP error status, or
/// `error_type` when there was no response).
pub fn http_ended(span: &Span, status: Option<u16>, error_type: Option<&str>) {
    if let Some(status) = status {
        span.record("http.response.status_code", i64::from(status));
        // Client spans count 4xx as errors as well as 5xx.
        if status >= 400 {
            span.record("error.type", status.to_string().as_str());
            span.record("otel.status_code", "ERROR");
            return;
        }
    }
    if let Some(error_type) = error_type {
        span.record("error.type", error_type);
        span.record("otel.status_code", "ERROR");
    }
}

/// Marks `span` as failed with a low-cardinality `error_type`.
pub fn failed(span: &Span, error_type: &str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "ERROR");
}

/// The W3C trace context of `span`, as AMQP headers added to `headers`; of the current span when `span`
/// was skipped under an unsampled parent, so the services downstream keep that decision rather than
/// sample anew. Adds nothing when traces are not exported.
pub fn inject(span: &Span, headers: &mut FieldTable) {
    if !exporting() {
        return;
    }
    let context = if span.is_none() {
        Span::current().context()
    } else {
        span.context()
    };
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut AmqpHeadersMut(headers));
    });
}

/// Makes `parent` (a remote context, possibly empty) `span`'s parent, and keeps the ids for the log
/// lines written inside `span`.
fn continue_trace(span: &Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only when traces are not exported (no OpenTelemetry layer), which needs no parent.
        let _ = span.set_parent(parent);
    }
    crate::json_log::remember_ids(span);
}

fn extract(carrier: &dyn Extractor) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&Context::new(), carrier)
    })
}

/// Reads trace context from gRPC metadata (HTTP/2 headers).
struct HttpHeaders<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Reads trace context from AMQP message headers.
struct AmqpHeaders<'a>(&'a FieldTable);

impl Extractor for AmqpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key)? {
            AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok(),
            AMQPValue::ShortString(value) => Some(value.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

/// Writes trace context into AMQP message headers.
struct AmqpHeadersMut<'a>(&'a mut FieldTable);

impl Injector for AmqpHeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(key.into(), AMQPValue::LongString(value.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn trace_context_survives_amqp_headers() {
        let remote = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let context = Context::new().with_remote_span_context(remote.clone());
        let propagator = TraceContextPropagator::new();
        let mut headers = FieldTable::default();
        headers.insert("x-other".into(), AMQPValue::LongUInt(7));
        propagator.inject_context(&context, &mut AmqpHeadersMut(&mut headers));
        assert!(headers.contains_key("traceparent"));

        let extracted = propagator.extract(&AmqpHeaders(&headers));
        let span = extracted.span();
        let carried = span.span_context();
        assert_eq!(carried.trace_id(), remote.trace_id());
        assert_eq!(carried.span_id(), remote.span_id());
        assert!(carried.is_sampled());
    }

    #[test]
    fn trace_context_is_read_from_grpc_metadata() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let extracted = TraceContextPropagator::new().extract(&HttpHeaders(&headers));
        assert_eq!(
            extracted.span().span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
    }
}
