//! `latchkey`: the one binary. The server, the virtual lock and the offline guest-code tools
//! are subcommands; each lives in its own library crate and this file only parses arguments.

use clap::{Parser, Subcommand};

/// Latchkey: self-hostable access platform for smart door locks.
#[derive(Parser)]
#[command(name = "latchkey", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
