//! The lock: its tables, the decision engine, the keypad and the lockout.

use crate::journal::{Event, EventKind, Journal, JournalIter, JournalStats};
use crate::lockout::{Lockout, LockoutStatus};
use crate::model::{
    Credential, Decision, DenyEntry, GuestRecord, Input, Key, Method, Pin, Reason, Settings, Subject, UserId, UserKind,
    UserRecord,
};
use crate::time::{Clock, OffsetTable, TimeCause, TimeState};
use core::hash::Hasher;
use heapless::Vec;
use latchkey_guest_code::{
    self as gc, CODE_DIGITS, Check, Code, ISSUER_SLOTS, IssuerState, MAX_LOCK_ID, RootSecret, Timing, Validity,
};
use siphasher::sip::SipHasher24;
use subtle::ConditionallySelectable;

/// Keypad buffer: longer entries are wrong entries (the buffer is capped, never grows).
pub const KEYPAD_BUFFER: usize = 16;

/// A trusted floor that advanced this much since the last save makes the state worth saving.
const FLOOR_SAVE_STEP: i64 = 3600;

/// Buckets of the PIN index: the top bits of the keyed hash select a bucket, so a lookup
/// scans a handful of entries instead of binary-searching the whole table.
const PIN_BUCKET_BITS: u32 = 11;
const PIN_BUCKETS: usize = 1 << PIN_BUCKET_BITS;

/// Marks user entries in the used table (codes are below 10^12 < 2^40).
const USED_USER_TAG: u64 = 1 << 62;

/// One issuer slot as configured by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IssuerConfig {
    /// Current epoch.
    pub epoch: u32,
    /// Whether the current epoch's key is accepted.
    pub enabled: bool,
    /// A previous (or disabled) epoch whose codes are reported as `Revoked`.
    pub revoked_epoch: Option<u32>,
}

/// An entry of the durable used-credential table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UsedEntry {
    /// A code's `as_u64()`, or `USED_USER_TAG | user id` for a Disposable user.
    pub key: u64,
    /// UTC instant from which the entry may be pruned (`i64::MAX` for users).
    pub expires: i64,
}

/// Why a lock could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The lock id is empty or longer than `latchkey_guest_code::MAX_LOCK_ID` bytes.
    BadLockId,
}

/// The keypad's partial entry (not persisted).
#[derive(Clone)]
pub(crate) struct Keypad {
    buf: [u8; KEYPAD_BUFFER],
    len: u8,
    overflow: bool,
    last: i64,
}

impl Keypad {
    const fn new() -> Self {
        Keypad {
            buf: [0; KEYPAD_BUFFER],
            len: 0,
            overflow: false,
            last: 0,
        }
    }

    fn clear(&mut self) {
        self.buf = [0; KEYPAD_BUFFER];
        self.len = 0;
        self.overflow = false;
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && !self.overflow
    }
}

/// The lock core: everything a lock knows, and the decisions it makes from it.
///
/// Capacities are compile-time parameters: `USERS` users, `PINS` PINs (at most one per user),
/// `KEYS` synced guest-key records, `DENY` deny entries, `USED` used one-time credentials and
/// `EVENTS` journaled events. [`crate::StandardLock`] has the product's targets.
///
/// Every method takes the current UTC time (`now`, Unix seconds) from the host; the core never
/// reads a clock.
pub struct Lock<
    const USERS: usize,
    const PINS: usize,
    const KEYS: usize,
    const DENY: usize,
    const USED: usize,
    const EVENTS: usize,
> {
    pub(crate) lock_id: Vec<u8, MAX_LOCK_ID>,
    pub(crate) root: RootSecret,
    pin_key: (u64, u64),
    pub(crate) issuers: [IssuerConfig; ISSUER_SLOTS],
    issuer_states: [IssuerState; ISSUER_SLOTS],
    pub(crate) settings: Settings,
    pub(crate) offsets: OffsetTable,
    pub(crate) clock: Clock,
    pub(crate) lockout: Lockout,
    /// Users in slots (unordered; removal swaps the last one in).
    pub(crate) users: Vec<UserRecord, USERS>,
    /// (user id, slot), sorted by id.
    pub(crate) by_id: Vec<(UserId, u16), USERS>,
    /// (top 32 bits of the keyed hash of the PIN, slot), sorted by that tag. Eight bytes an
    /// entry keep the index small enough to stay in cache next to the user table.
    pub(crate) by_pin: Vec<(u32, u16), PINS>,
    /// `pin_buckets[b]`: index in `by_pin` of the first entry whose bucket is `>= b`.
    pin_buckets: [u16; PIN_BUCKETS + 1],
    /// Guest-key records sorted by code.
    pub(crate) records: Vec<GuestRecord, KEYS>,
    /// Deny entries sorted by code.
    pub(crate) deny: Vec<DenyEntry, DENY>,
    /// Used one-time credentials sorted by key.
    pub(crate) used: Vec<UsedEntry, USED>,
    pub(crate) journal: Journal<EVENTS>,
    keypad: Keypad,
    pub(crate) applied_version: u64,
    dirty: bool,
}

