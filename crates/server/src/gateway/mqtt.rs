//! The MQTT gateway: an embedded `rumqttd` broker (or an external broker), one `rumqttc`
//! client, and the server's side of `docs/protocol.md`: pairing, sync snapshots,
//! acknowledgements, the lock's journal, remote unlock and presence.
//!
//! Everything received from the broker is untrusted: decoders return errors, never panic, and a
//! message that fails a check is logged and dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use jiff::Timestamp;
use latchkey_lock_core::{
    Credential, DenyEntry, EventKind, GuestRecord, LocalDate, Method, OFFSET_CAPACITY, OffsetEntry, RootSecret,
    Settings, Subject, UserKind, Window,
};
use latchkey_protocol::{
    Down, EventsAck, Header, MAX_MESSAGE_LEN, PairStart, Pairing, PinCode, ReplayWindow, ServerPairing, SetupCode,
    SigningKey, Sync as SyncBatch, SyncChange, SyncStatus, Time, Unlock, Up, User, VerifyingKey, decode_pairing,
    encode_pairing, open_up, reason_name, seal_down, topics,
};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot, watch};

use super::{Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome};
use crate::config::{Config, MqttConfig};
use crate::domain::Clock;
use crate::domain::access::display_name;
use crate::domain::types::{AccessLevel, Schedule, TimeZoneName};
use crate::store::{self, EventRow, LockRow, Store};

/// How long `pair` waits for each step of the exchange.
const PAIR_STEP: Duration = Duration::from_secs(8);
/// Lifetimes of down messages (docs/protocol.md, "Expiries the server should use").
const UNLOCK_LIFETIME: i64 = 30;
const TIME_LIFETIME: i64 = 30;
const SYNC_LIFETIME: i64 = 600;
/// A sync the lock has not acknowledged is sent again after this long.
const RESYNC_AFTER: Duration = Duration::from_secs(4);
/// The offset table covers this much ahead (13 months and a bit).
const OFFSET_HORIZON_SECS: i64 = 400 * 86_400;

/// Starts the broker (when embedded) and the client.
pub async fn start(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<dyn Gateway>> {
    let (host, port) = match &config.mqtt {
        MqttConfig::Embedded(addr) => {
            let addr = start_broker(*addr)?;
            (addr.ip().to_string(), addr.port())
        }
        MqttConfig::External { host, port } => (host.clone(), *port),
    };
    let server_key = load_or_create_key(&config.data_dir.join("server-key"))?;
    let mut mo = MqttOptions::new(format!("latchkey-server-{}", hex::encode(random::<4>())), host, port);
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_clean_session(true);
    mo.set_max_packet_size(MAX_MESSAGE_LEN + 1024, MAX_MESSAGE_LEN + 1024);
    let (client, events) = AsyncClient::new(mo, 1024);
    let inner = Arc::new(Inner {
        store,
        clock,
        client,
        connected: AtomicBool::new(false),
        server_key,
        unlock_timeout: Duration::from_millis(config.unlock_timeout_ms),
        pairings: Mutex::new(HashMap::new()),
        unlocks: Mutex::new(HashMap::new()),
        replay: Mutex::new(HashMap::new()),
        sent: Mutex::new(HashMap::new()),
    });
    tasks.push(tokio::spawn(event_loop(inner.clone(), events, shutdown.clone())));
    let resync = inner.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tick.tick() => resync.resync_unacked().await,
            }
        }
    }));
    Ok(Arc::new(MqttGateway(inner)))
}

/// Runs `rumqttd` on its own threads, listening on `addr` (MQTT 3.1.1, no TLS, no auth: see
/// `docs/design/device-link.md`).
/// Port 0 picks a free port. Returns the address it listens on.
fn start_broker(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    // Fail clearly when the port is taken (rumqttd would only log it on its own thread).
    let probe = std::net::TcpListener::bind(addr)
        .with_context(|| format!("the embedded MQTT broker cannot listen on {addr}"))?;
    let addr = probe.local_addr()?;
    drop(probe);
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_MESSAGE_LEN + 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let mut v4 = HashMap::new();
    v4.insert(
        "v4-1".to_string(),
        rumqttd::ServerSettings {
            name: "v4-1".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections,
        },
    );
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(v4),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!("the embedded MQTT broker stopped: {e}");
            }
        })
        .context("starting the embedded MQTT broker")?;
    Ok(addr)
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // Without OS randomness the server cannot pair or sign anything safely.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the OS random source");
    b
}

