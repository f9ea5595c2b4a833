//! `hookline-otlp-sink`: an OTLP/gRPC trace receiver that only counts spans, so the benchmark can run with
//! every span exported (`make bench-traces`) without a real collector. Prints the count when stopped.

use hookline_tests::collector::Collector;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4317".to_owned());
    let sink = Collector::start_on(&addr, false).await?;
    println!("counting spans on {}", sink.endpoint());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("spans received: {}", sink.received());
    Ok(())
}
