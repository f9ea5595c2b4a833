//! `hookline-ingest`: serve the EventIngest gRPC API.

use clap::Parser;
use hookline_runtime::cli::ConfigArgs;
use hookline_runtime::config::Settings;
use hookline_runtime::shutdown;

#[derive(Parser)]
#[command(name = "hookline-ingest", version, about = "Hookline event ingest")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse().config.run("hookline-ingest", run).await
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    let ingest = hookline_ingest::Ingest::build(settings).await?;
    tracing::info!(grpc = %ingest.listeners().grpc_addr(), http = %ingest.listeners().ops_addr(), "ingest listening");
    Ok(ingest.run_until_stopped(shutdown::on_signal()).await?)
}
