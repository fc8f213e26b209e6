//! Per-lock authentication on the embedded MQTT broker (`docs/design/broker-auth.md`): a client
//! without the right login is refused at CONNECT; unpaired locks log in as `pairing`; a paired
//! virtual lock logs in again under its lock id with the password derived from its root secret,
//! and keeps working (sync, keypad) after a restart; unpairing revokes the login.

use crate::device_kit;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, SyncState};
use latchkey_lock_core::RootSecret;
use latchkey_protocol::broker;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use serde_json::{Value, json};

use device_kit::{eventually, free_port, get_json, post_json, sign_in};

const OWNER: &str = "+12025550111";
const FAMILY: &str = "+12025550112";

/// Whether a raw MQTT client with this login gets a CONNACK from the broker (`false`: the
/// connection was refused before one).
async fn connects(port: u16, login: Option<(&str, &str)>) -> bool {
    connects_as(port, &format!("probe-{}", rand_suffix()), login).await
}

/// [`connects`] with the client id `id`.
async fn connects_as(port: u16, id: &str, login: Option<(&str, &str)>) -> bool {
    // A refusal must come from the broker, not from nothing listening.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok(),
        "nothing listens on the broker port {port}"
    );
    let mut mo = MqttOptions::new(id, "127.0.0.1", port);
    mo.set_keep_alive(Duration::from_secs(5));
    if let Some((user, password)) = login {
        mo.set_credentials(user, password);
    }
    let (client, mut events) = AsyncClient::new(mo, 10);
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return ack.code == rumqttc::ConnectReturnCode::Success,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    })
    .await
    .expect("the broker answers or closes the connection within 10 s");
    let _ = client.try_disconnect();
    result
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

struct World {
    server: Server,
    api: Client,
    data_dir: PathBuf,
    outbox: PathBuf,
    http: reqwest::Client,
    broker_port: u16,
    lock_state: PathBuf,
    lock_base: String,
    lock: Option<latchkey_vlock::Handle>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let broker_port = free_port();
        let data_dir = dir.path().join("server");
        let config = Config::for_tests(
            &data_dir,
            None,
            MqttConfig::Embedded(format!("127.0.0.1:{broker_port}").parse().unwrap()),
        );
        let outbox = data_dir.join("outbox.jsonl");
        let server = Server::start(
            config,
            Parts {
                clock: Arc::new(SystemClock),
                entropy: Arc::new(OsEntropy),
                gateway: None,
            },
        )
        .await
        .expect("server starts");
        let api = Client::new(format!("http://{}", server.addr));
        let mut w = World {
            server,
            api,
            data_dir,
            outbox,
            http: reqwest::Client::new(),
            broker_port,
            lock_state: dir.path().join("lock.state"),
            lock_base: String::new(),
            lock: None,
            _dir: dir,
        };
        w.start_lock().await;
        w
    }

    async fn start_lock(&mut self) {
        self.lock = None;
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            state: self.lock_state.clone(),
            broker_host: "127.0.0.1".into(),
            broker_port: self.broker_port,
            control: Some("127.0.0.1:0".parse().unwrap()),
            fake_clock: false,
            relock: Duration::from_secs(1),
        })
        .await
        .expect("virtual lock starts");
        self.lock_base = format!("http://{}", lock.control_addr.expect("a control port was asked for"));
        self.lock = Some(lock);
    }

    async fn sign_in(&self, phone: &str) -> Client {
        sign_in(&self.api, &self.outbox, phone).await
    }

    async fn lock_status(&self) -> Value {
        get_json(&self.http, &format!("{}/status", self.lock_base)).await
    }

    async fn keypad(&self, keys: &str) -> Value {
        post_json(
            &self.http,
            &format!("{}/keypad", self.lock_base),
            json!({ "keys": keys }),
        )
        .await
    }
}

