//! `latchkey guest-code`: offline guest codes (format in `docs/guest-codes.md`).
//!
//! - `keygen` writes a fresh lock root-secret file and an issuer file derived from it;
//! - `mint` makes a code from an issuer file, with no network;
//! - `verify` checks codes read on standard input as a lock would (statelessly).
//!
//! All the format's logic lives in `latchkey-guest-code`; this module parses arguments, reads
//! and writes files, and prints.

use std::fs;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use latchkey_guest_code::file::{IssuerFile, SecretFile, SlotEpoch, to_hex};
use latchkey_guest_code::{
    Check, HOUR, ISSUER_SLOTS, LEAD_HOURS, MAX_HOURS, MAX_LOCK_ID, MintError, RootSecret, Timing, Validity, check,
    mint, timing,
};

/// File name of the lock secret written by `keygen`.
const SECRET_FILE: &str = "lock-secret.json";
/// File name of the issuer file written by `keygen`.
const ISSUER_FILE: &str = "issuer.json";

/// Offline guest codes: make a lock secret, mint codes, check codes as a lock would.
#[derive(Args)]
pub struct GuestCodeArgs {
    #[command(subcommand)]
    command: GuestCodeCommand,
}

#[derive(Subcommand)]
enum GuestCodeCommand {
    Keygen(KeygenArgs),
    Mint(MintArgs),
    Verify(VerifyArgs),
}

