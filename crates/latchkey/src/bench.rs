//! `latchkey bench`: the server's load tool. It starts its own server in-process on loopback
//! (a fresh temporary data folder, the embedded broker, a paired in-process virtual lock),
//! drives it over real HTTP and MQTT, and prints each figure beside a ceiling measured in the
//! same run (`../shared/spec/performance.md`, "The server"). A failed request never stops a
//! run: it is counted and shown in the table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::Caller;
use latchkey_server::domain::types::AccessLevel;
use latchkey_server::{Parts, Server};

/// Flags of `latchkey bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds of load for each throughput figure (the guest-key target asks for 60).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent keep-alive connections for the reading load.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Concurrent connections for the writing load (guest keys; also `pgbench -c`).
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Samples for each latency figure (remote unlock, MQTT round trip).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// A PostgreSQL admin URL (`postgres://postgres@127.0.0.1:5432/postgres`): adds the
    /// guest-key row on PostgreSQL, beside `pgbench`, in a fresh database made for the run.
    #[arg(long)]
    pub pg: Option<String>,
    /// Which rows to run, comma-separated: ready, members, guest-keys, unlock.
    #[arg(long, value_delimiter = ',', default_value = "ready,members,guest-keys,unlock")]
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

/// Runs the rows asked for and prints the table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    latchkey_client::install_crypto_provider();
    let want = |name: &str| args.rows.iter().any(|r| r == name);
    let mut rows = Vec::new();
    if want("ready") {
        rows.push(ready_row().await);
        eprintln!("{}", render(&rows));
    }
    if want("members") || want("guest-keys") || want("unlock") {
        let world = World::start(None).await.context("starting the SQLite server")?;
        if want("members") {
            rows.extend(members_rows(&world, &args).await?);
            eprintln!("{}", render(&rows));
        }
        if want("guest-keys") {
            let s = guest_key_load(&world, &args).await;
            rows.push(guest_keys_sqlite_row(&s, &args));
            eprintln!("{}", render(&rows));
        }
        if want("unlock") {
            rows.push(unlock_row(&world, &args).await);
            eprintln!("{}", render(&rows));
        }
        world.stop().await;
    }
    if want("guest-keys")
        && let Some(admin) = &args.pg
    {
        rows.push(guest_keys_pg_row(admin, &args).await);
    }
    println!("{}", render(&rows));
    Ok(())
}

// ---------------------------------------------------------------------------------- world

const OWNER: &str = "+12025550170";

/// A server on a fresh data folder (SQLite there, or `database_url`), its embedded broker, and
/// a virtual lock paired to `OWNER`, who is signed in.
struct World {
    server: Server,
    lock: Option<latchkey_vlock::Handle>,
    _dir: tempfile::TempDir,
    base: String,
    token: String,
    owner: Caller,
    lock_id: String,
    broker_port: u16,
    http: reqwest::Client,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl World {
    async fn start(database_url: Option<String>) -> anyhow::Result<World> {
        let dir = tempfile::tempdir()?;
        let server_dir = dir.path().join("server");
        std::fs::create_dir_all(&server_dir)?;
        let broker_port = free_port()?;
        let mut config = Config::for_tests(
            &server_dir,
            database_url,
            MqttConfig::Embedded(([127, 0, 0, 1], broker_port).into()),
        );
        config.unlock_timeout_ms = 5000;
        let server = Server::start(config, Parts::default()).await?;
        let base = format!("http://{}", server.addr);
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            state: dir.path().join("lock.state"),
            broker_host: "127.0.0.1".into(),
            broker_port,
            control: "127.0.0.1:0".parse()?,
            fake_clock: false,
            relock: Duration::from_millis(200),
        })
        .await
        .context("starting the virtual lock")?;
        let now = jiff::Timestamp::now;
        let owner = server
            .domain
            .operator_account(OWNER, now())
            .await
            .map_err(|e| anyhow::anyhow!("owner account: {e:?}"))?;
        let setup_code = lock.setup_code().context("a fresh lock has a setup code")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let lock_id = loop {
            match server
                .domain
                .pair_lock(&owner, &setup_code, "Bench door", "UTC", now())
                .await
            {
                Ok(m) => break m.lock.id,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = ?e, "the virtual lock did not answer yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => anyhow::bail!("pairing the virtual lock: {e:?}"),
            }
        };
        let token = sign_in(&server, &server_dir.join("outbox.jsonl")).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()?;
        let w = World {
            server,
            lock: Some(lock),
            _dir: dir,
            base,
            token,
            owner,
            lock_id,
            broker_port,
            http,
        };
        // The lock reconnects with its paired identity; wait until the server sees it online.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = w.http.get(format!("{}/readyz", w.base)).send().await;
            if matches!(&ready, Ok(r) if r.status().is_success()) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(w)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/locks/{}{path}", self.base, self.lock_id)
    }

    async fn stop(mut self) {
        self.lock.take();
        self.server.stop().await;
    }
}

