//! Latchkey guest codes, format version 1: minting and verification.
//!
//! A guest code is 12 decimal digits that a lock verifies by itself with a secret it shares with
//! the issuer (the server or an Admin's device). The format is specified in
//! `docs/guest-codes.md`; this crate is the reference implementation, shared by the lock core
//! (verification), the server and the CLI (minting).
//!
//! `no_std`, no allocation. Time is always a parameter (Unix seconds, UTC).
//!
//! API CONTRACT (agreed between crates; bodies are being written):
#![no_std]

/// Number of digits in a version-1 guest code.
pub const CODE_DIGITS: usize = 12;
/// Number of issuer slots on a lock (slot 0 is the server, 1..=7 are Admin devices).
pub const ISSUER_SLOTS: usize = 8;
/// Longest window an offline code can carry, in hours.
pub const MAX_HOURS: u16 = 168;
/// Longest lock id accepted, in bytes.
pub const MAX_LOCK_ID: usize = 64;

/// A lock's root secret (32 random bytes). Only the server and the lock hold it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RootSecret(pub [u8; 32]);

/// An issuer key, derived from the root secret for one slot and epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IssuerKey(pub [u8; 32]);

impl RootSecret {
    /// Derives the issuer key for `slot` at `epoch` (see docs/guest-codes.md, "Keys").
    pub fn issuer_key(&self, slot: u8, epoch: u32) -> IssuerKey {
        let _ = (slot, epoch);
        todo!()
    }
}

/// The 12 ASCII digits of a code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Code(pub [u8; CODE_DIGITS]);

impl Code {
    /// The code as a number below 10^12: a compact identity for used-code tables and deny
    /// entries.
    pub fn as_u64(&self) -> u64 {
        todo!()
    }
}

/// What an issuer asks for when minting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// A window checked offline: absolute start hour (Unix seconds / 3600) and length in hours
    /// (1..=MAX_HOURS).
    Window { start_hour: u32, hours: u16 },
    /// A key the lock only accepts once it holds a synced record of it (any length); `serial`
    /// makes such codes distinct.
    Held { serial: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MintError {
    SlotOutOfRange,
    LockIdTooLong,
    /// hours == 0 or > MAX_HOURS
    BadLength,
    SerialOutOfRange,
}

/// Mints a code.
pub fn mint(
    key: &IssuerKey,
    lock_id: &[u8],
    slot: u8,
    epoch: u32,
    validity: Validity,
    one_time: bool,
) -> Result<Code, MintError> {
    let _ = (key, lock_id, slot, epoch, validity, one_time);
    todo!()
}

/// The lock's view of one issuer slot.
#[derive(Clone, Copy)]
pub struct IssuerState {
    pub epoch: u32,
    /// `None` for a slot that is not in use.
    pub key: Option<IssuerKey>,
    /// The key of the previous epoch (or of the disabled issuer), kept so that codes it made
    /// are reported as revoked rather than unknown.
    pub revoked_key: Option<IssuerKey>,
    pub revoked_epoch: u32,
}

/// The outcome of checking an entry against the issuers of a lock, before any lock-held state
/// (deny entries, records, used one-time codes) is consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not a guest code at all, or its MAC does not match: a forged or mistyped code.
    Unknown,
    /// A genuine code made by a revoked key or epoch.
    Revoked { slot: u8 },
    /// A genuine code; `validity` as minted, with the absolute start hour reconstructed.
    Genuine { slot: u8, validity: Validity, one_time: bool, code: Code },
}

/// Checks 12 digits: parses, reconstructs the absolute start hour nearest to `now` (Unix
/// seconds), computes one HMAC (two when the first fails and a revoked key exists for the slot)
/// and compares in constant time. Never panics on any input.
pub fn check(entry: &[u8], lock_id: &[u8], issuers: &[IssuerState; ISSUER_SLOTS], now: i64) -> Check {
    let _ = (entry, lock_id, issuers, now);
    todo!()
}

/// Where `now` falls relative to a genuine code's own (hour-granular) window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    NotYetValid,
    Valid,
    Expired,
}

/// Compares `now` (Unix seconds) with a `Validity::Window`; `Held` codes have no window of their
/// own and always answer `Valid` (the lock's record decides).
pub fn timing(validity: Validity, now: i64) -> Timing {
    let _ = (validity, now);
    todo!()
}
