//! Pairing (`docs/protocol.md`, "Pairing"): SPAKE2 keyed by the setup code the lock shows, on
//! the discriminator's pairing topics, then the lock's key and the grant exchanged under it;
//! and what makes pairing all or nothing (`docs/design/pairing-convergence.md`): the id is
//! recorded as pending before the lock can take it, given up when the exchange fails, and a lock
//! under an id the server does not keep is told `Unpair` (`answer_unknown_lock`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use latchkey_lock_core::RootSecret;
use latchkey_protocol::{
    Down, LinkKeys, PairStart, Pairing, Protection, ReplayWindow, ServerPairing, SetupCode, VerifyingKey,
    decode_pairing, encode_pairing, open_up, topics,
};
use tokio::sync::mpsc;

use super::link::{Link, SYNC_LIFETIME, UNPAIR_SEQ_FLOOR, guard};
use super::{PairedDevice, PairingError, PairingGrant};
use crate::domain::types::LockSecret;
use crate::env::random;
use crate::store;

/// How long `pair` waits for each step of the exchange.
const PAIR_STEP: Duration = Duration::from_secs(8);

/// How long a pairing may stay pending (its id offered in a `PairFinish`, not kept yet) before
/// a lock presenting itself under that id is told `Unpair`: the exchange's second step, the
/// domain's insert, and a wide margin (docs/design/pairing-convergence.md).
pub(super) const PENDING_PAIRING: Duration = Duration::from_secs(30);

/// One pairing exchange's number and the channel of the pairing messages it receives.
pub(super) type PairingWaiter = (u64, mpsc::UnboundedSender<Vec<u8>>);