/// Signs `OWNER` in with the code the server wrote to the SMS outbox; returns the token.
async fn sign_in(server: &Server, outbox: &Path) -> anyhow::Result<String> {
    let now = jiff::Timestamp::now;
    server
        .domain
        .request_sign_in_code(OWNER, "bench", now())
        .await
        .map_err(|e| anyhow::anyhow!("sign-in code: {e:?}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        let text = std::fs::read_to_string(outbox).unwrap_or_default();
        let code = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["to"] == OWNER)
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .filter(|b| b.contains("sign-in code"))
            .filter_map(|b| {
                b.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_string)
            })
            .next();
        if let Some(c) = code {
            break c;
        }
        anyhow::ensure!(Instant::now() < deadline, "no sign-in code in {}", outbox.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (token, _) = server
        .domain
        .sign_in(OWNER, &code, "bench", now())
        .await
        .map_err(|e| anyhow::anyhow!("sign in: {e:?}"))?;
    Ok(token)
}

// ----------------------------------------------------------------------------------- load

/// What one request of a load is.
#[derive(Clone)]
enum Request {
    Get(String),
    /// A guest-key creation; the body is made per request.
    GuestKey(String),
}

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
                    Request::GuestKey(url) => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
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
        Err(e) => {
            return Row {
                what,
                figure: format!("failed: {e:#}"),
                ceiling: "-".into(),
                ratio: "-".into(),
                target,
                met: Some(false),
            };
        }
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

/// Gives the lock 19 more members (20 with the owner), then loads the members listing and
/// `/healthz` in turn with the same connections and duration.
async fn members_rows(w: &World, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    let now = jiff::Timestamp::now;
    for i in 0..19 {
        let phone = format!("+1202555{:04}", 2000 + i);
        let inv = w
            .server
            .domain
            .invite(&w.owner, &w.lock_id, &phone, AccessLevel::Family, None, now())
            .await
            .map_err(|e| anyhow::anyhow!("invite {phone}: {e:?}"))?;
        let member = w
            .server
            .domain
            .operator_account(&phone, now())
            .await
            .map_err(|e| anyhow::anyhow!("account {phone}: {e:?}"))?;
        w.server
            .domain
            .accept_invitation(&member, &inv.id, now())
            .await
            .map_err(|e| anyhow::anyhow!("accept {phone}: {e:?}"))?;
    }
    let (members, _) = w
        .server
        .domain
        .members(&w.owner, &w.lock_id)
        .await
        .map_err(|e| anyhow::anyhow!("members: {e:?}"))?;
    let n = members.len();
    let d = Duration::from_secs(args.duration);
    let c = args.connections;
    // A short warm-up fills the connection pool.
    let _ = load(
        &w.http,
        &w.token,
        Request::Get(w.url("/members")),
        c,
        Duration::from_millis(500),
    )
    .await;
    let listing = load(&w.http, &w.token, Request::Get(w.url("/members")), c, d).await;
    let trivial = load(&w.http, &w.token, Request::Get(format!("{}/healthz", w.base)), c, d).await;
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
            target: "at least 40 %".into(),
            met: r.map(|r| r >= 0.4 && listing.errors == 0),
        },
        Row {
            what: "the same: p99 latency (p50)".into(),
            figure: format!("{} ({})", ms(p99), ms(listing.percentile(50.0))),
            ceiling: format!(
                "`/healthz` {} ({})",
                ms(trivial.percentile(99.0)),
                ms(trivial.percentile(50.0))
            ),
            ratio: "-".into(),
            target: "under 25 ms".into(),
            met: p99.map(|p| p < Duration::from_millis(25)),
        },
    ])
}

