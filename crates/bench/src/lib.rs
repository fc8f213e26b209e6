//! The server's load tool, run as `latchkey bench` (the `latchkey` binary parses the flags,
//! `BenchArgs`, and calls `run`). It starts the binary it runs in as `latchkey serve`, a second
//! process (a fresh temporary data folder, the embedded broker), pairs virtual locks of its own
//! process through the public API, drives the server over real HTTP and MQTT, and prints each
//! figure beside a ceiling measured in the same run (`docs/performance.md`, "The server"). A
//! failed request never stops a run: it is counted and shown in the table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, PatchMember, Schedule, Window};

/// Flags of `latchkey bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds of load for each reading throughput figure.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of load for the guest-key rows and `pgbench` (the target asks for 60).
    #[arg(long, default_value_t = 60)]
    pub write_duration: u64,
    /// Concurrent keep-alive connections for the reading load.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Concurrent connections for the writing load (guest keys; also `pgbench -c`).
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Samples for each latency figure (remote unlock, rights propagation, MQTT round trip).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Member counts of the listing (the target is judged at 20).
    #[arg(long, value_delimiter = ',', default_value = "20,100")]
    pub members: Vec<usize>,
    /// Connected locks at which rights propagation is measured (the target: 1,000).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub propagation_locks: Vec<usize>,
    /// Locks connected at once for the memory row (the target: 10,000); it is also measured
    /// at the largest propagation size.
    #[arg(long, default_value_t = 10_000)]
    pub locks: usize,
    /// Pairings in flight at once while the bench adds locks.
    #[arg(long, default_value_t = 64)]
    pub pair_concurrency: usize,
    /// An external broker (`mqtt://HOST:PORT`, e.g. Mosquitto) for the server and the locks
    /// instead of the server's embedded one: shows the server's own share of the memory per
    /// lock. The figures of the spec are taken on the embedded broker.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// A PostgreSQL admin URL (`postgres://postgres@127.0.0.1:5432/postgres`): adds the
    /// guest-key row on PostgreSQL, beside `pgbench`, in a fresh database made for the run.
    #[arg(long)]
    pub pg: Option<String>,
    /// Which rows to run, comma-separated: ready, members, unlock, link (the encrypted
    /// unlock beside the signed-only one), webhook, propagation, locks, guest-keys, calendar
    /// (a 500-reservation rental calendar's first and unchanged second read).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ready,members,unlock,link,webhook,guest-keys,propagation,locks,calendar"
    )]
    pub rows: Vec<String>,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub what: String,
    pub figure: String,
    pub ceiling: String,
    pub ratio: String,
    pub target: String,
    /// `None`: no target can be judged (no figure, or information only).
    pub met: Option<bool>,
}

impl Row {
    /// A row whose measurement could not be taken: it shows why and misses its target.
    fn failed(what: String, target: impl Into<String>, error: &anyhow::Error) -> Row {
        Row {
            what,
            figure: format!("failed: {error:#}"),
            ceiling: "-".into(),
            ratio: "-".into(),
            target: target.into(),
            met: Some(false),
        }
    }
}

/// The table as Markdown, the way `docs/performance.md` keeps it.
pub fn render(rows: &[Row]) -> String {
    let mut out =
        String::from("| what | figure | ceiling (same run) | ratio | target | met? |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.what, r.figure, r.ceiling, r.ratio, r.target, met
        ));
    }
    out
}

/// Latencies and errors of one load run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Latencies of the successful requests, in any order.
    pub ok: Vec<Duration>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Stats {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ok.len() as f64 / s } else { 0.0 }
    }

    /// The `p`-th percentile (nearest rank) of the successful latencies.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        percentile(&self.ok, p)
    }

    fn errors_note(&self) -> String {
        if self.errors == 0 {
            String::new()
        } else {
            format!(", {} errors", self.errors)
        }
    }
}

/// The `p`-th percentile (0 < p <= 100, nearest rank) of `samples`; `None` when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
        None => "n/a".into(),
    }
}

fn ratio(figure: f64, ceiling: f64) -> Option<f64> {
    (ceiling > 0.0 && figure.is_finite()).then(|| figure / ceiling)
}

fn fmt_ratio(r: Option<f64>, percent: bool) -> String {
    match r {
        Some(r) if percent => format!("{:.0} %", r * 100.0),
        Some(r) => format!("{r:.2}x"),
        None => "n/a".into(),
    }
}

