//! `latchkey up`: the quick start. The server on the embedded defaults, a virtual lock next to
//! it (state in the data folder), paired on first start to the owner's phone number, and a
//! welcome that says where the web app is and how to sign in. A second `up` on the same data
//! folder finds everything as it was left.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use latchkey_server::config::{Config, MqttConfig, ServeArgs, SmsKind};
use latchkey_server::domain::Error as DomainError;
use latchkey_server::domain::device::Devices;
use latchkey_server::{Parts, Server};

/// Flags of `latchkey up`: the server's, and the virtual lock's.
#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The owner's mobile number: the virtual lock is paired to this account on first start.
    #[arg(long, default_value = "+12025550123")]
    pub owner: String,
    /// The virtual lock's control port (loopback), where its keypad is.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub lock_control: SocketAddr,
    /// The virtual lock's time zone (IANA name) [default: this machine's, else UTC].
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Start the server alone, without a virtual lock.
    #[arg(long)]
    pub no_lock: bool,
}

/// The lock `up` pairs, as the welcome shows it.
struct LockInfo {
    name: String,
    control: SocketAddr,
    /// What `up` had to do about the lock's state, for the welcome.
    note: Option<String>,
}

/// Runs until SIGINT or SIGTERM; `config` is `args.serve` resolved.
pub async fn run(args: UpArgs, config: Config) -> anyhow::Result<()> {
    let outbox = config.sms.iter().find_map(|s| match s {
        SmsKind::File(p) => Some(p.display().to_string()),
        _ => None,
    });
    let public_url = config.public_url.clone();
    let broker = lock_broker(&config.mqtt);
    let state = config.data_dir.join("virtual-lock.state");
    let server = Server::start(config, Parts::default()).await?;
    let (lock, info) = if args.no_lock {
        (None, None)
    } else {
        match start_lock(&server, &args, &state, broker).await {
            Ok((handle, info)) => (Some(handle), Some(info)),
            Err(e) => {
                server.stop().await;
                return Err(e);
            }
        }
    };
    welcome(&public_url, server.addr, &args.owner, outbox.as_deref(), info.as_ref());
    latchkey_server::app::shutdown_signal().await;
    tracing::info!("shutting down");
    drop(lock);
    server.stop().await;
    Ok(())
}

/// Where a lock on this machine reaches the server's broker.
fn lock_broker(mqtt: &MqttConfig) -> (String, u16) {
    match mqtt {
        MqttConfig::Embedded(addr) if addr.ip().is_unspecified() => ("127.0.0.1".into(), addr.port()),
        MqttConfig::Embedded(addr) => (addr.ip().to_string(), addr.port()),
        MqttConfig::External { host, port } => (host.clone(), *port),
    }
}

