//! Isolation: a slow or failing endpoint holds only its own share of a worker, its tasks wait in the
//! broker rather than in attempt slots, its breaker stops requests while it is down, and `Retry-After`
//! is honoured. Deferrals are never attempts.

use std::time::{Duration, Instant};

use hookline_proto::v1;
use hookline_tests::LONG_DEADLINE;
use hookline_tests::receiver::Reply;
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

async fn circuit(stack: &Stack, organisation: &str, id: &str) -> v1::CircuitState {
    state_of(stack.registry.clone(), organisation, id).await
}

async fn state_of(
    mut registry: hookline_tests::auth::RegistryClient,
    organisation: &str,
    id: &str,
) -> v1::CircuitState {
    let webhook = registry
        .get_webhook(v1::GetWebhookRequest {
            organisation_id: organisation.into(),
            id: id.into(),
        })
        .await
        .expect("getting the webhook")
        .into_inner();
    let circuit = webhook.circuit.expect("every webhook shows its breaker");
    v1::CircuitState::try_from(circuit.state).expect("a known state")
}

/// Polls the webhook's breaker from now on until it shows open. The breaker shows open only for its
/// cool-off, so a poll begun after the failures could miss that window on a loaded machine.
fn shows_open(stack: &Stack, organisation: &str, id: &str) -> tokio::task::JoinHandle<()> {
    let (registry, organisation, id) = (
        stack.registry.clone(),
        organisation.to_owned(),
        id.to_owned(),
    );
    tokio::spawn(async move {
        eventually("the breaker to show open", LONG_DEADLINE, || {
            let registry = registry.clone();
            let (organisation, id) = (organisation.clone(), id.clone());
            async move {
                (state_of(registry, &organisation, &id).await == v1::CircuitState::Open)
                    .then_some(())
            }
        })
        .await
    })
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_slow_endpoint_holds_only_its_share_and_others_stay_fast(pool: PgPool) {
    // 16 slots per worker, 4 per endpoint; the slow endpoint's attempts take the full 3 s timeout.
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__DELIVERY__CONCURRENCY", "16"),
            ("HOOKLINE__DELIVERY__ENDPOINT_CONCURRENCY", "4"),
            ("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "3s"),
            ("HOOKLINE__DELIVERY__BREAKER_FAILURES", "1000"),
        ],
    )
    .await;
    let slow = Receiver::start(|_| Reply {
        delay: Duration::from_secs(30),
        ..Reply::status(200)
    })
    .await;
    let fast = Receiver::always(200).await;
    stack
        .webhook("org_x", &slow.url(), &["job.completed"])
        .await;
    let (fast_hook, _) = stack
        .webhook("org_y", &fast.url(), &["job.completed"])
        .await;

    // X's backlog: many more tasks than the worker has slots.
    for _ in 0..60 {
        stack
            .publish("org_x", "job.completed", serde_json::json!({}))
            .await;
    }
    slow.wait_for(4, LONG_DEADLINE).await;

    // Y's events arrive while X's attempts hang: without isolation they would queue behind X's backlog
    // until X's attempts time out (3 s).
    let published = Instant::now();
    for _ in 0..5 {
        stack
            .publish("org_y", "job.completed", serde_json::json!({}))
            .await;
    }
    let received = fast.wait_for(5, Duration::from_secs(2)).await;
    let slowest = received.iter().map(|r| r.at - published).max().unwrap();
    assert!(
        slowest < Duration::from_millis(1500),
        "Y waited {slowest:?} behind X"
    );
    assert_eq!(
        slow.count(),
        4,
        "X never had more than its 4 slots in flight before they timed out"
    );
    stack
        .settled(
            "org_y",
            &fast_hook.id,
            v1::DeliveryStatus::Succeeded,
            LONG_DEADLINE,
        )
        .await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_breaker_opens_defers_without_requests_probes_and_closes(pool: PgPool) {
    let cooloff = Duration::from_secs(3);
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__DELIVERY__BREAKER_FAILURES", "3"),
            ("HOOKLINE__DELIVERY__BREAKER_COOLOFF", "3s"),
            // Retries after 1 s would otherwise come due while the breaker is open.
            ("HOOKLINE__DELIVERY__RETRY_SCHEDULE", "1s,1s"),
        ],
    )
    .await;
    // Down for its first three requests, healthy after.
    let endpoint = Receiver::start(|n| Reply::status(if n < 3 { 500 } else { 200 })).await;
    let (hook, _) = stack
        .webhook("org_a", &endpoint.url(), &["job.completed"])
        .await;
    // Its ping's success would reset the count of failures in a row: it must land before the first
    // failure, or three failures would not be three in a row.
    stack.ping_succeeded("org_a", &hook.id).await;
    // The organisation watches its breakers.
    let watcher = Receiver::always(200).await;
    let breaker_events = ["webhook.circuit_opened", "webhook.circuit_closed"];
    stack
        .webhook("org_a", &watcher.url(), &breaker_events)
        .await;
    let shown_open = shows_open(&stack, "org_a", &hook.id);
    for _ in 0..3 {
        stack
            .publish("org_a", "job.completed", serde_json::json!({}))
            .await;
    }
    let failures = endpoint.wait_for(3, LONG_DEADLINE).await;
    let opened = failures[2].at;
    shown_open.await.expect("the breaker to show open");

    // More events while it is open: they wait, and so do the retries of the first three.
    for _ in 0..4 {
        stack
            .publish("org_a", "job.completed", serde_json::json!({}))
            .await;
    }
    eventually("every delivery to succeed", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries("org_a", &hook.id).await;
        (deliveries.len() == 7
            && deliveries
                .iter()
                .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32))
        .then_some(())
    })
    .await;
    let requests = endpoint.received();
    let probe = requests[3].at;
    assert!(
        probe >= opened + cooloff - Duration::from_millis(100),
        "no request while the breaker was open: the probe came {:?} after it opened",
        probe - opened
    );
    // The probe went alone: the next request came only after it had succeeded.
    assert_eq!(requests.len(), 10, "3 failures, then one success each");
    assert_eq!(
        circuit(&stack, "org_a", &hook.id).await,
        v1::CircuitState::Closed
    );

    // The watcher heard the breaker open, then close, once each.
    let told = eventually(
        "the breaker's events at the watcher",
        LONG_DEADLINE,
        || async {
            let bodies: Vec<serde_json::Value> =
                watcher.received().iter().map(|r| r.json()).collect();
            (bodies.len() == 2).then_some(bodies)
        },
    )
    .await;
    let types: Vec<&str> = told
        .iter()
        .map(|b| b["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, breaker_events);
    for body in &told {
        assert_eq!(body["data"]["object"]["webhookId"], hook.id);
        assert_eq!(body["data"]["object"]["url"], endpoint.url());
    }
    assert!(told[0]["data"]["object"]["probeAt"].is_string());

    // Waiting for the breaker was never an attempt: the first three needed 2, the rest 1.
    let mut attempts: Vec<u32> = stack
        .deliveries("org_a", &hook.id)
        .await
        .iter()
        .map(|d| d.attempts)
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![1, 1, 1, 1, 2, 2, 2]);
}

