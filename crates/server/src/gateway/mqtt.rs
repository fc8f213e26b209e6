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
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use jiff::Timestamp;
use latchkey_lock_core::RootSecret;
use latchkey_protocol::broker;
use latchkey_protocol::{
    Down, EventsAck, Header, MAX_MESSAGE_LEN, PairStart, Pairing, PinCode, ReplayWindow, ServerPairing, SetupCode,
    SigningKey, Sync as SyncBatch, SyncChange, SyncStatus, Time, Unlock, Up, User, VerifyingKey, decode_pairing,
    encode_pairing, open_up, reason_name, seal_down, topics,
};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot, watch};

use super::{DomainSlot, Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome, Wiring};
use crate::config::{Config, MqttConfig};
use crate::domain::device::{KeyEntry, LockState};
use crate::env::{Clock, Entropy, random};
use crate::store::{self, LockRow, Store};

/// How long `pair` waits for each step of the exchange.
const PAIR_STEP: Duration = Duration::from_secs(8);
/// Lifetimes of down messages (docs/protocol.md, "Expiries the server should use").
const UNLOCK_LIFETIME: i64 = 30;
const TIME_LIFETIME: i64 = 30;
const SYNC_LIFETIME: i64 = 600;
/// How often a remote unlock looks for its result in the database.
const UNLOCK_POLL: Duration = Duration::from_millis(50);
/// A sync the lock has not acknowledged is sent again after this long.
const RESYNC_AFTER: Duration = Duration::from_secs(4);
/// While a lock has not acknowledged the sync it was sent, further changes wait (at most this
/// long) and go out together in one sync (docs/design/server-performance.md).
const SYNC_COALESCE_WAIT: Duration = Duration::from_millis(250);

/// Starts the broker (when embedded) and the client.
pub async fn start(
    config: &Config,
    wiring: Wiring,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<dyn Gateway>> {
    let Wiring {
        store,
        domain,
        clock,
        entropy,
        metrics,
    } = wiring;
    let mut share_group = config.mqtt_share_group.clone();
    let (host, port, login) = match &config.mqtt {
        MqttConfig::Embedded(addr) => {
            let secret = load_or_create_secret(&config.data_dir.join("broker-secret"), entropy.as_ref())?;
            let auth = BrokerAuth {
                server: broker::server_password(&secret),
                domain: domain.clone(),
                runtime: tokio::runtime::Handle::current(),
            };
            let login = auth.server.as_str().to_string();
            // Unguessable, so that no other login can join the group (rumqttd has no ACLs).
            let suffix = broker::share_group_suffix(&secret);
            share_group = format!("{share_group}-{}", String::from_utf8_lossy(&suffix));
            let addr = embedded_broker(*addr, auth)?;
            (addr.ip().to_string(), addr.port(), Some(login))
        }
        MqttConfig::External { host, port } => (host.clone(), *port, None),
    };
    let key_path = config.data_dir.join("server-key");
    let server_key = SigningKey::from_bytes(&load_or_create_secret(&key_path, entropy.as_ref())?);
    check_identity(&store, &server_key, &key_path, clock.now()).await?;
    let client_id = format!("latchkey-server-{}", hex::encode(random::<4>(entropy.as_ref())));
    let mut mo = MqttOptions::new(client_id, host, port);
    if let Some(password) = login {
        mo.set_credentials(broker::SERVER_USERNAME, password);
    }
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_clean_session(true);
    mo.set_max_packet_size(MAX_MESSAGE_LEN + 1024, MAX_MESSAGE_LEN + 1024);
    let (client, mut events) = AsyncClient::new(mo, 1024);
    // Small messages must leave at once, not wait for the peer's delayed ACK (~40 ms each way).
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    events.set_network_options(net);
    let inner = Arc::new(Inner {
        store,
        domain,
        clock,
        entropy,
        client,
        connected: AtomicBool::new(false),
        server_key,
        unlock_timeout: Duration::from_millis(config.unlock_timeout_ms),
        share_group,
        lock_messages: metrics.lock_messages.clone(),
        pairings: Mutex::new(HashMap::new()),
        next_pairing: std::sync::atomic::AtomicU64::new(0),
        unlocks: Mutex::new(HashMap::new()),
        syncs: Mutex::new(HashMap::new()),
    });
    tasks.push(tokio::spawn(event_loop(inner.clone(), events, shutdown.clone())));
    let resync = inner.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tick.tick() => {
                    resync.resync_unacked().await;
                    ticks += 1;
                    if ticks.is_multiple_of(60) {
                        resync.purge_unlock_results().await;
                    }
                }
            }
        }
    }));
    Ok(Arc::new(MqttGateway(inner)))
}