/// Runs the rows asked for and prints the table (also after each row, on stderr).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    latchkey_client::install_crypto_provider();
    let want = |name: &str| args.rows.iter().any(|r| r == name);
    let mut rows = Vec::new();
    let started = Instant::now();
    let show = |rows: &[Row]| eprintln!("{}\n({:.0} s so far)", render(rows), started.elapsed().as_secs_f64());
    if want("ready") {
        rows.push(ready_row().await);
        show(&rows);
    }
    if [
        "members",
        "guest-keys",
        "unlock",
        "link",
        "webhook",
        "propagation",
        "locks",
    ]
    .iter()
    .any(|r| want(r))
    {
        let mut w = World::start(None, args.mqtt.as_deref())
            .await
            .context("starting the SQLite server")?;
        w.grow_locks(1, 1).await.context("pairing the first lock")?;
        if want("members") {
            let mut sizes = args.members.clone();
            sizes.sort_unstable();
            for size in sizes {
                rows.extend(members_rows(&w, &args, size).await?);
                show(&rows);
            }
        }
        if want("unlock") {
            rows.push(unlock_row(&w, &args).await);
            show(&rows);
        }
        if want("link") {
            rows.push(link_cost_row(&w, &args).await);
            show(&rows);
        }
        if want("webhook") {
            rows.push(webhook_row(&w, &args).await);
            show(&rows);
        }
        if want("propagation") || want("locks") {
            let mut sizes = if want("propagation") {
                args.propagation_locks.clone()
            } else {
                Vec::new()
            };
            sizes.sort_unstable();
            for size in sizes {
                rows.push(propagation_row(&mut w, &args, size).await);
                show(&rows);
            }
            if want("locks") {
                rows.push(locks_row(&mut w, &args).await);
                show(&rows);
            }
        }
        w.stop().await;
    }
    if want("guest-keys") {
        rows.push(match guest_key_load(None, &args).await {
            Ok(s) => guest_keys_sqlite_row(&s, &args),
            Err(e) => Row::failed(guest_keys_sqlite_what(&args), "at least 500/s for 60 s", &e),
        });
        show(&rows);
    }
    if want("guest-keys")
        && let Some(admin) = &args.pg
    {
        rows.push(guest_keys_pg_row(admin, &args).await);
    }
    if want("calendar") {
        rows.extend(calendar_rows(&args).await);
        show(&rows);
    }
    println!("{}", render(&rows));
    eprintln!("bench took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------- world

const OWNER: &str = "+12025550170";
/// Where the bench keeps its data folders when it can (tmpfs on Linux).
const SHM: &str = "/dev/shm";
/// The Recurring Guest whose schedule the rights-propagation row changes, one per lock.
const GUEST: &str = "+12025550171";

/// A signed-in person.
#[derive(Clone)]
struct Session {
    api: Client,
    account_id: String,
}

/// A paired virtual lock of the bench process.
struct BenchLock {
    id: String,
    handle: latchkey_vlock::Handle,
    /// Whether `GUEST` is a member (Recurring Guest), and which of two schedules it has now.
    guest: Option<bool>,
}

/// `latchkey serve` as its own process (this binary, a fresh data folder, SQLite there or
/// `database_url`, the embedded broker on a free port), an owner signed in over the API, and
/// the virtual locks of this process paired to it through the API.
struct World {
    child: tokio::process::Child,
    pid: u32,
    dir: tempfile::TempDir,
    /// The virtual locks' state files.
    lock_dir: tempfile::TempDir,
    base: String,
    broker_host: String,
    broker_port: u16,
    /// Whether the broker is the server's embedded one.
    embedded: bool,
    owner: Session,
    locks: Vec<BenchLock>,
    /// The number of the next lock state file (never reused).
    next_state: usize,
    /// Pairings that failed (their locks were replaced by new ones).
    pair_failures: usize,
    guest: Option<Session>,
    /// Keep-alive connections for the load.
    http: reqwest::Client,
    /// How the server and this world's locks protect their messages: encrypted (what they
    /// do), or signed only for the row that measures what encryption costs.
    link: latchkey_vlock::LinkMode,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl World {
    async fn start(database_url: Option<&str>, mqtt: Option<&str>) -> anyhow::Result<World> {
        World::start_with(database_url, mqtt, latchkey_vlock::LinkMode::Encrypted).await
    }

    /// [`World::start`] with the link mode of the server and of the locks it will pair.
    async fn start_with(
        database_url: Option<&str>,
        mqtt: Option<&str>,
        link: latchkey_vlock::LinkMode,
    ) -> anyhow::Result<World> {
        let dir = tempfile::tempdir()?;
        // Thousands of virtual locks save their state (with fsync) before each answer; on
        // tmpfs that costs what a lock's own flash write would, not this VM's disk. The
        // server's data folder stays on disk.
        let lock_dir = match Path::new(SHM).is_dir() {
            true => tempfile::tempdir_in(SHM).or_else(|_| tempfile::tempdir())?,
            false => tempfile::tempdir()?,
        };
        let server_dir = dir.path().join("server");
        std::fs::create_dir_all(&server_dir)?;
        let http_port = free_port()?;
        let (broker_host, broker_port, mqtt_arg) = match mqtt {
            Some(url) => {
                let (host, port) = latchkey_vlock::parse_broker(url)?;
                (host, port, url.to_string())
            }
            None => {
                let port = free_port()?;
                ("127.0.0.1".to_string(), port, format!("embedded://127.0.0.1:{port}"))
            }
        };
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        cmd.arg("serve")
            .arg("--http")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--mqtt")
            .arg(&mqtt_arg)
            .arg("--data-dir")
            .arg(&server_dir)
            .arg("--sms")
            .arg(format!("file:{}", server_dir.join("outbox.jsonl").display()))
            .arg("--log")
            .arg("warn")
            // The webhook row's receiver is on loopback.
            .arg("--allow-private-targets=true")
            // The bench signs in a hundred people from one address within minutes.
            .env("LATCHKEY_OTP_PER_CLIENT", "100000")
            .env("LATCHKEY_OTP_PER_PHONE", "1000")
            .env("LATCHKEY_UNLOCK_TIMEOUT_MS", "5000")
            // On a shared external broker, this run's servers share with no one else.
            .env("LATCHKEY_MQTT_SHARE_GROUP", format!("bench{}", random_hex(4)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        if link == latchkey_vlock::LinkMode::SignedOnly {
            // `latchkey_server::config::BENCH_SIGNED_ONLY_LINK` (this crate does not link the server).
            cmd.env("LK_BENCH_SIGNED_ONLY_LINK", "1");
        }
        let mut child = cmd.spawn().context("starting `latchkey serve`")?;
        let pid = child.id().context("the server has no process id")?;
        let base = format!("http://127.0.0.1:{http_port}");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/readyz")).send().await;
            if matches!(&ready, Ok(r) if r.status().is_success()) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                anyhow::bail!("the server exited ({status}): {log}");
            }
            anyhow::ensure!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let api = Client::new(base.clone());
        let owner = sign_in(&api, &server_dir.join("outbox.jsonl"), OWNER).await?;
        Ok(World {
            child,
            pid,
            dir,
            lock_dir,
            base,
            broker_host,
            broker_port,
            embedded: mqtt.is_none(),
            owner,
            locks: Vec::new(),
            next_state: 0,
            pair_failures: 0,
            guest: None,
            http,
            link,
        })
    }

    fn outbox(&self) -> std::path::PathBuf {
        self.dir.path().join("server").join("outbox.jsonl")
    }

    /// The first lock's URL for `path` (`/members`, ...).
    fn url(&self, path: &str) -> String {
        let id = self.locks.first().map_or("", |l| l.id.as_str());
        format!("{}/api/v1/locks/{id}{path}", self.base)
    }

    fn token(&self) -> &str {
        self.owner.api.token().unwrap_or_default()
    }

    fn broker_name(&self) -> String {
        match self.embedded {
            true => "its embedded broker".into(),
            false => format!("the external broker mqtt://{}:{}", self.broker_host, self.broker_port),
        }
    }

    /// The server's own broker password on its embedded broker (read from its broker secret),
    /// `None` on an external broker.
    fn server_login(&self) -> anyhow::Result<Option<String>> {
        if !self.embedded {
            return Ok(None);
        }
        let path = self.dir.path().join("server").join("broker-secret");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .with_context(|| format!("{} is not a 32-byte hex key", path.display()))?;
        Ok(Some(
            latchkey_protocol::broker::server_password(&bytes).as_str().to_string(),
        ))
    }

    /// The server's resident memory (VmRSS), in bytes.
    fn server_rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        vm_rss(&status).context("no VmRSS in /proc/PID/status")
    }

    /// Starts virtual locks until there are `total`, pairs each through `POST /locks`
    /// (`concurrency` at a time: a new pairing starts as soon as one ends, so one slow
    /// pairing does not hold the others back), and waits until each has applied its first
    /// sync. Pairing finds a lock by the first three digits of its setup code (the
    /// discriminator), and a lock counts every exchange started on its discriminator as an
    /// attempt, so the locks being paired at any moment have distinct discriminators (as an
    /// installer pairing a batch would see). Keeps what paired when some fail.
    async fn grow_locks(&mut self, total: usize, concurrency: usize) -> anyhow::Result<()> {
        let mut first_error = None;
        let concurrency = concurrency.max(1);
        let base = self.locks.len();
        let mut started = 0usize;
        let mut paired = Vec::new();
        let mut in_flight = std::collections::HashSet::new();
        let mut set = tokio::task::JoinSet::new();
        let mut skipped = 0;
        loop {
            // Keep `concurrency` pairings running while locks are missing.
            while set.len() < concurrency && base + paired.len() + set.len() < total {
                let n = self.next_state;
                self.next_state += 1;
                let state = self.lock_dir.path().join(format!("{n}.state"));
                let handle = latchkey_vlock::start_with(
                    latchkey_vlock::Options {
                        state: state.clone(),
                        broker_host: self.broker_host.clone(),
                        broker_port: self.broker_port,
                        control: None,
                        fake_clock: false,
                        relock: Duration::from_millis(200),
                    },
                    self.link,
                )
                .await
                .with_context(|| format!("starting virtual lock {n}"))?;
                let code = handle.setup_code().context("a fresh lock has a setup code")?;
                let d = code.get(..3).unwrap_or_default().to_string();
                if !in_flight.insert(d.clone()) {
                    drop(handle);
                    let _ = std::fs::remove_file(&state);
                    skipped += 1;
                    anyhow::ensure!(skipped < 1_000_000, "no setup codes with distinct discriminators");
                    continue;
                }
                let i = base + started;
                started += 1;
                let api = self.owner.api.clone();
                set.spawn(async move {
                    let id = pair(&api, &handle, i).await;
                    (i, d, handle, id)
                });
            }
            let Some(r) = set.join_next().await else { break };
            let (i, d, handle, id) = r.context("a pairing task failed")?;
            in_flight.remove(&d);
            match id {
                Ok(id) => paired.push((
                    i,
                    BenchLock {
                        id,
                        handle,
                        guest: None,
                    },
                )),
                Err(e) => {
                    self.pair_failures += 1;
                    if self.pair_failures == 1 {
                        eprintln!("first failed pairing: {e:#}");
                    }
                    first_error.get_or_insert(e);
                    // As many failures as pairings at once with no success (or more failures
                    // than locks): pairing does not work. Single failures are counted
                    // (`pair_failures`) and replaced by new locks.
                    if (paired.is_empty() && self.pair_failures >= concurrency) || self.pair_failures > total {
                        break;
                    }
                }
            }
        }
        // Whatever still runs after a stop for failures is dropped with the set.
        drop(set);
        paired.sort_by_key(|(i, _)| *i);
        self.locks.extend(paired.into_iter().map(|(_, l)| l));
        // Each lock syncs once after pairing (the owner's rights), while the next ones pair.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        for (i, l) in self.locks.iter().enumerate() {
            let mut rx = l.handle.applied_version();
            tokio::time::timeout_at(deadline, rx.wait_for(|v| *v > 0))
                .await
                .with_context(|| format!("lock {i} did not apply its first sync"))?
                .with_context(|| format!("lock {i} stopped"))?;
        }
        match first_error {
            Some(e) if self.locks.len() < total => Err(e),
            _ => Ok(()),
        }
    }

    /// Invites `GUEST` to each lock that lacks it (Recurring Guest, schedule A) and accepts.
    /// Returns the guest's session.
    async fn add_guest_everywhere(&mut self, concurrency: usize) -> anyhow::Result<Session> {
        let guest = match &self.guest {
            Some(guest) => guest.clone(),
            None => {
                let guest = sign_in(&self.owner.api, &self.outbox(), GUEST).await?;
                self.guest = Some(guest.clone());
                guest
            }
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, l) in self.locks.iter().enumerate().filter(|(_, l)| l.guest.is_none()) {
            let (owner, guest_api, id, permits) =
                (self.owner.api.clone(), guest.api.clone(), l.id.clone(), permits.clone());
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let r = async {
                    let inv = owner
                        .invite(
                            &id,
                            &CreateInvitation {
                                name: None,
                                phone: GUEST.into(),
                                access_level: AccessLevel::RecurringGuest,
                                schedule: Some(schedule(false)),
                            },
                        )
                        .await?;
                    guest_api.accept_invitation(&inv.id).await?;
                    latchkey_client::Result::Ok(())
                }
                .await;
                (i, r)
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, r) = r.context("an invitation task failed")?;
            r.map_err(|e| anyhow::anyhow!("inviting the guest to lock {i}: {e}"))?;
            if let Some(l) = self.locks.get_mut(i) {
                l.guest = Some(false);
            }
        }
        Ok(guest)
    }

    /// Gives the first lock `n` members in all (the owner and Family members who sign in and
    /// accept their invitations).
    async fn grow_members(&self, n: usize) -> anyhow::Result<usize> {
        let door = self.locks.first().context("no lock")?;
        let have = self
            .owner
            .api
            .members(&door.id)
            .await
            .map_err(|e| anyhow::anyhow!("members: {e}"))?
            .len();
        for i in have..n {
            let phone = format!("+1202555{:04}", 2000 + i);
            let inv = self
                .owner
                .api
                .invite(
                    &door.id,
                    &CreateInvitation {
                        name: None,
                        phone: phone.clone(),
                        access_level: AccessLevel::Family,
                        schedule: None,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("invite {phone}: {e}"))?;
            let member = sign_in(&self.owner.api, &self.outbox(), &phone).await?;
            member
                .api
                .accept_invitation(&inv.id)
                .await
                .map_err(|e| anyhow::anyhow!("accept {phone}: {e}"))?;
        }
        Ok(self
            .owner
            .api
            .members(&door.id)
            .await
            .map_err(|e| anyhow::anyhow!("members: {e}"))?
            .len())
    }

    async fn stop(mut self) {
        self.locks.clear();
        let _ = self.child.kill().await;
    }
}

/// One of two weekday schedules, so that each change is a real change of rights.
fn schedule(wide: bool) -> Schedule {
    let (from, to) = if wide { ("08:00", "18:00") } else { ("09:00", "17:00") };
    Schedule {
        windows: vec![Window {
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            from: from.into(),
            to: to.into(),
        }],
        valid_from: None,
        valid_until: None,
    }
}

/// Pairs one virtual lock through `POST /locks`, retrying while the lock is not yet reachable.
async fn pair(api: &Client, handle: &latchkey_vlock::Handle, i: usize) -> anyhow::Result<String> {
    let code = handle.setup_code().context("a fresh lock has a setup code")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    // A pairing started before the lock listens waits for the server's whole step timeout.
    while !handle.listening() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let name = if i == 0 {
        "Bench door".to_string()
    } else {
        format!("Bench lock {i}")
    };
    loop {
        match api.pair_lock(&code, &name, "UTC").await {
            Ok(lock) => return Ok(lock.id),
            // The lock took the server's Finish, but the server gave up before the lock's Done
            // reached it: the lock is paired to a lock id the server does not keep. Retrying
            // cannot help (the lock no longer listens for pairing).
            Err(e) if handle.setup_code().is_none() => {
                anyhow::bail!("lock {i} considers itself paired, the server does not: {e}")
            }
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "lock {i} did not pair yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("pairing lock {i}: {e}"),
        }
    }
}

/// VmRSS of a `/proc/PID/status` text, in bytes.
pub fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Signs `phone` in over the API with the code the server wrote to its SMS outbox.
async fn sign_in(api: &Client, outbox: &Path, phone: &str) -> anyhow::Result<Session> {
    let seen = std::fs::read_to_string(outbox).unwrap_or_default().lines().count();
    api.request_otp(phone)
        .await
        .map_err(|e| anyhow::anyhow!("sign-in code for {phone}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        let text = std::fs::read_to_string(outbox).unwrap_or_default();
        let code = text
            .lines()
            .skip(seen)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["to"] == phone)
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .filter(|b| b.contains("sign-in code"))
            .filter_map(|b| {
                b.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_string)
            })
            .last();
        if let Some(c) = code {
            break c;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no sign-in code for {phone} in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let created = api
        .create_session(phone, &code)
        .await
        .map_err(|e| anyhow::anyhow!("signing {phone} in: {e}"))?;
    Ok(Session {
        api: api.with_token(created.token),
        account_id: created.account.id,
    })
}

// ----------------------------------------------------------------------------------- load

/// What one request of a load is.
#[derive(Clone)]
enum Request {
    Get(String),
    /// Guest-key creations on these locks' URLs, one lock at a time: the `n`-th key goes to
    /// lock `n / KEYS_PER_LOCK`, so every writer works on the same lock (the contention the
    /// row measures) and none is filled past what it can hold (512 keys).
    GuestKeysRotating(Vec<String>),
}

/// Keys created on one lock before the rotating load moves to the next.
const KEYS_PER_LOCK: u64 = 500;

/// `connections` tasks, each sending `req` back to back for `duration`.
async fn load(http: &reqwest::Client, token: &str, req: Request, connections: usize, duration: Duration) -> Stats {
    let errors = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let http = http.clone();
        let token = token.to_string();
        let req = req.clone();
        let errors = errors.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let builder = match &req {
                    Request::Get(url) => http.get(url),
                    Request::GuestKeysRotating(urls) => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let url = &urls[((n / KEYS_PER_LOCK) as usize) % urls.len().max(1)];
                        http.post(url).json(&guest_key_body(n))
                    }
                };
                match builder.bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => ok.push(t.elapsed()),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    Ok(r) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            eprintln!("first failed request: {status} {body}");
                        }
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("first failed request: {e}");
                        }
                    }
                }
            }
            ok
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        match t.await {
            Ok(v) => stats.ok.extend(v),
            Err(_) => stats.errors += 1,
        }
    }
    stats.elapsed = start.elapsed();
    stats.errors += errors.load(Ordering::Relaxed);
    stats
}

