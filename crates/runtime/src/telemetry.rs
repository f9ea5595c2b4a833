//! Logs and traces, set up the same way by every binary.
//!
//! Logs go to stdout as text or JSON lines. Traces are exported over OTLP/gRPC only when an OTLP endpoint
//! is configured through the standard `OTEL_*` variables; without one no OpenTelemetry layer is installed,
//! so spans cost what a log line's context costs and nothing is exported.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{ConfigError, LogFormat, LogSettings};

/// How long shutdown waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracing targets whose spans are exported: Hookline's own crates, never the libraries' internals.
const TRACED_CRATES: &str = "hookline";

/// What `init` installed; hand it back with [`Telemetry::shutdown`] so the last spans are not lost.
#[must_use = "shut telemetry down at exit, or the last spans are lost"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are being exported.
    pub fn exporting(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Exports what is buffered and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.tracer_provider else {
            return;
        };
        // The exporter runs on the SDK's own thread but sends through this runtime, so the blocking
        // wait must not hold a runtime worker.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "could not export the last spans");
        }
    }
}

/// Installs the global subscriber: logs filtered by `RUST_LOG` or the configured filter and, when an OTLP
/// endpoint is configured, a span exporter naming the process `service` (unless `OTEL_SERVICE_NAME`
/// says otherwise). Must run inside a Tokio runtime. A second call in one process (tests start several
/// services in one) keeps the first subscriber and exports nothing more.
pub fn init(service: &'static str, settings: &LogSettings) -> Result<Telemetry, ConfigError> {
    let export = TraceExport::from_env(|name| std::env::var(name).ok())?;
    if tracing::dispatcher::has_been_set() {
        return Ok(Telemetry {
            tracer_provider: None,
        });
    }
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    // Colours only for a terminal, so files and log pipelines get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = tracing_subscriber::fmt::layer()
        .with_target(true)
        .with_ansi(ansi);
    let logs = match settings.format {
        // Top-level trace and span ids, and every span's fields, root first: a line written inside a
        // POST still shows the ids of the delivery around it (crate::json_log).
        LogFormat::Json => logs
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(crate::json_log::JsonLines)
            .boxed(),
        LogFormat::Text => logs.boxed(),
    }
    .with_filter(AskedEachTime(filter));

    let tracer_provider = match export {
        TraceExport::Off => None,
        TraceExport::Otlp => Some(tracer_provider(service)?),
    };
    let spans = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            // An instrumented future enters and leaves its span on every poll, so per-enter work is paid
            // thousands of times a second. Nothing here reads the active OpenTelemetry context
            // (propagation takes each span's own), and busy/idle timings, source locations, targets and
            // threads are attributes outside the conventions this trace follows; so none is kept.
            .with_context_activation(false)
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_target(false)
            .with_threads(false)
            .with_filter(AskedEachTime(
                Targets::new().with_target(TRACED_CRATES, Level::INFO),
            ))
    });
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    if installed.is_err() {
        return Ok(Telemetry {
            tracer_provider: None,
        });
    }
    if let Some(provider) = &tracer_provider {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider.clone());
        crate::spans::set_exporting();
    }
    Ok(Telemetry { tracer_provider })
}

/// A per-layer filter that is asked about every span and event its callsite lets through, never
/// cached as "always".
///
/// tracing-subscriber hands each per-layer filter's verdict from `enabled` to the span or event that
/// follows through a thread-local. A callsite cached as "always" skips `enabled`, so it reads whatever
/// verdict the previous `enabled` call on that thread left there. sqlx asks `enabled!` for its query
/// log after every query and logs nothing when the answer is no. With any DEBUG directive in the log
/// filter (say `info,hookline_delivery=debug`), the next span after a query read that "no" and was
/// dropped from the logs and from the exported trace alike (tokio-rs/tracing#2519, #2704). Asking every
/// time costs a directive match per span or event; callsites that are off stay off for free.
struct AskedEachTime<F>(F);

impl<S, F: tracing_subscriber::layer::Filter<S>> tracing_subscriber::layer::Filter<S>
    for AskedEachTime<F>
{
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            tracing::subscriber::Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_new_span(attrs, id, ctx)
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_record(id, values, ctx)
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_enter(id, ctx)
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_exit(id, ctx)
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_close(id, ctx)
    }
}

fn tracer_provider(service: &'static str) -> Result<SdkTracerProvider, ConfigError> {
    // Endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_* variables, batching
    // from OTEL_BSP_*, sampling from OTEL_TRACES_SAMPLER; the SDK reads them itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| ConfigError::Invalid(format!("OTLP trace exporter: {e}")))?;
    let mut resource = Resource::builder_empty()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", crate::VERSION))
        .with_detectors(&[
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if let Some(name) = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.is_empty())
    {
        resource = resource.with_service_name(name);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Whether and how spans leave the process, from the standard variables.
#[derive(Debug, PartialEq, Eq)]
enum TraceExport {
    Off,
    Otlp,
}

impl TraceExport {
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(Self::Off);
        }
        if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
            && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
        {
            return Ok(Self::Off);
        }
        match set("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
            None | Some("otlp") => {}
            Some("none") => return Ok(Self::Off),
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "OTEL_TRACES_EXPORTER={other}: only `otlp` and `none` are supported"
                )));
            }
        }
        let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
        match protocol.as_deref().map(str::trim) {
            None | Some("grpc") => Ok(Self::Otlp),
            // Silently sending gRPC to an HTTP collector port would lose every span, so say so at start.
            Some(other) => Err(ConfigError::Invalid(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other}: Hookline exports OTLP over gRPC only; set `grpc` \
                 and point the endpoint at the collector's gRPC port (4317)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(vars: &[(&str, &str)]) -> Result<TraceExport, ConfigError> {
        TraceExport::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn exports_only_when_an_endpoint_is_configured() {
        assert_eq!(export(&[]).unwrap(), TraceExport::Off);
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]).unwrap(),
            TraceExport::Off
        );
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]).unwrap(),
            TraceExport::Otlp
        );
        assert_eq!(
            export(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4317"
            )])
            .unwrap(),
            TraceExport::Otlp
        );
    }

    #[test]
    fn standard_switches_turn_export_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        assert_eq!(
            export(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(),
            TraceExport::Off
        );
        assert_eq!(
            export(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            TraceExport::Off
        );
    }

    #[test]
    fn unsupported_protocols_and_exporters_are_refused_by_name() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        let error = export(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{error}");
        let error = export(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("OTEL_TRACES_EXPORTER"), "{error}");
        assert_eq!(
            export(&[endpoint, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]).unwrap(),
            TraceExport::Otlp
        );
    }
}
