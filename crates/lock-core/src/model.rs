//! The data model: users, PINs, schedules, guest-key records, settings, decisions.

use crate::time::{DAY, LocalDate};
use heapless::Vec;
use subtle::{Choice, ConstantTimeEq};

/// A user's identity, assigned by the server.
pub type UserId = u32;

/// Shortest personal PIN.
pub const PIN_MIN_DIGITS: usize = 6;
/// Longest personal PIN.
pub const PIN_MAX_DIGITS: usize = 8;
/// Weekly windows a schedule can hold.
pub const MAX_WINDOWS: usize = 4;
/// Minutes in a day; a window's `to` may equal it (end of day).
pub const MINUTES_PER_DAY: u16 = 1440;

/// A personal keypad PIN: 6 to 8 decimal digits (leading zeros count). Its `Debug` output never
/// shows the digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin {
    value: u32,
    len: u8,
}

impl core::fmt::Debug for Pin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pin({} digits)", self.len)
    }
}

impl Pin {
    /// Parses ASCII digits; `None` unless 6 to 8 digits `0`-`9`. Runs in time that depends on the
    /// length only, not on the digits.
    #[inline]
    pub fn parse(digits: &[u8]) -> Option<Pin> {
        if !(PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&digits.len()) {
            return None;
        }
        let mut value: u32 = 0;
        let mut ok = true;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            ok &= d <= 9;
            value = value.wrapping_mul(10).wrapping_add(u32::from(d & 0x0f));
        }
        ok.then_some(Pin {
            value,
            len: digits.len() as u8,
        })
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true: a PIN has at least 6 digits (here for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The PIN as one integer that keeps leading zeros apart: `len << 32 | value`.
    #[inline]
    pub(crate) fn packed(&self) -> u64 {
        (u64::from(self.len) << 32) | u64::from(self.value)
    }

    pub(crate) fn from_parts(value: u32, len: u8) -> Option<Pin> {
        let max = 10u32.checked_pow(u32::from(len))?;
        ((PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&usize::from(len)) && value < max).then_some(Pin { value, len })
    }

    pub(crate) fn parts(&self) -> (u32, u8) {
        (self.value, self.len)
    }

    /// Constant-time equality.
    #[inline]
    pub(crate) fn ct_eq(&self, other: &Pin) -> Choice {
        // One comparison of the packed `len << 32 | value`: equal exactly when both fields are.
        self.packed().ct_eq(&other.packed())
    }
}

/// A weekly window in local wall-clock time (Matter `WeekDaySchedule`).
///
/// `days` is a Matter days mask: bit 0 = Sunday .. bit 6 = Saturday. `from` and `to` are minutes
/// of the local day. When `from < to` the window is `[from, to)` on each day in the mask (`to`
/// may be 1440, the end of the day). When `to < from` the window passes midnight: it runs from
/// `from` on a day in the mask to `to` on the next day; the mask names the day the window
/// **starts**. `from == to` is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Days mask, bit 0 = Sunday .. bit 6 = Saturday.
    pub days: u8,
    /// Start, minute of the local day (0..1440).
    pub from: u16,
    /// End (exclusive), minute of the local day (0..=1440).
    pub to: u16,
}

impl Window {
    /// Whether the window is well formed.
    pub fn is_valid(&self) -> bool {
        self.days != 0
            && self.days < 0x80
            && self.from < MINUTES_PER_DAY
            && self.to <= MINUTES_PER_DAY
            && self.from != self.to
    }

    #[inline]
    fn has_day(&self, weekday: u8) -> bool {
        self.days & (1u8 << (weekday & 7)) != 0
    }
}

/// A Recurring Guest's schedule: weekly windows and an optional range of local dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// 1 to [`MAX_WINDOWS`] windows; the user may enter inside any of them.
    pub windows: Vec<Window, MAX_WINDOWS>,
    /// Optional inclusive range of local dates (`valid_from..=valid_until`). A window
    /// occurrence belongs to the date it starts on.
    pub dates: Option<(LocalDate, LocalDate)>,
}

impl Schedule {
    /// Whether the schedule is well formed: 1..=MAX_WINDOWS valid windows, ordered range.
    pub fn is_valid(&self) -> bool {
        !self.windows.is_empty() && self.windows.iter().all(Window::is_valid) && self.dates.is_none_or(|(a, b)| a <= b)
    }

    #[inline]
    fn date_ok(&self, d: LocalDate) -> bool {
        self.dates.is_none_or(|(a, b)| a <= d && d <= b)
    }

