//! Measures the broker as Latchkey uses it: resident memory with 1,000 and 10,000 idle
//! authenticated lock connections, and the time to bring 10,000 locks up 64 at a time (each
//! connects, subscribes to its `down` topic, publishes on its `up` topic and waits for the
//! server's echo on `down`, as pairing does).
//!
//! ```text
//! cargo run --release -p latchkey-broker --example load
//! cargo run --release -p latchkey-broker --features compare-rumqttd --example load -- --compare
//! ```
//!
//! Options: `--locks N` (10000), `--first N` (1000, the first memory reading), `--at-once N`
//! (64), `--compare` (rumqttd 0.20 too, configured as the server configures it today), `--tls`
//! (the locks connect through the TLS listener, with a certificate made for the run; the
//! echoing server client stays on plain TCP).
//!
//! The broker runs in a child process (this program started again with `--serve KIND`), so its
//! resident memory (VmRSS) is its own; the clients (`rumqttc`, the server's and the virtual
//! lock's client) run here. The open-file limit is raised to its hard limit for both.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::{Semaphore, oneshot};

const SERVER_USER: &str = "latchkey-server";
const SERVER_PASSWORD: &str = "server-password";

fn lock_id(i: usize) -> String {
    format!("lk_load{i:05}")
}

fn lock_password(id: &str) -> String {
    format!("pw-{id}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
            .unwrap_or(default)
    };
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let kind = args.get(i + 1).map(String::as_str).unwrap_or("latchkey");
        serve(kind);
        return;
    }
    let locks = value("--locks", 10_000);
    let first = value("--first", 1_000).min(locks);
    let at_once = value("--at-once", 64).max(1);
    let needed = locks as u64 + 200;
    let limit = raise_open_files();
    if limit < needed {
        eprintln!(
            "the open-file limit is {limit}, {locks} locks need about {needed}: raise it (ulimit -Hn {needed}) \
             or pass --locks"
        );
        std::process::exit(2);
    }
    let tls = args.iter().any(|a| a == "--tls");
    if tls && args.iter().any(|a| a == "--compare") {
        eprintln!("--tls measures latchkey-broker only (rumqttd is built without TLS here)");
        std::process::exit(2);
    }
    let mut kinds = vec!["latchkey"];
    if args.iter().any(|a| a == "--compare") {
        if !cfg!(feature = "compare-rumqttd") {
            eprintln!("--compare needs --features compare-rumqttd");
            std::process::exit(2);
        }
        kinds.push("rumqttd");
    }
    println!(
        "{locks} locks, {at_once} at a time; memory read at {first} and {locks}; open-file limit {limit}; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (n, kind) in kinds.iter().enumerate() {
        // Each broker on its own loopback address, so that the ports the first run leaves in
        // TIME_WAIT do not count against the second.
        let bind: SocketAddr = format!("127.0.0.{}:0", n + 1).parse().unwrap();
        rt.block_on(measure(kind, bind, tls, locks, first, at_once));
    }
}

/// Raises the soft open-file limit to the hard one; returns the limit in force.
#[allow(unsafe_code)]
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

struct BrokerProcess {
    child: Child,
    /// The plain listener.
    addr: SocketAddr,
    /// Where the locks connect, and how.
    locks: SocketAddr,
    transport: Transport,
    /// The certificate's folder, removed at the end.
    files: Option<std::path::PathBuf>,
}

/// A certificate for the loopback addresses, written where the broker process reads it, and a
/// client configuration that trusts it.
fn tls_files() -> (Vec<String>, Transport, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "127.0.0.2".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("latchkey-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let mut roots = latchkey_broker::rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let provider = Arc::new(latchkey_broker::rustls::crypto::ring::default_provider());
    let client = latchkey_broker::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let args = vec![
        "--cert".to_string(),
        cert.display().to_string(),
        "--key".to_string(),
        key.display().to_string(),
    ];
    (
        args,
        Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(client))),
        dir,
    )
}

