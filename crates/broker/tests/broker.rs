//! The broker with real `rumqttc` 0.25 clients (the server's and the virtual lock's client)
//! over TCP and TLS, and raw sockets for what such clients never send.

mod kit;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kit::*;
use latchkey_broker::{Config, DisconnectReason, LoginRateLimit, Qos};
use rumqttc::mqttbytes::v4::{LastWill, Packet};
use rumqttc::{ConnectReturnCode, QoS, SubscribeReasonCode};
use tokio::io::AsyncWriteExt;

const QUIET: Duration = Duration::from_millis(300);

fn granted() -> SubscribeReasonCode {
    SubscribeReasonCode::Success(QoS::AtLeastOnce)
}

#[tokio::test]
async fn the_pairing_login_sees_nothing_of_paired_locks() {
    let (_broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    let (lock_a, pw_a) = lock_login("lk_a");
    let (mut lock, _) = TestClient::connect(options(addr, "lk-1", (&lock_a, &pw_a))).await;
    let (mut pairing, _) = TestClient::connect(options(addr, "lk-2", PAIRING)).await;

    for filter in [
        "#",
        "latchkey/#",
        "latchkey/v1/locks/+/down",
        "latchkey/v1/locks/lk_a/down",
        "latchkey/v1/locks/lk_a/up",
        "$share/g/latchkey/v1/locks/+/up",
        "$share/g/latchkey/v1/pair/+/down",
        "latchkey/v1/pair/+/up",
    ] {
        assert_eq!(
            pairing.subscribe(filter).await,
            SubscribeReasonCode::Failure,
            "{filter}"
        );
    }
    assert_eq!(pairing.subscribe("latchkey/v1/pair/123/down").await, granted());
    assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());

    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"sync with pins".to_vec())
        .await
        .unwrap();
    assert_eq!(&lock.message().await.payload[..], b"sync with pins");
    lock.client
        .publish(up("lk_a"), QoS::AtLeastOnce, false, b"ack".to_vec())
        .await
        .unwrap();
    assert_eq!(&server.message().await.payload[..], b"ack");
    server
        .client
        .publish(
            "latchkey/v1/pair/123/down",
            QoS::AtLeastOnce,
            false,
            b"pairing".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(&pairing.message().await.payload[..], b"pairing");
    pairing.no_message(QUIET).await;
}