/// The `n`-th guest key of a run. Codes are minted per hour-aligned window and a lock never
/// issues the same code twice, so each key gets a window of its own: a start `n % 8000` hours
/// ahead (within the year allowed), a length of 1 to 24 hours.
fn guest_key_body(n: u64) -> serde_json::Value {
    let now = jiff::Timestamp::now();
    let start = now + jiff::SignedDuration::from_hours((n % 8000) as i64);
    let end = start + jiff::SignedDuration::from_hours(1 + ((n / 8000) % 24) as i64);
    serde_json::json!({
        "name": format!("Guest {n}"),
        "starts_at": start.to_string(),
        "ends_at": end.to_string(),
        "one_time": false,
        "precautions_accepted": true,
    })
}

// ------------------------------------------------------------------------------ the rows

/// `latchkey serve` (this binary, a fresh data folder, embedded defaults on free ports) from
/// spawn to `/readyz` answering 200.
async fn ready_row() -> Row {
    let target = "under 1 s".to_string();
    let what = "`latchkey serve` to `/readyz` 200, fresh data folder".to_string();
    let figure = match time_to_ready().await {
        Ok(d) => d,
        Err(e) => return Row::failed(what, target, &e),
    };
    Row {
        what,
        figure: format!("{:.3} s", figure.as_secs_f64()),
        ceiling: "-".into(),
        ratio: "-".into(),
        target,
        met: Some(figure < Duration::from_secs(1)),
    }
}

