//! A session: what the broker holds for one user name and client id, connected or (when
//! persistent) not: its subscriptions, the messages waiting for it and the QoS 1 messages sent
//! to it and not yet acknowledged.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Qos;
use crate::config::Config;
use crate::router::Subscriber;
use crate::shared::{Counters, lock};

/// A message as routed: shared by every session it goes to.
pub(crate) struct Message {
    pub topic: Box<str>,
    pub payload: Bytes,
}

impl Message {
    /// What it counts for in queue limits.
    pub fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// A message for one session, at the QoS it is delivered with.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub msg: Arc<Message>,
    pub qos: Qos,
}

/// The connection a session is attached to.
pub(crate) struct Live<P> {
    pub conn: u64,
    pub addr: SocketAddr,
    pub principal: Arc<P>,
    /// Wakes that connection's task: something was queued, or it was replaced.
    pub wake: Arc<Notify>,
}

pub(crate) struct Session<P> {
    pub id: u64,
    pub username: Arc<str>,
    pub client_id: Arc<str>,
    pub state: Mutex<State<P>>,
}

pub(crate) struct State<P> {
    pub live: Option<Live<P>>,
    /// `clean_session = false`: kept when its client leaves.
    pub persistent: bool,
    /// Removed from the broker: deliveries are ignored.
    pub ended: bool,
    /// Filters as the client sent them, with their granted QoS.
    pub subscriptions: Vec<(Box<str>, Qos)>,
    pub queue: VecDeque<Outgoing>,
    /// QoS 1 messages sent and not yet acknowledged, by packet id, in the order sent.
    pub inflight: VecDeque<(u16, Outgoing)>,
    /// Bytes of `queue` and `inflight`.
    pub bytes: usize,
    pub next_pkid: u16,
    pub offline_since: Option<Instant>,
}

impl<P> Subscriber for Session<P> {
    fn id(&self) -> u64 {
        self.id
    }

    fn online(&self) -> bool {
        lock(&self.state).live.is_some()
    }
}

impl<P> Session<P> {
    pub fn new(id: u64, username: Arc<str>, client_id: Arc<str>, persistent: bool, live: Live<P>) -> Self {
        Session {
            id,
            username,
            client_id,
            state: Mutex::new(State {
                live: Some(live),
                persistent,
                ended: false,
                subscriptions: Vec::new(),
                queue: VecDeque::new(),
                inflight: VecDeque::new(),
                bytes: 0,
                next_pkid: 0,
                offline_since: None,
            }),
        }
    }

    /// Queues `out` for this session; `false` when it is not kept (the session ended, its
    /// client is away and it cannot keep the message, or a queue limit was reached).
    pub fn deliver(&self, out: Outgoing, config: &Config, counters: &Counters) -> bool {
        let size = out.msg.size();
        let mut st = lock(&self.state);
        if st.ended || (st.live.is_none() && (out.qos == Qos::AtMostOnce || !st.persistent)) {
            return false;
        }
        let full = st.queue.len() >= config.max_queued_messages
            || st.bytes + size > config.max_queued_bytes
            || !counters.reserve(size, config.max_total_queued_bytes);
        if full {
            let dropped = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged, but not once per message when a queue stays full: the 1st, 2nd, 4th, ...
            if dropped.is_power_of_two() {
                tracing::warn!(
                    "the MQTT broker dropped a message on {} for client {:?} (user {:?}): its queue is full                      ({dropped} messages dropped since the broker started)",
                    out.msg.topic,
                    self.client_id,
                    self.username
                );
            }
            return false;
        }
        st.bytes += size;
        st.queue.push_back(out);
        if let Some(live) = &st.live {
            live.wake.notify_one();
        }
        true
    }
}

impl<P> State<P> {
    /// A packet id not in flight (there are at most `max_inflight` of them).
    pub fn next_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            let id = self.next_pkid;
            if id != 0 && !self.inflight.iter().any(|(p, _)| *p == id) {
                return id;
            }
        }
    }

    /// The client acknowledged `pkid`.
    pub fn acknowledge(&mut self, pkid: u16, counters: &Counters) {
        if let Some(i) = self.inflight.iter().position(|(p, _)| *p == pkid)
            && let Some((_, out)) = self.inflight.remove(i)
        {
            self.release(out.msg.size(), counters);
        }
    }

    /// A message left the session (sent at QoS 0, or acknowledged).
    pub fn release(&mut self, size: usize, counters: &Counters) {
        self.bytes -= size;
        counters.queued_bytes.fetch_sub(size, Ordering::Relaxed);
    }

    /// Ends the session: drops what it holds and returns its subscriptions, to be removed from
    /// the router.
    pub fn end(&mut self, counters: &Counters) -> Vec<(Box<str>, Qos)> {
        self.ended = true;
        self.queue.clear();
        self.inflight.clear();
        counters.queued_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.bytes = 0;
        std::mem::take(&mut self.subscriptions)
    }
}
