//! Remote unlock: a signed command with a short lifetime, and the lock's answer handed to the
//! request that waits for it, on this instance (a channel) or another (the `unlock_results`
//! table).

use std::time::Duration;

use jiff::Timestamp;
use latchkey_protocol::{Down, Unlock, UnlockResult, reason_name};
use tokio::sync::mpsc;

use super::link::{Link, UNLOCK_LIFETIME, UnlockWaiter, guard};
use super::{UnlockError, UnlockOutcome};
use crate::domain::types::LockSecret;
use crate::store::{self, LockRow};

/// How often a remote unlock looks for its result in the database.
const UNLOCK_POLL: Duration = Duration::from_millis(50);
/// How long after its last will a lock still counts as reconnecting rather than offline
/// (docs/design/device-link.md, "Remote unlock").
pub const RECONNECT_GRACE: Duration = Duration::from_secs(10);
/// How often a remote unlock is sent again while the lock has not answered.
const UNLOCK_RESEND: Duration = Duration::from_millis(800);
/// How soon a remote unlock is sent again after a refusal by a lock that may not be synced yet.
const UNLOCK_RETRY_UNSYNCED: Duration = Duration::from_millis(300);

impl Link {
    /// Sends a signed, short-lived unlock command and waits for the lock's answer, which
    /// reaches whichever instance the broker gives it to.
    ///
    /// No command is lost on the way (docs/design/device-link.md, "Remote unlock"): a lock the
    /// server knows to be offline is answered at once (`Offline`); otherwise the command is
    /// sent again under a new sequence number (the same command id) every `UNLOCK_RESEND`, and
    /// at once when the lock says `Hello` to this instance, until the lock answers or the
    /// deadline passes. The lock carries out a command id once and answers a repeat with the
    /// outcome it already had, so a resend never opens twice. This covers the login switch
    /// right after pairing and any reconnect: the lock subscribes before its `Hello`.
    ///
    /// `throw`: a remote lock (`Down::Lock`) instead, carried the same way.
    pub(super) async fn command(
        &self,
        lock: &LockRow,
        user_id: u32,
        command_seq: u64,
        throw: bool,
    ) -> Result<UnlockOutcome, UnlockError> {
        if !self.broker_connected().await {
            return Err(UnlockError::Unavailable("the MQTT broker is not reachable".into()));
        }
        // A lock that went away moments ago is most likely reconnecting (a network blip, a
        // broker restart): the command waits for its `Hello` like any other. Only a lock gone
        // for longer than `RECONNECT_GRACE` is known offline and answered at once.
        let gone_for = lock.last_seen_at.map(|t| self.now().as_millisecond().saturating_sub(t));
        if !lock.online && gone_for.is_none_or(|ms| ms >= RECONNECT_GRACE.as_millis() as i64) {
            return Err(UnlockError::Offline {
                last_seen_at: lock.last_seen_at,
            });
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let key = (lock.id.clone(), command_seq);
        let waiter = UnlockWaiter {
            tx,
            device_key: lock.device_key,
            root_secret: lock.root_secret,
        };
        guard(&self.unlocks).insert(key.clone(), waiter);
        let mut hellos = self.hellos.subscribe();
        let command = Unlock {
            command: command_seq,
            user: user_id,
        };
        let body = if throw {
            Down::Lock(command)
        } else {
            Down::Unlock(command)
        };
        if let Err(e) = self
            .send_down(&lock.id, &lock.root_secret, &body, Some(command_seq), UNLOCK_LIFETIME)
            .await
        {
            guard(&self.unlocks).remove(&key);
            return Err(UnlockError::Unavailable(e.to_string()));
        }
        // The answer reaches whichever instance the broker gives the lock's message to: this
        // one (the channel) or another (the `unlock_results` table, polled).
        let command = i64::try_from(command_seq).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + self.unlock_timeout;
        let mut resend_at = tokio::time::Instant::now() + UNLOCK_RESEND;
        // A lock that has not acknowledged the current version may not hold the member yet (the
        // first unlock after pairing races the first sync): its refusal for an unknown member
        // is not final while the deadline allows another try.
        let behind = lock.acked_version < lock.version;
        let mut last_refusal = None;
        let outcome = loop {
            let mut resend = false;
            let mut answer = None;
            tokio::select! {
                r = rx.recv() => match r {
                    Some(o) => answer = Some(unlock_outcome(&o)),
                    None => break None,
                },
                _ = tokio::time::sleep_until(deadline) => break None,
                _ = tokio::time::sleep_until(resend_at) => resend = true,
                hello = hellos.recv() => {
                    // A lock that (re)connected to this instance has subscribed by now.
                    resend = match hello {
                        Ok(id) => id == lock.id,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => false,
                    };
                }
                _ = tokio::time::sleep(UNLOCK_POLL) => {
                    // Bounded by the deadline too: a busy pool must not stretch the timeout.
                    let poll = async {
                        match self.store.write().await {
                            Ok(mut c) => store::take_unlock_result(&mut c, &lock.id, command).await.ok().flatten(),
                            Err(_) => None,
                        }
                    };
                    answer = tokio::time::timeout_at(deadline, poll).await.ok().flatten();
                }
            }
            if let Some(o) = answer {
                let not_yet =
                    behind && matches!(&o, UnlockOutcome::Denied(r) if r == "unknown_credential" || r == "not_synced");
                if !not_yet {
                    break Some(o);
                }
                // Once more shortly, when the lock has had the time to apply its sync.
                resend_at = resend_at.min(tokio::time::Instant::now() + UNLOCK_RETRY_UNSYNCED);
                last_refusal = Some(o);
            }
            if resend {
                resend_at = tokio::time::Instant::now() + UNLOCK_RESEND;
                // A new sequence number (the nonce, single-use), the same command id.
                let sent = tokio::time::timeout_at(
                    deadline,
                    self.send_down(&lock.id, &lock.root_secret, &body, None, UNLOCK_LIFETIME),
                )
                .await;
                if let Ok(Err(e)) = sent {
                    tracing::debug!("resending unlock {command_seq} to {}: {e:#}", lock.id);
                }
            }
        };
        guard(&self.unlocks).remove(&key);
        // A refusal that may have come from a lock not yet synced is the answer if nothing
        // better came before the deadline.
        outcome.or(last_refusal).ok_or(UnlockError::Timeout)
    }

    /// Hands the lock's answer to the request waiting for it on this instance, if one is.
    pub(super) fn hand_to_waiting_unlock(&self, lock_id: &str, r: &UnlockResult) -> bool {
        match guard(&self.unlocks).get(&(lock_id.to_string(), r.command)) {
            Some(w) => w.tx.send(r.outcome).is_ok(),
            None => false,
        }
    }

    /// The keys of `lock_id` when a remote unlock to it waits on this instance (as that
    /// request read them with the lock's row).
    pub(super) fn waiting_unlock_keys(&self, lock_id: &str) -> Option<([u8; 32], LockSecret)> {
        let unlocks = guard(&self.unlocks);
        if unlocks.is_empty() {
            return None;
        }
        unlocks
            .iter()
            .find(|((id, _), _)| id == lock_id)
            .map(|(_, w)| (w.device_key, w.root_secret))
    }

    /// Leaves the lock's answer for the instance whose request waits for it.
    pub(super) async fn leave_unlock_result(
        &self,
        lock_id: &str,
        r: &UnlockResult,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let outcome = unlock_outcome(&r.outcome);
        let command = i64::try_from(r.command).unwrap_or(i64::MAX);
        let mut c = self.store.write().await?;
        store::put_unlock_result(&mut c, lock_id, command, &outcome, now.as_millisecond()).await?;
        Ok(())
    }

    /// Forgets unlock results whose request gave up long ago.
    pub(super) async fn purge_unlock_results(&self) {
        let before = self.now().as_millisecond() - 600_000;
        if let Ok(mut c) = self.store.write().await
            && let Err(e) = store::purge_unlock_results(&mut c, before).await
        {
            tracing::warn!("purging unlock results: {e}");
        }
    }
}

/// The lock's answer to a remote unlock, as the domain sees it.
fn unlock_outcome(o: &latchkey_protocol::UnlockOutcome) -> UnlockOutcome {
    match o {
        latchkey_protocol::UnlockOutcome::Unlocked => UnlockOutcome::Unlocked,
        latchkey_protocol::UnlockOutcome::Denied(r) => UnlockOutcome::Denied(reason_name(*r).into()),
        latchkey_protocol::UnlockOutcome::Failed => UnlockOutcome::Denied("failed_to_open".into()),
        latchkey_protocol::UnlockOutcome::Locked => UnlockOutcome::Locked,
    }
}