/// Starts the virtual lock and, if it is not paired yet, pairs it to the owner.
async fn start_lock(
    server: &Server,
    args: &UpArgs,
    state: &Path,
    (broker_host, broker_port): (String, u16),
) -> anyhow::Result<(latchkey_vlock::Handle, LockInfo)> {
    let handle = latchkey_vlock::start(latchkey_vlock::Options {
        state: state.to_path_buf(),
        broker_host,
        broker_port,
        control: Some(args.lock_control),
        fake_clock: false,
        relock: Duration::from_secs(3),
    })
    .await
    .with_context(|| format!("starting the virtual lock (control port {})", args.lock_control))?;
    let control = handle.control_addr.unwrap_or(args.lock_control);
    let owner = server
        .domain
        .operator_account(&args.owner, jiff::Timestamp::now())
        .await
        .map_err(|e| anyhow::anyhow!("--owner {}: {e:?}", args.owner))?;
    let note = forget_unknown_pairing(server, &handle, state).await?;
    let Some(setup_code) = handle.setup_code() else {
        // Paired on an earlier start: show the name the server knows, if the owner may see it.
        let id = handle.lock_id().unwrap_or_default();
        let name = match server.domain.lock(&owner, &id).await {
            Ok(m) => m.lock.name,
            Err(_) => id,
        };
        return Ok((
            handle,
            LockInfo {
                name,
                control,
                note: None,
            },
        ));
    };
    let tz = args.time_zone.clone().unwrap_or_else(system_time_zone);
    // The lock subscribes to its pairing topic once its broker connection is up, and the
    // server's client connects on its own schedule; until both are up a pairing attempt finds
    // nobody, so try for a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match server
            .domain
            .pair_lock(&owner, &setup_code, "Front door", &tz, jiff::Timestamp::now())
            .await
        {
            Ok(m) => {
                tracing::info!(lock = %m.lock.id, "paired the virtual lock");
                return Ok((
                    handle,
                    LockInfo {
                        name: m.lock.name.clone(),
                        control,
                        note,
                    },
                ));
            }
            // The server's own broker connection may not be up yet either.
            Err(e @ (DomainError::Invalid(_) | DomainError::Unavailable(_)))
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(error = ?e, "the virtual lock did not answer yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e @ (DomainError::Invalid(_) | DomainError::Unavailable(_))) => {
                anyhow::bail!("the virtual lock did not answer the pairing request within 30 s: {e:?}")
            }
            Err(e) => anyhow::bail!("pairing the virtual lock: {e}"),
        }
    }
}

/// A lock state paired to a lock this database does not know (kept beside a fresh or another
/// database, or a lock unpaired while `up` was stopped) would be refused by the broker for
/// ever: the virtual lock forgets that pairing and returns to pairing, so that `up` pairs it
/// again. Returns what happened, for the welcome.
async fn forget_unknown_pairing(
    server: &Server,
    handle: &latchkey_vlock::Handle,
    state: &Path,
) -> anyhow::Result<Option<String>> {
    let Some(id) = handle.lock_id() else {
        return Ok(None);
    };
    let known = server
        .domain
        .paired_lock(&id)
        .await
        .map_err(|e| anyhow::anyhow!("looking up the virtual lock {id}: {e:?}"))?;
    if known.is_some() {
        return Ok(None);
    }
    let note = format!(
        "The virtual lock's state ({}) was paired as {id}, which this database does not know; \
         the lock was reset and paired again.",
        state.display()
    );
    tracing::warn!("{note}");
    handle.forget_pairing();
    Ok(Some(note))
}

/// This machine's IANA time zone, else UTC.
fn system_time_zone() -> String {
    jiff::tz::TimeZone::try_system()
        .ok()
        .and_then(|tz| tz.iana_name().map(str::to_string))
        .filter(|n| jiff::tz::TimeZone::get(n).is_ok())
        .unwrap_or_else(|| "UTC".into())
}

/// What a newcomer needs to start: where the web app is, how to sign in, where the lock is.
fn welcome(public_url: &str, addr: SocketAddr, owner: &str, outbox: Option<&str>, lock: Option<&LockInfo>) {
    println!();
    println!("Latchkey is running on {addr}.");
    println!("  Web app:  open {public_url}/ and sign in as the owner, {owner}.");
    match outbox {
        Some(path) => println!("            The 6-digit sign-in code appears in this terminal and in {path}."),
        None => println!("            The 6-digit sign-in code appears in this terminal."),
    }
    if let Some(lock) = lock {
        println!(
            "  Lock:     \"{}\", a virtual lock paired to {owner} (Admin); open it, then User Management.",
            lock.name
        );
        println!("            Its keypad, once you have set a PIN in the web app (274913 here):");
        println!(
            "            curl -s -XPOST http://{}/keypad -H 'content-type: application/json' -d '{{\"keys\":\"274913#\"}}'",
            lock.control
        );
        println!("            Its state: curl -s http://{}/status", lock.control);
        if let Some(note) = &lock.note {
            println!("            {note}");
        }
    }
    println!("  API:      {public_url}/api/v1 (described at {public_url}/api/v1/openapi.json)");
    println!("  Stop with Ctrl-C.");
    println!();
}
