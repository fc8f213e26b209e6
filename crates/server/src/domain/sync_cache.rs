//! What this instance last read and sent for each lock, so that a sync carries only what changed
//! (`docs/design/delta-sync.md`):
//! - the lock's sync-relevant guest-key rows as of a version, so the next read asks the database
//!   only for the rows changed since (`guest_keys.changed_version`), not for every key again;
//! - the last few states sent, so that when the lock acknowledged one of them the next sync is a
//!   delta on it rather than a full snapshot.
//!
//! Nothing here is needed for correctness: an empty cache means full reads and full snapshots,
//! as before. Instances share nothing but the database and the broker, so an entry may be stale
//! where another instance changed what a version bump does not record (a one-time key used):
//! the lock then keeps an entry a snapshot would have dropped, harmless at the door (the lock
//! refuses a used one-time code by itself), and a delta it refuses for capacity makes the next
//! sync a full snapshot (`Devices::sync_failed`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::device::LockState;
use crate::store::{GuestKeyRow, IssuerRow};

/// Sent states kept per lock: the lock may acknowledge an older one than the newest sent when
/// syncs follow each other closely.
const SENT_KEPT: usize = 3;
/// Locks with an entry; past this the cache is emptied (it only saves work).
const LOCKS_KEPT: usize = 4096;

/// Guest-key rows, shared between a cache entry and the reads made from it.
pub type Rows = Arc<Vec<Arc<GuestKeyRow>>>;

#[derive(Default)]
pub struct SyncCache {
    locks: Mutex<HashMap<String, Entry>>,
}

#[derive(Default)]
struct Entry {
    /// The lock's guest-key rows a snapshot may carry, as of `rows_version`, newest first.
    rows: Option<(i64, Rows)>,
    /// States sent, oldest first, each with whether it went as a delta.
    sent: VecDeque<(Arc<LockState>, bool)>,
}

/// The guest-key rows a sync starts from: all of them, or those of `version` with the rows
/// changed since still to read.
pub enum KeyRows {
    /// Read every row a snapshot may carry.
    Full,
    /// The rows as of `version`: read only the rows changed after it and merge them in.
    Since { version: i64, rows: Rows },
}

