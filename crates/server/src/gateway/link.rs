//! The server's MQTT link: its one client connection (subscriptions, reconnection), the
//! messages it receives from locks (checked: signature, expiry, the stored replay window) and
//! hands to the job they belong to, presence, sealing messages down, and the server's own key.
//!
//! Everything received from the broker is untrusted: decoders return errors, never panic, and a
//! message that fails a check is logged and dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use latchkey_protocol::{
    Down, EventsAck, Header, LinkKeys, MAX_MESSAGE_LEN, Protection, ReplayWindow, SigningKey, Time, Up, VerifyingKey,
    open_up, seal_down, topics,
};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use tokio::sync::watch;

use super::DomainSlot;
use super::pairing::PairingWaiter;
use super::sync::SyncSlot;
use crate::domain::types::LockSecret;
use crate::env::{Clock, Entropy, random};
use crate::store::{self, LockRow, Store};

/// Lifetimes of down messages (docs/protocol.md, "Expiries the server should use").
pub(super) const UNLOCK_LIFETIME: i64 = 30;
pub(super) const TIME_LIFETIME: i64 = 30;
pub(super) const SYNC_LIFETIME: i64 = 600;
/// The sequence numbers of `Unpair` messages sent after the lock's row (and its counter) is
/// gone start here, far above anything the counter reaches (docs/protocol.md, "Nonces").
pub(super) const UNPAIR_SEQ_FLOOR: u64 = 1 << 63;

/// The server's side of the link, shared by the jobs (`sync`, `pairing`, `unlock`).
pub(super) struct Link {
    /// The link's own records (command and replay numbers, resend claims, unlock results).
    pub(super) store: Store,
    /// What a lock must hold and what it reported.
    pub(super) domain: DomainSlot,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) entropy: Arc<dyn Entropy>,
    pub(super) client: AsyncClient,
    pub(super) connected: AtomicBool,
    pub(super) server_key: SigningKey,
    /// The first round's signed-only link, for the benchmark only (`Config::signed_only_link`).
    pub(super) signed_only: bool,
    pub(super) unlock_timeout: Duration,
    /// The shared-subscription group of the locks' `up` topics.
    pub(super) share_group: String,
    /// The provisioning of an external Mosquitto's dynamic-security plugin (`dynsec.rs`), if
    /// the server does it.
    pub(super) dynsec: Option<Arc<super::dynsec::Provisioner>>,
    /// Messages this instance received on locks' up topics (`/metrics`: `latchkey_lock_messages_total`).
    pub(super) lock_messages: prometheus_client::metrics::counter::Counter,
    /// Syncs sent, by kind (`latchkey_syncs_sent_total{kind="delta"|"snapshot"}`).
    pub(super) syncs_sent: prometheus_client::metrics::family::Family<
        crate::metrics::SyncLabels,
        prometheus_client::metrics::counter::Counter,
    >,
    /// Pairing exchanges this instance runs, by discriminator, each under a number of its own:
    /// two Admins may pair two locks whose codes share a discriminator at once, and each
    /// exchange keeps only the messages of its session. Pairing replies reach every instance
    /// (no shared subscription); only the one running the exchange acts.
    pub(super) pairings: Mutex<HashMap<u16, Vec<PairingWaiter>>>,
    /// The number of the next pairing exchange.
    pub(super) next_pairing: std::sync::atomic::AtomicU64,
    /// Remote unlocks this instance waits for, by (lock, command). A result that another
    /// instance receives reaches the waiter through the `unlock_results` table.
    /// Several answers may come (the command is resent until answered).
    pub(super) unlocks: Mutex<HashMap<(String, u64), UnlockWaiter>>,
    /// The ids of locks that said `Hello` to this instance: a waiting remote unlock resends
    /// at once to a lock that just (re)connected.
    pub(super) hellos: tokio::sync::broadcast::Sender<String>,
    /// Locks this instance is sending a change to, one sender task each (`Link::sync_soon`).
    pub(super) syncs: Mutex<HashMap<String, SyncSlot>>,
}

/// A remote unlock waiting on this instance: where its answer goes, and the lock's keys as the
/// request read them with the lock's row, so that the answer is checked and handed over before
/// any database read (`Link::on_lock_message`). A lock id's keys never change (pairing again
/// makes a new lock id), so these are the keys the row holds for as long as it exists.
pub(super) struct UnlockWaiter {
    pub(super) tx: tokio::sync::mpsc::UnboundedSender<latchkey_protocol::UnlockOutcome>,
    pub(super) device_key: [u8; 32],
    pub(super) root_secret: LockSecret,
}

