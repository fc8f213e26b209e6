//! Sync batches: the wire form of lock-core's [`Change`] values.

use heapless::Vec;
use latchkey_lock_core::{
    Change, DenyEntry, GuestRecord, LocalDate, MAX_WINDOWS, OFFSET_CAPACITY, OffsetEntry, Pin, Schedule, Settings,
    UserId, UserKind, UserRecord, Window,
};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError};

/// Most changes one sync message carries.
pub const MAX_CHANGES: usize = 4096;

/// Guest codes are below 10^12.
const CODE_LIMIT: u64 = 1_000_000_000_000;

/// A personal keypad PIN on the wire: 6 to 8 decimal digits, leading zeros kept. Lock-core's
/// [`Pin`] does not expose its digits, so the server builds this from the digits it holds and
/// the lock turns it into a [`Pin`] with [`PinCode::to_pin`]. `Debug` never shows the digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinCode {
    value: u32,
    len: u8,
}

impl core::fmt::Debug for PinCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PinCode({} digits)", self.len)
    }
}

impl PinCode {
    /// Parses 6 to 8 ASCII digits.
    pub fn parse(digits: &[u8]) -> Option<PinCode> {
        if !(6..=8).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value = digits
            .iter()
            .fold(0u32, |v, d| v.wrapping_mul(10).wrapping_add(u32::from(d - b'0')));
        Some(PinCode {
            value,
            len: digits.len() as u8,
        })
    }

    fn from_parts(value: u32, len: u8) -> Option<PinCode> {
        let max = 10u32.checked_pow(u32::from(len))?;
        ((6..=8).contains(&len) && value < max).then_some(PinCode { value, len })
    }

    /// The digits, in an 8-byte buffer of which the first `len()` are used.
    pub fn digits(&self) -> ([u8; 8], usize) {
        let mut out = [b'0'; 8];
        let n = usize::from(self.len).min(8);
        let mut v = self.value;
        for slot in out.iter_mut().take(n).rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        (out, n)
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true (a PIN has at least 6 digits).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lock-core PIN.
    pub fn to_pin(&self) -> Pin {
        let (d, n) = self.digits();
        // A `PinCode` can only hold 6 to 8 digits (both constructors check), and lock-core
        // parses every such string, so this cannot fail.
        #[allow(clippy::expect_used)]
        Pin::parse(d.get(..n).unwrap_or(&d)).expect("a PinCode holds 6 to 8 digits")
    }
}

/// A user as the server sends it: lock-core's [`UserRecord`] with a [`PinCode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Lock-local user id (assigned by the server).
    pub id: UserId,
    /// `false` denies every credential of the user.
    pub enabled: bool,
    /// Type and time bounds.
    pub kind: UserKind,
    /// Personal keypad PIN.
    pub pin: Option<PinCode>,
}

impl User {
    /// The lock-core record.
    pub fn to_record(&self) -> UserRecord {
        UserRecord {
            id: self.id,
            enabled: self.enabled,
            kind: self.kind.clone(),
            pin: self.pin.as_ref().map(PinCode::to_pin),
        }
    }
}

/// One change of a sync batch: the wire form of lock-core's [`Change`] (without `SetTime`,
/// which travels in the [`crate::Time`] message so that it can answer the lock's nonce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncChange<'a> {
    /// Forget users, PINs, guest-key records and deny entries; a full snapshot follows.
    ClearAll,
    /// Add or replace a user with its PIN.
    UpsertUser(User),
    /// Remove a user.
    RemoveUser(UserId),
    /// Set a user's PIN.
    SetPin {
        /// The user.
        user: UserId,
        /// The PIN.
        pin: PinCode,
    },
    /// Clear a user's PIN.
    ClearPin(UserId),
    /// Add or replace a synced guest-key record.
    UpsertGuestKey(GuestRecord),
    /// Remove a guest-key record by code.
    RemoveGuestKey(u64),
    /// Deny a code until an instant.
    AddDenyEntry(DenyEntry),
    /// Configure an issuer slot.
    SetIssuer {
        /// Slot.
        slot: u8,
        /// Epoch.
        epoch: u32,
        /// Enabled.
        enabled: bool,
    },
    /// Replace the settings.
    Settings(Settings),
    /// Replace the offset table (at most one per batch).
    SetOffsetTable {
        /// Entries, at most [`OFFSET_CAPACITY`].
        entries: &'a [OffsetEntry],
        /// End of the vouched period.
        valid_until: i64,
    },
}

