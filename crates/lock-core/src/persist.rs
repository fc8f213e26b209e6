//! The persisted state: a versioned, compact, hand-rolled little-endian encoding with a header
//! and a CRC-32. See `docs/lock-core.md`, "Persisted state", for the byte layout.

use crate::journal::{Event, EventKind, Journal};
use crate::lock::{IdentityError, IssuerConfig, Lock, UsedEntry};
use crate::lockout::Lockout;
use crate::model::{
    Credential, DenyEntry, GuestRecord, MAX_WINDOWS, Method, Pin, Reason, Schedule, Settings, Subject, UserKind,
    UserRecord, Window,
};
use crate::time::{LocalDate, OFFSET_CAPACITY, OffsetEntry, OffsetTable, TimeCause};
use latchkey_guest_code::{ISSUER_SLOTS, MAX_LOCK_ID, RootSecret};

/// First bytes of every state image.
pub const MAGIC: [u8; 4] = *b"LKCS";
/// Format version written by this crate. [`Lock::restore`] also reads the versions before it
/// (1: the lockout as absolute start and end, with a wrong count that a correct entry reset).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version [`Lock::restore`] still reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Header: magic, format version, reserved, payload length.
pub const HEADER_LEN: usize = 12;
/// Trailer: CRC-32 (IEEE) of header and payload.
pub const TRAILER_LEN: usize = 4;

const USER_MAX: usize = 4 + 1 + 1 + 5 + (1 + MAX_WINDOWS * 5 + 1 + 8);
const SUBJECT_MAX: usize = 1 + 1 + 8 + 1 + 4;
const EVENT_MAX: usize = 8 + 8 + 1 + (1 + 1 + 1 + SUBJECT_MAX + 2);
const RECORD_LEN: usize = 8 + 4 + 8 + 8 + 1;
const FIXED_MAX: usize = HEADER_LEN
    + 1
    + MAX_LOCK_ID
    + 8 // applied version
    + 9 // clock
    + 15 // settings
    + 18 // lockout
    + ISSUER_SLOTS * 9
    + 1
    + 8
    + OFFSET_CAPACITY * 12
    + 2 * 5 // table counts
    + 8 * 3 // journal counters
    + TRAILER_LEN;

/// Why `save` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveError {
    /// The buffer is smaller than needed (use `MAX_ENCODED_LEN`).
    BufferTooSmall,
}

/// Why a state image was refused. Restore never half-loads: on error nothing is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Shorter than a header and trailer.
    TooShort,
    /// Not a state image.
    BadMagic,
    /// Written by an unknown format version.
    UnsupportedVersion(u16),
    /// The length in the header does not match the image.
    BadLength,
    /// The CRC-32 does not match: the image is corrupt.
    BadChecksum,
    /// The image belongs to another lock id.
    WrongLock,
    /// The identity given is not usable.
    BadIdentity,
    /// A field is out of range or the tables are inconsistent; names the section.
    Invalid(&'static str),
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, as zlib).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        let idx = usize::from((c as u8) ^ b);
        c = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
    }
    !c
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), SaveError> {
        let end = self.pos.checked_add(b.len()).ok_or(SaveError::BufferTooSmall)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(SaveError::BufferTooSmall)?;
        dst.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), SaveError> {
        self.bytes(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), SaveError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) -> Result<(), SaveError> {
        self.bytes(&v.to_le_bytes())
    }
    fn i32(&mut self, v: i32) -> Result<(), SaveError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> Result<(), SaveError> {
        self.bytes(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> Result<(), SaveError> {
        self.bytes(&v.to_le_bytes())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    fn bad(&self) -> RestoreError {
        RestoreError::Invalid(self.section)
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RestoreError> {
        let end = self.pos.checked_add(N).ok_or(self.bad())?;
        let s = self.buf.get(self.pos..end).ok_or(self.bad())?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        self.pos = end;
        Ok(a)
    }
    fn slice(&mut self, n: usize) -> Result<&'a [u8], RestoreError> {
        let end = self.pos.checked_add(n).ok_or(self.bad())?;
        let s = self.buf.get(self.pos..end).ok_or(self.bad())?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RestoreError> {
        Ok(self.take::<1>()?[0])
    }
    fn bool(&mut self) -> Result<bool, RestoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad()),
        }
    }
    fn u16(&mut self) -> Result<u16, RestoreError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, RestoreError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, RestoreError> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, RestoreError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, RestoreError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn check(&self, ok: bool) -> Result<(), RestoreError> {
        if ok { Ok(()) } else { Err(self.bad()) }
    }
}