/// The tasks of an endpoint whose gate would defer them anyway (here, behind its open breaker) are
/// deferred by the fan-out itself: they never pass through the deliveries queue that healthy endpoints
/// share, only to be deferred from there. They are still delivered, at their first attempt, once the
/// breaker closes.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_fan_out_defers_the_tasks_of_an_endpoint_behind_its_breaker_itself(pool: PgPool) {
    const EVENTS: usize = 20;
    let ops = hookline_tests::ops::free_addr().to_string();
    let stack = Stack::without_worker(
        pool,
        &[
            ("HOOKLINE__DELIVERY__HTTP_LISTEN", &ops),
            ("HOOKLINE__DELIVERY__BREAKER_FAILURES", "1"),
            ("HOOKLINE__DELIVERY__BREAKER_COOLOFF", "5s"),
        ],
    )
    .await;
    let _worker = hookline_tests::stack::spawn_worker_process(&stack.env);
    let endpoint = Receiver::start(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let (hook, _) = stack
        .webhook("org_a", &endpoint.url(), &["job.completed"])
        .await;
    // The ping's success would close the breaker, so it lands first.
    stack.ping_succeeded("org_a", &hook.id).await;
    let shown_open = shows_open(&stack, "org_a", &hook.id);
    stack
        .publish("org_a", "job.completed", serde_json::json!({}))
        .await;
    shown_open.await.expect("the breaker to show open");

    let events = stack.publish_batch("org_a", EVENTS).await;
    deferred_by_fan_out(&ops, "circuit_open", EVENTS).await;
    assert_eq!(endpoint.count(), 1, "no request while the breaker is open");
    each_delivered_at_first_attempt(&stack, &hook.id, &events).await;
}