/// Write a fresh lock root-secret file and an issuer file derived from it (for lock makers
/// and tests; the server makes its own at pairing).
///
/// Writes DIR/lock-secret.json (root secret from the operating system's random source; slot 0
/// and the chosen slot active) and DIR/issuer.json (the chosen slot's issuer key, lock_id
/// null), both readable by the owner only, and prints their paths.
#[derive(Args)]
struct KeygenArgs {
    /// Folder to write the two files into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Issuer slot of the issuer file: 0 is the server, 1 to 7 Admin devices.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..ISSUER_SLOTS as i64))]
    slot: u8,
    /// Epoch of that slot.
    #[arg(long, default_value_t = 1)]
    epoch: u32,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// Mint a guest code from an issuer file, offline.
///
/// Prints the 12-digit code alone on the first line, then the window it carries (the given
/// window rounded out to whole UTC hours, at most 168 hours) and how to enter it.
#[derive(Args)]
struct MintArgs {
    /// Issuer file (format latchkey-issuer/1).
    #[arg(long, value_name = "FILE")]
    issuer_file: PathBuf,
    /// The lock's id (may be left out when the issuer file names the lock).
    #[arg(long = "lock", value_name = "LOCK_ID", value_parser = parse_lock_id)]
    lock: Option<String>,
    /// Start of the guest's window, an RFC 3339 instant (e.g. 2025-03-01T15:00:00+01:00).
    #[arg(long, value_name = "T", value_parser = parse_instant)]
    start: Timestamp,
    /// End of the guest's window (exclusive), an RFC 3339 instant.
    #[arg(long, value_name = "T", value_parser = parse_instant)]
    end: Timestamp,
    /// The lock accepts the code once.
    #[arg(long)]
    one_time: bool,
}

/// Check codes as a lock would: one code a line on standard input, one verdict a line out.
///
/// Verdicts: `granted slot=N start=T end=T one_time=B`, `granted slot=N held serial=S
/// one_time=B` (a held code: a real lock also needs its synced record), or `denied REASON`
/// with REASON one of unknown-credential, not-yet-valid, expired, revoked. Empty or malformed
/// lines are `denied unknown-credential`. Stateless: one-time uses are not recorded, and there
/// are no deny entries, synced records or lockout.
#[derive(Args)]
struct VerifyArgs {
    /// Lock secret file (format latchkey-lock-secret/1).
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// The lock's id.
    #[arg(long = "lock", value_name = "LOCK_ID", value_parser = parse_lock_id)]
    lock: String,
    /// The lock's clock, an RFC 3339 instant.
    #[arg(long, value_name = "T", value_parser = parse_instant)]
    at: Timestamp,
}

fn parse_instant(s: &str) -> Result<Timestamp, String> {
    s.parse::<Timestamp>()
        .map_err(|e| format!("expected an RFC 3339 instant with an offset, like 2025-03-01T10:00:00Z ({e})"))
}

fn parse_lock_id(s: &str) -> Result<String, String> {
    if s.len() > MAX_LOCK_ID {
        Err(format!("a lock id is at most {MAX_LOCK_ID} bytes"))
    } else {
        Ok(s.to_string())
    }
}

/// Runs a `guest-code` subcommand.
///
/// A failure is reported here, as one line on standard error (`error: ...`, the causes joined
/// with `: `, never a backtrace), and ends the process with status 1: these are tools for
/// scripts and for people at a terminal, and the message is the whole story.
pub fn run(args: GuestCodeArgs) -> Result<()> {
    let result = match args.command {
        GuestCodeCommand::Keygen(a) => keygen(a),
        GuestCodeCommand::Mint(a) => mint_code(a),
        GuestCodeCommand::Verify(a) => verify(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// An instant as RFC 3339 in UTC, or `@SECONDS` past the range of dates (year 9999).
fn instant(secs: i64) -> String {
    match Timestamp::from_second(secs) {
        Ok(t) => t.to_string(),
        Err(_) => format!("@{secs}"),
    }
}

fn read(path: &Path, what: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn keygen(a: KeygenArgs) -> Result<()> {
    let secret_path = a.out.join(SECRET_FILE);
    let issuer_path = a.out.join(ISSUER_FILE);
    if !a.force {
        for p in [&secret_path, &issuer_path] {
            if p.exists() {
                bail!("{} already exists; pass --force to overwrite it", p.display());
            }
        }
    }
    create_private_dir(&a.out)?;

    let mut secret = [0u8; 32];
    let mut id = [0u8; 8];
    getrandom::fill(&mut secret)
        .and_then(|()| getrandom::fill(&mut id))
        .map_err(|e| anyhow!("the operating system's random source failed: {e}"))?;
    let mut issuers = Vec::new();
    if a.slot != 0 {
        issuers.push(SlotEpoch { slot: 0, epoch: 1 });
    }
    issuers.push(SlotEpoch {
        slot: a.slot,
        epoch: a.epoch,
    });
    let lock = SecretFile {
        secret: RootSecret(secret),
        issuers,
        revoked: Vec::new(),
    };
    let issuer = lock
        .issuer_file(a.slot, &format!("keygen-{}", to_hex(&id)), None)
        .context("the chosen slot is not in the issuer table")?;

    write_private(&secret_path, &lock.to_json())?;
    write_private(&issuer_path, &issuer.to_json())?;
    println!("{}", secret_path.display());
    println!("{}", issuer_path.display());
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a file readable and writable by its owner only (0600), replacing any old content.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let ctx = || format!("writing {}", path.display());
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(ctx)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An existing file keeps its mode on open; make it private too.
        f.set_permissions(fs::Permissions::from_mode(0o600)).with_context(ctx)?;
    }
    f.write_all(text.as_bytes()).with_context(ctx)?;
    f.sync_all().with_context(ctx)
}

fn mint_code(a: MintArgs) -> Result<()> {
    let text = read(&a.issuer_file, "issuer file")?;
    let issuer = IssuerFile::parse(&text).map_err(|e| anyhow!("{}: {e}", a.issuer_file.display()))?;
    let lock = match (a.lock, issuer.lock_id) {
        (Some(given), Some(named)) if given != named => {
            bail!("the issuer file is for lock {named:?}, not {given:?}")
        }
        (Some(lock), _) | (None, Some(lock)) => lock,
        (None, None) => bail!("the issuer file names no lock: pass --lock LOCK_ID"),
    };
    let (start, end) = (a.start.as_second(), a.end.as_second());
    if end <= start {
        bail!("--end ({}) must be after --start ({})", a.end, a.start);
    }
    let validity = Validity::covering(start, end).map_err(|e| match e {
        MintError::BadLength => {
            let hours = (end - start.div_euclid(HOUR) * HOUR + HOUR - 1) / HOUR;
            anyhow!(
                "the window is {hours} hours once rounded out to whole hours; a guest code carries at \
                 most {MAX_HOURS} hours (7 days): longer stays need a key the lock holds, made by the server"
            )
        }
        MintError::StartOutOfRange => anyhow!("--start must not be before 1970-01-01T00:00:00Z"),
        other => anyhow!("{other}"),
    })?;
    let code = mint(
        &issuer.key,
        lock.as_bytes(),
        issuer.slot,
        issuer.epoch,
        validity,
        a.one_time,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let (from, to) = validity.window_secs().context("a window code has a window")?;

    println!("{code}");
    let rounded = if (from, to) == (start, end) {
        ""
    } else {
        ", rounded out to whole hours"
    };
    println!(
        "valid from {} to {} (UTC, {} h{rounded})",
        instant(from),
        instant(to),
        (to - from) / HOUR
    );
    println!(
        "one-time: {}; lock {lock:?}; issuer slot {} epoch {}",
        if a.one_time { "yes" } else { "no" },
        issuer.slot,
        issuer.epoch
    );
    println!("enter on the keypad: the 12 digits, then #");

    let now = Timestamp::now().as_second();
    if to <= now {
        eprintln!("warning: this window has already ended");
    } else if from - i64::from(LEAD_HOURS) * HOUR > now {
        eprintln!(
            "note: until {} a lock answers \"unknown credential\" for this code (it recognises codes \
             at most {LEAD_HOURS} hours ahead); it works inside its window",
            instant(from - i64::from(LEAD_HOURS) * HOUR)
        );
    }
    Ok(())
}

fn verify(a: VerifyArgs) -> Result<()> {
    let text = read(&a.secret_file, "lock secret file")?;
    let secret = SecretFile::parse(&text).map_err(|e| anyhow!("{}: {e}", a.secret_file.display()))?;
    let issuers = secret.issuer_states();
    let now = a.at.as_second();
    let lock = a.lock.as_bytes();

    let mut input = io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::with_capacity(64);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).context("reading standard input")? == 0 {
            break;
        }
        let entry = line.trim_ascii();
        let entry = entry.strip_suffix(b"#").unwrap_or(entry).trim_ascii_end();
        write_verdict(&mut out, check(entry, lock, &issuers, now), now).context("writing standard output")?;
    }
    out.flush().context("writing standard output")
}

fn write_verdict(out: &mut impl Write, c: Check, now: i64) -> io::Result<()> {
    match c {
        Check::Unknown => out.write_all(b"denied unknown-credential\n"),
        Check::Revoked { .. } => out.write_all(b"denied revoked\n"),
        Check::Genuine {
            slot,
            validity,
            one_time,
            ..
        } => match (validity, timing(validity, now)) {
            (Validity::Held { serial }, _) => {
                writeln!(out, "granted slot={slot} held serial={serial} one_time={one_time}")
            }
            (_, Timing::NotYetValid) => out.write_all(b"denied not-yet-valid\n"),
            (_, Timing::Expired) => out.write_all(b"denied expired\n"),
            (v, Timing::Valid) => {
                let (start, end) = v.window_secs().unwrap_or((0, 0));
                writeln!(
                    out,
                    "granted slot={slot} start={} end={} one_time={one_time}",
                    instant(start),
                    instant(end)
                )
            }
        },
    }
}