/// The server's Ed25519 key, created on first start (hex, owner-only).
fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| anyhow::anyhow!("{} is not a 32-byte hex key", path.display()))?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = random::<32>();
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
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    client: AsyncClient,
    connected: AtomicBool,
    server_key: SigningKey,
    unlock_timeout: Duration,
    /// Pairing exchanges in progress, by discriminator.
    pairings: Mutex<HashMap<u16, mpsc::UnboundedSender<Vec<u8>>>>,
    /// Remote unlocks waiting for their result, by (lock, command).
    unlocks: Mutex<HashMap<(String, u64), oneshot::Sender<latchkey_protocol::UnlockOutcome>>>,
    /// Replay windows of up messages, per lock (in memory).
    replay: Mutex<HashMap<String, ReplayWindow>>,
    /// The version last sent to each lock, and when.
    sent: Mutex<HashMap<String, (i64, Instant)>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The gateway the domain holds.
pub struct MqttGateway(Arc<Inner>);

async fn event_loop(g: Arc<Inner>, mut events: EventLoop, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => break,
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for filter in [topics::LOCK_UP_FILTER, topics::PAIRING_UP_FILTER] {
                        if let Err(e) = g.client.try_subscribe(filter, QoS::AtLeastOnce) {
                            tracing::warn!("subscribing to {filter}: {e}");
                        }
                    }
                    g.connected.store(true, Ordering::SeqCst);
                    tracing::info!("connected to the MQTT broker");
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = p.topic.clone();
                    if let Some(d) = parse_pairing_up(&topic) {
                        if let Some(tx) = guard(&g.pairings).get(&d) {
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
}

fn parse_pairing_up(topic: &str) -> Option<u16> {
    let d = topic
        .strip_prefix(topics::ROOT)?
        .strip_prefix("/pair/")?
        .strip_suffix("/up")?;
    if d.len() != 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// A full snapshot of what a lock must hold.
struct Snapshot {
    lock: LockRow,
    changes: Vec<SyncChange<'static>>,
    offsets: Vec<OffsetEntry>,
    valid_until: i64,
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .map_err(|e| e.to_string())
    }

    async fn next_seq(&self, lock_id: &str) -> anyhow::Result<u64> {
        let mut tx = self.store.begin().await?;
        let seq = store::next_command_seq(&mut tx, lock_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no lock {lock_id}"))?;
        tx.commit().await?;
        Ok(seq as u64)
    }

    /// Seals and publishes a down message; `seq` is reserved when not given.
    async fn send_down(&self, lock_id: &str, body: &Down<'_>, seq: Option<u64>, lifetime: i64) -> anyhow::Result<()> {
        let seq = match seq {
            Some(s) => s,
            None => self.next_seq(lock_id).await?,
        };
        let topic = topics::lock_down(lock_id).ok_or_else(|| anyhow::anyhow!("bad lock id"))?;
        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        let header = Header {
            seq,
            expires: self.now().as_second() + lifetime,
        };
        let n = seal_down(&self.server_key, lock_id.as_bytes(), header, body, &mut buf)
            .map_err(|e| anyhow::anyhow!("sealing: {e:?}"))?;
        buf.truncate(n);
        self.publish(&topic, buf).map_err(|e| anyhow::anyhow!(e))
    }

    async fn snapshot(&self, lock_id: &str) -> anyhow::Result<Option<Snapshot>> {
        let mut c = self.store.read().await?;
        let Some(lock) = store::lock_by_id(&mut c, lock_id).await? else {
            return Ok(None);
        };
        let members = store::members(&mut c, lock_id).await?;
        let keys = store::guest_keys(&mut c, lock_id).await?;
        let issuers = store::issuers(&mut c, lock_id).await?;
        drop(c);
        let now = self.now();
        let now_s = now.as_second();
        let mut changes = vec![SyncChange::ClearAll];
        let base = Settings::DEFAULT;
        let lockout_base = u32::try_from(lock.lockout_seconds.max(1)).unwrap_or(u32::MAX);
        changes.push(SyncChange::Settings(Settings {
            lockout_attempts: u8::try_from(lock.wrong_code_limit.clamp(1, 255)).unwrap_or(5),
            lockout_base_secs: lockout_base,
            lockout_max_secs: base.lockout_max_secs.max(lockout_base),
            ..base
        }));
        changes.push(SyncChange::SetIssuer {
            slot: 0,
            epoch: u32::try_from(lock.server_epoch).unwrap_or(0),
            enabled: true,
        });
        // The newest epoch of each Admin issuer slot.
        let mut slots: HashMap<i64, &store::IssuerRow> = HashMap::new();
        for i in &issuers {
            if (1..8).contains(&i.slot) && slots.get(&i.slot).is_none_or(|o| o.epoch < i.epoch) {
                slots.insert(i.slot, i);
            }
        }
        let mut slot_list: Vec<_> = slots.into_values().collect();
        slot_list.sort_by_key(|i| i.slot);
        for i in slot_list {
            changes.push(SyncChange::SetIssuer {
                slot: i.slot as u8,
                epoch: u32::try_from(i.epoch).unwrap_or(0),
                enabled: i.revoked_at.is_none(),
            });
        }
        for m in &members {
            let Ok(id) = u32::try_from(m.user_id) else { continue };
            let kind = match AccessLevel::from_stored(&m.access_level) {
                AccessLevel::Admin | AccessLevel::Family => UserKind::Unrestricted,
                AccessLevel::RecurringGuest => {
                    match m
                        .schedule
                        .as_deref()
                        .and_then(Schedule::from_stored)
                        .and_then(|s| lock_schedule(&s))
                    {
                        Some(s) => UserKind::ScheduleRestricted(s),
                        None => continue,
                    }
                }
            };
            let pin = m.pin.as_deref().and_then(|p| PinCode::parse(p.as_bytes()));
            changes.push(SyncChange::UpsertUser(User {
                id,
                enabled: true,
                kind,
                pin,
            }));
        }
        let mut records = 0;
        let mut denies = 0;
        for k in &keys {
            let Ok(code) = k
                .code
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
            else {
                continue;
            };
            let code_end = k.code_ends_at / 1000;
            if code_end <= now_s {
                continue;
            }
            if k.revoked_at.is_some() {
                if denies < latchkey_lock_core::STANDARD_DENY {
                    denies += 1;
                    changes.push(SyncChange::AddDenyEntry(DenyEntry {
                        code,
                        expires: code_end,
                    }));
                }
            } else if !(k.one_time && k.used_at.is_some()) && records < latchkey_lock_core::STANDARD_GUEST_KEYS {
                let (from, until) = (k.starts_at / 1000, k.ends_at / 1000);
                if from < until {
                    records += 1;
                    changes.push(SyncChange::UpsertGuestKey(GuestRecord {
                        code,
                        key_id: u32::try_from(k.key_no).unwrap_or(0),
                        from,
                        until,
                        one_time: k.one_time,
                    }));
                }
            }
        }
        let tz = TimeZoneName::from_stored(lock.time_zone.clone()).zone();
        let (offsets, valid_until) = offset_table(&tz, now_s);
        Ok(Some(Snapshot {
            lock,
            changes,
            offsets,
            valid_until,
        }))
    }

    /// Sends the lock a full snapshot of its current version.
    async fn send_sync(&self, lock_id: &str) -> anyhow::Result<()> {
        let Some(snap) = self.snapshot(lock_id).await? else {
            return Ok(());
        };
        let mut changes: Vec<SyncChange<'_>> = snap.changes.to_vec();
        changes.push(SyncChange::SetOffsetTable {
            entries: &snap.offsets,
            valid_until: snap.valid_until,
        });
        let version = snap.lock.version;
        let sync = SyncBatch::new(snap.lock.acked_version.max(0) as u64, version.max(0) as u64, &changes);
        guard(&self.sent).insert(lock_id.to_string(), (version, Instant::now()));
        self.send_down(lock_id, &Down::Sync(sync), None, SYNC_LIFETIME).await
    }

    /// Resends snapshots to online locks that have not acknowledged their current version.
    async fn resync_unacked(&self) {
        if !self.connected.load(Ordering::SeqCst) {
            return;
        }
        let locks = match self.store.read().await {
            Ok(mut c) => store::unsynced_locks(&mut c).await.unwrap_or_default(),
            Err(_) => return,
        };
        for l in locks {
            let due = match guard(&self.sent).get(&l.id) {
                Some((v, at)) => *v != l.version || at.elapsed() >= RESYNC_AFTER,
                None => true,
            };
            if due && let Err(e) = self.send_sync(&l.id).await {
                tracing::warn!("sync to {}: {e:#}", l.id);
            }
        }
    }

    async fn on_lock_message(&self, lock_id: &str, payload: &[u8]) -> anyhow::Result<()> {
        let now = self.now();
        let now_ms = now.as_millisecond();
        if payload.is_empty() {
            // The lock's last will: it went away without saying so.
            let mut tx = self.store.begin().await?;
            store::set_lock_presence(&mut tx, lock_id, false, None, now_ms).await?;
            tx.commit().await?;
            return Ok(());
        }
        let lock = {
            let mut c = self.store.read().await?;
            store::lock_by_id(&mut c, lock_id).await?
        };
        let Some(lock) = lock else {
            tracing::debug!("message from unknown lock {lock_id}");
            return Ok(());
        };
        let key = hex32(&lock.device_key)
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .ok_or_else(|| anyhow::anyhow!("stored device key is unusable"))?;
        let msg = {
            let mut replay = guard(&self.replay);
            let w = replay.entry(lock_id.to_string()).or_default();
            open_up(payload, lock_id.as_bytes(), &key, w, now.as_second())
                .map_err(|e| anyhow::anyhow!("refused: {e:?}"))?
        };
        if !lock.online && !matches!(msg.body, Up::Hello(_)) {
            // An authenticated message: the lock is connected even though its Hello was missed
            // (it reconnected while this server was down).
            let mut tx = self.store.begin().await?;
            store::set_lock_presence(&mut tx, lock_id, true, None, now_ms).await?;
            tx.commit().await?;
        }
        match msg.body {
            Up::Hello(h) => {
                {
                    let mut tx = self.store.begin().await?;
                    store::set_lock_presence(&mut tx, lock_id, true, None, now_ms).await?;
                    if h.applied_version as i64 == lock.version {
                        store::set_acked_version(&mut tx, lock_id, lock.version).await?;
                    }
                    tx.commit().await?;
                }
                let time = Time {
                    utc: now.as_second(),
                    echo: h.nonce,
                };
                self.send_down(lock_id, &Down::Time(time), None, TIME_LIFETIME).await?;
                if h.applied_version as i64 != lock.version {
                    self.send_sync(lock_id).await?;
                }
                if lock.event_seq > 0 {
                    let ack = EventsAck {
                        upto: lock.event_seq as u64,
                    };
                    self.send_down(lock_id, &Down::EventsAck(ack), None, SYNC_LIFETIME)
                        .await?;
                }
            }
            Up::SyncAck(a) => match a.status {
                SyncStatus::Applied => {
                    let mut tx = self.store.begin().await?;
                    store::set_acked_version(&mut tx, lock_id, a.version as i64).await?;
                    tx.commit().await?;
                }
                SyncStatus::BaseMismatch => self.send_sync(lock_id).await?,
                SyncStatus::Rejected(e) => tracing::warn!("lock {lock_id} rejected sync: {e:?}"),
            },
            Up::Events(evs) => {
                let mut tx = self.store.begin().await?;
                let mut upto = 0u64;
                for ev in evs.iter() {
                    upto = upto.max(ev.seq);
                    if let Some(row) = event_row(&mut tx, lock_id, &ev).await? {
                        store::insert_event(&mut tx, &row).await?;
                    }
                }
                if upto > 0 {
                    store::set_event_seq(&mut tx, lock_id, upto as i64).await?;
                }
                tx.commit().await?;
                if upto > 0 {
                    self.send_down(lock_id, &Down::EventsAck(EventsAck { upto }), None, SYNC_LIFETIME)
                        .await?;
                }
            }
            Up::UnlockResult(r) => {
                if let Some(tx) = guard(&self.unlocks).remove(&(lock_id.to_string(), r.command)) {
                    let _ = tx.send(r.outcome);
                }
            }
        }
        Ok(())
    }

    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        if !self.connected.load(Ordering::SeqCst) {
            return Err(PairingError::Unavailable("the MQTT broker is not reachable".into()));
        }
        let code = SetupCode::parse(setup_code).ok_or(PairingError::NoAnswer)?;
        let d = code.discriminator();
        let down = topics::pairing_down(d).ok_or(PairingError::NoAnswer)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        guard(&self.pairings).insert(d, tx);
        struct Unregister<'a>(&'a Inner, u16);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                guard(&self.0.pairings).remove(&self.1);
            }
        }
        let _unregister = Unregister(self, d);

        let (server, start): (ServerPairing, PairStart) = ServerPairing::start(&code, random::<16>(), random::<32>());
        let session = start.session;
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
                    let confirmed = server
                        .finish(&reply, grant.lock_id.as_bytes(), &server_public, &root)
                        .map_err(|_| PairingError::NoAnswer)?;
                    let device = PairedDevice {
                        serial,
                        device_key: confirmed.lock_key.to_bytes(),
                    };
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
                return Err(PairingError::NoAnswer);
            };
            if let Ok(Pairing::Done(d)) = decode_pairing(&msg)
                && d.session == session
            {
                done.check(&d).map_err(|_| PairingError::NoAnswer)?;
                // Forget any up-replay state of an earlier lock with this id (none in practice).
                guard(&self.replay).remove(&grant.lock_id);
                return Ok(device);
            }
        }
    }
}