/// How long the broker waits for the database when a lock logs in.
const LOGIN_LOOKUP: Duration = Duration::from_secs(5);

/// Who may log in to the embedded broker (`docs/design/broker-auth.md`): the server's own client,
/// unpaired locks as `pairing`, and each paired lock under its id with the password derived from
/// its root secret.
struct BrokerAuth {
    server: broker::BrokerPassword,
    domain: DomainSlot,
    /// The server's runtime: the database connections belong to it, while the broker runs the
    /// login check on its own threads.
    runtime: tokio::runtime::Handle,
}

impl BrokerAuth {
    async fn check(self: Arc<Self>, client_id: String, user: String, password: String) -> bool {
        let ok = match user.as_str() {
            broker::SERVER_USERNAME => self.server.matches(password.as_bytes()),
            broker::PAIRING_USERNAME => password == broker::PAIRING_PASSWORD,
            lock_id if topics::valid_lock_id(lock_id) => self.check_lock(lock_id, &password).await,
            _ => false,
        };
        if !ok {
            tracing::info!("the MQTT broker refused a login: client {client_id:?}, user {user:?}");
        }
        ok
    }

    async fn check_lock(&self, lock_id: &str, password: &str) -> bool {
        let domain = self.domain.clone();
        let id = lock_id.to_string();
        let lookup = self.runtime.spawn(async move {
            let lock = domain.get().await?.paired_lock(&id).await?;
            anyhow::Ok(lock.and_then(|l| hex32(&l.root_secret)))
        });
        match tokio::time::timeout(LOGIN_LOOKUP, lookup).await {
            Ok(Ok(Ok(Some(root)))) => broker::lock_password(&RootSecret(root), lock_id).matches(password.as_bytes()),
            Ok(Ok(Ok(None))) => false,
            Ok(Ok(Err(e))) => {
                tracing::warn!("checking the broker login of lock {lock_id}: {e:#}");
                false
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("checking the broker login of lock {lock_id}: the database did not answer");
                false
            }
        }
    }
}

/// The login check of an embedded broker, which the server that runs it may hand over.
type AuthSlot = Arc<std::sync::RwLock<Arc<BrokerAuth>>>;

/// The embedded brokers this process runs, by the address they were asked for.
static EMBEDDED: Mutex<Vec<(SocketAddr, SocketAddr, AuthSlot)>> = Mutex::new(Vec::new());

/// The embedded broker on `addr`, started on first use. `rumqttd` cannot be stopped, so it
/// lives as long as the process: a server started again in the same process on the same
/// address (tests do this) takes the running broker over, logins checked against its own
/// store and broker secret from then on.
fn embedded_broker(addr: SocketAddr, auth: BrokerAuth) -> anyhow::Result<SocketAddr> {
    let mut brokers = guard(&EMBEDDED);
    if addr.port() != 0
        && let Some((_, actual, slot)) = brokers.iter().find(|(asked, _, _)| *asked == addr)
    {
        *slot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(auth);
        return Ok(*actual);
    }
    let slot: AuthSlot = Arc::new(std::sync::RwLock::new(Arc::new(auth)));
    let actual = start_broker(addr, slot.clone())?;
    brokers.push((addr, actual, slot));
    Ok(actual)
}

