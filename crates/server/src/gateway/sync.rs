//! State down, reports up: each lock is sent what it must hold (the domain's `LockState`, encoded
//! as one sync batch): only what changed since the state it acknowledged when this instance
//! still has that state (a delta), else a full snapshot; coalesced while one is on its way and
//! resent until acknowledged. Its acknowledgements and its journal go to the domain.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use latchkey_protocol::{Down, Events, EventsAck, PinCode, Sync as SyncBatch, SyncAck, SyncChange, SyncStatus, User};
use tokio::sync::watch;

use super::Devices;
use super::link::{Link, SYNC_LIFETIME, guard};
use crate::domain::device::{IssuerSlot, KeyEntry, LockState, LockUser};
use crate::metrics::SyncLabels;
use crate::store::{self, LockRow};

/// A sync the lock has not acknowledged is sent again after this long.
const RESYNC_AFTER: Duration = Duration::from_secs(4);
/// While a lock has not acknowledged the sync it was sent, further changes wait (at most this
/// long) and go out together in one sync (docs/design/server-performance.md).
const SYNC_COALESCE_WAIT: Duration = Duration::from_millis(250);

/// A lock's sender task: changes that arrive while it runs are sent together after it.
pub(super) struct SyncSlot {
    /// A change arrived after the running sync read its snapshot: send once more.
    again: bool,
    /// The newest version the lock reported holding since the slot was made.
    held: watch::Sender<i64>,
}

impl Link {
    /// Sends the lock its current version (a delta on the state it acknowledged, or a full
    /// snapshot), under the command number the
    /// domain reserved with it (`Devices::state_to_send`: a later number never carries an older
    /// version). Two instances' messages can still cross at the broker, and a snapshot applies
    /// whatever the lock holds; the lock's acknowledgements, ordered by its own sequence
    /// numbers, then show the older version and it is sent the current one again
    /// (`Devices::applied`). Returns the version sent (`None`: no such lock).
    pub(super) async fn send_sync(&self, lock_id: &str) -> anyhow::Result<Option<i64>> {
        let now = self.now();
        let resend_after = now.as_millisecond() + RESYNC_AFTER.as_millis() as i64;
        let domain = self.domain.get().await?;
        let Some(send) = domain.state_to_send(lock_id, now, resend_after).await? else {
            return Ok(None);
        };
        let state = &send.state;
        let (changes, base) = match &send.base {
            Some(base) => (delta_changes(base, state), base.version),
            None => (sync_changes(state), state.acked_version),
        };
        let sync = SyncBatch::new(base.max(0) as u64, state.version.max(0) as u64, &changes);
        self.send_down(
            lock_id,
            &state.root_secret,
            &Down::Sync(sync),
            Some(send.seq),
            SYNC_LIFETIME,
        )
        .await?;
        let kind = if send.base.is_some() { "delta" } else { "snapshot" };
        self.syncs_sent.get_or_create(&SyncLabels { kind }).inc();
        Ok(Some(state.version))
    }

    /// Sends the lock its current state soon: at once when no sync of this instance is on its
    /// way to it, else as soon as the lock acknowledged that one (or `SYNC_COALESCE_WAIT`
    /// passed), one snapshot for every change made meanwhile. Every change still reaches the
    /// lock: a change that arrives while a sync is being sent marks the slot, and the sender
    /// sends once more, with a snapshot read after the change committed.
    pub(super) fn sync_soon(self: &Arc<Self>, lock_id: &str) {
        {
            let mut syncs = guard(&self.syncs);
            if let Some(slot) = syncs.get_mut(lock_id) {
                slot.again = true;
                return;
            }
            syncs.insert(
                lock_id.to_string(),
                SyncSlot {
                    again: false,
                    held: watch::channel(i64::MIN).0,
                },
            );
        }
        let g = self.clone();
        let id = lock_id.to_string();
        tokio::spawn(async move { g.sync_sender(&id).await });
    }