/// The discriminator of a pairing up topic (`latchkey/v1/pair/042/up`).
pub(super) fn parse_pairing_up(topic: &str) -> Option<u16> {
    let d = topic
        .strip_prefix(topics::ROOT)?
        .strip_prefix("/pair/")?
        .strip_suffix("/up")?;
    if d.len() != 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

impl Link {
    /// Runs the pairing exchange with the unpaired lock showing `setup_code`.
    pub(super) async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        if !self.broker_connected().await {
            return Err(PairingError::Unavailable("the MQTT broker is not reachable".into()));
        }
        let code = SetupCode::parse(setup_code).ok_or(PairingError::NoAnswer)?;
        let d = code.discriminator();
        let down = topics::pairing_down(d).ok_or(PairingError::NoAnswer)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let me = self.next_pairing.fetch_add(1, Ordering::Relaxed);
        guard(&self.pairings).entry(d).or_default().push((me, tx));
        struct Unregister<'a>(&'a Link, u16, u64);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                let mut pairings = guard(&self.0.pairings);
                if let Some(list) = pairings.get_mut(&self.1) {
                    list.retain(|(n, _)| *n != self.2);
                    if list.is_empty() {
                        pairings.remove(&self.1);
                    }
                }
            }
        }
        let _unregister = Unregister(self, d, me);

        let (session, seed) = (random::<16>(self.entropy.as_ref()), random::<32>(self.entropy.as_ref()));
        let (_, start): (ServerPairing, PairStart) = ServerPairing::start(&code, session, seed);
        let mut buf = [0u8; 512];
        let n = encode_pairing(&Pairing::Start(start), &mut buf).map_err(|_| PairingError::NoAnswer)?;
        self.publish(&down, buf.get(..n).unwrap_or(&[]).to_vec())
            .map_err(PairingError::Unavailable)?;

        let deadline = tokio::time::Instant::now() + PAIR_STEP;
        let root = RootSecret(grant.root_secret);
        let server_public = self.server_key.verifying_key();
        let (device, done) = loop {
            let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                return Err(PairingError::NoAnswer);
            };
            match decode_pairing(&msg) {
                Ok(Pairing::Refused(r)) if r.session == session => {
                    return Err(PairingError::TooManyAttempts {
                        retry_after: u64::from(r.retry_after),
                    });
                }
                Ok(Pairing::Reply(reply)) if reply.session == session => {
                    let serial = reply.serial.to_string();
                    // Every unpaired lock with this discriminator answers; only the one that
                    // shows this code passes the confirmation. The exchange's state is made
                    // again from its seed for each reply (a SPAKE2 state is used up by one try).
                    let (server, _) = ServerPairing::start(&code, session, seed);
                    let Ok(confirmed) = server.finish(&reply, grant.lock_id.as_bytes(), &server_public, &root) else {
                        tracing::debug!("a pairing reply from another lock with this discriminator");
                        continue;
                    };
                    let device = PairedDevice {
                        serial,
                        device_key: confirmed.lock_key.to_bytes(),
                    };
                    // Before the lock can take the id: from here on, the id is either kept (the
                    // domain removes this row with the lock row's insert) or given up, and a
                    // lock that presents itself under a given-up id is told Unpair
                    // (docs/design/pairing-convergence.md). A server that stops after sending
                    // the Finish leaves the row pending, given up after `PENDING_PAIRING`.
                    self.record_pending(&grant.lock_id, &device, &root)
                        .await
                        .map_err(|e| PairingError::Unavailable(format!("recording the pairing: {e:#}")))?;
                    // Its login on Mosquitto too, before it can take the id: a lock whose
                    // pairing is given up must still log in to be told (the login is deleted
                    // after the Unpair answering it).
                    if self.dynsec.is_some()
                        && let Some(commands) =
                            super::dynsec::lock_paired(&grant.lock_id, &device.serial, &grant.root_secret)
                    {
                        self.dynsec_command(commands);
                    }
                    let n = encode_pairing(&Pairing::Finish(confirmed.finish), &mut buf)
                        .map_err(|_| PairingError::NoAnswer)?;
                    self.publish(&down, buf.get(..n).unwrap_or(&[]).to_vec())
                        .map_err(PairingError::Unavailable)?;
                    break (device, confirmed.done);
                }
                _ => continue,
            }
        };
        let deadline = tokio::time::Instant::now() + PAIR_STEP;
        loop {
            let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                // The lock may have taken the Finish: give the id up, so that it is told.
                self.abandon(&grant.lock_id).await;
                return Err(PairingError::NoAnswer);
            };
            if let Ok(Pairing::Done(d)) = decode_pairing(&msg)
                && d.session == session
            {
                if done.check(&d).is_err() {
                    self.abandon(&grant.lock_id).await;
                    return Err(PairingError::NoAnswer);
                }
                return Ok(device);
            }
        }
    }
}

/// How long a tombstone is kept: a lock that stays away longer is no longer told `Unpair`
/// (it must then be reset by hand; docs/design/pairing-convergence.md).
pub(super) const TOMBSTONE_DAYS: i64 = 365;

impl Link {
    /// Forgets tombstones older than `TOMBSTONE_DAYS` (the gateway's periodic task).
    pub(super) async fn purge_tombstones(&self) {
        let before = self.now().as_millisecond() - TOMBSTONE_DAYS * 86_400_000;
        let result = async {
            let mut tx = self.store.begin().await?;
            let n = store::purge_tombstones(&mut tx, before).await?;
            tx.commit().await?;
            anyhow::Ok(n)
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("forgetting old lock tombstones: {e:#}");
        }
    }