impl<'a> SyncChange<'a> {
    /// The lock-core change.
    pub fn to_change(&self) -> Change<'a> {
        match self {
            SyncChange::ClearAll => Change::ClearAll,
            SyncChange::UpsertUser(u) => Change::UpsertUser(u.to_record()),
            SyncChange::RemoveUser(id) => Change::RemoveUser(*id),
            SyncChange::SetPin { user, pin } => Change::SetPin {
                user: *user,
                pin: pin.to_pin(),
            },
            SyncChange::ClearPin(id) => Change::ClearPin(*id),
            SyncChange::UpsertGuestKey(r) => Change::UpsertGuestKey(*r),
            SyncChange::RemoveGuestKey(c) => Change::RemoveGuestKey(*c),
            SyncChange::AddDenyEntry(d) => Change::AddDenyEntry(*d),
            SyncChange::SetIssuer { slot, epoch, enabled } => Change::SetIssuer {
                slot: *slot,
                epoch: *epoch,
                enabled: *enabled,
            },
            SyncChange::Settings(s) => Change::Settings(*s),
            SyncChange::SetOffsetTable { entries, valid_until } => Change::SetOffsetTable {
                entries,
                valid_until: *valid_until,
            },
        }
    }

    /// The wire form of a lock-core change, for every change except those that carry a PIN
    /// (lock-core's [`Pin`] does not reveal its digits: build [`SyncChange::UpsertUser`] /
    /// [`SyncChange::SetPin`] from the digits) and `SetTime` (use the [`crate::Time`] message).
    pub fn from_change(change: &Change<'a>) -> Option<SyncChange<'a>> {
        Some(match change {
            Change::ClearAll => SyncChange::ClearAll,
            Change::UpsertUser(r) if r.pin.is_none() => SyncChange::UpsertUser(User {
                id: r.id,
                enabled: r.enabled,
                kind: r.kind.clone(),
                pin: None,
            }),
            Change::UpsertUser(_) | Change::SetPin { .. } | Change::SetTime(_) => return None,
            Change::RemoveUser(id) => SyncChange::RemoveUser(*id),
            Change::ClearPin(id) => SyncChange::ClearPin(*id),
            Change::UpsertGuestKey(r) => SyncChange::UpsertGuestKey(*r),
            Change::RemoveGuestKey(c) => SyncChange::RemoveGuestKey(*c),
            Change::AddDenyEntry(d) => SyncChange::AddDenyEntry(*d),
            Change::SetIssuer { slot, epoch, enabled } => SyncChange::SetIssuer {
                slot: *slot,
                epoch: *epoch,
                enabled: *enabled,
            },
            Change::Settings(s) => SyncChange::Settings(*s),
            Change::SetOffsetTable { entries, valid_until } => SyncChange::SetOffsetTable {
                entries,
                valid_until: *valid_until,
            },
        })
    }
}

// Change tags.
const C_CLEAR_ALL: u8 = 0;
const C_UPSERT_USER: u8 = 1;
const C_REMOVE_USER: u8 = 2;
const C_SET_PIN: u8 = 3;
const C_CLEAR_PIN: u8 = 4;
const C_UPSERT_KEY: u8 = 5;
const C_REMOVE_KEY: u8 = 6;
const C_DENY: u8 = 7;
const C_ISSUER: u8 = 8;
const C_SETTINGS: u8 = 9;
const C_OFFSETS: u8 = 10;

// User kind tags.
const K_UNRESTRICTED: u8 = 0;
const K_SCHEDULE: u8 = 1;
const K_DISPOSABLE: u8 = 2;
const K_EXPIRING: u8 = 3;

fn put_pin(w: &mut Writer<'_>, p: &PinCode) -> Result<(), EncodeError> {
    w.u8(p.len)?;
    w.varint(u64::from(p.value))
}

fn get_pin(r: &mut Reader<'_>) -> Result<PinCode, DecodeError> {
    let len = r.u8()?;
    let value = r.u32v()?;
    PinCode::from_parts(value, len).ok_or(DecodeError::Invalid)
}