/// Runs `rumqttd` on its own threads, listening on `addr` (MQTT 3.1.1, no TLS), with every
/// CONNECT checked by the `auth` of the moment (`docs/design/broker-auth.md`).
/// Port 0 picks a free port. Returns the address it listens on.
fn start_broker(addr: SocketAddr, auth: AuthSlot) -> anyhow::Result<SocketAddr> {
    // Fail clearly when the port is taken (rumqttd would only log it on its own thread).
    let probe = std::net::TcpListener::bind(addr)
        .with_context(|| format!("the embedded MQTT broker cannot listen on {addr}"))?;
    let addr = probe.local_addr()?;
    drop(probe);
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_MESSAGE_LEN + 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    // A refused login ends the connection before any CONNACK (rumqttd 0.20 sends none).
    connections.set_auth_handler(move |client_id, user, password| {
        let current = auth.read().unwrap_or_else(|e| e.into_inner()).clone();
        current.check(client_id, user, password)
    });
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
            // 10,000 locks (`performance.md`) with room for reconnections in flight.
            max_connections: 11_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            // rumqttd keeps what is published to a subscription's filter in memory, up to
            // size x count per filter, whoever has read it. The servers' shared filters may
            // keep the defaults above; one lock's (and one discriminator's) filter keeps a few
            // KiB, or 10,000 locks would hold up to 100 MiB each over time
            // (`docs/design/embedded-broker-tuning.md`).
            custom_segment: Some(
                [
                    format!("{}/locks/+/down", topics::ROOT),
                    format!("{}/pair/+/down", topics::ROOT),
                ]
                .into_iter()
                .map(|filter| {
                    let kept = rumqttd::SegmentConfig {
                        max_segment_size: 8 * 1024,
                        max_segment_count: 3,
                    };
                    (filter, kept)
                })
                .collect(),
            ),
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
    // Before anyone connects (the gateway connects once this returns), so that every
    // accepted connection inherits it.
    if let Err(e) = nodelay::on_listener(addr, Duration::from_secs(2)) {
        tracing::warn!("the embedded broker's connections keep Nagle's algorithm (slower replies): {e:#}");
    }
    Ok(addr)
}

/// rumqttd 0.20 never sets `TCP_NODELAY` on the connections it accepts and has no option for
/// it, so each small packet it forwards can wait for the client's delayed ACK of the previous
/// one (about 40 ms on Linux; a remote unlock crosses the broker twice). On Linux an accepted
/// socket inherits `TCP_NODELAY` from its listening socket, so the server sets it once on the
/// broker's listener, found in this process by its address
/// (`docs/design/embedded-broker-tuning.md`).
mod nodelay {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    #[cfg(target_os = "linux")]
    pub fn on_listener(addr: SocketAddr, wait: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(fd) = listener_fd(addr)? {
                return set(fd);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no listening socket on {addr} within {wait:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn on_listener(_addr: SocketAddr, _wait: Duration) -> anyhow::Result<()> {
        anyhow::bail!("only done on Linux")
    }

    /// The inodes of sockets listening on `addr`'s port, from `/proc/self/net/tcp{,6}` (the
    /// network namespace's table), then this process's descriptor that holds one of them.
    #[cfg(target_os = "linux")]
    fn listener_fd(addr: SocketAddr) -> anyhow::Result<Option<i32>> {
        let mut inodes = Vec::new();
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            inodes.extend(listening_inodes(&text, addr.port()));
        }
        if inodes.is_empty() {
            return Ok(None);
        }
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let entry = entry?;
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) else {
                continue;
            };
            if inodes.iter().any(|i| i == inode)
                && let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok())
            {
                return Ok(Some(fd));
            }
        }
        Ok(None)
    }

    /// Rows of a `/proc/net/tcp` table in state LISTEN (`0A`) on `port`: their inodes.
    pub(super) fn listening_inodes(table: &str, port: u16) -> Vec<String> {
        let want = format!(":{port:04X}");
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A").then(|| f[9].to_string())
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn set(fd: i32) -> anyhow::Result<()> {
        use std::os::fd::BorrowedFd;
        // SAFETY: `fd` is the broker's listening socket, which rumqttd keeps open for the life
        // of the process (the embedded broker is never stopped); it is only borrowed for one
        // setsockopt and never closed here.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        socket2::SockRef::from(&fd).set_tcp_nodelay(true)?;
        Ok(())
    }
}