    /// Records `lock_id` as offered to the lock that answered (a `pending` tombstone).
    async fn record_pending(&self, lock_id: &str, device: &PairedDevice, root: &RootSecret) -> anyhow::Result<()> {
        let tombstone = store::Tombstone {
            lock_id: lock_id.to_string(),
            serial: device.serial.clone(),
            device_key: device.device_key,
            root_secret: LockSecret(latchkey_guest_code::RootSecret(root.0)),
            state: store::TombstoneState::Pending,
            unpair_seq: 0,
            created_at: self.now().as_millisecond(),
        };
        let mut tx = self.store.begin().await?;
        store::put_tombstone(&mut tx, &tombstone).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up the pairing of `lock_id` (best effort: a pending row left behind is given up
    /// after `PENDING_PAIRING` all the same).
    async fn abandon(&self, lock_id: &str) {
        let result = async {
            let mut tx = self.store.begin().await?;
            store::abandon_pairing(&mut tx, lock_id, None).await?;
            tx.commit().await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("giving up the pairing of {lock_id}: {e:#}");
        }
    }

    /// Answers a lock that presents itself under an id the server does not keep (no lock row):
    /// if the id is tombstoned (unpaired, or offered in a pairing that was given up) and the
    /// message is the lock's own (signature and tag under the tombstone's keys), the lock is
    /// told `Unpair`, which sends it back to pairing with a new setup code. A pending pairing
    /// younger than `PENDING_PAIRING` is left alone (its exchange may still be running); an
    /// older one is given up here first, in a race with the domain keeping it that exactly one
    /// side wins.
    pub(super) async fn answer_unknown_lock(&self, lock_id: &str, payload: &[u8]) -> anyhow::Result<()> {
        let now = self.now();
        let tombstone = {
            let mut c = self.store.read().await?;
            store::tombstone(&mut c, lock_id).await?
        };
        let Some(t) = tombstone else {
            tracing::debug!("message from unknown lock {lock_id}");
            return Ok(());
        };
        let key = VerifyingKey::from_bytes(&t.device_key)
            .ok()
            .ok_or_else(|| anyhow::anyhow!("stored device key is unusable"))?;
        let keys = LinkKeys::derive(&t.root_secret.0, lock_id.as_bytes());
        let protection = if self.signed_only {
            Protection::SignedOnly
        } else {
            Protection::Encrypted(&keys)
        };
        let mut bytes = payload.to_vec();
        // A fresh replay window: a replayed message only gets the lock told once more.
        open_up(
            &mut bytes,
            lock_id.as_bytes(),
            &key,
            protection,
            &mut ReplayWindow::new(),
            now.as_second(),
        )
        .map_err(|e| anyhow::anyhow!("refused (a tombstoned lock): {e:?}"))?;
        if t.state == store::TombstoneState::Pending {
            let cutoff = now.as_millisecond() - PENDING_PAIRING.as_millis() as i64;
            let gave_up = {
                let mut tx = self.store.begin().await?;
                let gave_up = store::abandon_pairing(&mut tx, lock_id, Some(cutoff)).await?;
                tx.commit().await?;
                gave_up
            };
            if !gave_up {
                // Still within its exchange, or kept meanwhile: the lock is answered as paired
                // (or told later, once the pairing is given up).
                tracing::debug!("lock {lock_id} is still pairing");
                return Ok(());
            }
        }
        let seq = {
            let mut tx = self.store.begin().await?;
            let n = store::next_unpair_seq(&mut tx, lock_id).await?;
            tx.commit().await?;
            n.ok_or_else(|| anyhow::anyhow!("the tombstone of {lock_id} is gone"))?
        };
        let seq = UNPAIR_SEQ_FLOOR.saturating_add(seq.max(0) as u64);
        tracing::info!("lock {lock_id} presented itself under an id this server does not keep: telling it Unpair");
        self.send_down(lock_id, &t.root_secret, &Down::Unpair, Some(seq), SYNC_LIFETIME)
            .await?;
        self.forget_dynsec_login_soon(lock_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_topics_parse() {
        assert_eq!(parse_pairing_up("latchkey/v1/pair/042/up"), Some(42));
        assert_eq!(parse_pairing_up("latchkey/v1/pair/42/up"), None);
        assert_eq!(parse_pairing_up("latchkey/v1/pair/04a/up"), None);
    }
}