fn put_kind(w: &mut Writer<'_>, k: &UserKind) -> Result<(), EncodeError> {
    match k {
        UserKind::Unrestricted => w.u8(K_UNRESTRICTED),
        UserKind::ScheduleRestricted(s) => {
            w.u8(K_SCHEDULE)?;
            w.u8(s.windows.len() as u8)?;
            for win in &s.windows {
                w.u8(win.days)?;
                w.varint(u64::from(win.from))?;
                w.varint(u64::from(win.to))?;
            }
            match s.dates {
                None => w.u8(0),
                Some((a, b)) => {
                    w.u8(1)?;
                    w.i64v(i64::from(a.0))?;
                    w.i64v(i64::from(b.0))
                }
            }
        }
        UserKind::Disposable => w.u8(K_DISPOSABLE),
        UserKind::Expiring { from, until } => {
            w.u8(K_EXPIRING)?;
            w.i64v(*from)?;
            w.i64v(*until)
        }
    }
}

fn get_kind(r: &mut Reader<'_>) -> Result<UserKind, DecodeError> {
    Ok(match r.u8()? {
        K_UNRESTRICTED => UserKind::Unrestricted,
        K_SCHEDULE => {
            let n = usize::from(r.u8()?);
            if n > MAX_WINDOWS {
                return Err(DecodeError::OutOfRange);
            }
            let mut windows = Vec::new();
            for _ in 0..n {
                let w = Window {
                    days: r.u8()?,
                    from: r.u16v()?,
                    to: r.u16v()?,
                };
                windows.push(w).map_err(|_| DecodeError::OutOfRange)?;
            }
            let dates = if r.bool()? {
                Some((LocalDate(r.i32v()?), LocalDate(r.i32v()?)))
            } else {
                None
            };
            UserKind::ScheduleRestricted(Schedule { windows, dates })
        }
        K_DISPOSABLE => UserKind::Disposable,
        K_EXPIRING => UserKind::Expiring {
            from: r.i64v()?,
            until: r.i64v()?,
        },
        t => return Err(DecodeError::UnknownTag(t)),
    })
}

fn code(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let c = r.varint()?;
    if c >= CODE_LIMIT {
        return Err(DecodeError::OutOfRange);
    }
    Ok(c)
}

pub(crate) fn put_change(w: &mut Writer<'_>, c: &SyncChange<'_>) -> Result<(), EncodeError> {
    match c {
        SyncChange::ClearAll => w.u8(C_CLEAR_ALL),
        SyncChange::UpsertUser(u) => {
            w.u8(C_UPSERT_USER)?;
            w.varint(u64::from(u.id))?;
            w.bool(u.enabled)?;
            put_kind(w, &u.kind)?;
            match &u.pin {
                None => w.u8(0),
                Some(p) => {
                    w.u8(1)?;
                    put_pin(w, p)
                }
            }
        }
        SyncChange::RemoveUser(id) => {
            w.u8(C_REMOVE_USER)?;
            w.varint(u64::from(*id))
        }
        SyncChange::SetPin { user, pin } => {
            w.u8(C_SET_PIN)?;
            w.varint(u64::from(*user))?;
            put_pin(w, pin)
        }
        SyncChange::ClearPin(id) => {
            w.u8(C_CLEAR_PIN)?;
            w.varint(u64::from(*id))
        }
        SyncChange::UpsertGuestKey(g) => {
            if g.code >= CODE_LIMIT {
                return Err(EncodeError::Invalid);
            }
            w.u8(C_UPSERT_KEY)?;
            w.varint(g.code)?;
            w.varint(u64::from(g.key_id))?;
            w.i64v(g.from)?;
            w.i64v(g.until)?;
            w.bool(g.one_time)
        }
        SyncChange::RemoveGuestKey(c) => {
            if *c >= CODE_LIMIT {
                return Err(EncodeError::Invalid);
            }
            w.u8(C_REMOVE_KEY)?;
            w.varint(*c)
        }
        SyncChange::AddDenyEntry(d) => {
            if d.code >= CODE_LIMIT {
                return Err(EncodeError::Invalid);
            }
            w.u8(C_DENY)?;
            w.varint(d.code)?;
            w.i64v(d.expires)
        }
        SyncChange::SetIssuer { slot, epoch, enabled } => {
            w.u8(C_ISSUER)?;
            w.u8(*slot)?;
            w.varint(u64::from(*epoch))?;
            w.bool(*enabled)
        }
        SyncChange::Settings(s) => {
            w.u8(C_SETTINGS)?;
            w.varint(u64::from(s.keypad_timeout_secs))?;
            w.u8(s.lockout_attempts)?;
            w.varint(u64::from(s.lockout_base_secs))?;
            w.varint(u64::from(s.lockout_max_secs))?;
            w.varint(u64::from(s.lockout_forget_secs))
        }
        SyncChange::SetOffsetTable { entries, valid_until } => {
            if entries.len() > OFFSET_CAPACITY {
                return Err(EncodeError::Invalid);
            }
            w.u8(C_OFFSETS)?;
            w.u8(entries.len() as u8)?;
            for e in entries.iter() {
                w.i64v(e.start)?;
                w.i64v(i64::from(e.offset))?;
            }
            w.i64v(*valid_until)
        }
    }
}

