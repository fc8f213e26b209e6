//! `latchkey`: the one binary. The server, the virtual lock and the offline guest-code tools
//! are subcommands; each lives in its own library crate and this file only parses arguments.

mod guest_code;

use clap::{Parser, Subcommand};

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
    /// The quick start: the server on the embedded defaults, with directions for signing in.
    Up(latchkey_server::config::ServeArgs),
    /// Offline guest codes: make a lock secret, mint codes, check codes as a lock would.
    GuestCode(guest_code::GuestCodeArgs),
    /// The virtual lock: lock-core behind a keypad on a loopback control port.
    Lock(LockArgs),
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
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = latchkey_server::config::Config::resolve(&args)?;
            init_logging(&config.log);
            runtime()?.block_on(latchkey_server::app::serve(config, |_| {}))
        }
        Command::Up(args) => {
            let config = latchkey_server::config::Config::resolve(&args)?;
            init_logging(&config.log);
            let outbox = config.sms.iter().find_map(|s| match s {
                latchkey_server::config::SmsKind::File(p) => Some(p.display().to_string()),
                _ => None,
            });
            let public = config.public_url.clone();
            runtime()?.block_on(latchkey_server::app::serve(config, move |server| {
                welcome(&public, server.addr, outbox.as_deref())
            }))
        }
        Command::GuestCode(args) => guest_code::run(args),
        Command::Lock(LockArgs {
            command: LockCommand::Run(args),
        }) => {
            init_logging("info");
            runtime()?.block_on(latchkey_vlock::run(args))
        }
    }
}

/// What a newcomer needs to start: where the web app is and how to sign in.
fn welcome(public_url: &str, addr: std::net::SocketAddr, outbox: Option<&str>) {
    println!();
    println!("Latchkey is running on {addr}.");
    println!("  Web app:  open {public_url}/ and sign in with a mobile number, e.g. +1 202 555 0123.");
    match outbox {
        Some(path) => println!("            The 6-digit sign-in code appears in this terminal and in {path}."),
        None => println!("            The 6-digit sign-in code appears in this terminal."),
    }
    println!("  API:      {public_url}/api/v1 (described at {public_url}/api/v1/openapi.json)");
    println!("  Stop with Ctrl-C.");
    println!();
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
