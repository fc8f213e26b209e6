//! The test kit: a broker on a free port with Latchkey's rules (the same logins and topic
//! rules the server will install) and a record of what its hooks saw; real `rumqttc` clients
//! driven on their own tasks; raw sockets for what a well-behaved client never sends.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use latchkey_broker::{Broker, Client, Config, DisconnectReason, Hooks, Login, Refusal, topic};
use rumqttc::mqttbytes::v4::{ConnAck, Connect, LastWill, Packet, Publish, SubAck};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const SERVER: (&str, &str) = ("latchkey-server", "server-password");
pub const PAIRING: (&str, &str) = ("pairing", "latchkey-pairing-v1");
/// A user name whose check "cannot reach the database".
pub const DB_DOWN: &str = "db-down";
/// A user name whose check takes 10 s.
pub const SLOW: &str = "slow";

/// A lock's login: its id, and the password `pw-{id}`.
pub fn lock_login(id: &str) -> (String, String) {
    (id.to_string(), format!("pw-{id}"))
}

pub fn down(lock: &str) -> String {
    format!("latchkey/v1/locks/{lock}/down")
}

pub fn up(lock: &str) -> String {
    format!("latchkey/v1/locks/{lock}/up")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Server,
    Pairing,
    Lock(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected {
        user: String,
        client_id: String,
        conn: u64,
    },
    Disconnected {
        user: String,
        client_id: String,
        conn: u64,
        reason: DisconnectReason,
    },
}

/// Latchkey's rules: the server reads and writes everything; `pairing` reads
/// `latchkey/v1/pair/+/down` and writes `latchkey/v1/pair/+/up`; a lock reads only its own
/// `down` and writes only its own `up`.
#[derive(Default)]
pub struct Rules {
    pub auth_calls: AtomicUsize,
    pub tls_logins: AtomicUsize,
    pub seen: Mutex<Vec<Seen>>,
}

impl Hooks for Rules {
    type Principal = Who;

    async fn authenticate(&self, login: &Login<'_>) -> Result<Who, Refusal> {
        self.auth_calls.fetch_add(1, Ordering::SeqCst);
        if login.tls {
            self.tls_logins.fetch_add(1, Ordering::SeqCst);
        }
        let password = std::str::from_utf8(login.password).unwrap_or("");
        match login.username {
            u if (u, password) == SERVER => Ok(Who::Server),
            u if (u, password) == PAIRING => Ok(Who::Pairing),
            DB_DOWN => Err(Refusal::ServerUnavailable),
            SLOW => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(Who::Server)
            }
            lock if lock.starts_with("lk_") && password == format!("pw-{lock}") => Ok(Who::Lock(lock.to_string())),
            _ => Err(Refusal::BadUsernameOrPassword),
        }
    }

    fn may_subscribe(&self, who: &Who, filter: &str) -> bool {
        match who {
            Who::Server => true,
            Who::Pairing => topic::filter_within(filter, "latchkey/v1/pair/+/down"),
            Who::Lock(id) => topic::filter_within(filter, &down(id)),
        }
    }

    fn may_publish(&self, who: &Who, topic: &str) -> bool {
        match who {
            Who::Server => true,
            Who::Pairing => topic::matches(topic, "latchkey/v1/pair/+/up"),
            Who::Lock(id) => *topic == up(id),
        }
    }

    fn connected(&self, _who: &Who, c: &Client<'_>) {
        self.seen.lock().unwrap().push(Seen::Connected {
            user: c.username.into(),
            client_id: c.client_id.into(),
            conn: c.connection,
        });
    }

    fn disconnected(&self, _who: &Who, c: &Client<'_>, reason: DisconnectReason) {
        self.seen.lock().unwrap().push(Seen::Disconnected {
            user: c.username.into(),
            client_id: c.client_id.into(),
            conn: c.connection,
            reason,
        });
    }
}

/// Failed logins are not limited unless a test says so (tests connect a lot from 127.0.0.1).
pub fn config() -> Config {
    Config {
        login_failures: latchkey_broker::LoginRateLimit {
            burst: 1_000_000,
            ..Default::default()
        },
        ..Config::default()
    }
}

pub async fn start(config: Config) -> (Broker<Rules>, SocketAddr) {
    let broker = Broker::new(config, Rules::default());
    let addr = broker.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (broker, addr)
}

