//! Pairing that converges (issue 16, `docs/design/pairing-convergence.md`): whatever step of
//! pairing fails, the lock and the server end up both paired or both unpaired by themselves.
//!
//! - the server gives up after the lock took its `PairFinish` (the lock's `PairDone` never
//!   comes): a raw lock driven by the test takes the Finish, the request fails, the server keeps
//!   no lock, and the lock, presenting itself under the id, is told `Unpair` (both brokers);
//! - the server stops after sending the Finish (its pending record left behind) and the lock
//!   restarts meanwhile: the virtual lock keeps the identity as provisional across its restart,
//!   is left alone while the pairing may still finish, then told `Unpair`, and pairs again;
//! - a lock given an id its server neither keeps nor remembers (the broker refuses its login)
//!   returns to pairing by itself;
//! - a lock unpaired while offline is told on reconnect and can be paired again (both brokers);
//! - the store: keeping a pairing and giving it up race on one row, exactly one wins (SQLite and
//!   PostgreSQL).

use crate::device_kit;
use crate::pg::FreshDb;

use std::time::Duration;

use device_kit::{Broker, OWNER, Sniffer, World, eventually};
use latchkey_lock_core::RootSecret;
use latchkey_protocol::{
    Clock, Down, Header, Hello, LinkKeys, LockPairing, MAX_MESSAGE_LEN, Pairing, Protection, ReplayWindow,
    ServerPairing, SetupCode, SigningKey, Up, VerifyingKey, broker, decode_pairing, encode_pairing, open_down, seal_up,
    topics,
};
use latchkey_server::domain::types::LockSecret;
use latchkey_server::store::{self, Store, Tombstone, TombstoneState};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::mpsc;

on_both_brokers!(
    a_lock_that_took_the_finish_of_a_pairing_the_server_gave_up_is_told_unpair,
    a_lock_unpaired_while_offline_is_told_on_reconnect_and_pairs_again,
);

