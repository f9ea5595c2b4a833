//! The gate's decisions, one behaviour a test.

use super::*;

fn gate(concurrency: u32) -> Arc<Gate> {
    Gate::new(Limits {
        endpoint_concurrency: concurrency,
        max_local_wait: Duration::from_millis(250),
        breaker_failures: 3,
        breaker_cooloff: Duration::from_secs(30),
        max_retry_after: Duration::from_secs(60),
    })
}

fn now(admission: Admission) -> Permit {
    match admission {
        Admission::Now(p) => p,
        Admission::Wait(_) => panic!("expected a permit, got a wait"),
        Admission::Defer(d, r) => panic!("expected a permit, got a deferral ({d:?}, {r:?})"),
    }
}

const TIMEOUT: Verdict = Verdict::Failure {
    overload: true,
    retry_after: None,
};

#[test]
fn an_endpoint_holds_at_most_its_limit_and_others_are_unaffected() {
    let g = gate(2);
    let (slow, other) = (Uuid::now_v7(), Uuid::now_v7());
    let _a = now(g.admit(slow, None, false));
    let _b = now(g.admit(slow, None, false));
    // No latency known yet and nothing in flight for long: a short wait here.
    assert!(matches!(g.admit(slow, None, false), Admission::Wait(_)));
    let _c = now(g.admit(other, None, false));
}

#[test]
fn a_slow_endpoint_s_overflow_is_deferred_not_held() {
    let g = gate(2);
    let slow = Uuid::now_v7();
    let a = now(g.admit(slow, None, false));
    let _b = now(g.admit(slow, None, false));
    // The endpoint is known to take 2 s per attempt.
    g.endpoints.lock().unwrap().get_mut(&slow).unwrap().latency = Some(Duration::from_secs(2));
    assert!(matches!(
        g.admit(slow, None, false),
        Admission::Defer(_, DeferReason::Busy)
    ));
    // A timeout halves the limit: one slot now.
    a.finish(TIMEOUT);
    assert!(matches!(
        g.admit(slow, None, false),
        Admission::Defer(_, DeferReason::Busy)
    ));
}

#[test]
fn a_long_backlog_is_deferred_for_longer() {
    let g = gate(1);
    let slow = Uuid::now_v7();
    let _busy = now(g.admit(slow, None, false));
    g.endpoints.lock().unwrap().get_mut(&slow).unwrap().latency = Some(Duration::from_millis(500));
    let wait = |a| match a {
        Admission::Defer(d, DeferReason::Busy) => d,
        _ => panic!("expected a busy deferral"),
    };
    let first = wait(g.admit(slow, None, false));
    for _ in 0..100 {
        g.admit(slow, None, false);
    }
    let later = wait(g.admit(slow, None, false));
    assert!(later > first * 50, "{first:?} then {later:?}");
}

#[test]
fn the_breaker_opens_probes_once_and_closes() {
    let g = gate(8);
    let e = Uuid::now_v7();
    let mut transitions = Vec::new();
    for _ in 0..3 {
        transitions.extend(now(g.admit(e, None, false)).finish(TIMEOUT));
    }
    assert_eq!(
        transitions,
        vec![Transition::Opened {
            for_: Duration::from_secs(30)
        }]
    );
    assert!(matches!(
        g.admit(e, None, false),
        Admission::Defer(d, DeferReason::CircuitOpen) if d > Duration::from_secs(29)
    ));
    // The cool-off passes: one probe, the rest deferred meanwhile.
    g.endpoints.lock().unwrap().get_mut(&e).unwrap().circuit = Circuit::Open {
        until: Instant::now(),
    };
    let probe = now(g.admit(e, None, false));
    assert!(matches!(
        g.admit(e, None, false),
        Admission::Defer(_, DeferReason::CircuitOpen)
    ));
    assert_eq!(probe.finish(Verdict::Success), Some(Transition::Closed));
    let _ = now(g.admit(e, None, false));
}

#[test]
fn a_probe_that_never_went_out_lets_the_next_task_probe() {
    let g = gate(8);
    let e = Uuid::now_v7();
    g.endpoints.lock().unwrap().insert(e, Endpoint::new(8));
    g.endpoints.lock().unwrap().get_mut(&e).unwrap().circuit = Circuit::HalfOpen { probing: false };
    // The fan-out took the probe's permit, then had no room to attempt it here.
    let Room::Now(permit) = g.admit_first(e, None) else {
        panic!("expected the probe's permit");
    };
    drop(permit);
    let probe = now(g.admit(e, None, false));
    assert_eq!(probe.finish(Verdict::Success), Some(Transition::Closed));
}

#[test]
fn a_failed_probe_opens_the_breaker_again() {
    let g = gate(8);
    let e = Uuid::now_v7();
    g.endpoints.lock().unwrap().insert(e, Endpoint::new(8));
    g.endpoints.lock().unwrap().get_mut(&e).unwrap().circuit = Circuit::HalfOpen { probing: false };
    let probe = now(g.admit(e, None, false));
    assert!(matches!(
        probe.finish(TIMEOUT),
        Some(Transition::Opened { .. })
    ));
}

#[test]
fn another_worker_s_open_breaker_and_retry_after_defer() {
    let g = gate(8);
    let e = Uuid::now_v7();
    let later = Instant::now() + Duration::from_secs(10);
    assert!(matches!(
        g.admit(e, Some(later), false),
        Admission::Defer(_, DeferReason::CircuitOpen)
    ));
    let other = Uuid::now_v7();
    let p = now(g.admit(other, None, false));
    p.finish(Verdict::Failure {
        overload: true,
        retry_after: Some(Duration::from_secs(600)),
    });
    match g.admit(other, None, false) {
        Admission::Defer(d, DeferReason::RetryAfter) => {
            assert!(
                d <= Duration::from_secs(60),
                "bounded by max_retry_after: {d:?}"
            )
        }
        _ => panic!("a Retry-After pauses the endpoint"),
    }
    // The longest pause an endpoint can name, before its first attempt too.
    let greedy = Uuid::now_v7();
    let p = now(g.admit(greedy, None, false));
    p.finish(Verdict::Failure {
        overload: false,
        retry_after: Some(Duration::from_secs(u64::MAX)),
    });
    match g.admit_first(greedy, None) {
        Room::Closed(d, DeferReason::RetryAfter) => assert!(d <= Duration::from_secs(60), "{d:?}"),
        _ => panic!("the fan-out defers behind a Retry-After"),
    }
}

#[test]
fn successes_grow_the_limit_back() {
    let g = gate(4);
    let e = Uuid::now_v7();
    for _ in 0..3 {
        now(g.admit(e, None, false)).finish(TIMEOUT);
    }
    assert_eq!(g.endpoints.lock().unwrap()[&e].limit, 1.0);
    // Close the breaker the successes will find open.
    g.endpoints.lock().unwrap().get_mut(&e).unwrap().circuit = Circuit::Closed;
    for _ in 0..20 {
        now(g.admit(e, None, false)).finish(Verdict::Success);
    }
    assert_eq!(g.endpoints.lock().unwrap()[&e].limit, 4.0);
}

#[test]
fn the_fan_out_queues_a_full_endpoints_task_without_counting_it_as_backlog() {
    let g = gate(1);
    let e = Uuid::now_v7();
    let _busy = now(g.admit(e, None, false));
    assert!(matches!(g.admit_first(e, None), Room::Full));
    let endpoints = g.endpoints.lock().unwrap();
    assert_eq!(endpoints[&e].waiting, 0);
    assert_eq!(endpoints[&e].deferred, 0.0);
}
