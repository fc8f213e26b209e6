//! Latchkey's embedded MQTT broker: MQTT 3.1.1 over TCP (and TLS), in the embedding process's
//! Tokio runtime, with authentication and topic rules decided by the embedder.
//!
//! It is small on purpose: what Latchkey's server and locks use, with every per-client
//! resource bounded (`docs/design/embedded-broker.md` says why it exists and what it does not
//! do). Packets are read and written with the codec of `rumqttc` (`rumqttc::mqttbytes::v4`).
//!
//! # Embedding
//!
//! ```no_run
//! use latchkey_broker::{Broker, Config, Hooks, Login, Refusal, topic};
//!
//! /// Who a connection logged in as.
//! enum Who { Server, Lock(String) }
//!
//! struct Rules;
//!
//! impl Hooks for Rules {
//!     type Principal = Who;
//!
//!     async fn authenticate(&self, login: &Login<'_>) -> Result<Who, Refusal> {
//!         match (login.username, login.password) {
//!             ("server", b"secret") => Ok(Who::Server),
//!             (lock, b"lock-password") if !lock.is_empty() => Ok(Who::Lock(lock.to_string())),
//!             _ => Err(Refusal::BadUsernameOrPassword),
//!         }
//!     }
//!
//!     fn may_subscribe(&self, who: &Who, filter: &str) -> bool {
//!         match who {
//!             Who::Server => true,
//!             Who::Lock(id) => topic::filter_within(filter, &format!("locks/{id}/down")),
//!         }
//!     }
//!
//!     fn may_publish(&self, who: &Who, topic: &str) -> bool {
//!         match who {
//!             Who::Server => true,
//!             Who::Lock(id) => topic == format!("locks/{id}/up"),
//!         }
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let broker = Broker::new(Config::default(), Rules);
//! let addr = broker.listen("127.0.0.1:1883".parse().unwrap()).await?;
//! // ... clients connect to `addr` ...
//! broker.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`Broker::new`] must be called inside a Tokio runtime (the broker's tasks run on it). A
//! broker may listen on several addresses, plain ([`Broker::listen`]) and TLS
//! ([`Broker::listen_tls`], feature `tls`, on by default). [`Broker::stop`] closes the
//! listeners and every connection and forgets every session.
//!
//! # The hooks
//!
//! [`Hooks`] is the broker's only policy:
//! - [`Hooks::authenticate`] runs for every CONNECT (unless the client address is over its
//!   failed-login limit) with the client address, client id, user name and password, and
//!   returns the connection's *principal* or a [`Refusal`], sent as the CONNACK return code.
//!   Refusals for bad credentials count against the address ([`LoginRateLimit`]).
//! - [`Hooks::may_subscribe`] is asked for every filter of every SUBSCRIBE, as the client sent
//!   it (a shared subscription as `$share/{group}/{filter}`); a filter it refuses is answered
//!   with the SUBACK failure code (0x80) and nothing is subscribed. [`topic::filter_within`] is
//!   the comparison to use: a login allowed to read one topic must not be able to subscribe to a
//!   wildcard that covers it and others.
//! - [`Hooks::may_publish`] is asked for every PUBLISH topic and for the will topic at CONNECT.
//!   A refused will refuses the CONNECT ("not authorized"). A refused PUBLISH is dropped and the
//!   client is disconnected ([`DisconnectReason::Denied`]): MQTT 3.1.1 has no way to tell a
//!   client its message was refused, and acknowledging it would make a broken or hostile client
//!   believe it was delivered.
//! - [`Hooks::connected`] and [`Hooks::disconnected`] tell the embedder who comes and goes
//!   (presence). For one user name and client id they strictly alternate, also when a client
//!   takes over its own session: the replaced connection's `disconnected`
//!   ([`DisconnectReason::Replaced`]) comes before the new one's `connected`. They are called
//!   with the broker's session table locked: keep them short and non-blocking (sending on a
//!   channel is right), and do not call [`Broker::stop`] from them.
//!
//! The authorization hooks are synchronous and called for every packet, so they should decide
//! from the principal alone; anything that needs a database belongs in `authenticate`.
//!
//! # Sessions and client ids
//!
//! A session belongs to a user name *and* a client id: a CONNECT with a client id that another
//! login is using gets a session of its own and neither disconnects nor disturbs the other, so
//! no login can take over another's session (and no holder of a shared login can squat a
//! lock's client id while the lock is away). A CONNECT with the same user name and client id as
//! a live connection replaces it (MQTT's takeover); that old connection's will is not
//! published, since its client is back. `clean_session = false` keeps the session (its
//! subscriptions, unacknowledged QoS 1 messages and queue) after the client leaves, for
//! [`Config::session_expiry`]; on reconnection unacknowledged QoS 1 messages are sent again
//! with the DUP flag, then the queue. Persistent sessions live in memory only: a stopped broker
//! forgets them.
//!
//! # What MQTT 3.1.1 features it has
//!
//! QoS 0 and 1 both ways; QoS 2 publishes from clients are accepted (PUBREC, PUBREL, PUBCOMP,
//! duplicates dropped) and delivered at QoS 1 at most; subscriptions are granted QoS 1 at most.
//! `+` and `#` wildcards (not matching topics that start with `$` in the first level), shared
//! subscriptions `$share/{group}/{filter}` (each message to one member of the group, in turn,
//! preferring connected members), keep-alive (a client silent for 1.5 times its keep-alive is
//! disconnected; keep-alive 0 is never timed out), last will on abnormal disconnection (not on a
//! DISCONNECT, a takeover or a broker stop), `TCP_NODELAY` on every accepted connection.
//! Retained messages are not stored: a PUBLISH with the retain flag is delivered as a normal
//! message. MQTT 3.1 (`MQIsdp`) and MQTT 5 are refused with return code 1. Passwords must be
//! UTF-8 (the codec reads them as text).
//!
//! # What is bounded
//!
//! Everything a client can make the broker hold is bounded by a [`Config`] field: connections
//! ([`Config::max_connections`]), packet size ([`Config::max_packet_size`]; a larger packet
//! closes the connection before its body is read), time to send CONNECT and to authenticate,
//! client id length, subscriptions per session, QoS 1 messages in flight per client
//! ([`Config::max_inflight`]), the queue of each session in messages and bytes and all queues
//! together ([`Config::max_total_queued_bytes`]; a message that does not fit is dropped and
//! counted in [`Stats::dropped`]), persistent sessions per login and in all, how long an absent
//! client's session is kept, how long a write to a client may block, and failed logins per
//! client address ([`LoginRateLimit`]). Messages to a client that is away are kept only at QoS 1
//! and only for a persistent session. An idle connection costs a few KiB
//! (`docs/design/embedded-broker.md` has the measurements).

