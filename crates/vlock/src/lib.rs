//! The virtual lock: lock-core behind a keypad on a loopback control port, linked to the server
//! over MQTT with the wire protocol of `docs/protocol.md`. `latchkey lock run` starts one; tests
//! start it in-process with [`start`].
//!
//! Everything the lock must remember (identity, pairing, the lock-core image, the sequence
//! counter and the replay window) lives in one JSON state file, written crash-safely (temporary
//! file, fsync, rename, fsync of the folder) before anything that depends on it is sent or done.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey_lock_core::{Change, Decision, Input, Key, Reason, RootSecret, StandardLock, Subject, TimeState};
use latchkey_protocol::broker;
use latchkey_protocol::{
    Bolt, Clock, Down, Events, Header, Hello, LinkKeys, LockPairing, MAX_MESSAGE_LEN, PairAttempts, PairRefused,
    Pairing, Protection, ReplayWindow, SetupCode, SigningKey, SyncAck, SyncStatus, UnlockOutcome, UnlockResult, Up,
    VerifyingKey, decode_pairing, encode_pairing, open_down, reason_name, seal_up, topics,
};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

mod tls;
pub use tls::{Transport, client_config};

/// `latchkey lock run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The state file (created on first start).
    #[arg(long)]
    pub state: PathBuf,
    /// The broker: mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS (the broker's certificate
    /// checked against HOST).
    #[arg(long, default_value = "mqtt://127.0.0.1:1884")]
    pub mqtt: String,
    /// PEM file of the certificate authorities an mqtts:// broker's certificate must chain to,
    /// instead of the system's.
    #[arg(long)]
    pub mqtt_ca_file: Option<PathBuf>,
    /// The control port (loopback only).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub control: SocketAddr,
    /// The clock is set through POST /clock and runs on from there (trusted).
    #[arg(long)]
    pub fake_clock: bool,
    /// Seconds after which the lock re-locks by itself after opening.
    #[arg(long, default_value_t = 3)]
    pub relock_secs: u64,
}

/// What a virtual lock needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub state: PathBuf,
    pub broker_host: String,
    pub broker_port: u16,
    /// The control port; `None` serves none (many locks in one process, as `latchkey bench`
    /// runs them, would otherwise hold a listening socket each).
    pub control: Option<SocketAddr>,
    pub fake_clock: bool,
    pub relock: Duration,
}

impl Options {
    pub fn from_args(a: &RunArgs) -> anyhow::Result<Options> {
        let (host, port, _) = parse_broker_url(&a.mqtt)?;
        if !a.control.ip().is_loopback() {
            anyhow::bail!("--control must be a loopback address, got {}", a.control);
        }
        Ok(Options {
            state: a.state.clone(),
            broker_host: host,
            broker_port: port,
            control: Some(a.control),
            fake_clock: a.fake_clock,
            relock: Duration::from_secs(a.relock_secs),
        })
    }
}

/// How the lock protects its messages to and from the server once paired
/// (`docs/protocol.md`, "Encrypted messages").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkMode {
    /// Every message encrypted and signed; signed-only messages are refused. What a lock does.
    #[default]
    Encrypted,
    /// Signed only, bodies in the clear: the first round's link, for the benchmark that
    /// measures what encryption costs. **Never in production**: only code can choose it
    /// ([`start_with`]); `latchkey lock run` has no flag for it, and nothing on the wire can.
    SignedOnly,
}

/// `mqtt://HOST:PORT`.
pub fn parse_broker(text: &str) -> anyhow::Result<(String, u16)> {
    match parse_broker_url(text)? {
        (host, port, false) => Ok((host, port)),
        (_, _, true) => anyhow::bail!("--mqtt: expected mqtt://HOST:PORT, got '{text}'"),
    }
}

/// `mqtt://HOST:PORT` or `mqtts://HOST:PORT`: the host, the port and whether it is TLS.
pub fn parse_broker_url(text: &str) -> anyhow::Result<(String, u16, bool)> {
    let (rest, tls) = match (text.strip_prefix("mqtt://"), text.strip_prefix("mqtts://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => anyhow::bail!("--mqtt: expected mqtt://HOST:PORT or mqtts://HOST:PORT, got '{text}'"),
    };
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--mqtt: expected mqtt://HOST:PORT, got '{text}'"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("--mqtt: bad port in '{text}'"))?;
    if host.is_empty() {
        anyhow::bail!("--mqtt: no host in '{text}'");
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port, tls))
}

/// The transport `--mqtt` and `--mqtt-ca-file` ask for.
pub fn transport_from_args(a: &RunArgs) -> anyhow::Result<Transport> {
    match (parse_broker_url(&a.mqtt)?.2, &a.mqtt_ca_file) {
        (true, ca) => Transport::tls(ca.as_deref()),
        (false, Some(_)) => anyhow::bail!("--mqtt-ca-file: only for an mqtts:// broker"),
        (false, None) => Ok(Transport::Tcp),
    }
}

/// Runs a lock until Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let opts = Options::from_args(&args)?;
    let handle = start_over(opts, LinkMode::Encrypted, transport_from_args(&args)?).await?;
    {
        let inner = handle.shared.lock();
        if let Some(addr) = handle.control_addr {
            println!("Virtual lock {} (control on http://{addr})", inner.p.serial);
        }
        if inner.p.paired.is_none() {
            println!("Setup code: {}", format_code(&inner.p.setup_code));
        } else if let Some(p) = &inner.p.paired {
            println!("Paired as {}", p.lock_id);
        }
    }
    tokio::signal::ctrl_c().await.ok();
    Ok(())
}

fn format_code(digits: &str) -> String {
    if digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &digits[..3], &digits[3..7], &digits[7..])
    } else {
        digits.to_string()
    }
}