async fn guest_key_load(w: &World, args: &BenchArgs) -> Stats {
    load(
        &w.http,
        &w.token,
        Request::GuestKey(w.url("/guest-keys")),
        args.writers,
        Duration::from_secs(args.duration),
    )
    .await
}

fn guest_keys_sqlite_row(s: &Stats, args: &BenchArgs) -> Row {
    Row {
        what: format!(
            "`POST /locks/{{id}}/guest-keys`, SQLite, {} connections, {} s",
            args.writers, args.duration
        ),
        figure: format!("{:.0}/s, p99 {}{}", s.rate(), ms(s.percentile(99.0)), s.errors_note()),
        ceiling: "-".into(),
        ratio: "-".into(),
        target: "at least 500/s for 60 s".into(),
        // Shorter than a minute cannot show the rate sustained for one, only miss it.
        met: if s.rate() < 500.0 || s.errors > 0 {
            Some(false)
        } else {
            (args.duration >= 60).then_some(true)
        },
    }
}

/// Guest-key creation on a fresh PostgreSQL database beside `pgbench` single-row inserts into
/// a scratch table of that database.
async fn guest_keys_pg_row(admin: &str, args: &BenchArgs) -> Row {
    let what = format!(
        "`POST /locks/{{id}}/guest-keys`, PostgreSQL, {} connections, {} s",
        args.writers, args.duration
    );
    let fail = |e: anyhow::Error| Row {
        what: what.clone(),
        figure: format!("failed: {e:#}"),
        ceiling: "-".into(),
        ratio: "-".into(),
        target: "at least 40 % of pgbench".into(),
        met: Some(false),
    };
    let (url, name) = match fresh_pg(admin).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let result = async {
        let w = World::start(Some(url.clone())).await?;
        let s = guest_key_load(&w, args).await;
        w.stop().await;
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
        .arg(args.duration.to_string())
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
        let r = w.http.post(w.url("/unlock")).bearer_auth(&w.token).send().await;
        if matches!(&r, Ok(r) if r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut unlock = Stats::default();
    let start = Instant::now();
    for i in 0..args.samples {
        let t = Instant::now();
        let r = w.http.post(w.url("/unlock")).bearer_auth(&w.token).send().await;
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
    let rtt = mqtt_round_trips(w.broker_port, args.samples, true).await;
    let plain = mqtt_round_trips(w.broker_port, args.samples, false).await;
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
            "MQTT QoS 1 publish to own subscription, embedded broker, TCP_NODELAY: {} ({}){}; \
             rumqttc defaults (no TCP_NODELAY): {} ({}){}",
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

/// A rumqttc client that publishes (QoS 1) to a topic it subscribes to, `samples` times, one
/// at a time; each latency is publish to receipt.
async fn mqtt_round_trips(port: u16, samples: usize, nodelay: bool) -> Stats {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut stats = Stats::default();
    let mut mo = MqttOptions::new(format!("bench-{}", random_hex(4)), "127.0.0.1", port);
    mo.set_keep_alive(Duration::from_secs(10));
    mo.set_credentials(
        latchkey_protocol::broker::PAIRING_USERNAME,
        latchkey_protocol::broker::PAIRING_PASSWORD,
    );
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
    fn pgbench_tps_is_parsed() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 1.2 ms\ntps = 6543.210987 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(6543.210987));
        assert_eq!(parse_tps("nothing"), None);
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
