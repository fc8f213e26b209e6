//! Storage: one code path for SQLite (the default) and PostgreSQL.
//!
//! The store decides nothing: it reads and writes rows inside the transactions the domain opens.
//! Rows become domain types where they are read (`decoded`, `TryFrom`): an access level, an
//! invitation status, a schedule, a root secret the database holds is decoded once, here, and a
//! value this binary cannot read is an error (`StoreError::Corrupt`), never a guess. One file per
//! table group: `accounts`, `locks`, `link` (the device link's records, table `lock_link`), `members`,
//! `invitations`, `guest_keys`, `issuers`, `events`, `sms`, `tombstones` (lock ids the server
//! does not keep); `schedule` is the stored form of a
//! schedule. All SQL is portable (TEXT, BIGINT, partial unique indexes, `$n` parameters, `RETURNING`,
//! `ON CONFLICT`), run through `sqlx::Any`, so the migrations are written once and the same
//! store tests run on both databases (see `docs/design/storage.md`).

mod accounts;
mod calendars;
mod capacity;
mod events;
mod guest_keys;
mod idempotency;
mod invitations;
mod issuers;
mod link;
mod locks;
mod members;
mod pins;
mod schedule;
mod sms;
mod tombstones;
mod webhooks;

use std::fmt::Display;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Executor, Row};

pub use accounts::*;
pub use calendars::*;
pub use capacity::*;
pub use events::*;
pub use guest_keys::*;
pub use idempotency::*;
pub use invitations::*;
pub use issuers::*;
pub use link::*;
pub use locks::*;
pub use members::*;
pub use pins::*;
pub use sms::*;
pub use tombstones::*;
pub use webhooks::*;

/// A connection that holds this process's write turn on SQLite (`Store::begin`, `Store::write`)
/// until it is dropped (or, for a transaction, commits or rolls back).
pub struct Turned<C> {
    conn: C,
    _turn: Option<WriteTurn>,
}

/// A write transaction. Every state change is one of these.
pub type Tx = Turned<sqlx::Transaction<'static, sqlx::Any>>;

/// A connection for single-statement writes outside a transaction (`Store::write`).
pub type WriteConn = Turned<sqlx::pool::PoolConnection<sqlx::Any>>;

impl Tx {
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.conn.commit().await
    }

    pub async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.conn.rollback().await
    }
}

impl<C: std::ops::DerefMut<Target = AnyConnection>> std::ops::Deref for Turned<C> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl<C: std::ops::DerefMut<Target = AnyConnection>> std::ops::DerefMut for Turned<C> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// How long a writer waits for its turn before giving up, as SQLite's `busy_timeout` did.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection, from a pool or inside a transaction.
pub type Conn = AnyConnection;

/// The migrations, in order. Each runs in its own transaction; a database that has a migration
/// this binary does not know is refused (no downgrades).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial schema", include_str!("migrations/0001_initial.sql")),
    (2, "several instances", include_str!("migrations/0002_instances.sql")),
    (3, "indexes", include_str!("migrations/0003_indexes.sql")),
    (
        5,
        "web: idempotency keys, invitation names",
        include_str!("migrations/0005_web.sql"),
    ),
    (
        6,
        "webhooks and notifications",
        include_str!("migrations/0006_events.sql"),
    ),
    (7, "rental calendars", include_str!("migrations/0007_calendars.sql")),
    (8, "lock tombstones", include_str!("migrations/0008_tombstones.sql")),
    (10, "account language", include_str!("migrations/0010_locale.sql")),
    (
        11,
        "the device link's records off the lock row",
        include_str!("migrations/0011_lock_link.sql"),
    ),
    (
        12,
        "guest keys by changed version",
        include_str!("migrations/0012_sync_delta.sql"),
    ),
];

/// The schema version this binary migrates to.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(
        "the database is at schema version {found}, newer than this binary knows ({known}); \
         downgrades are refused: run a newer latchkey"
    )]
    Downgrade { found: i64, known: i64 },
    #[error("a unique constraint failed: {0}")]
    Unique(String),
    /// A stored value this binary cannot read (the database was changed by something else).
    #[error("the database holds a value this binary cannot read: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The constraint (PostgreSQL) or the columns (SQLite) of a uniqueness violation.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            StoreError::Unique(what) => Some(what),
            _ => None,
        }
    }

    /// Whether the database could not be reached or is overloaded (answered with 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed)
        )
    }
}