impl BrokerProcess {
    fn start(kind: &str, bind: SocketAddr, tls: bool) -> Self {
        let (tls_args, transport, files) = match tls {
            true => {
                let (args, transport, dir) = tls_files();
                (args, transport, Some(dir))
            }
            false => (Vec::new(), Transport::Tcp, None),
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", kind, "--bind", &bind.to_string()])
            .args(&tls_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addrs: Vec<SocketAddr> = line
            .trim()
            .strip_prefix("listening ")
            .map(|a| a.split(' ').filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        let (addr, locks) = match addrs[..] {
            [plain] if !tls => (plain, plain),
            [plain, tls] => (plain, tls),
            _ => panic!("the {kind} broker did not start: {line:?}"),
        };
        BrokerProcess {
            child,
            addr,
            locks,
            transport,
            files,
        }
    }

    /// The broker process's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // Closing its stdin ends it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        if let Some(dir) = &self.files {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn options(addr: SocketAddr, transport: &Transport, client_id: &str, user: &str, password: &str) -> MqttOptions {
    // As the virtual lock sets them.
    let mut mo = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    mo.set_transport(transport.clone());
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_clean_session(true);
    mo.set_max_packet_size(65 * 1024, 65 * 1024);
    mo.set_credentials(user, password);
    mo
}

fn client(mo: MqttOptions, requests: usize) -> (AsyncClient, rumqttc::EventLoop) {
    let (client, mut events) = AsyncClient::new(mo, requests);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    events.set_network_options(net);
    (client, events)
}

/// The server's side: echoes every lock's `up` message to its `down` topic.
fn start_echo(addr: SocketAddr) -> (tokio::task::JoinHandle<()>, oneshot::Receiver<()>) {
    // Room for every lock's echo: the loop below must never wait on its own request queue.
    let (client, mut events) = client(
        options(addr, &Transport::Tcp, "load-server", SERVER_USER, SERVER_PASSWORD),
        100_000,
    );
    let (ready_tx, ready) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("$share/servers/latchkey/v1/locks/+/up", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(id) = p
                        .topic
                        .strip_prefix("latchkey/v1/locks/")
                        .and_then(|t| t.strip_suffix("/up"))
                    {
                        let down = format!("latchkey/v1/locks/{id}/down");
                        client
                            .try_publish(down, QoS::AtLeastOnce, false, p.payload.to_vec())
                            .unwrap();
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("the echoing server client lost the broker: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    (task, ready)
}

/// Brings one lock up: CONNECT, SUBSCRIBE to its down topic, a QoS 1 message up, the echo
/// down. Then keeps the connection (pings) until aborted.
async fn lock(addr: SocketAddr, transport: Transport, i: usize, up_done: oneshot::Sender<Duration>) {
    let started = Instant::now();
    let id = lock_id(i);
    let (client, mut events) = client(
        options(addr, &transport, &format!("lk-{i}"), &id, &lock_password(&id)),
        16,
    );
    let down = format!("latchkey/v1/locks/{id}/down");
    let up = format!("latchkey/v1/locks/{id}/up");
    let mut up_done = Some(up_done);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                client.subscribe(&down, QoS::AtLeastOnce).await.unwrap();
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                client
                    .publish(&up, QoS::AtLeastOnce, false, b"hello".to_vec())
                    .await
                    .unwrap();
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == down => {
                if let Some(tx) = up_done.take() {
                    let _ = tx.send(started.elapsed());
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("lock {i}: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn measure(kind: &str, bind: SocketAddr, tls: bool, locks: usize, first: usize, at_once: usize) {
    let broker = tokio::task::block_in_place(|| BrokerProcess::start(kind, bind, tls));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_empty = broker.rss_kib();
    let (echo, ready) = start_echo(broker.addr);
    ready.await.unwrap();
    let permits = Arc::new(Semaphore::new(at_once));
    let mut tasks = Vec::with_capacity(locks);
    let mut times = Vec::with_capacity(locks);
    let mut rows = Vec::new();
    let mut brought_up = 0;
    for target in [first, locks] {
        let phase = Instant::now();
        let mut waiting = Vec::new();
        for i in brought_up..target {
            let permit = permits.clone().acquire_owned().await.unwrap();
            let (tx, rx) = oneshot::channel();
            tasks.push(tokio::spawn(lock(broker.locks, broker.transport.clone(), i, tx)));
            waiting.push(tokio::spawn(async move {
                let t = tokio::time::timeout(Duration::from_secs(120), rx).await;
                drop(permit);
                t.ok().and_then(Result::ok)
            }));
        }
        for w in waiting {
            match w.await.unwrap() {
                Some(t) => times.push(t),
                None => eprintln!("a lock never got its echo"),
            }
        }
        let took = phase.elapsed();
        brought_up = target;
        // Let allocations settle (freed buffers, the last acknowledgements).
        tokio::time::sleep(Duration::from_secs(3)).await;
        rows.push((target, took, broker.rss_kib()));
    }
    // The time bringing locks up, without the pauses for the memory readings.
    let total: Duration = rows.iter().map(|(_, took, _)| *took).sum();
    times.sort();
    let pct = |p: f64| times.get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)));
    println!("\n== {kind}{} ==", if tls { ", locks over TLS" } else { "" });
    println!("broker alone: VmRSS {:.1} MiB", rss_empty as f64 / 1024.0);
    let mut previous = (0usize, rss_empty);
    for (n, took, rss) in &rows {
        println!(
            "{n:>6} locks: VmRSS {:>7.1} MiB; locks {}..{} up in {:.2} s ({:.0}/s)",
            *rss as f64 / 1024.0,
            previous.0,
            n,
            took.as_secs_f64(),
            (n - previous.0) as f64 / took.as_secs_f64()
        );
        previous = (*n, *rss);
    }
    if let [(n1, _, r1), (n2, _, r2)] = rows[..] {
        if n2 > n1 {
            println!(
                "per idle lock connection: {:.1} KiB (VmRSS difference between {n1} and {n2} locks)",
                (r2 as f64 - r1 as f64) / (n2 - n1) as f64
            );
        }
        println!(
            "per lock, all in: {:.1} KiB (VmRSS at {n2} locks over the broker alone, divided by {n2})",
            (r2 as f64 - rss_empty as f64) / n2 as f64
        );
    }
    println!(
        "all {locks} locks up (connect, subscribe, message up and echo down, {at_once} at a time) in {:.2} s; \
         per lock p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total.as_secs_f64(),
        pct(0.5).map_or(0.0, |d| d.as_secs_f64() * 1e3),
        pct(0.99).map_or(0.0, |d| d.as_secs_f64() * 1e3),
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    for t in tasks {
        t.abort();
    }
    echo.abort();
    drop(broker);
    // Let the sockets close before the next broker.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The child: runs one broker until its stdin closes.
fn serve(kind: &str) {
    let args: Vec<String> = std::env::args().collect();
    let bind: SocketAddr = args
        .iter()
        .position(|a| a == "--bind")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    match kind {
        "latchkey" => serve_latchkey(bind),
        #[cfg(feature = "compare-rumqttd")]
        "rumqttd" => serve_rumqttd(bind),
        other => panic!("no broker {other:?} here"),
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn wait_for_stdin_to_close() {
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
}

mod rules {
    use latchkey_broker::{Hooks, Login, Refusal, topic};

    pub enum Who {
        Server,
        Lock(String),
    }

    /// Latchkey's rules, with the load's passwords.
    pub struct Rules;

    impl Hooks for Rules {
        type Principal = Who;

        async fn authenticate(&self, login: &Login<'_>) -> Result<Who, Refusal> {
            let password = std::str::from_utf8(login.password).unwrap_or("");
            if login.username == super::SERVER_USER && password == super::SERVER_PASSWORD {
                Ok(Who::Server)
            } else if login.username.starts_with("lk_") && password == super::lock_password(login.username) {
                Ok(Who::Lock(login.username.to_string()))
            } else {
                Err(Refusal::BadUsernameOrPassword)
            }
        }

        fn may_subscribe(&self, who: &Who, filter: &str) -> bool {
            match who {
                Who::Server => true,
                Who::Lock(id) => topic::filter_within(filter, &format!("latchkey/v1/locks/{id}/down")),
            }
        }

        fn may_publish(&self, who: &Who, topic: &str) -> bool {
            match who {
                Who::Server => true,
                Who::Lock(id) => topic == format!("latchkey/v1/locks/{id}/up"),
            }
        }
    }
}

fn serve_latchkey(bind: SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = latchkey_broker::Broker::new(latchkey_broker::Config::default(), rules::Rules);
        let addr = broker.listen(bind).await.unwrap();
        match (arg("--cert"), arg("--key")) {
            (Some(cert), Some(key)) => {
                let config = latchkey_broker::server_config_from_pem(
                    &std::fs::read(cert).unwrap(),
                    &std::fs::read(key).unwrap(),
                )
                .unwrap();
                let tls = broker.listen_tls(SocketAddr::new(bind.ip(), 0), config).await.unwrap();
                println!("listening {addr} {tls}");
            }
            _ => println!("listening {addr}"),
        }
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(wait_for_stdin_to_close).await.unwrap();
        broker.stop().await;
    });
}

/// rumqttd 0.20 as `crates/server/src/gateway/mqtt.rs` configures it today.
#[cfg(feature = "compare-rumqttd")]
fn serve_rumqttd(bind: SocketAddr) {
    use std::collections::HashMap;

    let probe = std::net::TcpListener::bind(bind).unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: 65 * 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    connections.set_auth_handler(|_client_id, user: String, password: String| async move {
        (user == SERVER_USER && password == SERVER_PASSWORD)
            || (user.starts_with("lk_") && password == lock_password(&user))
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
    let kept = |filter: &str| {
        (
            filter.to_string(),
            rumqttd::SegmentConfig {
                max_segment_size: 8 * 1024,
                max_segment_count: 3,
            },
        )
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 11_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: Some(
                [kept("latchkey/v1/locks/+/down"), kept("latchkey/v1/pair/+/down")]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        },
        v4: Some(v4),
        ..Default::default()
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("rumqttd stopped: {e}");
        }
    });
    // Wait until it listens.
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("listening {addr}");
    std::io::stdout().flush().unwrap();
    wait_for_stdin_to_close();
}
