//! `hookline-delivery`: a delivery worker. Run as many as the load needs; they compete for the queues.

use std::path::PathBuf;

use clap::Parser;
use hookline_common::config::Settings;
use hookline_common::{db, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "hookline-delivery",
    version,
    about = "Hookline delivery worker"
)]
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
    let stop = shutdown::on_signal();
    let Some(pool) = db::connect_with_retry(&settings.database, &stop).await else {
        return Ok(());
    };
    let worker = hookline_delivery::Delivery::build(&settings, pool).await?;
    tracing::info!(http = %worker.ops_addr(), "delivery worker starting");
    Ok(worker.run_until_stopped(stop).await?)
}