/// A running lock.
pub struct Handle {
    /// Where the control port listens, when it was asked for.
    pub control_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Handle {
    /// The setup code while unpaired (11 digits).
    pub fn setup_code(&self) -> Option<String> {
        let inner = self.shared.lock();
        inner.p.paired.is_none().then(|| inner.p.setup_code.clone())
    }

    /// The lock id the server gave it, once paired.
    pub fn lock_id(&self) -> Option<String> {
        self.shared.lock().p.paired.as_ref().map(|p| p.lock_id.clone())
    }

    /// Forgets the pairing and returns to pairing with a new setup code, as when the server
    /// says `Unpair`: for a lock whose server no longer knows it (`latchkey up` on a fresh
    /// database). The link logs in again as `pairing`.
    pub fn forget_pairing(&self) {
        let mut inner = self.shared.lock();
        if inner.p.paired.is_none() {
            return;
        }
        inner.forget_pairing("reset by its operator");
        drop(inner);
        self.shared.applied.send_replace(0);
        self.shared.reconnect.notify_one();
    }

    /// Whether the lock is connected to the broker now (its CONNACK came).
    pub fn connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// Whether the lock is connected and the broker acknowledged its subscription, so that
    /// what the server publishes to it now arrives (a pairing started before that waits for
    /// the server's whole step timeout).
    pub fn listening(&self) -> bool {
        let inner = self.shared.lock();
        inner.connected && inner.listening
    }

    /// The version of the server's rights the lock holds, updated as each sync is applied
    /// (its acknowledgement is then queued for sending).
    pub fn applied_version(&self) -> watch::Receiver<u64> {
        self.shared.applied.subscribe()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts a lock: loads or creates its state, serves the control port, links to the broker.
/// Its link is encrypted ([`LinkMode::Encrypted`]).
pub async fn start(opts: Options) -> anyhow::Result<Handle> {
    start_with(opts, LinkMode::Encrypted).await
}

/// [`start`] with the link mode chosen by the caller: [`LinkMode::SignedOnly`] exists for the
/// benchmark that compares it with the encrypted link, and for nothing else.
pub async fn start_with(opts: Options, link_mode: LinkMode) -> anyhow::Result<Handle> {
    start_over(opts, link_mode, Transport::Tcp).await
}

/// [`start_with`] reaching the broker over `transport` (TLS for an `mqtts://` broker).
pub async fn start_over(opts: Options, link_mode: LinkMode, transport: Transport) -> anyhow::Result<Handle> {
    let mut inner = Inner::open(&opts)?;
    inner.link = link_mode;
    let (online, online_rx) = watch::channel(true);
    let applied = watch::Sender::new(inner.core.as_ref().map_or(0, |c| c.applied_version()));
    let shared = Arc::new(Shared {
        inner: Mutex::new(inner),
        online,
        applied,
        opts: opts.clone(),
        transport,
        reconnect: tokio::sync::Notify::new(),
    });
    let mut tasks = Vec::new();
    let mut control_addr = None;
    if let Some(control) = opts.control {
        let listener = tokio::net::TcpListener::bind(control)
            .await
            .with_context(|| format!("listening on {control}"))?;
        control_addr = Some(listener.local_addr()?);
        let app = Router::new()
            .route("/status", get(status))
            .route("/keypad", post(keypad))
            .route("/clock", post(set_clock))
            .route("/network", post(network))
            .with_state(shared.clone());
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
    tasks.push(tokio::spawn(link(shared.clone(), online_rx)));
    tasks.push(tokio::spawn(housekeeping(shared.clone())));
    tasks.push(tokio::spawn(bolt_watch(shared.clone())));
    Ok(Handle {
        control_addr,
        shared,
        tasks,
    })
}

// ------------------------------------------------------------------------------- state

#[derive(Serialize, Deserialize, Clone)]
struct Persisted {
    serial: String,
    /// The lock's Ed25519 secret key, hex.
    key: String,
    /// 11 digits; shown while unpaired.
    setup_code: String,
    attempts: u32,
    blocked_until: i64,
    paired: Option<PairedState>,
    /// The lock-core image (`Lock::save`), hex.
    core: Option<String>,
    /// The fake clock's last reading, so that a restart does not jump back.
    fake_now: Option<i64>,
    /// The newest remote commands carried out, with their outcomes: a resend of one is
    /// answered again, not carried out twice.
    #[serde(default)]
    recent_unlocks: Vec<RecentUnlock>,
}

/// A remote command the lock carried out (`Persisted::recent_unlocks`).
#[derive(Serialize, Deserialize, Clone, Copy)]
struct RecentUnlock {
    command: u64,
    /// `outcome_code`.
    outcome: u16,
}

/// How many remote commands the lock remembers; the server resends one for a few seconds only.
const RECENT_UNLOCKS: usize = 16;

/// An unlock outcome as the state file keeps it: 0 unlocked, 1 failed, 2 locked, 256 + reason
/// code denied.
fn outcome_code(o: UnlockOutcome) -> u16 {
    match o {
        UnlockOutcome::Unlocked => 0,
        UnlockOutcome::Failed => 1,
        UnlockOutcome::Locked => 2,
        UnlockOutcome::Denied(r) => 256 + u16::from(latchkey_protocol::reason_code(r)),
    }
}

fn outcome_from_code(code: u16) -> UnlockOutcome {
    match code {
        0 => UnlockOutcome::Unlocked,
        2 => UnlockOutcome::Locked,
        c if c >= 256 => u8::try_from(c - 256)
            .ok()
            .and_then(latchkey_protocol::reason_from_code)
            .map_or(UnlockOutcome::Failed, UnlockOutcome::Denied),
        _ => UnlockOutcome::Failed,
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct PairedState {
    lock_id: String,
    server_key: String,
    root: String,
    /// The last sequence number used upward.
    up_seq: u64,
    /// The replay window of down messages (`ReplayWindow::to_bytes`), hex.
    replay: String,
    /// Whether the server confirmed the pairing: an authenticated message came under this
    /// identity (which the server sends only once it kept the lock). Until then the identity is
    /// provisional: the lock says `Hello` every 5 s, and falls back to pairing when the broker
    /// keeps refusing its login (docs/design/pairing-convergence.md). State files written
    /// before this field existed are confirmed.
    #[serde(default = "confirmed_by_default")]
    confirmed: bool,
}

fn confirmed_by_default() -> bool {
    true
}

struct Paired {
    lock_id: String,
    server_key: VerifyingKey,
    replay: ReplayWindow,
    /// The link's AEAD keys, derived from the root secret.
    keys: LinkKeys,
}

impl Paired {
    fn protection(&self, link: LinkMode) -> Protection<'_> {
        match link {
            LinkMode::Encrypted => Protection::Encrypted(&self.keys),
            LinkMode::SignedOnly => Protection::SignedOnly,
        }
    }
}

struct Inner {
    path: PathBuf,
    p: Persisted,
    key: SigningKey,
    paired: Option<Paired>,
    core: Option<Box<StandardLock>>,
    fake: Option<(i64, Instant)>,
    fake_clock: bool,
    pairing: Option<([u8; 16], LockPairing)>,
    hello: Option<([u8; 16], Instant)>,
    unlocked_until: Option<Instant>,
    /// Wakes `bolt_watch` when the bolt opens.
    opened: Arc<tokio::sync::Notify>,
    /// The bolt state the server was last told on this connection (`report_bolt`).
    reported_bolt: Option<bool>,
    client: Option<AsyncClient>,
    connected: bool,
    /// The broker acknowledged this connection's subscription (pairing or down topic): what is
    /// published to the lock from now on reaches it.
    listening: bool,
    /// The MQTT user name of the current (or next) broker login.
    broker_user: String,
    relock: Duration,
    link: LinkMode,
}

struct Shared {
    inner: Mutex<Inner>,
    online: watch::Sender<bool>,
    /// The lock core's applied version (`Handle::applied_version`).
    applied: watch::Sender<u64>,
    opts: Options,
    /// TCP or TLS to the broker.
    transport: Transport,
    reconnect: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is not something a lock can work around.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the OS random source");
    b
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn new_setup_code() -> String {
    String::from_utf8_lossy(SetupCode::from_random(random::<8>()).digits()).into_owned()
}

fn hex32(s: &str) -> anyhow::Result<[u8; 32]> {
    let v = hex::decode(s)?;
    v.try_into().map_err(|_| anyhow::anyhow!("expected 32 bytes"))
}

impl Inner {
    fn open(opts: &Options) -> anyhow::Result<Inner> {
        let p: Persisted = match std::fs::read(&opts.state) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("reading {}", opts.state.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted {
                serial: format!("VL-{}", hex::encode_upper(random::<5>())),
                key: hex::encode(random::<32>()),
                setup_code: new_setup_code(),
                attempts: 0,
                blocked_until: 0,
                paired: None,
                core: None,
                fake_now: None,
                recent_unlocks: Vec::new(),
            },
            Err(e) => return Err(e).with_context(|| format!("reading {}", opts.state.display())),
        };
        let key = SigningKey::from_bytes(&hex32(&p.key)?);
        let mut paired = None;
        let mut core = None;
        if let Some(ps) = &p.paired {
            let server_key = VerifyingKey::from_bytes(&hex32(&ps.server_key)?)
                .map_err(|e| anyhow::anyhow!("bad server key in the state file: {e}"))?;
            let rb: [u8; 16] = hex::decode(&ps.replay)?
                .try_into()
                .map_err(|_| anyhow::anyhow!("bad replay window"))?;
            let root = RootSecret(hex32(&ps.root)?);
            let image = hex::decode(p.core.as_deref().unwrap_or(""))?;
            let restored = StandardLock::restore(ps.lock_id.as_bytes(), root, &image)
                .map_err(|e| anyhow::anyhow!("restoring the lock core: {e:?}"))?;
            core = Some(Box::new(restored));
            paired = Some(Paired {
                lock_id: ps.lock_id.clone(),
                server_key,
                replay: ReplayWindow::from_bytes(&rb),
                keys: LinkKeys::derive(&root, ps.lock_id.as_bytes()),
            });
        }
        let fake = opts
            .fake_clock
            .then(|| (p.fake_now.unwrap_or_else(real_now), Instant::now()));
        let mut inner = Inner {
            path: opts.state.clone(),
            p,
            key,
            paired,
            core,
            fake,
            fake_clock: opts.fake_clock,
            pairing: None,
            hello: None,
            unlocked_until: None,
            opened: Arc::default(),
            reported_bolt: None,
            client: None,
            connected: false,
            listening: false,
            broker_user: String::new(),
            relock: opts.relock,
            link: LinkMode::Encrypted,
        };
        let now = inner.now();
        let fake_clock = inner.fake_clock;
        if let Some(c) = inner.core.as_mut() {
            c.power_on(now, true);
            if fake_clock {
                c.set_trusted_time(now);
            }
        }
        inner.save()?;
        Ok(inner)
    }

    /// The lock's clock (UTC seconds).
    fn now(&self) -> i64 {
        match self.fake {
            Some((base, at)) => base + at.elapsed().as_secs() as i64,
            None => real_now(),
        }
    }

    /// Writes the state file crash-safely.
    fn save(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.core.as_mut() {
            let mut buf = vec![0u8; StandardLock::MAX_ENCODED_LEN];
            let n = c
                .save(&mut buf)
                .map_err(|e| anyhow::anyhow!("saving the lock core: {e:?}"))?;
            self.p.core = Some(hex::encode(buf.get(..n).unwrap_or(&[])));
        } else {
            self.p.core = None;
        }
        if let (Some(ps), Some(pd)) = (self.p.paired.as_mut(), self.paired.as_ref()) {
            ps.replay = hex::encode(pd.replay.to_bytes());
        }
        self.p.fake_now = self.fake.map(|_| self.now());
        let bytes = serde_json::to_vec_pretty(&self.p)?;
        write_atomic(&self.path, &bytes)?;
        if let Some(c) = self.core.as_mut() {
            c.mark_persisted();
        }
        Ok(())
    }

    fn publish(&self, topic: &str, payload: Vec<u8>) {
        if let Some(c) = &self.client
            && self.connected
            && let Err(e) = c.try_publish(topic, QoS::AtLeastOnce, false, payload)
        {
            tracing::warn!("publish to {topic} failed: {e}");
        }
    }

    /// Seals and sends an up message. The sequence number is saved first: it is the AEAD
    /// nonce, so it must never be used twice, whatever crash follows.
    fn send_up(&mut self, up: &Up<'_>) {
        let Some(ps) = self.p.paired.as_mut() else { return };
        ps.up_seq += 1;
        let seq = ps.up_seq;
        let lock_id = ps.lock_id.clone();
        if let Err(e) = self.save() {
            tracing::error!("cannot save the state: {e:#}");
            return;
        }
        let Some(paired) = self.paired.as_ref() else { return };
        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        let header = Header {
            seq,
            expires: real_now() + 60,
        };
        let sealed = seal_up(
            &self.key,
            paired.protection(self.link),
            lock_id.as_bytes(),
            header,
            up,
            &mut buf,
        );
        match sealed {
            Ok(n) => {
                buf.truncate(n);
                if let Some(t) = topics::lock_up(&lock_id) {
                    self.publish(&t, buf);
                }
            }
            Err(e) => tracing::error!("cannot seal a message: {e:?}"),
        }
    }

    fn send_hello(&mut self) {
        let Some(core) = self.core.as_ref() else { return };
        let nonce = random::<16>();
        let hello = Hello {
            nonce,
            applied_version: core.applied_version(),
            next_event_seq: core.journal_stats().next_seq,
            time_trusted: core.time_state() == TimeState::Trusted,
            clock: self.now(),
        };
        self.hello = Some((nonce, Instant::now()));
        self.send_up(&Up::Hello(hello));
    }

    fn upload_events(&mut self) {
        let Some(core) = self.core.as_ref() else { return };
        let events: Vec<_> = core.events().copied().take(512).collect();
        if events.is_empty() {
            return;
        }
        let stats = core.journal_stats().into();
        self.send_up(&Up::Events(Events::new(stats, &events)));
    }

    fn on_connected(&mut self) {
        if let Some(c) = self.client.clone() {
            match &self.paired {
                Some(p) => {
                    if let Some(t) = topics::lock_down(&p.lock_id) {
                        let _ = c.try_subscribe(t.as_str(), QoS::AtLeastOnce);
                    }
                }
                None => {
                    if let Some(t) =
                        SetupCode::parse(&self.p.setup_code).and_then(|c| topics::pairing_down(c.discriminator()))
                    {
                        let _ = c.try_subscribe(t.as_str(), QoS::AtLeastOnce);
                    }
                }
            }
        }
        if self.paired.is_some() {
            self.send_hello();
            self.reported_bolt = None;
            self.report_bolt();
            self.upload_events();
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) -> bool {
        let down = self
            .paired
            .as_ref()
            .map(|p| topics::lock_down(&p.lock_id).is_some_and(|t| t.as_str() == topic));
        match down {
            Some(true) => self.on_down(payload),
            Some(false) => false,
            None => self.on_pairing(payload),
        }
    }

    /// Returns whether the link must reconnect (its topics changed).
    fn on_pairing(&mut self, payload: &[u8]) -> bool {
        let Some(code) = SetupCode::parse(&self.p.setup_code) else {
            return false;
        };
        let Some(up_topic) = topics::pairing_up(code.discriminator()) else {
            return false;
        };
        let real = real_now();
        let mut buf = [0u8; 512];
        match decode_pairing(payload) {
            Ok(Pairing::Start(start)) => {
                let mut attempts = PairAttempts {
                    attempts: self.p.attempts,
                    blocked_until: self.p.blocked_until,
                };
                if let Err(retry_after) = attempts.check(real) {
                    let msg = Pairing::Refused(PairRefused {
                        session: start.session,
                        retry_after,
                    });
                    if let Ok(n) = encode_pairing(&msg, &mut buf) {
                        self.publish(&up_topic, buf.get(..n).unwrap_or(&[]).to_vec());
                    }
                    return false;
                }
                attempts.record(real);
                self.p.attempts = attempts.attempts;
                self.p.blocked_until = attempts.blocked_until;
                if let Err(e) = self.save() {
                    tracing::error!("cannot save the state: {e:#}");
                    return false;
                }
                let serial = self.p.serial.clone();
                let vk = self.key.verifying_key();
                if let Ok((state, reply)) = LockPairing::respond(&code, &start, &vk, &serial, random::<32>())
                    && let Ok(n) = encode_pairing(&Pairing::Reply(reply), &mut buf)
                {
                    self.pairing = Some((start.session, state));
                    self.publish(&up_topic, buf.get(..n).unwrap_or(&[]).to_vec());
                }
                false
            }
            Ok(Pairing::Finish(fin)) => {
                let Some((session, state)) = self.pairing.take() else {
                    return false;
                };
                if session != fin.session {
                    self.pairing = Some((session, state));
                    return false;
                }
                let Ok((paired, done)) = state.finish(&fin) else {
                    tracing::warn!("a pairing finish failed its confirmation");
                    return false;
                };
                let Ok(lock_id) = String::from_utf8(paired.lock_id.to_vec()) else {
                    return false;
                };
                if !topics::valid_lock_id(&lock_id) {
                    return false;
                }
                let core = match StandardLock::new(lock_id.as_bytes(), RootSecret(paired.root.0)) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("refusing lock id: {e:?}");
                        return false;
                    }
                };
                let mut core = Box::new(core);
                if self.fake_clock {
                    core.set_trusted_time(self.now());
                }
                self.core = Some(core);
                self.p.attempts = 0;
                self.p.blocked_until = 0;
                self.p.paired = Some(PairedState {
                    lock_id: lock_id.clone(),
                    server_key: hex::encode(paired.server_key.to_bytes()),
                    root: hex::encode(paired.root.0),
                    up_seq: 0,
                    replay: hex::encode(ReplayWindow::new().to_bytes()),
                    confirmed: false,
                });
                self.paired = Some(Paired {
                    lock_id: lock_id.clone(),
                    server_key: paired.server_key,
                    replay: ReplayWindow::new(),
                    keys: LinkKeys::derive(&RootSecret(paired.root.0), lock_id.as_bytes()),
                });
                if let Err(e) = self.save() {
                    tracing::error!("cannot save the pairing: {e:#}");
                    self.paired = None;
                    self.p.paired = None;
                    self.core = None;
                    return false;
                }
                tracing::info!("paired as {lock_id}");
                if let Ok(n) = encode_pairing(&Pairing::Done(done), &mut buf) {
                    self.publish(&up_topic, buf.get(..n).unwrap_or(&[]).to_vec());
                }
                // The link logs in again with the lock's own broker credentials once the broker
                // has acknowledged the PairDone (see `link`), then subscribes to `down` and says
                // Hello.
                false
            }
            _ => false,
        }
    }

    fn on_down(&mut self, payload: &[u8]) -> bool {
        let now = self.now();
        let fake = self.fake_clock;
        let link = self.link;
        let (Some(paired), Some(core)) = (self.paired.as_mut(), self.core.as_mut()) else {
            return false;
        };
        let clock = if fake || core.time_state() == TimeState::Trusted {
            Clock::Trusted(real_now())
        } else {
            Clock::Untrusted {
                floor: core.time_floor(),
            }
        };
        // Decrypted in place, so in a buffer of its own. A paired lock accepts only encrypted
        // messages (`LinkMode::Encrypted`): a signed-only one is refused, whoever signed it.
        let mut bytes = payload.to_vec();
        let protection = match link {
            LinkMode::Encrypted => Protection::Encrypted(&paired.keys),
            LinkMode::SignedOnly => Protection::SignedOnly,
        };
        let msg = match open_down(
            &mut bytes,
            paired.lock_id.as_bytes(),
            &paired.server_key,
            protection,
            &mut paired.replay,
            clock,
        ) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("refused a down message: {e:?}");
                return false;
            }
        };
        // Only a server that kept this identity seals for it: the pairing is confirmed (saved
        // with the save every message below makes).
        if let Some(ps) = self.p.paired.as_mut()
            && !ps.confirmed
        {
            ps.confirmed = true;
            tracing::info!("the server confirmed the pairing");
        }
        match msg.body {
            Down::Sync(sync) => {
                let held = core.applied_version();
                let status = if !sync.applies_to(held) {
                    SyncStatus::BaseMismatch
                } else {
                    let changes: Vec<Change<'_>> = sync.lock_changes().collect();
                    SyncStatus::from_apply(core.apply(sync.version, &changes, now))
                };
                if let SyncStatus::Rejected(e) = status {
                    tracing::warn!("sync {} rejected: {e:?}", sync.version);
                }
                let version = core.applied_version();
                // The ack goes out after the save (send_up saves first).
                self.send_up(&Up::SyncAck(SyncAck { version, status }));
                self.upload_events();
            }
            Down::Time(t) => {
                if let Some((nonce, at)) = self.hello
                    && t.answers(&nonce)
                    && at.elapsed() < Duration::from_secs(10)
                {
                    self.hello = None;
                    if fake {
                        tracing::info!("server time {} (fake clock: not applied)", t.utc);
                    } else {
                        core.set_trusted_time(t.utc);
                    }
                }
                let _ = self.save();
            }
            Down::EventsAck(a) => {
                core.ack(a.upto);
                let _ = self.save();
            }
            Down::Unlock(u) => {
                // A resend of a command already carried out (the server sends a command again
                // under a new sequence number until it hears the answer): answer it again, never
                // open twice.
                let previous = self
                    .p
                    .recent_unlocks
                    .iter()
                    .find(|r| r.command == u.command)
                    .map(|r| r.outcome);
                if let Some(code) = previous {
                    let _ = self.save();
                    self.send_up(&Up::UnlockResult(UnlockResult {
                        command: u.command,
                        outcome: outcome_from_code(code),
                    }));
                    return false;
                }
                // The replay window is saved before acting, so the command can never act twice.
                if self.save().is_err() {
                    return false;
                }
                let Some(core) = self.core.as_mut() else { return false };
                let decision = core.decide(Input::Remote(u.user), now);
                let outcome = match decision {
                    Decision::Grant { .. } => {
                        // Recorded with the grant's own save, before the bolt opens.
                        self.remember_unlock(u.command, UnlockOutcome::Unlocked);
                        if self.save().is_ok() {
                            self.open_bolt();
                            self.report_bolt();
                            UnlockOutcome::Unlocked
                        } else {
                            self.remember_unlock(u.command, UnlockOutcome::Failed);
                            UnlockOutcome::Failed
                        }
                    }
                    // A refusal is not remembered: it did nothing, and a resend may find the
                    // member there (the first sync after pairing can come just after it).
                    Decision::Deny(r) => UnlockOutcome::Denied(r),
                };
                self.send_up(&Up::UnlockResult(UnlockResult {
                    command: u.command,
                    outcome,
                }));
                self.upload_events();
            }
            Down::Lock(u) => {
                // Throwing the bolt is always safe; the command comes signed from the server,
                // which checked the member. Carried out once per command id, like `Unlock`.
                let done = self.p.recent_unlocks.iter().any(|r| r.command == u.command);
                if !done {
                    self.remember_unlock(u.command, UnlockOutcome::Locked);
                    self.unlocked_until = None;
                }
                if self.save().is_err() {
                    return false;
                }
                self.report_bolt();
                self.send_up(&Up::UnlockResult(UnlockResult {
                    command: u.command,
                    outcome: UnlockOutcome::Locked,
                }));
            }
            Down::Unpair => {
                self.forget_pairing("unpaired by the server");
                return true;
            }
        }
        false
    }

    /// Forgets the pairing and goes back to pairing with a new setup code: told `Unpair`, given
    /// up as provisional (refused by the broker), or reset by `up` (`Handle::forget_pairing`).
    fn forget_pairing(&mut self, why: &str) {
        tracing::info!("{why}: back to pairing with a new setup code");
        self.paired = None;
        self.p.paired = None;
        self.core = None;
        self.p.setup_code = new_setup_code();
        self.p.recent_unlocks.clear();
        self.hello = None;
        self.reported_bolt = None;
        self.unlocked_until = None;
        if let Err(e) = self.save() {
            tracing::error!("cannot save the state: {e:#}");
        }
    }

    /// Whether the lock holds an identity the server has not confirmed yet (`PairedState::confirmed`).
    fn provisional(&self) -> bool {
        self.p.paired.as_ref().is_some_and(|p| !p.confirmed)
    }

    /// Remembers the outcome of remote command `command` (the newest `RECENT_UNLOCKS`), so
    /// that a resend of it is answered, not carried out again. Saved with the next save.
    fn remember_unlock(&mut self, command: u64, outcome: UnlockOutcome) {
        let code = outcome_code(outcome);
        let recent = &mut self.p.recent_unlocks;
        if let Some(r) = recent.iter_mut().find(|r| r.command == command) {
            r.outcome = code;
            return;
        }
        if recent.len() >= RECENT_UNLOCKS {
            recent.remove(0);
        }
        recent.push(RecentUnlock { command, outcome: code });
    }

    /// Tells the server the bolt's state when it differs from what it was last told on this
    /// connection (after an open, a re-lock, a remote lock, and on every connect).
    fn report_bolt(&mut self) {
        if !self.connected || self.paired.is_none() {
            return;
        }
        let locked = self.bolt() == "locked";
        if self.reported_bolt != Some(locked) {
            self.reported_bolt = Some(locked);
            self.send_up(&Up::Bolt(Bolt { locked }));
        }
    }

    fn open_bolt(&mut self) {
        self.unlocked_until = Some(Instant::now() + self.relock);
        self.opened.notify_one();
    }

    fn bolt(&self) -> &'static str {
        match self.unlocked_until {
            Some(t) if Instant::now() < t => "unlocked",
            _ => "locked",
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // A temporary name of this write alone: a lock being replaced in the same process (tests
    // restart locks) may still finish a save, and two writers of one temporary file would rename
    // each other's file away.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    #[cfg(unix)]
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

// ------------------------------------------------------------------------------- link

/// The broker login (`docs/design/broker-auth.md`): `pairing` while unpaired, else the lock id
/// with the password derived from the root secret.
fn broker_login(p: &Persisted) -> (String, String) {
    let paired = p
        .paired
        .as_ref()
        .and_then(|ps| Some((ps.lock_id.clone(), hex32(&ps.root).ok()?)));
    match paired {
        Some((lock_id, root)) => {
            let password = broker::lock_password(&RootSecret(root), &lock_id).as_str().to_string();
            (lock_id, password)
        }
        None => (broker::PAIRING_USERNAME.into(), broker::PAIRING_PASSWORD.into()),
    }
}

/// How long, and how many times at least, the broker must refuse the login of a provisional
/// identity (paired, not confirmed by the server) before the lock gives it up and returns to
/// pairing (docs/design/pairing-convergence.md). Only a lock the server never kept, nor
/// remembers, is refused so: one it kept or remembers logs in (and is confirmed or told
/// `Unpair`).
const PROVISIONAL_REFUSED_FOR: Duration = Duration::from_secs(20);
const PROVISIONAL_REFUSALS: u32 = 3;

/// The broker's refusals of a provisional identity's login since the last accepted one.
#[derive(Debug, Default)]
struct Refusals {
    since: Option<Instant>,
    count: u32,
}

impl Refusals {
    /// Records a refused login at `now`; true once the lock should give the identity up.
    fn refused(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        self.count = self.count.saturating_add(1);
        self.count >= PROVISIONAL_REFUSALS && now.saturating_duration_since(since) >= PROVISIONAL_REFUSED_FOR
    }

    /// The broker accepted a login.
    fn accepted(&mut self) {
        *self = Refusals::default();
    }
}

/// Whether a connection error is the broker refusing the credentials themselves: "bad user
/// name or password", what the server's broker answers a lock id it neither keeps nor
/// remembers. Not "not authorized", which the embedded broker also answers every login from an
/// address that failed too often (a neighbour behind the same NAT could cause it), nor a lost
/// network or a broker that cannot answer now.
fn login_refused(e: &rumqttc::ConnectionError) -> bool {
    matches!(
        e,
        rumqttc::ConnectionError::ConnectionRefused(rumqttc::ConnectReturnCode::BadUserNamePassword)
    )
}

/// The first pause after a failed connection; it doubles up to `RECONNECT_MAX`.
const RECONNECT_MIN: Duration = Duration::from_millis(300);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

async fn link(shared: Arc<Shared>, mut online: watch::Receiver<bool>) {
    // Backoff between failed connection attempts (broker down, login refused), reset by a
    // CONNACK, so a lock the broker refuses does not knock three times a second for ever.
    let mut backoff = RECONNECT_MIN;
    let mut refusals = Refusals::default();
    loop {
        if !*online.borrow() {
            let _ = online.wait_for(|on| *on).await.map(|_| ());
        }
        let (client, mut events, as_lock) = {
            let mut inner = shared.lock();
            let id = format!("lk-{}", inner.p.serial);
            let mut mo = MqttOptions::new(id, shared.opts.broker_host.clone(), shared.opts.broker_port);
            mo.set_keep_alive(Duration::from_secs(5));
            mo.set_clean_session(true);
            mo.set_max_packet_size(MAX_MESSAGE_LEN + 1024, MAX_MESSAGE_LEN + 1024);
            shared.transport.apply(&mut mo);
            let (user, password) = broker_login(&inner.p);
            mo.set_credentials(user.clone(), password);
            inner.broker_user = user;
            if let Some(t) = inner.paired.as_ref().and_then(|p| topics::lock_up(&p.lock_id)) {
                // The server reads an empty message on a lock's up topic as "went offline".
                mo.set_last_will(LastWill::new(t.as_str(), Vec::<u8>::new(), QoS::AtLeastOnce, false));
            }
            let (client, mut events) = AsyncClient::new(mo, 64);
            // Small messages must leave at once, not wait for the peer's delayed ACK.
            let mut net = rumqttc::NetworkOptions::new();
            net.set_tcp_nodelay(true);
            events.set_network_options(net);
            (client, events, inner.paired.is_some())
        };
        shared.lock().client = Some(client);
        // Once the lock pairs on this (`pairing`) connection, the packet id of its PairDone:
        // the link logs in again as the lock when the broker acknowledges it.
        let mut done_pkid: Option<u16> = None;
        let relogin = || shared.lock().paired.is_some() != as_lock;
        // Should the acknowledgement of the PairDone never come, log in again anyway, two
        // seconds after pairing (a fixed instant, not restarted by other traffic).
        let mut fallback: Option<tokio::time::Instant> = None;
        loop {
            if fallback.is_none() && relogin() {
                fallback = Some(tokio::time::Instant::now() + Duration::from_secs(2));
            }
            tokio::select! {
                ev = events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = RECONNECT_MIN;
                        refusals.accepted();
                        let mut inner = shared.lock();
                        inner.connected = true;
                        inner.listening = false;
                        inner.on_connected();
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let (reconnect, applied) = {
                            let mut inner = shared.lock();
                            let reconnect = inner.on_message(&p.topic, &p.payload);
                            (reconnect, inner.core.as_ref().map_or(0, |c| c.applied_version()))
                        };
                        shared.applied.send_if_modified(|v| std::mem::replace(v, applied) != applied);
                        if reconnect {
                            break;
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if done_pkid.is_none() && relogin() {
                            done_pkid = Some(pkid);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        shared.lock().listening = true;
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if done_pkid == Some(ack.pkid) {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        {
                            let mut inner = shared.lock();
                            inner.connected = false;
                            inner.listening = false;
                        }
                        tracing::debug!("broker link: {e}");
                        if login_refused(&e) {
                            let mut inner = shared.lock();
                            if inner.provisional() && refusals.refused(Instant::now()) {
                                inner.forget_pairing("the broker keeps refusing the login of a pairing the server never confirmed");
                                refusals.accepted();
                            }
                        }
                        if relogin() {
                            break;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(RECONNECT_MAX);
                    }
                },
                _ = tokio::time::sleep_until(fallback.unwrap_or_else(tokio::time::Instant::now)), if fallback.is_some() => break,
                _ = async { online.wait_for(|on| !*on).await.map(|_| ()) } => break,
                _ = shared.reconnect.notified() => break,
            }
        }
        {
            let mut inner = shared.lock();
            inner.connected = false;
            inner.listening = false;
            inner.client = None;
        }
        // Dropping the event loop closes the connection without a DISCONNECT, as a lost
        // network would: the broker publishes the last will.
        drop(events);
        if relogin() {
            // Let the broker finish with the old connection first: rumqttd keys last wills by
            // client id, and the old connection ending after the new one registered would
            // consume the new will.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Notices the bolt re-locking by itself and tells the server.
/// Sleeps until the instant the bolt re-locks, woken when it opens (no polling: the benchmark
/// runs 10,000 of these in one process).
async fn bolt_watch(shared: Arc<Shared>) {
    let opened = shared.lock().opened.clone();
    loop {
        let woken = opened.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let until = shared.lock().unlocked_until;
        match until {
            Some(t) if Instant::now() < t => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(t + Duration::from_millis(1))).await;
            }
            _ => {
                shared.lock().report_bolt();
                woken.await;
            }
        }
    }
}

/// Re-locks the bolt, re-asks for the time while it is unknown.
async fn housekeeping(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let mut inner = shared.lock();
        // While its time is unknown, and while its pairing is provisional (a Hello that went
        // to nobody, or came while the server was still pairing, is asked again).
        if inner.connected
            && (inner.provisional()
                || inner
                    .core
                    .as_ref()
                    .is_some_and(|c| c.time_state() != TimeState::Trusted))
        {
            inner.send_hello();
        }
        if inner.core.as_ref().is_some_and(|c| c.is_dirty()) {
            let _ = inner.save();
        }
    }
}

// ------------------------------------------------------------------------------- control

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({"title": status.canonical_reason(), "status": status.as_u16(), "detail": detail})),
    )
        .into_response()
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

async fn status(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let inner = shared.lock();
    let counts = inner.core.as_ref().map(|c| c.counts());
    Json(json!({
        "serial": inner.p.serial,
        "paired": inner.paired.is_some(),
        "pairing_confirmed": inner.paired.is_some().then(|| !inner.provisional()),
        "lock_id": inner.paired.as_ref().map(|p| p.lock_id.clone()),
        "setup_code": inner.paired.is_none().then(|| format_code(&inner.p.setup_code)),
        "online": inner.connected && inner.listening,
        "broker_user": inner.connected.then(|| inner.broker_user.clone()),
        "bolt": inner.bolt(),
        "now": rfc3339(inner.now()),
        "time_trusted": inner.core.as_ref().map(|c| c.time_state() == TimeState::Trusted),
        "applied_version": inner.core.as_ref().map(|c| c.applied_version()),
        "members": counts.as_ref().map(|c| c.users).unwrap_or(0),
        "codes": counts.as_ref().map(|c| c.pins + c.guest_keys).unwrap_or(0),
    }))
}

#[derive(Deserialize)]
struct KeypadBody {
    keys: String,
}

fn actor(s: &Subject) -> Value {
    match s {
        Subject::User(id) => json!({"kind": "user", "user_id": id}),
        Subject::GuestKey { slot, key_id, .. } => json!({"kind": "guest_key", "slot": slot, "key_id": key_id}),
    }
}

fn reason_text(r: Reason) -> &'static str {
    reason_name(r)
}

async fn keypad(State(shared): State<Arc<Shared>>, body: Result<Json<KeypadBody>, JsonRejection>) -> Response {
    let Ok(Json(body)) = body else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "expected {\"keys\": \"...\"}");
    };
    if body.keys.len() > 256 {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "at most 256 keys");
    }
    let mut inner = shared.lock();
    let now = inner.now();
    let mut entries = Vec::new();
    for ch in body.keys.chars() {
        let key = match ch {
            '0'..='9' => Key::Digit(ch as u8 - b'0'),
            '#' => Key::Confirm,
            '*' => Key::Clear,
            ' ' | '-' => continue,
            _ => return problem(StatusCode::UNPROCESSABLE_ENTITY, "keys are 0-9, # and *"),
        };
        let Some(core) = inner.core.as_mut() else {
            if key == Key::Confirm {
                entries.push(json!({"outcome": "denied", "reason": "not_paired", "actor": null}));
            }
            continue;
        };
        let Some(decision) = core.press(key, now) else {
            continue;
        };
        match decision {
            Decision::Grant {
                subject, persist_first, ..
            } => {
                let saved = inner.save();
                if persist_first && saved.is_err() {
                    entries.push(json!({"outcome": "denied", "reason": "save_failed", "actor": actor(&subject)}));
                    continue;
                }
                inner.open_bolt();
                inner.report_bolt();
                entries.push(json!({"outcome": "granted", "reason": null, "actor": actor(&subject)}));
            }
            Decision::Deny(r) => entries.push(json!({"outcome": "denied", "reason": reason_text(r), "actor": null})),
        }
    }
    if !entries.is_empty() {
        let _ = inner.save();
        inner.upload_events();
    }
    drop(inner);
    if entries.len() == 1 {
        Json(entries.remove(0)).into_response()
    } else {
        Json(json!({ "entries": entries })).into_response()
    }
}

#[derive(Deserialize)]
struct ClockBody {
    now: String,
}

async fn set_clock(State(shared): State<Arc<Shared>>, body: Result<Json<ClockBody>, JsonRejection>) -> Response {
    let Ok(Json(body)) = body else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "expected {\"now\": \"RFC 3339\"}");
    };
    let Ok(t) = body.now.parse::<jiff::Timestamp>() else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "now: expected an RFC 3339 time");
    };
    let mut inner = shared.lock();
    if !inner.fake_clock {
        return problem(StatusCode::CONFLICT, "the clock can be set only with --fake-clock");
    }
    let now = t.as_second();
    inner.fake = Some((now, Instant::now()));
    if let Some(c) = inner.core.as_mut() {
        c.set_trusted_time(now);
    }
    let _ = inner.save();
    Json(json!({"now": rfc3339(now)})).into_response()
}

