//! `hookline-delivery`: a delivery worker. Run as many as the load needs; they compete for the queues.

use anyhow::Context as _;
use clap::Parser;
use hookline_runtime::cli::ConfigArgs;
use hookline_runtime::config::Settings;
use hookline_runtime::shutdown;
use hookline_store::db;

/// jemalloc instead of glibc's malloc: at saturation a third of the worker's CPU was glibc's allocator
/// and the copies around it (`make profile`, BENCHMARKS.md "Session 20"), from the many short-lived
/// allocations of each delivery (message bodies, headers, futures) freed on other threads than made them.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    // On a worker thread of the runtime, not on the main thread that `block_on` drives: there, every
    // hand-over between the stages and the tasks they spawn woke a thread that was not a worker.
    tokio::spawn(async move { cli.config.run("hookline-delivery", run).await }).await?
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    let stop = shutdown::on_signal();
    let pool = db::lazy_pool(&settings.database, db::Planning::Cached).context("database.url")?;
    let worker = hookline_delivery::Delivery::build(settings, pool).await?;
    tracing::info!(http = %worker.ops_addr(), "delivery worker starting");
    Ok(worker.run_until_stopped(stop).await?)
}
