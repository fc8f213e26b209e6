//! The command-line client: `latchkey login`, `locks`, `members`, `invite`, `guest-key`,
//! `unlock`, `events`, `logout`. A client of any Latchkey server through the public HTTP API
//! (the typed `latchkey-client`), never the server's internals. `docs/cli.md` is the manual.
//!
//! Output: tables for people on stdout, or with `--json` the API's answer exactly as the server
//! sent it; messages and errors on stderr. Exit codes: see [`exit`].

mod commands;
mod events;
pub mod help;
mod schedule;
mod session;
mod table;
mod times;

use clap::{Args, Subcommand, ValueEnum};
use latchkey_client::model::{AccessLevel, Schedule};

/// Exit codes, the same for every client command (`docs/cli.md`).
pub mod exit {
    /// Done.
    pub const OK: i32 = 0;
    /// The server said no (a problem answer), or a lock or key name matched nothing or more
    /// than one thing.
    pub const REFUSED: i32 = 1;
    /// The command line is wrong (clap's own code for usage errors), or something the command
    /// needs from you is missing (a sign-in code, the precautions confirmed).
    pub const USAGE: i32 = 2;
    /// Not signed in to this server: no stored session, a session for another server, or one
    /// the server no longer accepts.
    pub const NOT_SIGNED_IN: i32 = 3;
    /// The server could not be reached, or did not answer in time.
    pub const UNREACHABLE: i32 = 4;
}

/// The client commands, flattened into `latchkey`'s own subcommands.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Sign in to a server with a code sent to your phone by SMS, and keep the session.
    Login(LoginArgs),
    /// Sign out: end the session on the server and forget it here.
    Logout(Common),
    /// The locks you are a member of.
    Locks(Common),
    /// A lock's members, with their access level, schedule and sync state (Admins).
    Members(LockArgs),
    /// Invite someone to a lock by phone number (Admins).
    Invite(InviteArgs),
    /// Guest keys: keypad codes for a time window or for one use (Admins).
    GuestKey(GuestKeyArgs),
    /// Rental calendars: a listing's iCalendar feed whose reservations become guest keys
    /// (Admins).
    Calendar(CalendarArgs),
    /// Open a lock now, within your own rights.
    Unlock(LockArgs),
    /// A lock's activity log, oldest first (Admins); --follow prints new events as they come.
    Events(EventsArgs),
}

/// Options every client command takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// The server to talk to, e.g. https://latchkey.example.org. By default the one you signed
    /// in to; a session is only ever sent to the server that gave it.
    #[arg(long, env = "LATCHKEY_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Print the API's JSON answer as the server sent it, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Your phone number with its country code, e.g. +12025550123.
    #[arg(long)]
    pub phone: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    #[command(flatten)]
    pub common: Common,
}

/// The access level of an invitation.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Level {
    /// Any time, and manages the lock.
    Admin,
    /// Any time.
    Family,
    /// Within a weekly schedule (needs --schedule).
    #[value(alias = "recurring_guest")]
    RecurringGuest,
}

impl From<Level> for AccessLevel {
    fn from(l: Level) -> AccessLevel {
        match l {
            Level::Admin => AccessLevel::Admin,
            Level::Family => AccessLevel::Family,
            Level::RecurringGuest => AccessLevel::RecurringGuest,
        }
    }
}

#[derive(Args, Debug)]
#[command(after_long_help = SCHEDULE_HELP)]
pub struct InviteArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The invitee's phone number with its country code; the invitation goes there by SMS.
    #[arg(value_name = "PHONE")]
    pub phone: String,
    /// The access level to give.
    #[arg(long, value_enum)]
    pub level: Level,
    /// When a Recurring Guest may enter, in the lock's local time, e.g. "mon-fri 09:00-17:00"
    /// (see below).
    #[arg(long, value_parser = schedule::parse)]
    pub schedule: Option<Schedule>,
    #[command(flatten)]
    pub common: Common,
}

const SCHEDULE_HELP: &str = "\
Schedules (--schedule), in the lock's local time:
  One or more windows and at most one date range, separated by ';'.
  A window is days then times:  mon-fri 09:00-17:00
  Days: mon tue wed thu fri sat sun (or full names), lists (mon,wed,fri), ranges that may
  wrap through the week (fri-mon), or daily, weekdays, weekends.
  A window whose end is before its start runs past midnight: fri,sat 22:00-02:00.
  A date range gives the first and last day, inclusive; either side may be left out:
  2027-01-01..2027-06-30, 2027-05-01.., ..2027-03-31.
  Example: \"mon-fri 09:00-17:00; sat 10:00-14:00; 2027-01-01..2027-06-30\"";