#[tokio::test]
async fn a_lock_reads_only_its_down_topic_and_writes_only_its_up_topic() {
    let (broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let (mut lock_a, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    assert_eq!(lock_a.subscribe(&down("lk_b")).await, SubscribeReasonCode::Failure);
    assert_eq!(
        lock_a.subscribe("latchkey/v1/locks/+/down").await,
        SubscribeReasonCode::Failure
    );
    assert_eq!(lock_a.subscribe(&up("lk_a")).await, SubscribeReasonCode::Failure);
    assert_eq!(lock_a.subscribe(&down("lk_a")).await, granted());

    // Its own up topic reaches the server.
    lock_a
        .client
        .publish(up("lk_a"), QoS::AtLeastOnce, false, b"mine".to_vec())
        .await
        .unwrap();
    let got = server.message().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        (up("lk_a").as_str(), &b"mine"[..])
    );

    // Another lock's up topic (an empty message there would mark it offline): dropped, and the
    // publisher is disconnected.
    lock_a
        .client
        .publish(up("lk_b"), QoS::AtLeastOnce, false, Vec::new())
        .await
        .unwrap();
    lock_a.ended().await;
    server.no_message(QUIET).await;
    assert_eq!(disconnects_of(&broker, "lk-a"), vec![DisconnectReason::Denied]);

    // The down topic of any lock is the server's to write.
    let (mut lock_a, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    lock_a
        .client
        .publish(down("lk_a"), QoS::AtMostOnce, false, b"forged".to_vec())
        .await
        .unwrap();
    lock_a.ended().await;
}

#[tokio::test]
async fn a_will_on_someone_elses_topic_is_refused_at_connect() {
    let (broker, addr) = start(config()).await;
    let (a, pw_a) = lock_login("lk_a");
    let mut mo = options(addr, "lk-a", (&a, &pw_a));
    mo.set_last_will(rumqttc::LastWill::new(up("lk_b"), Vec::new(), QoS::AtLeastOnce, false));
    assert_eq!(TestClient::start(mo).refused().await, ConnectReturnCode::NotAuthorized);
    let mut mo = options(addr, "lk-a", (&a, &pw_a));
    mo.set_last_will(rumqttc::LastWill::new(up("lk_a"), Vec::new(), QoS::AtLeastOnce, false));
    TestClient::connect(mo).await;
    assert_eq!(broker.stats().sessions, 1);
}

#[tokio::test]
async fn logins_are_checked_and_refusals_carry_the_right_code() {
    let (broker, addr) = start(Config {
        auth_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let cases = [
        (("latchkey-server", "wrong"), ConnectReturnCode::BadUserNamePassword),
        (("lk_a", "pw-lk_b"), ConnectReturnCode::BadUserNamePassword),
        (("nobody", "x"), ConnectReturnCode::BadUserNamePassword),
        ((DB_DOWN, "x"), ConnectReturnCode::ServiceUnavailable),
        ((SLOW, "x"), ConnectReturnCode::ServiceUnavailable),
    ];
    for (login, code) in cases {
        assert_eq!(
            TestClient::start(options(addr, "c", login)).refused().await,
            code,
            "{login:?}"
        );
    }
    // No credentials at all.
    let mut mo = options(addr, "c", ("", ""));
    mo.set_credentials("", "");
    assert_eq!(
        TestClient::start(mo).refused().await,
        ConnectReturnCode::BadUserNamePassword
    );
    // MQTT 5 and MQTT 3.1 are not spoken.
    for (name, level) in [("MQTT", 5u8), ("MQIsdp", 3u8)] {
        let mut s = raw(addr, None).await;
        let mut packet = vec![0x10, 0];
        packet.extend_from_slice(&(name.len() as u16).to_be_bytes());
        packet.extend_from_slice(name.as_bytes());
        packet.extend_from_slice(&[level, 0x02, 0, 30, 0, 1, b'x']);
        packet[1] = (packet.len() - 2) as u8;
        s.send(&packet).await;
        match s.packet(Duration::from_secs(5)).await {
            Some(Packet::ConnAck(a)) => assert_eq!(a.code, ConnectReturnCode::RefusedProtocolVersion),
            other => panic!("{name} {level}: {other:?}"),
        }
    }
    assert_eq!(broker.stats().sessions, 0);
}

#[tokio::test]
async fn another_login_cannot_take_over_a_client_id_but_the_same_login_can() {
    let (broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let with_will = |mo: &mut rumqttc::MqttOptions| {
        mo.set_last_will(rumqttc::LastWill::new(up("lk_a"), Vec::new(), QoS::AtLeastOnce, false));
    };
    let mut mo = options(addr, "lk-serial-1", (&a, &pw_a));
    with_will(&mut mo);
    let (mut lock, _) = TestClient::connect(mo).await;
    assert_eq!(lock.subscribe(&down("lk_a")).await, granted());

    // The public pairing login and another lock use the lock's client id: each gets a session
    // of its own, the lock stays connected and keeps receiving.
    let (_squatter, ack) = TestClient::connect(options(addr, "lk-serial-1", PAIRING)).await;
    assert!(!ack.session_present);
    let (b, pw_b) = lock_login("lk_b");
    let (_other_lock, _) = TestClient::connect(options(addr, "lk-serial-1", (&b, &pw_b))).await;
    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"still here".to_vec())
        .await
        .unwrap();
    assert_eq!(&lock.message().await.payload[..], b"still here");
    assert_eq!(disconnects_of(&broker, "lk-serial-1"), vec![]);
    assert_eq!(broker.stats().sessions, 4);

    // The lock itself connecting again takes its session over; the old connection is closed
    // without its will (its client is back), and presence sees the old one leave first.
    let mut mo = options(addr, "lk-serial-1", (&a, &pw_a));
    with_will(&mut mo);
    let (_lock_again, _) = TestClient::connect(mo).await;
    lock.ended().await;
    server.no_message(QUIET).await;
    let seen = broker.hooks().seen.lock().unwrap().clone();
    let of_a: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Connected { user, .. } | Seen::Disconnected { user, .. } if user == "lk_a"))
        .collect();
    assert!(
        matches!(
            of_a.as_slice(),
            [
                Seen::Connected { conn: c1, .. },
                Seen::Disconnected { conn: d1, reason: DisconnectReason::Replaced, .. },
                Seen::Connected { conn: c2, .. },
            ] if c1 == d1 && c2 != c1
        ),
        "{of_a:?}"
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_without_slowing_other_addresses() {
    let (broker, addr) = start(Config {
        login_failures: LoginRateLimit {
            burst: 5,
            refill: Duration::from_secs(600),
            ..Default::default()
        },
        ..Config::default()
    })
    .await;
    let here: IpAddr = "127.0.0.1".parse().unwrap();
    let elsewhere: IpAddr = "127.0.0.2".parse().unwrap();
    let mut codes = Vec::new();
    for i in 0..100 {
        codes.push(raw_login(addr, Some(here), &format!("guess-{i}"), ("lk_a", "guess")).await);
    }
    let bad = Some(ConnectReturnCode::BadUserNamePassword);
    let limited = Some(ConnectReturnCode::NotAuthorized);
    assert_eq!(codes[..5], [bad; 5]);
    assert!(codes[5..].iter().all(|c| *c == limited), "{codes:?}");
    // Only the first five reached the check (which may cost a database read).
    assert_eq!(broker.hooks().auth_calls.load(Ordering::SeqCst), 5);
    // A good login from the limited address waits too; one from another address does not.
    let (a, pw_a) = lock_login("lk_a");
    assert_eq!(raw_login(addr, Some(here), "lk-1", (&a, &pw_a)).await, limited);
    assert_eq!(
        raw_login(addr, Some(elsewhere), "lk-1", (&a, &pw_a)).await,
        Some(ConnectReturnCode::Success)
    );
    // "Server unavailable" is not the client's fault and does not count.
    assert_eq!(
        raw_login(addr, Some(elsewhere), "x", (DB_DOWN, "x")).await,
        Some(ConnectReturnCode::ServiceUnavailable)
    );
    for _ in 0..10 {
        raw_login(addr, Some(elsewhere), "x", (DB_DOWN, "x")).await;
    }
    assert_eq!(
        raw_login(addr, Some(elsewhere), "lk-2", (&a, &pw_a)).await,
        Some(ConnectReturnCode::Success)
    );
}

#[tokio::test]
async fn the_will_is_published_on_an_abnormal_end_only() {
    let (broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let (b, pw_b) = lock_login("lk_b");
    let will = |id: &str| rumqttc::LastWill::new(up(id), b"gone".to_vec(), QoS::AtLeastOnce, false);

    // A clean DISCONNECT: no will.
    let mut mo = options(addr, "lk-a", (&a, &pw_a));
    mo.set_last_will(will("lk_a"));
    let (lock, _) = TestClient::connect(mo).await;
    lock.client.disconnect().await.unwrap();
    wait_seen(&broker, "a clean disconnect", |s| {
        s.iter().any(|e| {
            matches!(
                e,
                Seen::Disconnected {
                    reason: DisconnectReason::Clean,
                    ..
                }
            )
        })
    })
    .await;
    server.no_message(QUIET).await;

    // The connection drops: the will goes out.
    let mut mo = options(addr, "lk-b", (&b, &pw_b));
    mo.set_last_will(will("lk_b"));
    let (lock, _) = TestClient::connect(mo).await;
    lock.kill().await;
    let got = server.message().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        (up("lk_b").as_str(), &b"gone"[..])
    );
    assert_eq!(disconnects_of(&broker, "lk-b"), vec![DisconnectReason::Closed]);
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_one_and_a_half_keep_alives_and_its_will_published() {
    let (broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let will = LastWill::new(up("lk_a"), b"timed out".to_vec(), QoS::AtLeastOnce, false);
    let mut s = raw(addr, None).await;
    s.send(&connect_packet("lk-a", Some((&a, &pw_a)), 1, Some(will))).await;
    match s.packet(Duration::from_secs(5)).await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.code, ConnectReturnCode::Success),
        other => panic!("{other:?}"),
    }
    let started = tokio::time::Instant::now();
    // Silent from now on: the broker closes the connection, after 1.5 s, not before.
    assert!(s.packet(Duration::from_secs(5)).await.is_none());
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    let got = server.message().await;
    assert_eq!(&got.payload[..], b"timed out");
    assert_eq!(
        disconnects_of(&broker, "lk-a"),
        vec![DisconnectReason::KeepAliveTimeout]
    );

    // A client that pings stays.
    let (mut lock, _) = TestClient::connect({
        let mut mo = options(addr, "lk-a", (&a, &pw_a));
        mo.set_keep_alive(Duration::from_secs(1));
        mo
    })
    .await;
    lock.no_message(Duration::from_secs(3)).await;
    assert_eq!(
        disconnects_of(&broker, "lk-a"),
        vec![DisconnectReason::KeepAliveTimeout]
    );
}

#[tokio::test]
async fn a_shared_subscription_gives_each_message_to_one_member() {
    let (broker, addr) = start(config()).await;
    let mut members = Vec::new();
    for i in 0..3 {
        let (mut m, _) = TestClient::connect(options(addr, &format!("server-{i}"), SERVER)).await;
        assert_eq!(m.subscribe("$share/servers/latchkey/v1/locks/+/up").await, granted());
        members.push(m);
    }
    // Pairing replies go to every instance (a plain subscription beside the group).
    let (mut everyone, _) = TestClient::connect(options(addr, "server-x", SERVER)).await;
    assert_eq!(everyone.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let (lock, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    for i in 0..30u8 {
        lock.client
            .publish(up("lk_a"), QoS::AtLeastOnce, false, vec![i])
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..30 {
        got.push(everyone.message().await.payload[0]);
    }
    assert_eq!(got, (0..30).collect::<Vec<u8>>());
    let mut all = Vec::new();
    for m in &mut members {
        let mut mine = Vec::new();
        while let Ok(p) = tokio::time::timeout(QUIET, m.message()).await {
            mine.push(p.payload[0]);
        }
        assert!(!mine.is_empty(), "every member gets a share");
        all.extend(mine);
    }
    all.sort();
    assert_eq!(all, (0..30).collect::<Vec<u8>>(), "each message to exactly one member");
    assert_eq!(broker.stats().dropped, 0);
}

#[tokio::test]
async fn unacknowledged_qos1_messages_are_sent_again_when_a_persistent_session_comes_back() {
    let (broker, addr) = start(config()).await;
    let (server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    let (a, pw_a) = lock_login("lk_a");
    let persistent = |manual_acks: bool| {
        let mut mo = options(addr, "lk-a", (&a, &pw_a));
        mo.set_clean_session(false);
        mo.set_manual_acks(manual_acks);
        mo
    };
    let (mut lock, ack) = TestClient::connect(persistent(true)).await;
    assert!(!ack.session_present);
    assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"one".to_vec())
        .await
        .unwrap();
    let first = lock.message().await;
    assert_eq!((&first.payload[..], first.dup), (&b"one"[..], false));
    // Not acknowledged; the lock goes away. Meanwhile a QoS 1 message is kept, a QoS 0 one
    // is not.
    lock.kill().await;
    wait_seen(&broker, "the lock leave", |s| {
        s.iter().any(|e| matches!(e, Seen::Disconnected { .. }))
    })
    .await;
    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"two".to_vec())
        .await
        .unwrap();
    server
        .client
        .publish(down("lk_a"), QoS::AtMostOnce, false, b"lost".to_vec())
        .await
        .unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(broker.stats().sessions, 2);

    let (mut lock, ack) = TestClient::connect(persistent(true)).await;
    assert!(ack.session_present);
    let again = lock.message().await;
    assert_eq!((&again.payload[..], again.dup), (&b"one"[..], true));
    let queued = lock.message().await;
    assert_eq!(&queued.payload[..], b"two");
    lock.client.ack(&again).await.unwrap();
    lock.client.ack(&queued).await.unwrap();
    lock.no_message(QUIET).await;
    lock.kill().await;

    // Both acknowledged: nothing comes again; the subscription is still there.
    let (mut lock, ack) = TestClient::connect(persistent(false)).await;
    assert!(ack.session_present);
    lock.no_message(QUIET).await;
    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"three".to_vec())
        .await
        .unwrap();
    assert_eq!(&lock.message().await.payload[..], b"three");

    // A clean session throws the old one away.
    lock.kill().await;
    let (mut lock, ack) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    assert!(!ack.session_present);
    server
        .client
        .publish(down("lk_a"), QoS::AtLeastOnce, false, b"four".to_vec())
        .await
        .unwrap();
    lock.no_message(QUIET).await;
}

#[tokio::test]
async fn a_persistent_session_is_kept_for_a_bounded_time_with_a_bounded_queue() {
    let (broker, addr) = start(Config {
        max_queued_messages: 5,
        session_expiry: Duration::from_millis(1500),
        max_persistent_sessions_per_login: 1,
        ..config()
    })
    .await;
    let (server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    let (a, pw_a) = lock_login("lk_a");
    let persistent = |id: &str| {
        let mut mo = options(addr, id, (&a, &pw_a));
        mo.set_clean_session(false);
        mo
    };
    let (mut lock, _) = TestClient::connect(persistent("lk-a")).await;
    assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
    // One persistent session per login here: a second client id is refused.
    assert_eq!(
        TestClient::start(persistent("lk-a-2")).refused().await,
        ConnectReturnCode::BadClientId
    );
    lock.client.disconnect().await.unwrap();
    lock.ended().await;
    for i in 0..20u8 {
        server
            .client
            .publish(down("lk_a"), QoS::AtLeastOnce, false, vec![i])
            .await
            .unwrap();
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(broker.stats().dropped, 15);
    let (mut lock, ack) = TestClient::connect(persistent("lk-a")).await;
    assert!(ack.session_present);
    for i in 0..5u8 {
        assert_eq!(lock.message().await.payload[..], [i]);
    }
    lock.no_message(QUIET).await;
    lock.client.disconnect().await.unwrap();
    lock.ended().await;
    assert_eq!(broker.stats().queued_bytes, 0);

    // After the expiry the session is gone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(broker.stats().sessions, 1, "only the server's");
    let (_lock, ack) = TestClient::connect(persistent("lk-a")).await;
    assert!(!ack.session_present);
}

#[tokio::test]
async fn qos2_publishes_are_delivered_once_at_qos1() {
    let (_broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let (lock, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    lock.client
        .publish(up("lk_a"), QoS::ExactlyOnce, false, b"exactly".to_vec())
        .await
        .unwrap();
    let got = server.message().await;
    assert_eq!((&got.payload[..], got.qos), (&b"exactly"[..], QoS::AtLeastOnce));
    server.no_message(QUIET).await;
}

#[tokio::test]
async fn the_embedder_can_publish_and_count() {
    let (broker, addr) = start(config()).await;
    let (a, pw_a) = lock_login("lk_a");
    let (mut lock, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
    assert_eq!(broker.publish(&down("lk_a"), &b"hello"[..], Qos::AtLeastOnce), Ok(1));
    assert_eq!(&lock.message().await.payload[..], b"hello");
    assert_eq!(broker.publish(&down("lk_b"), &b"nobody"[..], Qos::AtMostOnce), Ok(0));
    assert!(broker.publish("a/+", &b""[..], Qos::AtMostOnce).is_err());
    let stats = broker.stats();
    assert_eq!((stats.connections, stats.sessions, stats.subscriptions), (1, 1, 1));
}

#[tokio::test]
async fn stopping_closes_every_connection_and_the_listener() {
    let (broker, addr) = start(config()).await;
    let (mut server, _) = TestClient::connect(options(addr, "server", SERVER)).await;
    assert_eq!(server.subscribe("latchkey/v1/locks/+/up").await, granted());
    let (a, pw_a) = lock_login("lk_a");
    let mut mo = options(addr, "lk-a", (&a, &pw_a));
    mo.set_clean_session(false);
    mo.set_last_will(rumqttc::LastWill::new(up("lk_a"), Vec::new(), QoS::AtLeastOnce, false));
    let (mut lock, _) = TestClient::connect(mo).await;
    tokio::time::timeout(Duration::from_secs(5), broker.stop())
        .await
        .unwrap();
    server.ended().await;
    lock.ended().await;
    let stats = broker.stats();
    assert_eq!((stats.connections, stats.sessions, stats.subscriptions), (0, 0, 0));
    let mut reasons = disconnects_of(&broker, "server");
    reasons.extend(disconnects_of(&broker, "lk-a"));
    assert_eq!(reasons, vec![DisconnectReason::Stopped; 2]);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );
    assert!(broker.listen("127.0.0.1:0".parse().unwrap()).await.is_err());
}

#[tokio::test]
async fn packets_that_come_with_the_connect_are_handled_at_once() {
    let (_broker, addr) = start(config()).await;
    let (a, pw_a) = lock_login("lk_a");
    let mut s = raw(addr, None).await;
    let mut bytes = connect_packet("lk-a", Some((&a, &pw_a)), 30, None);
    let mut subscribe = bytes::BytesMut::new();
    rumqttc::mqttbytes::v4::Subscribe::new(down("lk_a"), QoS::AtLeastOnce)
        .write(&mut subscribe)
        .unwrap();
    bytes.extend_from_slice(&subscribe);
    bytes.extend_from_slice(&[0xC0, 0x00]); // PINGREQ
    s.send(&bytes).await;
    let within = Duration::from_secs(2);
    assert!(matches!(s.packet(within).await, Some(Packet::ConnAck(_))));
    assert!(matches!(s.packet(within).await, Some(Packet::SubAck(_))));
    assert!(matches!(s.packet(within).await, Some(Packet::PingResp)));
}

#[tokio::test]
async fn an_oversized_packet_closes_the_connection_before_its_body_is_read() {
    let (broker, addr) = start(Config {
        max_packet_size: 1024,
        ..config()
    })
    .await;
    let (a, pw_a) = lock_login("lk_a");
    let mut s = raw(addr, None).await;
    s.send(&connect_packet("lk-a", Some((&a, &pw_a)), 30, None)).await;
    assert!(matches!(
        s.packet(Duration::from_secs(5)).await,
        Some(Packet::ConnAck(_))
    ));
    // A PUBLISH announcing 1 MiB; only its header is sent.
    s.send(&[0x30, 0x80, 0x80, 0x40]).await;
    assert!(s.packet(Duration::from_secs(5)).await.is_none());
    assert_eq!(disconnects_of(&broker, "lk-a"), vec![DisconnectReason::ProtocolError]);
    // The same from rumqttc: a message larger than the limit.
    let (mut lock, _) = TestClient::connect(options(addr, "lk-a", (&a, &pw_a))).await;
    lock.client
        .publish(up("lk_a"), QoS::AtLeastOnce, false, vec![0u8; 4096])
        .await
        .unwrap();
    lock.ended().await;
    // A CONNECT over the limit gets no further.
    let mut s = raw(addr, None).await;
    s.send(&connect_packet(&"x".repeat(2000), Some((&a, &pw_a)), 30, None))
        .await;
    assert!(s.packet(Duration::from_secs(5)).await.is_none());
    assert_eq!(broker.hooks().auth_calls.load(Ordering::SeqCst), 2);
}

mod random_bytes {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    static BROKER_PANICS: AtomicUsize = AtomicUsize::new(0);

    /// Random bytes, alone or after a valid CONNECT, on raw sockets: the broker answers or
    /// closes, never panics, and keeps serving well-behaved clients.
    #[test]
    fn random_bytes_never_panic_the_broker() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("fuzzed-broker"))
            {
                BROKER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fuzzed-broker")
            .enable_all()
            .build()
            .unwrap();
        let (broker, addr) = rt.block_on(start(Config {
            max_packet_size: 4096,
            connect_timeout: Duration::from_millis(500),
            ..config()
        }));
        let (a, pw_a) = lock_login("lk_a");
        let hello = connect_packet("lk-fuzz", Some((&a, &pw_a)), 30, None);
        let cases = ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        // Either raw bytes, or packets with a right length and a random body (so that every
        // packet type's parser runs on garbage), after a valid CONNECT or not.
        let frames = proptest::collection::vec(
            (0u8..16, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..48)),
            1..8,
        )
        .prop_map(|frames| {
            let mut out = Vec::new();
            for (kind, flags, body) in frames {
                out.push(kind << 4 | (flags & 0x0f));
                out.push(body.len() as u8);
                out.extend_from_slice(&body);
            }
            out
        });
        let garbage = prop_oneof![proptest::collection::vec(any::<u8>(), 0..600), frames];
        proptest!(cases, |(bytes in garbage, after_connect in any::<bool>())| {
            let mut packet = Vec::new();
            if after_connect {
                packet.extend_from_slice(&hello);
            }
            packet.extend_from_slice(&bytes);
            rt.block_on(async {
                let mut s = raw(addr, None).await;
                let _ = s.stream.write_all(&packet).await;
                let _ = s.stream.shutdown().await;
                let mut sink = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(5), s.stream.read_to_end(&mut sink)).await;
            });
        });
        rt.block_on(async {
            // Still serving.
            let (mut lock, _) = TestClient::connect(options(addr, "lk-after", (&a, &pw_a))).await;
            assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
            assert_eq!(broker.publish(&down("lk_a"), &b"ok"[..], Qos::AtLeastOnce), Ok(1));
            assert_eq!(&lock.message().await.payload[..], b"ok");
            lock.client.disconnect().await.unwrap();
            lock.ended().await;
            for _ in 0..200 {
                if broker.stats().connections == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(broker.stats().connections, 0, "every connection was closed");
            assert_eq!(broker.stats().sessions, 0);
        });
        assert_eq!(BROKER_PANICS.load(Ordering::SeqCst), 0, "the broker panicked");
    }
}

mod tls {
    use std::sync::Arc;

    use latchkey_broker::rustls;
    use rumqttc::{TlsConfiguration, Transport};

    use super::*;

    fn certificate(name: &str) -> (Vec<u8>, Vec<u8>, rustls::pki_types::CertificateDer<'static>) {
        let key = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let der = key.cert.der().clone();
        (
            key.cert.pem().into_bytes(),
            key.signing_key.serialize_pem().into_bytes(),
            der,
        )
    }

    fn client_trusting(cert: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    #[tokio::test]
    async fn tls_clients_connect_with_the_certificate_checked() {
        let (broker, plain) = start(config()).await;
        let (cert_pem, key_pem, cert) = certificate("localhost");
        let tls_config = latchkey_broker::server_config_from_pem(&cert_pem, &key_pem).unwrap();
        let port = broker
            .listen_tls("127.0.0.1:0".parse().unwrap(), tls_config)
            .await
            .unwrap()
            .port();
        let over_tls = |id: &str, trust: rustls::pki_types::CertificateDer<'static>| {
            let mut mo = rumqttc::MqttOptions::new(id, "localhost", port);
            mo.set_keep_alive(Duration::from_secs(5));
            let (a, pw_a) = lock_login("lk_a");
            mo.set_credentials(a, pw_a);
            mo.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(client_trusting(
                trust,
            ))));
            mo
        };
        let (mut lock, _) = TestClient::connect(over_tls("lk-a", cert.clone())).await;
        assert_eq!(lock.subscribe(&down("lk_a")).await, granted());
        // TLS and plain clients share the broker.
        let (server, _) = TestClient::connect(options(plain, "server", SERVER)).await;
        server
            .client
            .publish(down("lk_a"), QoS::AtLeastOnce, false, b"secret".to_vec())
            .await
            .unwrap();
        assert_eq!(&lock.message().await.payload[..], b"secret");
        assert_eq!(broker.hooks().tls_logins.load(Ordering::SeqCst), 1);

        // A client that trusts another certificate refuses the broker's: nothing reaches the
        // login check.
        let (_, _, other) = certificate("localhost");
        let mut stranger = TestClient::start(over_tls("lk-b", other));
        let why = stranger.ended().await;
        assert!(why.contains("TLS") || why.contains("certificate"), "{why}");
        assert_eq!(broker.hooks().tls_logins.load(Ordering::SeqCst), 1);
        // Plain MQTT on the TLS port gets nowhere either.
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (a, pw_a) = lock_login("lk_a");
        s.write_all(&connect_packet("lk-c", Some((&a, &pw_a)), 30, None))
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf),
        )
        .await;
        assert!(Packet::read(&mut bytes::BytesMut::from(&buf[..]), 1 << 20).is_err());
        assert_eq!(broker.hooks().auth_calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let (cert_pem, key_pem, _) = certificate("localhost");
        let (_, other_key, _) = certificate("localhost");
        assert!(matches!(
            latchkey_broker::server_config_from_pem(b"", &key_pem),
            Err(latchkey_broker::TlsConfigError::Certificates(_))
        ));
        assert!(matches!(
            latchkey_broker::server_config_from_pem(&cert_pem, b"nothing"),
            Err(latchkey_broker::TlsConfigError::Key(_))
        ));
        assert!(latchkey_broker::server_config_from_pem(&cert_pem, &other_key).is_err());
    }
}