    /// The sender task of `sync_soon`: one sync at a time to one lock.
    async fn sync_sender(&self, lock_id: &str) {
        loop {
            let Some(mut held) = guard(&self.syncs).get_mut(lock_id).map(|slot| {
                slot.again = false;
                slot.held.subscribe()
            }) else {
                return;
            };
            match self.send_sync(lock_id).await {
                Ok(Some(version)) => {
                    let _ = tokio::time::timeout(SYNC_COALESCE_WAIT, held.wait_for(|v| *v >= version)).await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("sync to {lock_id}: {e:#}"),
            }
            let done = {
                let mut syncs = guard(&self.syncs);
                let again = syncs.get(lock_id).is_some_and(|slot| slot.again);
                if !again {
                    syncs.remove(lock_id);
                }
                !again
            };
            if done {
                return;
            }
        }
    }

    /// Tells the sender task of a lock (if any) which version the lock now holds.
    fn lock_holds(&self, lock_id: &str, version: i64) {
        if let Some(slot) = guard(&self.syncs).get(lock_id) {
            slot.held.send_if_modified(|v| {
                let newer = version > *v;
                if newer {
                    *v = version;
                }
                newer
            });
        }
    }

    /// Resends snapshots to locks that have not acknowledged their current version. Each
    /// lock is claimed in the database first, so one instance resends it, not all of them.
    pub(super) async fn resync_unacked(&self) {
        if !self.connected.load(Ordering::SeqCst) {
            return;
        }
        let locks = match self.store.read().await {
            Ok(mut c) => store::unsynced_lock_ids(&mut c).await.unwrap_or_default(),
            Err(_) => return,
        };
        for lock_id in locks {
            let now_ms = self.now().as_millisecond();
            let until = now_ms + RESYNC_AFTER.as_millis() as i64;
            let claimed = match self.store.write().await {
                Ok(mut c) => store::claim_resync(&mut c, &lock_id, store::ResyncClaim::IfDue { now: now_ms, until })
                    .await
                    .unwrap_or(false),
                Err(_) => false,
            };
            if claimed && let Err(e) = self.send_sync(&lock_id).await {
                tracing::warn!("sync to {}: {e:#}", lock_id);
            }
        }
    }

    /// The lock's answer to a sync.
    pub(super) async fn on_sync_ack(
        self: &Arc<Self>,
        domain: &dyn Devices,
        lock_id: &str,
        a: SyncAck,
        up_seq: u64,
    ) -> anyhow::Result<()> {
        match a.status {
            SyncStatus::Applied => {
                let behind = domain.applied(lock_id, a.version, up_seq, self.now()).await?;
                self.lock_holds(lock_id, i64::try_from(a.version).unwrap_or(i64::MAX));
                if behind {
                    // An older snapshot (sent by another instance, or before a change)
                    // overtook the current one: send the current one now (or, when this
                    // instance's sender is waiting for this very ack, right after it).
                    self.sync_soon(lock_id);
                }
            }
            SyncStatus::BaseMismatch => {
                // The lock holds another version than the delta's base: a full snapshot.
                domain.sync_failed(lock_id);
                self.send_sync(lock_id).await?;
            }
            SyncStatus::Rejected(e) => {
                tracing::warn!("lock {lock_id} rejected sync: {e:?}");
                // A delta may not fit what the lock really holds (entries a snapshot would
                // have dropped); a full snapshot replaces it all. A refused snapshot is not
                // sent again here: the resend sweep retries it.
                if domain.sync_failed(lock_id) {
                    self.send_sync(lock_id).await?;
                }
            }
        }
        Ok(())
    }

    /// The lock's journal: into the domain, then acknowledged so the lock may forget it.
    pub(super) async fn on_events(&self, domain: &dyn Devices, lock: &LockRow, evs: &Events<'_>) -> anyhow::Result<()> {
        let events: Vec<_> = evs.iter().collect();
        let upto = domain.journal(&lock.id, &events, self.now()).await?;
        if upto > 0 {
            let ack = Down::EventsAck(EventsAck { upto });
            self.send_down(&lock.id, &lock.root_secret, &ack, None, SYNC_LIFETIME)
                .await?;
        }
        Ok(())
    }
}

/// A lock's state as the changes of one full sync (its wire form).
fn sync_changes(state: &LockState) -> Vec<SyncChange<'_>> {
    let mut changes = Vec::with_capacity(4 + state.issuers.len() + state.users.len() + state.keys.len());
    changes.push(SyncChange::ClearAll);
    changes.push(SyncChange::Settings(state.settings));
    changes.extend(state.issuers.iter().map(set_issuer));
    changes.extend(state.users.iter().map(upsert_user));
    changes.extend(state.keys.iter().map(|k| match *k {
        KeyEntry::Record(r) => SyncChange::UpsertGuestKey(r),
        KeyEntry::Deny(d) => SyncChange::AddDenyEntry(d),
    }));
    changes.push(offset_table(state));
    changes
}

