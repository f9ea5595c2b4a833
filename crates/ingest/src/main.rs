//! `hookline-ingest`: serve the EventIngest gRPC API.

use std::path::PathBuf;

use clap::Parser;
use hookline_common::config::Settings;
use hookline_common::{shutdown, telemetry};

#[derive(Parser)]
#[command(name = "hookline-ingest", version, about = "Hookline event ingest")]
struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults and under HOOKLINE__* variables.
    #[arg(long, env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    let ingest = hookline_ingest::Ingest::build(&settings).await?;
    tracing::info!(grpc = %ingest.grpc_addr(), http = %ingest.ops_addr(), "ingest listening");
    Ok(ingest.run_until_stopped(shutdown::on_signal()).await?)
}
