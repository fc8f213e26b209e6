//! Latchkey guest codes, format version 1: minting and verification.
//!
//! A guest code is 12 decimal digits that a lock verifies by itself with a secret it shares with
//! the issuer (the server or an Admin's device). The format is specified in
//! `docs/guest-codes.md`; this crate is the reference implementation, shared by the lock core
//! (verification), the server and the CLI (minting).
//!
//! `no_std`, no allocation. Time is always a parameter (Unix seconds, UTC). With the `std`
//! feature the `file` module adds the JSON files that carry issuer keys and lock secrets.
//!
//! In short: `code = F T`, six digits each. `F` packs the issuer slot, the one-time flag, the
//! window length in hours (0 for a [`Validity::Held`] key) and the start hour modulo 369 (or the
//! held serial); `T` is the first 8 bytes of an HMAC-SHA-256 over every field, the lock id and
//! the issuer's epoch, as a big-endian integer modulo 10^6. [`check`] reconstructs the absolute
//! start hour from the lock's clock and needs one HMAC per entry (two when a revoked key exists
//! for the slot and the first does not match).
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod file;

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Number of digits in a version-1 guest code.
pub const CODE_DIGITS: usize = 12;
/// Number of issuer slots on a lock (slot 0 is the server, 1..=7 are Admin devices).
pub const ISSUER_SLOTS: usize = 8;
/// Longest window an offline code can carry, in hours.
pub const MAX_HOURS: u16 = 168;
/// Longest lock id accepted, in bytes.
pub const MAX_LOCK_ID: usize = 64;

/// The version of the format this crate implements (part of every MAC and key label).
pub const FORMAT_VERSION: u8 = 1;
/// Number of residues of the start hour a code carries (start hour modulo this), and the number
/// of serials a [`Validity::Held`] code can carry per issuer, epoch and one-time flag.
pub const RESIDUES: u16 = 369;
/// Number of valid field words: `8 * 2 * 169 * 369`. A field word at or above this is not a
/// code, and [`check`] answers [`Check::Unknown`] without computing any HMAC.
pub const FIELD_WORDS: u32 = ISSUER_SLOTS as u32 * 2 * (MAX_HOURS as u32 + 1) * RESIDUES as u32;
/// How many hours before its start a window code can be checked (and reported as
/// [`Timing::NotYetValid`]): the lock reconstructs start hours up to this many hours after the
/// current hour, so a code is recognised from exactly 176 hours before its start.
pub const LEAD_HOURS: u16 = 176;
/// How many whole hours after the end of a [`MAX_HOURS`]-long window its code is still
/// reconstructed (and reported as [`Timing::Expired`]): the lock reconstructs start hours down
/// to `MAX_HOURS + GRACE_HOURS` hours before the current hour, so a code is recognised until
/// 193 hours after its start (25 h after the end of a 168-hour window, more for shorter ones).
pub const GRACE_HOURS: u16 = 24;
/// Seconds in an hour; code windows are whole UTC hours since the Unix epoch.
pub const HOUR: i64 = 3600;

/// Label of the issuer key derivation.
const KEY_LABEL: &[u8] = b"latchkey/guest-code/v1/issuer";
/// Label that starts every MAC message.
const MAC_LABEL: &[u8] = b"latchkey/guest-code/v1";
/// Hours before `now` that reconstruction reaches back: `MAX_HOURS + GRACE_HOURS`.
const BEHIND_HOURS: i64 = MAX_HOURS as i64 + GRACE_HOURS as i64;
/// Longest MAC message: label, length byte, lock id, epoch, slot, kind, start hour, hours,
/// one-time flag.
const MAX_MESSAGE: usize = MAC_LABEL.len() + 1 + MAX_LOCK_ID + 4 + 1 + 1 + 4 + 2 + 1;
/// Modulus of both six-digit halves.
const HALF: u32 = 1_000_000;

// The reconstruction range covers exactly one full cycle of residues.
const _: () = assert!(BEHIND_HOURS + 1 + LEAD_HOURS as i64 == RESIDUES as i64);
const _: () = assert!(FIELD_WORDS < HALF);

/// A lock's root secret (32 random bytes). Only the server and the lock hold it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RootSecret(pub [u8; 32]);