fn set_issuer<'s>(i: &IssuerSlot) -> SyncChange<'s> {
    SyncChange::SetIssuer {
        slot: i.slot,
        epoch: i.epoch,
        enabled: i.enabled,
    }
}

fn upsert_user<'s>(u: &LockUser) -> SyncChange<'s> {
    SyncChange::UpsertUser(User {
        id: u.id,
        enabled: u.enabled,
        kind: u.kind.clone(),
        pin: u.pin.as_ref().and_then(|p| PinCode::parse(p.as_str().as_bytes())),
    })
}

fn offset_table(state: &LockState) -> SyncChange<'_> {
    SyncChange::SetOffsetTable {
        entries: &state.offsets,
        valid_until: state.offsets_valid_until,
    }
}

/// What turns the state the lock holds (`base`, as this instance sent it) into `state`: the
/// changes of one delta. Removals come before additions, so the lock's capacities and PIN
/// uniqueness hold at every step of the batch, as the lock checks them.
fn delta_changes<'s>(base: &LockState, state: &'s LockState) -> Vec<SyncChange<'s>> {
    let mut changes = Vec::new();
    if base.settings != state.settings {
        changes.push(SyncChange::Settings(state.settings));
    }
    changes.extend(
        state
            .issuers
            .iter()
            .filter(|i| !base.issuers.contains(i))
            .map(set_issuer),
    );
    // Users: gone first, then the PINs of changed users cleared (so a PIN can move from one
    // member to another in one batch), then every new or changed user whole.
    let now: HashMap<u32, &LockUser> = state.users.iter().map(|u| (u.id, u)).collect();
    let before: HashMap<u32, &LockUser> = base.users.iter().map(|u| (u.id, u)).collect();
    for u in &base.users {
        if !now.contains_key(&u.id) {
            changes.push(SyncChange::RemoveUser(u.id));
        }
    }
    for u in &state.users {
        if let Some(old) = before.get(&u.id)
            && old.pin.is_some()
            && old.pin != u.pin
        {
            changes.push(SyncChange::ClearPin(u.id));
        }
    }
    changes.extend(
        state
            .users
            .iter()
            .filter(|u| before.get(&u.id).is_none_or(|old| *old != *u))
            .map(upsert_user),
    );
    // Guest keys: records gone (revoked, used, expired, replaced), then new deny entries, then
    // new or changed records. A deny entry is never taken back: it leaves the lock when it
    // expires.
    let mut held = HashMap::new();
    let mut denied = HashMap::new();
    for k in &base.keys {
        match *k {
            KeyEntry::Record(r) => {
                held.insert(r.code, r);
            }
            KeyEntry::Deny(d) => {
                denied.insert(d.code, d.expires);
            }
        }
    }
    let wanted: HashSet<u64> = state
        .keys
        .iter()
        .filter_map(|k| match k {
            KeyEntry::Record(r) => Some(r.code),
            KeyEntry::Deny(_) => None,
        })
        .collect();
    for k in &base.keys {
        if let KeyEntry::Record(r) = k
            && !wanted.contains(&r.code)
        {
            changes.push(SyncChange::RemoveGuestKey(r.code));
        }
    }
    for k in &state.keys {
        if let KeyEntry::Deny(d) = k
            && denied.get(&d.code).is_none_or(|e| *e < d.expires)
        {
            changes.push(SyncChange::AddDenyEntry(*d));
        }
    }
    for k in &state.keys {
        if let KeyEntry::Record(r) = k
            && held.get(&r.code) != Some(r)
        {
            changes.push(SyncChange::UpsertGuestKey(*r));
        }
    }
    changes.push(offset_table(state));
    changes
}

