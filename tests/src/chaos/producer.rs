//! The producer's side of the fault suite: batches of events at a steady rate, each carrying a sequence
//! number in its data, and the ledger of what ingest answered for each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_proto::v1;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::IngestClient;

use hookline_ingest::{MAYBE_ACCEPTED, NOT_ACCEPTED};
/// How long one call may take before the producer gives up on it (its events become unknown).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What ingest answered, event by event (by `seq`).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Answered OK: the event id.
    pub accepted: BTreeMap<u64, String>,
    /// Answered `UNAVAILABLE`: must never be delivered.
    pub refused: BTreeSet<u64>,
    /// No answer (the call broke, or timed out): may or may not have been accepted.
    pub unknown: BTreeSet<u64>,
    /// Any other answer, which no scenario should produce.
    pub unexpected: Vec<String>,
}

/// Publishes `rate` events a second as `organisation`, `batch` per `PublishEvents` call, until `stop`;
/// then waits for every call's answer. `started` is notified as each call goes out.
pub async fn publish(
    ingest: IngestClient,
    organisation: String,
    rate: u32,
    batch: usize,
    stop: CancellationToken,
    started: Arc<Notify>,
) -> Ledger {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut calls = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(batch as f64 / f64::from(rate)));
    let mut next = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let seqs: Vec<u64> = (next..next + batch as u64).collect();
        next += batch as u64;
        let (ingest, ledger, organisation) = (ingest.clone(), ledger.clone(), organisation.clone());
        started.notify_waiters();
        calls.spawn(async move {
            let answer = call(ingest, &organisation, &seqs).await;
            record(&mut ledger.lock().expect("ledger lock"), &seqs, answer);
        });
    }
    while calls.join_next().await.is_some() {}
    Arc::try_unwrap(ledger)
        .expect("every call has ended")
        .into_inner()
        .expect("ledger lock")
}

async fn call(
    mut ingest: IngestClient,
    organisation: &str,
    seqs: &[u64],
) -> Result<Vec<v1::PublishEventResult>, tonic::Status> {
    let events = seqs
        .iter()
        .map(|seq| {
            crate::stack::publish_request(
                organisation,
                "job.completed",
                serde_json::json!({"seq": seq}),
            )
        })
        .collect();
    let mut request = tonic::Request::new(v1::PublishEventsRequest { events });
    request.set_timeout(CALL_TIMEOUT);
    Ok(ingest.publish_events(request).await?.into_inner().results)
}

fn record(
    ledger: &mut Ledger,
    seqs: &[u64],
    answer: Result<Vec<v1::PublishEventResult>, tonic::Status>,
) {
    match answer {
        Ok(results) => {
            for (seq, result) in seqs.iter().zip(results) {
                match tonic::Code::from_i32(result.code) {
                    tonic::Code::Ok => {
                        ledger.accepted.insert(*seq, result.event_id);
                    }
                    tonic::Code::Unavailable if result.message == NOT_ACCEPTED => {
                        ledger.refused.insert(*seq);
                    }
                    // Written, but the confirm was lost: its fate is the broker's to tell.
                    tonic::Code::Unavailable if result.message == MAYBE_ACCEPTED => {
                        ledger.unknown.insert(*seq);
                    }
                    code => ledger
                        .unexpected
                        .push(format!("event {seq}: {code:?}: {}", result.message)),
                }
            }
        }
        // Ingest's own refusal of the whole call; anything else (a reset connection, a timeout) leaves
        // the events' fate unknown.
        Err(status)
            if status.code() == tonic::Code::Unavailable && status.message() == NOT_ACCEPTED =>
        {
            ledger.refused.extend(seqs);
        }
        // Anything else, a MAYBE_ACCEPTED included, leaves the events' fate unknown.
        Err(_) => ledger.unknown.extend(seqs),
    }
}
