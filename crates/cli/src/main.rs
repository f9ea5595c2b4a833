//! `hookline`: the command line for developers and SREs.

#![forbid(unsafe_code)]

mod token;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hookline", version, about = "Hookline command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Development tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(command) => command.run(),
    };
    if let Err(error) = result {
        eprintln!("hookline: {error:#}");
        std::process::exit(1);
    }
}
