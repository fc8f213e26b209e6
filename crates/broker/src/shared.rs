//! What all connections share: the session table, the router, the failed-login limiter, the
//! counters, and the listeners.
//!
//! Lock order, to stay free of deadlocks: the session table, then the router, then one
//! session's state. Hooks are never called with the router or a session's state locked; the
//! presence hooks are called with the session table locked (so that they alternate per
//! session), the authorization hooks with nothing locked.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::limiter::Limiter;
use crate::router::Router;
use crate::session::{Live, Message, Outgoing, Session};
use crate::{Client, DisconnectReason, Hooks, Qos, topic};

#[cfg(feature = "tls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
pub(crate) type Acceptor = std::convert::Infallible;

/// A poisoned lock only means a hook panicked while another thread held it; the data is
/// still consistent (every critical section here leaves it so before calling out).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Counters {
    pub queued_bytes: AtomicUsize,
    pub dropped: AtomicU64,
}

impl Counters {
    /// Counts `size` more queued bytes unless that would pass `max`.
    pub fn reserve(&self, size: usize, max: usize) -> bool {
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > max {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }
}

type Key = (Arc<str>, Arc<str>);

pub(crate) struct Sessions<P> {
    map: HashMap<Key, Arc<Session<P>>>,
    /// Persistent sessions per user name.
    persistent: HashMap<Arc<str>, usize>,
}

pub(crate) struct Shared<H: Hooks> {
    pub config: Config,
    pub hooks: H,
    pub sessions: Mutex<Sessions<H::Principal>>,
    pub router: RwLock<Router<Session<H::Principal>>>,
    pub limiter: Mutex<Limiter>,
    pub counters: Counters,
    pub connections: AtomicUsize,
    pub session_count: AtomicUsize,
    /// Notified whenever a connection ends (for `stop`).
    pub closed: Notify,
    pub next_id: AtomicU64,
    pub stop: watch::Sender<bool>,
    pub listeners: Mutex<Vec<JoinHandle<()>>>,
}

/// Counts an open connection until dropped.
pub(crate) struct ConnGuard<H: Hooks>(Arc<Shared<H>>);

impl<H: Hooks> Drop for ConnGuard<H> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// What `attach` did.
pub(crate) struct Attached<P> {
    pub session: Arc<Session<P>>,
    pub present: bool,
}

/// Why `attach` refused a session (the CONNACK return code).
pub(crate) enum AttachError {
    IdentifierRejected,
    ServerUnavailable,
}

impl<H: Hooks> Shared<H> {
    pub fn new(config: Config, hooks: H) -> Arc<Self> {
        let (stop, _) = watch::channel(false);
        Arc::new(Shared {
            limiter: Mutex::new(Limiter::new(config.login_failures.clone())),
            config,
            hooks,
            sessions: Mutex::new(Sessions {
                map: HashMap::new(),
                persistent: HashMap::new(),
            }),
            router: RwLock::new(Router::new()),
            counters: Counters {
                queued_bytes: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
            },
            connections: AtomicUsize::new(0),
            session_count: AtomicUsize::new(0),
            closed: Notify::new(),
            next_id: AtomicU64::new(1),
            stop,
            listeners: Mutex::new(Vec::new()),
        })
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub async fn listen(self: &Arc<Self>, addr: SocketAddr, tls: Option<Acceptor>) -> io::Result<SocketAddr> {
        if self.stopping() {
            return Err(io::Error::other("the MQTT broker was stopped"));
        }
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = self.clone();
        let task = tokio::spawn(async move { shared.accept_loop(listener, tls).await });
        lock(&self.listeners).push(task);
        Ok(local)
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener, tls: Option<Acceptor>) {
        let mut stop = self.stop.subscribe();
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                a = listener.accept() => a,
            };
            let (stream, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, most likely: wait a little rather than spin.
                    tracing::warn!("the MQTT broker could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            if self.connections.fetch_add(1, Ordering::SeqCst) >= self.config.max_connections {
                self.connections.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(
                    "the MQTT broker has {} connections, its limit: closed one from {addr}",
                    self.config.max_connections
                );
                continue;
            }
            let guard = ConnGuard(self.clone());
            // Small packets must leave at once, not wait for the peer's delayed ACK.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY on a connection from {addr}: {e}");
            }
            let shared = self.clone();
            match &tls {
                None => {
                    tokio::spawn(crate::conn::serve(shared, stream, addr, false, guard));
                }
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let timeout = shared.config.connect_timeout;
                        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => crate::conn::serve(shared, stream, addr, true, guard).await,
                            Ok(Err(e)) => tracing::debug!("TLS handshake with {addr} failed: {e}"),
                            Err(_) => tracing::debug!("TLS handshake with {addr} timed out"),
                        }
                    });
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match *never {},
            }
        }
    }

    /// Routes a message to its subscribers; returns how many sessions took it.
    pub fn route(&self, topic: &str, payload: &Bytes, qos: Qos) -> usize {
        let targets = read(&self.router).route(topic);
        if targets.is_empty() {
            return 0;
        }
        // A copy of its own, so that a queued message does not keep a client's read buffer.
        let msg = Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload),
        });
        targets
            .into_iter()
            .filter(|(session, sub_qos)| {
                let out = Outgoing {
                    msg: msg.clone(),
                    qos: qos.min(*sub_qos),
                };
                session.deliver(out, &self.config, &self.counters)
            })
            .count()
    }

    /// Attaches a new, authenticated connection to its session: resumes a persistent one,
    /// replaces one of the same user name and client id, or makes a new one. Calls the presence
    /// hooks (`disconnected` of a replaced connection first).
    pub fn attach(
        &self,
        username: &str,
        client_id: &str,
        clean: bool,
        live: Live<H::Principal>,
    ) -> Result<Attached<H::Principal>, AttachError> {
        let mut sessions = lock(&self.sessions);
        let key: Key = (username.into(), client_id.into());
        let existing = sessions.map.get(&key).cloned();
        let old_persistent = existing.as_ref().is_some_and(|old| lock(&old.state).persistent);
        let resume = !clean && old_persistent;
        if !resume {
            // Limits first, so that a refused CONNECT leaves the old session alone.
            if existing.is_none() && sessions.map.len() >= self.config.max_sessions {
                return Err(AttachError::ServerUnavailable);
            }
            let held = sessions.persistent.get(username).copied().unwrap_or(0) - usize::from(old_persistent);
            if !clean && held >= self.config.max_persistent_sessions_per_login {
                return Err(AttachError::IdentifierRejected);
            }
        }
        let me = Client {
            connection: live.conn,
            addr: live.addr,
            username,
            client_id,
        };
        let principal = live.principal.clone();
        let (session, present, kicked) = match existing {
            Some(old) if resume => {
                let mut st = lock(&old.state);
                let kicked = st.live.replace(live);
                st.offline_since = None;
                drop(st);
                (old, true, kicked)
            }
            existing => {
                let mut kicked = None;
                if let Some(old) = existing {
                    let mut st = lock(&old.state);
                    kicked = st.live.take();
                    let subscriptions = st.end(&self.counters);
                    drop(st);
                    sessions.remove(&key, old_persistent);
                    self.session_count.fetch_sub(1, Ordering::Relaxed);
                    self.unsubscribe_all(old.id, &subscriptions);
                }
                let session = Arc::new(Session::new(self.next_id(), key.0.clone(), key.1.clone(), !clean, live));
                sessions.insert(key, session.clone(), !clean);
                self.session_count.fetch_add(1, Ordering::Relaxed);
                (session, false, kicked)
            }
        };
        if let Some(old) = &kicked {
            old.wake.notify_one();
            let client = Client {
                connection: old.conn,
                addr: old.addr,
                username,
                client_id,
            };
            self.hooks
                .disconnected(&old.principal, &client, DisconnectReason::Replaced);
        }
        self.hooks.connected(&principal, &me);
        Ok(Attached { session, present })
    }

    /// Detaches connection `conn` from its session when it ends (unless another connection
    /// took the session over, which then reported this one's end): ends the session unless it
    /// is persistent, calls `disconnected`. The caller publishes the will.
    /// Returns whether this connection still owned the session.
    pub fn detach(&self, session: &Arc<Session<H::Principal>>, conn: u64, reason: DisconnectReason) -> bool {
        let mut sessions = lock(&self.sessions);
        let mut st = lock(&session.state);
        let Some(live) = st.live.take_if(|l| l.conn == conn) else {
            return false;
        };
        let mut subscriptions = Vec::new();
        if !st.persistent || reason == DisconnectReason::Stopped {
            let persistent = st.persistent;
            subscriptions = st.end(&self.counters);
            drop(st);
            sessions.remove(&(session.username.clone(), session.client_id.clone()), persistent);
            self.session_count.fetch_sub(1, Ordering::Relaxed);
        } else {
            st.offline_since = Some(Instant::now());
            drop(st);
        }
        let client = Client {
            connection: live.conn,
            addr: live.addr,
            username: &session.username,
            client_id: &session.client_id,
        };
        self.hooks.disconnected(&live.principal, &client, reason);
        self.unsubscribe_all(session.id, &subscriptions);
        true
    }

    /// Removes a session's subscriptions from the router.
    pub fn unsubscribe_all(&self, id: u64, subscriptions: &[(Box<str>, Qos)]) {
        if subscriptions.is_empty() {
            return;
        }
        let mut router = write(&self.router);
        for (raw, _) in subscriptions {
            if let Some((group, filter)) = topic::parse_subscription(raw) {
                router.remove(group, filter, id);
            }
        }
    }

    /// Removes persistent sessions whose client has been away longer than `session_expiry`.
    fn expire_sessions(&self) {
        let now = Instant::now();
        let expiry = self.config.session_expiry;
        let mut sessions = lock(&self.sessions);
        let expired: Vec<Key> = sessions
            .map
            .iter()
            .filter(|(_, s)| {
                let st = lock(&s.state);
                st.live.is_none()
                    && st
                        .offline_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= expiry)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(session) = sessions.map.get(&key).cloned() {
                let mut st = lock(&session.state);
                let persistent = st.persistent;
                let subscriptions = st.end(&self.counters);
                drop(st);
                sessions.remove(&key, persistent);
                self.session_count.fetch_sub(1, Ordering::Relaxed);
                self.unsubscribe_all(session.id, &subscriptions);
                tracing::debug!("MQTT broker: the session of client {:?} expired", key.1);
            }
        }
    }

    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let listeners: Vec<_> = lock(&self.listeners).drain(..).collect();
        for l in listeners {
            let _ = l.await;
        }
        let deadline = Instant::now() + self.config.stop_timeout;
        loop {
            // Registered before the count is read, so that a connection closing in between
            // still wakes this loop.
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.connections.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                tracing::warn!(
                    "the MQTT broker stopped with {} connections still closing",
                    self.connections.load(Ordering::SeqCst)
                );
                break;
            }
        }
        // Persistent sessions of absent clients.
        let mut sessions = lock(&self.sessions);
        let all: Vec<_> = sessions.map.drain().collect();
        sessions.persistent.clear();
        for (_, session) in all {
            let subscriptions = lock(&session.state).end(&self.counters);
            self.session_count.fetch_sub(1, Ordering::Relaxed);
            self.unsubscribe_all(session.id, &subscriptions);
        }
    }
}

impl<P> Sessions<P> {
    fn insert(&mut self, key: Key, session: Arc<Session<P>>, persistent: bool) {
        if persistent {
            *self.persistent.entry(key.0.clone()).or_default() += 1;
        }
        self.map.insert(key, session);
    }

    fn remove(&mut self, key: &Key, persistent: bool) {
        self.map.remove(key);
        if persistent && let Some(n) = self.persistent.get_mut(&key.0) {
            *n -= 1;
            if *n == 0 {
                self.persistent.remove(&key.0);
            }
        }
    }
}

/// Expires absent clients' persistent sessions, until the broker stops.
pub(crate) fn spawn_sweeper<H: Hooks>(shared: &Arc<Shared<H>>) {
    let weak = Arc::downgrade(shared);
    let mut stop = shared.stop.subscribe();
    let every = (shared.config.session_expiry / 2).clamp(Duration::from_millis(10), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            let Some(shared) = weak.upgrade() else { return };
            shared.expire_sessions();
        }
    });
}