async fn time_to_ready() -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let http_port = free_port()?;
    let mqtt_port = free_port()?;
    let exe = std::env::current_exe()?;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{http_port}/readyz");
    let start = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("serve")
        .arg("--http")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--mqtt")
        .arg(format!("embedded://127.0.0.1:{mqtt_port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--sms")
        .arg(format!("file:{}", dir.path().join("outbox.jsonl").display()))
        .arg("--log")
        .arg("warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let result = loop {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            break Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(20) {
            break Err(anyhow::anyhow!("no 200 from /readyz within 20 s"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!("serve exited: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = child.kill().await;
    result
}

/// Gives the first lock `size` members, then loads the members listing and `/healthz` in turn
/// with the same connections and duration. The targets are judged at 20 members; other sizes
/// show how the cost grows.
async fn members_rows(w: &World, args: &BenchArgs, size: usize) -> anyhow::Result<Vec<Row>> {
    let n = w.grow_members(size).await?;
    let d = Duration::from_secs(args.duration);
    let c = args.connections;
    let judged = n == 20;
    // A short warm-up fills the connection pool.
    let _ = load(
        &w.http,
        w.token(),
        Request::Get(w.url("/members")),
        c,
        Duration::from_millis(500),
    )
    .await;
    let listing = load(&w.http, w.token(), Request::Get(w.url("/members")), c, d).await;
    let trivial = load(&w.http, w.token(), Request::Get(format!("{}/healthz", w.base)), c, d).await;
    let r = ratio(listing.rate(), trivial.rate());
    let p99 = listing.percentile(99.0);
    Ok(vec![
        Row {
            what: format!(
                "`GET /locks/{{id}}/members`, {n} members, {c} connections, {} s: throughput",
                args.duration
            ),
            figure: format!("{:.0}/s{}", listing.rate(), listing.errors_note()),
            ceiling: format!("`GET /healthz` {:.0}/s{}", trivial.rate(), trivial.errors_note()),
            ratio: fmt_ratio(r, true),
            target: if judged {
                "at least 40 %".into()
            } else {
                "(growth)".into()
            },
            met: if judged {
                r.map(|r| r >= 0.4 && listing.errors == 0)
            } else {
                None
            },
        },
        Row {
            what: format!("the same, {n} members: p99 latency (p50)"),
            figure: format!("{} ({})", ms(p99), ms(listing.percentile(50.0))),
            ceiling: format!(
                "`/healthz` {} ({})",
                ms(trivial.percentile(99.0)),
                ms(trivial.percentile(50.0))
            ),
            ratio: "-".into(),
            target: if judged {
                "under 25 ms".into()
            } else {
                "(growth)".into()
            },
            met: if judged {
                p99.map(|p| p < Duration::from_millis(25))
            } else {
                None
            },
        },
    ])
}

/// Guest-key creation on a server of its own (SQLite when `database_url` is `None`), with
/// enough locks paired that none is filled: a lock holds 512 keys, so the load moves to the
/// next lock every 500 keys (`GuestKeysRotating`), all writers on the same lock at a time.
async fn guest_key_load(database_url: Option<&str>, args: &BenchArgs) -> anyhow::Result<Stats> {
    let mut w = World::start(database_url, args.mqtt.as_deref()).await?;
    // Enough locks for 2,500 creations a second, taken in turn.
    let locks = (args.write_duration as usize * 5).max(1);
    w.grow_locks(locks, 16).await?;
    let urls = w
        .locks
        .iter()
        .map(|l| format!("{}/api/v1/locks/{}/guest-keys", w.base, l.id))
        .collect();
    let s = load(
        &w.http,
        w.token(),
        Request::GuestKeysRotating(urls),
        args.writers,
        Duration::from_secs(args.write_duration),
    )
    .await;
    w.stop().await;
    Ok(s)
}

fn guest_keys_sqlite_what(args: &BenchArgs) -> String {
    format!(
        "`POST /locks/{{id}}/guest-keys`, SQLite, {} connections, {} s, all on one lock, the next one every 500 keys",
        args.writers, args.write_duration
    )
}

fn guest_keys_sqlite_row(s: &Stats, args: &BenchArgs) -> Row {
    Row {
        what: guest_keys_sqlite_what(args),
        figure: format!("{:.0}/s, p99 {}{}", s.rate(), ms(s.percentile(99.0)), s.errors_note()),
        ceiling: "-".into(),
        ratio: "-".into(),
        target: "at least 500/s for 60 s".into(),
        // Shorter than a minute cannot show the rate sustained for one, only miss it.
        met: if s.rate() < 500.0 || s.errors > 0 {
            Some(false)
        } else {
            (args.write_duration >= 60).then_some(true)
        },
    }
}

/// Guest-key creation on a fresh PostgreSQL database beside `pgbench` single-row inserts into
/// a scratch table of that database.
async fn guest_keys_pg_row(admin: &str, args: &BenchArgs) -> Row {
    let what = format!(
        "`POST /locks/{{id}}/guest-keys`, PostgreSQL, {} connections, {} s, all on one lock, the next one every 500 keys",
        args.writers, args.write_duration
    );
    let fail = |e: anyhow::Error| Row::failed(what.clone(), "at least 40 % of pgbench", &e);
    let (url, name) = match fresh_pg(admin).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let result = async {
        let s = guest_key_load(Some(&url), args).await?;
        let tps = pgbench(&url, args).await?;
        anyhow::Ok((s, tps))
    }
    .await;
    drop_pg(admin, &name).await;
    let (s, tps) = match result {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let r = ratio(s.rate(), tps);
    Row {
        what,
        figure: format!("{:.0}/s, p99 {}{}", s.rate(), ms(s.percentile(99.0)), s.errors_note()),
        ceiling: format!("`pgbench -c {}` single-row INSERT {tps:.0} tps", args.writers),
        ratio: fmt_ratio(r, true),
        target: "at least 40 %".into(),
        met: r.map(|r| r >= 0.4 && s.errors == 0),
    }
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Creates `lk_bench_<random>` with `psql`; returns (its URL, its name).
async fn fresh_pg(admin: &str) -> anyhow::Result<(String, String)> {
    let name = format!("lk_bench_{}", random_hex(6));
    psql(admin, &format!("CREATE DATABASE {name}")).await?;
    let (base, _) = admin.rsplit_once('/').unwrap_or((admin, ""));
    Ok((format!("{base}/{name}"), name))
}

async fn drop_pg(admin: &str, name: &str) {
    if let Err(e) = psql(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await {
        eprintln!("dropping {name}: {e:#}");
    }
}

async fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("psql")
        .arg(url)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-qc")
        .arg(sql)
        .output()
        .await
        .context("running psql")?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// `pgbench -n -c WRITERS -T DURATION` with a script of one single-row INSERT into a scratch
/// table; returns its "tps =".
async fn pgbench(url: &str, args: &BenchArgs) -> anyhow::Result<f64> {
    psql(
        url,
        "CREATE TABLE bench_scratch (id bigserial PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, "INSERT INTO bench_scratch (name) VALUES ('guest');\n")?;
    let out = tokio::process::Command::new("pgbench")
        .arg("-n")
        .arg("-c")
        .arg(args.writers.to_string())
        .arg("-j")
        .arg("2")
        .arg("-T")
        .arg(args.write_duration.to_string())
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .await
        .context("running pgbench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    parse_tps(&text).with_context(|| format!("no 'tps =' in pgbench's output: {text}"))
}

/// The first "tps = N" of pgbench's report.
pub fn parse_tps(report: &str) -> Option<f64> {
    report.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("tps = ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Remote unlock (API call to the lock's confirmation) beside a bare MQTT QoS 1 round trip
/// on the same embedded broker, `samples` of each, one at a time.
async fn unlock_row(w: &World, args: &BenchArgs) -> Row {
    // After pairing the lock reconnects under its new identity: the first unlock that
    // succeeds (within 30 s, not counted) shows it is back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let r = w.http.post(w.url("/unlock")).bearer_auth(w.token()).send().await;
        if matches!(&r, Ok(r) if r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut unlock = Stats::default();
    let start = Instant::now();
    for i in 0..args.samples {
        let t = Instant::now();
        let r = w.http.post(w.url("/unlock")).bearer_auth(w.token()).send().await;
        match r {
            Ok(r) if r.status().is_success() => unlock.ok.push(t.elapsed()),
            Ok(r) => {
                if unlock.errors == 0 {
                    eprintln!("first failed unlock (sample {i}): {}", r.status());
                }
                unlock.errors += 1;
            }
            Err(e) => {
                if unlock.errors == 0 {
                    eprintln!("first failed unlock (sample {i}): {e}");
                }
                unlock.errors += 1;
            }
        }
    }
    unlock.elapsed = start.elapsed();
    let rtt = mqtt_round_trips(w, args.samples, true).await;
    let plain = mqtt_round_trips(w, args.samples, false).await;
    let (u50, m50) = (unlock.percentile(50.0), rtt.percentile(50.0));
    let r = match (u50, m50) {
        (Some(u), Some(m)) => ratio(u.as_secs_f64(), m.as_secs_f64()),
        _ => None,
    };
    Row {
        what: format!(
            "remote unlock, API call to the lock's confirmation, {} samples: p50 (p99)",
            args.samples
        ),
        figure: format!("{} ({}){}", ms(u50), ms(unlock.percentile(99.0)), unlock.errors_note()),
        ceiling: format!(
            "MQTT QoS 1 publish to own subscription, {}, TCP_NODELAY: {} ({}){}; \
             rumqttc defaults (no TCP_NODELAY): {} ({}){}",
            w.broker_name(),
            ms(m50),
            ms(rtt.percentile(99.0)),
            rtt.errors_note(),
            ms(plain.percentile(50.0)),
            ms(plain.percentile(99.0)),
            plain.errors_note()
        ),
        ratio: fmt_ratio(r, false),
        target: "p50 at most 5x".into(),
        met: r.map(|r| r <= 5.0 && unlock.errors == 0),
    }
}

/// One remote unlock on `w` until it succeeds (within 30 s): after pairing, the lock reconnects
/// under its new identity first.
async fn first_unlock(w: &World) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let r = w.http.post(w.url("/unlock")).bearer_auth(w.token()).send().await;
        if matches!(&r, Ok(r) if r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// One remote unlock on `w`, timed, into `stats`.
async fn timed_unlock(w: &World, stats: &mut Stats) {
    let t = Instant::now();
    match w.http.post(w.url("/unlock")).bearer_auth(w.token()).send().await {
        Ok(r) if r.status().is_success() => stats.ok.push(t.elapsed()),
        _ => stats.errors += 1,
    }
}

/// What encryption costs (`performance.md`, second round: the encrypted unlock at most 1.1x
/// the signed-only one). A second server process speaks the first round's signed-only link to
/// a lock that does the same (`latchkey_server::config::BENCH_SIGNED_ONLY_LINK`); unlocks alternate between the
/// two worlds, one at a time, so that both see the same machine at the same moments.
async fn link_cost_row(w: &World, args: &BenchArgs) -> Row {
    let what = format!(
        "remote unlock on the encrypted link, {} samples alternating with the signed-only one: p50 (p99)",
        args.samples
    );
    let failed = |why: String| Row {
        what: what.clone(),
        figure: format!("not measured: {why}"),
        ceiling: "the same on the signed-only link".into(),
        ratio: "n/a".into(),
        target: "at most 1.1x".into(),
        met: None,
    };
    let mut signed = match World::start_with(None, args.mqtt.as_deref(), latchkey_vlock::LinkMode::SignedOnly).await {
        Ok(s) => s,
        Err(e) => return failed(format!("the signed-only server did not start: {e:#}")),
    };
    if let Err(e) = signed.grow_locks(1, 1).await {
        signed.stop().await;
        return failed(format!("pairing the signed-only lock: {e:#}"));
    }
    if !first_unlock(w).await || !first_unlock(&signed).await {
        signed.stop().await;
        return failed("a lock did not answer its first unlock within 30 s".into());
    }
    let (mut enc, mut plain) = (Stats::default(), Stats::default());
    let start = Instant::now();
    for i in 0..args.samples {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            timed_unlock(w, &mut enc).await;
            timed_unlock(&signed, &mut plain).await;
        } else {
            timed_unlock(&signed, &mut plain).await;
            timed_unlock(w, &mut enc).await;
        }
    }
    enc.elapsed = start.elapsed();
    plain.elapsed = enc.elapsed;
    signed.stop().await;
    let (e50, s50) = (enc.percentile(50.0), plain.percentile(50.0));
    let r = match (e50, s50) {
        (Some(e), Some(s)) => ratio(e.as_secs_f64(), s.as_secs_f64()),
        _ => None,
    };
    Row {
        what,
        figure: format!("{} ({}){}", ms(e50), ms(enc.percentile(99.0)), enc.errors_note()),
        ceiling: format!(
            "signed-only link (server and lock both), {}: {} ({}){}",
            signed_broker_name(w),
            ms(s50),
            ms(plain.percentile(99.0)),
            plain.errors_note()
        ),
        ratio: fmt_ratio(r, false),
        target: "p50 at most 1.1x".into(),
        met: r.map(|r| r <= 1.1 && enc.errors == 0 && plain.errors == 0),
    }
}

/// The signed-only world runs on a broker like `w`'s: its own embedded one, or the same
/// external broker.
fn signed_broker_name(w: &World) -> String {
    match w.embedded {
        true => "its own embedded broker".into(),
        false => w.broker_name(),
    }
}

/// A change of rights (a Recurring Guest's schedule, `PATCH /locks/{id}/members/{account}`)
/// from the API call to the lock's acknowledgement, with `size` locks connected and paired, one
/// change at a time, round robin over the locks; beside a bare MQTT round trip on the same
/// broker. The end is when the lock has applied the sync, as its acknowledgement is sent.
async fn propagation_row(w: &mut World, args: &BenchArgs, size: usize) -> Row {
    let what = format!(
        "a change of rights reaching its lock (API call to the lock's acknowledgement), {size} locks connected, {} changes: p99 (p50)",
        args.samples
    );
    let target = if size >= 1000 {
        "p99 at most 10x"
    } else {
        "(growth; target at 1,000 locks)"
    };
    let ready = async {
        w.grow_locks(size, args.pair_concurrency).await?;
        w.add_guest_everywhere(args.pair_concurrency).await
    }
    .await;
    let guest = match ready {
        Ok(guest) => guest,
        Err(e) => return Row::failed(what, target, &e),
    };
    let mut stats = Stats::default();
    // The API call's own share of each sample (to its response: the change's transaction),
    // so the row says whether a slow sample was slow before or after the lock was told.
    let mut api = Stats::default();
    let start = Instant::now();
    for k in 0..args.samples {
        // Spread over all `size` locks: with fewer samples than locks, every lock once at most.
        let i = if args.samples >= size {
            k % size
        } else {
            k * size / args.samples
        };
        let Some(lock) = w.locks.get_mut(i) else { continue };
        let wide = !lock.guest.unwrap_or(false);
        let mut applied = lock.handle.applied_version();
        let before = *applied.borrow_and_update();
        let t = Instant::now();
        let patch = PatchMember {
            access_level: Some(AccessLevel::RecurringGuest),
            schedule: Some(schedule(wide)),
        };
        let r = w.owner.api.patch_member(&lock.id, &guest.account_id, &patch).await;
        if let Err(e) = r {
            if stats.errors == 0 {
                eprintln!("first failed change of rights (lock {i}): {e}");
            }
            stats.errors += 1;
            continue;
        }
        lock.guest = Some(wide);
        let answered = t.elapsed();
        match tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|v| *v > before)).await {
            Ok(Ok(_)) => {
                let total = t.elapsed();
                stats.ok.push(total);
                api.ok.push(answered);
            }
            _ => {
                if stats.errors == 0 {
                    eprintln!("lock {i} did not acknowledge a change of rights within 10 s");
                }
                stats.errors += 1;
            }
        }
    }
    stats.elapsed = start.elapsed();
    // Each sample beside its API share (pushed together above), slowest first.
    let mut slowest: Vec<(Duration, Duration)> = stats.ok.iter().copied().zip(api.ok.iter().copied()).collect();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let slow: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(total, answered)| format!("{} (API {})", ms(Some(*total)), ms(Some(*answered))))
        .collect();
    eprintln!("propagation, {size} locks: slowest samples {}", slow.join(", "));
    let rtt = mqtt_round_trips(w, args.samples, true).await;
    let (p99, m99) = (stats.percentile(99.0), rtt.percentile(99.0));
    let r = match (p99, m99) {
        (Some(u), Some(m)) => ratio(u.as_secs_f64(), m.as_secs_f64()),
        _ => None,
    };
    Row {
        what,
        figure: format!(
            "{} ({}); the API call to its answer alone: p99 {} (p50 {}){}",
            ms(p99),
            ms(stats.percentile(50.0)),
            ms(api.percentile(99.0)),
            ms(api.percentile(50.0)),
            stats.errors_note()
        ),
        ceiling: format!(
            "MQTT QoS 1 round trip, same broker: p99 {} (p50 {}){}",
            ms(m99),
            ms(rtt.percentile(50.0)),
            rtt.errors_note()
        ),
        ratio: fmt_ratio(r, false),
        target: target.into(),
        met: if size >= 1000 {
            r.map(|r| r <= 10.0 && stats.errors == 0)
        } else {
            None
        },
    }
}

/// Locks connected and paired to the one server process (each syncing once), and the server's
/// resident memory: at the locks already there, then at `args.locks`.
async fn locks_row(w: &mut World, args: &BenchArgs) -> Row {
    let what = format!(
        "locks connected to one server process and {}, each syncing once: {} locks",
        w.broker_name(),
        args.locks
    );
    let target = "10,000 locks, server VmRSS under 300 MiB, pairing them under 60 s (at least 167 locks/s)".to_string();
    let before = (w.locks.len(), w.server_rss().ok());
    let start = Instant::now();
    let grown = w.grow_locks(args.locks, args.pair_concurrency).await;
    let took = start.elapsed();
    // Pairings per second while adding (the first locks were paired by earlier rows).
    let rate = w.locks.len().saturating_sub(before.0) as f64 / took.as_secs_f64().max(0.001);
    let after = w.server_rss().ok();
    let online = w
        .owner
        .api
        .locks()
        .await
        .map(|ls| ls.iter().filter(|l| l.online).count())
        .unwrap_or(0);
    let mib = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    let growth = match (before.1, after) {
        (Some(b), Some(a)) if w.locks.len() > before.0 => format!(
            "; {:.1} KiB per added lock",
            (a as f64 - b as f64) / 1024.0 / (w.locks.len() - before.0) as f64
        ),
        _ => String::new(),
    };
    let failed = grown
        .as_ref()
        .err()
        .map(|e| format!(", failed: {e:#}"))
        .unwrap_or_default();
    // The embedded broker's share: bare MQTT connections (the pairing login, no subscription,
    // no lock behind them) added on top, and what each adds to the server's memory.
    let bare = 500;
    let bare_clients = match w.embedded {
        true => Some(bare_connections(w.broker_port, bare).await),
        false => None,
    };
    let broker_share = match bare_clients {
        None => String::new(),
        Some(Ok(clients)) => {
            let with = w.server_rss().ok();
            drop(clients);
            match (after, with) {
                (Some(a), Some(b)) => format!(
                    "; {bare} bare MQTT connections add {:.1} KiB each",
                    (b as f64 - a as f64) / 1024.0 / bare as f64
                ),
                _ => String::new(),
            }
        }
        Some(Err(e)) => format!("; bare connections failed: {e:#}"),
    };
    Row {
        what,
        figure: format!(
            "{} paired and synced, {online} online, {} pairings failed; VmRSS {} (at {} locks: {}{growth}{broker_share}); added in {:.0} s, {rate:.0} locks/s{failed}",
            w.locks.len(),
            w.pair_failures,
            mib(after),
            before.0,
            mib(before.1),
            took.as_secs_f64()
        ),
        ceiling: "-".into(),
        ratio: "-".into(),
        target,
        met: Some(
            grown.is_ok()
                && w.locks.len() >= 10_000
                && online >= 10_000
                && after.is_some_and(|b| b < 300 * 1024 * 1024)
                && rate >= 10_000.0 / 60.0,
        ),
    }
}

/// `n` MQTT connections to the broker with the public pairing login, each kept open by its own
/// event loop; returns once all are acknowledged (or fails after 60 s).
async fn bare_connections(
    port: u16,
    n: usize,
) -> anyhow::Result<Vec<(rumqttc::AsyncClient, tokio::task::JoinHandle<()>)>> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let connected = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut mo = MqttOptions::new(format!("bench-bare-{}", random_hex(6)), "127.0.0.1", port);
        mo.set_keep_alive(Duration::from_secs(30));
        mo.set_credentials(
            latchkey_protocol::broker::PAIRING_USERNAME,
            latchkey_protocol::broker::PAIRING_PASSWORD,
        );
        let (client, mut events) = AsyncClient::new(mo, 4);
        let connected = connected.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        });
        clients.push((client, task));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (connected.load(Ordering::Relaxed) as usize) < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {n} connected",
            connected.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the broker settle its per-connection state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(clients)
}

/// A rumqttc client that publishes (QoS 1) to a topic it subscribes to, `samples` times, one
/// at a time; each latency is publish to receipt.
async fn mqtt_round_trips(w: &World, samples: usize, nodelay: bool) -> Stats {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut stats = Stats::default();
    // The embedded broker lets each login reach only its own topics: the bench logs in as the
    // server (it holds the server's data folder, so its broker secret). An external broker is
    // reached as the bench was told to reach it.
    let (client_id, login) = match w.server_login() {
        Ok(Some(password)) => (
            format!("latchkey-server-{}", random_hex(4)),
            Some((latchkey_protocol::broker::SERVER_USERNAME.to_string(), password)),
        ),
        Ok(None) => (format!("bench-{}", random_hex(4)), None),
        Err(e) => {
            eprintln!("no broker login for the round trip: {e:#}");
            stats.errors = samples.max(1) as u64;
            return stats;
        }
    };
    let mut mo = MqttOptions::new(client_id, &w.broker_host, w.broker_port);
    mo.set_keep_alive(Duration::from_secs(10));
    if let Some((user, password)) = login {
        mo.set_credentials(user, password);
    }
    let (client, mut events) = AsyncClient::new(mo, 64);
    // Without TCP_NODELAY a publish can wait for the peer's delayed ACK (about 40 ms on Linux):
    // the ceiling is what the broker can do, so the bench client sends at once.
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(nodelay);
    events.set_network_options(net);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<Vec<u8>>>();
    let task = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(Some(p.payload.to_vec()));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(None);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let topic = format!("bench/rtt/{}", random_hex(4));
    let start = Instant::now();
    let subscribed = async {
        client.subscribe(&topic, QoS::AtLeastOnce).await.ok()?;
        loop {
            if rx.recv().await?.is_none() {
                return Some(());
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), subscribed)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        stats.errors = samples as u64;
        task.abort();
        return stats;
    }
    for i in 0..samples {
        let payload = format!("{i}").into_bytes();
        let t = Instant::now();
        if client
            .publish(&topic, QoS::AtLeastOnce, false, payload.clone())
            .await
            .is_err()
        {
            stats.errors += 1;
            continue;
        }
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(m) = rx.recv().await {
                if m.as_deref() == Some(payload.as_slice()) {
                    return true;
                }
            }
            false
        })
        .await;
        match got {
            Ok(true) => stats.ok.push(t.elapsed()),
            _ => stats.errors += 1,
        }
    }
    stats.elapsed = start.elapsed();
    let _ = client.disconnect().await;
    task.abort();
    stats
}

// ------------------------------------------------------------------------- the webhook row

/// A webhook receiver on loopback: answers every request 204 at once and reports the instant
/// each `lock.unlocked` body arrived.
async fn webhook_receiver() -> anyhow::Result<(String, tokio::sync::mpsc::UnboundedReceiver<Instant>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: headers, then content-length bytes of body.
                    let (head_end, len) = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + len {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let at = Instant::now();
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or_default();
                    buf.drain(..head_end + len);
                    if conn
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if body["type"] == "lock.unlocked" {
                        let _ = tx.send(at);
                    }
                }
            });
        }
    });
    Ok((url, rx))
}

