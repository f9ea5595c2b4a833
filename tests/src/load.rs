//! The load a benchmark puts on the pipeline and what it measures there: a receiver that keeps each
//! delivery's latency, a steady publisher that times its calls, and a batch burst.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

use hookline_proto::v1;

use crate::auth::IngestClient;
use crate::bench::{event, now_us};

/// An endpoint that answers after `delay`, counts requests and the connections they came on, and keeps
/// each delivery's latency from its `sentAt`.
pub struct LatencyReceiver {
    pub url: String,
    state: ReceiverState,
}

#[derive(Clone)]
struct ReceiverState {
    count: Arc<AtomicUsize>,
    /// Connections accepted: how well the workers reuse theirs.
    connections: Arc<AtomicUsize>,
    /// (sent at, latency), µs.
    latencies: Arc<Mutex<Vec<(u64, u64)>>>,
    delay: Duration,
}

impl LatencyReceiver {
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        use axum::serve::ListenerExt as _;
        let state = ReceiverState {
            count: Arc::default(),
            connections: Arc::default(),
            latencies: Arc::default(),
            delay,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let connections = state.connections.clone();
        let listener = listener.tap_io(move |_| {
            connections.fetch_add(1, Ordering::Relaxed);
        });
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, state })
    }

    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// The latencies (µs) recorded since the last call, which forgets them.
    pub fn take_latencies(&self) -> Vec<u64> {
        self.take_samples().into_iter().map(|(_, l)| l).collect()
    }

    /// Like [`LatencyReceiver::take_latencies`], with when each event was sent (µs since the origin).
    pub fn take_samples(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.state.latencies.lock().expect("latency lock"))
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.count() < n {
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {n} deliveries arrived",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

async fn receive(State(state): State<ReceiverState>, body: Bytes) -> &'static str {
    let body = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    // A webhook created enabled is pinged first: that is no event of the load.
    if body["eventType"] == hookline_core::messages::PING_EVENT_TYPE {
        return "ok";
    }
    // Counted on arrival: a slow receiver's count is the requests it got.
    state.count.fetch_add(1, Ordering::Relaxed);
    if let Some(sent_at) = body["data"]["object"]["sentAt"].as_u64() {
        let latency = now_us().saturating_sub(sent_at);
        let sample = (sent_at, latency);
        state.latencies.lock().expect("latency lock").push(sample);
    }
    // Latency is taken on arrival; a zero delay skips the timer, which would round up to the next
    // millisecond before answering.
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    "ok"
}

/// Publishes an event of `org_bench` until ingest takes it, then waits for `receiver` to get it: the
/// pipeline is up end to end.
pub async fn wait_until_delivering(
    ingest: &IngestClient,
    receiver: &LatencyReceiver,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ingest
        .clone()
        .publish_event(event("org_bench"))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "ingest never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.wait_for(1, Duration::from_secs(30)).await
}

/// Publishes `organisation`'s events at `rate` per second for `seconds`, without waiting for each
/// answer; returns how many were published.
pub async fn publish_steadily(
    ingest: &IngestClient,
    organisation: &str,
    rate: u64,
    seconds: u64,
) -> usize {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let total = rate * seconds;
    for _ in 0..total {
        ticker.tick().await;
        let (ingest, request) = (ingest.clone(), event(organisation));
        tokio::spawn(async move {
            let started = now_us();
            let answer = ingest.clone().publish_event(request).await;
            PUBLISH_CALLS
                .lock()
                .expect("publish-call lock")
                .push(now_us() - started);
            answer
        });
    }
    total as usize
}

/// How long each `PublishEvent` call of [`publish_steadily`] took (µs), until taken.
static PUBLISH_CALLS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The publish-call durations (µs) recorded since the last call, which forgets them: the part of a
/// delivery's latency spent before ingest answered.
pub fn take_publish_calls() -> Vec<u64> {
    std::mem::take(&mut *PUBLISH_CALLS.lock().expect("publish-call lock"))
}

/// Publishes `count` events of `organisation` through `PublishEvents`, 1,000 a call, 4 calls at once.
pub async fn publish_burst(
    ingest: &IngestClient,
    organisation: &str,
    count: usize,
) -> anyhow::Result<()> {
    use futures_util::StreamExt as _;
    const BATCH: usize = 1_000;
    let calls = futures_util::stream::iter((0..count).step_by(BATCH))
        .map(|start| {
            let mut ingest = ingest.clone();
            let events = (start..count.min(start + BATCH))
                .map(|_| event(organisation))
                .collect();
            async move {
                ingest
                    .publish_events(v1::PublishEventsRequest { events })
                    .await
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for call in calls {
        let refused = call?
            .into_inner()
            .results
            .iter()
            .filter(|r| r.code != 0)
            .count();
        anyhow::ensure!(refused == 0, "{refused} burst events were refused");
    }
    Ok(())
}