mod config;
mod conn;
mod limiter;
mod router;
mod session;
mod shared;
#[cfg(feature = "tls")]
mod tls;
pub mod topic;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

pub use config::{Config, LoginRateLimit};
#[cfg(feature = "tls")]
pub use tls::{TlsConfigError, server_config_from_pem};
/// The rustls version the TLS listener uses, for building its `ServerConfig`.
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;

use shared::Shared;

/// Quality of service of a message or a subscription. QoS 2 is not offered: publishes at QoS 2
/// are delivered at QoS 1, subscriptions are granted QoS 1 at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qos {
    AtMostOnce = 0,
    AtLeastOnce = 1,
}

/// A CONNECT to authenticate.
#[derive(Debug)]
pub struct Login<'a> {
    /// The client's address (for TLS too, the TCP peer).
    pub addr: SocketAddr,
    /// The client id (one the broker made up, `auto-{n}`, when the client sent none).
    pub client_id: &'a str,
    /// The user name; empty when none was sent (MQTT 3.1.1 cannot tell them apart).
    pub username: &'a str,
    /// The password; empty when none was sent.
    pub password: &'a [u8],
    /// Whether the client asked for a clean session (`false`: keep its session when it leaves).
    pub clean_session: bool,
    /// Whether the connection came through the TLS listener.
    pub tls: bool,
}

/// Why a CONNECT is refused, sent as the CONNACK return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Return code 4. Counts against the client address's failed-login limit.
    BadUsernameOrPassword,
    /// Return code 5. Counts against the client address's failed-login limit.
    NotAuthorized,
    /// Return code 3, for a refusal that is not the client's fault (a database that does not
    /// answer). Does not count as a failed login.
    ServerUnavailable,
}

/// A connection, as the presence hooks see it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// A number for this connection, unique in the broker; a client that connects again gets a
    /// new one.
    pub connection: u64,
    pub addr: SocketAddr,
    pub username: &'a str,
    pub client_id: &'a str,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    Clean,
    /// The network connection closed or failed without a DISCONNECT.
    Closed,
    /// Nothing came from the client for 1.5 times its keep-alive.
    KeepAliveTimeout,
    /// The client broke the protocol: a malformed or oversized packet, one a client may not
    /// send, a second CONNECT.
    ProtocolError,
    /// The client published where [`Hooks::may_publish`] does not let it.
    Denied,
    /// Writing to the client blocked for longer than [`Config::write_timeout`].
    WriteTimeout,
    /// A new connection with the same user name and client id took the session over.
    Replaced,
    /// The broker was stopped.
    Stopped,
}

