//! Each login reaches its own topics on the embedded broker (`docs/design/broker-auth.md`,
//! issue 15): a watcher with the public `pairing` login, subscribed to everything it can name,
//! sees the pairing exchange and nothing of the paired lock (syncs with PINs, remote unlocks,
//! keypad entries, presence), while the server's own login sees that traffic; nobody but the lock
//! can use its client id or publish on its `up` topic, and the lock keeps working through such
//! attempts; failed logins from one address are throttled without slowing other addresses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_client::model::AccessLevel;
use latchkey_protocol::{broker, topics};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::device_kit::{Broker, FAMILY, OWNER, Sniffer, World, eventually};

const FAMILY_PIN: &str = "58203719";

/// (topic, payload) of every message received.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A raw MQTT client with some login; what it received, and whether its connection is up.
pub(crate) struct Raw {
    client: AsyncClient,
    seen: Seen,
    suback: Arc<Mutex<Vec<SubscribeReasonCode>>>,
    /// Whether the connection ended.
    pub(crate) closed: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Raw {
    /// Connects once (no reconnection) as `user` with `client_id`; returns the CONNACK code.
    pub(crate) async fn connect(port: u16, client_id: &str, user: &str, password: &str) -> (Raw, ConnectReturnCode) {
        let mut mo = MqttOptions::new(client_id, "127.0.0.1", port);
        mo.set_keep_alive(Duration::from_secs(5));
        mo.set_max_packet_size(70_000, 70_000);
        mo.set_credentials(user, password);
        let (client, mut events) = AsyncClient::new(mo, 64);
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let suback = Arc::new(Mutex::new(Vec::new()));
        let (connack_tx, mut connack) = tokio::sync::watch::channel(None);
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let (s, a) = (seen.clone(), suback.clone());
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        let _ = connack_tx.send(Some(ack.code));
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        s.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => a.lock().unwrap().extend(ack.return_codes),
                    Ok(_) => {}
                    Err(e) => {
                        if let rumqttc::ConnectionError::ConnectionRefused(code) = e {
                            let _ = connack_tx.send(Some(code));
                        }
                        let _ = closed_tx.send(true);
                        return;
                    }
                }
            }
        });
        let code = tokio::time::timeout(Duration::from_secs(10), connack.wait_for(Option::is_some))
            .await
            .expect("a CONNACK within 10 s")
            .expect("the client task answers")
            .expect("a code");
        let raw = Raw {
            client,
            seen,
            suback,
            closed,
            task,
        };
        (raw, code)
    }

    /// Subscribes to each filter in turn; returns the SUBACK code of each.
    pub(crate) async fn subscribe_each(&self, filters: &[&str]) -> Vec<SubscribeReasonCode> {
        let before = self.suback.lock().unwrap().len();
        for (i, f) in filters.iter().enumerate() {
            self.client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
            eventually(&format!("the SUBACK for {f}"), 10, || async {
                (self.suback.lock().unwrap().len() > before + i).then_some(())
            })
            .await;
        }
        self.suback.lock().unwrap()[before..].to_vec()
    }

    pub(crate) fn seen(&self) -> Vec<(String, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn granted(code: &SubscribeReasonCode) -> bool {
    matches!(code, SubscribeReasonCode::Success(_))
}

/// Four remote unlocks in a row, each answered 200, the bolt re-locking in between.
async fn four_remote_unlocks(w: &World, owner: &latchkey_client::Client, lid: &str) {
    for i in 0..4 {
        owner
            .unlock(lid)
            .await
            .unwrap_or_else(|e| panic!("remote unlock {i}: {e}"));
        w.wait_locked().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pairing_login_sees_nothing_of_a_paired_lock() {
    let w = World::start(Broker::Embedded, false).await;
    let port = w.broker_port;

    // The server's own login sees the lock's traffic: there is something to hide.
    let server_view = Sniffer::start(&w, "latchkey/v1/locks/+/+").await;

    // The watcher: the public pairing login, asking for everything before pairing begins.
    let (watcher, code) = Raw::connect(port, "watcher", broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD).await;
    assert_eq!(code, ConnectReturnCode::Success);
    let refused = [
        "#",
        "latchkey/#",
        "latchkey/v1/#",
        "latchkey/v1/locks/#",
        "latchkey/v1/locks/+/up",
        "latchkey/v1/locks/+/down",
        "+/+/+/+/+",
        "$share/g/latchkey/v1/locks/+/up",
        "$share/latchkey/latchkey/v1/locks/+/down",
        "latchkey/v1/pair/+/up",
    ];
    let codes = watcher.subscribe_each(&refused).await;
    for (f, c) in refused.iter().zip(&codes) {
        assert!(!granted(c), "the pairing login was granted {f}: {c:?}");
    }
    // What it may read: the pairing topics' down side (public by design).
    let codes = watcher.subscribe_each(&["latchkey/v1/pair/+/down"]).await;
    assert!(granted(&codes[0]), "{codes:?}");

    // Pairing, a member with a PIN synced, remote unlocks, keypad entries.
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    w.add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(FAMILY_PIN))
        .await;
    w.wait_synced(&owner, &lid, 20).await;
    four_remote_unlocks(&w, &owner, &lid).await;
    let r = w.keypad(&format!("{FAMILY_PIN}#")).await;
    assert_eq!(r["outcome"], "granted", "{r}");
    w.wait_locked().await;
    let r = w.keypad("000000#").await;
    assert_eq!(r["outcome"], "denied", "{r}");
    // The lock drops off and comes back (its will, its Hello).
    w.network(false).await;
    w.network(true).await;
    owner.unlock(&lid).await.expect("remote unlock after the reconnection");
    w.wait_locked().await;

    // The server saw all of it.
    let lock_prefix = format!("latchkey/v1/locks/{lid}/");
    let server_seen = server_view.seen();
    assert!(
        server_seen.iter().filter(|(t, _)| t.starts_with(&lock_prefix)).count() >= 10,
        "the server's login should see the lock's traffic: {} messages",
        server_seen.len()
    );
    // The watcher saw the pairing exchange and nothing else.
    let seen = watcher.seen();
    assert!(
        seen.iter().any(|(t, _)| t.starts_with("latchkey/v1/pair/")),
        "the watcher should see the (public) pairing exchange"
    );
    let leaked: Vec<&String> = seen
        .iter()
        .map(|(t, _)| t)
        .filter(|t| !t.starts_with("latchkey/v1/pair/") || !t.ends_with("/down"))
        .collect();
    assert!(leaked.is_empty(), "the pairing login read {leaked:?}");
    assert!(!*watcher.closed.borrow(), "the watcher stays connected (it only asked)");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_but_the_lock_uses_its_client_id_or_its_up_topic() {
    let w = World::start(Broker::Embedded, false).await;
    let port = w.broker_port;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    let serial = w.status().await["serial"].as_str().unwrap().to_string();
    let lock_client_id = format!("lk-{serial}");

    // Taking the lock's client id with the public login is refused, again and again.
    for _ in 0..3 {
        let (_raw, code) = Raw::connect(
            port,
            &lock_client_id,
            broker::PAIRING_USERNAME,
            broker::PAIRING_PASSWORD,
        )
        .await;
        assert_eq!(
            code,
            ConnectReturnCode::NotAuthorized,
            "the lock's client id under `pairing`"
        );
    }
    // The lock was not kicked off: every remote unlock is carried out.
    four_remote_unlocks(&w, &owner, &lid).await;
    assert_eq!(w.status().await["online"], true);

    // Publishing on the lock's up topic (its "went offline" will, empty) or its down topic with
    // another login: the message goes nowhere and the client is disconnected.
    let up = topics::lock_up(&lid).unwrap().to_string();
    let down = topics::lock_down(&lid).unwrap().to_string();
    for topic in [&up, &down] {
        let (raw, code) = Raw::connect(port, "intruder", broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD).await;
        assert_eq!(code, ConnectReturnCode::Success);
        raw.client
            .publish(topic.as_str(), QoS::AtLeastOnce, false, Vec::<u8>::new())
            .await
            .unwrap();
        let mut closed = raw.closed.clone();
        tokio::time::timeout(Duration::from_secs(10), closed.wait_for(|c| *c))
            .await
            .unwrap_or_else(|_| panic!("a publish on {topic} by `pairing` should end its connection"))
            .unwrap();
    }
    // The lock is still online for the server, and answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let l = owner.lock(&lid).await.unwrap();
    assert!(
        l.online,
        "an empty message on the up topic by someone else must not mark the lock offline"
    );
    four_remote_unlocks(&w, &owner, &lid).await;
    w.wait_access_events(&owner, &lid, "remote", 8).await;
    w.stop().await;
}

/// One CONNECT from `source` (a loopback address of its own) to the broker; the CONNACK's
/// return code, or `None` when the broker closed the connection without one.
async fn connect_from(source: &str, port: u16, client_id: &str, user: &str, password: &str) -> Option<u8> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    let field = |s: &str| {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    };
    let mut body = field("MQTT");
    body.extend_from_slice(&[4, 0xC2, 0, 30]);
    for s in [client_id, user, password] {
        body.extend(field(s));
    }
    assert!(body.len() < 128, "one-byte remaining length");
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    stream.write_all(&packet).await.unwrap();
    let mut ack = [0u8; 4];
    match tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut ack)).await {
        Ok(Ok(_)) => {
            assert_eq!(&ack[..3], &[0x20, 2, 0], "a CONNACK");
            Some(ack[3])
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_per_address() {
    let w = World::start(Broker::Embedded, false).await;
    let port = w.broker_port;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    let (user, password) = (broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD);

    // A good login from 127.0.0.2 first: accepted (code 0).
    assert_eq!(
        connect_from("127.0.0.2", port, "probe-a", user, password).await,
        Some(0)
    );
    // 30 wrong passwords from there, as fast as it goes: the first few are checked (code 4),
    // then the address is refused without a check (code 5).
    let started = std::time::Instant::now();
    let mut codes = Vec::new();
    for i in 0..30 {
        codes.push(connect_from("127.0.0.2", port, &format!("probe-b{i}"), user, "wrong").await);
    }
    let checked = codes.iter().filter(|c| **c == Some(4)).count();
    assert!(
        (5..=12).contains(&checked),
        "about 10 bad logins checked before the limit, then refused: {codes:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(codes.last(), Some(&Some(5)), "{codes:?}");
    // While it is limited, even the right password from that address is refused ...
    assert_eq!(
        connect_from("127.0.0.2", port, "probe-c", user, password).await,
        Some(5)
    );
    // ... but other addresses are not: a login from 127.0.0.3, and the lock itself.
    assert_eq!(
        connect_from("127.0.0.3", port, "probe-d", user, password).await,
        Some(0)
    );
    owner
        .unlock(&lid)
        .await
        .expect("remote unlock while another address is limited");
    w.wait_locked().await;
    // The limit wears off (one login a second comes back).
    eventually("the limited address to be admitted again", 10, || async {
        (connect_from("127.0.0.2", port, "probe-e", user, password).await == Some(0)).then_some(())
    })
    .await;
    w.stop().await;
}
