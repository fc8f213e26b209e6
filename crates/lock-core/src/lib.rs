//! Latchkey lock core: the library inside a lock that decides, at the door and with no network,
//! whether a keypad entry or a remote command opens it.
//!
//! `no_std`, no heap allocation, capacities as compile-time parameters. Time is always a
//! parameter (`now`, UTC Unix seconds); the core never reads a clock. Denials are values
//! ([`Decision::Deny`]), not errors. See `docs/lock-core.md` for the model, the time semantics,
//! the lockout, guest-code bookkeeping, the journal, the persisted format and the host rules.
//!
//! The host's loop, in short:
//! - at start-up: [`Lock::restore`] (or [`Lock::new`] for a fresh lock), then
//!   [`Lock::power_on`];
//! - feed key presses to [`Lock::press`] and remote commands to [`Lock::decide`]; on a grant
//!   with `persist_first`, save and see the save succeed **before** moving the bolt;
//! - apply sync batches with [`Lock::apply`], save, then acknowledge [`Lock::applied_version`];
//! - upload [`Lock::events`] with [`Lock::journal_stats`], then [`Lock::ack`] what the server
//!   confirmed;
//! - save whenever [`Lock::is_dirty`] says so.
#![no_std]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod journal;
mod lock;
mod lockout;
mod model;
mod persist;
mod sync;
mod time;

#[cfg(feature = "std")]
mod host;

pub use journal::{Event, EventKind, JournalIter, JournalStats};
pub use latchkey_guest_code::{CODE_DIGITS, ISSUER_SLOTS, MAX_LOCK_ID, RootSecret};
pub use lock::{Counts, IdentityError, IssuerConfig, KEYPAD_BUFFER, Lock};
pub use lockout::LockoutStatus;
pub use model::{
    Credential, Decision, DenyEntry, GuestRecord, Input, Key, MAX_WINDOWS, MINUTES_PER_DAY, Method, PIN_MAX_DIGITS,
    PIN_MIN_DIGITS, Pin, Reason, Schedule, Settings, Subject, UserId, UserKind, UserRecord, Window,
};
pub use persist::{FORMAT_VERSION, MAGIC, OLDEST_FORMAT_VERSION, RestoreError, SaveError, crc32};
pub use sync::{ApplyError, ApplyErrorKind, Change};
pub use time::{
    LocalDate, MAX_OFFSET_SECS, OFFSET_CAPACITY, OffsetEntry, OffsetTable, OffsetTableError, TimeCause, TimeState,
};

#[cfg(feature = "std")]
pub use host::LoadError;

/// Users the standard lock holds.
pub const STANDARD_USERS: usize = 1000;
/// PINs the standard lock holds.
pub const STANDARD_PINS: usize = 1000;
/// Synced guest-key records the standard lock holds. With 1,000 users (PINs, four-window
/// schedules) and a full deny table, a full snapshot still fits one protocol message (64 KiB;
/// worst case 62,379 bytes, see `docs/lock-core.md`, "Capacities").
pub const STANDARD_GUEST_KEYS: usize = 512;
/// Deny entries the standard lock holds: as many as records, so that every key the lock can
/// hold can be revoked at once.
pub const STANDARD_DENY: usize = 512;
/// Used one-time credentials the standard lock remembers: every synced record one-time and
/// used, plus as many one-time codes minted offline. Not part of a snapshot.
pub const STANDARD_USED: usize = 1024;
/// Events the standard lock journals.
pub const STANDARD_EVENTS: usize = 512;

/// The lock with the product's capacity targets: 1,000 users, 1,000 PINs, 512 guest-key
/// records, 512 deny entries, 1,024 used one-time credentials, 512 events.
pub type StandardLock =
    Lock<STANDARD_USERS, STANDARD_PINS, STANDARD_GUEST_KEYS, STANDARD_DENY, STANDARD_USED, STANDARD_EVENTS>;

const _: () = assert!(StandardLock::MAX_ENCODED_LEN <= 128 * 1024);