impl DisconnectReason {
    /// Whether the client's will is published: on every end but a DISCONNECT, a takeover by
    /// the same client, and a broker stop.
    pub fn publishes_will(self) -> bool {
        !matches!(self, Self::Clean | Self::Replaced | Self::Stopped)
    }
}

/// The embedder's policy: who may connect, subscribe and publish, and what it wants to know
/// about connections. See the crate documentation.
pub trait Hooks: Send + Sync + 'static {
    /// Who a connection logged in as; kept for the connection's life and handed to the other
    /// hooks.
    type Principal: Send + Sync + 'static;

    /// Checks a CONNECT. Runs on the broker's task for that connection, bounded by
    /// [`Config::auth_timeout`].
    fn authenticate(&self, login: &Login<'_>) -> impl Future<Output = Result<Self::Principal, Refusal>> + Send;

    /// Whether `principal` may subscribe to `filter` (as sent, `$share/{group}/...` included).
    fn may_subscribe(&self, principal: &Self::Principal, filter: &str) -> bool;

    /// Whether `principal` may publish on `topic` (also asked for the will's topic).
    fn may_publish(&self, principal: &Self::Principal, topic: &str) -> bool;

    /// A connection was accepted (before its CONNACK is sent).
    fn connected(&self, _principal: &Self::Principal, _client: &Client<'_>) {}

    /// A connection that was accepted has ended (before its will, if any, is published).
    fn disconnected(&self, _principal: &Self::Principal, _client: &Client<'_>, _reason: DisconnectReason) {}
}

/// What the broker holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Open connections, including those not yet authenticated.
    pub connections: usize,
    /// Sessions: connected ones and persistent ones kept for absent clients.
    pub sessions: usize,
    /// Subscriptions of all sessions.
    pub subscriptions: usize,
    /// Bytes of messages queued or awaiting acknowledgement, all sessions together.
    pub queued_bytes: usize,
    /// Messages dropped because a queue was full, since the broker started.
    pub dropped: u64,
}

/// A topic name that cannot be published to (empty, with a wildcard or a NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTopic;

impl std::fmt::Display for InvalidTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a valid MQTT topic name")
    }
}

impl std::error::Error for InvalidTopic {}

/// The broker. Cheap to clone; every clone is the same broker.
pub struct Broker<H: Hooks> {
    shared: Arc<Shared<H>>,
}

impl<H: Hooks> Clone for Broker<H> {
    fn clone(&self) -> Self {
        Broker {
            shared: self.shared.clone(),
        }
    }
}

impl<H: Hooks> Broker<H> {
    /// A broker with no listener yet. Must be called inside a Tokio runtime.
    pub fn new(config: Config, hooks: H) -> Self {
        let shared = Shared::new(config, hooks);
        shared::spawn_sweeper(&shared);
        Broker { shared }
    }

    /// Listens for MQTT over TCP on `addr` (port 0 picks a free port) until the broker stops.
    /// Returns the address it listens on.
    pub async fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        self.shared.listen(addr, None).await
    }

    /// Listens for MQTT over TLS on `addr` with the given rustls configuration (see
    /// [`server_config_from_pem`]). The TLS handshake counts against
    /// [`Config::connect_timeout`].
    #[cfg(feature = "tls")]
    pub async fn listen_tls(&self, addr: SocketAddr, tls: Arc<rustls::ServerConfig>) -> io::Result<SocketAddr> {
        self.shared
            .listen(addr, Some(tokio_rustls::TlsAcceptor::from(tls)))
            .await
    }

    /// Publishes a message as the broker itself (no authorization asked) to the sessions
    /// subscribed to `topic`; returns how many it was queued for.
    pub fn publish(&self, topic: &str, payload: impl Into<Bytes>, qos: Qos) -> Result<usize, InvalidTopic> {
        if !topic::valid_topic(topic) {
            return Err(InvalidTopic);
        }
        Ok(self.shared.route(topic, &payload.into(), qos))
    }

    /// What the broker holds now.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            connections: s.connections.load(Ordering::Relaxed),
            sessions: s.session_count.load(Ordering::Relaxed),
            subscriptions: shared::read(&s.router).len(),
            queued_bytes: s.counters.queued_bytes.load(Ordering::Relaxed),
            dropped: s.counters.dropped.load(Ordering::Relaxed),
        }
    }

    /// The hooks the broker was made with.
    pub fn hooks(&self) -> &H {
        &self.shared.hooks
    }

    /// Stops the broker: closes the listeners, closes every connection (their
    /// [`Hooks::disconnected`] is called with [`DisconnectReason::Stopped`], no will is
    /// published), waits for them (at most [`Config::stop_timeout`]) and forgets every session.
    /// Listening again afterwards fails.
    pub async fn stop(&self) {
        self.shared.stop().await;
    }
}