    /// Decides at local wall-clock seconds `local` (UTC + offset).
    #[inline]
    pub(crate) fn check(&self, local: i64) -> Result<(), Reason> {
        let day = LocalDate(local.div_euclid(DAY).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
        let minute = (local.rem_euclid(DAY) / 60) as u16;
        let wd = day.weekday();
        let yesterday = day.pred();
        let wd_y = yesterday.weekday();
        for w in &self.windows {
            if w.from < w.to {
                if w.has_day(wd) && w.from <= minute && minute < w.to && self.date_ok(day) {
                    return Ok(());
                }
            } else {
                if w.has_day(wd) && minute >= w.from && self.date_ok(day) {
                    return Ok(());
                }
                if w.has_day(wd_y) && minute < w.to && self.date_ok(yesterday) {
                    return Ok(());
                }
            }
        }
        match self.dates {
            Some((from, _)) if day < from => Err(Reason::NotYetValid),
            Some((_, until)) if day > until => Err(Reason::Expired),
            _ => Err(Reason::OutsideSchedule),
        }
    }
}

/// A user's type (Matter `UserTypeEnum`, reduced to what Latchkey uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// Admin or Family: any time, also when the time is unknown.
    Unrestricted,
    /// Recurring Guest (Matter `WeekDaySchedule` / `ScheduleRestricted`): inside the schedule,
    /// in local time; denied with `TimeUnknown` when local time is unknown.
    ScheduleRestricted(Schedule),
    /// One use, by PIN or remote command, then `AlreadyUsed` (recorded durably before opening).
    Disposable,
    /// Valid in the UTC window `[from, until)`; `TimeUnknown` when the time is unknown.
    Expiring {
        /// First valid instant (UTC Unix seconds).
        from: i64,
        /// First instant no longer valid (UTC Unix seconds).
        until: i64,
    },
}

impl UserKind {
    /// Whether the kind's own fields are well formed.
    pub fn is_valid(&self) -> bool {
        match self {
            UserKind::ScheduleRestricted(s) => s.is_valid(),
            UserKind::Expiring { from, until } => from < until,
            UserKind::Unrestricted | UserKind::Disposable => true,
        }
    }
}

/// A user as the server describes it: the whole state of one member on this lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Server-assigned identity.
    pub id: UserId,
    /// `false` denies every credential of the user with `Disabled`.
    pub enabled: bool,
    /// Type and its time bounds.
    pub kind: UserKind,
    /// The user's personal keypad PIN, at most one.
    pub pin: Option<Pin>,
}

/// A synced guest key: the lock enforces its exact window and one-time flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRecord {
    /// The key's code, as `latchkey_guest_code::Code::as_u64()`.
    pub code: u64,
    /// The server's key id, for the log.
    pub key_id: u32,
    /// First valid instant (UTC Unix seconds, to the minute).
    pub from: i64,
    /// First instant no longer valid (UTC Unix seconds).
    pub until: i64,
    /// Accepted once.
    pub one_time: bool,
}

/// A revoked code: denied with `Revoked` until `expires` (after which it may be pruned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenyEntry {
    /// The code, as `latchkey_guest_code::Code::as_u64()`.
    pub code: u64,
    /// UTC instant after which the entry may be pruned (the code is expired by then anyway).
    pub expires: i64,
}

/// Lock settings, pushed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Seconds between two key presses after which a partial entry is discarded (0: never).
    pub keypad_timeout_secs: u16,
    /// Wrong keypad entries counted that start a lockout (>= 1).
    pub lockout_attempts: u8,
    /// Length of the first lockout in seconds (>= 1).
    pub lockout_base_secs: u32,
    /// Longest lockout in seconds (>= base); each further lockout doubles up to this. Also the
    /// decay step: each such period without a wrong entry takes one wrong entry, or one level
    /// of the doubling, back (a correct entry never does).
    pub lockout_max_secs: u32,
    /// Unused since format 2 of the persisted state (it was: seconds after the last lockout
    /// after which the doubling started again). Kept so that the settings, their wire form and
    /// older images keep their layout; the decay with `lockout_max_secs` replaced it.
    pub lockout_forget_secs: u32,
}

impl Settings {
    /// The defaults of `lock.md`: 10 s key timeout, 5 attempts, 60 s doubling to 1 h, one step
    /// back per hour without a wrong entry.
    pub const DEFAULT: Settings = Settings {
        keypad_timeout_secs: 10,
        lockout_attempts: 5,
        lockout_base_secs: 60,
        lockout_max_secs: 3600,
        lockout_forget_secs: 86_400,
    };