#[cfg(test)]
mod tests {
    use latchkey_lock_core::{Change, DenyEntry, GuestRecord, Settings, StandardLock, UserKind};

    use super::*;
    use crate::domain::types::{LockSecret, Pin};

    const NOW: i64 = 1_800_000_000;

    fn user(id: u32, pin: Option<&str>) -> LockUser {
        LockUser {
            id,
            enabled: true,
            kind: UserKind::Unrestricted,
            pin: pin.map(|p| Pin::parse(p).unwrap()),
        }
    }

    fn record(code: u64, until: i64) -> KeyEntry {
        KeyEntry::Record(GuestRecord {
            code,
            key_id: (code % 1000) as u32,
            from: NOW - 3_600,
            until,
            one_time: false,
        })
    }

    fn deny(code: u64, expires: i64) -> KeyEntry {
        KeyEntry::Deny(DenyEntry { code, expires })
    }

    fn state(version: i64, users: Vec<LockUser>, keys: Vec<KeyEntry>) -> LockState {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let (offsets, offsets_valid_until) = crate::domain::device::offset_table(&tz, NOW);
        LockState {
            version,
            acked_version: 0,
            root_secret: LockSecret(latchkey_guest_code::RootSecret([3; 32])),
            settings: Settings::DEFAULT,
            issuers: vec![IssuerSlot {
                slot: 0,
                epoch: 1,
                enabled: true,
            }],
            users,
            keys,
            offsets,
            offsets_valid_until,
        }
    }

    fn fresh() -> Box<StandardLock> {
        Box::new(StandardLock::new(b"lk_delta", latchkey_guest_code::RootSecret([3; 32])).unwrap())
    }