/// Maps one journal event to an activity-log row (`None` for bookkeeping events).
async fn event_row(
    c: &mut store::Conn,
    lock_id: &str,
    ev: &latchkey_lock_core::Event,
) -> anyhow::Result<Option<EventRow>> {
    let at = ev.time.saturating_mul(1000);
    let mut row = EventRow {
        id: format!("{:013}{}", at.max(0), hex::encode(random::<6>())),
        lock_id: lock_id.to_string(),
        seq: i64::try_from(ev.seq).ok(),
        at,
        ..Default::default()
    };
    let method = |m: Method| match m {
        Method::Keypad => "keypad",
        Method::Remote => "remote",
    };
    let subject = match &ev.kind {
        EventKind::Granted {
            method: m,
            subject,
            credential,
        } => {
            row.kind = "access".into();
            row.outcome = Some("granted".into());
            row.method = Some(method(*m).into());
            row.detail = match credential {
                Credential::Pin => "PIN",
                Credential::GuestCode => "guest code",
                Credential::Remote => "remote unlock",
            }
            .into();
            Some(*subject)
        }
        EventKind::Denied {
            method: m,
            reason,
            subject,
            repeat,
        } => {
            row.kind = "access".into();
            row.outcome = Some("denied".into());
            row.method = Some(method(*m).into());
            row.reason = Some(reason_name(*reason).into());
            if *repeat > 1 {
                row.detail = format!("{repeat} times in a row");
            }
            *subject
        }
        EventKind::LockoutStarted { until, .. } => {
            row.kind = "lockout".into();
            row.method = Some("keypad".into());
            row.detail = format!(
                "keypad locked until {}",
                Timestamp::from_second(*until)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            );
            None
        }
        EventKind::TimeUntrusted { cause } => {
            row.kind = "lock_time_lost".into();
            row.detail = format!("{cause:?}");
            None
        }
        EventKind::TimeTrusted { .. } | EventKind::SyncApplied { .. } => {
            // Bookkeeping: acknowledged, not shown.
            return Ok(None);
        }
    };
    match subject {
        Some(Subject::User(id)) => {
            if let Some(m) = store::member_by_user_id(c, lock_id, i64::from(id)).await? {
                row.actor_kind = Some("member".into());
                row.actor_id = Some(m.account_id.clone());
                row.actor_name = Some(display_name(&m.name, &m.phone));
            } else {
                row.actor_kind = Some("member".into());
                row.actor_name = Some(format!("former member #{id}"));
            }
        }
        Some(Subject::GuestKey { code, key_id, .. }) => {
            let granted = row.outcome.as_deref() == Some("granted");
            let key = match key_id {
                Some(no) => {
                    if granted {
                        store::mark_guest_key_used(c, lock_id, i64::from(no), at).await?;
                    }
                    store::guest_key_by_no(c, lock_id, i64::from(no)).await?
                }
                None => {
                    let text = format!("{code:012}");
                    if granted {
                        store::mark_guest_key_used_by_code(c, lock_id, &text, at).await?
                    } else {
                        None
                    }
                }
            };
            row.actor_kind = Some("guest_key".into());
            match key {
                Some(k) => {
                    row.actor_id = Some(k.id.clone());
                    row.actor_name = Some(k.name.clone());
                }
                None => row.actor_name = Some("guest code".into()),
            }
        }
        None => {}
    }
    Ok(Some(row))
}