fn reason_code(r: Reason) -> u8 {
    match r {
        Reason::UnknownCredential => 0,
        Reason::Disabled => 1,
        Reason::OutsideSchedule => 2,
        Reason::NotYetValid => 3,
        Reason::Expired => 4,
        Reason::AlreadyUsed => 5,
        Reason::Revoked => 6,
        Reason::LockedOut => 7,
        Reason::TimeUnknown => 8,
        Reason::UsedTableFull => 9,
        Reason::NotSynced => 10,
    }
}

fn reason_from(c: u8) -> Option<Reason> {
    Some(match c {
        0 => Reason::UnknownCredential,
        1 => Reason::Disabled,
        2 => Reason::OutsideSchedule,
        3 => Reason::NotYetValid,
        4 => Reason::Expired,
        5 => Reason::AlreadyUsed,
        6 => Reason::Revoked,
        7 => Reason::LockedOut,
        8 => Reason::TimeUnknown,
        9 => Reason::UsedTableFull,
        10 => Reason::NotSynced,
        _ => return None,
    })
}

fn cause_code(c: TimeCause) -> u8 {
    match c {
        TimeCause::RtcLost => 0,
        TimeCause::Rollback => 1,
        TimeCause::ServerTime => 2,
        TimeCause::RtcSurvived => 3,
    }
}

fn cause_from(c: u8) -> Option<TimeCause> {
    Some(match c {
        0 => TimeCause::RtcLost,
        1 => TimeCause::Rollback,
        2 => TimeCause::ServerTime,
        3 => TimeCause::RtcSurvived,
        _ => return None,
    })
}

fn method_from(c: u8) -> Option<Method> {
    match c {
        0 => Some(Method::Keypad),
        1 => Some(Method::Remote),
        _ => None,
    }
}

fn method_code(m: Method) -> u8 {
    match m {
        Method::Keypad => 0,
        Method::Remote => 1,
    }
}

fn credential_code(c: Credential) -> u8 {
    match c {
        Credential::Pin => 0,
        Credential::GuestCode => 1,
        Credential::Remote => 2,
    }
}

fn credential_from(c: u8) -> Option<Credential> {
    Some(match c {
        0 => Credential::Pin,
        1 => Credential::GuestCode,
        2 => Credential::Remote,
        _ => return None,
    })
}

fn put_subject(w: &mut Writer<'_>, s: &Subject) -> Result<(), SaveError> {
    match *s {
        Subject::User(id) => {
            w.u8(0)?;
            w.u32(id)
        }
        Subject::GuestKey { slot, code, key_id } => {
            w.u8(1)?;
            w.u8(slot)?;
            w.u64(code)?;
            w.u8(u8::from(key_id.is_some()))?;
            w.u32(key_id.unwrap_or(0))
        }
    }
}

fn get_subject(r: &mut Reader<'_>) -> Result<Subject, RestoreError> {
    match r.u8()? {
        0 => Ok(Subject::User(r.u32()?)),
        1 => {
            let slot = r.u8()?;
            let code = r.u64()?;
            let has = r.bool()?;
            let key = r.u32()?;
            Ok(Subject::GuestKey {
                slot,
                code,
                key_id: has.then_some(key),
            })
        }
        _ => Err(r.bad()),
    }
}

