//! Applying a sync batch from the server: validate everything first, then mutate; a batch is
//! applied entirely or not at all.

use crate::journal::EventKind;
use crate::lock::{IssuerConfig, Lock, used_user_key, vec_insert, vec_remove};
use crate::model::{DenyEntry, GuestRecord, Pin, Settings, UserId, UserRecord};
use crate::time::{OffsetEntry, OffsetTable, validate_offsets};

/// Codes are below 10^12.
const CODE_LIMIT: u64 = 1_000_000_000_000;

/// One change of a sync batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Forget all users, PINs, guest-key records and deny entries (a full snapshot follows).
    /// Only allowed as the first change of a batch. Keeps issuers, settings, the offset table,
    /// time, the used table, the lockout and the journal.
    ClearAll,
    /// Add or replace a user, its type and its PIN (the whole member).
    UpsertUser(UserRecord),
    /// Remove a user and its PIN (absent: nothing to do). Its used-table entry goes too.
    RemoveUser(UserId),
    /// Set the PIN of a user held at that point of the batch.
    SetPin {
        /// The user.
        user: UserId,
        /// The new PIN (unique on the lock).
        pin: Pin,
    },
    /// Clear the PIN of a user held at that point of the batch.
    ClearPin(UserId),
    /// Add or replace a synced guest-key record.
    UpsertGuestKey(GuestRecord),
    /// Remove a guest-key record (by code; absent: nothing to do).
    RemoveGuestKey(u64),
    /// Deny a code until `expires` (an existing entry keeps the later expiry).
    AddDenyEntry(DenyEntry),
    /// Configure an issuer slot: its epoch (never decreasing) and whether it is enabled. A
    /// bumped epoch or a disabled issuer turns the previous key into the revoked key.
    SetIssuer {
        /// 0..ISSUER_SLOTS.
        slot: u8,
        /// Epoch.
        epoch: u32,
        /// Enabled.
        enabled: bool,
    },
    /// Replace the settings.
    Settings(Settings),
    /// Replace the offset table.
    SetOffsetTable {
        /// Entries, strictly increasing starts.
        entries: &'a [OffsetEntry],
        /// End (exclusive) of the period the server vouches for.
        valid_until: i64,
    },
    /// Trusted UTC time from the server (Unix seconds).
    SetTime(i64),
}

/// Why a batch was refused (state unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyError {
    /// Index of the offending change (`changes.len()` for the batch as a whole).
    pub index: usize,
    /// What is wrong.
    pub kind: ApplyErrorKind,
}

/// What is wrong with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyErrorKind {
    /// The version is not newer than the applied one (and the batch is not a snapshot).
    StaleVersion,
    /// `ClearAll` elsewhere than first.
    ClearAllNotFirst,
    /// A user record that is not well formed.
    InvalidUser,
    /// A guest-key record that is not well formed (code >= 10^12, empty window).
    InvalidGuestKey,
    /// A deny entry with a code >= 10^12.
    InvalidDenyEntry,
    /// Settings that are not usable.
    InvalidSettings,
    /// An offset table that is not well formed.
    InvalidOffsetTable,
    /// An issuer slot out of range.
    InvalidIssuer,
    /// An issuer epoch lower than the one held.
    EpochRegression,
    /// A PIN change for a user the lock does not hold at that point.
    UnknownUser,
    /// A PIN another user holds at that point.
    PinInUse,
    /// More users than the lock holds.
    TooManyUsers,
    /// More PINs than the lock holds.
    TooManyPins,
    /// More guest-key records than the lock holds.
    TooManyGuestKeys,
    /// More deny entries than the lock holds.
    TooManyDenyEntries,
}

/// A small Bloom-style bitset on the stack: "was this key touched earlier in the batch?" with
/// no false negatives, so validation only rescans the batch when it might have been.
struct Touched {
    bits: [u64; 256],
}

const T_USER: u64 = 1;
const T_KEY: u64 = 2;
const T_DENY: u64 = 3;
const T_PIN: u64 = 4;

impl Touched {
    fn new() -> Self {
        Touched { bits: [0; 256] }
    }

    fn index(tag: u64, key: u64) -> (usize, u64) {
        let mut x = key ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        let bit = (x >> 50) as usize; // 14 bits
        (bit >> 6, 1u64 << (bit & 63))
    }

    fn set(&mut self, tag: u64, key: u64) {
        let (w, m) = Self::index(tag, key);
        if let Some(x) = self.bits.get_mut(w) {
            *x |= m;
        }
    }