    /// Whether the settings are usable.
    pub fn is_valid(&self) -> bool {
        self.lockout_attempts >= 1 && self.lockout_base_secs >= 1 && self.lockout_max_secs >= self.lockout_base_secs
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

/// Why an entry or command was refused. Denials are values, not errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No such PIN, user or valid guest code (a forged or mistyped code, a wrong-length entry).
    /// The only reason that counts toward the keypad lockout.
    UnknownCredential,
    /// The user is disabled.
    Disabled,
    /// Outside the user's weekly windows (Matter `Restricted`).
    OutsideSchedule,
    /// Before the credential's window or date range.
    NotYetValid,
    /// After the credential's window or date range.
    Expired,
    /// A one-time credential already used.
    AlreadyUsed,
    /// A genuine guest code of a revoked issuer epoch, or with a deny entry.
    Revoked,
    /// The keypad is locked out after wrong entries.
    LockedOut,
    /// The credential is time-bounded and the lock does not trust its clock.
    TimeUnknown,
    /// A one-time credential could not be recorded: the used-code table is full.
    UsedTableFull,
    /// A genuine guest code of a key that needs a synced record, and the lock holds none.
    NotSynced,
}

impl Reason {
    /// Whether this denial counts toward the keypad lockout.
    #[inline]
    pub fn counts_toward_lockout(self) -> bool {
        matches!(self, Reason::UnknownCredential)
    }
}

/// What was presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A personal keypad PIN.
    Pin,
    /// An offline guest code.
    GuestCode,
    /// A remote command from the server naming a user.
    Remote,
}

/// Who a decision is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A user of the lock.
    User(UserId),
    /// A guest key.
    GuestKey {
        /// Issuer slot that made the code.
        slot: u8,
        /// The code (`Code::as_u64()`), which the server maps to its key.
        code: u64,
        /// The server's key id when the lock holds a synced record.
        key_id: Option<u32>,
    },
}

/// The outcome of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Open.
    Grant {
        /// Who opens.
        subject: Subject,
        /// With what.
        credential: Credential,
        /// A one-time credential was consumed: the host must persist the state (and see the
        /// save succeed) **before** moving the bolt; if it cannot, it must not open.
        persist_first: bool,
    },
    /// Stay closed, for this reason.
    Deny(Reason),
}

impl Decision {
    /// Whether the door opens.
    pub fn is_grant(&self) -> bool {
        matches!(self, Decision::Grant { .. })
    }
}

/// How the request reached the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The lock's keypad.
    Keypad,
    /// A remote command from the server.
    Remote,
}

/// One key of the keypad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A digit 0-9 (anything larger makes the entry wrong).
    Digit(u8),
    /// `#`: confirm the entry.
    Confirm,
    /// `*`: clear the entry.
    Clear,
}

/// A complete input to decide on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A completed keypad entry (ASCII digits): 6-8 digits are a PIN, 12 a guest code, any
    /// other length a wrong entry.
    Keypad(&'a [u8]),
    /// A remote command naming a user (authenticated by the protocol layer).
    Remote(UserId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_parse() {
        assert!(Pin::parse(b"12345").is_none());
        assert!(Pin::parse(b"123456789").is_none());
        assert!(Pin::parse(b"12345a").is_none());
        assert!(Pin::parse(b"12345/").is_none());
        assert!(Pin::parse(b"12345:").is_none());
        let a = Pin::parse(b"012345").unwrap();
        let b = Pin::parse(b"0012345").unwrap();
        assert_ne!(a, b, "leading zeros matter");
        assert_eq!(a.len(), 6);
        assert_eq!(Pin::from_parts(a.parts().0, a.parts().1), Some(a));
        assert_eq!(Pin::from_parts(1_000_000, 6), None);
        assert_eq!(Pin::from_parts(1, 5), None);
        assert_eq!(std_fmt(&a), "Pin(6 digits)");
    }

    fn std_fmt(p: &Pin) -> heapless::String<32> {
        use core::fmt::Write;
        let mut s = heapless::String::new();
        write!(s, "{p:?}").unwrap();
        s
    }

    #[test]
    fn window_validity() {
        let w = |days, from, to| Window { days, from, to };
        assert!(w(1, 0, 1440).is_valid());
        assert!(w(0x7f, 1380, 60).is_valid());
        assert!(!w(0, 0, 60).is_valid());
        assert!(!w(0x80, 0, 60).is_valid());
        assert!(!w(1, 60, 60).is_valid());
        assert!(!w(1, 1440, 60).is_valid());
        assert!(!w(1, 0, 1441).is_valid());
        let s = Schedule {
            windows: Vec::new(),
            dates: None,
        };
        assert!(!s.is_valid(), "a schedule needs a window");
    }
}
