//! The device-link test kit: a real server (SQLite), a real MQTT broker (the embedded one or a
//! Mosquitto) and a real virtual lock (in-process, `latchkey-vlock`) driven through its control
//! port, plus helpers to sign in, pair, add members, poll with deadlines, restart the server,
//! run a private Mosquitto that a test may kill, and watch or inject raw MQTT traffic.
//!
//! Brokers: `Broker::Embedded` runs `latchkey-broker` inside the server on a free port;
//! `Broker::Mosquitto` uses the system Mosquitto on 127.0.0.1:1883 (skipped with a message when
//! it is not running, a failure with `CI=true`); `Broker::OwnMosquitto` starts a private
//! `/usr/sbin/mosquitto` on a free port that the test can stop and start again.
// Shared by many test modules; not each uses every helper.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, Event, SyncState};
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};

pub const OWNER: &str = "+12025550101";
pub const FAMILY: &str = "+12025550102";
pub const FAMILY2: &str = "+12025550103";

/// The system Mosquitto.
pub const MOSQUITTO_HOST: &str = "127.0.0.1";
pub const MOSQUITTO_PORT: u16 = 1883;
pub const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// Generates `mod embedded { #[tokio::test] fn name() }` and `mod mosquitto { ... }` for each
/// async `fn name(b: Broker)` of a test file, so every flow runs on both brokers
/// (`embedded::name`, `mosquitto::name`).
#[macro_export]
macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    latchkey_client::install_crypto_provider();
                    super::$name($crate::device_kit::Broker::Embedded).await;
                }
            )*
        }
        mod mosquitto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    latchkey_client::install_crypto_provider();
                    if !$crate::device_kit::mosquitto_available() {
                        return;
                    }
                    super::$name($crate::device_kit::Broker::Mosquitto).await;
                }
            )*
        }
    };
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Whether the system Mosquitto answers on 127.0.0.1:1883. Without it the Mosquitto variants
/// are skipped with a message, except with `CI=true`, where they fail.
pub fn mosquitto_available() -> bool {
    if port_open(MOSQUITTO_PORT) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no Mosquitto listens on {MOSQUITTO_HOST}:{MOSQUITTO_PORT}: the device-link flows must run on it in CI"
    );
    eprintln!("SKIPPED on Mosquitto: nothing listens on {MOSQUITTO_HOST}:{MOSQUITTO_PORT} (start mosquitto to run it)");
    false
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bodies of the SMS the server wrote to its `outbox` file for `phone`, oldest first.
pub fn sms_to(outbox: &Path, phone: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(outbox) else {
        return vec![];
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["to"] == phone)
        .map(|m| m["body"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Signs `phone` in through `api` with the sign-in code the server then writes to `outbox`.
pub async fn sign_in(api: &Client, outbox: &Path, phone: &str) -> Client {
    let codes = || -> Vec<String> {
        sms_to(outbox, phone)
            .into_iter()
            .filter(|b| b.contains("sign-in code"))
            .collect()
    };
    let before = codes().len();
    api.request_otp(phone).await.unwrap();
    let body = eventually("sign-in SMS", 10, || async {
        let all = codes();
        (all.len() > before).then(|| all.last().cloned().unwrap())
    })
    .await;
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {body:?}"))
        .to_string();
    let session = api.create_session(phone, &code).await.unwrap();
    api.with_token(session.token)
}

/// `GET url` as JSON (a virtual lock's control port).
pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The value of one series of a server's `/metrics` (`series` with its labels, as printed:
/// `latchkey_syncs_sent_total{kind="delta"}`); `None` when the server does not print it.
pub async fn metric(http: &reqwest::Client, base: &str, series: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// `POST url` with a JSON body; the answer must be a success.
pub async fn post_json(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let resp = http.post(url).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

// ------------------------------------------------------------------------------ brokers

/// Which broker a world runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// `latchkey-broker` inside the server, on a free port.
    Embedded,
    /// The system Mosquitto on 127.0.0.1:1883, shared with tests running in parallel.
    Mosquitto,
    /// A private Mosquitto on a free port, which the test may stop and restart.
    OwnMosquitto,
}

/// A private Mosquitto process (killed when dropped).
pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts `/usr/sbin/mosquitto` on a free loopback port and waits until it listens.
    pub async fn start(dir: &Path) -> Mosquitto {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let mut m = Mosquitto {
            port,
            conf,
            child: None,
        };
        m.restart().await;
        m
    }

    /// Starts it (again) on the same port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "mosquitto is already running");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(MOSQUITTO_BIN)
                .arg("-c")
                .arg(&self.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {MOSQUITTO_BIN}: {e}"));
            let up = tokio::time::Instant::now() + Duration::from_secs(3);
            while tokio::time::Instant::now() < up {
                if port_open(self.port) {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (the port may still be in TIME_WAIT): try again
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto did not start on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills it (SIGKILL: no goodbye to its clients) and waits until the port is closed.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        eventually("mosquitto to stop listening", 10, || async {
            (!port_open(self.port)).then_some(())
        })
        .await;
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// -------------------------------------------------------------------------------- world

/// One server, one broker, one virtual lock.
pub struct World {
    pub broker: Broker,
    pub broker_host: String,
    pub broker_port: u16,
    pub mosquitto: Option<Mosquitto>,
    config: Config,
    pub server: Option<Server>,
    /// The HTTP base URL (kept across server restarts).
    pub base: String,
    /// A client with no session.
    pub api: Client,
    outbox: PathBuf,
    pub http: reqwest::Client,
    pub lock: Option<latchkey_vlock::Handle>,
    lock_opts: latchkey_vlock::Options,
    pub lock_base: String,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts a server on `broker` and an unpaired virtual lock (with a fake clock when asked).
    pub async fn start(broker: Broker, fake_clock: bool) -> World {
        World::start_with_link(broker, fake_clock, latchkey_vlock::LinkMode::Encrypted).await
    }

    /// [`World::start`] with both ends on the link `link`: `SignedOnly` is the benchmarks'
    /// first-round link, which tests use to show what encryption hides.
    pub async fn start_with_link(broker: Broker, fake_clock: bool, link: latchkey_vlock::LinkMode) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut mosquitto = None;
        let (mqtt, host, port) = match broker {
            Broker::Embedded => {
                let port = free_port();
                (
                    MqttConfig::Embedded(format!("127.0.0.1:{port}").parse().unwrap()),
                    "127.0.0.1".to_string(),
                    port,
                )
            }
            Broker::Mosquitto => (
                MqttConfig::External {
                    host: MOSQUITTO_HOST.into(),
                    port: MOSQUITTO_PORT,
                },
                MOSQUITTO_HOST.to_string(),
                MOSQUITTO_PORT,
            ),
            Broker::OwnMosquitto => {
                let m = Mosquitto::start(dir.path()).await;
                let port = m.port;
                mosquitto = Some(m);
                (
                    MqttConfig::External {
                        host: "127.0.0.1".into(),
                        port,
                    },
                    "127.0.0.1".to_string(),
                    port,
                )
            }
        };
        let server_dir = dir.path().join("server");
        std::fs::create_dir_all(&server_dir).unwrap();
        let mut config = Config::for_tests(&server_dir, None, mqtt);
        config.signed_only_link = link == latchkey_vlock::LinkMode::SignedOnly;
        let outbox = server_dir.join("outbox.jsonl");
        let server = start_server(config.clone()).await;
        // A restarted server listens where the first one did, so clients keep working.
        config.http = server.addr;
        let base = format!("http://{}", server.addr);
        let lock_opts = latchkey_vlock::Options {
            state: dir.path().join("lock.state"),
            broker_host: host.clone(),
            broker_port: port,
            control: Some("127.0.0.1:0".parse().unwrap()),
            fake_clock,
            relock: Duration::from_secs(1),
        };
        let lock = latchkey_vlock::start_with(lock_opts.clone(), link)
            .await
            .expect("virtual lock starts");
        let lock_base = format!("http://{}", lock.control_addr.expect("a control port was asked for"));
        let w = World {
            broker,
            broker_host: host,
            broker_port: port,
            mosquitto,
            config,
            server: Some(server),
            api: Client::new(base.clone()),
            base,
            outbox,
            http: reqwest::Client::new(),
            lock: Some(lock),
            lock_opts,
            lock_base,
            dir,
        };
        w.wait_ready().await;
        w
    }

    /// The login of a raw client that may read and write every topic: on the embedded broker
    /// the server's own (from the data folder's `broker-secret`), elsewhere `pairing`.
    pub fn sniffer_login(&self) -> (String, String) {
        use latchkey_protocol::broker;
        if self.broker != Broker::Embedded {
            return (broker::PAIRING_USERNAME.into(), broker::PAIRING_PASSWORD.into());
        }
        let text = std::fs::read_to_string(self.dir.path().join("server").join("broker-secret")).unwrap();
        let secret: [u8; 32] = hex::decode(text.trim()).unwrap().try_into().unwrap();
        (
            broker::SERVER_USERNAME.into(),
            broker::server_password(&secret).as_str().to_string(),
        )
    }

    /// Waits until the server reached its broker.
    pub async fn wait_ready(&self) {
        eventually("server /readyz", 20, || async {
            let r = self.http.get(format!("{}/readyz", self.base)).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
    }

    /// Stops the server (HTTP, gateway, background tasks).
    pub async fn stop_server(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// Starts a new server on the same data folder, database, HTTP address and broker address
    /// (the embedded broker stops with its server; the new one listens where it did).
    pub async fn start_server_again(&mut self) {
        assert!(self.server.is_none(), "stop the server first");
        let config = self.config.clone();
        self.server = Some(start_server(config).await);
        self.wait_ready().await;
    }

    /// Stops the virtual lock and starts it again on its state file (a lock restart).
    pub async fn restart_lock(&mut self) {
        drop(self.lock.take());
        // Let the broker notice the old connection is gone.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            control: Some(self.lock_base.trim_start_matches("http://").parse().unwrap()),
            ..self.lock_opts.clone()
        })
        .await
        .expect("virtual lock starts again");
        self.lock = Some(lock);
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("a running server")
    }

    pub async fn stop(mut self) {
        self.lock.take();
        self.stop_server().await;
    }

    // ---------------------------------------------------------------- accounts and SMS

    fn sms_to(&self, phone: &str) -> Vec<String> {
        sms_to(&self.outbox, phone)
    }

    /// Signs in with the SMS code from the outbox.
    pub async fn sign_in(&self, phone: &str) -> Client {
        sign_in(&self.api, &self.outbox, phone).await
    }

    /// Pairs the virtual lock (as `owner`), retrying when another test on a shared broker
    /// pairs a lock with the same discriminator at the same moment. Returns the lock id.
    pub async fn pair(&self, owner: &Client) -> String {
        let status = eventually("the lock online and unpaired", 20, || async {
            let s = self.lock_get("/status").await;
            (s["online"] == true).then_some(s)
        })
        .await;
        assert_eq!(status["paired"], false);
        let setup_code = status["setup_code"].as_str().expect("a setup code").to_string();
        let mut tries = 0;
        let lock = loop {
            tries += 1;
            match owner.pair_lock(&setup_code, "Front door", "Europe/Berlin").await {
                Ok(l) => break l,
                Err(e) if tries < 4 && e.status() == Some(422) => {
                    eprintln!("pairing attempt {tries} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("pairing with the lock's setup code: {e}"),
            }
        };
        let lid = lock.id.clone();
        // Paired, reconnected with its last will, and trusting its clock (the server's answer
        // to its Hello): only then does it decide as the tests expect.
        eventually("the lock to report paired", 10, || async {
            let s = self.lock_get("/status").await;
            (s["paired"] == true && s["lock_id"] == lid.as_str() && s["online"] == true && s["time_trusted"] == true)
                .then_some(())
        })
        .await;
        lid
    }

    /// Invites `phone` as `level`, accepts, sets `pin` when given; returns the member's client
    /// and account id.
    pub async fn add_member(
        &self,
        owner: &Client,
        lid: &str,
        phone: &str,
        level: AccessLevel,
        pin: Option<&str>,
    ) -> (Client, String) {
        let inv = owner
            .invite(
                lid,
                &CreateInvitation {
                    name: None,
                    phone: phone.into(),
                    access_level: level,
                    schedule: None,
                },
            )
            .await
            .unwrap();
        let c = self.sign_in(phone).await;
        c.accept_invitation(&inv.id).await.unwrap();
        let id = c.me().await.unwrap().id;
        if let Some(pin) = pin {
            c.set_pin(lid, &id, pin).await.unwrap();
        }
        (c, id)
    }

    /// Waits until the lock and every member show `synced`.
    pub async fn wait_synced(&self, owner: &Client, lid: &str, secs: u64) {
        eventually("the lock and its members synced", secs, || async {
            let l = owner.lock(lid).await.ok()?;
            let members = owner.members(lid).await.ok()?;
            (l.sync == SyncState::Synced && members.iter().all(|m| m.sync == SyncState::Synced)).then_some(())
        })
        .await;
    }

    /// The access events of the activity log (newest first).
    pub async fn access_events(&self, owner: &Client, lid: &str) -> Vec<Event> {
        owner
            .events(lid, Some(500), None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "access")
            .collect()
    }

    /// Waits until the activity log holds exactly `n` access events with `method` (and
    /// panics at once when it holds more).
    pub async fn wait_access_events(&self, owner: &Client, lid: &str, method: &str, n: usize) -> Vec<Event> {
        eventually(&format!("{n} {method} events in the activity log"), 15, || async {
            let evs: Vec<Event> = self
                .access_events(owner, lid)
                .await
                .into_iter()
                .filter(|e| e.method.as_deref() == Some(method))
                .collect();
            assert!(evs.len() <= n, "more than {n} {method} events: {evs:#?}");
            (evs.len() == n).then_some(evs)
        })
        .await
    }

    // --------------------------------------------------------------- the lock's control

    pub async fn lock_get(&self, path: &str) -> Value {
        get_json(&self.http, &format!("{}{path}", self.lock_base)).await
    }

    async fn lock_post(&self, path: &str, body: Value) -> Value {
        post_json(&self.http, &format!("{}{path}", self.lock_base), body).await
    }

    pub async fn status(&self) -> Value {
        self.lock_get("/status").await
    }

    /// Presses keys; returns the lock's answer for the completed entry.
    pub async fn keypad(&self, keys: &str) -> Value {
        self.lock_post("/keypad", json!({ "keys": keys })).await
    }

    /// Sets the lock's fake clock.
    pub async fn set_clock(&self, now: &str) {
        self.lock_post("/clock", json!({ "now": now })).await;
    }

    /// Cuts or restores the lock's link to the broker and waits until the lock says so.
    pub async fn network(&self, online: bool) {
        self.lock_post("/network", json!({ "online": online })).await;
        eventually(&format!("the lock's link to be {online}"), 20, || async {
            (self.status().await["online"] == online).then_some(())
        })
        .await;
    }

    /// Waits until the bolt is locked again (it re-locks itself after a second).
    pub async fn wait_locked(&self) {
        eventually("the bolt to re-lock", 10, || async {
            (self.status().await["bolt"] == "locked").then_some(())
        })
        .await;
    }
}

async fn start_server(config: Config) -> Server {
    Server::start(
        config,
        Parts {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            gateway: None,
        },
    )
    .await
    .expect("server starts")
}

// ------------------------------------------------------------------------------- sniffer

/// What a sniffer saw: (topic, payload) in order.
pub type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A raw MQTT client on the world's broker: records what it sees on the filter it
/// subscribed to, and publishes whatever a test wants.
pub struct Sniffer {
    pub client: AsyncClient,
    pub seen: Seen,
    acks: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Sniffer {
    pub async fn start(w: &World, filter: &str) -> Sniffer {
        let mut mo = MqttOptions::new(format!("sniffer-{}", free_port()), w.broker_host.clone(), w.broker_port);
        mo.set_keep_alive(Duration::from_secs(5));
        mo.set_max_packet_size(70_000, 70_000);
        // On the embedded broker the sniffer is the broker's own capture: it logs in as the
        // server (the public pairing login reaches only the pairing topics there, see
        // docs/design/broker-auth.md); Mosquitto here is anonymous and ignores the login.
        let (user, password) = w.sniffer_login();
        mo.set_credentials(user, password);
        let (client, mut events) = AsyncClient::new(mo, 64);
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, mut subscribed) = tokio::sync::watch::channel(false);
        let s = seen.clone();
        let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = acks.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        s.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(true);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), subscribed.wait_for(|s| *s))
            .await
            .expect("the sniffer subscribed")
            .unwrap();
        Sniffer {
            client,
            seen,
            acks,
            task,
        }
    }

    /// Every (topic, payload) seen so far.
    pub fn seen(&self) -> Vec<(String, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }

    /// Publishes `payload` on `topic` (QoS 1) and waits until the broker acknowledged it.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        use std::sync::atomic::Ordering;
        let before = self.acks.load(Ordering::SeqCst);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        eventually("the broker to acknowledge a publish", 10, || async {
            (self.acks.load(Ordering::SeqCst) > before).then_some(())
        })
        .await;
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