    fn maybe(&self, tag: u64, key: u64) -> bool {
        let (w, m) = Self::index(tag, key);
        self.bits.get(w).is_some_and(|x| x & m != 0)
    }
}

fn issuer_step(cur: IssuerConfig, epoch: u32, enabled: bool) -> Result<IssuerConfig, ApplyErrorKind> {
    use core::cmp::Ordering;
    let mut next = cur;
    match epoch.cmp(&cur.epoch) {
        Ordering::Less => return Err(ApplyErrorKind::EpochRegression),
        Ordering::Equal => {
            if cur.enabled && !enabled {
                next.revoked_epoch = Some(epoch);
            } else if !cur.enabled && enabled && cur.revoked_epoch == Some(epoch) {
                next.revoked_epoch = None;
            }
        }
        Ordering::Greater => {
            if cur.enabled {
                next.revoked_epoch = Some(cur.epoch);
            }
            next.epoch = epoch;
        }
    }
    next.enabled = enabled;
    Ok(next)
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
    /// Applies a sync batch atomically: every change is validated against the state as the
    /// earlier changes of the batch leave it (capacity, PIN uniqueness, epochs...), and only
    /// then is anything changed. On `Err` the state is untouched. On `Ok` the version is
    /// recorded and journaled; the host persists, then acknowledges `version`.
    ///
    /// `version` must be newer than [`Lock::applied_version`] unless the batch starts with
    /// [`Change::ClearAll`] (a full snapshot). Expired deny entries and used codes are pruned
    /// when the time is trusted.
    pub fn apply(&mut self, version: u64, changes: &[Change<'_>], now: i64) -> Result<(), ApplyError> {
        self.validate(version, changes, now)?;
        self.commit(version, changes, now);
        Ok(())
    }

    fn prune_ok(&self, now: i64) -> bool {
        self.time_known(now)
    }

    fn deny_live(&self, e: &DenyEntry, now: i64) -> bool {
        !(self.prune_ok(now) && e.expires <= now)
    }

    /// The user `id` as the batch leaves it before position `i`: `None` absent, else its PIN.
    fn eff_user(
        &self,
        changes: &[Change<'_>],
        i: usize,
        id: UserId,
        cleared: bool,
        touched: &Touched,
    ) -> Option<Option<Pin>> {
        if touched.maybe(T_USER, u64::from(id)) {
            for c in changes.get(..i).unwrap_or(&[]).iter().rev() {
                match c {
                    Change::UpsertUser(r) if r.id == id => return Some(r.pin),
                    Change::RemoveUser(x) if *x == id => return None,
                    Change::SetPin { user, pin } if *user == id => return Some(Some(*pin)),
                    Change::ClearPin(x) if *x == id => return Some(None),
                    _ => {}
                }
            }
        }
        if cleared {
            return None;
        }
        let slot = self.slot_of(id)?;
        self.users.get(usize::from(slot)).map(|u| u.pin)
    }

    fn eff_key(&self, changes: &[Change<'_>], i: usize, code: u64, cleared: bool, t: &Touched) -> bool {
        if t.maybe(T_KEY, code) {
            for c in changes.get(..i).unwrap_or(&[]).iter().rev() {
                match c {
                    Change::UpsertGuestKey(r) if r.code == code => return true,
                    Change::RemoveGuestKey(x) if *x == code => return false,
                    _ => {}
                }
            }
        }
        !cleared && self.records.binary_search_by_key(&code, |r| r.code).is_ok()
    }

    fn eff_deny(&self, changes: &[Change<'_>], i: usize, code: u64, cleared: bool, t: &Touched, now: i64) -> bool {
        if t.maybe(T_DENY, code)
            && changes
                .get(..i)
                .unwrap_or(&[])
                .iter()
                .any(|c| matches!(c, Change::AddDenyEntry(d) if d.code == code))
        {
            return true;
        }
        !cleared
            && self
                .deny
                .binary_search_by_key(&code, |d| d.code)
                .ok()
                .and_then(|i| self.deny.get(i))
                .is_some_and(|e| self.deny_live(e, now))
    }

    /// Whether assigning `pin` to `user` at position `i` collides with another user's PIN.
    #[allow(clippy::too_many_arguments)]
    fn pin_taken(&self, changes: &[Change<'_>], i: usize, user: UserId, pin: Pin, cleared: bool, t: &Touched) -> bool {
        if !cleared
            && let Some(owner) = self.pin_owner(&pin)
            && owner != user
            && self.eff_user(changes, i, owner, cleared, t) == Some(Some(pin))
        {
            return true;
        }
        if t.maybe(T_PIN, pin.packed()) {
            for c in changes.get(..i).unwrap_or(&[]) {
                let other = match c {
                    Change::UpsertUser(r) if r.pin == Some(pin) => r.id,
                    Change::SetPin { user: u, pin: p } if *p == pin => *u,
                    _ => continue,
                };
                if other != user && self.eff_user(changes, i, other, cleared, t) == Some(Some(pin)) {
                    return true;
                }
            }
        }
        false
    }

    fn validate(&self, version: u64, changes: &[Change<'_>], now: i64) -> Result<(), ApplyError> {
        let err = |index, kind| Err(ApplyError { index, kind });
        let cleared = matches!(changes.first(), Some(Change::ClearAll));
        if !cleared && version <= self.applied_version {
            return err(changes.len(), ApplyErrorKind::StaleVersion);
        }
        let mut t = Touched::new();
        let mut users = if cleared { 0 } else { self.users.len() };
        let mut pins = if cleared { 0 } else { self.by_pin.len() };
        let mut keys = if cleared { 0 } else { self.records.len() };
        let mut deny: Option<usize> = cleared.then_some(0);
        let mut issuers = self.issuers;
        for (i, c) in changes.iter().enumerate() {
            match c {
                Change::ClearAll => {
                    if i != 0 {
                        return err(i, ApplyErrorKind::ClearAllNotFirst);
                    }
                }
                Change::UpsertUser(r) => {
                    if !r.kind.is_valid() {
                        return err(i, ApplyErrorKind::InvalidUser);
                    }
                    let before = self.eff_user(changes, i, r.id, cleared, &t);
                    if before.is_none() {
                        users += 1;
                        if users > USERS {
                            return err(i, ApplyErrorKind::TooManyUsers);
                        }
                    }
                    let had = before.flatten().is_some();
                    if let Some(p) = r.pin {
                        if self.pin_taken(changes, i, r.id, p, cleared, &t) {
                            return err(i, ApplyErrorKind::PinInUse);
                        }
                        t.set(T_PIN, p.packed());
                    }
                    pins = (pins + usize::from(r.pin.is_some())).saturating_sub(usize::from(had));
                    if pins > PINS {
                        return err(i, ApplyErrorKind::TooManyPins);
                    }
                    t.set(T_USER, u64::from(r.id));
                }
                Change::RemoveUser(id) => {
                    if let Some(pin) = self.eff_user(changes, i, *id, cleared, &t) {
                        users = users.saturating_sub(1);
                        pins = pins.saturating_sub(usize::from(pin.is_some()));
                    }
                    t.set(T_USER, u64::from(*id));
                }
                Change::SetPin { user, pin } => {
                    let Some(had) = self.eff_user(changes, i, *user, cleared, &t) else {
                        return err(i, ApplyErrorKind::UnknownUser);
                    };
                    if self.pin_taken(changes, i, *user, *pin, cleared, &t) {
                        return err(i, ApplyErrorKind::PinInUse);
                    }
                    if had.is_none() {
                        pins += 1;
                        if pins > PINS {
                            return err(i, ApplyErrorKind::TooManyPins);
                        }
                    }
                    t.set(T_PIN, pin.packed());
                    t.set(T_USER, u64::from(*user));
                }
                Change::ClearPin(user) => {
                    let Some(had) = self.eff_user(changes, i, *user, cleared, &t) else {
                        return err(i, ApplyErrorKind::UnknownUser);
                    };
                    pins = pins.saturating_sub(usize::from(had.is_some()));
                    t.set(T_USER, u64::from(*user));
                }
                Change::UpsertGuestKey(r) => {
                    if r.code >= CODE_LIMIT || r.from >= r.until {
                        return err(i, ApplyErrorKind::InvalidGuestKey);
                    }
                    if !self.eff_key(changes, i, r.code, cleared, &t) {
                        keys += 1;
                        if keys > KEYS {
                            return err(i, ApplyErrorKind::TooManyGuestKeys);
                        }
                    }
                    t.set(T_KEY, r.code);
                }
                Change::RemoveGuestKey(code) => {
                    if self.eff_key(changes, i, *code, cleared, &t) {
                        keys = keys.saturating_sub(1);
                    }
                    t.set(T_KEY, *code);
                }
                Change::AddDenyEntry(d) => {
                    if d.code >= CODE_LIMIT {
                        return err(i, ApplyErrorKind::InvalidDenyEntry);
                    }
                    let n = deny.get_or_insert_with(|| self.deny.iter().filter(|e| self.deny_live(e, now)).count());
                    if !self.eff_deny(changes, i, d.code, cleared, &t, now) {
                        *n += 1;
                        if *n > DENY {
                            return err(i, ApplyErrorKind::TooManyDenyEntries);
                        }
                    }
                    t.set(T_DENY, d.code);
                }
                Change::SetIssuer { slot, epoch, enabled } => {
                    let Some(cur) = issuers.get_mut(usize::from(*slot)) else {
                        return err(i, ApplyErrorKind::InvalidIssuer);
                    };
                    match issuer_step(*cur, *epoch, *enabled) {
                        Ok(next) => *cur = next,
                        Err(k) => return err(i, k),
                    }
                }
                Change::Settings(s) => {
                    if !s.is_valid() {
                        return err(i, ApplyErrorKind::InvalidSettings);
                    }
                }
                Change::SetOffsetTable { entries, valid_until } => {
                    if validate_offsets(entries, *valid_until).is_err() {
                        return err(i, ApplyErrorKind::InvalidOffsetTable);
                    }
                }
                Change::SetTime(_) => {}
            }
        }
        Ok(())
    }

    fn commit(&mut self, version: u64, changes: &[Change<'_>], now: i64) {
        let cleared = matches!(changes.first(), Some(Change::ClearAll));
        if cleared {
            self.clear_server_data();
        }
        if self.prune_ok(now) {
            self.deny.retain(|e| e.expires > now);
            self.used.retain(|e| e.expires > now);
        }
        let mut ok = true;
        for c in changes {
            match c {
                Change::ClearAll => {}
                Change::UpsertUser(r) => ok &= self.put_user(r.clone()),
                Change::RemoveUser(id) => self.remove_user(*id),
                Change::SetPin { user, pin } => ok &= self.set_pin(*user, Some(*pin)),
                Change::ClearPin(user) => ok &= self.set_pin(*user, None),
                Change::UpsertGuestKey(r) => match self.records.binary_search_by_key(&r.code, |x| x.code) {
                    Ok(i) => {
                        if let Some(x) = self.records.get_mut(i) {
                            *x = *r;
                        }
                    }
                    Err(i) => ok &= vec_insert(&mut self.records, i, *r),
                },
                Change::RemoveGuestKey(code) => {
                    if let Ok(i) = self.records.binary_search_by_key(code, |x| x.code) {
                        vec_remove(&mut self.records, i);
                    }
                }
                Change::AddDenyEntry(d) => match self.deny.binary_search_by_key(&d.code, |x| x.code) {
                    Ok(i) => {
                        if let Some(x) = self.deny.get_mut(i) {
                            x.expires = x.expires.max(d.expires);
                        }
                    }
                    Err(i) => ok &= vec_insert(&mut self.deny, i, *d),
                },
                Change::SetIssuer { slot, epoch, enabled } => {
                    let s = usize::from(*slot);
                    if let Some(cur) = self.issuers.get(s).copied()
                        && let Ok(next) = issuer_step(cur, *epoch, *enabled)
                    {
                        self.set_issuer_config(s, next);
                    }
                }
                Change::Settings(s) => {
                    self.settings = *s;
                    self.lockout.settings_changed(s);
                }
                Change::SetOffsetTable { entries, valid_until } => match OffsetTable::new(entries, *valid_until) {
                    Ok(t) => self.offsets = t,
                    Err(_) => ok = false,
                },
                Change::SetTime(t) => self.set_trusted_time(*t),
            }
        }
        // Validation guarantees every step fits; this only documents the invariant.
        debug_assert!(ok, "a validated batch failed to apply");
        if cleared {
            // Disposable users that the snapshot no longer holds: forget their use.
            let by_id = &self.by_id;
            self.used.retain(|e| {
                e.key & used_user_key(0) == 0
                    || by_id
                        .binary_search_by_key(&((e.key & 0xffff_ffff) as UserId), |x| x.0)
                        .is_ok()
            });
        }
        self.applied_version = version;
        self.mark_dirty();
        self.log(now, EventKind::SyncApplied { version });
    }
}