#[derive(Deserialize)]
struct NetworkBody {
    online: bool,
}

async fn network(State(shared): State<Arc<Shared>>, body: Result<Json<NetworkBody>, JsonRejection>) -> Response {
    let Ok(Json(body)) = body else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "expected {\"online\": true|false}");
    };
    shared.online.send_replace(body.online);
    Json(json!({"online": body.online})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provisional_identity_is_given_up_only_after_refusals_over_the_whole_bound() {
        let t0 = Instant::now();
        let mut r = Refusals::default();
        // Many refusals in a short time are not enough (a login racing the server's insert).
        for i in 0..10 {
            assert!(!r.refused(t0 + Duration::from_millis(i * 100)));
        }
        assert!(r.refused(t0 + PROVISIONAL_REFUSED_FOR));
        // An accepted login starts the count again.
        r.accepted();
        let t1 = t0 + Duration::from_secs(100);
        assert!(!r.refused(t1));
        // The whole bound passed, but with too few refusals.
        assert!(!r.refused(t1 + PROVISIONAL_REFUSED_FOR));
        assert!(r.refused(t1 + PROVISIONAL_REFUSED_FOR + Duration::from_secs(1)));
    }

    #[test]
    fn only_bad_credentials_count_as_a_refusal() {
        use rumqttc::{ConnectReturnCode as C, ConnectionError as E};
        assert!(login_refused(&E::ConnectionRefused(C::BadUserNamePassword)));
        for c in [C::NotAuthorized, C::ServiceUnavailable, C::BadClientId] {
            assert!(!login_refused(&E::ConnectionRefused(c)), "{c:?}");
        }
        assert!(!login_refused(&E::NetworkTimeout));
    }

    fn opts(name: &str) -> Options {
        let dir = std::env::temp_dir().join(format!("vlock-test-{name}-{}", hex::encode(random::<6>())));
        std::fs::create_dir_all(&dir).unwrap();
        Options {
            state: dir.join("lock.state"),
            broker_host: "127.0.0.1".into(),
            broker_port: 1,
            control: None,
            fake_clock: false,
            relock: Duration::from_secs(1),
        }
    }

    /// Pairs `inner` as the pairing code does on a `PairFinish` (provisional).
    fn take_identity(inner: &mut Inner, lock_id: &str) {
        let root = RootSecret([9; 32]);
        let server = SigningKey::from_bytes(&[5; 32]).verifying_key();
        inner.core = Some(Box::new(StandardLock::new(lock_id.as_bytes(), root).unwrap()));
        inner.p.paired = Some(PairedState {
            lock_id: lock_id.into(),
            server_key: hex::encode(server.to_bytes()),
            root: hex::encode(root.0),
            up_seq: 0,
            replay: hex::encode(ReplayWindow::new().to_bytes()),
            confirmed: false,
        });
        inner.paired = Some(Paired {
            lock_id: lock_id.into(),
            server_key: server,
            replay: ReplayWindow::new(),
            keys: LinkKeys::derive(&root, lock_id.as_bytes()),
        });
        inner.save().unwrap();
    }

    /// Runs `f` on a thread with room for the lock core (several copies of it sit on the stack
    /// in an unoptimised build).
    fn with_big_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn a_provisional_identity_survives_a_restart_and_forgetting_it_gives_a_new_code() {
        with_big_stack(provisional_identity_across_a_restart);
    }

    fn provisional_identity_across_a_restart() {
        let o = opts("provisional");
        let mut inner = Inner::open(&o).unwrap();
        let first_code = inner.p.setup_code.clone();
        take_identity(&mut inner, "lk_a");
        assert!(inner.provisional());
        drop(inner);

        // Restarted: still paired, still provisional.
        let mut inner = Inner::open(&o).unwrap();
        assert!(inner.paired.is_some() && inner.provisional());
        inner.forget_pairing("test");
        assert!(inner.paired.is_none() && inner.p.paired.is_none() && inner.core.is_none());
        assert_ne!(inner.p.setup_code, first_code);
        assert!(SetupCode::parse(&inner.p.setup_code).is_some());
        drop(inner);
        let inner = Inner::open(&o).unwrap();
        assert!(inner.paired.is_none(), "forgetting is saved");
        let _ = std::fs::remove_dir_all(o.state.parent().unwrap());
    }

    #[test]
    fn state_files_from_before_confirmation_existed_are_confirmed() {
        with_big_stack(old_state_files_are_confirmed);
    }

    fn old_state_files_are_confirmed() {
        let o = opts("old-state");
        let mut inner = Inner::open(&o).unwrap();
        take_identity(&mut inner, "lk_b");
        drop(inner);
        // Remove the field, as a state file written by an older lock has none.
        let mut v: Value = serde_json::from_slice(&std::fs::read(&o.state).unwrap()).unwrap();
        v["paired"].as_object_mut().unwrap().remove("confirmed");
        std::fs::write(&o.state, serde_json::to_vec(&v).unwrap()).unwrap();
        let inner = Inner::open(&o).unwrap();
        assert!(inner.paired.is_some());
        assert!(!inner.provisional(), "an old paired lock is not sent back to pairing");
        let _ = std::fs::remove_dir_all(o.state.parent().unwrap());
    }
}