    fn apply(lock: &mut StandardLock, version: i64, changes: &[SyncChange<'_>]) {
        let changes: Vec<Change<'_>> = changes.iter().map(SyncChange::to_change).collect();
        lock.apply(version as u64, &changes, NOW).unwrap();
    }

    /// What a lock holds that a sync decides, in a comparable form.
    fn held(lock: &StandardLock) -> impl PartialEq + std::fmt::Debug {
        let mut users: Vec<_> = lock.users().cloned().collect();
        users.sort_by_key(|u| u.id);
        (
            users,
            lock.guest_keys().to_vec(),
            lock.deny_entries().to_vec(),
            *lock.settings(),
            *lock.issuers(),
        )
    }

    /// A lock that held `a` and applied the delta to `b` holds what a lock sent `b` whole holds.
    fn check(a: &LockState, b: &LockState) -> usize {
        let mut by_delta = fresh();
        apply(&mut by_delta, a.version, &sync_changes(a));
        let delta = delta_changes(a, b);
        apply(&mut by_delta, b.version, &delta);
        let mut whole = fresh();
        apply(&mut whole, b.version, &sync_changes(b));
        assert_eq!(held(&by_delta), held(&whole));
        delta.len()
    }

    #[test]
    fn a_delta_leaves_the_lock_as_the_snapshot_would() {
        let end = NOW + 86_400;
        let a = state(
            1,
            vec![user(1, Some("135792")), user(2, Some("246813")), user(4, None)],
            vec![record(111_111, end), record(222_222, end), deny(999_999, end)],
        );
        // Member 1 leaves and member 2 takes over its PIN while new member 3 takes member 2's;
        // member 4 sets a PIN; key 111111 is revoked, 222222 extended, 333333 made; the
        // settings and an Admin device's issuer change.
        let mut b = state(
            2,
            vec![
                user(2, Some("135792")),
                user(3, Some("246813")),
                user(4, Some("975318")),
            ],
            vec![
                record(333_333, end),
                record(222_222, end + 86_400),
                deny(111_111, end),
                deny(999_999, end),
            ],
        );
        b.settings.lockout_attempts = 3;
        b.issuers.push(IssuerSlot {
            slot: 1,
            epoch: 2,
            enabled: true,
        });
        check(&a, &b);
        // And back: members and settings as before, key 333333 gone (used or expired),
        // 222222 shortened again; the revoked code stays denied.
        let mut c = a.clone();
        c.version = 3;
        c.keys = vec![record(222_222, end), deny(111_111, end), deny(999_999, end)];
        c.issuers = b.issuers.clone();
        check(&b, &c);
    }

    #[test]
    fn a_delta_carries_what_changed_not_what_the_lock_holds() {
        let end = NOW + 86_400;
        let keys: Vec<_> = (0..500).map(|i| record(100_000 + i, end)).collect();
        let users: Vec<_> = (1..=50).map(|i| user(i, None)).collect();
        let a = state(7, users.clone(), keys.clone());
        let mut b = state(8, users, keys);
        b.keys.insert(0, record(700_001, end));
        let n = check(&a, &b);
        // The new key and the offset table, against 555 changes of a snapshot.
        assert_eq!(n, 2);
        assert_eq!(sync_changes(&b).len(), 555);
        // Nothing changed (a rename reaches no lock, but say it bumped): only the offset table.
        let mut c = b.clone();
        c.version = 9;
        assert_eq!(check(&b, &c), 1);
    }

    #[test]
    fn random_sequences_of_changes_converge_like_snapshots() {
        // A small deterministic generator: no dependency for a test.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let pins = ["135792", "246813", "975318", "864209", "1357924", "2468135"];
        let end = NOW + 86_400;
        let mut prev = state(1, vec![], vec![]);
        for v in 2..200 {
            let mut s = prev.clone();
            s.version = v;
            match next(6) {
                0 => {
                    let id = next(8) as u32 + 1;
                    s.users.retain(|u| u.id != id);
                    s.users.push(user(id, None));
                }
                1 => {
                    let id = next(8) as u32 + 1;
                    s.users.retain(|u| u.id != id);
                }
                2 => {
                    // A PIN moves to a member, taken from whoever had it.
                    let pin = Pin::parse(pins[next(pins.len() as u64) as usize]).unwrap();
                    if let Some(i) = (!s.users.is_empty()).then(|| next(s.users.len() as u64) as usize) {
                        for u in &mut s.users {
                            if u.pin.as_ref() == Some(&pin) {
                                u.pin = None;
                            }
                        }
                        s.users[i].pin = Some(pin);
                    }
                }
                3 => {
                    // Codes are never handed out twice on a lock.
                    let code = 100_000 + next(60);
                    let taken = s.keys.iter().any(|k| match k {
                        KeyEntry::Record(r) => r.code == code,
                        KeyEntry::Deny(d) => d.code == code,
                    });
                    if !taken {
                        s.keys.insert(0, record(code, end + next(1000) as i64));
                    }
                }
                4 => {
                    // A key revoked: its record becomes a deny entry.
                    if let Some(i) = (!s.keys.is_empty()).then(|| next(s.keys.len() as u64) as usize)
                        && let KeyEntry::Record(r) = s.keys[i]
                    {
                        s.keys.remove(i);
                        s.keys.push(deny(r.code, r.until));
                    }
                }
                _ => s.settings.lockout_attempts = 3 + next(5) as u8,
            }
            check(&prev, &s);
            prev = s;
        }
    }
}