/// The server's schedule (days bit 0 = Monday) as lock-core's (bit 0 = Sunday).
fn lock_schedule(s: &Schedule) -> Option<latchkey_lock_core::Schedule> {
    let mut windows = heapless::Vec::new();
    for w in &s.windows {
        let days = ((w.days << 1) & 0x7e) | ((w.days >> 6) & 1);
        windows
            .push(Window {
                days,
                from: w.from,
                to: w.to,
            })
            .ok()?;
    }
    let date = |d: jiff::civil::Date| LocalDate::from_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8);
    let dates = match (s.valid_from, s.valid_until) {
        (None, None) => None,
        (from, until) => Some((
            from.map_or_else(|| LocalDate::from_ymd(1970, 1, 1), date)?,
            until.map_or_else(|| LocalDate::from_ymd(2199, 12, 31), date)?,
        )),
    };
    Some(latchkey_lock_core::Schedule { windows, dates })
}

/// UTC offsets of `tz` from a day ago to about 13 months ahead.
fn offset_table(tz: &jiff::tz::TimeZone, now: i64) -> (Vec<OffsetEntry>, i64) {
    let start = now - 86_400;
    let horizon = now + OFFSET_HORIZON_SECS;
    let Ok(start_ts) = Timestamp::from_second(start) else {
        return (vec![OffsetEntry { start, offset: 0 }], horizon);
    };
    let mut entries = vec![OffsetEntry {
        start,
        offset: tz.to_offset(start_ts).seconds(),
    }];
    let mut valid_until = horizon;
    for t in tz.following(start_ts) {
        let at = t.timestamp().as_second();
        if at >= horizon {
            break;
        }
        let offset = t.offset().seconds();
        if entries.last().is_some_and(|e| e.offset == offset || e.start >= at) {
            continue;
        }
        if entries.len() == OFFSET_CAPACITY {
            valid_until = at;
            break;
        }
        entries.push(OffsetEntry { start: at, offset });
    }
    (entries, valid_until)
}

