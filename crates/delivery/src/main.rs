//! `hookline-delivery`: a delivery worker. Run as many as the load needs; they compete for the queues.

use clap::Parser;
use hookline_common::cli::ConfigArgs;
use hookline_common::{db, shutdown};

#[derive(Parser)]
#[command(
    name = "hookline-delivery",
    version,
    about = "Hookline delivery worker"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.config.load()?;
    let stop = shutdown::on_signal();
    let Some(pool) = db::connect_with_retry(&settings.database, &stop).await else {
        return Ok(());
    };
    let worker = hookline_delivery::Delivery::build(&settings, pool).await?;
    tracing::info!(http = %worker.ops_addr(), "delivery worker starting");
    Ok(worker.run_until_stopped(stop).await?)
}