fn put_event(w: &mut Writer<'_>, e: &Event) -> Result<(), SaveError> {
    w.u64(e.seq)?;
    w.i64(e.time)?;
    match e.kind {
        EventKind::Granted {
            method,
            subject,
            credential,
        } => {
            w.u8(0)?;
            w.u8(method_code(method))?;
            put_subject(w, &subject)?;
            w.u8(credential_code(credential))
        }
        EventKind::Denied {
            method,
            reason,
            subject,
            repeat,
        } => {
            w.u8(1)?;
            w.u8(method_code(method))?;
            w.u8(reason_code(reason))?;
            w.u8(u8::from(subject.is_some()))?;
            if let Some(s) = subject {
                put_subject(w, &s)?;
            }
            w.u16(repeat)
        }
        EventKind::LockoutStarted { until, level } => {
            w.u8(2)?;
            w.i64(until)?;
            w.u8(level)
        }
        EventKind::TimeUntrusted { cause } => {
            w.u8(3)?;
            w.u8(cause_code(cause))
        }
        EventKind::TimeTrusted { cause } => {
            w.u8(4)?;
            w.u8(cause_code(cause))
        }
        EventKind::SyncApplied { version } => {
            w.u8(5)?;
            w.u64(version)
        }
    }
}

fn get_event(r: &mut Reader<'_>) -> Result<Event, RestoreError> {
    let seq = r.u64()?;
    let time = r.i64()?;
    let kind = match r.u8()? {
        0 => {
            let method = method_from(r.u8()?).ok_or(r.bad())?;
            let subject = get_subject(r)?;
            let credential = credential_from(r.u8()?).ok_or(r.bad())?;
            EventKind::Granted {
                method,
                subject,
                credential,
            }
        }
        1 => {
            let method = method_from(r.u8()?).ok_or(r.bad())?;
            let reason = reason_from(r.u8()?).ok_or(r.bad())?;
            let subject = if r.bool()? { Some(get_subject(r)?) } else { None };
            let repeat = r.u16()?;
            r.check(repeat >= 1)?;
            EventKind::Denied {
                method,
                reason,
                subject,
                repeat,
            }
        }
        2 => EventKind::LockoutStarted {
            until: r.i64()?,
            level: r.u8()?,
        },
        3 => EventKind::TimeUntrusted {
            cause: cause_from(r.u8()?).ok_or(r.bad())?,
        },
        4 => EventKind::TimeTrusted {
            cause: cause_from(r.u8()?).ok_or(r.bad())?,
        },
        5 => EventKind::SyncApplied { version: r.u64()? },
        _ => return Err(r.bad()),
    };
    Ok(Event { seq, time, kind })
}

fn put_user(w: &mut Writer<'_>, u: &UserRecord) -> Result<(), SaveError> {
    w.u32(u.id)?;
    w.u8(u8::from(u.enabled) | (u8::from(u.pin.is_some()) << 1))?;
    if let Some(p) = u.pin {
        let (v, l) = p.parts();
        w.u32(v)?;
        w.u8(l)?;
    }
    match &u.kind {
        UserKind::Unrestricted => w.u8(0),
        UserKind::ScheduleRestricted(s) => {
            w.u8(1)?;
            w.u8(s.windows.len() as u8)?;
            for win in &s.windows {
                w.u8(win.days)?;
                w.u16(win.from)?;
                w.u16(win.to)?;
            }
            match s.dates {
                None => w.u8(0),
                Some((a, b)) => {
                    w.u8(1)?;
                    w.i32(a.0)?;
                    w.i32(b.0)
                }
            }
        }
        UserKind::Disposable => w.u8(2),
        UserKind::Expiring { from, until } => {
            w.u8(3)?;
            w.i64(*from)?;
            w.i64(*until)
        }
    }
}

