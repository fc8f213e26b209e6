//! State down, reports up: each lock is sent full snapshots of what it must hold (the domain's
//! `LockState`, encoded as one sync batch), coalesced while one is on its way and resent until
//! acknowledged; its acknowledgements and its journal go to the domain.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use latchkey_protocol::{Down, Events, EventsAck, PinCode, Sync as SyncBatch, SyncAck, SyncChange, SyncStatus, User};
use tokio::sync::watch;

use super::Devices;
use super::link::{Link, SYNC_LIFETIME, guard};
use crate::domain::device::{KeyEntry, LockState};
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
    /// Sends the lock a full snapshot of its current version, under the command number the
    /// domain reserved with it (`Devices::state_to_send`: a later number never carries an older
    /// version). Two instances' messages can still cross at the broker, and a snapshot applies
    /// whatever the lock holds; the lock's acknowledgements, ordered by its own sequence
    /// numbers, then show the older version and it is sent the current one again
    /// (`Devices::applied`). Returns the version sent (`None`: no such lock).
    pub(super) async fn send_sync(&self, lock_id: &str) -> anyhow::Result<Option<i64>> {
        let now = self.now();
        let resend_after = now.as_millisecond() + RESYNC_AFTER.as_millis() as i64;
        let domain = self.domain.get().await?;
        let Some((state, seq)) = domain.state_to_send(lock_id, now, resend_after).await? else {
            return Ok(None);
        };
        let changes = sync_changes(&state);
        let sync = SyncBatch::new(state.acked_version.max(0) as u64, state.version.max(0) as u64, &changes);
        self.send_down(lock_id, &state.root_secret, &Down::Sync(sync), Some(seq), SYNC_LIFETIME)
            .await?;
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
            let claimed = match self.store.read().await {
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
                self.send_sync(lock_id).await?;
            }
            SyncStatus::Rejected(e) => tracing::warn!("lock {lock_id} rejected sync: {e:?}"),
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
    for i in &state.issuers {
        changes.push(SyncChange::SetIssuer {
            slot: i.slot,
            epoch: i.epoch,
            enabled: i.enabled,
        });
    }
    for u in &state.users {
        changes.push(SyncChange::UpsertUser(User {
            id: u.id,
            enabled: u.enabled,
            kind: u.kind.clone(),
            pin: u.pin.as_ref().and_then(|p| PinCode::parse(p.as_str().as_bytes())),
        }));
    }
    for k in &state.keys {
        changes.push(match *k {
            KeyEntry::Record(r) => SyncChange::UpsertGuestKey(r),
            KeyEntry::Deny(d) => SyncChange::AddDenyEntry(d),
        });
    }
    changes.push(SyncChange::SetOffsetTable {
        entries: &state.offsets,
        valid_until: state.offsets_valid_until,
    });
    changes
}
