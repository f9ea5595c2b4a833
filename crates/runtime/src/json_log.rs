//! JSON log lines that correlate with traces. Each line is one object: `timestamp` (RFC 3339, UTC),
//! `level`, the event's fields (`message` among them), `target`, and, written inside a span, `spans` (the
//! spans it is in, root first, each with its `name` and fields) and, at the top level as the
//! OpenTelemetry log data model and the common log pipelines (Loki, Datadog, Elastic) expect, `trace_id`
//! and `span_id` of the innermost span that belongs to a trace.
//!
//! tracing-subscriber's own JSON format carries neither id, so this formats the line itself; span fields
//! are still recorded by its `JsonFields`, once per span.

use std::fmt;

use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON line format (`log.format = "json"`).
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), metadata.level().as_str().into());
        event.record(&mut Fields(&mut line));
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            let mut spans = Vec::new();
            let mut ids = None;
            for span in scope {
                let extensions = span.extensions();
                if ids.is_none() {
                    ids = extensions.get::<TraceIds>().copied();
                }
                let mut entry = Map::new();
                entry.insert("name".into(), span.name().into());
                if let Some(fields) = extensions.get::<FormattedFields<JsonFields>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str(&fields.fields)
                {
                    entry.extend(fields);
                }
                spans.push(Value::Object(entry));
            }
            spans.reverse();
            if let Some(ids) = ids {
                line.insert("trace_id".into(), ids.trace_id.to_string().into());
                line.insert("span_id".into(), ids.span_id.to_string().into());
            }
            line.insert("spans".into(), spans.into());
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The trace and span ids of a span, kept in its extensions when it is made (`spans`), because a log
/// line cannot ask the OpenTelemetry layer for them while the subscriber is handling the line. Kept as
/// the ids themselves and written out as hex only for a line that is written, since most spans have none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceIds {
    trace_id: opentelemetry::trace::TraceId,
    span_id: opentelemetry::trace::SpanId,
}

/// Keeps `span`'s trace and span ids for the lines written inside it, if it belongs to a trace.
pub(crate) fn remember_ids(span: &tracing::Span) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::registry::LookupSpan as _;
    let context = span.context();
    let otel = context.span();
    let span_context = otel.span_context();
    if !span_context.is_valid() {
        return;
    }
    let ids = TraceIds {
        trace_id: span_context.trace_id(),
        span_id: span_context.span_id(),
    };
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(data) = registry.span(id)
        {
            data.extensions_mut().insert(ids);
        }
    });
}

/// Writes an event's fields into the line: numbers and booleans as JSON values, the rest as text.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_carries_its_fields_and_its_spans_root_first() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(super::JsonLines)
            .with_writer(move || sink.clone())
            .with_filter(EnvFilter::new("info,hookline_runtime=debug"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer", hookline.event_id = "e-1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner", hookline.attempt = 2_i64);
            let _inner = inner.enter();
            tracing::debug!(
                status = 500_u64,
                next = "2026-12-07T00:00:00Z",
                "attempt failed"
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["message"], "attempt failed", "{line}");
        assert_eq!(line["level"], "DEBUG");
        assert_eq!(line["status"], 500);
        assert_eq!(line["spans"][0]["name"], "outer", "{line}");
        assert_eq!(line["spans"][0]["hookline.event_id"], "e-1");
        assert_eq!(line["spans"][1]["hookline.attempt"], 2);
        assert!(line.get("trace_id").is_none(), "no trace without export");
    }
}