/// Waits (at most 5 s) until the hooks have seen something matching `pred`.
pub async fn wait_seen(broker: &Broker<Rules>, what: &str, pred: impl Fn(&[Seen]) -> bool) {
    for _ in 0..500 {
        if pred(&broker.hooks().seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never saw {what}: {:?}", broker.hooks().seen.lock().unwrap());
}

pub fn disconnects_of(broker: &Broker<Rules>, client_id: &str) -> Vec<DisconnectReason> {
    broker
        .hooks()
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| match s {
            Seen::Disconnected {
                client_id: c, reason, ..
            } if c == client_id => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Client options as the server and the virtual lock set them.
pub fn options(addr: SocketAddr, client_id: &str, login: (&str, &str)) -> MqttOptions {
    let mut mo = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_clean_session(true);
    mo.set_max_packet_size(64 * 1024 + 1024, 64 * 1024 + 1024);
    mo.set_credentials(login.0, login.1);
    mo
}

#[derive(Debug)]
pub enum Ev {
    ConnAck(ConnAck),
    Publish(Publish),
    SubAck(SubAck),
    PubAck(u16),
    Refused(ConnectReturnCode),
    Ended(String),
}

/// A `rumqttc` client whose event loop runs on its own task; it does not reconnect.
pub struct TestClient {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Ev>,
    task: JoinHandle<()>,
}

const WAIT: Duration = Duration::from_secs(5);

impl TestClient {
    pub fn start(mo: MqttOptions) -> Self {
        let (client, mut el) = AsyncClient::new(mo, 64);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => Ev::ConnAck(a),
                    Ok(Event::Incoming(Packet::Publish(p))) => Ev::Publish(p),
                    Ok(Event::Incoming(Packet::SubAck(s))) => Ev::SubAck(s),
                    Ok(Event::Incoming(Packet::PubAck(a))) => Ev::PubAck(a.pkid),
                    Ok(_) => continue,
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        let _ = tx.send(Ev::Refused(code));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Ev::Ended(e.to_string()));
                        return;
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        TestClient { client, rx, task }
    }

    /// A client that must be accepted: waits for its CONNACK.
    pub async fn connect(mo: MqttOptions) -> (Self, ConnAck) {
        let mut c = Self::start(mo);
        let ack = c.connack().await;
        (c, ack)
    }

    async fn next(&mut self, what: &str) -> Ev {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("the client's event loop ended while waiting for {what}"),
            Err(_) => panic!("no {what} within {WAIT:?}"),
        }
    }

    pub async fn connack(&mut self) -> ConnAck {
        match self.next("CONNACK").await {
            Ev::ConnAck(a) => a,
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }

    pub async fn refused(&mut self) -> ConnectReturnCode {
        match self.next("a refusal").await {
            Ev::Refused(code) => code,
            other => panic!("expected a refused CONNECT, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, filter: &str) -> rumqttc::SubscribeReasonCode {
        self.client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.unwrap();
        loop {
            match self.next("SUBACK").await {
                Ev::SubAck(s) => return s.return_codes[0],
                Ev::PubAck(_) | Ev::Publish(_) => {}
                other => panic!("expected a SUBACK, got {other:?}"),
            }
        }
    }

    /// The next message received.
    pub async fn message(&mut self) -> Publish {
        loop {
            match self.next("a message").await {
                Ev::Publish(p) => return p,
                Ev::PubAck(_) | Ev::SubAck(_) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Asserts that no message arrives within `d` (and that the connection stays up).
    pub async fn no_message(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return,
                Ok(Some(Ev::Publish(p))) => panic!("unexpected message on {}: {:?}", p.topic, p.payload),
                Ok(Some(Ev::PubAck(_) | Ev::SubAck(_))) => {}
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }

    /// Waits until the broker closes the connection.
    pub async fn ended(&mut self) -> String {
        loop {
            match self.next("the end of the connection").await {
                Ev::Ended(e) => return e,
                Ev::PubAck(_) | Ev::SubAck(_) | Ev::Publish(_) => {}
                other => panic!("expected the connection to end, got {other:?}"),
            }
        }
    }

    /// Drops the connection without DISCONNECT, as a lock losing power would.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A raw TCP connection.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
}

/// A raw TCP connection, from `from` (a loopback address) when given.
pub async fn raw(addr: SocketAddr, from: Option<IpAddr>) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    Raw {
        stream: socket.connect(addr).await.unwrap(),
        buf: BytesMut::new(),
    }
}

impl Raw {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet from the broker, or `None` when it closed the connection.
    pub async fn packet(&mut self, within: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match Packet::read(&mut self.buf, 1 << 20) {
                Ok(p) => return Some(p),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("the broker sent a malformed packet: {e}"),
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(_)) => {}
                Err(_) => panic!("the broker neither answered nor closed within {within:?}"),
            }
        }
    }
}

pub fn connect_packet(
    client_id: &str,
    login: Option<(&str, &str)>,
    keep_alive: u16,
    will: Option<LastWill>,
) -> Vec<u8> {
    let mut c = Connect::new(client_id);
    c.keep_alive = keep_alive;
    c.last_will = will;
    if let Some((u, p)) = login {
        c.set_login(u, p);
    }
    let mut buf = BytesMut::new();
    c.write(&mut buf).unwrap();
    buf.to_vec()
}

/// Connects on a raw socket and returns the CONNACK's code (`None`: closed without one).
pub async fn raw_login(
    addr: SocketAddr,
    from: Option<IpAddr>,
    client_id: &str,
    login: (&str, &str),
) -> Option<ConnectReturnCode> {
    let mut s = raw(addr, from).await;
    s.send(&connect_packet(client_id, Some(login), 30, None)).await;
    match s.packet(WAIT).await {
        Some(Packet::ConnAck(a)) => Some(a.code),
        Some(other) => panic!("expected a CONNACK, got {other:?}"),
        None => None,
    }
}
