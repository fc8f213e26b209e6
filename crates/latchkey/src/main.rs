//! `latchkey`: the one binary. The server, the virtual lock, the offline guest-code tools and
//! the command-line client are subcommands; each lives in its own library crate or module and
//! this file only parses arguments.

mod cli;
mod guest_code;
mod up;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Latchkey: self-hostable access platform for smart door locks.
#[derive(Parser)]
#[command(name = "latchkey", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API, web app, SMS worker and the lock gateway.
    Serve(latchkey_server::config::ServeArgs),
    /// The quick start: the server on the embedded defaults with a paired virtual lock, and
    /// directions for signing in.
    Up(up::UpArgs),
    /// Offline guest codes: make a lock secret, mint codes, check codes as a lock would.
    GuestCode(guest_code::GuestCodeArgs),
    /// The server's load tool: starts its own server and virtual lock on loopback and prints
    /// each figure beside a ceiling measured in the same run.
    Bench(latchkey_bench::BenchArgs),
    /// The virtual lock: lock-core behind a keypad on a loopback control port.
    Lock(LockArgs),
    /// The command-line client (`cli/`): login, locks, members, invite, guest-key, unlock,
    /// events, logout.
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
struct LockArgs {
    #[command(subcommand)]
    command: LockCommand,
}

#[derive(Subcommand)]
enum LockCommand {
    /// Run one virtual lock.
    Run(latchkey_vlock::RunArgs),
}

fn main() -> anyhow::Result<()> {
    let matches = cli::help::grouped(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(args) => {
            let config = latchkey_server::config::Config::resolve(&args)?;
            init_logging(&config.log);
            runtime()?.block_on(latchkey_server::app::serve(config, |_| {}))
        }
        Command::Up(args) => {
            let config = latchkey_server::config::Config::resolve(&args.serve)?;
            init_logging(&config.log);
            runtime()?.block_on(up::run(args, config))
        }
        Command::GuestCode(args) => guest_code::run(args),
        Command::Bench(args) => {
            // The servers it stops leave their locks' last messages behind: only errors.
            init_logging("error");
            runtime()?.block_on(latchkey_bench::run(args))
        }
        Command::Lock(LockArgs {
            command: LockCommand::Run(args),
        }) => {
            init_logging("info");
            runtime()?.block_on(latchkey_vlock::run(args))
        }
        Command::Client(command) => std::process::exit(cli::run(command)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Logs go to stderr in `tracing`'s compact format; `RUST_LOG` overrides the configured filter.
fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let filter =
        tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}