/// An issuer key, derived from the root secret for one slot and epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IssuerKey(pub [u8; 32]);

impl fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootSecret(..)")
    }
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuerKey(..)")
    }
}

/// HMAC-SHA-256 keyed with 32 bytes. Keys shorter than the 64-byte block are zero-padded by
/// HMAC itself, so padding here gives the same MAC without a fallible constructor.
fn hmac_with(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&block.into())
}

impl RootSecret {
    /// Derives the issuer key for `slot` at `epoch` (see docs/guest-codes.md, "Keys"):
    /// `HMAC-SHA-256(root, "latchkey/guest-code/v1/issuer" || slot || epoch as u32 BE)`.
    ///
    /// Any `slot` byte is accepted here; only slots below [`ISSUER_SLOTS`] can mint.
    pub fn issuer_key(&self, slot: u8, epoch: u32) -> IssuerKey {
        let mut mac = hmac_with(&self.0);
        mac.update(KEY_LABEL);
        mac.update(&[slot]);
        mac.update(&epoch.to_be_bytes());
        IssuerKey(mac.finalize().into_bytes().into())
    }
}

/// The 12 ASCII digits of a code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Code(pub [u8; CODE_DIGITS]);

impl Code {
    /// Parses exactly [`CODE_DIGITS`] ASCII digits; anything else (other lengths, spaces, `#`)
    /// is `None`.
    pub fn parse(entry: &[u8]) -> Option<Code> {
        let digits: [u8; CODE_DIGITS] = entry.try_into().ok()?;
        if digits.iter().all(u8::is_ascii_digit) {
            Some(Code(digits))
        } else {
            None
        }
    }

    /// The code whose [`Code::as_u64`] is `n`, zero-padded; `None` when `n >= 10^12`.
    pub fn from_u64(n: u64) -> Option<Code> {
        if n >= 1_000_000_000_000 {
            return None;
        }
        let mut digits = [b'0'; CODE_DIGITS];
        let mut rest = n;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Some(Code(digits))
    }

    /// The code as a number below 10^12: a compact identity for used-code tables and deny
    /// entries.
    ///
    /// Codes made by [`Code::parse`], [`Code::from_u64`], [`mint`] and [`check`] hold digits
    /// only; for other bytes the result is meaningless but this never panics.
    pub fn as_u64(&self) -> u64 {
        self.0.iter().fold(0u64, |acc, &b| {
            acc.wrapping_mul(10).wrapping_add(u64::from(b.wrapping_sub(b'0')))
        })
    }

    /// The field word (first six digits) and the tag (last six digits).
    fn halves(&self) -> (u32, u32) {
        let n = self.as_u64();
        ((n / HALF as u64) as u32, (n % HALF as u64) as u32)
    }

    fn from_halves(word: u32, tag: u32) -> Code {
        let mut digits = [b'0'; CODE_DIGITS];
        let (mut w, mut t) = (word, tag);
        for i in (0..6).rev() {
            digits[i] = b'0' + (w % 10) as u8;
            digits[i + 6] = b'0' + (t % 10) as u8;
            w /= 10;
            t /= 10;
        }
        Code(digits)
    }
}

impl fmt::Display for Code {
    /// The 12 digits, nothing else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            fmt::Write::write_char(f, char::from(b))?;
        }
        Ok(())
    }
}

/// What an issuer asks for when minting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// A window checked offline: absolute start hour (Unix seconds / 3600) and length in hours
    /// (1..=MAX_HOURS). Valid for Unix seconds `t` with
    /// `start_hour * 3600 <= t < (start_hour + hours) * 3600`.
    Window {
        /// Whole hours since 1970-01-01T00:00:00Z of the window's first second.
        start_hour: u32,
        /// Length in hours, 1..=[`MAX_HOURS`].
        hours: u16,
    },
    /// A key the lock only accepts once it holds a synced record of it (any length); `serial`
    /// (below [`RESIDUES`]) makes such codes distinct.
    Held {
        /// Distinguishes the held codes of one issuer, epoch and one-time flag; never reused.
        serial: u16,
    },
}