pub(super) fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) async fn event_loop(g: Arc<Link>, mut events: EventLoop, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => break,
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    // Each lock message goes to one instance of the group; pairing replies go
                    // to every instance, since only the one that started the exchange can
                    // check them.
                    let locks = format!("$share/{}/{}", g.share_group, topics::LOCK_UP_FILTER);
                    // The plugin's answers (before the commands, which the setup sends).
                    let dynsec = g.dynsec.as_ref().map(|_| super::dynsec::RESPONSE_TOPIC);
                    for filter in [Some(locks.as_str()), Some(topics::PAIRING_UP_FILTER), dynsec].into_iter().flatten() {
                        if let Err(e) = g.client.try_subscribe(filter, QoS::AtLeastOnce) {
                            tracing::warn!("subscribing to {filter}: {e}");
                        }
                    }
                    if let Some(p) = &g.dynsec {
                        p.submit_setup();
                    }
                    g.connected.store(true, Ordering::SeqCst);
                    tracing::info!("connected to the MQTT broker");
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = p.topic.clone();
                    if topic == super::dynsec::RESPONSE_TOPIC {
                        if let Some(d) = &g.dynsec {
                            d.on_response(&p.payload);
                        }
                    } else if let Some(d) = super::pairing::parse_pairing_up(&topic) {
                        for (_, tx) in guard(&g.pairings).get(&d).into_iter().flatten() {
                            let _ = tx.send(p.payload.to_vec());
                        }
                    } else if let Some(lock_id) = topics::parse_lock_up(&topic) {
                        let g = g.clone();
                        let lock_id = lock_id.to_string();
                        let payload = p.payload.to_vec();
                        tokio::spawn(async move {
                            if let Err(e) = g.on_lock_message(&lock_id, &payload).await {
                                tracing::warn!("message from lock {lock_id}: {e:#}");
                            }
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if g.connected.swap(false, Ordering::SeqCst) {
                        tracing::warn!("lost the MQTT broker: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
    let _ = g.client.try_disconnect();
    g.domain.clear();
}

/// How long a request waits for the server's own broker connection before answering 503: long
/// enough for a reconnect (the event loop retries every 250 ms, and Mosquitto's
/// dynamic-security plugin disconnects a client whose roles change), short enough for a person
/// waiting on a button.
pub(super) const BROKER_GRACE: Duration = Duration::from_secs(3);

impl Link {
    /// Whether the server is connected to the broker, waiting up to `BROKER_GRACE` for a
    /// reconnect under way.
    pub(super) async fn broker_connected(&self) -> bool {
        let until = tokio::time::Instant::now() + BROKER_GRACE;
        while !self.connected.load(Ordering::SeqCst) {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        true
    }

    pub(super) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Queues commands for the dynamic-security plugin (`dynsec.rs`: sent in order, answers
    /// checked, retried).
    pub(super) fn dynsec_command(&self, batch: super::dynsec::Batch) {
        if let Some(p) = &self.dynsec {
            p.submit(batch);
        }
    }

    pub(super) fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .map_err(|e| e.to_string())
    }

    pub(super) async fn next_seq(&self, lock_id: &str) -> anyhow::Result<u64> {
        let mut tx = self.store.begin().await?;
        let seq = store::next_command_seq(&mut tx, lock_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no lock {lock_id}"))?;
        tx.commit().await?;
        Ok(seq as u64)
    }

    /// How this server protects its links: encrypted, unless the benchmark asked for the
    /// first round's signed-only link.
    fn protection<'k>(&self, keys: &'k LinkKeys) -> Protection<'k> {
        if self.signed_only {
            Protection::SignedOnly
        } else {
            Protection::Encrypted(keys)
        }
    }

    /// Encrypts, signs and publishes a down message under the link keys of the lock's root
    /// secret; `seq` is reserved when not given. Every number comes from the lock's counter in
    /// the database and is used for one message only: it is the AEAD nonce.
    pub(super) async fn send_down(
        &self,
        lock_id: &str,
        root: &LockSecret,
        body: &Down<'_>,
        seq: Option<u64>,
        lifetime: i64,
    ) -> anyhow::Result<()> {
        let seq = match seq {
            Some(s) => s,
            None => self.next_seq(lock_id).await?,
        };
        let topic = topics::lock_down(lock_id).ok_or_else(|| anyhow::anyhow!("bad lock id"))?;
        let keys = link_keys(lock_id, root);
        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        let header = Header {
            seq,
            expires: self.now().as_second() + lifetime,
        };
        let n = seal_down(
            &self.server_key,
            self.protection(&keys),
            lock_id.as_bytes(),
            header,
            body,
            &mut buf,
        )
        .map_err(|e| anyhow::anyhow!("sealing: {e:?}"))?;
        buf.truncate(n);
        self.publish(&topic, buf).map_err(|e| anyhow::anyhow!(e))
    }

    pub(super) async fn on_lock_message(self: &Arc<Self>, lock_id: &str, payload: &[u8]) -> anyhow::Result<()> {
        let now = self.now();
        let domain = self.domain.get().await?;
        if payload.is_empty() {
            // The lock's last will: it went away without saying so.
            domain.presence(lock_id, false, now).await?;
            return Ok(());
        }
        // A remote unlock waits for this lock here: check the message with the keys the
        // request read with the lock's row and hand a result over at once, before any database
        // read or write (docs/design/server-performance.md, "Issue 19"). It is signed by the
        // lock and names the command number the request waits for, and a replay cannot name a
        // pending command (each number is used once; a replay of the genuine answer only
        // repeats what the lock did).
        let waiting = self.waiting_unlock_keys(lock_id);
        let mut early_bytes: Vec<u8>;
        let mut early = None;
        let mut delivered = false;
        if let Some((device_key, root)) = &waiting
            && let Ok(key) = VerifyingKey::from_bytes(device_key)
        {
            let keys = link_keys(lock_id, root);
            early_bytes = payload.to_vec();
            let opened = open_up(
                &mut early_bytes,
                lock_id.as_bytes(),
                &key,
                self.protection(&keys),
                &mut ReplayWindow::new(),
                now.as_second(),
            );
            if let Ok(msg) = opened {
                if let Up::UnlockResult(r) = &msg.body {
                    delivered = self.hand_to_waiting_unlock(lock_id, r);
                }
                early = Some(msg);
            }
        }
        let Some(lock) = domain.paired_lock(lock_id).await? else {
            // Unpaired, or never kept: told so if tombstoned (`pairing.rs`).
            return self.answer_unknown_lock(lock_id, payload).await;
        };
        // Counted for this server's own locks only: a shared external broker carries other
        // deployments' (and other test runs') lock traffic on the same topics.
        self.lock_messages.inc();
        // Protection, signature, tag, body and expiry first (a fresh window: the replay check
        // is the stored one). The body is decrypted in place, in a copy. Already done above
        // when the keys were those of the row.
        let same_keys = waiting
            .as_ref()
            .is_some_and(|(k, r)| *k == lock.device_key && *r == lock.root_secret);
        let mut bytes: Vec<u8>;
        let msg = match early {
            Some(msg) if same_keys => msg,
            _ => {
                let key = VerifyingKey::from_bytes(&lock.device_key)
                    .ok()
                    .ok_or_else(|| anyhow::anyhow!("stored device key is unusable"))?;
                let keys = link_keys(lock_id, &lock.root_secret);
                bytes = payload.to_vec();
                let msg = open_up(
                    &mut bytes,
                    lock_id.as_bytes(),
                    &key,
                    self.protection(&keys),
                    &mut ReplayWindow::new(),
                    now.as_second(),
                )
                .map_err(|e| anyhow::anyhow!("refused: {e:?}"))?;
                if let Up::UnlockResult(r) = &msg.body
                    && !delivered
                {
                    delivered = self.hand_to_waiting_unlock(lock_id, r);
                }
                msg
            }
        };
        if !accept_up_seq(&self.store, lock_id, msg.header.seq).await? {
            anyhow::bail!("refused: {:?}", latchkey_protocol::Reject::Replayed);
        }
        let up_seq = msg.header.seq;
        if !lock.online && !matches!(msg.body, Up::Hello(_)) {
            // An authenticated message: the lock is connected even though its Hello was missed
            // (it reconnected while this server was down).
            domain.presence(lock_id, true, now).await?;
        }
        match msg.body {
            Up::Hello(h) => {
                domain.hello(lock_id, h.applied_version, up_seq, now).await?;
                let time = Time {
                    utc: now.as_second(),
                    echo: h.nonce,
                };
                self.send_down(lock_id, &lock.root_secret, &Down::Time(time), None, TIME_LIFETIME)
                    .await?;
                if h.applied_version as i64 != lock.version {
                    self.send_sync(lock_id).await?;
                }
                if lock.event_seq > 0 {
                    let ack = EventsAck {
                        upto: lock.event_seq as u64,
                    };
                    self.send_down(lock_id, &lock.root_secret, &Down::EventsAck(ack), None, SYNC_LIFETIME)
                        .await?;
                }
                // After the sync, so that a remote unlock resent now reaches the lock behind
                // it (one client's messages keep their order).
                let _ = self.hellos.send(lock_id.to_string());
            }
            Up::SyncAck(a) => self.on_sync_ack(domain.as_ref(), lock_id, a, up_seq).await?,
            Up::Events(evs) => self.on_events(domain.as_ref(), &lock, &evs).await?,
            // Delivered above to a request waiting here; otherwise the request may wait on
            // another instance: leave the result there.
            Up::UnlockResult(_) if delivered => {}
            Up::UnlockResult(r) => self.leave_unlock_result(lock_id, &r, now).await?,
            Up::Bolt(b) => domain.bolt(lock_id, b.locked, now).await?,
        }
        Ok(())
    }

    /// Tells a lock that it was unpaired (best effort).
    pub(super) async fn unpaired(&self, lock: &LockRow) {
        // The row is normally gone by now, and with it the counter. The copy in `lock` may be
        // older than the last number reserved (another instance may have sent a sync between
        // the read and the delete), so the Unpair takes a number above every number the
        // counter can have handed out: never a nonce already used under this lock's key.
        let seq = match self.next_seq(&lock.id).await {
            Ok(s) => s,
            // From the tombstone's counter, which started at the counter as the deleting
            // request read it (later Unpairs, to a lock that comes back, take the next ones).
            Err(_) => UNPAIR_SEQ_FLOOR.saturating_add(self.unpair_seq(lock).await),
        };
        let sent = self
            .send_down(&lock.id, &lock.root_secret, &Down::Unpair, Some(seq), SYNC_LIFETIME)
            .await;
        if let Err(e) = sent {
            tracing::warn!("unpair {}: {e:#}", lock.id);
        }
    }
}

impl Link {
    /// The offset of the next `Unpair` number of a lock whose row is gone: from its tombstone's
    /// counter, else the counter as last read, plus one.
    async fn unpair_seq(&self, lock: &LockRow) -> u64 {
        let reserved = async {
            let mut tx = self.store.begin().await?;
            let n = store::next_unpair_seq(&mut tx, &lock.id).await?;
            tx.commit().await?;
            anyhow::Ok(n)
        }
        .await;
        match reserved {
            Ok(Some(n)) => n.max(0) as u64,
            _ => lock.command_seq.max(0) as u64 + 1,
        }
    }

    /// Deletes a lock's login on Mosquitto's dynamic-security plugin, if the server provisions
    /// it, two seconds from now: first the broker delivers the `Unpair` just sent (deleting the
    /// login disconnects the lock, which then logs in as `pairing` by itself).
    pub(super) fn forget_dynsec_login_soon(&self, lock_id: &str) {
        let Some(provisioner) = self.dynsec.clone() else {
            return;
        };
        let batch = super::dynsec::lock_unpaired(lock_id);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            // Sent in order with the other batches, its answer checked, retried (`dynsec.rs`).
            provisioner.submit(batch);
        });
    }
}

/// The AEAD keys of a lock's link, from its root secret (docs/protocol.md, "Encrypted
/// messages").
fn link_keys(lock_id: &str, root: &LockSecret) -> LinkKeys {
    LinkKeys::derive(&root.0, lock_id.as_bytes())
}

/// Refuses to start with a server key other than the one the database's locks were paired
/// with (several instances must share one `DATA_DIR/server-key`); the first start records it.
pub(super) async fn check_identity(store: &Store, key: &SigningKey, path: &Path, now: Timestamp) -> anyhow::Result<()> {
    let mine = hex::encode(key.verifying_key().to_bytes());
    let recorded = {
        let mut tx = store.begin().await?;
        let recorded = store::server_identity(&mut tx, &mine, now.as_millisecond()).await?;
        tx.commit().await?;
        recorded
    };
    if recorded != mine {
        anyhow::bail!(
            "the server key {} (public key {mine}) is not the key this database's locks were paired \
             with (public key {recorded}); every instance serving one database must use the same \
             server key: copy the first instance's server-key file into this instance's data folder",
            path.display()
        );
    }
    Ok(())
}

/// Whether a lock's up message numbered `seq` is new, by the lock's replay window stored in
/// the database; records it when it is. A number is accepted once across all instances
/// (compare-and-set on the stored window). `false` also when there is no such lock.
pub async fn accept_up_seq(store: &Store, lock_id: &str, seq: u64) -> anyhow::Result<bool> {
    for _ in 0..32 {
        let mut c = store.write().await?;
        let Some(old) = store::up_replay(&mut c, lock_id).await? else {
            return Ok(false);
        };
        let mut window = hex::decode(&old)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(|b| ReplayWindow::from_bytes(&b))
            .unwrap_or_default();
        if !window.check(seq) {
            return Ok(false);
        }
        window.accept(seq);
        if store::swap_up_replay(&mut c, lock_id, &old, &hex::encode(window.to_bytes())).await? {
            return Ok(true);
        }
        // Another instance accepted a message of this lock meanwhile: check again.
    }
    anyhow::bail!("the replay window of lock {lock_id} keeps changing")
}

/// A 32-byte secret kept in `path` (hex, owner-only), created on first start: the server's
/// Ed25519 key (`server-key`) and the broker secret (`broker-secret`).
pub(super) fn load_or_create_secret(path: &Path, entropy: &dyn Entropy) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("{} is not a 32-byte hex key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = random::<32>(entropy);
            let tmp = path.with_extension("tmp");
            {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
                f.write_all(hex::encode(bytes).as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)?;
            Ok(bytes)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
