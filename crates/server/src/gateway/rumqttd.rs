//! The embedded broker as it is today: `rumqttd` on its own threads (MQTT 3.1.1, no TLS),
//! started by `broker::start_embedded`. Nothing else in the gateway names rumqttd, so another
//! broker can take its place behind `broker::start_embedded`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use latchkey_protocol::{MAX_MESSAGE_LEN, topics};

use super::broker::Logins;

/// The login check of an embedded broker, which the server that runs it may hand over.
type LoginSlot = Arc<std::sync::RwLock<Arc<dyn Logins>>>;

/// The embedded brokers this process runs, by the address they were asked for.
static EMBEDDED: Mutex<Vec<(SocketAddr, SocketAddr, LoginSlot)>> = Mutex::new(Vec::new());

/// The embedded broker on `addr`, started on first use. `rumqttd` cannot be stopped, so it
/// lives as long as the process: a server started again in the same process on the same
/// address (tests do this) takes the running broker over, logins checked by its own `logins`
/// from then on.
pub(super) fn start(addr: SocketAddr, logins: Arc<dyn Logins>) -> anyhow::Result<SocketAddr> {
    let mut brokers = EMBEDDED.lock().unwrap_or_else(|e| e.into_inner());
    if addr.port() != 0
        && let Some((_, actual, slot)) = brokers.iter().find(|(asked, _, _)| *asked == addr)
    {
        *slot.write().unwrap_or_else(|e| e.into_inner()) = logins;
        return Ok(*actual);
    }
    let slot: LoginSlot = Arc::new(std::sync::RwLock::new(logins));
    let actual = start_broker(addr, slot.clone())?;
    brokers.push((addr, actual, slot));
    Ok(actual)
}

/// Runs `rumqttd` on its own threads, listening on `addr` (MQTT 3.1.1, no TLS), with every
/// CONNECT checked by the `logins` of the moment (`docs/design/broker-auth.md`).
/// Port 0 picks a free port. Returns the address it listens on.
fn start_broker(addr: SocketAddr, logins: LoginSlot) -> anyhow::Result<SocketAddr> {
    // Fail clearly when the port is taken (rumqttd would only log it on its own thread).
    let probe = std::net::TcpListener::bind(addr)
        .with_context(|| format!("the embedded MQTT broker cannot listen on {addr}"))?;
    let addr = probe.local_addr()?;
    drop(probe);
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_MESSAGE_LEN + 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    // A refused login ends the connection before any CONNACK (rumqttd 0.20 sends none).
    connections.set_auth_handler(move |client_id, user, password| {
        let current = logins.read().unwrap_or_else(|e| e.into_inner()).clone();
        async move { current.allow(&client_id, &user, &password).await }
    });
    let mut v4 = HashMap::new();
    v4.insert(
        "v4-1".to_string(),
        rumqttd::ServerSettings {
            name: "v4-1".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections,
        },
    );
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            // 10,000 locks (`performance.md`) with room for reconnections in flight.
            max_connections: 11_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            // rumqttd keeps what is published to a subscription's filter in memory, up to
            // size x count per filter, whoever has read it. The servers' shared filters may
            // keep the defaults above; one lock's (and one discriminator's) filter keeps a few
            // KiB, or 10,000 locks would hold up to 100 MiB each over time
            // (`docs/design/embedded-broker-tuning.md`).
            custom_segment: Some(
                [
                    format!("{}/locks/+/down", topics::ROOT),
                    format!("{}/pair/+/down", topics::ROOT),
                ]
                .into_iter()
                .map(|filter| {
                    let kept = rumqttd::SegmentConfig {
                        max_segment_size: 8 * 1024,
                        max_segment_count: 3,
                    };
                    (filter, kept)
                })
                .collect(),
            ),
            ..Default::default()
        },
        v4: Some(v4),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!("the embedded MQTT broker stopped: {e}");
            }
        })
        .context("starting the embedded MQTT broker")?;
    // Before anyone connects (the gateway connects once this returns), so that every
    // accepted connection inherits it.
    if let Err(e) = nodelay::on_listener(addr, Duration::from_secs(2)) {
        tracing::warn!("the embedded broker's connections keep Nagle's algorithm (slower replies): {e:#}");
    }
    Ok(addr)
}

/// rumqttd 0.20 never sets `TCP_NODELAY` on the connections it accepts and has no option for
/// it, so each small packet it forwards can wait for the client's delayed ACK of the previous
/// one (about 40 ms on Linux; a remote unlock crosses the broker twice). On Linux an accepted
/// socket inherits `TCP_NODELAY` from its listening socket, so the server sets it once on the
/// broker's listener, found in this process by its address
/// (`docs/design/embedded-broker-tuning.md`).
mod nodelay {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    #[cfg(target_os = "linux")]
    pub fn on_listener(addr: SocketAddr, wait: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(fd) = listener_fd(addr)? {
                return set(fd);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no listening socket on {addr} within {wait:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn on_listener(_addr: SocketAddr, _wait: Duration) -> anyhow::Result<()> {
        anyhow::bail!("only done on Linux")
    }

    /// The inodes of sockets listening on `addr`'s port, from `/proc/self/net/tcp{,6}` (the
    /// network namespace's table), then this process's descriptor that holds one of them.
    #[cfg(target_os = "linux")]
    fn listener_fd(addr: SocketAddr) -> anyhow::Result<Option<i32>> {
        let mut inodes = Vec::new();
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            inodes.extend(listening_inodes(&text, addr.port()));
        }
        if inodes.is_empty() {
            return Ok(None);
        }
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let entry = entry?;
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) else {
                continue;
            };
            if inodes.iter().any(|i| i == inode)
                && let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok())
            {
                return Ok(Some(fd));
            }
        }
        Ok(None)
    }

    /// Rows of a `/proc/net/tcp` table in state LISTEN (`0A`) on `port`: their inodes.
    pub(super) fn listening_inodes(table: &str, port: u16) -> Vec<String> {
        let want = format!(":{port:04X}");
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A").then(|| f[9].to_string())
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn set(fd: i32) -> anyhow::Result<()> {
        use std::os::fd::BorrowedFd;
        // SAFETY: `fd` is the broker's listening socket, which rumqttd keeps open for the life
        // of the process (the embedded broker is never stopped); it is only borrowed for one
        // setsockopt and never closed here.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        socket2::SockRef::from(&fd).set_tcp_nodelay(true)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_rows_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:A3B1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:A3B1 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1\n\
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(nodelay::listening_inodes(table, 0xA3B1), vec!["4242".to_string()]);
        assert!(nodelay::listening_inodes(table, 0xA3B2).is_empty());
        assert!(nodelay::listening_inodes("garbage\nmore garbage", 1).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn connections_accepted_after_the_fix_send_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _before = std::net::TcpStream::connect(addr).unwrap();
        let (early, _) = listener.accept().unwrap();
        assert!(!early.nodelay().unwrap(), "the default keeps Nagle's algorithm");
        nodelay::on_listener(addr, Duration::from_secs(1)).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap(), "accepted sockets inherit TCP_NODELAY");
    }
}