impl Validity {
    /// The shortest whole-hour window covering the Admin's `[start, end)` (Unix seconds): the
    /// start rounded down and the end rounded up to whole hours, so the code is never valid
    /// more than one hour outside `[start, end)` at either end.
    ///
    /// Errors: `end <= start` or a rounded length above [`MAX_HOURS`] is
    /// [`MintError::BadLength`]; a start before 1970 or after hour `u32::MAX` is
    /// [`MintError::StartOutOfRange`].
    pub fn covering(start: i64, end: i64) -> Result<Validity, MintError> {
        if end <= start {
            return Err(MintError::BadLength);
        }
        let start_hour = start.div_euclid(HOUR);
        let end_hour = end.div_euclid(HOUR) + i64::from(end.rem_euclid(HOUR) != 0);
        let hours = end_hour - start_hour;
        if hours > i64::from(MAX_HOURS) {
            return Err(MintError::BadLength);
        }
        let start_hour = u32::try_from(start_hour).map_err(|_| MintError::StartOutOfRange)?;
        Ok(Validity::Window {
            start_hour,
            hours: hours as u16,
        })
    }

    /// The window in Unix seconds, `[start, end)`; `None` for a held key.
    pub fn window_secs(&self) -> Option<(i64, i64)> {
        match *self {
            Validity::Window { start_hour, hours } => {
                let start = i64::from(start_hour);
                Some((start * HOUR, (start + i64::from(hours)) * HOUR))
            }
            Validity::Held { .. } => None,
        }
    }
}

/// Why [`mint`] (or [`Validity::covering`]) refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MintError {
    /// The slot is not below [`ISSUER_SLOTS`].
    SlotOutOfRange,
    /// The lock id is longer than [`MAX_LOCK_ID`] bytes.
    LockIdTooLong,
    /// hours == 0 or > MAX_HOURS (or, for [`Validity::covering`], an empty window).
    BadLength,
    /// A held serial at or above [`RESIDUES`].
    SerialOutOfRange,
    /// A window starting before the Unix epoch or after hour `u32::MAX`
    /// (only from [`Validity::covering`]).
    StartOutOfRange,
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MintError::SlotOutOfRange => "issuer slot out of range (0..=7)",
            MintError::LockIdTooLong => "lock id longer than 64 bytes",
            MintError::BadLength => "window must be 1 to 168 whole hours long",
            MintError::SerialOutOfRange => "held serial out of range (0..=368)",
            MintError::StartOutOfRange => "window start out of range (1970 to year 491,936)",
        })
    }
}

/// The fields carried by the first six digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    slot: u8,
    one_time: bool,
    /// 0 for a held key.
    hours: u16,
    /// Start hour modulo [`RESIDUES`], or the held serial.
    residue: u16,
}

impl Fields {
    fn encode(self) -> u32 {
        ((u32::from(self.slot) * 2 + u32::from(self.one_time)) * (u32::from(MAX_HOURS) + 1) + u32::from(self.hours))
            * u32::from(RESIDUES)
            + u32::from(self.residue)
    }

    fn decode(word: u32) -> Option<Fields> {
        if word >= FIELD_WORDS {
            return None;
        }
        let residue = (word % u32::from(RESIDUES)) as u16;
        let rest = word / u32::from(RESIDUES);
        let hours = (rest % (u32::from(MAX_HOURS) + 1)) as u16;
        let rest = rest / (u32::from(MAX_HOURS) + 1);
        Some(Fields {
            slot: (rest / 2) as u8,
            one_time: rest % 2 == 1,
            hours,
            residue,
        })
    }
}

/// The MAC message (docs/guest-codes.md, "MAC"). `lock_id` must be at most [`MAX_LOCK_ID`]
/// bytes (callers check).
fn message(lock_id: &[u8], epoch: u32, slot: u8, validity: Validity, one_time: bool) -> ([u8; MAX_MESSAGE], usize) {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(MAC_LABEL);
    put(&[lock_id.len() as u8]);
    put(lock_id);
    put(&epoch.to_be_bytes());
    put(&[slot]);
    match validity {
        Validity::Window { start_hour, hours } => {
            put(&[0]);
            put(&start_hour.to_be_bytes());
            put(&hours.to_be_bytes());
        }
        Validity::Held { serial } => {
            put(&[1]);
            put(&serial.to_be_bytes());
            put(&0u16.to_be_bytes());
        }
    }
    put(&[u8::from(one_time)]);
    (buf, n)
}

