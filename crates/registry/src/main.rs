//! `hookline-registry`: serve the WebhookRegistry gRPC API, or apply the database migrations.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hookline_common::config::Settings;
use hookline_common::{db, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "hookline-registry",
    version,
    about = "Hookline webhook registry"
)]
struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults and under HOOKLINE__* variables.
    #[arg(long, env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
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
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    let stop = shutdown::on_signal();
    let Some(pool) = db::connect_with_retry(&settings.database, &stop).await else {
        return Ok(());
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            hookline_registry::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let registry = hookline_registry::Registry::build(&settings, pool).await?;
            tracing::info!(grpc = %registry.grpc_addr(), http = %registry.ops_addr(), "registry listening");
            registry.run_until_stopped(stop).await?;
        }
    }
    Ok(())
}
