//! The integration-test kit: starts the real server in-process (port 0, a fresh database, the
//! file SMS outbox in a temp folder) with a controllable clock and a fake lock gateway, and
//! drives it through the typed client.
//!
//! Backends: SQLite always; PostgreSQL when `LATCHKEY_TEST_PG` (or the project-wide
//! `LK_TEST_PG`, which `.ci/run` exports) names an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`. Each test then gets its own database
//! `lk_test_<random>`, dropped again when the test stops its server. With `CI=true` and
//! neither variable set, the PostgreSQL variants fail instead of skipping.
// Shared by many test modules; not each uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pg::FreshDb;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use latchkey_client::Client;
use latchkey_client::model as m;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{Clock, OsEntropy};
use latchkey_server::gateway::{Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome};
use latchkey_server::store::LockRow;

/// Where the test clock starts: a Wednesday, 12:00 in Berlin.
pub const START: &str = "2027-06-30T10:00:00Z";

/// Generates `mod sqlite { #[tokio::test] fn name() }` and `mod postgres { ... }` for each
/// async `fn name(b: Backend)` of a test file.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::kit::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(b) = $crate::kit::Backend::postgres() else { return };
                    super::$name(b).await;
                }
            )*
        }
    };
}

// ------------------------------------------------------------------------------- backends

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The admin URL to create fresh databases on.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend when the environment offers one; `None` (skip) otherwise, and a
    /// failure when `CI=true` (`pg::admin_url`).
    pub fn postgres() -> Option<Backend> {
        crate::pg::admin_url().map(Backend::Postgres)
    }
}

// ---------------------------------------------------------------------------------- clock

/// A clock that only moves when a test moves it.
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn new(start: Timestamp) -> TestClock {
        TestClock(Mutex::new(start))
    }

    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, d: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(d).expect("clock stays in range");
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

// -------------------------------------------------------------------------------- gateway

/// How the fake lock answers remote unlocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockMode {
    Open,
    Deny(String),
    Timeout,
    Unavailable,
}

/// Stands in for the device link: unpaired locks show setup codes the test registers; every
/// paired lock opens on remote unlock (or answers as `unlock_mode` says).
pub struct FakeGateway {
    /// setup code (digits only) → serial
    codes: Mutex<HashMap<String, String>>,
    next: AtomicU32,
    pub unlock_mode: Mutex<UnlockMode>,
    /// (lock id, lock-local user id, command seq) of every unlock command sent.
    pub unlocks: Mutex<Vec<(String, u32, u64)>>,
    pub changes: AtomicUsize,
    pub unpaired: Mutex<Vec<String>>,
}

impl FakeGateway {
    pub fn new() -> FakeGateway {
        FakeGateway {
            codes: Mutex::new(HashMap::new()),
            next: AtomicU32::new(1),
            unlock_mode: Mutex::new(UnlockMode::Open),
            unlocks: Mutex::new(Vec::new()),
            changes: AtomicUsize::new(0),
            unpaired: Mutex::new(Vec::new()),
        }
    }

    /// A new unpaired lock; returns the setup code it shows (as a person would type it).
    pub fn new_lock(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let digits = format!("{:08}", 31_415_000 + n);
        self.codes
            .lock()
            .unwrap()
            .insert(digits.clone(), format!("VL-TEST-{n:04}"));
        format!("{}-{}", &digits[..4], &digits[4..])
    }

    pub fn set_unlock_mode(&self, mode: UnlockMode) {
        *self.unlock_mode.lock().unwrap() = mode;
    }
}

impl Default for FakeGateway {
    fn default() -> Self {
        FakeGateway::new()
    }
}

#[async_trait]
impl Gateway for FakeGateway {
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        assert!(grant.lock_id.starts_with("lk_"), "lock ids are opaque lk_... strings");
        let serial = self.codes.lock().unwrap().get(setup_code).cloned();
        match serial {
            Some(serial) => {
                let mut device_key = [0u8; 32];
                for (i, b) in serial.bytes().enumerate() {
                    device_key[i % 32] ^= b;
                }
                Ok(PairedDevice { serial, device_key })
            }
            None => Err(PairingError::NoAnswer),
        }
    }

    fn lock_changed(&self, _lock_id: &str) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    async fn unlock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError> {
        self.unlocks
            .lock()
            .unwrap()
            .push((lock.id.clone(), user_id, command_seq));
        let mode = self.unlock_mode.lock().unwrap().clone();
        match mode {
            UnlockMode::Open => Ok(UnlockOutcome::Unlocked),
            UnlockMode::Deny(r) => Ok(UnlockOutcome::Denied(r)),
            UnlockMode::Timeout => Err(UnlockError::Timeout),
            UnlockMode::Unavailable => Err(UnlockError::Unavailable("the broker is down".into())),
        }
    }

    async fn lock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError> {
        self.unlocks
            .lock()
            .unwrap()
            .push((lock.id.clone(), user_id, command_seq));
        Ok(UnlockOutcome::Locked)
    }

    async fn unpaired(&self, lock: &LockRow) {
        self.unpaired.lock().unwrap().push(lock.id.clone());
    }

    fn ready(&self) -> bool {
        true
    }
}