/// The six-digit tag: the first 8 bytes of the HMAC as a big-endian integer modulo 10^6.
fn tag(key: &IssuerKey, lock_id: &[u8], epoch: u32, slot: u8, validity: Validity, one_time: bool) -> u32 {
    let (buf, n) = message(lock_id, epoch, slot, validity, one_time);
    let mut mac = hmac_with(&key.0);
    mac.update(&buf[..n]);
    let out = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    (u64::from_be_bytes(first) % u64::from(HALF)) as u32
}

/// Mints a code.
///
/// Deterministic: the same key, lock id, slot, epoch, validity and flag give the same code
/// (see docs/guest-codes.md, "Identical requests"). A window may start at any hour, however far
/// ahead; the lock tells it apart from a forgery only from [`LEAD_HOURS`] before its start.
pub fn mint(
    key: &IssuerKey,
    lock_id: &[u8],
    slot: u8,
    epoch: u32,
    validity: Validity,
    one_time: bool,
) -> Result<Code, MintError> {
    if usize::from(slot) >= ISSUER_SLOTS {
        return Err(MintError::SlotOutOfRange);
    }
    if lock_id.len() > MAX_LOCK_ID {
        return Err(MintError::LockIdTooLong);
    }
    let (hours, residue) = match validity {
        Validity::Window { start_hour, hours } => {
            if hours == 0 || hours > MAX_HOURS {
                return Err(MintError::BadLength);
            }
            (hours, (start_hour % u32::from(RESIDUES)) as u16)
        }
        Validity::Held { serial } => {
            if serial >= RESIDUES {
                return Err(MintError::SerialOutOfRange);
            }
            (0, serial)
        }
    };
    let word = Fields {
        slot,
        one_time,
        hours,
        residue,
    }
    .encode();
    let t = tag(key, lock_id, epoch, slot, validity, one_time);
    Ok(Code::from_halves(word, t))
}

/// The lock's view of one issuer slot.
#[derive(Clone, Copy, Default)]
pub struct IssuerState {
    /// The slot's current epoch (meaningful when `key` is set).
    pub epoch: u32,
    /// `None` for a slot that is not in use.
    pub key: Option<IssuerKey>,
    /// The key of the previous epoch (or of the disabled issuer), kept so that codes it made
    /// are reported as revoked rather than unknown.
    pub revoked_key: Option<IssuerKey>,
    /// The epoch `revoked_key` was derived for.
    pub revoked_epoch: u32,
}

impl IssuerState {
    /// A slot not in use, with no revoked key.
    pub const EMPTY: IssuerState = IssuerState {
        epoch: 0,
        key: None,
        revoked_key: None,
        revoked_epoch: 0,
    };

    /// An active slot at `epoch` with no revoked key.
    pub fn active(epoch: u32, key: IssuerKey) -> IssuerState {
        IssuerState {
            epoch,
            key: Some(key),
            ..IssuerState::EMPTY
        }
    }
}

impl fmt::Debug for IssuerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerState")
            .field("epoch", &self.epoch)
            .field("key", &self.key.is_some())
            .field("revoked_key", &self.revoked_key.is_some())
            .field("revoked_epoch", &self.revoked_epoch)
            .finish()
    }
}

/// The outcome of checking an entry against the issuers of a lock, before any lock-held state
/// (deny entries, records, used one-time codes) is consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not a guest code at all, or its MAC does not match: a forged or mistyped code.
    Unknown,
    /// A genuine code made by a revoked key or epoch.
    Revoked {
        /// The issuer slot whose revoked key matched.
        slot: u8,
    },
    /// A genuine code; `validity` as minted, with the absolute start hour reconstructed.
    Genuine {
        /// The issuer slot that made it.
        slot: u8,
        /// Its window (start hour reconstructed from `now`) or held serial.
        validity: Validity,
        /// Whether the lock must accept it only once.
        one_time: bool,
        /// The entry, for deny entries and used-code tables.
        code: Code,
    },
}