fn get_user(r: &mut Reader<'_>) -> Result<UserRecord, RestoreError> {
    let id = r.u32()?;
    let flags = r.u8()?;
    r.check(flags < 4)?;
    let pin = if flags & 2 != 0 {
        let v = r.u32()?;
        let l = r.u8()?;
        Some(Pin::from_parts(v, l).ok_or(r.bad())?)
    } else {
        None
    };
    let kind = match r.u8()? {
        0 => UserKind::Unrestricted,
        1 => {
            let n = usize::from(r.u8()?);
            r.check(n <= MAX_WINDOWS)?;
            let mut windows = heapless::Vec::new();
            for _ in 0..n {
                let w = Window {
                    days: r.u8()?,
                    from: r.u16()?,
                    to: r.u16()?,
                };
                windows.push(w).map_err(|_| r.bad())?;
            }
            let dates = if r.bool()? {
                Some((LocalDate(r.i32()?), LocalDate(r.i32()?)))
            } else {
                None
            };
            UserKind::ScheduleRestricted(Schedule { windows, dates })
        }
        2 => UserKind::Disposable,
        3 => UserKind::Expiring {
            from: r.i64()?,
            until: r.i64()?,
        },
        _ => return Err(r.bad()),
    };
    r.check(kind.is_valid())?;
    Ok(UserRecord {
        id,
        enabled: flags & 1 != 0,
        kind,
        pin,
    })
}

/// The lockout of a format-1 image (wrong u8, level u8, started i64, until i64), brought to
/// today's bookkeeping with the meaning it had: the remainder of a lockout as of the later of
/// its start and the last known good time (`floor`), counted from there, and no quiet time yet.
/// Counts beyond today's limits (format 1 let a level grow past the cap) are brought within
/// them, which changes no lockout's length.
fn lockout_v1(r: &mut Reader<'_>, settings: &Settings, floor: i64) -> Result<Lockout, RestoreError> {
    let wrong = r.u8()?;
    let level = r.u8()?;
    let started = r.i64()?;
    let until = r.i64()?;
    r.check(started <= until)?;
    let at = started.max(floor);
    let remaining = if level == 0 {
        0
    } else {
        u32::try_from(until.saturating_sub(at).max(0)).unwrap_or(u32::MAX)
    };
    let mut l = Lockout {
        wrong,
        level,
        remaining,
        quiet: 0,
        at,
    };
    l.settings_changed(settings);
    Ok(l)
}

impl<
    const USERS: usize,
    const PINS: usize,
    const KEYS: usize,
    const DENY: usize,
    const USED: usize,
    const EVENTS: usize,