// ------------------------------------------------------------------------------------ SMS

/// One line of the file outbox.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub body: String,
    pub at: String,
}

/// The first run of exactly six digits in a text.
pub fn six_digits(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some(text[start..i].to_string());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Waits (bounded) until `probe` returns something; panics with `what` after 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// -------------------------------------------------------------------------------- harness

/// One running server with its clock, gateway, outbox and a fresh database.
pub struct Harness {
    pub server: Option<Server>,
    pub clock: Arc<TestClock>,
    pub gateway: Arc<FakeGateway>,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    /// A client with no session.
    pub anon: Client,
    pub base: String,
    pg_db: Option<FreshDb>,
    phones: AtomicU32,
    /// The configuration the server started with (for `restart`).
    config: Config,
}

impl Harness {
    pub async fn start(backend: Backend) -> Harness {
        Harness::start_with(backend, |_| {}).await
    }

    /// Starts with a configuration the test may adjust (limits, SMS senders, ...).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let pg_db = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => Some(FreshDb::create(admin, "test").await),
        };
        let url = pg_db.as_ref().map(|db| db.url.clone());
        let mut config = Config::for_tests(dir.path(), url, MqttConfig::Embedded("127.0.0.1:0".parse().unwrap()));
        tweak(&mut config);
        let clock = Arc::new(TestClock::new(START.parse().unwrap()));
        let gateway = Arc::new(FakeGateway::new());
        let server = Server::start(
            config.clone(),
            Parts {
                clock: clock.clone(),
                entropy: Arc::new(OsEntropy),
                gateway: Some(gateway.clone()),
            },
        )
        .await
        .expect("the server starts");
        let base = format!("http://{}", server.addr);
        config.http = server.addr;
        Harness {
            config,
            server: Some(server),
            clock,
            gateway,
            dir,
            backend,
            anon: Client::new(base.clone()),
            base,
            pg_db,
            phones: AtomicU32::new(1),
        }
    }

    /// The database the server uses (to read what the API does not show).
    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }

    /// Stops the server and drops its PostgreSQL database.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        if let Some(db) = &self.pg_db {
            db.drop_now().await;
        }
    }

    /// Stops the server and starts it again on the same address, database, clock and
    /// gateway (what a process restart keeps).
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        let parts = Parts {
            clock: self.clock.clone(),
            entropy: Arc::new(OsEntropy),
            gateway: Some(self.gateway.clone()),
        };
        let server = Server::start(self.config.clone(), parts)
            .await
            .expect("the server starts again");
        self.server = Some(server);
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn advance(&self, d: SignedDuration) {
        self.clock.advance(d);
    }

    /// A phone number (E.164) no other caller of this harness got.
    pub fn new_phone(&self) -> String {
        let n = self.phones.fetch_add(1, Ordering::SeqCst);
        format!("+4915123{:06}", 100_000 + n)
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.dir.path().join("outbox.jsonl")
    }

    /// Every message in the outbox so far.
    pub fn outbox(&self) -> Vec<Sms> {
        let text = std::fs::read_to_string(self.outbox_path()).unwrap_or_default();
        text.lines()
            .filter(|l| l.ends_with('}'))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line {l}: {e}"));
                Sms {
                    to: v["to"].as_str().expect("to").to_string(),
                    body: v["body"].as_str().expect("body").to_string(),
                    at: v["at"].as_str().expect("at").to_string(),
                }
            })
            .collect()
    }

    pub fn sms_to(&self, phone: &str) -> Vec<Sms> {
        self.outbox().into_iter().filter(|s| s.to == phone).collect()
    }

    /// Waits for message number `seen + 1` to `phone` and returns it.
    pub async fn next_sms(&self, phone: &str, seen: usize) -> Sms {
        eventually(&format!("SMS #{} to {phone}", seen + 1), || async move {
            self.sms_to(phone).into_iter().nth(seen)
        })
        .await
    }

    /// Requests a sign-in code and returns it, read from the outbox.
    pub async fn otp(&self, phone: &str) -> String {
        let seen = self.sms_to(phone).len();
        self.anon.request_otp(phone).await.expect("POST /auth/otp");
        let sms = self.next_sms(phone, seen).await;
        assert!(sms.body.contains("sign-in code"), "{}", sms.body);
        six_digits(&sms.body).unwrap_or_else(|| panic!("no 6-digit code in {:?}", sms.body))
    }

    /// Signs in (creating the account on first use) and returns a client with the session.
    pub async fn sign_in(&self, phone: &str) -> (Client, m::Account) {
        let code = self.otp(phone).await;
        let s = self
            .anon
            .create_session(phone, &code)
            .await
            .expect("POST /auth/session");
        (self.anon.with_token(s.token), s.account)
    }

    /// A new account with a name, signed in.
    pub async fn user(&self, name: &str) -> User {
        let phone = self.new_phone();
        let (client, _) = self.sign_in(&phone).await;
        let account = client.patch_me(name).await.expect("PATCH /me");
        User { client, account, phone }
    }

    /// Pairs a new fake lock in `tz` as `admin`.
    pub async fn pair(&self, admin: &User, name: &str, tz: &str) -> m::Lock {
        let code = self.gateway.new_lock();
        admin.client.pair_lock(&code, name, tz).await.expect("POST /locks")
    }

    /// Invites `who` as `level` to `lock` and has them accept.
    pub async fn add_member(
        &self,
        admin: &User,
        lock_id: &str,
        who: &User,
        level: m::AccessLevel,
        schedule: Option<m::Schedule>,
    ) -> m::Member {
        let inv = admin
            .client
            .invite(
                lock_id,
                &m::CreateInvitation {
                    name: None,
                    phone: who.phone.clone(),
                    access_level: level,
                    schedule,
                },
            )
            .await
            .expect("POST invitations");
        who.client.accept_invitation(&inv.id).await.expect("accept")
    }
}

