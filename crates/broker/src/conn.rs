//! One client connection: CONNECT and authentication, then the client's packets and the
//! session's messages until it ends. One task per connection, reading and writing in turn;
//! nothing a client sends can panic it (the codec returns errors, and every error closes the
//! connection).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck, Subscribe, SubscribeReasonCode,
    UnsubAck, Unsubscribe,
};
use rumqttc::mqttbytes::{self, Protocol, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::session::{Live, Outgoing, Session};
use crate::shared::{AttachError, ConnGuard, Shared, lock, write};
use crate::{DisconnectReason, Hooks, Login, Qos, Refusal, topic};

/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 1024;
/// Buffers larger than this are given back once empty, so that an idle connection holds
/// little.
const KEEP_BUFFER: usize = 16 * 1024;
/// Messages are written in batches of about this many bytes, reading in between.
const WRITE_BATCH: usize = 64 * 1024;

struct Will {
    topic: String,
    payload: Bytes,
    qos: Qos,
}

fn qos(q: QoS) -> Qos {
    match q {
        QoS::AtMostOnce => Qos::AtMostOnce,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Qos::AtLeastOnce,
    }
}

fn mqtt_qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

enum ReadError {
    /// The connection closed or failed.
    Closed,
    Malformed(mqttbytes::Error),
}

struct Io<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    max_packet_size: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// The next complete packet in the read buffer, if there is one.
    fn next_packet(&mut self) -> Result<Option<Packet>, mqttbytes::Error> {
        match Packet::read(&mut self.rbuf, self.max_packet_size) {
            Ok(p) => Ok(Some(p)),
            // At most `max_packet_size` and a header: `check` refused larger ones already.
            Err(mqttbytes::Error::InsufficientBytes(more)) => {
                self.rbuf.reserve(more);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn read_packet(&mut self) -> Result<Packet, ReadError> {
        loop {
            if let Some(p) = self.next_packet().map_err(ReadError::Malformed)? {
                return Ok(p);
            }
            if self.fill().await.map_err(|_| ReadError::Closed)? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    fn shrink(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_BUFFER {
            self.rbuf = BytesMut::new();
        }
    }

    fn push(&mut self, packet: Packet) {
        // Only a QoS > 0 PUBLISH without a packet id fails, which the broker never builds.
        if let Err(e) = packet.write(&mut self.wbuf, usize::MAX) {
            tracing::warn!("MQTT broker: could not encode a packet: {e}");
        }
    }

    async fn write_out(&mut self, timeout: Duration) -> Result<(), DisconnectReason> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let written = tokio::time::timeout(timeout, async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        })
        .await;
        self.wbuf.clear();
        if self.wbuf.capacity() > KEEP_BUFFER {
            self.wbuf = BytesMut::new();
        }
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(DisconnectReason::Closed),
            Err(_) => Err(DisconnectReason::WriteTimeout),
        }
    }

    /// Answers a CONNECT that is refused; the connection is closed afterwards.
    async fn refuse(&mut self, code: ConnectReturnCode, timeout: Duration) {
        self.push(Packet::ConnAck(ConnAck::new(code, false)));
        let _ = self.write_out(timeout).await;
        let _ = tokio::time::timeout(timeout, self.stream.shutdown()).await;
    }
}

/// Serves one accepted connection until it ends.
pub(crate) async fn serve<H: Hooks, S>(
    shared: Arc<Shared<H>>,
    stream: S,
    addr: SocketAddr,
    tls: bool,
    guard: ConnGuard<H>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _guard = guard;
    let mut stop = shared.stop.subscribe();
    let mut io = Io {
        stream,
        rbuf: BytesMut::new(),
        wbuf: BytesMut::new(),
        max_packet_size: shared.config.max_packet_size,
    };
    let first = tokio::select! {
        _ = stop.wait_for(|s| *s) => return,
        r = tokio::time::timeout(shared.config.connect_timeout, io.read_packet()) => r,
    };
    let connect = match first {
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Ok(other)) => {
            tracing::debug!("MQTT broker: {addr} sent {other:?} before CONNECT");
            return;
        }
        Ok(Err(ReadError::Malformed(
            mqttbytes::Error::InvalidProtocol | mqttbytes::Error::InvalidProtocolLevel(_),
        ))) => {
            io.refuse(ConnectReturnCode::RefusedProtocolVersion, shared.config.write_timeout)
                .await;
            return;
        }
        Ok(Err(ReadError::Malformed(e))) => {
            tracing::debug!("MQTT broker: {addr} sent a malformed CONNECT: {e}");
            return;
        }
        Ok(Err(ReadError::Closed)) => return,
        Err(_) => {
            tracing::debug!("MQTT broker: {addr} sent no CONNECT in time");
            return;
        }
    };
    let Some(mut conn) = Connection::open(shared, &mut io, connect, addr, tls, &mut stop).await else {
        return;
    };
    let reason = conn.run(&mut io, &mut stop).await;
    conn.close(reason);
}

struct Connection<H: Hooks> {
    shared: Arc<Shared<H>>,
    session: Arc<Session<H::Principal>>,
    principal: Arc<H::Principal>,
    wake: Arc<Notify>,
    id: u64,
    addr: SocketAddr,
    will: Option<Will>,
    keep_alive: Duration,
    /// QoS 2 publishes received and not yet released (PUBREL), by packet id.
    awaiting_release: Vec<u16>,
    /// The session was resumed: its unacknowledged messages go out again first.
    resend: bool,
}

impl<H: Hooks> Connection<H> {
    /// Checks a CONNECT and attaches the connection to its session, or refuses it.
    async fn open<S: AsyncRead + AsyncWrite + Unpin>(
        shared: Arc<Shared<H>>,
        io: &mut Io<S>,
        connect: rumqttc::mqttbytes::v4::Connect,
        addr: SocketAddr,
        tls: bool,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Self> {
        let wt = shared.config.write_timeout;
        if connect.protocol != Protocol::V4 {
            io.refuse(ConnectReturnCode::RefusedProtocolVersion, wt).await;
            return None;
        }
        let clean = connect.clean_session;
        let client_id = if connect.client_id.is_empty() {
            if !clean {
                io.refuse(ConnectReturnCode::BadClientId, wt).await;
                return None;
            }
            format!("auto-{}", shared.next_id())
        } else {
            connect.client_id
        };
        if client_id.len() > shared.config.max_client_id_len || client_id.contains('\0') {
            io.refuse(ConnectReturnCode::BadClientId, wt).await;
            return None;
        }
        let will = match connect.last_will {
            Some(w) if topic::valid_topic(&w.topic) => Some(Will {
                topic: w.topic,
                payload: w.message,
                qos: qos(w.qos),
            }),
            Some(_) => {
                tracing::debug!("MQTT broker: {addr} sent a will with an invalid topic");
                return None;
            }
            None => None,
        };
        let (username, password) = connect.login.map(|l| (l.username, l.password)).unwrap_or_default();
        let ip = addr.ip();
        if !lock(&shared.limiter).allows(ip, Instant::now()) {
            tracing::info!(
                "the MQTT broker refused a login from {addr} (client {client_id:?}, user {username:?}): too many \
                 failed logins from that address"
            );
            io.refuse(ConnectReturnCode::NotAuthorized, wt).await;
            return None;
        }
        let login = Login {
            addr,
            client_id: &client_id,
            username: &username,
            password: password.as_bytes(),
            clean_session: clean,
            tls,
        };
        let checked = tokio::select! {
            _ = stop.wait_for(|s| *s) => return None,
            r = tokio::time::timeout(shared.config.auth_timeout, shared.hooks.authenticate(&login)) => r,
        };
        let principal = match checked {
            Ok(Ok(p)) => p,
            Ok(Err(refusal)) => {
                let code = match refusal {
                    Refusal::BadUsernameOrPassword => ConnectReturnCode::BadUserNamePassword,
                    Refusal::NotAuthorized => ConnectReturnCode::NotAuthorized,
                    Refusal::ServerUnavailable => ConnectReturnCode::ServiceUnavailable,
                };
                if refusal != Refusal::ServerUnavailable {
                    lock(&shared.limiter).failed(ip, Instant::now());
                }
                tracing::info!(
                    "the MQTT broker refused a login from {addr} (client {client_id:?}, user {username:?}): {refusal:?}"
                );
                io.refuse(code, wt).await;
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    "the MQTT broker's login check for {addr} took longer than {:?}",
                    shared.config.auth_timeout
                );
                io.refuse(ConnectReturnCode::ServiceUnavailable, wt).await;
                return None;
            }
        };
        if let Some(w) = &will
            && !shared.hooks.may_publish(&principal, &w.topic)
        {
            tracing::info!(
                "the MQTT broker refused a login from {addr} (client {client_id:?}, user {username:?}): its will \
                 topic {:?} is not allowed",
                w.topic
            );
            io.refuse(ConnectReturnCode::NotAuthorized, wt).await;
            return None;
        }
        let principal = Arc::new(principal);
        let wake = Arc::new(Notify::new());
        let id = shared.next_id();
        let live = Live {
            conn: id,
            addr,
            principal: principal.clone(),
            wake: wake.clone(),
        };
        let attached = match shared.attach(&username, &client_id, clean, live) {
            Ok(a) => a,
            Err(e) => {
                let code = match e {
                    AttachError::IdentifierRejected => ConnectReturnCode::BadClientId,
                    AttachError::ServerUnavailable => ConnectReturnCode::ServiceUnavailable,
                };
                tracing::info!("the MQTT broker refused a session to {addr} (client {client_id:?}): {code:?}");
                io.refuse(code, wt).await;
                return None;
            }
        };
        tracing::debug!("MQTT broker: {addr} connected as {username:?}, client {client_id:?}");
        let conn = Connection {
            shared,
            session: attached.session,
            principal,
            wake,
            id,
            addr,
            will,
            keep_alive: Duration::from_secs(connect.keep_alive.into()),
            awaiting_release: Vec::new(),
            resend: attached.present,
        };
        if attached.present {
            conn.recheck_subscriptions();
        }
        io.push(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            attached.present,
        )));
        Some(conn)
    }

    /// A resumed session keeps only the subscriptions its new principal may hold.
    fn recheck_subscriptions(&self) {
        let held: Vec<Box<str>> = lock(&self.session.state)
            .subscriptions
            .iter()
            .map(|(f, _)| f.clone())
            .collect();
        let denied: Vec<Box<str>> = held
            .into_iter()
            .filter(|f| !self.shared.hooks.may_subscribe(&self.principal, f))
            .collect();
        if denied.is_empty() {
            return;
        }
        let mut router = write(&self.shared.router);
        lock(&self.session.state)
            .subscriptions
            .retain(|(f, _)| !denied.contains(f));
        for raw in &denied {
            if let Some((group, filter)) = topic::parse_subscription(raw) {
                router.remove(group, filter, self.session.id);
            }
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
        stop: &mut watch::Receiver<bool>,
    ) -> DisconnectReason {
        let mut last_heard = Instant::now();
        let patience = self.keep_alive * 3 / 2;
        loop {
            // Packets already read (those that came in one segment with the CONNECT, too).
            loop {
                match io.next_packet() {
                    Ok(Some(packet)) => {
                        if let Err(reason) = self.handle(packet, io) {
                            return reason;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("MQTT broker: client {:?} at {}: {e}", self.session.client_id, self.addr);
                        return DisconnectReason::ProtocolError;
                    }
                }
            }
            io.shrink();
            if let Err(reason) = self.flush(io).await {
                return reason;
            }
            let woken = self.wake.notified();
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return DisconnectReason::Stopped,
                _ = woken => {}
                read = io.fill() => match read {
                    Ok(0) | Err(_) => return DisconnectReason::Closed,
                    Ok(_) => last_heard = Instant::now(),
                },
                _ = tokio::time::sleep_until(last_heard + patience), if !patience.is_zero() => {
                    return DisconnectReason::KeepAliveTimeout;
                }
            }
        }
    }

    fn handle<S>(&mut self, packet: Packet, io: &mut Io<S>) -> Result<(), DisconnectReason>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match packet {
            Packet::Publish(p) => return self.on_publish(p, io),
            Packet::PubAck(PubAck { pkid }) => {
                lock(&self.session.state).acknowledge(pkid, &self.shared.counters);
            }
            Packet::PubRel(r) => {
                self.awaiting_release.retain(|id| *id != r.pkid);
                io.push(Packet::PubComp(PubComp::new(r.pkid)));
            }
            Packet::Subscribe(s) => self.on_subscribe(s, io),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u, io),
            Packet::PingReq => io.push(Packet::PingResp),
            Packet::Disconnect => return Err(DisconnectReason::Clean),
            other => {
                tracing::debug!(
                    "MQTT broker: client {:?} at {} sent {other:?}, which a client may not",
                    self.session.client_id,
                    self.addr
                );
                return Err(DisconnectReason::ProtocolError);
            }
        }
        Ok(())
    }

    fn on_publish<S>(&mut self, p: Publish, io: &mut Io<S>) -> Result<(), DisconnectReason>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if !topic::valid_topic(&p.topic) {
            return Err(DisconnectReason::ProtocolError);
        }
        if !self.shared.hooks.may_publish(&self.principal, &p.topic) {
            tracing::info!(
                "the MQTT broker disconnected client {:?} (user {:?}, {}): it may not publish on {:?}",
                self.session.client_id,
                self.session.username,
                self.addr,
                p.topic
            );
            return Err(DisconnectReason::Denied);
        }
        match p.qos {
            QoS::AtMostOnce => {
                self.shared.route(&p.topic, &p.payload, Qos::AtMostOnce);
            }
            QoS::AtLeastOnce => {
                self.shared.route(&p.topic, &p.payload, Qos::AtLeastOnce);
                io.push(Packet::PubAck(PubAck::new(p.pkid)));
            }
            QoS::ExactlyOnce => {
                // Delivered once: a duplicate before PUBREL is only acknowledged again.
                if !self.awaiting_release.contains(&p.pkid) {
                    if self.awaiting_release.len() >= self.shared.config.max_inflight {
                        return Err(DisconnectReason::ProtocolError);
                    }
                    self.shared.route(&p.topic, &p.payload, Qos::AtLeastOnce);
                    self.awaiting_release.push(p.pkid);
                }
                io.push(Packet::PubRec(PubRec::new(p.pkid)));
            }
        }
        Ok(())
    }

    fn on_subscribe<S>(&mut self, s: Subscribe, io: &mut Io<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut codes = Vec::with_capacity(s.filters.len());
        for f in s.filters {
            let code = match topic::parse_subscription(&f.path) {
                None => SubscribeReasonCode::Failure,
                Some(_) if !self.shared.hooks.may_subscribe(&self.principal, &f.path) => {
                    tracing::info!(
                        "the MQTT broker refused client {:?} (user {:?}, {}) a subscription to {:?}",
                        self.session.client_id,
                        self.session.username,
                        self.addr,
                        f.path
                    );
                    SubscribeReasonCode::Failure
                }
                Some((group, filter)) => {
                    let granted = qos(f.qos);
                    let mut router = write(&self.shared.router);
                    let mut st = lock(&self.session.state);
                    let limit = self.shared.config.max_subscriptions_per_session;
                    let known = st.subscriptions.iter().position(|(p, _)| **p == *f.path);
                    if st.ended || (known.is_none() && st.subscriptions.len() >= limit) {
                        SubscribeReasonCode::Failure
                    } else {
                        match known {
                            Some(i) => st.subscriptions[i].1 = granted,
                            None => st.subscriptions.push((f.path.as_str().into(), granted)),
                        }
                        drop(st);
                        router.insert(group, filter, self.session.clone(), granted);
                        SubscribeReasonCode::Success(mqtt_qos(granted))
                    }
                }
            };
            codes.push(code);
        }
        io.push(Packet::SubAck(SubAck::new(s.pkid, codes)));
    }

    fn on_unsubscribe<S>(&mut self, u: Unsubscribe, io: &mut Io<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        for raw in &u.topics {
            let mut router = write(&self.shared.router);
            let mut st = lock(&self.session.state);
            if let Some(i) = st.subscriptions.iter().position(|(p, _)| **p == **raw) {
                st.subscriptions.remove(i);
                drop(st);
                if let Some((group, filter)) = topic::parse_subscription(raw) {
                    router.remove(group, filter, self.session.id);
                }
            }
        }
        io.push(Packet::UnsubAck(UnsubAck::new(u.pkid)));
    }

    /// Moves what the session has for the client into the write buffer (unacknowledged
    /// messages again first, after a resumption) and writes it.
    async fn flush<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut Io<S>) -> Result<(), DisconnectReason> {
        {
            let counters = &self.shared.counters;
            let mut st = lock(&self.session.state);
            if st.live.as_ref().map(|l| l.conn) != Some(self.id) {
                return Err(DisconnectReason::Replaced);
            }
            if std::mem::take(&mut self.resend) {
                for (pkid, out) in &st.inflight {
                    encode(&mut io.wbuf, out, *pkid, true);
                }
            }
            while io.wbuf.len() < WRITE_BATCH {
                let Some(front) = st.queue.front() else { break };
                if front.qos == Qos::AtLeastOnce && st.inflight.len() >= self.shared.config.max_inflight {
                    break;
                }
                let Some(out) = st.queue.pop_front() else { break };
                match out.qos {
                    Qos::AtMostOnce => {
                        encode(&mut io.wbuf, &out, 0, false);
                        st.release(out.msg.size(), counters);
                    }
                    Qos::AtLeastOnce => {
                        let pkid = st.next_pkid();
                        encode(&mut io.wbuf, &out, pkid, false);
                        st.inflight.push_back((pkid, out));
                    }
                }
            }
            if io.wbuf.len() >= WRITE_BATCH && !st.queue.is_empty() {
                // Come back for the rest after this batch is written.
                self.wake.notify_one();
            }
        }
        io.write_out(self.shared.config.write_timeout).await
    }

    fn close(self, reason: DisconnectReason) {
        if !self.shared.detach(&self.session, self.id, reason) {
            return;
        }
        tracing::debug!(
            "MQTT broker: client {:?} at {} disconnected: {reason:?}",
            self.session.client_id,
            self.addr
        );
        if reason.publishes_will()
            && let Some(will) = self.will
        {
            self.shared.route(&will.topic, &will.payload, will.qos);
        }
    }
}

fn encode(wbuf: &mut BytesMut, out: &Outgoing, pkid: u16, dup: bool) {
    let publish = Publish {
        dup,
        qos: mqtt_qos(out.qos),
        retain: false,
        topic: out.msg.topic.to_string(),
        pkid,
        payload: out.msg.payload.clone(),
    };
    if let Err(e) = publish.write(wbuf) {
        tracing::warn!("MQTT broker: could not encode a message on {}: {e}", out.msg.topic);
    }
}