> Lock<USERS, PINS, KEYS, DENY, USED, EVENTS>
{
    /// The largest image `save` can write for these capacities.
    pub const MAX_ENCODED_LEN: usize =
        FIXED_MAX + USERS * USER_MAX + KEYS * RECORD_LEN + DENY * 16 + USED * 16 + EVENTS * EVENT_MAX;

    /// Writes the state into `buf` (at least [`Self::MAX_ENCODED_LEN`] bytes is always
    /// enough) and returns the image length. Allocates nothing. Call
    /// [`Lock::mark_persisted`] once the bytes are durably stored.
    pub fn save(&self, buf: &mut [u8]) -> Result<usize, SaveError> {
        let mut w = Writer { buf, pos: 0 };
        w.bytes(&MAGIC)?;
        w.u16(FORMAT_VERSION)?;
        w.u16(0)?;
        w.u32(0)?; // payload length, patched below
        w.u8(self.lock_id.len() as u8)?;
        w.bytes(&self.lock_id)?;
        w.u64(self.applied_version)?;
        w.i64(self.clock.floor)?;
        w.u8(u8::from(self.clock.trusted))?;
        let s = &self.settings;
        w.u16(s.keypad_timeout_secs)?;
        w.u8(s.lockout_attempts)?;
        w.u32(s.lockout_base_secs)?;
        w.u32(s.lockout_max_secs)?;
        w.u32(s.lockout_forget_secs)?;
        let l = &self.lockout;
        w.u8(l.wrong)?;
        w.u8(l.level)?;
        w.u32(l.remaining)?;
        w.u32(l.quiet)?;
        w.i64(l.at)?;
        for c in &self.issuers {
            w.u32(c.epoch)?;
            w.u8(u8::from(c.enabled) | (u8::from(c.revoked_epoch.is_some()) << 1))?;
            w.u32(c.revoked_epoch.unwrap_or(0))?;
        }
        w.u8(self.offsets.entries.len() as u8)?;
        w.i64(self.offsets.valid_until)?;
        for e in &self.offsets.entries {
            w.i64(e.start)?;
            w.i32(e.offset)?;
        }
        w.u16(self.users.len() as u16)?;
        for u in self.users() {
            put_user(&mut w, u)?;
        }
        w.u16(self.records.len() as u16)?;
        for r in &self.records {
            w.u64(r.code)?;
            w.u32(r.key_id)?;
            w.i64(r.from)?;
            w.i64(r.until)?;
            w.u8(u8::from(r.one_time))?;
        }
        w.u16(self.deny.len() as u16)?;
        for d in &self.deny {
            w.u64(d.code)?;
            w.i64(d.expires)?;
        }
        w.u16(self.used.len() as u16)?;
        for u in &self.used {
            w.u64(u.key)?;
            w.i64(u.expires)?;
        }
        let j = &self.journal;
        w.u64(j.next_seq)?;
        w.u64(j.dropped_security)?;
        w.u64(j.dropped_routine)?;
        w.u16(j.len() as u16)?;
        for e in j.iter() {
            put_event(&mut w, e)?;
        }
        let payload = (w.pos - HEADER_LEN) as u32;
        let end = w.pos;
        let buf = w.buf;
        buf.get_mut(8..12)
            .ok_or(SaveError::BufferTooSmall)?
            .copy_from_slice(&payload.to_le_bytes());
        let crc = crc32(buf.get(..end).ok_or(SaveError::BufferTooSmall)?);
        buf.get_mut(end..end + TRAILER_LEN)
            .ok_or(SaveError::BufferTooSmall)?
            .copy_from_slice(&crc.to_le_bytes());
        Ok(end + TRAILER_LEN)
    }

    /// Rebuilds a lock from an image written by [`Lock::save`], for the lock `lock_id` with
    /// root secret `root` (the secret is not part of the image). Checks the header, the
    /// length, the CRC-32 and every table invariant; any problem is an error and nothing is
    /// loaded. Never panics on any input.
    pub fn restore(lock_id: &[u8], root: RootSecret, bytes: &[u8]) -> Result<Self, RestoreError> {
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(RestoreError::TooShort);
        }
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(RestoreError::BadMagic);
        }
        let mut r = Reader {
            buf: bytes,
            pos: 4,
            section: "header",
        };
        let version = r.u16()?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(RestoreError::UnsupportedVersion(version));
        }
        let _reserved = r.u16()?;
        let payload = r.u32()? as usize;
        if HEADER_LEN.checked_add(payload).and_then(|n| n.checked_add(TRAILER_LEN)) != Some(bytes.len()) {
            return Err(RestoreError::BadLength);
        }
        let body_end = HEADER_LEN + payload;
        let body = bytes.get(..body_end).ok_or(RestoreError::BadLength)?;
        let stored = bytes
            .get(body_end..)
            .and_then(|t| <[u8; 4]>::try_from(t).ok())
            .map(u32::from_le_bytes)
            .ok_or(RestoreError::BadLength)?;
        if crc32(body) != stored {
            return Err(RestoreError::BadChecksum);
        }
        let mut r = Reader {
            buf: body,
            pos: HEADER_LEN,
            section: "identity",
        };
        let n = usize::from(r.u8()?);
        let id = r.slice(n)?;
        if id != lock_id {
            return Err(RestoreError::WrongLock);
        }
        let mut lock = Self::new(lock_id, root).map_err(|IdentityError::BadLockId| RestoreError::BadIdentity)?;
        r.section = "version";
        lock.applied_version = r.u64()?;
        r.section = "clock";
        lock.clock.floor = r.i64()?;
        lock.clock.trusted = r.bool()?;
        r.section = "settings";
        let settings = Settings {
            keypad_timeout_secs: r.u16()?,
            lockout_attempts: r.u8()?,
            lockout_base_secs: r.u32()?,
            lockout_max_secs: r.u32()?,
            lockout_forget_secs: r.u32()?,
        };
        r.check(settings.is_valid())?;
        lock.settings = settings;
        r.section = "lockout";
        lock.lockout = if version == 1 {
            lockout_v1(&mut r, &lock.settings, lock.clock.floor)?
        } else {
            let l = Lockout {
                wrong: r.u8()?,
                level: r.u8()?,
                remaining: r.u32()?,
                quiet: r.u32()?,
                at: r.i64()?,
            };
            r.check(l.is_valid(&lock.settings))?;
            l
        };
        r.section = "issuers";
        for slot in 0..ISSUER_SLOTS {
            let epoch = r.u32()?;
            let flags = r.u8()?;
            r.check(flags < 4)?;
            let rev = r.u32()?;
            let cfg = IssuerConfig {
                epoch,
                enabled: flags & 1 != 0,
                revoked_epoch: (flags & 2 != 0).then_some(rev),
            };
            r.check(cfg.revoked_epoch.is_none_or(|e| e <= epoch))?;
            lock.set_issuer_config(slot, cfg);
        }
        r.section = "offsets";
        let n = usize::from(r.u8()?);
        r.check(n <= OFFSET_CAPACITY)?;
        let valid_until = r.i64()?;
        let mut entries = [OffsetEntry { start: 0, offset: 0 }; OFFSET_CAPACITY];
        for e in entries.iter_mut().take(n) {
            *e = OffsetEntry {
                start: r.i64()?,
                offset: r.i32()?,
            };
        }
        lock.offsets = OffsetTable::new(entries.get(..n).unwrap_or(&[]), valid_until).map_err(|_| r.bad())?;
        r.section = "users";
        let n = usize::from(r.u16()?);
        r.check(n <= USERS)?;
        let mut prev: Option<u32> = None;
        for _ in 0..n {
            let u = get_user(&mut r)?;
            r.check(prev.is_none_or(|p| p < u.id))?;
            prev = Some(u.id);
            if let Some(p) = &u.pin {
                r.check(lock.pin_owner(p).is_none())?;
            }
            r.check(lock.put_user(u))?;
        }
        r.section = "guest keys";
        let n = usize::from(r.u16()?);
        r.check(n <= KEYS)?;
        for _ in 0..n {
            let rec = GuestRecord {
                code: r.u64()?,
                key_id: r.u32()?,
                from: r.i64()?,
                until: r.i64()?,
                one_time: r.bool()?,
            };
            r.check(rec.from < rec.until && lock.records.last().is_none_or(|p| p.code < rec.code))?;
            r.check(lock.records.push(rec).is_ok())?;
        }
        r.section = "deny entries";
        let n = usize::from(r.u16()?);
        r.check(n <= DENY)?;
        for _ in 0..n {
            let d = DenyEntry {
                code: r.u64()?,
                expires: r.i64()?,
            };
            r.check(lock.deny.last().is_none_or(|p| p.code < d.code))?;
            r.check(lock.deny.push(d).is_ok())?;
        }
        r.section = "used";
        let n = usize::from(r.u16()?);
        r.check(n <= USED)?;
        for _ in 0..n {
            let u = UsedEntry {
                key: r.u64()?,
                expires: r.i64()?,
            };
            r.check(lock.used.last().is_none_or(|p| p.key < u.key))?;
            r.check(lock.used.push(u).is_ok())?;
        }
        r.section = "journal";
        let mut journal = Journal::<EVENTS>::new();
        journal.next_seq = r.u64()?;
        let dropped_security = r.u64()?;
        let dropped_routine = r.u64()?;
        let n = usize::from(r.u16()?);
        r.check(n <= EVENTS && journal.next_seq >= 1)?;
        let mut prev = 0u64;
        for _ in 0..n {
            let e = get_event(&mut r)?;
            r.check(e.seq > prev && e.seq < journal.next_seq)?;
            prev = e.seq;
            journal.insert(e);
        }
        journal.dropped_security = dropped_security;
        journal.dropped_routine = dropped_routine;
        r.check(journal.len() == n)?;
        lock.journal = journal;
        r.section = "end";
        r.check(r.pos == body.len())?;
        lock.set_clean_after_restore();
        Ok(lock)
    }
}