/// A signed-in account.
#[derive(Clone)]
pub struct User {
    pub client: Client,
    pub account: m::Account,
    pub phone: String,
}

impl User {
    pub fn id(&self) -> &str {
        &self.account.id
    }
}

// ------------------------------------------------------------------------------- helpers

/// The HTTP status of a failed call (panics on success or transport errors).
pub fn status<T: std::fmt::Debug>(r: latchkey_client::Result<T>) -> u16 {
    match r {
        Ok(v) => panic!("expected an error status, got success: {v:?}"),
        Err(e) => e.status().unwrap_or_else(|| panic!("transport error: {e}")),
    }
}

/// The fields a 422 names (panics unless it is a 422 problem).
pub fn invalid_fields<T: std::fmt::Debug>(r: latchkey_client::Result<T>) -> Vec<String> {
    match r {
        Ok(v) => panic!("expected 422, got success: {v:?}"),
        Err(e) => {
            assert_eq!(e.status(), Some(422), "{e}");
            let p = e.problem().expect("a problem+json body");
            assert_eq!(p.status, 422);
            assert!(!p.errors.is_empty(), "a 422 names its fields: {p:?}");
            p.errors.iter().map(|f| f.field.clone()).collect()
        }
    }
}

/// A weekly schedule: `days` from `from` to `to`.
pub fn schedule(days: &[&str], from: &str, to: &str) -> m::Schedule {
    m::Schedule {
        windows: vec![m::Window {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: from.into(),
            to: to.into(),
        }],
        valid_from: None,
        valid_until: None,
    }
}

/// A schedule that allows every minute of every day.
pub fn always() -> m::Schedule {
    schedule(&["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "00:00", "24:00")
}

pub fn guest_key(name: &str, phone: Option<&str>, starts_at: &str, ends_at: &str) -> m::CreateGuestKey {
    m::CreateGuestKey {
        name: name.into(),
        phone: phone.map(Into::into),
        starts_at: starts_at.into(),
        ends_at: ends_at.into(),
        one_time: false,
        precautions_accepted: true,
    }
}

/// A raw HTTP client for requests the typed client cannot make (bad JSON, huge bodies).
pub fn raw() -> reqwest::Client {
    latchkey_client::install_crypto_provider();
    reqwest::Client::new()
}
