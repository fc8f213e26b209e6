//! Several `serve` instances against one database and one broker: two real servers (same data
//! folder, so the same server key; one SQLite file, or one PostgreSQL database when `LK_TEST_PG`
//! names an admin URL), the local Mosquitto at 127.0.0.1:1883 (both in one random share group)
//! and an in-process virtual lock. Pairing through one instance, managing members through the
//! other, the PIN at the keypad, the activity log from either, remote unlock through each, each
//! lock message handled once, and the second instance carrying on alone after the first stops.
//!
//! Needs the broker at 127.0.0.1:1883 (anonymous, with shared subscriptions: Mosquitto 1.6+).

use crate::device_kit;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pg::FreshDb;
use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, SyncState};
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::types::{LockSecret, TimeZoneName};
use latchkey_server::domain::{OsEntropy, SystemClock};
use latchkey_server::gateway::accept_up_seq;
use latchkey_server::store::{self, LockRow, Store};
use serde_json::{Value, json};

use device_kit::{eventually, get_json, post_json, sign_in};

const OWNER: &str = "+12025550111";
const FAMILY: &str = "+12025550112";
const BROKER_HOST: &str = "127.0.0.1";
const BROKER_PORT: u16 = 1883;

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

async fn start_server(config: Config) -> anyhow::Result<Server> {
    Server::start(
        config,
        Parts {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            gateway: None,
        },
    )
    .await
}

/// Every message on one lock's topics, as (topic suffix `up`/`down`, message kind byte), seen
/// by a plain (not shared) subscriber.
struct Tap {
    seen: Arc<Mutex<Vec<(String, u8)>>>,
    client: rumqttc::AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(lock_id: &str) -> Tap {
        let mut mo = rumqttc::MqttOptions::new(format!("lk-test-tap-{}", random_hex(4)), BROKER_HOST, BROKER_PORT);
        mo.set_keep_alive(Duration::from_secs(5));
        mo.set_max_packet_size(70_000, 70_000);
        let (client, mut events) = rumqttc::AsyncClient::new(mo, 256);
        let filter = format!("latchkey/v1/locks/{lock_id}/+");
        client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let dir = p.topic.rsplit('/').next().unwrap_or("").to_string();
                        // The kind is in the clear (the body is encrypted).
                        let kind = latchkey_protocol::peek(&p.payload).map(|m| m.kind).unwrap_or(0);
                        s.lock().unwrap().push((dir, kind));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .expect("the tap subscribes")
            .unwrap();
        Tap { seen, client, task }
    }

    fn count(&self, dir: &str, kind: u8) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, k)| d == dir && *k == kind)
            .count()
    }

    async fn stop(self) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}

struct World {
    a: Option<Server>,
    b: Server,
    api_a: Client,
    api_b: Client,
    outbox: std::path::PathBuf,
    http: reqwest::Client,
    lock_base: String,
    _lock: latchkey_vlock::Handle,
    dir: tempfile::TempDir,
}

impl World {
    /// Lock messages received so far by both instances together (`latchkey_lock_messages_total`).
    async fn lock_messages_received(&self) -> u64 {
        let mut total = 0;
        for addr in [self.a.as_ref().map(|a| a.addr), Some(self.b.addr)]
            .into_iter()
            .flatten()
        {
            total += crate::device_kit::metric(&self.http, &format!("http://{addr}"), "latchkey_lock_messages_total")
                .await
                .expect("latchkey_lock_messages_total in /metrics");
        }
        total
    }