mod embedded_only {
    /// Runs `scenario` on a thread of its own: restarting the virtual lock restores its lock
    /// core where the future is polled, which in a debug build needs more than the 2 MiB of a
    /// test thread's stack.
    fn on_a_big_stack<F: std::future::Future<Output = ()>>(scenario: impl FnOnce() -> F + Send + 'static) {
        latchkey_client::install_crypto_provider();
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

    #[test]
    fn a_lock_left_pending_by_a_stopped_server_and_restarted_returns_to_pairing() {
        on_a_big_stack(super::pending_pairing_left_by_a_stopped_server);
    }

    #[test]
    fn a_lock_whose_id_the_server_does_not_know_returns_to_pairing_by_itself() {
        on_a_big_stack(super::unknown_id_refused_by_the_broker);
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("entropy");
    b
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A raw MQTT client on the world's broker under a login and client id of the test's choice;
/// what it receives arrives on `rx`.
struct Raw {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    task: tokio::task::JoinHandle<()>,
}

impl Raw {
    async fn connect(w: &World, client_id: &str, user: &str, password: &str, subscribe: &str) -> Raw {
        let mut mo = MqttOptions::new(client_id, w.broker_host.clone(), w.broker_port);
        mo.set_keep_alive(Duration::from_secs(5));
        mo.set_max_packet_size(MAX_MESSAGE_LEN + 1024, MAX_MESSAGE_LEN + 1024);
        mo.set_credentials(user, password);
        let (client, mut events) = AsyncClient::new(mo, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, mut subscribed) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(true);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("raw client: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        client.subscribe(subscribe, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), subscribed.wait_for(|s| *s))
            .await
            .expect("the raw client subscribed (its login admitted)")
            .unwrap();
        Raw { client, rx, task }
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    async fn recv(&mut self, what: &str, secs: u64) -> (String, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(secs), self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("the raw client runs")
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The identity the lock took from a `PairFinish`.
struct Taken {
    lock_id: String,
    root: RootSecret,
    server_key: VerifyingKey,
}

/// The server gives up after the lock took its Finish: a raw lock answers the exchange but
/// never sends `PairDone`. The request fails, no lock is kept, and when the lock presents
/// itself under the id it took (its own login, its own client id) it is told `Unpair`.
async fn a_lock_that_took_the_finish_of_a_pairing_the_server_gave_up_is_told_unpair(b: Broker) {
    let w = World::start(b, false).await;
    let owner = w.sign_in(OWNER).await;
    let code = SetupCode::from_random(random::<8>());
    let digits = String::from_utf8(code.digits().to_vec()).unwrap();
    let serial = format!("VL-T{}", hex::encode_upper(random::<4>()));
    let client_id = format!("lk-{serial}");
    let key = SigningKey::from_bytes(&random::<32>());
    let d = code.discriminator();
    let mut raw = Raw::connect(
        &w,
        &client_id,
        broker::PAIRING_USERNAME,
        broker::PAIRING_PASSWORD,
        topics::pairing_down(d).unwrap().as_str(),
    )
    .await;
    let up = topics::pairing_up(d).unwrap().to_string();

    let pairing = {
        let owner = owner.clone();
        let digits = digits.clone();
        tokio::spawn(async move { owner.pair_lock(&digits, "Front door", "Europe/Berlin").await })
    };
    let mut state = None;
    let taken = loop {
        let (_, payload) = raw.recv("the server's pairing messages", 20).await;
        match decode_pairing(&payload) {
            Ok(Pairing::Start(start)) => {
                let (s, reply) =
                    LockPairing::respond(&code, &start, &key.verifying_key(), &serial, random::<32>()).unwrap();
                let mut buf = [0u8; 512];
                let n = encode_pairing(&Pairing::Reply(reply), &mut buf).unwrap();
                state = Some(s);
                raw.publish(&up, buf[..n].to_vec()).await;
            }
            Ok(Pairing::Finish(fin)) => {
                let (paired, _done) = state.take().expect("a Start first").finish(&fin).unwrap();
                // The lock took the identity; its PairDone is lost.
                break Taken {
                    lock_id: String::from_utf8(paired.lock_id.to_vec()).unwrap(),
                    root: paired.root,
                    server_key: paired.server_key,
                };
            }
            _ => {}
        }
    };
    let refused = pairing
        .await
        .unwrap()
        .expect_err("the server gives up without PairDone");
    assert_eq!(refused.status(), Some(422), "{refused}");
    assert!(owner.locks().await.unwrap().is_empty(), "the server kept no lock");
    drop(raw);

    // The lock presents itself under the id it took: its login is admitted (on the embedded
    // broker because the server remembers the id), its Hello answered with Unpair.
    let lid = taken.lock_id.clone();
    let password = broker::lock_password(&taken.root, &lid);
    let mut raw = Raw::connect(
        &w,
        &client_id,
        &lid,
        password.as_str(),
        topics::lock_down(&lid).unwrap().as_str(),
    )
    .await;
    let keys = LinkKeys::derive(&taken.root, lid.as_bytes());
    let hello = Up::Hello(Hello {
        nonce: random::<16>(),
        applied_version: 0,
        next_event_seq: 1,
        time_trusted: true,
        clock: now(),
    });
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let header = Header {
        seq: 1,
        expires: now() + 60,
    };
    let n = seal_up(
        &key,
        Protection::Encrypted(&keys),
        lid.as_bytes(),
        header,
        &hello,
        &mut buf,
    )
    .unwrap();
    raw.publish(topics::lock_up(&lid).unwrap().as_str(), buf[..n].to_vec())
        .await;
    let (_, mut message) = raw.recv("the server's answer to the Hello", 10).await;
    let opened = open_down(
        &mut message,
        lid.as_bytes(),
        &taken.server_key,
        Protection::Encrypted(&keys),
        &mut ReplayWindow::new(),
        Clock::Trusted(now()),
    )
    .expect("a message from the server, for this lock");
    assert!(matches!(opened.body, Down::Unpair), "{:?}", opened.body);
    assert!(
        opened.header.seq > 1 << 63,
        "an Unpair takes a number above the command counter"
    );
    w.stop().await;
}

/// The server's signing key, from its data folder.
fn server_key(w: &World) -> SigningKey {
    let text = std::fs::read_to_string(w.dir.path().join("server").join("server-key")).unwrap();
    SigningKey::from_bytes(&hex::decode(text.trim()).unwrap().try_into().unwrap())
}

/// Plays the server's side of a pairing with the virtual lock over the embedded broker (as the
/// server's own login) and hands it `lock_id`; `record` is called with what the server would
/// record before sending the Finish. Returns once the lock took the identity.
async fn hand_over_an_id(w: &World, lock_id: &str, signer: &SigningKey, record: Option<(i64, &Store)>) {
    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.status().await;
        (s["online"] == true && s["paired"] == false).then_some(s)
    })
    .await;
    let digits: String = status["setup_code"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let code = SetupCode::parse(&digits).unwrap();
    let d = code.discriminator();
    let sniffer = Sniffer::start(w, topics::pairing_up(d).unwrap().as_str()).await;
    let session = random::<16>();
    let seed = random::<32>();
    let (_, start) = ServerPairing::start(&code, session, seed);
    let mut buf = [0u8; 512];
    let n = encode_pairing(&Pairing::Start(start), &mut buf).unwrap();
    let down = topics::pairing_down(d).unwrap().to_string();
    sniffer.publish(&down, buf[..n].to_vec()).await;
    let reply = eventually("the lock's PairReply", 10, || async {
        sniffer.seen().into_iter().find_map(|(_, p)| match decode_pairing(&p) {
            Ok(Pairing::Reply(r)) if r.session == session => Some(p.clone()),
            _ => None,
        })
    })
    .await;
    let Ok(Pairing::Reply(reply)) = decode_pairing(&reply) else {
        unreachable!()
    };
    let root = RootSecret(random::<32>());
    let (server, _) = ServerPairing::start(&code, session, seed);
    let confirmed = server
        .finish(&reply, lock_id.as_bytes(), &signer.verifying_key(), &root)
        .unwrap();
    if let Some((created_at, store)) = record {
        let t = Tombstone {
            lock_id: lock_id.to_string(),
            serial: reply.serial.to_string(),
            device_key: confirmed.lock_key.to_bytes(),
            root_secret: LockSecret(root),
            state: TombstoneState::Pending,
            unpair_seq: 0,
            created_at,
        };
        let mut tx = store.begin().await.unwrap();
        store::put_tombstone(&mut tx, &t).await.unwrap();
        tx.commit().await.unwrap();
    }
    let n = encode_pairing(&Pairing::Finish(confirmed.finish), &mut buf).unwrap();
    sniffer.publish(&down, buf[..n].to_vec()).await;
    eventually("the lock to take the identity", 10, || async {
        let s = w.status().await;
        (s["paired"] == true && s["lock_id"] == lock_id).then_some(s)
    })
    .await;
}

/// The server recorded the pairing as pending and sent the Finish, then stopped (the record
/// stays pending); the lock restarts meanwhile. The lock keeps the identity as provisional
/// across its restart and keeps saying Hello; the server leaves it alone while the pairing may
/// still finish, then gives the pairing up and tells it `Unpair`; the lock is back to pairing
/// with a new setup code and pairs for real.
async fn pending_pairing_left_by_a_stopped_server() {
    let mut w = World::start(Broker::Embedded, false).await;
    let owner = w.sign_in(OWNER).await;
    let old_code = w.status().await["setup_code"].clone();
    let lid = format!("lk_{}", hex::encode(random::<10>()));
    let signer = server_key(&w);
    let store = w.server().domain.store.clone();
    let offered = jiff::Timestamp::now().as_millisecond();
    hand_over_an_id(&w, &lid, &signer, Some((offered, &store))).await;
    assert_eq!(
        w.status().await["pairing_confirmed"],
        false,
        "provisional until confirmed"
    );

    w.restart_lock().await;
    let s = eventually("the restarted lock online under the id it took", 20, || async {
        let s = w.status().await;
        (s["online"] == true && s["broker_user"] == lid.as_str()).then_some(s)
    })
    .await;
    assert_eq!(s["pairing_confirmed"], false, "{s}");
    // Within the pending window the server does not tell it anything.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let s = w.status().await;
    assert_eq!(s["paired"], true, "told before the pairing was given up: {s}");

    // Once the pairing may no longer finish (30 s), the next Hello is answered with Unpair.
    let s = eventually("the lock back to pairing", 45, || async {
        let s = w.status().await;
        (s["paired"] == false && s["online"] == true).then_some(s)
    })
    .await;
    assert_ne!(s["setup_code"], old_code, "a new setup code");
    {
        let mut c = store.read().await.unwrap();
        let t = store::tombstone(&mut c, &lid)
            .await
            .unwrap()
            .expect("the id is remembered");
        assert_eq!(t.state, TombstoneState::Abandoned);
        assert!(store::lock_by_id(&mut c, &lid).await.unwrap().is_none());
    }
    let real = w.pair(&owner).await;
    assert_ne!(real, lid);
    assert_eq!(w.status().await["pairing_confirmed"], true);
    w.stop().await;
}

/// A lock handed an id its server neither keeps nor remembers (as from a server whose database
/// lost the pending record): the broker refuses the login, and the lock, provisional, returns to
/// pairing by itself after the bounded time, then pairs for real.
async fn unknown_id_refused_by_the_broker() {
    let w = World::start(Broker::Embedded, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = format!("lk_{}", hex::encode(random::<10>()));
    let signer = server_key(&w);
    let t0 = std::time::Instant::now();
    hand_over_an_id(&w, &lid, &signer, None).await;
    let s = eventually("the lock back to pairing by itself", 60, || async {
        let s = w.status().await;
        (s["paired"] == false && s["online"] == true).then_some(s)
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(20),
        "it gives the identity up only after being refused for 20 s"
    );
    assert!(s["setup_code"].is_string(), "{s}");
    let real = w.pair(&owner).await;
    assert_ne!(real, lid);
    w.stop().await;
}

/// An Admin unpairs the lock while it is offline (the Unpair sent then reaches nobody): when
/// the lock comes back it is told, returns to pairing, and can be paired again.
async fn a_lock_unpaired_while_offline_is_told_on_reconnect_and_pairs_again(b: Broker) {
    let w = World::start(b, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    w.wait_synced(&owner, &lid, 20).await;
    w.network(false).await;
    eventually("the server to show the lock offline", 20, || async {
        let l = owner.lock(&lid).await.ok()?;
        (!l.online).then_some(())
    })
    .await;
    owner.delete_lock(&lid).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.status().await["paired"], true, "offline: it could not hear it");
    w.network(true).await;
    let s = eventually("the lock told on reconnect, back to pairing", 30, || async {
        let s = w.status().await;
        (s["paired"] == false && s["online"] == true).then_some(s)
    })
    .await;
    assert!(s["setup_code"].is_string(), "{s}");
    let again = w.pair(&owner).await;
    assert_ne!(again, lid);
    w.stop().await;
}

// ------------------------------------------------------------------------------ the store

async fn stores() -> Vec<(String, Store, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    out.push(("sqlite".to_string(), Store::open(&url).await.expect("open sqlite"), dir));
    if let Some(db) = FreshDb::if_configured("tombstones").await {
        let dir = tempfile::tempdir().expect("temp dir");
        out.push((
            "postgres".to_string(),
            Store::open(&db.url).await.expect("open postgres"),
            dir,
        ));
    }
    out
}

fn pending(id: &str, created_at: i64) -> Tombstone {
    Tombstone {
        lock_id: id.into(),
        serial: format!("serial-{id}"),
        device_key: [3; 32],
        root_secret: LockSecret(RootSecret([4; 32])),
        state: TombstoneState::Pending,
        unpair_seq: 0,
        created_at,
    }
}

/// Keeping a pairing and giving it up are conditional changes of one row: whichever comes
/// first wins, and the other learns it lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeping_and_giving_up_a_pairing_exclude_each_other() {
    for (name, s, _dir) in stores().await {
        let mut tx = s.begin().await.unwrap();
        store::put_tombstone(&mut tx, &pending("a", 1_000)).await.unwrap();
        store::put_tombstone(&mut tx, &pending("b", 1_000)).await.unwrap();
        // Too young to be given up by age.
        assert!(
            !store::abandon_pairing(&mut tx, "a", Some(1_000)).await.unwrap(),
            "{name}"
        );
        // Given up, then not kept.
        assert!(
            store::abandon_pairing(&mut tx, "a", Some(1_001)).await.unwrap(),
            "{name}"
        );
        assert!(!store::keep_pairing(&mut tx, "a").await.unwrap(), "{name}");
        assert_eq!(
            store::tombstone(&mut tx, "a").await.unwrap().unwrap().state,
            TombstoneState::Abandoned,
            "{name}"
        );
        // Kept, then there is nothing left to give up.
        assert!(store::keep_pairing(&mut tx, "b").await.unwrap(), "{name}");
        assert!(store::tombstone(&mut tx, "b").await.unwrap().is_none(), "{name}");
        assert!(!store::abandon_pairing(&mut tx, "b", None).await.unwrap(), "{name}");
        // No record at all (a gateway that keeps none): kept.
        assert!(store::keep_pairing(&mut tx, "c").await.unwrap(), "{name}");
        // Unpair numbers are handed out once each.
        assert_eq!(store::next_unpair_seq(&mut tx, "a").await.unwrap(), Some(1), "{name}");
        assert_eq!(store::next_unpair_seq(&mut tx, "a").await.unwrap(), Some(2), "{name}");
        assert_eq!(store::next_unpair_seq(&mut tx, "b").await.unwrap(), None, "{name}");
        assert_eq!(store::purge_tombstones(&mut tx, 1_001).await.unwrap(), 1, "{name}");
        assert!(store::tombstone(&mut tx, "a").await.unwrap().is_none(), "{name}");
        tx.commit().await.unwrap();
    }
}

/// With per-lock logins on Mosquitto (`--mqtt-dynsec`): a lock unpaired while offline keeps its
/// login until it is told, so it can log in on reconnect, is told `Unpair`, returns to pairing,
/// and its login is deleted then.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_dynsec_a_lock_unpaired_while_offline_is_told_on_reconnect() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = device_kit::free_port();
    let Some(_mosquitto) = crate::broker_dynsec::start_mosquitto(dir.path(), port) else {
        return;
    };
    let data = dir.path().join("server");
    let server = crate::broker_dynsec::dynsec_server(&data, port, "admin", "admin-password").await;
    let http = reqwest::Client::new();
    let lock = latchkey_vlock::start(latchkey_vlock::Options {
        state: dir.path().join("lock.state"),
        broker_host: "127.0.0.1".into(),
        broker_port: port,
        control: Some("127.0.0.1:0".parse().unwrap()),
        fake_clock: false,
        relock: Duration::from_secs(1),
    })
    .await
    .expect("virtual lock starts");
    let lock_base = format!("http://{}", lock.control_addr.unwrap());
    let status_url = format!("{lock_base}/status");
    let (client, url) = (&http, status_url.as_str());
    let status = move || async move { device_kit::get_json(client, url).await };
    let setup_code = eventually("the lock online as pairing (the server provisioned it)", 30, || async {
        let s = status().await;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;
    let api = latchkey_client::Client::new(format!("http://{}", server.addr));
    let owner = device_kit::sign_in(&api, &data.join("outbox.jsonl"), OWNER).await;
    let lid = owner
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing")
        .id;
    eventually("the lock online under its own login, confirmed", 20, || async {
        let s = status().await;
        (s["broker_user"] == lid.as_str() && s["pairing_confirmed"] == true).then_some(())
    })
    .await;

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("lock.state")).unwrap()).unwrap();
    let root: [u8; 32] = hex::decode(state["paired"]["root"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let password = broker::lock_password(&RootSecret(root), &lid);
    let client_id = format!("lk-{}", state["serial"].as_str().unwrap());
    device_kit::post_json(
        &http,
        &format!("{lock_base}/network"),
        serde_json::json!({ "online": false }),
    )
    .await;
    eventually("the server to show the lock offline", 20, || async {
        let l = owner.lock(&lid).await.ok()?;
        (!l.online).then_some(())
    })
    .await;
    owner.delete_lock(&lid).await.unwrap();
    // Longer than the 2 s after which a lock shown online loses its login.
    tokio::time::sleep(Duration::from_secs(3)).await;
    device_kit::post_json(
        &http,
        &format!("{lock_base}/network"),
        serde_json::json!({ "online": true }),
    )
    .await;
    eventually("the lock told on reconnect, back to pairing", 30, || async {
        let s = status().await;
        (s["paired"] == false && s["online"] == true).then_some(())
    })
    .await;
    eventually("the unpaired lock's login deleted once it was told", 10, || async {
        let (_, code) = crate::broker_rules::Raw::connect(port, &client_id, &lid, password.as_str()).await;
        (code != rumqttc::ConnectReturnCode::Success).then_some(())
    })
    .await;
    drop(lock);
    server.stop().await;
}