/// Where a decoded offset table is kept (one per batch).
pub(crate) type OffsetBuf = Vec<OffsetEntry, OFFSET_CAPACITY>;

/// Decodes one change. An offset table's entries go to `offsets` (the returned change then
/// names an empty slice; [`Sync`] substitutes its stored table).
fn get_change<'a>(r: &mut Reader<'_>, offsets: &mut Option<(OffsetBuf, i64)>) -> Result<SyncChange<'a>, DecodeError> {
    Ok(match r.u8()? {
        C_CLEAR_ALL => SyncChange::ClearAll,
        C_UPSERT_USER => {
            let id = r.u32v()?;
            let enabled = r.bool()?;
            let kind = get_kind(r)?;
            let pin = if r.bool()? { Some(get_pin(r)?) } else { None };
            SyncChange::UpsertUser(User { id, enabled, kind, pin })
        }
        C_REMOVE_USER => SyncChange::RemoveUser(r.u32v()?),
        C_SET_PIN => SyncChange::SetPin {
            user: r.u32v()?,
            pin: get_pin(r)?,
        },
        C_CLEAR_PIN => SyncChange::ClearPin(r.u32v()?),
        C_UPSERT_KEY => SyncChange::UpsertGuestKey(GuestRecord {
            code: code(r)?,
            key_id: r.u32v()?,
            from: r.i64v()?,
            until: r.i64v()?,
            one_time: r.bool()?,
        }),
        C_REMOVE_KEY => SyncChange::RemoveGuestKey(code(r)?),
        C_DENY => SyncChange::AddDenyEntry(DenyEntry {
            code: code(r)?,
            expires: r.i64v()?,
        }),
        C_ISSUER => SyncChange::SetIssuer {
            slot: r.u8()?,
            epoch: r.u32v()?,
            enabled: r.bool()?,
        },
        C_SETTINGS => SyncChange::Settings(Settings {
            keypad_timeout_secs: r.u16v()?,
            lockout_attempts: r.u8()?,
            lockout_base_secs: r.u32v()?,
            lockout_max_secs: r.u32v()?,
            lockout_forget_secs: r.u32v()?,
        }),
        C_OFFSETS => {
            let n = usize::from(r.u8()?);
            if n > OFFSET_CAPACITY {
                return Err(DecodeError::OutOfRange);
            }
            let mut buf = OffsetBuf::new();
            for _ in 0..n {
                let e = OffsetEntry {
                    start: r.i64v()?,
                    offset: r.i32v()?,
                };
                buf.push(e).map_err(|_| DecodeError::OutOfRange)?;
            }
            let valid_until = r.i64v()?;
            if offsets.is_some() {
                return Err(DecodeError::Invalid);
            }
            *offsets = Some((buf, valid_until));
            SyncChange::SetOffsetTable {
                entries: &[],
                valid_until,
            }
        }
        t => return Err(DecodeError::UnknownTag(t)),
    })
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
enum ChangeList<'a> {
    Slice(&'a [SyncChange<'a>]),
    Wire {
        bytes: &'a [u8],
        count: usize,
        offsets: Option<(OffsetBuf, i64)>,
    },
}

/// A sync batch: bring the lock from version `base` to `version`.
///
/// A batch whose first change is [`SyncChange::ClearAll`] is a full snapshot and applies to a
/// lock holding any version; any other batch applies only to a lock that holds exactly `base`
/// (the lock answers [`crate::SyncStatus::BaseMismatch`] otherwise, and the server sends a
/// snapshot).
#[derive(Clone, Debug)]
pub struct Sync<'a> {
    /// The version the changes start from.
    pub base: u64,
    /// The version the lock holds after applying them.
    pub version: u64,
    changes: ChangeList<'a>,
}

