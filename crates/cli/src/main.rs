//! `hookline`: the command line for developers and SREs. It talks gRPC to the registry and ingest with a
//! bearer token, prints tables (or `--output json` for scripts), and runs a local signature-checking
//! receiver (`hookline listen`). Errors exit non-zero with a one-line reason.

#![forbid(unsafe_code)]

mod client;
mod console;
mod deliveries;
mod events;
mod listen;
mod output;
mod token;
mod webhooks;

use clap::{Parser, Subcommand};

use crate::client::Connection;
use crate::output::Format;

#[derive(Parser)]
#[command(name = "hookline", version, about = "Hookline command line")]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value = "table")]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register, inspect, change and test webhooks.
    #[command(subcommand)]
    Webhooks(webhooks::Command),
    /// Publish events.
    #[command(subcommand)]
    Events(events::Command),
    /// The delivery log: list, inspect, redeliver.
    #[command(subcommand)]
    Deliveries(deliveries::DeliveriesCommand),
    /// Dead letters: list and replay.
    #[command(subcommand)]
    Dlq(deliveries::DlqCommand),
    /// Development tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The console: sign-in links.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// A local receiver that verifies each request's signature and timestamp and prints the event.
    Listen(listen::ListenArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Webhooks(c) => c.run(&cli.connection, cli.output).await,
        Command::Events(c) => c.run(&cli.connection, cli.output).await,
        Command::Deliveries(c) => c.run(&cli.connection, cli.output).await,
        Command::Dlq(c) => c.run(&cli.connection, cli.output).await,
        Command::Token(c) => c.run(),
        Command::Console(c) => c.run(),
        Command::Listen(args) => args.run().await,
    };
    if let Err(error) = result {
        eprintln!("hookline: {error:#}");
        std::process::exit(1);
    }
}