fn hex32(path: &Path, text: &str) -> [u8; 32] {
    hex::decode(text.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .unwrap_or_else(|| panic!("{} does not hold 32 hex bytes", path.display()))
}

#[test]
fn embedded_broker_admits_only_known_logins() {
    latchkey_client::install_crypto_provider();
    // The scenario's future is large: in debug builds polling it needs more than the 2 MiB of
    // a test thread's stack, so it runs on a thread of its own.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap()
                .block_on(scenario())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn scenario() {
    let mut w = World::start().await;
    let port = w.broker_port;
    eventually("server /readyz", 20, || async {
        let r = reqwest::get(format!("http://{}/readyz", w.server.addr)).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    // The broker secret: created on first start, owner-only; the server's login derives from it.
    let secret_path = w.data_dir.join("broker-secret");
    let secret = hex32(&secret_path, &std::fs::read_to_string(&secret_path).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "broker-secret must be owner-only");
    }
    let server_password = broker::server_password(&secret);

    // Refused at CONNECT: no login, unknown users, wrong passwords.
    assert!(!connects(port, None).await, "an anonymous client must be refused");
    assert!(!connects(port, Some(("someone", "secret"))).await);
    assert!(!connects(port, Some((broker::PAIRING_USERNAME, "wrong"))).await);
    assert!(!connects(port, Some((broker::SERVER_USERNAME, "wrong"))).await);
    assert!(!connects(port, Some((broker::SERVER_USERNAME, broker::PAIRING_PASSWORD))).await);
    // Admitted: unpaired locks, and the server's own login.
    assert!(connects(port, Some((broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD))).await);
    assert!(connects(port, Some((broker::SERVER_USERNAME, server_password.as_str()))).await);

    // The virtual lock reaches the broker as `pairing` while unpaired.
    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.lock_status().await;
        (s["online"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["paired"], false);
    assert_eq!(status["broker_user"], broker::PAIRING_USERNAME);
    let setup_code = status["setup_code"].as_str().unwrap().to_string();

    let owner = w.sign_in(OWNER).await;
    let lock = owner
        .pair_lock(&setup_code, "Back door", "Europe/Berlin")
        .await
        .expect("pairing with the lock's setup code");
    let lid = lock.id.clone();

    // Paired: the lock id is a login, but only with the password derived from its root secret.
    let state: Value = serde_json::from_slice(&std::fs::read(&w.lock_state).unwrap()).unwrap();
    let root = hex32(&w.lock_state, state["paired"]["root"].as_str().unwrap());
    assert_eq!(state["paired"]["lock_id"], lid.as_str());
    assert!(
        !connects(port, Some((&lid, "wrong"))).await,
        "a wrong lock password must be refused"
    );
    assert!(!connects(port, Some((&lid, broker::PAIRING_PASSWORD))).await);
    let other_root = broker::lock_password(&RootSecret([0x5a; 32]), &lid);
    assert!(!connects(port, Some((&lid, other_root.as_str()))).await);
    let other_lock = broker::lock_password(&RootSecret(root), "lk_not_paired");
    assert!(
        !connects(port, Some(("lk_not_paired", other_lock.as_str()))).await,
        "an unknown lock"
    );
    let right = broker::lock_password(&RootSecret(root), &lid);
    // A lock's login goes with its own client id (`lk-{serial}`) only.
    assert!(
        !connects(port, Some((&lid, right.as_str()))).await,
        "a lock's login with another client id"
    );
    let lock_client_id = format!("lk-{}", status["serial"].as_str().unwrap());
    // The bad logins above came from this address faster than the failed-login limit allows
    // (10 at once, then one a second): the right one gets in once a token is back.
    eventually("the lock's own login admitted", 15, || async {
        connects_as(port, &lock_client_id, Some((&lid, right.as_str())))
            .await
            .then_some(())
    })
    .await;

    // The lock logs in again under its own id and keeps working: member sync, keypad.
    eventually("the lock online under its own login", 20, || async {
        let s = w.lock_status().await;
        (s["online"] == true && s["paired"] == true && s["broker_user"] == lid.as_str()).then_some(())
    })
    .await;
    let inv = owner
        .invite(
            &lid,
            &CreateInvitation {
                name: None,
                phone: FAMILY.into(),
                access_level: AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    let fam = w.sign_in(FAMILY).await;
    fam.accept_invitation(&inv.id).await.unwrap();
    let fam_id = fam.me().await.unwrap().id;
    fam.set_pin(&lid, &fam_id, "739162").await.unwrap();
    let synced = || async {
        let members = owner.members(&lid).await.ok()?;
        members
            .iter()
            .any(|m| m.account_id == fam_id && m.sync == SyncState::Synced)
            .then_some(())
    };
    eventually("the family member synced to the lock", 30, synced).await;
    let ok = w.keypad("739162#").await;
    assert_eq!(ok["outcome"], "granted", "{ok}");

    // A restart while paired logs in with the lock's own credentials at once, and a change
    // made while it was away still reaches it.
    w.lock = None;
    fam.set_pin(&lid, &fam_id, "204851").await.unwrap();
    w.start_lock().await;
    eventually("the restarted lock online under its own login", 20, || async {
        let s = w.lock_status().await;
        (s["online"] == true && s["paired"] == true && s["broker_user"] == lid.as_str()).then_some(())
    })
    .await;
    eventually("the new PIN synced to the restarted lock", 30, synced).await;
    let ok = w.keypad("204851#").await;
    assert_eq!(ok["outcome"], "granted", "{ok}");

    // Unpairing sends the lock back to `pairing`. Its old login still reaches its own topics,
    // and only them: the server remembers the id so that a lock that was offline then is told
    // Unpair when it comes back (pairing_convergence.rs); with any other password or client
    // id it is refused.
    owner.delete_lock(&lid).await.unwrap();
    eventually("the unpaired lock back online as pairing", 20, || async {
        let s = w.lock_status().await;
        (s["online"] == true && s["paired"] == false && s["broker_user"] == broker::PAIRING_USERNAME).then_some(())
    })
    .await;
    assert!(
        connects_as(port, &lock_client_id, Some((&lid, right.as_str()))).await,
        "an unpaired lock may still log in, to be told"
    );
    assert!(
        !connects_as(port, &lock_client_id, Some((&lid, "not-the-password"))).await,
        "an unpaired lock's login with a wrong password must be refused"
    );
    w.server.stop().await;
}