impl<'a> Sync<'a> {
    /// A batch to encode.
    pub fn new(base: u64, version: u64, changes: &'a [SyncChange<'a>]) -> Self {
        Sync {
            base,
            version,
            changes: ChangeList::Slice(changes),
        }
    }

    /// Whether the batch is a full snapshot (starts with `ClearAll`).
    pub fn is_snapshot(&self) -> bool {
        matches!(self.changes().next(), Some(SyncChange::ClearAll))
    }

    /// Whether the batch applies to a lock holding `applied_version`: a snapshot always does,
    /// a delta only on its own base. Otherwise the lock answers
    /// [`crate::SyncStatus::BaseMismatch`] without touching its state.
    pub fn applies_to(&self, applied_version: u64) -> bool {
        self.is_snapshot() || self.base == applied_version
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        match &self.changes {
            ChangeList::Slice(s) => s.len(),
            ChangeList::Wire { count, .. } => *count,
        }
    }

    /// Whether the batch has no change.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The changes in wire form.
    pub fn changes(&self) -> SyncChanges<'_> {
        match &self.changes {
            ChangeList::Slice(s) => SyncChanges {
                slice: Some(s),
                reader: Reader::new(&[]),
                left: s.len(),
                offsets: None,
            },
            ChangeList::Wire { bytes, count, offsets } => SyncChanges {
                slice: None,
                reader: Reader::new(bytes),
                left: *count,
                offsets: offsets.as_ref(),
            },
        }
    }

    /// The changes as lock-core values, ready for `Lock::apply(self.version, &changes, now)`.
    pub fn lock_changes(&self) -> impl Iterator<Item = Change<'_>> + '_ {
        self.changes().map(|c| c.to_change())
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.varint(self.base)?;
        w.varint(self.version)?;
        let n = self.len();
        if n > MAX_CHANGES {
            return Err(EncodeError::Invalid);
        }
        w.varint(n as u64)?;
        let mut tables = 0;
        for c in self.changes() {
            if matches!(c, SyncChange::SetOffsetTable { .. }) {
                tables += 1;
                if tables > 1 {
                    return Err(EncodeError::Invalid);
                }
            }
            put_change(w, &c)?;
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let base = r.varint()?;
        let version = r.varint()?;
        let count = usize::try_from(r.varint()?).map_err(|_| DecodeError::OutOfRange)?;
        if count > MAX_CHANGES {
            return Err(DecodeError::OutOfRange);
        }
        let bytes = r.rest();
        // Validate every change now, so that iterating later cannot fail.
        let mut check = Reader::new(bytes);
        let mut offsets = None;
        for _ in 0..count {
            get_change(&mut check, &mut offsets)?;
        }
        check.finish()?;
        Ok(Sync {
            base,
            version,
            changes: ChangeList::Wire { bytes, count, offsets },
        })
    }
}

impl PartialEq for Sync<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base && self.version == other.version && self.changes().eq(other.changes())
    }
}

impl Eq for Sync<'_> {}

/// Iterator over the changes of a [`Sync`].
#[derive(Clone, Debug)]
pub struct SyncChanges<'s> {
    slice: Option<&'s [SyncChange<'s>]>,
    reader: Reader<'s>,
    left: usize,
    offsets: Option<&'s (OffsetBuf, i64)>,
}

impl<'s> Iterator for SyncChanges<'s> {
    type Item = SyncChange<'s>;

    fn next(&mut self) -> Option<SyncChange<'s>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if let Some(s) = self.slice {
            let (first, rest) = s.split_first()?;
            self.slice = Some(rest);
            return Some(first.clone());
        }
        let mut scratch = None;
        // The bytes were validated when the message was decoded; an error here cannot happen,
        // and would end the iteration rather than panic.
        match get_change(&mut self.reader, &mut scratch) {
            Ok(SyncChange::SetOffsetTable { valid_until, .. }) => Some(SyncChange::SetOffsetTable {
                entries: self.offsets.map(|(e, _)| e.as_slice()).unwrap_or(&[]),
                valid_until,
            }),
            Ok(c) => Some(c),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