/// The absolute hour `s` with `s % RESIDUES == residue` in
/// `[h - BEHIND_HOURS, h + LEAD_HOURS]`, `h = floor(now / 3600)`; `None` if it is not a `u32`.
fn reconstruct(residue: u16, now: i64) -> Option<u32> {
    let low = now.div_euclid(HOUR) - BEHIND_HOURS;
    let s = low + (i64::from(residue) - low).rem_euclid(i64::from(RESIDUES));
    u32::try_from(s).ok()
}

/// Checks 12 digits: parses, reconstructs the absolute start hour nearest to `now` (Unix
/// seconds), computes one HMAC (two when the first fails and a revoked key exists for the slot)
/// and compares in constant time. Never panics on any input.
///
/// The entry must be exactly [`CODE_DIGITS`] ASCII digits (the keypad's `#` already removed).
/// A `lock_id` longer than [`MAX_LOCK_ID`] matches nothing. A window code is reconstructed
/// within `[now - 192 h, now + 176 h]` (start hour); outside that it cannot verify. Whether
/// `now` is inside the window is left to [`timing`].
pub fn check(entry: &[u8], lock_id: &[u8], issuers: &[IssuerState; ISSUER_SLOTS], now: i64) -> Check {
    let Some(code) = Code::parse(entry) else {
        return Check::Unknown;
    };
    if lock_id.len() > MAX_LOCK_ID {
        return Check::Unknown;
    }
    let (word, given) = code.halves();
    let Some(fields) = Fields::decode(word) else {
        return Check::Unknown;
    };
    let issuer = &issuers[usize::from(fields.slot) % ISSUER_SLOTS];
    if issuer.key.is_none() && issuer.revoked_key.is_none() {
        return Check::Unknown;
    }
    let validity = if fields.hours == 0 {
        Validity::Held { serial: fields.residue }
    } else {
        match reconstruct(fields.residue, now) {
            Some(start_hour) => Validity::Window {
                start_hour,
                hours: fields.hours,
            },
            None => return Check::Unknown,
        }
    };
    let matches = |key: &IssuerKey, epoch: u32| -> bool {
        let expected = tag(key, lock_id, epoch, fields.slot, validity, fields.one_time);
        expected.ct_eq(&given).into()
    };
    if issuer.key.is_some_and(|key| matches(&key, issuer.epoch)) {
        return Check::Genuine {
            slot: fields.slot,
            validity,
            one_time: fields.one_time,
            code,
        };
    }
    if issuer
        .revoked_key
        .is_some_and(|key| matches(&key, issuer.revoked_epoch))
    {
        return Check::Revoked { slot: fields.slot };
    }
    Check::Unknown
}

/// Where `now` falls relative to a genuine code's own (hour-granular) window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// `now` is before the window's first second.
    NotYetValid,
    /// `start_hour * 3600 <= now < (start_hour + hours) * 3600`.
    Valid,
    /// `now` is at or after the window's end.
    Expired,
}

