//! Serving a gRPC service the way both Hookline servers do: with `grpc.health.v1` and reflection.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::ops::Health;
use crate::spans;
use tracing::Instrument as _;

/// The standard health service, which gets no spans.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";
use crate::spans::UNKNOWN;

/// How often the gRPC health status is refreshed from the dependency flags.
const HEALTH_REFRESH: Duration = Duration::from_millis(500);

/// Serves `service` on `listener` beside health and reflection until `shutdown` fires, then drains.
/// The health status of `S` and of the whole server ("") follows `health`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    S: tower_service::Service<http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (reporter, health_service) = tonic_health::server::health_reporter();
    // Reflection lists what this server serves, in both versions clients use (`grpcurl` and older
    // tools still ask v1alpha); the descriptors of the other services stay resolvable but unlisted.
    let advertised = [S::NAME, HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA];
    let reflection = || {
        advertised.iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(hookline_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(*name),
        )
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the embedded descriptor sets are valid");

    // Not serving until the first check says otherwise (the reporter starts "" as SERVING).
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(S::NAME, ServingStatus::NotServing)
        .await;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HEALTH_REFRESH);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => break,
            }
            let status = if health.is_ready() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(S::NAME, status).await;
            reporter.set_service_status("", status).await;
        }
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    });

    tonic::transport::Server::builder()
        .layer(RpcTelemetry::serving(S::NAME))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        // Without TCP_NODELAY a response written in more than one segment waits for the client's
        // delayed ACK (40 ms on Linux) before its last one: tonic leaves it off for a listener given
        // this way, so it is set here.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await
}

/// Counts and times every call by service, method and code (the Prometheus RPC metrics), and wraps it
/// in a server span that continues the caller's trace. Paths are the caller's to choose, so a call to
/// anything the server does not serve is named by a fixed value, never by its path.
#[derive(Debug, Clone)]
pub struct RpcTelemetry {
    known: Arc<HashSet<String>>,
}

impl RpcTelemetry {
    /// For a server of `service`, with reflection beside it.
    pub fn serving(service: &str) -> Self {
        let mut known: HashSet<String> =
            hookline_proto::method_paths(service).into_iter().collect();
        for reflection in [REFLECTION_V1, REFLECTION_V1ALPHA] {
            known.insert(format!("/{reflection}/ServerReflectionInfo"));
        }
        for probe in ["Check", "Watch"] {
            known.insert(format!("/{HEALTH_SERVICE}/{probe}"));
        }
        Self {
            known: Arc::new(known),
        }
    }
}

impl<S> tower_layer::Layer<S> for RpcTelemetry {
    type Service = RpcTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetryService {
            inner,
            known: self.known.clone(),
        }
    }
}

/// [`RpcTelemetry`] around one service.
#[derive(Debug, Clone)]
pub struct RpcTelemetryService<S> {
    inner: S,
    known: Arc<HashSet<String>>,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for RpcTelemetryService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let (service, method) = match path.trim_start_matches('/').split_once('/') {
            _ if !self.known.contains(path) => (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
            Some((s, m)) => (s.to_owned(), m.to_owned()),
            None => (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
        };
        // Probes call the health service every few seconds; their spans would bury the real ones.
        let span = if service == HEALTH_SERVICE {
            tracing::Span::none()
        } else {
            spans::rpc_server(&service, &method, request.headers())
        };
        let started = std::time::Instant::now();
        let call = span.in_scope(|| self.inner.call(request));
        Box::pin(async move {
            let result = call.instrument(span.clone()).await;
            // Errors are trailers-only responses, so their status is in the headers; OK is in trailers.
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
                    .map_or(tonic::Code::Ok, tonic::Code::from),
                Err(_) => tonic::Code::Unknown,
            };
            spans::rpc_ended(&span, code);
            let code = crate::prometheus::code_label(code);
            metrics::counter!(crate::prometheus::GRPC_REQUESTS,
                "service" => service.clone(), "method" => method.clone(), "code" => code)
            .increment(1);
            metrics::histogram!(crate::prometheus::GRPC_DURATION,
                "service" => service, "method" => method)
            .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The longest reason a field violation carries, in characters. Reasons can quote the request (a JSON
/// Schema error quotes the instance), and the status travels in HTTP/2 headers, which clients limit (16
/// KiB by default): an error longer than that reaches the caller as a protocol error instead.
const MAX_REASON: usize = 500;

/// `INVALID_ARGUMENT` naming every bad field twice over: in the message, for people and `grpcurl`, and as
/// `google.rpc.BadRequest` field violations, for programs. Each reason is cut to [`MAX_REASON`].
pub fn invalid_argument<'a>(
    violations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> tonic::Status {
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};
    let violations: Vec<(&str, String)> = violations
        .into_iter()
        .map(|(field, why)| (field, bounded(why)))
        .collect();
    let message = violations
        .iter()
        .map(|(f, why)| format!("{f}: {why}"))
        .collect::<Vec<_>>()
        .join("; ");
    let details = violations
        .iter()
        .map(|(f, why)| FieldViolation::new(*f, why.as_str()))
        .collect::<Vec<_>>();
    tonic::Status::with_error_details(
        tonic::Code::InvalidArgument,
        format!("invalid argument: {message}"),
        ErrorDetails::with_bad_request(details),
    )
}

/// `why`, cut to [`MAX_REASON`] characters with a note of how much was left out.
fn bounded(why: &str) -> String {
    match why.char_indices().nth(MAX_REASON) {
        Some((end, _)) => format!("{}… ({} more bytes)", &why[..end], why.len() - end),
        None => why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_quoting_a_huge_request_is_cut_but_still_names_its_field() {
        let huge = format!("{{\"note\": \"{}\"}} is not valid", "é".repeat(40_000));
        let status = invalid_argument([("example", huge.as_str()), ("name", "is empty")]);
        assert!(
            status.message().len() < 2 * 4 * MAX_REASON,
            "{} bytes",
            status.message().len()
        );
        assert!(
            status
                .message()
                .starts_with("invalid argument: example: {\"note\"")
        );
        assert!(status.message().contains("more bytes); name: is empty"));
        let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
        let fields: Vec<_> = details
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["example", "name"]);
        assert_eq!(bounded("short"), "short");
    }
}