#[derive(Args, Debug)]
pub struct GuestKeyArgs {
    #[command(subcommand)]
    pub command: GuestKeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum GuestKeyCommand {
    /// Make a guest key and show its code; texts it to --phone when given.
    Create(CreateKeyArgs),
    /// A lock's guest keys, with their status and code.
    List(LockArgs),
    /// Revoke a guest key: the lock stops it as soon as it hears of it.
    Revoke(RevokeKeyArgs),
    /// Give a guest key a later end (a new code when the old one cannot cover it).
    Extend(ExtendKeyArgs),
    /// Text a guest key's code to its phone number again.
    Resend(RevokeKeyArgs),
}

/// What the Admin confirms before a guest key is made (`spec/product.md`), as a literal so
/// that `--help` can carry it too.
macro_rules! precautions {
    () => {
        "\
Before you make a guest key:
  - Anyone who has the code can open the door between its start and its end.
    Share it only with your guest.
  - The code works on the lock's keypad followed by #, even when the lock is offline.
  - A one-time code stops working after its first use.
  - Revoking the key stops it on the lock as soon as the lock hears of it
    (at once for codes the lock already knows)."
    };
}

pub const PRECAUTIONS: &str = precautions!();

#[derive(Args, Debug)]
#[command(after_long_help = KEY_HELP)]
pub struct CreateKeyArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The guest's name, as the activity log will show it.
    #[arg(long)]
    pub name: String,
    /// When the code starts to work (see Times below).
    #[arg(long, value_name = "T", value_parser = time_arg)]
    pub start: Option<String>,
    /// When the code stops working.
    #[arg(long, value_name = "T", value_parser = time_arg)]
    pub end: Option<String>,
    /// The code opens the door once. Without --start and --end it works from now for 24 hours.
    #[arg(long)]
    pub one_time: bool,
    /// Text the code to this phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// You have read the precautions (below); needed when not on a terminal.
    #[arg(long)]
    pub accept_precautions: bool,
    #[command(flatten)]
    pub common: Common,
}

const KEY_HELP: &str = concat!(
    "\
Times (--start, --end):
  2027-07-01T15:00:00+02:00   an instant with its offset (RFC 3339)
  2027-07-01T15:00            the lock's local wall-clock time (the server reads it in the
                              lock's time zone)
  now, +90m, +2h, +1d12h      now, or that long from now (this computer's clock)

",
    precautions!(),
    "
On a terminal you are asked to confirm these; scripts pass --accept-precautions."
);

fn time_arg(text: &str) -> Result<String, String> {
    times::parse_arg(text, jiff::Timestamp::now())
}

#[derive(Args, Debug)]
pub struct RevokeKeyArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The guest key: its id, or the name of a key that is scheduled or active.
    #[arg(value_name = "KEY")]
    pub key: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
#[command(after_long_help = KEY_HELP)]
pub struct ExtendKeyArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The guest key: its id, or the name of a key that is scheduled or active.
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The new end, later than the current one (see Times below).
    #[arg(long, value_name = "T", value_parser = time_arg)]
    pub end: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct CalendarArgs {
    #[command(subcommand)]
    pub command: CalendarCommand,
}

#[derive(Subcommand, Debug)]
pub enum CalendarCommand {
    /// Subscribe a lock to a listing's calendar export; it is read at once and every 15
    /// minutes, each reservation becoming a guest key from check-in to check-out.
    Add(AddCalendarArgs),
    /// A lock's calendars with their last read, last error and reservations.
    List(LockArgs),
    /// Read a calendar now.
    Sync(CalendarRefArgs),
    /// Delete a calendar; its keys that have not ended are revoked.
    Remove(CalendarRefArgs),
}

#[derive(Args, Debug)]
pub struct AddCalendarArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The listing's iCalendar export URL (http or https).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Check-in time at the lock, e.g. 15:00.
    #[arg(long, value_name = "HH:MM")]
    pub check_in: String,
    /// Check-out time at the lock, e.g. 11:00.
    #[arg(long, value_name = "HH:MM")]
    pub check_out: String,
    /// A name for the listing (default: the URL's host).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct CalendarRefArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// The calendar: its id, or its name (any case).
    #[arg(value_name = "CALENDAR")]
    pub calendar: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The lock: its id, or its name (any case).
    #[arg(value_name = "LOCK")]
    pub lock: String,
    /// How many of the newest events to show (the server gives at most 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Only events older than this event id (paging back).
    #[arg(long, value_name = "EVENT_ID", conflicts_with = "follow")]
    pub before: Option<String>,
    /// Keep running and print new events as they come, until Ctrl-C. With --json: one event
    /// object a line.
    #[arg(long, short)]
    pub follow: bool,
    /// How often --follow asks the server, in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", requires = "follow")]
    pub interval: f64,
    #[command(flatten)]
    pub common: Common,
}

/// Why a command stopped, and the exit code that says so.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    /// Printed on stderr after `error: `; empty for a quiet exit.
    pub message: String,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

/// Runs one client command and returns the process's exit code.
pub fn run(cmd: ClientCommand) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::REFUSED;
        }
    };
    match rt.block_on(commands::dispatch(cmd)) {
        Ok(()) => exit::OK,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("error: {}", f.message);
            }
            f.code
        }
    }
}