#[async_trait]
impl Gateway for MqttGateway {
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        self.0.pair(setup_code, grant).await
    }

    fn lock_changed(&self, lock_id: &str) {
        let g = self.0.clone();
        let id = lock_id.to_string();
        tokio::spawn(async move {
            if let Err(e) = g.send_sync(&id).await {
                tracing::warn!("sync to {id}: {e:#}");
            }
        });
    }

    async fn unlock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError> {
        if !self.0.connected.load(Ordering::SeqCst) {
            return Err(UnlockError::Unavailable("the MQTT broker is not reachable".into()));
        }
        let (tx, rx) = oneshot::channel();
        let key = (lock.id.clone(), command_seq);
        guard(&self.0.unlocks).insert(key.clone(), tx);
        let body = Down::Unlock(Unlock {
            command: command_seq,
            user: user_id,
        });
        if let Err(e) = self
            .0
            .send_down(&lock.id, &body, Some(command_seq), UNLOCK_LIFETIME)
            .await
        {
            guard(&self.0.unlocks).remove(&key);
            return Err(UnlockError::Unavailable(e.to_string()));
        }
        match tokio::time::timeout(self.0.unlock_timeout, rx).await {
            Ok(Ok(latchkey_protocol::UnlockOutcome::Unlocked)) => Ok(UnlockOutcome::Unlocked),
            Ok(Ok(latchkey_protocol::UnlockOutcome::Denied(r))) => Ok(UnlockOutcome::Denied(reason_name(r).into())),
            Ok(Ok(latchkey_protocol::UnlockOutcome::Failed)) => Ok(UnlockOutcome::Denied("failed_to_open".into())),
            _ => {
                guard(&self.0.unlocks).remove(&key);
                Err(UnlockError::Timeout)
            }
        }
    }

    async fn unpaired(&self, lock: &LockRow) {
        let seq = match self.0.next_seq(&lock.id).await {
            Ok(s) => s,
            Err(_) => lock.command_seq.max(0) as u64 + 1,
        };
        if let Err(e) = self
            .0
            .send_down(&lock.id, &Down::Unpair, Some(seq), SYNC_LIFETIME)
            .await
        {
            tracing::warn!("unpair {}: {e:#}", lock.id);
        }
        guard(&self.0.replay).remove(&lock.id);
        guard(&self.0.sent).remove(&lock.id);
    }

    fn ready(&self) -> bool {
        self.0.connected.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::WeeklyWindow;

    #[test]
    fn days_move_from_monday_first_to_sunday_first() {
        let s = Schedule {
            windows: vec![
                WeeklyWindow {
                    days: 0b000_0001, // Monday
                    from: 9 * 60,
                    to: 17 * 60,
                },
                WeeklyWindow {
                    days: 0b100_0000, // Sunday
                    from: 22 * 60,
                    to: 60,
                },
            ],
            valid_from: None,
            valid_until: None,
        };
        let l = lock_schedule(&s).unwrap();
        assert_eq!(l.windows[0].days, 0b000_0010, "Monday is bit 1 on the lock");
        assert_eq!(l.windows[1].days, 0b000_0001, "Sunday is bit 0 on the lock");
        assert_eq!(l.windows[1].to, 60);
        assert!(l.dates.is_none());
    }

    #[test]
    fn offset_table_covers_thirteen_months_with_dst() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let now = 1_800_000_000; // January 2027
        let (entries, until) = offset_table(&tz, now);
        assert!(until >= now + 396 * 86_400, "13 months ahead");
        assert!(entries.len() >= 3, "{entries:?}");
        assert_eq!(entries[0].offset, 3600);
        assert!(entries.iter().any(|e| e.offset == 7200));
        assert!(latchkey_lock_core::OffsetTable::new(&entries, until).is_ok());
    }

    #[test]
    fn pairing_topics_parse() {
        assert_eq!(parse_pairing_up("latchkey/v1/pair/042/up"), Some(42));
        assert_eq!(parse_pairing_up("latchkey/v1/pair/42/up"), None);
        assert_eq!(parse_pairing_up("latchkey/v1/pair/04a/up"), None);
    }
}
