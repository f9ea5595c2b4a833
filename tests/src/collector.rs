//! A real OTLP/gRPC trace collector on 127.0.0.1: the services export to it exactly as they would to an
//! OpenTelemetry Collector, and tests read back what arrived.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio_util::sync::CancellationToken;

/// One span as exported, with the `service.name` of the process that sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectedSpan {
    pub service: String,
    pub name: String,
    /// `SpanKind` as a number: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status: i32,
    /// When the span started and ended, in nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    attributes: Vec<KeyValue>,
}

/// OTLP span kinds.
pub const INTERNAL: i32 = 1;
pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;
pub const PRODUCER: i32 = 4;
pub const CONSUMER: i32 = 5;

impl CollectedSpan {
    /// An attribute's value as text (numbers and booleans formatted), if the span has it.
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self
            .attributes
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()?;
        Some(match value {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            Value::BoolValue(b) => b.to_string(),
            Value::DoubleValue(d) => d.to_string(),
            other => format!("{other:?}"),
        })
    }
}

impl CollectedSpan {
    /// An attribute's value if it was exported as an integer (not text), as the conventions type
    /// status codes, ports and counts.
    pub fn int(&self, key: &str) -> Option<i64> {
        let value = self.attributes.iter().find(|kv| kv.key == key)?;
        match value.value.as_ref()?.value.as_ref()? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether the span has attribute `key` at all.
    pub fn has(&self, key: &str) -> bool {
        self.attributes.iter().any(|kv| kv.key == key)
    }
}

/// The running collector; it stops when dropped.
pub struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
    received: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Collector {
    /// A collector on a free port that keeps every span.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0", true)
            .await
            .expect("binding the collector")
    }

    /// A collector on `addr`; with `keep` false it only counts spans (for benchmarks).
    pub async fn start_on(addr: &str, keep: bool) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let spans = Arc::default();
        let received = Arc::default();
        let stop = CancellationToken::new();
        let service = TraceServiceServer::new(Sink {
            spans: keep.then(|| Arc::clone(&spans)),
            received: Arc::clone(&received),
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    stop.clone().cancelled_owned(),
                ),
        );
        Ok(Self {
            addr,
            spans,
            received,
            stop,
        })
    }

    /// How many spans have arrived.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment that makes a service export here, with a short batch delay so spans arrive soon.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), self.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ]
    }

    /// Every span received so far.
    pub fn all(&self) -> Vec<CollectedSpan> {
        self.spans.lock().expect("spans lock").clone()
    }

    /// Every span of `trace_id` received so far.
    pub fn trace(&self, trace_id: &str) -> Vec<CollectedSpan> {
        self.spans
            .lock()
            .expect("spans lock")
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Waits until the spans of `trace_id` satisfy `complete`, and returns them; on timeout, the
    /// panic lists what did arrive.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        deadline: Duration,
        complete: impl Fn(&[CollectedSpan]) -> bool,
    ) -> Vec<CollectedSpan> {
        let start = std::time::Instant::now();
        loop {
            let spans = self.trace(trace_id);
            if complete(&spans) {
                return spans;
            }
            if start.elapsed() > deadline {
                let arrived: Vec<_> = spans
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} (kind {}, parent {})",
                            s.service, s.name, s.kind, s.parent_span_id
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {deadline:?} waiting for trace {trace_id}; arrived: {arrived:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Sink {
    /// `None` when spans are only counted.
    spans: Option<Arc<Mutex<Vec<CollectedSpan>>>>,
    received: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let count = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>();
        self.received.fetch_add(count, Ordering::Relaxed);
        let Some(kept) = &self.spans else {
            return Ok(tonic::Response::new(ExportTraceServiceResponse::default()));
        };
        let mut collected = Vec::new();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                collected.push(CollectedSpan {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    status: span.status.map_or(0, |s| s.code),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: span.attributes,
                });
            }
        }
        kept.lock().expect("spans lock").extend(collected);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
