//! `hookline-console`: serve the administrators' web screens.

use clap::Parser;
use hookline_runtime::cli::ConfigArgs;
use hookline_runtime::config::Settings;
use hookline_runtime::shutdown;

#[derive(Parser)]
#[command(name = "hookline-console", version, about = "Hookline console")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse().config.run("hookline-console", run).await
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    let console = hookline_console::Console::build(settings).await?;
    tracing::info!(http = %console.addr(), "console listening");
    Ok(console.run_until_stopped(shutdown::on_signal()).await?)
}
