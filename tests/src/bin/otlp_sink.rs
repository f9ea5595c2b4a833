//! `hookline-otlp-sink`: an OTLP/gRPC trace receiver, so the benchmark can run with every span exported
//! (`make bench-traces`) without a real collector. Prints the count when stopped.
//!
//! `hookline-otlp-sink ADDR slowest=N` also keeps every span and, when stopped, prints the N slowest
//! traces span by span (offset from the trace's start, duration, service, name): the tool for finding
//! which hop a latency tail sits in.

use std::collections::HashMap;

use hookline_tests::collector::{CollectedSpan, Collector};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:4317".to_owned());
    let slowest: Option<usize> = args
        .find_map(|a| a.strip_prefix("slowest=").map(str::to_owned))
        .map(|n| n.parse())
        .transpose()?;
    let sink = Collector::start_on(&addr, slowest.is_some()).await?;
    println!("counting spans on {}", sink.endpoint());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("spans received: {}", sink.received());
    if let Some(n) = slowest {
        print_slowest(sink.all(), n);
    }
    Ok(())
}

/// Prints the `n` traces with the longest span from first start to last end.
fn print_slowest(spans: Vec<CollectedSpan>, n: usize) {
    let mut traces: HashMap<String, Vec<CollectedSpan>> = HashMap::new();
    for span in spans {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    let extent = |spans: &[CollectedSpan]| {
        let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(0);
        (start, end)
    };
    let mut ranked: Vec<(u64, u64, Vec<CollectedSpan>)> = traces
        .into_values()
        .map(|spans| {
            let (start, end) = extent(&spans);
            (end.saturating_sub(start), start, spans)
        })
        .collect();
    let mut durations: Vec<u64> = ranked.iter().map(|(d, _, _)| *d).collect();
    durations.sort_unstable();
    let quantile = |q: f64| {
        durations
            .get(((durations.len() as f64 * q) as usize).min(durations.len().saturating_sub(1)))
            .map_or(0.0, |d| *d as f64 / 1e6)
    };
    println!(
        "{} traces; extent p50 {:.1} ms, p99 {:.1} ms",
        durations.len(),
        quantile(0.5),
        quantile(0.99)
    );
    print_typical(&ranked);
    ranked.sort_unstable_by_key(|(duration, _, _)| std::cmp::Reverse(*duration));
    for (duration, start, mut spans) in ranked.into_iter().take(n) {
        println!(
            "trace {:.1} ms, started at {:.3} s",
            duration as f64 / 1e6,
            (start % 100_000_000_000) as f64 / 1e9
        );
        spans.sort_unstable_by_key(|s| s.start_unix_nano);
        for s in spans {
            println!(
                "  +{:8.2} ms {:8.2} ms  {:<16} {}",
                s.start_unix_nano.saturating_sub(start) as f64 / 1e6,
                s.end_unix_nano.saturating_sub(s.start_unix_nano) as f64 / 1e6,
                s.service,
                s.name
            );
        }
    }
}

/// Prints, for the traces of the most common shape, each span's median offset and median duration.
fn print_typical(traces: &[(u64, u64, Vec<CollectedSpan>)]) {
    let Some(shape) = traces.iter().map(|(_, _, spans)| spans.len()).max() else {
        return;
    };
    let mut offsets = vec![Vec::new(); shape];
    let mut durations = vec![Vec::new(); shape];
    let mut names = vec![String::new(); shape];
    for (_, start, spans) in traces.iter().filter(|(_, _, s)| s.len() == shape) {
        let mut spans: Vec<&CollectedSpan> = spans.iter().collect();
        spans.sort_unstable_by_key(|s| s.start_unix_nano);
        for (i, s) in spans.iter().enumerate() {
            offsets[i].push(s.start_unix_nano.saturating_sub(*start));
            durations[i].push(s.end_unix_nano.saturating_sub(s.start_unix_nano));
            names[i].clone_from(&s.name);
        }
    }
    let median = |values: &mut Vec<u64>| {
        values.sort_unstable();
        values
            .get(values.len() / 2)
            .map_or(0.0, |v| *v as f64 / 1e6)
    };
    println!("median trace of {shape} spans:");
    for i in 0..shape {
        println!(
            "  +{:8.2} ms {:8.2} ms  {}",
            median(&mut offsets[i]),
            median(&mut durations[i]),
            names[i]
        );
    }
}