    async fn start(database_url: Option<String>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let mqtt = MqttConfig::External {
            host: BROKER_HOST.into(),
            port: BROKER_PORT,
        };
        let config_a = Config::for_tests(&data, database_url.clone(), mqtt.clone());
        let mut config_b = Config::for_tests(&data, database_url, mqtt);
        // One group for the two instances, its own for this test.
        config_b.mqtt_share_group = config_a.mqtt_share_group.clone();
        let a = start_server(config_a).await.expect("instance A starts");
        let b = start_server(config_b).await.expect("instance B starts");
        let api_a = Client::new(format!("http://{}", a.addr));
        let api_b = Client::new(format!("http://{}", b.addr));
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            state: dir.path().join("lock.state"),
            broker_host: BROKER_HOST.into(),
            broker_port: BROKER_PORT,
            control: Some("127.0.0.1:0".parse().unwrap()),
            fake_clock: false,
            relock: Duration::from_secs(1),
        })
        .await
        .expect("virtual lock starts");
        let lock_base = format!("http://{}", lock.control_addr.expect("a control port was asked for"));
        World {
            a: Some(a),
            b,
            api_a,
            api_b,
            outbox: data.join("outbox.jsonl"),
            http: reqwest::Client::new(),
            lock_base,
            _lock: lock,
            dir,
        }
    }

    /// Signs in through `api`; the session works on both instances.
    async fn sign_in(&self, api: &Client, phone: &str) -> String {
        let signed_in = sign_in(api, &self.outbox, phone).await;
        signed_in.token().expect("a session token").to_string()
    }

    async fn lock_get(&self, path: &str) -> Value {
        get_json(&self.http, &format!("{}{path}", self.lock_base)).await
    }

    async fn lock_post(&self, path: &str, body: Value) -> Value {
        post_json(&self.http, &format!("{}{path}", self.lock_base), body).await
    }
}