/// Maps a driver error to `StoreError`, recognising uniqueness violations by constraint name
/// (PostgreSQL) or message (SQLite: "UNIQUE constraint failed: table.col, ...").
pub fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let what = db
            .constraint()
            .map(str::to_string)
            .unwrap_or_else(|| db.message().to_string());
        return StoreError::Unique(what);
    }
    StoreError::Db(e)
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// SQLite and PostgreSQL both keep booleans as BIGINT 0/1 here.
fn b(v: bool) -> i64 {
    v as i64
}

/// Column `col` of a row, as text, decoded into a domain type.
fn decoded<T>(r: &AnyRow, col: &str) -> Result<T>
where
    T: for<'a> TryFrom<&'a str>,
    for<'a> <T as TryFrom<&'a str>>::Error: Display,
{
    let text: String = r.try_get(col)?;
    T::try_from(text.as_str()).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// 32 bytes kept as hex (a lock's public key).
struct Hex32([u8; 32]);

impl TryFrom<&str> for Hex32 {
    type Error = String;

    fn try_from(text: &str) -> std::result::Result<Hex32, String> {
        hex::decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(Hex32)
            .ok_or_else(|| "not 32 bytes of hex".to_string())
    }
}

/// Splits a migration into statements: `--` comments are dropped (they may hold `;`), then the
/// text is cut at each `;`. Migrations hold no string literals with `;` or `--`.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one writer at a time, taken in this process before the database's own lock
    /// (`docs/design/server-performance.md`, "SQLite writers take turns").
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_upto(url, latest_schema_version()).await
    }

    /// Connects and applies pending migrations up to schema version `upto` only: what a test
    /// of a migration starts from (a database as an older binary left it).
    pub async fn open_upto(url: &str, upto: i64) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings a connection when it goes back to the pool (and closes it if that
            // fails); a second ping when it is taken out again is one more round trip per
            // request (to the connection's worker thread on SQLite, to the server on
            // PostgreSQL). Without it, a connection that died while idle (a database restart)
            // fails one request with 503 and is then dropped by the release ping.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            backend,
            write_turn: std::sync::Arc::default(),
        };
        store.migrate(upto).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`) so that a transaction that reads before it writes cannot fail half-way
    /// with "database is locked"; PostgreSQL serialises through row locks instead.
    ///
    /// On SQLite the writers of this process first take turns on an in-process lock, in the
    /// order they came: SQLite's own busy handler makes a writer that finds the database
    /// locked sleep 1, 2, 5, 10, 15, 20... ms before it tries again, which turned a few
    /// milliseconds of contention into tens of milliseconds of latency.
    pub async fn begin(&self) -> Result<Tx> {
        let turn = self.write_turn().await?;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Turned { conn: tx, _turn: turn })
    }

    /// A connection for a single-statement write outside a transaction (a claim, a hand-over
    /// row), taking the write turn on SQLite as `begin` does.
    pub async fn write(&self) -> Result<WriteConn> {
        let turn = self.write_turn().await?;
        Ok(Turned {
            conn: self.pool.acquire().await?,
            _turn: turn,
        })
    }

    async fn write_turn(&self) -> Result<Option<WriteTurn>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        match tokio::time::timeout(WRITE_TURN_TIMEOUT, self.write_turn.clone().lock_owned()).await {
            Ok(turn) => Ok(Some(turn)),
            Err(_) => Err(StoreError::Db(sqlx::Error::PoolTimedOut)),
        }
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("v")?)
    }

    async fn migrate(&self, upto: i64) -> Result<()> {
        // Two servers starting at once may both try to create the table; that is fine.
        let _ = sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
             name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        let found = self.schema_version().await?;
        if found > known {
            return Err(StoreError::Downgrade { found, known });
        }
        for (version, name, sql) in MIGRATIONS {
            if *version <= found || *version > upto {
                continue;
            }
            let mut tx = self.begin().await?;
            // Another instance may have applied it meanwhile: the insert below then fails on
            // the primary key and this transaction rolls back, which is what we want.
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            for statement in statements(sql) {
                (&mut *tx).execute(sqlx::AssertSqlSafe(statement.to_string())).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*name)
                .bind(jiff::Timestamp::now().as_millisecond())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, name, "applied database migration");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_with_semicolons_do_not_split_statements() {
        let sql = "-- one; two\nCREATE TABLE a (x BIGINT); -- trailing; note\nCREATE TABLE b (y TEXT);\n";
        assert_eq!(
            super::statements(sql),
            ["CREATE TABLE a (x BIGINT)", "CREATE TABLE b (y TEXT)"]
        );
    }

    #[test]
    fn the_initial_migration_has_its_statements() {
        let n = super::statements(super::MIGRATIONS[0].2).len();
        assert!(n >= 10, "{n}");
    }
}
