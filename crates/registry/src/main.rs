//! `hookline-registry`: serve the WebhookRegistry gRPC API, or apply the database migrations.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hookline_runtime::cli::ConfigArgs;
use hookline_runtime::config::Settings;
use hookline_runtime::shutdown;
use hookline_store::db;

#[derive(Parser)]
#[command(
    name = "hookline-registry",
    version,
    about = "Hookline webhook registry"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    cli.config
        .run("hookline-registry", async |settings| {
            run(command, settings).await
        })
        .await
}

async fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let stop = shutdown::on_signal();
    let pool = db::lazy_pool(&settings.database, db::Planning::EachRun).context("database.url")?;
    match command {
        Command::Migrate => {
            if !db::wait_until_up(&pool, &stop).await {
                return Ok(());
            }
            hookline_store::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let registry = hookline_registry::Registry::build(settings, pool).await?;
            tracing::info!(grpc = %registry.listeners().grpc_addr(), http = %registry.listeners().ops_addr(), "registry listening");
            registry.run_until_stopped(stop).await?;
        }
    }
    Ok(())
}
