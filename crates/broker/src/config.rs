//! Every limit of the broker, with its default. Each one bounds something a client could
//! otherwise grow without end; the crate documentation lists what each bounds.

use std::time::Duration;

/// The broker's limits. `Config::default()` suits Latchkey's server (10,000 locks and a few
/// server instances); change single fields with struct update syntax.
#[derive(Debug, Clone)]
pub struct Config {
    /// Open connections (TCP and TLS together, including those still in their handshake or
    /// authentication). Past it, new connections are closed at once.
    pub max_connections: usize,
    /// The largest packet a client may send, in bytes of "remaining length" (everything after
    /// the fixed header). A larger one closes the connection before its body is read.
    pub max_packet_size: usize,
    /// How long a new connection may take to complete its TLS handshake and send CONNECT.
    pub connect_timeout: Duration,
    /// How long the authentication hook may take; past it the CONNECT is refused with
    /// "server unavailable".
    pub auth_timeout: Duration,
    /// The longest client id accepted (MQTT 3.1.1 requires at least 23).
    pub max_client_id_len: usize,
    /// Subscriptions one session may hold; a SUBSCRIBE beyond it is answered with the failure
    /// code for the filters that do not fit.
    pub max_subscriptions_per_session: usize,
    /// QoS 1 messages sent to one client and not yet acknowledged; further ones wait in the
    /// session's queue. Also the most QoS 2 publishes a client may leave unreleased.
    pub max_inflight: usize,
    /// Messages waiting in one session's queue (while its client is slow or, for a persistent
    /// session, away). A message that does not fit is dropped and counted.
    pub max_queued_messages: usize,
    /// Bytes (payload and topic) held for one session: queued and unacknowledged together.
    pub max_queued_bytes: usize,
    /// Bytes held in all sessions' queues together.
    pub max_total_queued_bytes: usize,
    /// How long a persistent session (`clean_session = false`) is kept after its client went
    /// away; then it is removed with its queue.
    pub session_expiry: Duration,
    /// Persistent sessions one login (user name) may hold; a CONNECT that would make one more is
    /// refused with "identifier rejected".
    pub max_persistent_sessions_per_login: usize,
    /// Sessions in the broker (connected, and persistent ones kept for absent clients); past it
    /// a CONNECT that needs a new session is refused with "server unavailable".
    pub max_sessions: usize,
    /// How long writing to a client may block; a client that does not read is disconnected.
    pub write_timeout: Duration,
    /// The limit on failed logins per client address.
    pub login_failures: LoginRateLimit,
    /// How long [`crate::Broker::stop`] waits for connections to close before it gives up on
    /// them.
    pub stop_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 20_000,
            max_packet_size: 128 * 1024,
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            max_client_id_len: 128,
            max_subscriptions_per_session: 64,
            max_inflight: 32,
            max_queued_messages: 100,
            max_queued_bytes: 1024 * 1024,
            max_total_queued_bytes: 64 * 1024 * 1024,
            session_expiry: Duration::from_secs(3600),
            max_persistent_sessions_per_login: 16,
            max_sessions: 100_000,
            write_timeout: Duration::from_secs(30),
            login_failures: LoginRateLimit::default(),
            stop_timeout: Duration::from_secs(5),
        }
    }
}

/// Failed logins per client address (an IPv4 address, or the /64 network of an IPv6 one), as a
/// token bucket: an address starts with `burst` tokens, each refused login takes one, one comes
/// back every `refill`. While an address has no token, its CONNECTs are refused with "not
/// authorized" without asking the authentication hook, good ones too (addresses behind one
/// NAT share a bucket). Other addresses are not affected.
#[derive(Debug, Clone)]
pub struct LoginRateLimit {
    pub burst: u32,
    pub refill: Duration,
    /// Addresses tracked at once. Past it, addresses whose buckets are full again are
    /// forgotten, and if none is, the failures of addresses not yet tracked share one bucket.
    pub max_tracked: usize,
}

impl Default for LoginRateLimit {
    fn default() -> Self {
        LoginRateLimit {
            burst: 10,
            refill: Duration::from_secs(1),
            max_tracked: 65_536,
        }
    }
}