/// Compares `now` (Unix seconds) with a `Validity::Window`; `Held` codes have no window of their
/// own and always answer `Valid` (the lock's record decides).
pub fn timing(validity: Validity, now: i64) -> Timing {
    match validity.window_secs() {
        None => Timing::Valid,
        Some((start, _)) if now < start => Timing::NotYetValid,
        Some((_, end)) if now >= end => Timing::Expired,
        Some(_) => Timing::Valid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_words_are_a_bijection() {
        assert_eq!(FIELD_WORDS, 997_776);
        for word in 0..FIELD_WORDS {
            let f = Fields::decode(word).expect("below FIELD_WORDS");
            assert!(usize::from(f.slot) < ISSUER_SLOTS);
            assert!(f.hours <= MAX_HOURS && f.residue < RESIDUES);
            assert_eq!(f.encode(), word);
        }
        for word in FIELD_WORDS..HALF {
            assert_eq!(Fields::decode(word), None);
        }
    }

    #[test]
    fn reconstruction_covers_one_cycle_around_now() {
        for now in [-7 * HOUR - 1, 0, 1, 3599, 3600, 1_700_000_000, 1_700_003_599] {
            let h = now.div_euclid(HOUR);
            let mut seen = [false; RESIDUES as usize];
            for s in (h - 192)..=(h + 176) {
                if s < 0 {
                    continue;
                }
                let r = s.rem_euclid(i64::from(RESIDUES)) as u16;
                assert!(!seen[usize::from(r)]);
                seen[usize::from(r)] = true;
                assert_eq!(reconstruct(r, now), Some(s as u32));
            }
        }
        // Beyond the u32 range of hours: nothing to reconstruct, and no panic.
        assert_eq!(reconstruct(0, i64::MAX), None);
        assert_eq!(reconstruct(368, i64::MIN), None);
    }

    #[test]
    fn covering_rounds_outwards() {
        let t = 1_700_000_000 - 1_700_000_000 % HOUR; // an hour boundary
        assert_eq!(
            Validity::covering(t, t + HOUR),
            Ok(Validity::Window {
                start_hour: (t / HOUR) as u32,
                hours: 1
            })
        );
        assert_eq!(
            Validity::covering(t + 1, t + HOUR + 1),
            Ok(Validity::Window {
                start_hour: (t / HOUR) as u32,
                hours: 2
            })
        );
        assert_eq!(
            Validity::covering(t, t + 168 * HOUR),
            Ok(Validity::Window {
                start_hour: (t / HOUR) as u32,
                hours: 168
            })
        );
        assert_eq!(Validity::covering(t, t + 168 * HOUR + 1), Err(MintError::BadLength));
        assert_eq!(Validity::covering(t, t), Err(MintError::BadLength));
        assert_eq!(Validity::covering(t, t - 1), Err(MintError::BadLength));
        assert_eq!(Validity::covering(-HOUR, 0), Err(MintError::StartOutOfRange));
        assert_eq!(
            Validity::covering(i64::MAX - 10, i64::MAX),
            Err(MintError::StartOutOfRange)
        );
        assert_eq!(
            Validity::covering(i64::MIN, i64::MIN + 1),
            Err(MintError::StartOutOfRange)
        );
    }

    #[test]
    fn code_numbers_round_trip() {
        for n in [0, 1, 999_999, 1_000_000, 123_456_789_012, 999_999_999_999] {
            let c = Code::from_u64(n).expect("below 10^12");
            assert_eq!(c.as_u64(), n);
            assert_eq!(Code::parse(&c.0), Some(c));
        }
        assert_eq!(Code::from_u64(1_000_000_000_000), None);
        assert_eq!(Code::parse(b"12345678901"), None);
        assert_eq!(Code::parse(b"12345678901a"), None);
        assert_eq!(Code::parse(b"1234567890123"), None);
        let _ = Code([0xff; CODE_DIGITS]).as_u64(); // no panic
        assert_eq!(Code::from_halves(7, 42).0, *b"000007000042");
    }

    #[test]
    fn mint_refuses_out_of_range_fields() {
        let key = RootSecret([7; 32]).issuer_key(1, 1);
        let w = Validity::Window {
            start_hour: 480_000,
            hours: 24,
        };
        assert_eq!(mint(&key, b"l", 8, 1, w, false), Err(MintError::SlotOutOfRange));
        assert_eq!(mint(&key, &[b'x'; 65], 1, 1, w, false), Err(MintError::LockIdTooLong));
        assert!(mint(&key, &[b'x'; 64], 1, 1, w, false).is_ok());
        for hours in [0, 169, u16::MAX] {
            let v = Validity::Window { start_hour: 1, hours };
            assert_eq!(mint(&key, b"l", 1, 1, v, false), Err(MintError::BadLength));
        }
        assert_eq!(
            mint(&key, b"l", 1, 1, Validity::Held { serial: 369 }, false),
            Err(MintError::SerialOutOfRange)
        );
    }

    #[test]
    fn keys_do_not_leak_through_debug() {
        let mut out = [0u8; 256];
        let mut w = Buf(&mut out, 0);
        let state = IssuerState::active(3, IssuerKey([0xab; 32]));
        fmt::write(&mut w, format_args!("{:?} {:?}", state, RootSecret([0xab; 32]))).expect("fits");
        let n = w.1;
        let text = core::str::from_utf8(&out[..n]).expect("utf-8");
        assert!(!text.contains("171") && !text.contains("ab"), "{text}");
    }

    struct Buf<'a>(&'a mut [u8], usize);
    impl fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
}