/// Waits until the worker serving `/metrics` at `ops` has counted `n` deferrals by the fan-out for
/// `reason`.
async fn deferred_by_fan_out(ops: &str, reason: &str, n: usize) {
    let ops = ops.parse().expect("an address");
    let reason = format!(r#"reason="{reason}""#);
    eventually("the fan-out to defer every task", LONG_DEADLINE, || async {
        let (_, metrics) = hookline_tests::ops::get(ops, "/metrics").await?;
        let by_fan_out = metrics
            .lines()
            .filter(|l| {
                l.starts_with("hookline_deliveries_deferred_total{")
                    && l.contains(r#"stage="fanout""#)
                    && l.contains(&reason)
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>();
        (by_fan_out == n as f64).then_some(())
    })
    .await;
}

/// Waits until each of `events` is delivered to `hook` in one attempt: deferrals are not attempts.
async fn each_delivered_at_first_attempt(stack: &Stack, hook: &str, events: &[String]) {
    eventually("every new delivery to succeed", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries("org_a", hook).await;
        let new: Vec<_> = deliveries
            .iter()
            .filter(|d| events.contains(&d.event_id))
            .collect();
        (new.len() == events.len()
            && new
                .iter()
                .all(|d| d.status == v1::DeliveryStatus::Succeeded as i32 && d.attempts == 1))
        .then_some(())
    })
    .await;
}

/// A webhook of `org_a` whose endpoint answers its first event 429 with `Retry-After: seconds` and
/// everything after 200 (pings are answered apart), and that first event published once the ping has
/// succeeded, so that the ping is not what the pause holds back.
async fn paused_by_first_event(stack: &Stack, seconds: &'static str) -> (Receiver, v1::Webhook) {
    let headers: &'static [(&str, &str)] = Box::leak(Box::new([("retry-after", seconds)]));
    let endpoint = Receiver::start(move |n| {
        if n == 0 {
            Reply {
                headers,
                ..Reply::status(429)
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    let (hook, _) = stack
        .webhook("org_a", &endpoint.url(), &["job.completed"])
        .await;
    stack.ping_succeeded("org_a", &hook.id).await;
    stack
        .publish("org_a", "job.completed", serde_json::json!({}))
        .await;
    (endpoint, hook)
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_429_with_retry_after_is_retried_no_sooner_than_asked(pool: PgPool) {
    // The schedule says 1 s; the endpoint asks for 3.
    let stack = Stack::start(pool).await;
    let (endpoint, hook) = paused_by_first_event(&stack, "3").await;
    let done = stack
        .settled(
            "org_a",
            &hook.id,
            v1::DeliveryStatus::Succeeded,
            LONG_DEADLINE,
        )
        .await;
    let requests = endpoint.received();
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(2900),
        "the retry came {gap:?} after the 429, not the 3 s asked"
    );
    let codes = hookline_tests::stack::attempt_statuses(&done);
    assert_eq!(
        codes,
        vec![(1, 429), (2, 200)],
        "the 429 counts as an attempt"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_fan_out_defers_the_tasks_of_an_endpoint_paused_by_retry_after_itself(pool: PgPool) {
    const EVENTS: usize = 20;
    // Long enough for the new events to be published and fanned out while the pause lasts.
    const PAUSE: Duration = Duration::from_secs(10);
    let ops = hookline_tests::ops::free_addr().to_string();
    let stack = Stack::without_worker(pool, &[("HOOKLINE__DELIVERY__HTTP_LISTEN", &ops)]).await;
    let _worker = hookline_tests::stack::spawn_worker_process(&stack.env);
    let (endpoint, hook) = paused_by_first_event(&stack, "10").await;
    // The worker learns of the pause before it records the attempt.
    eventually("the 429 to be recorded", LONG_DEADLINE, || async {
        let deliveries = stack.deliveries("org_a", &hook.id).await;
        deliveries.iter().any(|d| d.attempts == 1).then_some(())
    })
    .await;

    let events = stack.publish_batch("org_a", EVENTS).await;
    deferred_by_fan_out(&ops, "retry_after", EVENTS).await;
    each_delivered_at_first_attempt(&stack, &hook.id, &events).await;
    let requests = endpoint.received();
    let paused_at = requests[0].at;
    let soonest = requests[1..].iter().map(|r| r.at - paused_at).min();
    assert!(
        soonest.is_some_and(|gap| gap >= PAUSE - Duration::from_millis(100)),
        "a request came {soonest:?} after the 429, within the {PAUSE:?} it asked for"
    );
}