async fn ready(server: &Server) {
    eventually("server /readyz", 20, || async {
        let r = reqwest::get(format!("http://{}/readyz", server.addr)).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

/// Keypad access events (granted, denied) in the activity log as one instance shows it.
async fn keypad_events(api: &Client, lock_id: &str) -> Option<(usize, usize)> {
    let evs = api.events(lock_id, Some(100), None).await.ok()?;
    let count = |outcome: &str| {
        evs.iter()
            .filter(|e| e.method.as_deref() == Some("keypad") && e.outcome.as_deref() == Some(outcome))
            .count()
    };
    let ids: HashSet<_> = evs.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), evs.len(), "event ids are unique");
    Some((count("granted"), count("denied")))
}

async fn two_instances(database_url: Option<String>) {
    latchkey_client::install_crypto_provider();
    let mut w = World::start(database_url).await;
    ready(w.a.as_ref().unwrap()).await;
    ready(&w.b).await;

    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.lock_get("/status").await;
        (s["online"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["paired"], false);
    let setup_code = status["setup_code"].as_str().expect("a setup code").to_string();

    // Pairing through instance A.
    let owner_token = w.sign_in(&w.api_a, OWNER).await;
    let owner_a = w.api_a.with_token(owner_token.clone());
    let owner_b = w.api_b.with_token(owner_token);
    let lock = owner_a
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing through instance A");
    let lid = lock.id.clone();
    eventually("the lock to report paired", 10, || async {
        let s = w.lock_get("/status").await;
        (s["paired"] == true && s["lock_id"] == lid.as_str()).then_some(())
    })
    .await;

    // Invitation, acceptance and PIN through instance B.
    let inv = owner_b
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
    let fam_token = w.sign_in(&w.api_b, FAMILY).await;
    let fam_a = w.api_a.with_token(fam_token.clone());
    let fam_b = w.api_b.with_token(fam_token);
    fam_b.accept_invitation(&inv.id).await.unwrap();
    let fam_id = fam_b.me().await.unwrap().id;
    fam_b.set_pin(&lid, &fam_id, "482915").await.unwrap();
    eventually("the family member synced (seen from A)", 20, || async {
        let members = owner_a.members(&lid).await.ok()?;
        members
            .iter()
            .any(|m| m.account_id == fam_id && m.sync == SyncState::Synced)
            .then_some(())
    })
    .await;

    // The members listing checks the session and the membership in the query that reads it
    // (issue 19): what one instance changes, the other refuses at once.
    assert_eq!(
        fam_a.members(&lid).await.unwrap_err().status(),
        Some(403),
        "a Family member may not list the members"
    );
    let second_token = w.sign_in(&w.api_a, OWNER).await;
    let second_a = w.api_a.with_token(second_token.clone());
    let second_b = w.api_b.with_token(second_token);
    assert_eq!(second_b.members(&lid).await.unwrap().len(), 2);
    second_a.sign_out().await.unwrap();
    assert_eq!(
        second_b.members(&lid).await.unwrap_err().status(),
        Some(401),
        "a session signed out through A is refused by B at once"
    );
    assert_eq!(
        owner_b.members(&lid).await.unwrap().len(),
        2,
        "the other session still works"
    );

    // From here on, watch the lock's topics: every message the lock sends is handled once.
    let tap = Tap::start(&lid).await;

    // The PIN opens at the keypad; a wrong one does not.
    let ok = w.lock_post("/keypad", json!({ "keys": "482915#" })).await;
    assert_eq!(ok["outcome"], "granted", "{ok}");
    let bad = w.lock_post("/keypad", json!({ "keys": "111111#" })).await;
    assert_eq!(bad["outcome"], "denied", "{bad}");

    // Each keypad event appears exactly once, whichever instance shows the log.
    for api in [&owner_a, &owner_b] {
        eventually("the keypad events in the activity log", 10, || async {
            let (granted, denied) = keypad_events(api, &lid).await?;
            (granted >= 1 && denied >= 1).then_some(())
        })
        .await;
    }
    // Let any second handling of the uploads land before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for api in [&owner_a, &owner_b] {
        assert_eq!(keypad_events(api, &lid).await, Some((1, 1)), "each keypad event once");
    }

    // A reconnect: the lock's Hello is answered once (one Time), not by every instance.
    w.lock_post("/network", json!({ "online": false })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.lock_post("/network", json!({ "online": true })).await;
    eventually("the lock's Hello after reconnecting", 15, || async {
        (tap.count("up", 0x81) >= 1 && tap.count("down", 0x02) >= 1).then_some(())
    })
    .await;

    // From here on, every message on the lock's up topic must be received by exactly one of
    // the two instances (the shared subscription): together they count what the tap sees.
    let received_before = w.lock_messages_received().await;
    let tapped_before = tap.seen.lock().unwrap().iter().filter(|(d, _)| d == "up").count() as u64;

    // Remote unlock through each instance: the answer reaches the waiting instance even when
    // the broker gives it to the other one.
    for (name, fam) in [("A", &fam_a), ("B", &fam_b), ("A", &fam_a), ("B", &fam_b)] {
        let r = fam.unlock(&lid).await;
        assert!(r.is_ok(), "remote unlock through instance {name}: {r:?}");
        assert_eq!(r.unwrap().outcome, "unlocked");
    }

    eventually("each lock message received by one instance", 10, || async {
        let received = w.lock_messages_received().await - received_before;
        let tapped = tap.seen.lock().unwrap().iter().filter(|(d, _)| d == "up").count() as u64 - tapped_before;
        (tapped >= 4 && received == tapped).then_some(())
    })
    .await;

    // Every Hello answered; then no second answer to any of them.
    eventually("a Time for every Hello", 10, || async {
        (tap.count("down", 0x02) >= tap.count("up", 0x81)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hellos = tap.count("up", 0x81);
    let times = tap.count("down", 0x02);
    let seen = tap.seen.lock().unwrap().clone();
    assert!(hellos >= 1, "{seen:?}");
    assert!(
        times <= hellos,
        "one Time per Hello: each lock message is handled by one instance; {times} for {hellos}: {seen:?}"
    );

    // Instance A stops; B carries on alone: the lock's messages now all reach B.
    w.a.take().unwrap().stop().await;
    let ok = w.lock_post("/keypad", json!({ "keys": "482915#" })).await;
    assert_eq!(ok["outcome"], "granted", "{ok}");
    eventually("the third keypad event, through B", 10, || async {
        let (granted, _) = keypad_events(&owner_b, &lid).await?;
        (granted == 2).then_some(())
    })
    .await;
    let r = fam_b.unlock(&lid).await;
    assert!(r.is_ok(), "remote unlock through B after A stopped: {r:?}");
    // A change made through B still reaches the lock.
    owner_b.remove_member(&lid, &fam_id).await.unwrap();
    assert_eq!(
        fam_b.members(&lid).await.unwrap_err().status(),
        Some(404),
        "a removed member is refused at once"
    );
    eventually("the removed member's PIN to stop working", 20, || async {
        let r = w.lock_post("/keypad", json!({ "keys": "482915#" })).await;
        (r["outcome"] == "denied").then_some(())
    })
    .await;
    eventually("the lock to acknowledge the removal", 10, || async {
        let l = owner_b.lock(&lid).await.ok()?;
        (l.sync == SyncState::Synced).then_some(())
    })
    .await;
    assert!(owner_b.lock(&lid).await.unwrap().online);
    tap.stop().await;
    w.b.stop().await;
    drop(w.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_sqlite_database_and_broker() {
    two_instances(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_postgres_database_and_broker() {
    let Some(db) = FreshDb::if_configured("multi").await else {
        return;
    };
    two_instances(Some(db.url.clone())).await;
    db.drop_now().await;
}

/// An instance whose server key differs from the one the database was set up with refuses to
/// start, naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_another_server_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = MqttConfig::External {
        host: BROKER_HOST.into(),
        port: BROKER_PORT,
    };
    let first = Config::for_tests(&dir.path().join("one"), None, mqtt.clone());
    let url = first.database_url.clone();
    let a = start_server(first).await.expect("the first instance starts");
    // Another data folder: another server key, same database.
    let other = Config::for_tests(&dir.path().join("two"), Some(url), mqtt);
    let err = match start_server(other).await {
        Ok(_) => panic!("an instance with another server key started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("server key") && err.contains("same"), "{err}");
    a.stop().await;
}

fn lock_row(id: &str) -> LockRow {
    LockRow {
        id: id.into(),
        serial: format!("serial-{id}"),
        name: id.into(),
        time_zone: TimeZoneName::parse("Europe/Berlin").unwrap(),
        wrong_code_limit: 5,
        lockout_seconds: 60,
        device_key: [0; 32],
        root_secret: LockSecret::try_from("11".repeat(32).as_str()).unwrap(),
        server_epoch: 0,
        version: 1,
        acked_version: 0,
        event_seq: 0,
        command_seq: 0,
        online: false,
        bolt: None,
        last_seen_at: None,
        next_user_id: 1,
        created_at: 1,
    }
}

/// The stored replay window accepts each up sequence number once, however many instances (here
/// two pools on one database) race for it.
async fn replay_window_is_shared(url: &str) {
    let one = Store::open(url).await.unwrap();
    let two = Store::open(url).await.unwrap();
    let mut tx = one.begin().await.unwrap();
    store::insert_lock(&mut tx, &lock_row("L")).await.unwrap();
    tx.commit().await.unwrap();

    let mut tasks = Vec::new();
    for s in [one.clone(), two.clone(), one.clone(), two.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for seq in 1..=40u64 {
                if accept_up_seq(&s, "L", seq).await.unwrap() {
                    accepted.push(seq);
                }
            }
            accepted
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<_>>(), "each number accepted exactly once");

    // Once accepted, refused on either instance; reordering within the window is fine.
    assert!(!accept_up_seq(&two, "L", 7).await.unwrap());
    assert!(accept_up_seq(&one, "L", 100).await.unwrap());
    assert!(!accept_up_seq(&two, "L", 100).await.unwrap());
    assert!(accept_up_seq(&two, "L", 99).await.unwrap());
    assert!(!accept_up_seq(&one, "L", 99).await.unwrap());
    assert!(!accept_up_seq(&one, "L", 36).await.unwrap(), "too far behind");
    assert!(!accept_up_seq(&one, "L", 0).await.unwrap());
    assert!(!accept_up_seq(&one, "nope", 1).await.unwrap(), "no such lock");
    one.close().await;
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stored_replay_window_accepts_a_sequence_number_once() {
    let dir = tempfile::tempdir().unwrap();
    replay_window_is_shared(&format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display())).await;
    if let Some(db) = FreshDb::if_configured("multi").await {
        replay_window_is_shared(&db.url).await;
        db.drop_now().await;
    }
}