/// Refuses to start with a server key other than the one the database's locks were paired
/// with (several instances must share one `DATA_DIR/server-key`); the first start records it.
async fn check_identity(store: &Store, key: &SigningKey, path: &Path, now: Timestamp) -> anyhow::Result<()> {
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
        let mut c = store.read().await?;
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
fn load_or_create_secret(path: &Path, entropy: &dyn Entropy) -> anyhow::Result<[u8; 32]> {
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

struct Inner {
    /// The link's own records (command and replay numbers, resend claims, unlock results).
    store: Store,
    /// What a lock must hold and what it reported.
    domain: DomainSlot,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    client: AsyncClient,
    connected: AtomicBool,
    server_key: SigningKey,
    unlock_timeout: Duration,
    /// The shared-subscription group of the locks' `up` topics.
    share_group: String,
    /// Messages this instance received on locks' up topics (`/metrics`: `latchkey_lock_messages_total`).
    lock_messages: prometheus_client::metrics::counter::Counter,
    /// Pairing exchanges this instance runs, by discriminator, each under a number of its own:
    /// two Admins may pair two locks whose codes share a discriminator at once, and each
    /// exchange keeps only the messages of its session. Pairing replies reach every instance
    /// (no shared subscription); only the one running the exchange acts.
    pairings: Mutex<HashMap<u16, Vec<PairingWaiter>>>,
    /// The number of the next pairing exchange.
    next_pairing: std::sync::atomic::AtomicU64,
    /// Remote unlocks this instance waits for, by (lock, command). A result that another
    /// instance receives reaches the waiter through the `unlock_results` table.
    unlocks: Mutex<HashMap<(String, u64), oneshot::Sender<latchkey_protocol::UnlockOutcome>>>,
    /// Locks this instance is sending a change to, one sender task each (`Inner::sync_soon`).
    syncs: Mutex<HashMap<String, SyncSlot>>,
}

/// A lock's sender task: changes that arrive while it runs are sent together after it.
struct SyncSlot {
    /// A change arrived after the running sync read its snapshot: send once more.
    again: bool,
    /// The newest version the lock reported holding since the slot was made.
    held: watch::Sender<i64>,
}

/// One pairing exchange's number and the channel of the pairing messages it receives.
type PairingWaiter = (u64, mpsc::UnboundedSender<Vec<u8>>);

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
                    // Each lock message goes to one instance of the group; pairing replies go
                    // to every instance, since only the one that started the exchange can
                    // check them.
                    let locks = format!("$share/{}/{}", g.share_group, topics::LOCK_UP_FILTER);
                    for filter in [locks.as_str(), topics::PAIRING_UP_FILTER] {
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

    /// Sends the lock a full snapshot of its current version, under the command number the
    /// domain reserved with it (`Devices::state_to_send`: a later number never carries an older
    /// version). Two instances' messages can still cross at the broker, and a snapshot applies
    /// whatever the lock holds; the lock's acknowledgements, ordered by its own sequence
    /// numbers, then show the older version and it is sent the current one again
    /// (`Devices::applied`). Returns the version sent (`None`: no such lock).
    async fn send_sync(&self, lock_id: &str) -> anyhow::Result<Option<i64>> {
        let now = self.now();
        let resend_after = now.as_millisecond() + RESYNC_AFTER.as_millis() as i64;
        let domain = self.domain.get().await?;
        let Some((state, seq)) = domain.state_to_send(lock_id, now, resend_after).await? else {
            return Ok(None);
        };
        let changes = sync_changes(&state);
        let sync = SyncBatch::new(state.acked_version.max(0) as u64, state.version.max(0) as u64, &changes);
        self.send_down(lock_id, &Down::Sync(sync), Some(seq), SYNC_LIFETIME)
            .await?;
        Ok(Some(state.version))
    }

    /// Sends the lock its current state soon: at once when no sync of this instance is on its
    /// way to it, else as soon as the lock acknowledged that one (or `SYNC_COALESCE_WAIT`
    /// passed), one snapshot for every change made meanwhile. Every change still reaches the
    /// lock: a change that arrives while a sync is being sent marks the slot, and the sender
    /// sends once more, with a snapshot read after the change committed.
    fn sync_soon(self: &Arc<Self>, lock_id: &str) {
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
    async fn resync_unacked(&self) {
        if !self.connected.load(Ordering::SeqCst) {
            return;
        }
        let locks = match self.store.read().await {
            Ok(mut c) => store::unsynced_locks(&mut c).await.unwrap_or_default(),
            Err(_) => return,
        };
        for l in locks {
            let now_ms = self.now().as_millisecond();
            let until = now_ms + RESYNC_AFTER.as_millis() as i64;
            let claimed = match self.store.read().await {
                Ok(mut c) => store::claim_resync(&mut c, &l.id, now_ms, until, false)
                    .await
                    .unwrap_or(false),
                Err(_) => false,
            };
            if claimed && let Err(e) = self.send_sync(&l.id).await {
                tracing::warn!("sync to {}: {e:#}", l.id);
            }
        }
    }

    /// Forgets unlock results whose request gave up long ago.
    async fn purge_unlock_results(&self) {
        let before = self.now().as_millisecond() - 600_000;
        if let Ok(mut c) = self.store.read().await
            && let Err(e) = store::purge_unlock_results(&mut c, before).await
        {
            tracing::warn!("purging unlock results: {e}");
        }
    }

    async fn on_lock_message(self: &Arc<Self>, lock_id: &str, payload: &[u8]) -> anyhow::Result<()> {
        let now = self.now();
        let now_ms = now.as_millisecond();
        let domain = self.domain.get().await?;
        if payload.is_empty() {
            // The lock's last will: it went away without saying so.
            domain.presence(lock_id, false, now).await?;
            return Ok(());
        }
        let Some(lock) = domain.paired_lock(lock_id).await? else {
            tracing::debug!("message from unknown lock {lock_id}");
            return Ok(());
        };
        // Counted for this server's own locks only: a shared external broker carries other
        // deployments' (and other test runs') lock traffic on the same topics.
        self.lock_messages.inc();
        let key = hex32(&lock.device_key)
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .ok_or_else(|| anyhow::anyhow!("stored device key is unusable"))?;
        // Signature, body and expiry first (a fresh window: the replay check is the stored one).
        let msg = open_up(
            payload,
            lock_id.as_bytes(),
            &key,
            &mut ReplayWindow::new(),
            now.as_second(),
        )
        .map_err(|e| anyhow::anyhow!("refused: {e:?}"))?;
        // A remote unlock's answer goes to the request waiting on this instance at once, before
        // the database writes below: it is signed by the lock and names the command number the
        // request waits for, and a replay cannot name a pending command (each number is used
        // once; a replay of the genuine answer only repeats what the lock did).
        let mut delivered = false;
        if let Up::UnlockResult(r) = &msg.body
            && let Some(tx) = guard(&self.unlocks).remove(&(lock_id.to_string(), r.command))
        {
            let _ = tx.send(r.outcome);
            delivered = true;
        }
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
                    let behind = domain.applied(lock_id, a.version, up_seq).await?;
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
            },
            Up::Events(evs) => {
                let events: Vec<_> = evs.iter().collect();
                let upto = domain.journal(lock_id, &events).await?;
                if upto > 0 {
                    self.send_down(lock_id, &Down::EventsAck(EventsAck { upto }), None, SYNC_LIFETIME)
                        .await?;
                }
            }
            // Delivered above to a request waiting here; otherwise the request may wait on
            // another instance: leave the result there.
            Up::UnlockResult(_) if delivered => {}
            Up::UnlockResult(r) => {
                let row = match unlock_outcome(&r.outcome) {
                    UnlockOutcome::Unlocked => store::UnlockResultRow {
                        outcome: "unlocked".into(),
                        reason: None,
                    },
                    UnlockOutcome::Denied(reason) => store::UnlockResultRow {
                        outcome: "denied".into(),
                        reason: Some(reason),
                    },
                };
                let command = i64::try_from(r.command).unwrap_or(i64::MAX);
                let mut c = self.store.read().await?;
                store::put_unlock_result(&mut c, lock_id, command, &row, now_ms).await?;
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
        let me = self.next_pairing.fetch_add(1, Ordering::Relaxed);
        guard(&self.pairings).entry(d).or_default().push((me, tx));
        struct Unregister<'a>(&'a Inner, u16, u64);
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
                return Ok(device);
            }
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

#[async_trait]
impl Gateway for MqttGateway {
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        self.0.pair(setup_code, grant).await
    }

    fn lock_changed(&self, lock_id: &str) {
        self.0.sync_soon(lock_id);
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
        // The answer reaches whichever instance the broker gives the lock's message to: this
        // one (the channel) or another (the `unlock_results` table, polled).
        let command = i64::try_from(command_seq).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + self.0.unlock_timeout;
        let mut rx = rx;
        let outcome = loop {
            tokio::select! {
                r = &mut rx => break r.ok().map(|o| unlock_outcome(&o)),
                _ = tokio::time::sleep_until(deadline) => break None,
                _ = tokio::time::sleep(UNLOCK_POLL) => {
                    // Bounded by the deadline too: a busy pool must not stretch the timeout.
                    let poll = async {
                        match self.0.store.read().await {
                            Ok(mut c) => store::take_unlock_result(&mut c, &lock.id, command).await.ok().flatten(),
                            Err(_) => None,
                        }
                    };
                    let taken = tokio::time::timeout_at(deadline, poll).await.ok().flatten();
                    if let Some(row) = taken {
                        break Some(match row.outcome.as_str() {
                            "unlocked" => UnlockOutcome::Unlocked,
                            "denied" => UnlockOutcome::Denied(row.reason.unwrap_or_else(|| "denied".into())),
                            _ => UnlockOutcome::Denied("failed_to_open".into()),
                        });
                    }
                }
            }
        };
        guard(&self.0.unlocks).remove(&key);
        outcome.ok_or(UnlockError::Timeout)
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
    }

    fn ready(&self) -> bool {
        self.0.connected.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_rows_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:A3B1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:A3B1 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1\n\
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(nodelay::listening_inodes(table, 0xA3B1), vec!["4242".to_string()]);
        assert!(nodelay::listening_inodes(table, 0xA3B2).is_empty());
        assert!(nodelay::listening_inodes("garbage\nmore garbage", 1).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn connections_accepted_after_the_fix_send_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _before = std::net::TcpStream::connect(addr).unwrap();
        let (early, _) = listener.accept().unwrap();
        assert!(!early.nodelay().unwrap(), "the default keeps Nagle's algorithm");
        nodelay::on_listener(addr, Duration::from_secs(1)).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap(), "accepted sockets inherit TCP_NODELAY");
    }

    #[test]
    fn pairing_topics_parse() {
        assert_eq!(parse_pairing_up("latchkey/v1/pair/042/up"), Some(42));
        assert_eq!(parse_pairing_up("latchkey/v1/pair/42/up"), None);
        assert_eq!(parse_pairing_up("latchkey/v1/pair/04a/up"), None);
    }
}