/// Webhook latency: a remote unlock's request to the receiver's 2xx for its `lock.unlocked`
/// (an upper bound of "lock event to 2xx": it includes the command going down to the lock),
/// beside the MQTT round trip.
async fn webhook_row(w: &World, args: &BenchArgs) -> Row {
    let what = format!(
        "webhook, lock event to the receiver's 2xx (loopback; from the unlock request), {} samples: p50 (p99)",
        args.samples
    );
    let target = "p99 within 20x";
    let (url, mut arrivals) = match webhook_receiver().await {
        Ok(r) => r,
        Err(e) => return Row::failed(what, target, &e),
    };
    let made = w
        .http
        .post(w.url("/webhooks"))
        .bearer_auth(w.token())
        .json(&serde_json::json!({"url": url, "events": ["lock.unlocked"]}))
        .send()
        .await;
    if !matches!(&made, Ok(r) if r.status().as_u16() == 201) {
        let e = anyhow::anyhow!("POST webhooks: {:?}", made.map(|r| r.status()));
        return Row::failed(what, target, &e);
    }
    let mut hook = Stats::default();
    let start = Instant::now();
    for _ in 0..args.samples {
        while arrivals.try_recv().is_ok() {}
        let t = Instant::now();
        let r = w.http.post(w.url("/unlock")).bearer_auth(w.token()).send().await;
        if !matches!(&r, Ok(r) if r.status().is_success()) {
            hook.errors += 1;
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await {
            Ok(Some(at)) => hook.ok.push(at.duration_since(t)),
            _ => hook.errors += 1,
        }
    }
    hook.elapsed = start.elapsed();
    let rtt = mqtt_round_trips(w, args.samples, true).await;
    let (h99, m99) = (hook.percentile(99.0), rtt.percentile(99.0));
    let r = match (h99, m99) {
        (Some(h), Some(m)) => ratio(h.as_secs_f64(), m.as_secs_f64()),
        _ => None,
    };
    Row {
        what,
        figure: format!("{} ({}){}", ms(hook.percentile(50.0)), ms(h99), hook.errors_note()),
        ceiling: format!(
            "MQTT QoS 1 publish to own subscription, {}, TCP_NODELAY: {} ({}){}",
            w.broker_name(),
            ms(rtt.percentile(50.0)),
            ms(m99),
            rtt.errors_note()
        ),
        ratio: fmt_ratio(r, false),
        target: target.into(),
        met: r.map(|r| r <= 20.0 && hook.errors == 0),
    }
}

// ------------------------------------------------------------------------ the calendar row

/// Reservations in the calendar row's feed (the spec's size).
const CALENDAR_RESERVATIONS: usize = 500;

/// An Airbnb-shaped export of `n` reservations (two nights every three days from `first`,
/// folded descriptions, a block after every fifth stay), the shape of the calendar crate's
/// criterion bench (`crates/calendar/benches/feed.rs`).
pub fn calendar_feed(n: usize, first: jiff::civil::Date) -> String {
    let mut s = String::from(
        "BEGIN:VCALENDAR\r\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0.0//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n",
    );
    for i in 0..n {
        let Ok(start) = first.checked_add(jiff::Span::new().days(i as i64 * 3)) else {
            break;
        };
        let Ok(end) = start.checked_add(jiff::Span::new().days(2)) else {
            break;
        };
        let (s8, e8) = (start.strftime("%Y%m%d"), end.strftime("%Y%m%d"));
        s += &format!(
            "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{e8}\r\nDTSTART;VALUE=DATE:{s8}\r\nUID:1418fb94e984-{i:032x}@airbnb.com\r\n\
             DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\r\n \
             tails/HM{i:08}\\nPhone Number (Last 4 Digits): {:04}\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n",
            i % 10_000
        );
        if i % 5 == 0 {
            s += &format!(
                "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{e8}\r\nDTSTART;VALUE=DATE:{e8}\r\nUID:blk-{i}@airbnb.com\r\nSUMMARY:Airbnb (Not available)\r\nEND:VEVENT\r\n"
            );
        }
    }
    s + "END:VCALENDAR\r\n"
}

/// A feed server on loopback: answers every GET with `body` as `text/calendar` (keep-alive,
/// no validators, so every read fetches and parses the whole feed).
async fn calendar_feed_server(body: String) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/listing.ics", listener.local_addr()?);
    let response = Arc::new(
        [
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/calendar; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body.into_bytes(),
        ]
        .concat(),
    );
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: a GET has no body, so it ends with its headers.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
                    buf.drain(..end);
                    if conn.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

/// What the calendar row measured.
struct CalendarRun {
    feed_bytes: usize,
    /// A plain GET of the feed from this process: the fetch alone.
    fetch: Duration,
    first: Duration,
    keys: usize,
    second: Duration,
    second_report: latchkey_client::model::CalendarSync,
    /// Activity-log entries the second read wrote.
    second_events: usize,
    /// Lock versions the second read made (the lock's applied version, 2 s after).
    second_versions: u64,
}

async fn calendar_run(w: &World) -> anyhow::Result<CalendarRun> {
    let lock = w.locks.first().context("no lock")?;
    let api = &w.owner.api;
    // Every stay in the future whatever the lock's zone: from the day after tomorrow (UTC).
    let first_day = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(2))?;
    let body = calendar_feed(CALENDAR_RESERVATIONS, first_day);
    let feed_bytes = body.len();
    let url = calendar_feed_server(body).await?;
    let t = Instant::now();
    let fetched = w.http.get(&url).send().await?.bytes().await?;
    let fetch = t.elapsed();
    anyhow::ensure!(
        fetched.len() == feed_bytes,
        "the feed server answered {} bytes",
        fetched.len()
    );

    let mut applied = lock.handle.applied_version();
    let body = latchkey_client::model::CreateCalendar {
        url,
        name: Some("Bench listing".into()),
        check_in: "15:00".into(),
        check_out: "11:00".into(),
    };
    let t = Instant::now();
    let cal = api
        .create_calendar(&lock.id, &body)
        .await
        .map_err(|e| anyhow::anyhow!("POST calendars: {e}"))?;
    let first = t.elapsed();
    anyhow::ensure!(cal.last_error.is_none(), "the first read failed: {:?}", cal.last_error);
    let keys = cal.reservations.len();
    // The lock takes the new keys; the second read starts from a settled lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let l = api.lock(&lock.id).await.map_err(|e| anyhow::anyhow!("GET lock: {e}"))?;
        if l.sync == latchkey_client::model::SyncState::Synced {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the lock did not sync the calendar's keys"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let version_before = *applied.borrow_and_update();
    let newest = |events: Vec<latchkey_client::model::Event>| events.first().map(|e| e.id.clone());
    let log_before = api
        .events(&lock.id, Some(100), None)
        .await
        .map_err(|e| anyhow::anyhow!("events: {e}"))?;
    let newest_before = newest(log_before);

    let t = Instant::now();
    let second_report = api
        .sync_calendar(&lock.id, &cal.id)
        .await
        .map_err(|e| anyhow::anyhow!("POST sync: {e}"))?;
    let second = t.elapsed();
    // Anything the read changed would reach the lock within this.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second_versions = applied.borrow_and_update().saturating_sub(version_before);
    let log_after = api
        .events(&lock.id, Some(100), None)
        .await
        .map_err(|e| anyhow::anyhow!("events: {e}"))?;
    let second_events = match &newest_before {
        Some(id) => log_after.iter().take_while(|e| &e.id != id).count(),
        None => log_after.len(),
    };
    Ok(CalendarRun {
        feed_bytes,
        fetch,
        first,
        keys,
        second,
        second_report,
        second_events,
        second_versions,
    })
}

/// A rental calendar of 500 reservations on a fresh server and lock: its first read (the
/// feed fetched, parsed, planned, 500 guest keys minted and written in one change of the lock)
/// and a second read of the same feed, which must write nothing.
async fn calendar_rows(args: &BenchArgs) -> Vec<Row> {
    let what_first = format!(
        "rental calendar, {CALENDAR_RESERVATIONS} reservations (loopback feed, no ETag): first read, `POST calendars` to 201"
    );
    let what_second = "the same feed read again unchanged (`POST .../sync`): time, and what it wrote".to_string();
    let run = async {
        let mut w = World::start(None, args.mqtt.as_deref())
            .await
            .context("starting the server")?;
        w.grow_locks(1, 1).await.context("pairing the lock")?;
        let r = calendar_run(&w).await;
        w.stop().await;
        r
    }
    .await;
    let r = match run {
        Ok(r) => r,
        Err(e) => {
            return vec![
                Row::failed(what_first, "under 2 s", &e),
                Row::failed(what_second, "writes nothing", &e),
            ];
        }
    };
    let ceiling = format!(
        "the feed ({} kB) fetched alone: {}",
        r.feed_bytes / 1000,
        ms(Some(r.fetch))
    );
    let s = &r.second_report;
    let wrote = s.added + s.changed + s.cancelled;
    vec![
        Row {
            what: what_first,
            figure: format!("{}, {} keys", ms(Some(r.first)), r.keys),
            ceiling: ceiling.clone(),
            ratio: "-".into(),
            target: "under 2 s".into(),
            met: Some(r.first < Duration::from_secs(2) && r.keys == CALENDAR_RESERVATIONS),
        },
        Row {
            what: what_second,
            figure: format!(
                "{}; keys written {wrote}, activity-log entries {}, lock versions {} ({} unchanged{})",
                ms(Some(r.second)),
                r.second_events,
                r.second_versions,
                s.unchanged,
                s.error.as_deref().map(|e| format!(", error: {e}")).unwrap_or_default()
            ),
            ceiling,
            ratio: "-".into(),
            target: "writes nothing".into(),
            met: Some(
                wrote == 0
                    && r.second_events == 0
                    && r.second_versions == 0
                    && s.error.is_none()
                    && s.unchanged == CALENDAR_RESERVATIONS,
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v[..1], 99.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn rate_and_errors() {
        let s = Stats {
            ok: vec![Duration::from_millis(1); 30],
            errors: 2,
            elapsed: Duration::from_secs(3),
        };
        assert!((s.rate() - 10.0).abs() < 1e-9);
        assert_eq!(s.errors_note(), ", 2 errors");
        assert_eq!(Stats::default().rate(), 0.0);
    }

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tlatchkey\nVmPeak:\t  500000 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n";
        assert_eq!(vm_rss(status), Some(123456 * 1024));
        assert_eq!(vm_rss("Name: x\n"), None);
    }

    #[test]
    fn pgbench_tps_is_parsed() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 1.2 ms\ntps = 6543.210987 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(6543.210987));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn the_calendar_feed_has_its_reservations_and_blocks() {
        let feed = calendar_feed(10, jiff::civil::date(2027, 1, 1));
        assert_eq!(feed.matches("SUMMARY:Reserved").count(), 10);
        assert_eq!(feed.matches("Not available").count(), 2);
        assert!(
            feed.contains("DTSTART;VALUE=DATE:20270128"),
            "the tenth stay starts 27 days later"
        );
    }

    #[test]
    fn table_renders_markdown() {
        let t = render(&[Row {
            what: "w".into(),
            figure: "1/s".into(),
            ceiling: "2/s".into(),
            ratio: "50 %".into(),
            target: "at least 40 %".into(),
            met: Some(true),
        }]);
        assert_eq!(
            t,
            "| what | figure | ceiling (same run) | ratio | target | met? |\n|---|---|---|---|---|---|\n| w | 1/s | 2/s | 50 % | at least 40 % | yes |\n"
        );
    }
}