const NO_ISSUER: IssuerState = IssuerState {
    epoch: 0,
    key: None,
    revoked_key: None,
    revoked_epoch: 0,
};

fn le64(bytes: &[u8; 32], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// The SipHash key of the PIN index, derived from the root secret (SipHash-2-4 as a PRF).
fn derive_pin_key(root: &RootSecret) -> (u64, u64) {
    let k0 = le64(&root.0, 0) ^ le64(&root.0, 16);
    let k1 = le64(&root.0, 8) ^ le64(&root.0, 24);
    let part = |label: &[u8]| {
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(label);
        h.finish()
    };
    (
        part(b"latchkey/lock-core/pin-index/0"),
        part(b"latchkey/lock-core/pin-index/1"),
    )
}

/// SipHash-1-3 of the 8 little-endian bytes of `m` under `key`, specialised for this one
/// fixed-size input (same output as `siphasher::sip::SipHasher13` writing those bytes; a unit
/// test checks it).
#[inline]
pub(crate) fn siphash13_u64(key: (u64, u64), m: u64) -> u64 {
    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let (k0, k1) = key;
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    v[3] ^= m;
    round(&mut v);
    v[0] ^= m;
    let b = 8u64 << 56;
    v[3] ^= b;
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

pub(crate) fn used_user_key(id: UserId) -> u64 {
    USED_USER_TAG | u64::from(id)
}

/// Removes `v[i]` when `i` is in bounds.
pub(crate) fn vec_remove<T, const N: usize>(v: &mut Vec<T, N>, i: usize) -> Option<T> {
    (i < v.len()).then(|| v.remove(i))
}

/// Inserts at `i` when `i <= len` and there is room.
pub(crate) fn vec_insert<T, const N: usize>(v: &mut Vec<T, N>, i: usize, x: T) -> bool {
    i <= v.len() && v.insert(i, x).is_ok()
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
    // Table lengths are persisted as u16 (and user slots are u16).
    const CAPACITY_CHECK: () = assert!(
        USERS <= u16::MAX as usize
            && PINS <= u16::MAX as usize
            && KEYS <= u16::MAX as usize
            && DENY <= u16::MAX as usize
            && USED <= u16::MAX as usize
            && EVENTS <= u16::MAX as usize
    );

    /// A fresh lock with no users, default settings, no issuers, an empty offset table and
    /// untrusted time. `lock_id` is 1 to 64 bytes.
    pub fn new(lock_id: &[u8], root: RootSecret) -> Result<Self, IdentityError> {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_CHECK;
        if lock_id.is_empty() {
            return Err(IdentityError::BadLockId);
        }
        let lock_id = Vec::from_slice(lock_id).map_err(|_| IdentityError::BadLockId)?;
        Ok(Lock {
            lock_id,
            pin_key: derive_pin_key(&root),
            root,
            issuers: [IssuerConfig::default(); ISSUER_SLOTS],
            issuer_states: [NO_ISSUER; ISSUER_SLOTS],
            settings: Settings::DEFAULT,
            offsets: OffsetTable::default(),
            clock: Clock::new(),
            lockout: Lockout::default(),
            users: Vec::new(),
            by_id: Vec::new(),
            by_pin: Vec::new(),
            pin_buckets: [0; PIN_BUCKETS + 1],
            records: Vec::new(),
            deny: Vec::new(),
            used: Vec::new(),
            journal: Journal::new(),
            keypad: Keypad::new(),
            applied_version: 0,
            dirty: true,
        })
    }

    // ------------------------------------------------------------------ accessors

    /// The lock's id.
    pub fn lock_id(&self) -> &[u8] {
        &self.lock_id
    }

    /// The sync version last applied (0: none); the host acknowledges it to the server.
    pub fn applied_version(&self) -> u64 {
        self.applied_version
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The offset table in force.
    pub fn offset_table(&self) -> &OffsetTable {
        &self.offsets
    }

    /// The issuer slots as configured.
    pub fn issuers(&self) -> &[IssuerConfig; ISSUER_SLOTS] {
        &self.issuers
    }

    /// Whether the clock is trusted.
    pub fn time_state(&self) -> TimeState {
        if self.clock.trusted {
            TimeState::Trusted
        } else {
            TimeState::Untrusted
        }
    }

    /// The last known good time (UTC Unix seconds).
    pub fn time_floor(&self) -> i64 {
        self.clock.floor
    }

    /// Local wall-clock seconds for `utc` from the offset table (`None`: not covered).
    pub fn local_time(&self, utc: i64) -> Option<i64> {
        self.offsets.local(utc)
    }

    /// The end of the keypad lockout in force at `now`, if any (does not change state).
    pub fn locked_until(&self, now: i64) -> Option<i64> {
        self.lockout.locked_until(now)
    }

    /// Wrong keypad entries counted toward the next lockout, as of the last decision or time
    /// event (see [`Lock::lockout_status`] for the count as of an instant).
    pub fn wrong_entries(&self) -> u8 {
        self.lockout.wrong
    }

    /// The keypad lockout as of `now`: wrong entries counted, doubling level and the end of a
    /// lockout in force, after the decay that time alone brings (does not change state).
    pub fn lockout_status(&self, now: i64) -> LockoutStatus {
        self.lockout.status(now, &self.settings, self.time_known(now))
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Option<&UserRecord> {
        self.slot_of(id).and_then(|s| self.users.get(usize::from(s)))
    }

    /// Users, in id order.
    pub fn users(&self) -> impl Iterator<Item = &UserRecord> + '_ {
        self.by_id.iter().filter_map(|&(_, s)| self.users.get(usize::from(s)))
    }

    /// Number of users / PINs / guest records / deny entries / used entries held.
    pub fn counts(&self) -> Counts {
        Counts {
            users: self.users.len(),
            pins: self.by_pin.len(),
            guest_keys: self.records.len(),
            deny_entries: self.deny.len(),
            used: self.used.len(),
            events: self.journal.len(),
        }
    }

    /// Synced guest-key records, by code.
    pub fn guest_keys(&self) -> &[GuestRecord] {
        &self.records
    }

    /// Deny entries, by code.
    pub fn deny_entries(&self) -> &[DenyEntry] {
        &self.deny
    }

    /// Whether a code (`Code::as_u64()`) is recorded as used.
    pub fn is_code_used(&self, code: u64) -> bool {
        self.used.binary_search_by_key(&code, |e| e.key).is_ok()
    }

    // ------------------------------------------------------------------ journal

    /// Journaled events not yet acknowledged, in sequence order.
    pub fn events(&self) -> JournalIter<'_, EVENTS> {
        self.journal.iter()
    }

    /// Drops every event with a sequence number up to `seq` (the server has them).
    pub fn ack(&mut self, seq: u64) {
        let before = self.journal.len();
        self.journal.ack(seq);
        if self.journal.len() != before {
            self.dirty = true;
        }
    }

    /// Sequence and drop counters, uploaded with the events.
    pub fn journal_stats(&self) -> JournalStats {
        self.journal.stats()
    }

    #[inline]
    pub(crate) fn log(&mut self, time: i64, kind: EventKind) {
        self.journal.push(time, kind);
        self.dirty = true;
    }

    /// The newest journaled event, if any.
    pub fn last_event(&self) -> Option<&Event> {
        self.journal.iter().last()
    }

    // ------------------------------------------------------------------ persistence flags

    /// Whether the state changed in a way worth saving since the last save or restore. The host
    /// saves when this is true (at the latest before acknowledging a sync version or events
    /// to the server, and always before opening on a grant with `persist_first`).
    pub fn is_dirty(&self) -> bool {
        self.dirty || self.clock.floor - self.clock.saved_floor >= FLOOR_SAVE_STEP
    }

    /// Tells the core that the bytes from the last [`Lock::save`] are durably stored.
    pub fn mark_persisted(&mut self) {
        self.dirty = false;
        self.clock.saved_floor = self.clock.floor;
    }

    pub(crate) fn set_clean_after_restore(&mut self) {
        self.dirty = false;
        self.clock.saved_floor = self.clock.floor;
    }

    // ------------------------------------------------------------------ time

    /// Start-up: the host says whether its real-time clock kept time through the power loss.
    /// A lost clock, or one earlier than the last known good time, makes time untrusted until
    /// the server sets it. Also clears any partial keypad entry.
    ///
    /// The keypad lockout is credited with the time the power was off only when the clock
    /// survived and reads no earlier than before (and it counts toward the decay only if time
    /// stays trusted); a lost clock credits nothing, since its reading says nothing about how
    /// long the lock was off.
    pub fn power_on(&mut self, now: i64, rtc_survived: bool) {
        self.keypad.clear();
        if self.clock.trusted {
            if !rtc_survived {
                self.untrust(now, TimeCause::RtcLost);
            } else if now < self.clock.floor {
                self.untrust(now, TimeCause::Rollback);
            } else {
                self.clock.floor = now;
            }
        }
        let changed = if rtc_survived {
            self.lockout.credit(now, &self.settings, self.clock.trusted)
        } else {
            self.lockout.rebase(now)
        };
        if changed {
            self.dirty = true;
        }
    }

    /// An authenticated time message from the server: `utc` is the current UTC time; the host
    /// sets its clock to it too. Time becomes trusted and `utc` the last known good time.
    ///
    /// The lockout is credited up to `utc` when the clock was trusted (the server confirms the
    /// time that passed); after untrusted time nothing is credited for the jump, so a lost or
    /// rolled-back clock that the server then sets never shortens a lockout or refills the
    /// wrong-entry budget.
    pub fn set_trusted_time(&mut self, utc: i64) {
        let was = self.clock.trusted;
        if was {
            self.lockout.credit(utc, &self.settings, true);
        } else {
            self.lockout.rebase(utc);
        }
        self.clock.trusted = true;
        self.clock.floor = utc;
        self.dirty = true;
        if !was {
            self.log(
                utc,
                EventKind::TimeTrusted {
                    cause: TimeCause::ServerTime,
                },
            );
        }
    }

    fn untrust(&mut self, now: i64, cause: TimeCause) {
        self.clock.trusted = false;
        self.log(now, EventKind::TimeUntrusted { cause });
    }

    /// Every call sees `now`: a trusted clock advances the floor; a clock earlier than the
    /// floor stops being trusted.
    ///
    /// The lockout is credited with the time since it last saw the clock (nothing when the
    /// clock went back).
    #[inline]
    fn observe_time(&mut self, now: i64) {
        if self.clock.trusted {
            if now < self.clock.floor {
                self.untrust(now, TimeCause::Rollback);
            } else {
                self.clock.floor = now;
            }
        }
        if self.lockout.credit(now, &self.settings, self.clock.trusted) {
            self.dirty = true;
        }
    }

    #[inline]
    pub(crate) fn time_known(&self, now: i64) -> bool {
        self.clock.trusted && now >= self.clock.floor
    }

    // ------------------------------------------------------------------ lockout

    /// Counts a wrong keypad entry (time credited, no lockout in force); returns the lockout
    /// event when this one starts a lockout.
    #[inline]
    fn wrong_entry(&mut self, now: i64) -> Option<EventKind> {
        self.dirty = true;
        let (until, level) = self.lockout.wrong_entry(now, &self.settings)?;
        Some(EventKind::LockoutStarted { until, level })
    }

    // ------------------------------------------------------------------ keypad

    /// One key press. Returns a decision when `#` completes a non-empty entry. A partial entry
    /// older than the keypad timeout is discarded first; `*` clears; more than
    /// [`KEYPAD_BUFFER`] digits make the entry wrong.
    pub fn press(&mut self, key: Key, now: i64) -> Option<Decision> {
        let timeout = i64::from(self.settings.keypad_timeout_secs);
        if !self.keypad.is_empty()
            && (now < self.keypad.last || (timeout > 0 && now.saturating_sub(self.keypad.last) > timeout))
        {
            self.keypad.clear();
        }
        self.keypad.last = now;
        match key {
            Key::Digit(d) => {
                let len = usize::from(self.keypad.len);
                match self.keypad.buf.get_mut(len) {
                    Some(slot) if d <= 9 && !self.keypad.overflow => {
                        *slot = b'0' + d;
                        self.keypad.len += 1;
                    }
                    _ => self.keypad.overflow = true,
                }
                None
            }
            Key::Clear => {
                self.keypad.clear();
                None
            }
            Key::Confirm => {
                if self.keypad.is_empty() {
                    return None;
                }
                let buf = self.keypad.buf;
                let len = if self.keypad.overflow {
                    KEYPAD_BUFFER
                } else {
                    usize::from(self.keypad.len)
                };
                self.keypad.clear();
                let entry = buf.get(..len).unwrap_or(&[]);
                Some(self.decide(Input::Keypad(entry), now))
            }
        }
    }

    // ------------------------------------------------------------------ decisions

    /// Decides on a complete keypad entry or a remote command at `now` (UTC Unix seconds), and
    /// journals the outcome. A grant with `persist_first` must be saved before the bolt moves.
    pub fn decide(&mut self, input: Input<'_>, now: i64) -> Decision {
        self.observe_time(now);
        match input {
            Input::Keypad(entry) => self.decide_keypad(entry, now),
            Input::Remote(id) => self.decide_remote(id, now),
        }
    }

    fn decide_remote(&mut self, id: UserId, now: i64) -> Decision {
        let verdict = match self.slot_of(id).and_then(|slot| self.user_verdict(slot, now)) {
            Some((_, v)) => v,
            None => Err(Reason::UnknownCredential),
        };
        // Remote commands are not subject to the keypad lockout and never count.
        self.finish_user(Method::Remote, Credential::Remote, id, verdict, now)
    }

    /// A keypad entry: lockout, then a guest code (12 digits) or a PIN (6 to 8 digits).
    ///
    /// The PIN path builds its event and decision once, from small values (user id and
    /// verdict), rather than moving `Decision`/`EventKind` values through several layers.
    #[inline]
    fn decide_keypad(&mut self, entry: &[u8], now: i64) -> Decision {
        if self.lockout.in_force() {
            // Not evaluated at all: nothing counts, nothing is consumed.
            return self.deny_keypad(Reason::LockedOut, None, now);
        }
        if entry.len() == CODE_DIGITS {
            return match self.guest_decision(entry, now) {
                (
                    decision @ Decision::Grant {
                        subject, credential, ..
                    },
                    _,
                ) => {
                    // A correct entry leaves the wrong-entry budget alone: only time refills it.
                    self.log(
                        now,
                        EventKind::Granted {
                            method: Method::Keypad,
                            subject,
                            credential,
                        },
                    );
                    decision
                }
                (Decision::Deny(reason), subject) => self.deny_keypad(reason, subject, now),
            };
        }
        let slot = match Pin::parse(entry) {
            Some(pin) => self.pin_slot(&pin),
            None => None,
        };
        match slot.and_then(|slot| self.user_verdict(slot, now)) {
            Some((id, verdict)) => {
                // A grant leaves the wrong-entry budget alone: only time refills it.
                let lockout = match verdict {
                    Err(r) if r.counts_toward_lockout() => self.wrong_entry(now),
                    _ => None,
                };
                let decision = self.finish_user(Method::Keypad, Credential::Pin, id, verdict, now);
                if let Some(l) = lockout {
                    self.log(now, l);
                }
                decision
            }
            None => self.deny_keypad(Reason::UnknownCredential, None, now),
        }
    }

    /// Journals and returns a keypad denial, counting it toward the lockout when it counts.
    fn deny_keypad(&mut self, reason: Reason, subject: Option<Subject>, now: i64) -> Decision {
        let lockout = if reason.counts_toward_lockout() {
            self.wrong_entry(now)
        } else {
            None
        };
        self.log(
            now,
            EventKind::Denied {
                method: Method::Keypad,
                reason,
                subject,
                repeat: 1,
            },
        );
        if let Some(l) = lockout {
            self.log(now, l);
        }
        Decision::Deny(reason)
    }

    /// Journals a user's verdict (`Ok(persist_first)` or the reason) and returns the decision.
    #[inline]
    fn finish_user(
        &mut self,
        method: Method,
        credential: Credential,
        id: UserId,
        verdict: Result<bool, Reason>,
        now: i64,
    ) -> Decision {
        let subject = Subject::User(id);
        match verdict {
            Ok(persist_first) => {
                self.log(
                    now,
                    EventKind::Granted {
                        method,
                        subject,
                        credential,
                    },
                );
                Decision::Grant {
                    subject,
                    credential,
                    persist_first,
                }
            }
            Err(reason) => {
                self.log(
                    now,
                    EventKind::Denied {
                        method,
                        reason,
                        subject: Some(subject),
                        repeat: 1,
                    },
                );
                Decision::Deny(reason)
            }
        }
    }

    /// The rights and schedule checks of the user in `slot` (PIN or remote): its id and
    /// `Ok(persist_first)` or the reason of the denial. `None` when the slot is empty.
    #[inline]
    fn user_verdict(&mut self, slot: u16, now: i64) -> Option<(UserId, Result<bool, Reason>)> {
        let user = self.users.get(usize::from(slot))?;
        let id = user.id;
        if !user.enabled {
            return Some((id, Err(Reason::Disabled)));
        }
        let verdict: Result<bool, Reason> = match &user.kind {
            UserKind::Unrestricted => Ok(false),
            UserKind::ScheduleRestricted(schedule) => {
                if !self.time_known(now) {
                    Err(Reason::TimeUnknown)
                } else {
                    match self.offsets.local(now) {
                        None => Err(Reason::TimeUnknown),
                        Some(local) => schedule.check(local).map(|()| false),
                    }
                }
            }
            UserKind::Expiring { from, until } => {
                if !self.time_known(now) {
                    Err(Reason::TimeUnknown)
                } else if now < *from {
                    Err(Reason::NotYetValid)
                } else if now >= *until {
                    Err(Reason::Expired)
                } else {
                    Ok(false)
                }
            }
            UserKind::Disposable => Ok(true),
        };
        let verdict = match verdict {
            Ok(true) => self.use_once(used_user_key(id), i64::MAX, now).map(|()| true),
            v => v,
        };
        Some((id, verdict))
    }

    /// Records a one-time use durably-to-be (the caller's grant carries `persist_first`).
    fn use_once(&mut self, key: u64, expires: i64, now: i64) -> Result<(), Reason> {
        let pos = match self.used.binary_search_by_key(&key, |e| e.key) {
            Ok(_) => return Err(Reason::AlreadyUsed),
            Err(pos) => pos,
        };
        let pos = if self.used.is_full() && self.time_known(now) {
            self.used.retain(|e| e.expires > now);
            self.used.partition_point(|e| e.key < key)
        } else {
            pos
        };
        if vec_insert(&mut self.used, pos, UsedEntry { key, expires }) {
            self.dirty = true;
            Ok(())
        } else {
            Err(Reason::UsedTableFull)
        }
    }

    fn guest_decision(&mut self, entry: &[u8], now: i64) -> (Decision, Option<Subject>) {
        let known = self.time_known(now);
        // Reconstruct the code's hour from the best time we have.
        let t = if known { now } else { now.max(self.clock.floor) };
        match gc::check(entry, &self.lock_id, &self.issuer_states, t) {
            Check::Unknown => (Decision::Deny(Reason::UnknownCredential), None),
            Check::Revoked { slot } => {
                let code = <[u8; CODE_DIGITS]>::try_from(entry)
                    .map(|a| Code(a).as_u64())
                    .unwrap_or(0);
                let subject = Subject::GuestKey {
                    slot,
                    code,
                    key_id: None,
                };
                (Decision::Deny(Reason::Revoked), Some(subject))
            }
            Check::Genuine {
                slot,
                validity,
                one_time,
                code,
            } => {
                let id = code.as_u64();
                let record = self
                    .records
                    .binary_search_by_key(&id, |r| r.code)
                    .ok()
                    .and_then(|i| self.records.get(i))
                    .copied();
                let subject = Subject::GuestKey {
                    slot,
                    code: id,
                    key_id: record.map(|r| r.key_id),
                };
                let deny = |r| (Decision::Deny(r), Some(subject));
                if !known {
                    return deny(Reason::TimeUnknown);
                }
                if self.deny.binary_search_by_key(&id, |d| d.code).is_ok() {
                    return deny(Reason::Revoked);
                }
                let own_end = match validity {
                    Validity::Held { .. } if record.is_none() => return deny(Reason::NotSynced),
                    Validity::Held { .. } => i64::MIN,
                    // One hour of slack at most past the code's own window.
                    Validity::Window { start_hour, hours } => (i64::from(start_hour) + i64::from(hours) + 1) * 3600,
                };
                match gc::timing(validity, now) {
                    Timing::NotYetValid => return deny(Reason::NotYetValid),
                    Timing::Expired => return deny(Reason::Expired),
                    Timing::Valid => {}
                }
                if let Some(r) = record {
                    if now < r.from {
                        return deny(Reason::NotYetValid);
                    }
                    if now >= r.until {
                        return deny(Reason::Expired);
                    }
                }
                let one_time = one_time || record.is_some_and(|r| r.one_time);
                if one_time {
                    let expires = own_end.max(record.map_or(i64::MIN, |r| r.until));
                    if let Err(r) = self.use_once(id, expires, now) {
                        return deny(r);
                    }
                }
                (
                    Decision::Grant {
                        subject,
                        credential: Credential::GuestCode,
                        persist_first: one_time,
                    },
                    Some(subject),
                )
            }
        }
    }

    // ------------------------------------------------------------------ tables

    pub(crate) fn slot_of(&self, id: UserId) -> Option<u16> {
        let i = self.by_id.binary_search_by_key(&id, |e| e.0).ok()?;
        self.by_id.get(i).map(|e| e.1)
    }

    /// The index tag of a PIN: the top 32 bits of its keyed hash (SipHash-1-3).
    #[inline]
    pub(crate) fn pin_tag(&self, pin: &Pin) -> u32 {
        (siphash13_u64(self.pin_key, pin.packed()) >> 32) as u32
    }

    #[inline]
    fn bucket_of(h: u32) -> usize {
        (h >> (32 - PIN_BUCKET_BITS)) as usize
    }

    /// The entries of `by_pin` in the bucket of tag `h`, and the index of the first one.
    #[inline]
    fn pin_bucket(&self, h: u32) -> (usize, &[(u32, u16)]) {
        let b = Self::bucket_of(h);
        let lo = self.pin_buckets.get(b).copied().map_or(0, usize::from);
        let hi = self.pin_buckets.get(b + 1).copied().map_or(0, usize::from);
        (lo, self.by_pin.get(lo..hi).unwrap_or(&[]))
    }

    /// The slot whose PIN equals `pin`: keyed-hash lookup, then a constant-time comparison of
    /// every candidate with that hash (one `ct_eq` on the packed PIN, a branch-free select of
    /// the slot, and the match flags OR-ed as plain bytes).
    #[inline]
    pub(crate) fn pin_slot(&self, pin: &Pin) -> Option<u16> {
        let h = self.pin_tag(pin);
        let (_, bucket) = self.pin_bucket(h);
        let mut found = 0u8;
        let mut slot = 0u16;
        for &(eh, s) in bucket {
            if eh != h {
                continue;
            }
            let eq = match self.users.get(usize::from(s)).and_then(|u| u.pin.as_ref()) {
                Some(p) => p.ct_eq(pin),
                None => continue,
            };
            slot = u16::conditional_select(&slot, &s, eq);
            found |= eq.unwrap_u8();
        }
        (found != 0).then_some(slot)
    }

    fn pin_index_insert(&mut self, pin: &Pin, slot: u16) -> bool {
        let h = self.pin_tag(pin);
        let (lo, bucket) = self.pin_bucket(h);
        let pos = lo + bucket.partition_point(|e| e.0 < h);
        if !vec_insert(&mut self.by_pin, pos, (h, slot)) {
            return false;
        }
        for b in self.pin_buckets.iter_mut().skip(Self::bucket_of(h) + 1) {
            *b += 1;
        }
        true
    }

    fn pin_index_position(&self, pin: &Pin, slot: u16) -> Option<usize> {
        let h = self.pin_tag(pin);
        let (lo, bucket) = self.pin_bucket(h);
        bucket.iter().position(|e| e.0 == h && e.1 == slot).map(|p| lo + p)
    }

    fn pin_index_remove(&mut self, pin: &Pin, slot: u16) {
        if let Some(i) = self.pin_index_position(pin, slot)
            && let Some((h, _)) = vec_remove(&mut self.by_pin, i)
        {
            for b in self.pin_buckets.iter_mut().skip(Self::bucket_of(h) + 1) {
                *b = b.saturating_sub(1);
            }
        }
    }

    /// Inserts or replaces a user (keeps the PIN index in step). False only when full.
    pub(crate) fn put_user(&mut self, rec: UserRecord) -> bool {
        if let Some(slot) = self.slot_of(rec.id) {
            let old_pin = self.users.get(usize::from(slot)).and_then(|u| u.pin);
            if old_pin != rec.pin {
                if let Some(p) = old_pin {
                    self.pin_index_remove(&p, slot);
                }
                if let Some(p) = rec.pin
                    && !self.pin_index_insert(&p, slot)
                {
                    return false;
                }
            }
            if let Some(u) = self.users.get_mut(usize::from(slot)) {
                *u = rec;
            }
            return true;
        }
        let slot = self.users.len() as u16;
        let (id, pin) = (rec.id, rec.pin);
        if self.by_pin.is_full() && pin.is_some() {
            return false;
        }
        if self.users.push(rec).is_err() {
            return false;
        }
        let pos = self.by_id.partition_point(|e| e.0 < id);
        let ok = vec_insert(&mut self.by_id, pos, (id, slot));
        match pin {
            Some(p) => ok && self.pin_index_insert(&p, slot),
            None => ok,
        }
    }

    /// Removes a user, its PIN and its used-table entry.
    pub(crate) fn remove_user(&mut self, id: UserId) {
        let Ok(pos) = self.by_id.binary_search_by_key(&id, |e| e.0) else {
            return;
        };
        let Some((_, slot)) = vec_remove(&mut self.by_id, pos) else {
            return;
        };
        if let Some(p) = self.users.get(usize::from(slot)).and_then(|u| u.pin) {
            self.pin_index_remove(&p, slot);
        }
        let last = self.users.len().saturating_sub(1) as u16;
        if usize::from(slot) < self.users.len() {
            self.users.swap_remove(usize::from(slot));
        }
        if slot != last
            && let Some(moved) = self.users.get(usize::from(slot))
        {
            let (mid, mpin) = (moved.id, moved.pin);
            if let Ok(i) = self.by_id.binary_search_by_key(&mid, |e| e.0)
                && let Some(e) = self.by_id.get_mut(i)
            {
                e.1 = slot;
            }
            if let Some(p) = mpin
                && let Some(i) = self.pin_index_position(&p, last)
                && let Some(e) = self.by_pin.get_mut(i)
            {
                e.1 = slot;
            }
        }
        if let Ok(i) = self.used.binary_search_by_key(&used_user_key(id), |e| e.key) {
            vec_remove(&mut self.used, i);
        }
    }

    /// Sets or clears the PIN of an existing user. False when the user is missing or full.
    pub(crate) fn set_pin(&mut self, id: UserId, pin: Option<Pin>) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        let old = self.users.get(usize::from(slot)).and_then(|u| u.pin);
        if old == pin {
            return true;
        }
        if let Some(p) = old {
            self.pin_index_remove(&p, slot);
        }
        if let Some(p) = pin
            && !self.pin_index_insert(&p, slot)
        {
            return false;
        }
        if let Some(u) = self.users.get_mut(usize::from(slot)) {
            u.pin = pin;
        }
        true
    }

    /// The owner of a PIN, if any.
    pub(crate) fn pin_owner(&self, pin: &Pin) -> Option<UserId> {
        let slot = self.pin_slot(pin)?;
        self.users.get(usize::from(slot)).map(|u| u.id)
    }

    pub(crate) fn set_issuer_config(&mut self, slot: usize, cfg: IssuerConfig) {
        if let Some(c) = self.issuers.get_mut(slot) {
            *c = cfg;
        }
        let state = self.derive_issuer(slot as u8, cfg);
        if let Some(s) = self.issuer_states.get_mut(slot) {
            *s = state;
        }
    }

    fn derive_issuer(&self, slot: u8, cfg: IssuerConfig) -> IssuerState {
        let needs = cfg.enabled || cfg.revoked_epoch.is_some();
        if !needs {
            return IssuerState {
                epoch: cfg.epoch,
                ..NO_ISSUER
            };
        }
        IssuerState {
            epoch: cfg.epoch,
            key: cfg.enabled.then(|| self.root.issuer_key(slot, cfg.epoch)),
            revoked_key: cfg.revoked_epoch.map(|e| self.root.issuer_key(slot, e)),
            revoked_epoch: cfg.revoked_epoch.unwrap_or(0),
        }
    }

    pub(crate) fn clear_server_data(&mut self) {
        self.users.clear();
        self.by_id.clear();
        self.by_pin.clear();
        self.pin_buckets = [0; PIN_BUCKETS + 1];
        self.records.clear();
        self.deny.clear();
    }

    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

/// How full the tables are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    /// Users held.
    pub users: usize,
    /// PINs held.
    pub pins: usize,
    /// Synced guest-key records held.
    pub guest_keys: usize,
    /// Deny entries held.
    pub deny_entries: usize,
    /// Used one-time credentials held.
    pub used: usize,
    /// Journaled events held.
    pub events: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialised_siphash_matches_siphasher() {
        for (k0, k1, m) in [
            (0u64, 0u64, 0u64),
            (1, 2, 3),
            (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100),
            (u64::MAX, 0x1234_5678_9abc_def0, u64::MAX / 3),
        ] {
            let mut h = siphasher::sip::SipHasher13::new_with_keys(k0, k1);
            h.write(&m.to_le_bytes());
            assert_eq!(siphash13_u64((k0, k1), m), h.finish());
        }
    }
}
