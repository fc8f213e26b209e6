//! Remote unlock: a signed command with a short lifetime, and the lock's answer handed to the
//! request that waits for it, on this instance (a channel) or another (the `unlock_results`
//! table).

use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use latchkey_protocol::{Down, Unlock, UnlockResult, reason_name};
use tokio::sync::oneshot;

use super::link::{Link, UNLOCK_LIFETIME, guard};
use super::{UnlockError, UnlockOutcome};
use crate::store::{self, LockRow};

/// How often a remote unlock looks for its result in the database.
const UNLOCK_POLL: Duration = Duration::from_millis(50);

impl Link {
    /// Sends a signed, short-lived unlock command and waits for the lock's answer, which
    /// reaches whichever instance the broker gives it to.
    pub(super) async fn unlock(
        &self,
        lock: &LockRow,
        user_id: u32,
        command_seq: u64,
    ) -> Result<UnlockOutcome, UnlockError> {
        if !self.connected.load(Ordering::SeqCst) {
            return Err(UnlockError::Unavailable("the MQTT broker is not reachable".into()));
        }
        let (tx, rx) = oneshot::channel();
        let key = (lock.id.clone(), command_seq);
        guard(&self.unlocks).insert(key.clone(), tx);
        let body = Down::Unlock(Unlock {
            command: command_seq,
            user: user_id,
        });
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
        let mut rx = rx;
        let outcome = loop {
            tokio::select! {
                r = &mut rx => break r.ok().map(|o| unlock_outcome(&o)),
                _ = tokio::time::sleep_until(deadline) => break None,
                _ = tokio::time::sleep(UNLOCK_POLL) => {
                    // Bounded by the deadline too: a busy pool must not stretch the timeout.
                    let poll = async {
                        match self.store.read().await {
                            Ok(mut c) => store::take_unlock_result(&mut c, &lock.id, command).await.ok().flatten(),
                            Err(_) => None,
                        }
                    };
                    let taken = tokio::time::timeout_at(deadline, poll).await.ok().flatten();
                    if let Some(outcome) = taken {
                        break Some(outcome);
                    }
                }
            }
        };
        guard(&self.unlocks).remove(&key);
        outcome.ok_or(UnlockError::Timeout)
    }

    /// Hands the lock's answer to the request waiting for it on this instance, if one is.
    pub(super) fn hand_to_waiting_unlock(&self, lock_id: &str, r: &UnlockResult) -> bool {
        match guard(&self.unlocks).remove(&(lock_id.to_string(), r.command)) {
            Some(tx) => {
                let _ = tx.send(r.outcome);
                true
            }
            None => false,
        }
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
        let mut c = self.store.read().await?;
        store::put_unlock_result(&mut c, lock_id, command, &outcome, now.as_millisecond()).await?;
        Ok(())
    }

    /// Forgets unlock results whose request gave up long ago.
    pub(super) async fn purge_unlock_results(&self) {
        let before = self.now().as_millisecond() - 600_000;
        if let Ok(mut c) = self.store.read().await
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
    }
}