impl SyncCache {
    fn guard(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How to read the lock's guest keys for its next sync.
    pub fn key_rows(&self, lock_id: &str) -> KeyRows {
        match self.guard().get(lock_id).and_then(|e| e.rows.clone()) {
            Some((version, rows)) => KeyRows::Since { version, rows },
            None => KeyRows::Full,
        }
    }

    /// The state sent at `version`, if this instance sent it and still has it.
    pub fn sent_at(&self, lock_id: &str, version: i64) -> Option<Arc<LockState>> {
        let locks = self.guard();
        let e = locks.get(lock_id)?;
        e.sent
            .iter()
            .rev()
            .find(|(s, _)| s.version == version)
            .map(|(s, _)| s.clone())
    }

    /// Records a state about to be sent (a delta when `delta`) and, when `rows` is given, the
    /// rows it was made from (`None`: the rows cannot be kept, e.g. more than a lock holds).
    pub fn record(&self, lock_id: &str, state: Arc<LockState>, delta: bool, rows: Option<Rows>) {
        let mut locks = self.guard();
        if locks.len() >= LOCKS_KEPT && !locks.contains_key(lock_id) {
            locks.clear();
        }
        let e = locks.entry(lock_id.to_string()).or_default();
        // A state with the same version replaces the one held (two reads of one version
        // differ only in what expired between them).
        e.sent.retain(|(s, _)| s.version != state.version);
        e.rows = rows.map(|r| (state.version, r));
        e.sent.push_back((state, delta));
        while e.sent.len() > SENT_KEPT {
            e.sent.pop_front();
        }
    }

    /// Forgets the lock's rows (a change a version bump does not record, such as a one-time
    /// key used): its next sync reads all its keys again.
    pub fn forget_rows(&self, lock_id: &str) {
        if let Some(e) = self.guard().get_mut(lock_id) {
            e.rows = None;
        }
    }

    /// Forgets everything about the lock. Returns whether the newest sync sent to it was a delta.
    pub fn forget(&self, lock_id: &str) -> bool {
        self.guard()
            .remove(lock_id)
            .and_then(|e| e.sent.back().map(|(_, delta)| *delta))
            .unwrap_or(false)
    }
}

/// Whether a guest-key row is a live record a snapshot at `now_s` carries (the Rust form of
/// `store::guest_keys::LIVE_RECORD`).
fn live_record(k: &GuestKeyRow, after_ms: i64) -> bool {
    k.code_ends_at >= after_ms
        && k.revoked_at.is_none()
        && !(k.one_time && k.used_at.is_some())
        && k.starts_at / 1000 < k.ends_at / 1000
}

/// Whether a guest-key row is a revoked code the lock must refuse (the Rust form of
/// `store::guest_keys::REVOKED_NEEDS_DENY`, with the expiry check of `sync_guest_keys`).
fn needed_deny(k: &GuestKeyRow, after_ms: i64, issuers: &[IssuerRow]) -> bool {
    k.code_ends_at >= after_ms
        && k.revoked_at.is_some()
        && (k.slot == 0
            || issuers
                .iter()
                .any(|i| i.slot == k.slot && i.epoch == k.epoch && i.revoked_at.is_none()))
}

/// Whether records (live keys) or deny entries (revoked ones) number `limit` or more: where
/// `store::sync_guest_keys`'s `LIMIT` may have left rows out, so the rows cannot stand for all.
pub fn reaches_limit(rows: &[Arc<GuestKeyRow>], limit: i64) -> bool {
    let records = rows.iter().filter(|k| k.revoked_at.is_none()).count() as i64;
    records >= limit || rows.len() as i64 - records >= limit
}

/// The rows `store::sync_guest_keys(now_s, limit)` would read now, from the rows it read at an
/// earlier version and those changed since: a row's relevance only ever changes with a version
/// bump, except by time passing and by an issuer's revocation (both re-checked here) and by a
/// one-time key's use (`SyncCache::forget_rows`). `None` when a category reaches `limit`, where
/// the database's `LIMIT` would have cut: then read everything.
pub fn merge_rows(
    held: &[Arc<GuestKeyRow>],
    changed: Vec<GuestKeyRow>,
    issuers: &[IssuerRow],
    now_s: i64,
    limit: i64,
) -> Option<Vec<Arc<GuestKeyRow>>> {
    let after_ms = now_s.saturating_add(1).saturating_mul(1000);
    let changed_ids: std::collections::HashSet<String> = changed.iter().map(|k| k.id.clone()).collect();
    let mut out: Vec<Arc<GuestKeyRow>> = held
        .iter()
        .filter(|k| !changed_ids.contains(&k.id))
        .cloned()
        .chain(changed.into_iter().map(Arc::new))
        .filter(|k| live_record(k, after_ms) || needed_deny(k, after_ms, issuers))
        .collect();
    if reaches_limit(&out, limit) {
        return None;
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, created_at: i64) -> GuestKeyRow {
        GuestKeyRow {
            id: id.into(),
            lock_id: "lk".into(),
            key_no: 1,
            name: id.into(),
            phone: None,
            code: "000000123456".into(),
            slot: 0,
            epoch: 1,
            starts_at: 1_000_000,
            ends_at: 2_000_000,
            code_ends_at: 2_000_000,
            one_time: false,
            revoked_at: None,
            used_at: None,
            changed_version: 1,
            sms_id: None,
            created_by: "ac".into(),
            created_at,
        }
    }

    fn issuer(slot: i64, epoch: i64, revoked: bool) -> IssuerRow {
        IssuerRow {
            id: format!("is{slot}{epoch}"),
            lock_id: "lk".into(),
            slot,
            epoch,
            account_id: "ac".into(),
            label: "phone".into(),
            created_at: 0,
            revoked_at: revoked.then_some(5),
            changed_version: 1,
        }
    }

    #[test]
    fn merged_rows_are_what_a_full_read_would_give() {
        let held = vec![Arc::new(key("b", 20)), Arc::new(key("a", 10))];
        // "a" revoked, "c" new, "b" untouched.
        let mut a = key("a", 10);
        a.revoked_at = Some(1_500_000);
        let rows = merge_rows(&held, vec![a, key("c", 30)], &[], 1_200, 600).unwrap();
        let ids: Vec<_> = rows.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert!(rows[2].revoked_at.is_some());
        // Past the codes' end nothing is carried.
        assert!(merge_rows(&held, vec![], &[], 2_000, 600).unwrap().is_empty());
    }

    #[test]
    fn a_used_one_time_key_and_an_emptied_window_leave_the_rows() {
        let mut used = key("u", 10);
        used.one_time = true;
        used.used_at = Some(1_100_000);
        let mut empty = key("e", 11);
        empty.ends_at = empty.starts_at + 500;
        let rows = merge_rows(
            &[Arc::new(key("u", 10)), Arc::new(key("e", 11))],
            vec![used, empty],
            &[],
            1_200,
            600,
        )
        .unwrap();
        assert!(rows.is_empty());
    }

    #[test]
    fn a_revoked_issuer_takes_its_deny_entries_away() {
        let mut k = key("d", 10);
        k.slot = 2;
        k.epoch = 3;
        k.revoked_at = Some(1_100_000);
        let live = [issuer(2, 3, false)];
        assert_eq!(
            merge_rows(&[Arc::new(k.clone())], vec![], &live, 1_200, 600)
                .unwrap()
                .len(),
            1
        );
        let gone = [issuer(2, 3, true), issuer(2, 4, false)];
        assert!(
            merge_rows(&[Arc::new(k)], vec![], &gone, 1_200, 600)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_category_at_the_limit_asks_for_a_full_read() {
        let held: Vec<_> = (0..3).map(|i| Arc::new(key(&format!("k{i}"), i))).collect();
        assert!(merge_rows(&held, vec![], &[], 1_200, 3).is_none());
        assert!(merge_rows(&held, vec![], &[], 1_200, 4).is_some());
    }

    #[test]
    fn the_cache_keeps_a_few_sent_states_and_forgets_on_request() {
        let cache = SyncCache::default();
        let state = |v: i64| {
            Arc::new(LockState {
                version: v,
                acked_version: 0,
                root_secret: crate::domain::types::LockSecret(latchkey_guest_code::RootSecret([7; 32])),
                settings: latchkey_lock_core::Settings::DEFAULT,
                issuers: vec![],
                users: vec![],
                keys: vec![],
                offsets: vec![],
                offsets_valid_until: 0,
            })
        };
        for v in 1..=5 {
            cache.record("lk", state(v), v > 1, Some(Arc::new(vec![])));
        }
        assert!(cache.sent_at("lk", 2).is_none());
        assert!(cache.sent_at("lk", 3).is_some());
        assert!(matches!(cache.key_rows("lk"), KeyRows::Since { version: 5, .. }));
        cache.forget_rows("lk");
        assert!(matches!(cache.key_rows("lk"), KeyRows::Full));
        assert!(cache.sent_at("lk", 5).is_some());
        assert!(cache.forget("lk"));
        assert!(cache.sent_at("lk", 5).is_none());
        assert!(!cache.forget("lk"));
    }
}
