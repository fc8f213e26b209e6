//! The device link end to end: a real server (SQLite, embedded MQTT broker), a real virtual lock
//! (in-process, `latchkey-vlock`), pairing with the lock's setup code, member sync, PINs at the
//! keypad, remote unlock, removal, and the lock's journal in the activity log.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, SyncState};
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use serde_json::{Value, json};

const OWNER: &str = "+12025550101";
const FAMILY: &str = "+12025550102";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
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

struct World {
    server: Server,
    api: Client,
    outbox: std::path::PathBuf,
    http: reqwest::Client,
    lock_base: String,
    _lock: latchkey_vlock::Handle,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let broker_port = free_port();
        let config = Config::for_tests(
            &dir.path().join("server"),
            None,
            MqttConfig::Embedded(format!("127.0.0.1:{broker_port}").parse().unwrap()),
        );
        let outbox = dir.path().join("server").join("outbox.jsonl");
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
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            state: dir.path().join("lock.state"),
            broker_host: "127.0.0.1".into(),
            broker_port,
            control: "127.0.0.1:0".parse().unwrap(),
            fake_clock: false,
            relock: Duration::from_secs(1),
        })
        .await
        .expect("virtual lock starts");
        let lock_base = format!("http://{}", lock.control_addr);
        World {
            server,
            api,
            outbox,
            http: reqwest::Client::new(),
            lock_base,
            _lock: lock,
            _dir: dir,
        }
    }

    async fn sign_in(&self, phone: &str) -> Client {
        let codes = |w: &World| -> Vec<String> {
            w.sms_to(phone)
                .into_iter()
                .filter(|b| b.contains("sign-in code"))
                .collect()
        };
        let before = codes(self).len();
        self.api.request_otp(phone).await.unwrap();
        let body = eventually("sign-in SMS", 10, || async {
            let all = codes(self);
            (all.len() > before).then(|| all.last().cloned().unwrap())
        })
        .await;
        let code: String = body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap_or_else(|| panic!("no 6-digit code in {body:?}"))
            .to_string();
        let session = self.api.create_session(phone, &code).await.unwrap();
        self.api.with_token(session.token)
    }

    fn sms_to(&self, phone: &str) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.outbox) else {
            return vec![];
        };
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["to"] == phone)
            .map(|m| m["body"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn lock_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.lock_base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn keypad(&self, keys: &str) -> Value {
        let resp = self
            .http
            .post(format!("{}/keypad", self.lock_base))
            .json(&json!({ "keys": keys }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "keypad: {}", resp.status());
        resp.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pair_sync_keypad_remote_unlock_removal_and_events() {
    latchkey_client::install_crypto_provider();
    let w = World::start().await;

    // The server is ready once its client reached the embedded broker.
    eventually("server /readyz", 20, || async {
        let r = reqwest::get(format!("http://{}/readyz", w.server.addr)).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.lock_get("/status").await;
        (s["online"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["paired"], false);
    let setup_code = status["setup_code"]
        .as_str()
        .expect("a setup code while unpaired")
        .to_string();
    assert_eq!(setup_code.chars().filter(char::is_ascii_digit).count(), 11);

    // Pairing: the owner enters the setup code.
    let owner = w.sign_in(OWNER).await;
    let wrong = owner.pair_lock("000-0000-0001", "Front door", "Europe/Berlin").await;
    assert!(wrong.is_err(), "a wrong setup code must not pair");
    let lock = owner
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing with the lock's setup code");
    let lid = lock.id.clone();
    eventually("the lock to report paired", 10, || async {
        let s = w.lock_get("/status").await;
        (s["paired"] == true && s["lock_id"] == lid.as_str()).then_some(())
    })
    .await;

    // A Family member: invited, accepted, PIN set.
    let inv = owner
        .invite(
            &lid,
            &CreateInvitation {
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
    fam.set_pin(&lid, &fam_id, "482915").await.unwrap();

    eventually("the family member synced to the lock", 20, || async {
        let members = owner.members(&lid).await.ok()?;
        members
            .iter()
            .any(|m| m.account_id == fam_id && m.sync == SyncState::Synced)
            .then_some(())
    })
    .await;

    // At the keypad.
    let ok = w.keypad("482915#").await;
    assert_eq!(ok["outcome"], "granted", "{ok}");
    assert_eq!(w.lock_get("/status").await["bolt"], "unlocked");
    let bad = w.keypad("111111#").await;
    assert_eq!(bad["outcome"], "denied", "{bad}");
    assert_eq!(bad["reason"], "unknown_credential");

    // Remote unlock by the family member: the lock decides and answers.
    let r = fam.unlock(&lid).await;
    assert!(r.is_ok(), "remote unlock: {r:?}");

    // The lock's journal reaches the activity log.
    let events = eventually("keypad events in the activity log", 10, || async {
        let evs = owner.events(&lid, Some(100), None).await.ok()?;
        let keypad = evs.iter().filter(|e| e.method.as_deref() == Some("keypad")).count();
        let remote = evs.iter().any(|e| e.method.as_deref() == Some("remote"));
        (keypad >= 2 && remote).then_some(evs)
    })
    .await;
    let granted = events
        .iter()
        .find(|e| e.method.as_deref() == Some("keypad") && e.outcome.as_deref() == Some("granted"))
        .expect("a granted keypad event");
    assert_eq!(granted.actor.as_ref().map(|a| a.id.clone()), Some(Some(fam_id.clone())));
    let denied = events
        .iter()
        .find(|e| e.method.as_deref() == Some("keypad") && e.outcome.as_deref() == Some("denied"))
        .expect("a denied keypad event");
    assert_eq!(denied.reason.as_deref(), Some("unknown_credential"));

    // Removing the member: after the sync the PIN no longer opens.
    owner.remove_member(&lid, &fam_id).await.unwrap();
    eventually("the removed member's PIN to stop working", 20, || async {
        let r = w.keypad("482915#").await;
        (r["outcome"] == "denied").then_some(())
    })
    .await;
    eventually("the lock to acknowledge the removal", 10, || async {
        let l = owner.lock(&lid).await.ok()?;
        (l.sync == SyncState::Synced).then_some(())
    })
    .await;

    // Presence: the lock is shown online.
    assert!(owner.lock(&lid).await.unwrap().online);
    w.server.stop().await;
}
