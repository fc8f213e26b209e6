//! Rows and the queries that read and write them. Plain data in, plain data out: no decisions.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result, map_err};

fn b(v: bool) -> i64 {
    v as i64
}

// ------------------------------------------------------------------------------- accounts

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub phone: String,
    pub name: String,
    pub created_at: i64,
}

fn read_account(r: &AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        phone: r.try_get("phone")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn account_by_phone(c: &mut Conn, phone: &str) -> Result<Option<AccountRow>> {
    let row = sqlx::query("SELECT id, phone, name, created_at FROM accounts WHERE phone = $1")
        .bind(phone.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_account).transpose()
}

pub async fn account_by_id(c: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
    let row = sqlx::query("SELECT id, phone, name, created_at FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_account).transpose()
}

pub async fn insert_account(c: &mut Conn, a: &AccountRow) -> Result<()> {
    sqlx::query("INSERT INTO accounts (id, phone, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(a.id.clone())
        .bind(a.phone.clone())
        .bind(a.name.clone())
        .bind(a.created_at)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn set_account_name(c: &mut Conn, id: &str, name: &str) -> Result<()> {
    sqlx::query("UPDATE accounts SET name = $1 WHERE id = $2")
        .bind(name.to_string())
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

// ------------------------------------------------------------------------ sign-in, sessions

#[derive(Debug, Clone)]
pub struct SignInCodeRow {
    pub phone: String,
    pub salt: String,
    pub code_hash: String,
    pub expires_at: i64,
    pub failures: i64,
}

pub async fn put_sign_in_code(c: &mut Conn, r: &SignInCodeRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_in_codes (phone, salt, code_hash, expires_at, failures, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5) \
         ON CONFLICT (phone) DO UPDATE SET salt = $2, code_hash = $3, expires_at = $4, \
         failures = 0, created_at = $5",
    )
    .bind(r.phone.clone())
    .bind(r.salt.clone())
    .bind(r.code_hash.clone())
    .bind(r.expires_at)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn sign_in_code(c: &mut Conn, phone: &str) -> Result<Option<SignInCodeRow>> {
    let row = sqlx::query("SELECT phone, salt, code_hash, expires_at, failures FROM sign_in_codes WHERE phone = $1")
        .bind(phone.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.map(|r| {
        Ok(SignInCodeRow {
            phone: r.try_get("phone")?,
            salt: r.try_get("salt")?,
            code_hash: r.try_get("code_hash")?,
            expires_at: r.try_get("expires_at")?,
            failures: r.try_get("failures")?,
        })
    })
    .transpose()
}

pub async fn count_sign_in_failure(c: &mut Conn, phone: &str) -> Result<()> {
    sqlx::query("UPDATE sign_in_codes SET failures = failures + 1 WHERE phone = $1")
        .bind(phone.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn delete_sign_in_code(c: &mut Conn, phone: &str) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_codes WHERE phone = $1")
        .bind(phone.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A session being opened.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub account_id: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_session(c: &mut Conn, s: &NewSession<'_>) -> Result<()> {
    sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(s.token_hash.to_string())
        .bind(s.account_id.to_string())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The account behind a live session.
pub async fn session_account(c: &mut Conn, token_hash: &str, now: i64) -> Result<Option<AccountRow>> {
    let row = sqlx::query(
        "SELECT a.id, a.phone, a.name, a.created_at FROM sessions s \
         JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash.to_string())
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(read_account).transpose()
}

pub async fn delete_session(c: &mut Conn, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Counts one hit in a fixed window; returns the hits so far in the current window and when it
/// started.
pub async fn rate_hit(c: &mut Conn, bucket: &str, now: i64, window_ms: i64) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket) DO UPDATE SET \
           hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
           window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END \
         RETURNING hits, window_start",
    )
    .bind(bucket.to_string())
    .bind(now)
    .bind(now - window_ms)
    .fetch_one(&mut *c)
    .await?;
    Ok((row.try_get("hits")?, row.try_get("window_start")?))
}

// ----------------------------------------------------------------------------------- locks

#[derive(Debug, Clone)]
pub struct LockRow {
    pub id: String,
    pub serial: String,
    pub name: String,
    pub time_zone: String,
    pub wrong_code_limit: i64,
    pub lockout_seconds: i64,
    pub device_key: String,
    pub root_secret: String,
    pub server_epoch: i64,
    pub version: i64,
    pub acked_version: i64,
    pub event_seq: i64,
    pub command_seq: i64,
    pub online: bool,
    pub bolt: Option<String>,
    pub last_seen_at: Option<i64>,
    pub next_user_id: i64,
    pub created_at: i64,
}

const LOCK_COLUMNS: &str = "l.id, l.serial, l.name, l.time_zone, l.wrong_code_limit, \
    l.lockout_seconds, l.device_key, l.root_secret, l.server_epoch, l.version, l.acked_version, \
    l.event_seq, l.command_seq, l.online, l.bolt, l.last_seen_at, l.next_user_id, l.created_at";

/// `LOCK_COLUMNS` renamed `l_*`, for queries that also select another table's `id`, `name`...
const LOCK_COLUMNS_AS: &str = "l.id AS l_id, l.serial AS l_serial, l.name AS l_name, \
    l.time_zone AS l_time_zone, l.wrong_code_limit AS l_wrong_code_limit, \
    l.lockout_seconds AS l_lockout_seconds, l.device_key AS l_device_key, \
    l.root_secret AS l_root_secret, l.server_epoch AS l_server_epoch, l.version AS l_version, \
    l.acked_version AS l_acked_version, l.event_seq AS l_event_seq, \
    l.command_seq AS l_command_seq, l.online AS l_online, l.bolt AS l_bolt, \
    l.last_seen_at AS l_last_seen_at, l.next_user_id AS l_next_user_id, \
    l.created_at AS l_created_at";

/// A `LockRow` from a row whose lock columns are named `$prefix` followed by the column name.
macro_rules! lock_row {
    ($r:expr, $prefix:literal) => {
        LockRow {
            id: $r.try_get(concat!($prefix, "id"))?,
            serial: $r.try_get(concat!($prefix, "serial"))?,
            name: $r.try_get(concat!($prefix, "name"))?,
            time_zone: $r.try_get(concat!($prefix, "time_zone"))?,
            wrong_code_limit: $r.try_get(concat!($prefix, "wrong_code_limit"))?,
            lockout_seconds: $r.try_get(concat!($prefix, "lockout_seconds"))?,
            device_key: $r.try_get(concat!($prefix, "device_key"))?,
            root_secret: $r.try_get(concat!($prefix, "root_secret"))?,
            server_epoch: $r.try_get(concat!($prefix, "server_epoch"))?,
            version: $r.try_get(concat!($prefix, "version"))?,
            acked_version: $r.try_get(concat!($prefix, "acked_version"))?,
            event_seq: $r.try_get(concat!($prefix, "event_seq"))?,
            command_seq: $r.try_get(concat!($prefix, "command_seq"))?,
            online: $r.try_get::<i64, _>(concat!($prefix, "online"))? != 0,
            bolt: $r.try_get(concat!($prefix, "bolt"))?,
            last_seen_at: $r.try_get(concat!($prefix, "last_seen_at"))?,
            next_user_id: $r.try_get(concat!($prefix, "next_user_id"))?,
            created_at: $r.try_get(concat!($prefix, "created_at"))?,
        }
    };
}

/// A lock selected with `LOCK_COLUMNS_AS`.
fn read_lock_as(r: &AnyRow) -> Result<LockRow> {
    Ok(lock_row!(r, "l_"))
}

fn read_lock(r: &AnyRow) -> Result<LockRow> {
    Ok(lock_row!(r, ""))
}

pub async fn insert_lock(c: &mut Conn, l: &LockRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO locks (id, serial, name, time_zone, wrong_code_limit, lockout_seconds, \
         device_key, root_secret, server_epoch, version, acked_version, event_seq, command_seq, \
         online, bolt, last_seen_at, next_user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(l.id.clone())
    .bind(l.serial.clone())
    .bind(l.name.clone())
    .bind(l.time_zone.clone())
    .bind(l.wrong_code_limit)
    .bind(l.lockout_seconds)
    .bind(l.device_key.clone())
    .bind(l.root_secret.clone())
    .bind(l.server_epoch)
    .bind(l.version)
    .bind(l.acked_version)
    .bind(l.event_seq)
    .bind(l.command_seq)
    .bind(b(l.online))
    .bind(l.bolt.clone())
    .bind(l.last_seen_at)
    .bind(l.next_user_id)
    .bind(l.created_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn lock_by_id(c: &mut Conn, id: &str) -> Result<Option<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM locks l WHERE l.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_lock).transpose()
}

pub async fn lock_by_serial(c: &mut Conn, serial: &str) -> Result<Option<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM locks l WHERE l.serial = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serial.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_lock).transpose()
}

/// Every lock (for the gateway's start-up and re-sync sweeps).
pub async fn all_locks(c: &mut Conn) -> Result<Vec<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM locks l ORDER BY l.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    rows.iter().map(read_lock).collect()
}

/// Locks whose acknowledged version is behind.
pub async fn unsynced_locks(c: &mut Conn) -> Result<Vec<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM locks l WHERE l.acked_version < l.version");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    rows.iter().map(read_lock).collect()
}

/// The locks an account is a member of, with its level.
pub async fn locks_of_account(c: &mut Conn, account_id: &str) -> Result<Vec<(LockRow, String)>> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS}, m.access_level FROM locks l JOIN members m ON m.lock_id = l.id \
         WHERE m.account_id = $1 ORDER BY l.name, l.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((read_lock(r)?, r.try_get("access_level")?)))
        .collect()
}

/// Bumps the lock's version and returns the new one. Called first in every transaction that
/// changes who may enter: it takes the row lock (PostgreSQL) so such changes to one lock are
/// serialised, which is what keeps "at least one Admin" true under concurrency.
pub async fn bump_version(c: &mut Conn, lock_id: &str) -> Result<Option<i64>> {
    let v: Option<i64> = sqlx::query_scalar("UPDATE locks SET version = version + 1 WHERE id = $1 RETURNING version")
        .bind(lock_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    Ok(v)
}

/// Reserves the next lock-local user number.
pub async fn next_user_id(c: &mut Conn, lock_id: &str) -> Result<i64> {
    let v: i64 =
        sqlx::query_scalar("UPDATE locks SET next_user_id = next_user_id + 1 WHERE id = $1 RETURNING next_user_id - 1")
            .bind(lock_id.to_string())
            .fetch_one(&mut *c)
            .await?;
    Ok(v)
}

/// A lock's name and settings, as `PATCH /locks/{id}` changes them.
#[derive(Debug, Clone)]
pub struct LockProfile<'a> {
    pub name: &'a str,
    pub time_zone: &'a str,
    pub wrong_code_limit: i64,
    pub lockout_seconds: i64,
}

pub async fn update_lock_profile(c: &mut Conn, id: &str, p: &LockProfile<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE locks SET name = $1, time_zone = $2, wrong_code_limit = $3, lockout_seconds = $4 \
         WHERE id = $5",
    )
    .bind(p.name.to_string())
    .bind(p.time_zone.to_string())
    .bind(p.wrong_code_limit)
    .bind(p.lockout_seconds)
    .bind(id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn delete_lock(c: &mut Conn, id: &str) -> Result<()> {
    // Explicit deletes rather than relying on ON DELETE CASCADE alone, so that SQLite
    // databases opened without foreign-key enforcement stay clean too.
    for sql in [
        "DELETE FROM events WHERE lock_id = $1",
        "DELETE FROM members WHERE lock_id = $1",
        "DELETE FROM removed_users WHERE lock_id = $1",
        "DELETE FROM invitations WHERE lock_id = $1",
        "DELETE FROM guest_keys WHERE lock_id = $1",
        "DELETE FROM issuers WHERE lock_id = $1",
        "DELETE FROM unlock_results WHERE lock_id = $1",
        "DELETE FROM locks WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    Ok(())
}

/// Records that the lock holds `version` (never moves backwards).
pub async fn set_acked_version(c: &mut Conn, lock_id: &str, version: i64) -> Result<()> {
    sqlx::query("UPDATE locks SET acked_version = $1 WHERE id = $2 AND acked_version < $1 AND $1 <= version")
        .bind(version)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Whether a lock is connected, as of `at` (Unix ms); `bolt` when it said.
#[derive(Debug, Clone)]
pub struct Presence<'a> {
    pub online: bool,
    pub bolt: Option<&'a str>,
    pub at: i64,
}

pub async fn set_lock_presence(c: &mut Conn, lock_id: &str, p: &Presence<'_>) -> Result<()> {
    sqlx::query("UPDATE locks SET online = $1, bolt = COALESCE($2, bolt), last_seen_at = $3 WHERE id = $4")
        .bind(b(p.online))
        .bind(p.bolt.map(str::to_string))
        .bind(p.at)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_event_seq(c: &mut Conn, lock_id: &str, seq: i64) -> Result<()> {
    sqlx::query("UPDATE locks SET event_seq = $1 WHERE id = $2 AND event_seq < $1")
        .bind(seq)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Reserves the next command sequence number towards a lock.
pub async fn next_command_seq(c: &mut Conn, lock_id: &str) -> Result<Option<i64>> {
    let v: Option<i64> =
        sqlx::query_scalar("UPDATE locks SET command_seq = command_seq + 1 WHERE id = $1 RETURNING command_seq")
            .bind(lock_id.to_string())
            .fetch_optional(&mut *c)
            .await?;
    Ok(v)
}

/// The stored replay window of the lock's up messages (hex, empty before the first message);
/// `None` when there is no such lock.
pub async fn up_replay(c: &mut Conn, lock_id: &str) -> Result<Option<String>> {
    let v: Option<String> = sqlx::query_scalar("SELECT up_replay FROM locks WHERE id = $1")
        .bind(lock_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    Ok(v)
}

/// Replaces the lock's up replay window with `new` only while it still is `old`
/// (compare-and-set); false when another writer changed it first.
pub async fn swap_up_replay(c: &mut Conn, lock_id: &str, old: &str, new: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE locks SET up_replay = $1 WHERE id = $2 AND up_replay = $3")
        .bind(new.to_string())
        .bind(lock_id.to_string())
        .bind(old.to_string())
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the lock reported holding `version` in its up message number `up_seq`. Only a
/// report newer (by `up_seq`) than the one stored counts, so the stored version is what the
/// lock holds now, even when that is older than before (a stale snapshot that overtook a newer
/// one). A version the server never had is ignored. Returns whether it was recorded.
/// A lock's report of the version it holds.
#[derive(Debug, Clone, Copy)]
pub struct HeldVersion {
    pub version: i64,
    /// The number of the lock's up message that reported it.
    pub up_seq: i64,
}

pub async fn record_acked_version(c: &mut Conn, lock_id: &str, r: HeldVersion) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE locks SET acked_version = $1, acked_up_seq = $2 \
         WHERE id = $3 AND acked_up_seq < $2 AND $1 <= version",
    )
    .bind(r.version)
    .bind(r.up_seq)
    .bind(lock_id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A claim on re-sending the snapshot to a lock until `until` (Unix ms).
#[derive(Debug, Clone, Copy)]
pub enum ResyncClaim {
    /// Only when the lock is behind and no other claim runs at `now`.
    IfDue { now: i64, until: i64 },
    /// Always (after a send that happened anyway).
    Always { until: i64 },
}

/// Claims re-sending the snapshot to a lock. Returns whether this caller holds the claim.
pub async fn claim_resync(c: &mut Conn, lock_id: &str, claim: ResyncClaim) -> Result<bool> {
    let query = match claim {
        ResyncClaim::Always { until } => sqlx::query("UPDATE locks SET sync_claimed_until = $1 WHERE id = $2")
            .bind(until)
            .bind(lock_id.to_string()),
        ResyncClaim::IfDue { now, until } => sqlx::query(
            "UPDATE locks SET sync_claimed_until = $1 WHERE id = $2 AND acked_version < version \
             AND (sync_claimed_until IS NULL OR sync_claimed_until <= $3)",
        )
        .bind(until)
        .bind(lock_id.to_string())
        .bind(now),
    };
    let done = query.execute(&mut *c).await?;
    Ok(done.rows_affected() == 1)
}

/// A remote unlock result received by one instance for whichever instance waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlockResultRow {
    /// `unlocked`, `denied` or `failed`.
    pub outcome: String,
    pub reason: Option<String>,
}

pub async fn put_unlock_result(c: &mut Conn, lock_id: &str, command: i64, r: &UnlockResultRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO unlock_results (lock_id, command, outcome, reason, at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(lock_id.to_string())
    .bind(command)
    .bind(r.outcome.clone())
    .bind(r.reason.clone())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Takes (reads and deletes) the result of a remote unlock, if it arrived.
pub async fn take_unlock_result(c: &mut Conn, lock_id: &str, command: i64) -> Result<Option<UnlockResultRow>> {
    let row = sqlx::query("DELETE FROM unlock_results WHERE lock_id = $1 AND command = $2 RETURNING outcome, reason")
        .bind(lock_id.to_string())
        .bind(command)
        .fetch_optional(&mut *c)
        .await?;
    row.map(|r| {
        Ok(UnlockResultRow {
            outcome: r.try_get("outcome")?,
            reason: r.try_get("reason")?,
        })
    })
    .transpose()
}

/// Forgets unlock results nobody took (their request timed out) received before `before`.
pub async fn purge_unlock_results(c: &mut Conn, before: i64) -> Result<()> {
    sqlx::query("DELETE FROM unlock_results WHERE at < $1")
        .bind(before)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Records `public_key` as the server's identity unless one is recorded already, and returns
/// the recorded one.
pub async fn server_identity(c: &mut Conn, public_key: &str, now: i64) -> Result<String> {
    sqlx::query("INSERT INTO server_identity (id, public_key, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING")
        .bind(public_key.to_string())
        .bind(now)
        .execute(&mut *c)
        .await?;
    let v: String = sqlx::query_scalar("SELECT public_key FROM server_identity WHERE id = 1")
        .fetch_one(&mut *c)
        .await?;
    Ok(v)
}

pub async fn set_server_epoch(c: &mut Conn, lock_id: &str, epoch: i64) -> Result<()> {
    sqlx::query("UPDATE locks SET server_epoch = $1 WHERE id = $2")
        .bind(epoch)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

// --------------------------------------------------------------------------------- members

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub lock_id: String,
    pub account_id: String,
    pub user_id: i64,
    pub access_level: String,
    pub schedule: Option<String>,
    pub pin: Option<String>,
    pub changed_version: i64,
    pub added_at: i64,
    pub name: String,
    pub phone: String,
}

const MEMBER_COLUMNS: &str = "m.lock_id, m.account_id, m.user_id, m.access_level, m.schedule, \
    m.pin, m.changed_version, m.added_at, a.name, a.phone";

fn read_member(r: &AnyRow) -> Result<MemberRow> {
    Ok(MemberRow {
        lock_id: r.try_get("lock_id")?,
        account_id: r.try_get("account_id")?,
        user_id: r.try_get("user_id")?,
        access_level: r.try_get("access_level")?,
        schedule: r.try_get("schedule")?,
        pin: r.try_get("pin")?,
        changed_version: r.try_get("changed_version")?,
        added_at: r.try_get("added_at")?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
    })
}

pub async fn member(c: &mut Conn, lock_id: &str, account_id: &str) -> Result<Option<MemberRow>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.lock_id = $1 AND m.account_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_member).transpose()
}

/// A member of a lock with the lock itself, in one query (the membership check every
/// lock-scoped request makes first).
pub async fn member_and_lock(c: &mut Conn, lock_id: &str, account_id: &str) -> Result<Option<(MemberRow, LockRow)>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS}, {LOCK_COLUMNS_AS} FROM members m \
         JOIN accounts a ON a.id = m.account_id JOIN locks l ON l.id = m.lock_id \
         WHERE m.lock_id = $1 AND m.account_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref()
        .map(|r| Ok((read_member(r)?, read_lock_as(r)?)))
        .transpose()
}

pub async fn members(c: &mut Conn, lock_id: &str) -> Result<Vec<MemberRow>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.lock_id = $1 ORDER BY m.added_at, m.account_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_member).collect()
}

pub async fn member_by_user_id(c: &mut Conn, lock_id: &str, user_id: i64) -> Result<Option<MemberRow>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.lock_id = $1 AND m.user_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(user_id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_member).transpose()
}

pub async fn count_admins(c: &mut Conn, lock_id: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE lock_id = $1 AND access_level = 'admin'")
        .bind(lock_id.to_string())
        .fetch_one(&mut *c)
        .await?;
    Ok(n)
}

/// A member being added to a lock.
#[derive(Debug, Clone)]
pub struct NewMember<'a> {
    pub lock_id: &'a str,
    pub account_id: &'a str,
    /// The lock-local user number (`next_user_id`).
    pub user_id: i64,
    pub access_level: &'a str,
    pub schedule: Option<String>,
    /// The lock version that adds the member.
    pub changed_version: i64,
    pub added_at: i64,
    pub added_by: Option<&'a str>,
}

pub async fn insert_member(c: &mut Conn, m: &NewMember<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO members (lock_id, account_id, user_id, access_level, schedule, pin, \
         changed_version, added_at, added_by) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)",
    )
    .bind(m.lock_id.to_string())
    .bind(m.account_id.to_string())
    .bind(m.user_id)
    .bind(m.access_level.to_string())
    .bind(m.schedule.clone())
    .bind(m.changed_version)
    .bind(m.added_at)
    .bind(m.added_by.map(str::to_string))
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// A member's level and schedule, changed at lock version `changed_version`.
#[derive(Debug, Clone)]
pub struct MemberAccess<'a> {
    pub access_level: &'a str,
    pub schedule: Option<String>,
    pub changed_version: i64,
}

pub async fn update_member_access(c: &mut Conn, lock_id: &str, account_id: &str, a: &MemberAccess<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE members SET access_level = $1, schedule = $2, changed_version = $3 \
         WHERE lock_id = $4 AND account_id = $5",
    )
    .bind(a.access_level.to_string())
    .bind(a.schedule.clone())
    .bind(a.changed_version)
    .bind(lock_id.to_string())
    .bind(account_id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_member_pin(c: &mut Conn, lock_id: &str, account_id: &str, pin: &str, version: i64) -> Result<()> {
    sqlx::query("UPDATE members SET pin = $1, changed_version = $2 WHERE lock_id = $3 AND account_id = $4")
        .bind(pin.to_string())
        .bind(version)
        .bind(lock_id.to_string())
        .bind(account_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Removes a member and leaves a tombstone so that a delta sync tells the lock to forget it.
/// A member leaving a lock: its lock-local user number and the version that removes it.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub user_id: i64,
    pub version: i64,
}

pub async fn delete_member(c: &mut Conn, lock_id: &str, account_id: &str, r: Removal) -> Result<()> {
    sqlx::query("DELETE FROM members WHERE lock_id = $1 AND account_id = $2")
        .bind(lock_id.to_string())
        .bind(account_id.to_string())
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO removed_users (lock_id, user_id, removed_version) VALUES ($1, $2, $3) \
         ON CONFLICT (lock_id, user_id) DO UPDATE SET removed_version = $3",
    )
    .bind(lock_id.to_string())
    .bind(r.user_id)
    .bind(r.version)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// User numbers removed after `since`.
pub async fn removed_users_since(c: &mut Conn, lock_id: &str, since: i64) -> Result<Vec<i64>> {
    let v: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM removed_users WHERE lock_id = $1 AND removed_version > $2")
            .bind(lock_id.to_string())
            .bind(since)
            .fetch_all(&mut *c)
            .await?;
    Ok(v)
}

// ----------------------------------------------------------------------------- invitations

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: String,
    pub lock_id: String,
    pub phone: String,
    pub access_level: String,
    pub schedule: Option<String>,
    pub status: String,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub lock_name: String,
    pub invited_by_name: String,
}

const INVITATION_SELECT: &str = "SELECT i.id, i.lock_id, i.phone, i.access_level, i.schedule, \
    i.status, i.invited_by, i.created_at, i.expires_at, l.name AS lock_name, \
    COALESCE(a.name, '') AS invited_by_name FROM invitations i JOIN locks l ON l.id = i.lock_id \
    LEFT JOIN accounts a ON a.id = i.invited_by";

fn read_invitation(r: &AnyRow) -> Result<InvitationRow> {
    Ok(InvitationRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        phone: r.try_get("phone")?,
        access_level: r.try_get("access_level")?,
        schedule: r.try_get("schedule")?,
        status: r.try_get("status")?,
        invited_by: r.try_get("invited_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        lock_name: r.try_get("lock_name")?,
        invited_by_name: r.try_get("invited_by_name")?,
    })
}

/// Marks pending invitations past their expiry as expired.
pub async fn expire_invitations(c: &mut Conn, now: i64) -> Result<()> {
    sqlx::query("UPDATE invitations SET status = 'expired' WHERE status = 'pending' AND expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn insert_invitation(c: &mut Conn, i: &InvitationRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (id, lock_id, phone, access_level, schedule, status, invited_by, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
    )
    .bind(i.id.clone())
    .bind(i.lock_id.clone())
    .bind(i.phone.clone())
    .bind(i.access_level.clone())
    .bind(i.schedule.clone())
    .bind(i.invited_by.clone())
    .bind(i.created_at)
    .bind(i.expires_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn invitation(c: &mut Conn, id: &str) -> Result<Option<InvitationRow>> {
    let sql = format!("{INVITATION_SELECT} WHERE i.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_invitation).transpose()
}

pub async fn lock_invitations(c: &mut Conn, lock_id: &str) -> Result<Vec<InvitationRow>> {
    let sql = format!("{INVITATION_SELECT} WHERE i.lock_id = $1 ORDER BY i.created_at DESC, i.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_invitation).collect()
}

pub async fn pending_invitations_for_phone(c: &mut Conn, phone: &str, now: i64) -> Result<Vec<InvitationRow>> {
    let sql = format!(
        "{INVITATION_SELECT} WHERE i.phone = $1 AND i.status = 'pending' AND i.expires_at > $2 \
         ORDER BY i.created_at DESC, i.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(phone.to_string())
        .bind(now)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_invitation).collect()
}

/// Moves a pending invitation to `status`; false when it was no longer pending.
pub async fn respond_invitation(c: &mut Conn, id: &str, status: &str, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE invitations SET status = $1, responded_at = $2 WHERE id = $3 AND status = 'pending'")
            .bind(status.to_string())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *c)
            .await?;
    Ok(done.rows_affected() == 1)
}

// ------------------------------------------------------------------------------ guest keys

#[derive(Debug, Clone)]
pub struct GuestKeyRow {
    pub id: String,
    pub lock_id: String,
    pub key_no: i64,
    pub name: String,
    pub phone: Option<String>,
    pub code: String,
    pub slot: i64,
    pub epoch: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub code_ends_at: i64,
    pub one_time: bool,
    pub revoked_at: Option<i64>,
    pub used_at: Option<i64>,
    pub changed_version: i64,
    pub sms_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

const GUEST_KEY_COLUMNS: &str = "id, lock_id, key_no, name, phone, code, slot, epoch, starts_at, \
    ends_at, code_ends_at, one_time, revoked_at, used_at, changed_version, sms_id, created_by, \
    created_at";

fn read_guest_key(r: &AnyRow) -> Result<GuestKeyRow> {
    Ok(GuestKeyRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        key_no: r.try_get("key_no")?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
        code: r.try_get("code")?,
        slot: r.try_get("slot")?,
        epoch: r.try_get("epoch")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        code_ends_at: r.try_get("code_ends_at")?,
        one_time: r.try_get::<i64, _>("one_time")? != 0,
        revoked_at: r.try_get("revoked_at")?,
        used_at: r.try_get("used_at")?,
        changed_version: r.try_get("changed_version")?,
        sms_id: r.try_get("sms_id")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert_guest_key(c: &mut Conn, g: &GuestKeyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO guest_keys (id, lock_id, key_no, name, phone, code, slot, epoch, starts_at, \
         ends_at, code_ends_at, one_time, revoked_at, used_at, changed_version, sms_id, \
         created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, $13, $14, $15, $16)",
    )
    .bind(g.id.clone())
    .bind(g.lock_id.clone())
    .bind(g.key_no)
    .bind(g.name.clone())
    .bind(g.phone.clone())
    .bind(g.code.clone())
    .bind(g.slot)
    .bind(g.epoch)
    .bind(g.starts_at)
    .bind(g.ends_at)
    .bind(g.code_ends_at)
    .bind(b(g.one_time))
    .bind(g.changed_version)
    .bind(g.sms_id.clone())
    .bind(g.created_by.clone())
    .bind(g.created_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn guest_key(c: &mut Conn, lock_id: &str, id: &str) -> Result<Option<GuestKeyRow>> {
    let sql = format!("SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_guest_key).transpose()
}

pub async fn guest_key_by_no(c: &mut Conn, lock_id: &str, key_no: i64) -> Result<Option<GuestKeyRow>> {
    let sql = format!("SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND key_no = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(key_no)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_guest_key).transpose()
}

pub async fn guest_keys(c: &mut Conn, lock_id: &str) -> Result<Vec<GuestKeyRow>> {
    let sql = format!("SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 ORDER BY created_at DESC, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_guest_key).collect()
}

/// The guest keys a sync snapshot can carry, newest first (`created_at DESC, id`): the newest
/// `limit` keys the lock should accept (not revoked, not a used one-time key, a window of at
/// least a second) and the newest `limit` revoked ones (deny entries), both only while their
/// code's own window lasts past `now_s` (Unix seconds). Bounded by `limit`, not by how many
/// keys the lock ever had.
pub async fn sync_guest_keys(c: &mut Conn, lock_id: &str, now_s: i64, limit: i64) -> Result<Vec<GuestKeyRow>> {
    let mut out = Vec::new();
    for filter in [
        "revoked_at IS NULL AND NOT (one_time = 1 AND used_at IS NOT NULL) AND starts_at / 1000 < ends_at / 1000",
        "revoked_at IS NOT NULL",
    ] {
        let sql = format!(
            "SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND code_ends_at >= $2 \
             AND {filter} ORDER BY created_at DESC, id LIMIT $3"
        );
        // `code_ends_at / 1000 > now_s`, written so that an index on `code_ends_at` serves it.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lock_id.to_string())
            .bind(now_s.saturating_add(1).saturating_mul(1000))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?;
        for r in &rows {
            out.push(read_guest_key(r)?);
        }
    }
    // One list in the order of `guest_keys`, as the snapshot walks it.
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Whether this lock ever had a guest key with this code (live, used, expired or revoked): a
/// revoked code stays on the lock's deny list, so it is never handed out again.
pub async fn code_ever_issued(c: &mut Conn, lock_id: &str, code: &str) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT key_no FROM guest_keys WHERE lock_id = $1 AND code = $2 LIMIT 1")
            .bind(lock_id.to_string())
            .bind(code.to_string())
            .fetch_optional(&mut *c)
            .await?;
    Ok(found.is_some())
}

/// `code_ever_issued` and `next_key_no` in one query.
pub async fn code_issued_and_next_key_no(c: &mut Conn, lock_id: &str, code: &str) -> Result<(bool, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM guest_keys WHERE lock_id = $1 AND code = $2) AS issued, \
         (SELECT COALESCE(MAX(key_no), 0) + 1 FROM guest_keys WHERE lock_id = $1) AS next_key_no",
    )
    .bind(lock_id.to_string())
    .bind(code.to_string())
    .fetch_one(&mut *c)
    .await?;
    Ok((row.try_get::<i64, _>("issued")? > 0, row.try_get("next_key_no")?))
}

pub async fn next_key_no(c: &mut Conn, lock_id: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(key_no), 0) + 1 FROM guest_keys WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_one(&mut *c)
        .await?;
    Ok(n)
}

/// When something was revoked, and the lock version that revokes it.
#[derive(Debug, Clone, Copy)]
pub struct Revocation {
    pub at: i64,
    pub version: i64,
}

pub async fn revoke_guest_key(c: &mut Conn, lock_id: &str, id: &str, r: Revocation) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE guest_keys SET revoked_at = $1, changed_version = $2 \
         WHERE lock_id = $3 AND id = $4 AND revoked_at IS NULL",
    )
    .bind(r.at)
    .bind(r.version)
    .bind(lock_id.to_string())
    .bind(id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the first use of a key the lock reported.
pub async fn mark_guest_key_used(c: &mut Conn, lock_id: &str, key_no: i64, at: i64) -> Result<()> {
    sqlx::query("UPDATE guest_keys SET used_at = $1 WHERE lock_id = $2 AND key_no = $3 AND used_at IS NULL")
        .bind(at)
        .bind(lock_id.to_string())
        .bind(key_no)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn mark_guest_key_used_by_code(
    c: &mut Conn,
    lock_id: &str,
    code: &str,
    at: i64,
) -> Result<Option<GuestKeyRow>> {
    sqlx::query(
        "UPDATE guest_keys SET used_at = $1 WHERE lock_id = $2 AND code = $3 AND used_at IS NULL \
         AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(lock_id.to_string())
    .bind(code.to_string())
    .execute(&mut *c)
    .await?;
    let sql = format!(
        "SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND code = $2 \
         ORDER BY created_at DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(code.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_guest_key).transpose()
}

// --------------------------------------------------------------------------------- issuers

#[derive(Debug, Clone)]
pub struct IssuerRow {
    pub id: String,
    pub lock_id: String,
    pub slot: i64,
    pub epoch: i64,
    pub account_id: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub changed_version: i64,
}

fn read_issuer(r: &AnyRow) -> Result<IssuerRow> {
    Ok(IssuerRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        slot: r.try_get("slot")?,
        epoch: r.try_get("epoch")?,
        account_id: r.try_get("account_id")?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        changed_version: r.try_get("changed_version")?,
    })
}

const ISSUER_SELECT: &str = "SELECT id, lock_id, slot, epoch, account_id, label, created_at, \
    revoked_at, changed_version FROM issuers";

pub async fn issuers(c: &mut Conn, lock_id: &str) -> Result<Vec<IssuerRow>> {
    let sql = format!("{ISSUER_SELECT} WHERE lock_id = $1 ORDER BY slot, epoch");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_issuer).collect()
}

pub async fn issuer_by_id(c: &mut Conn, lock_id: &str, id: &str) -> Result<Option<IssuerRow>> {
    let sql = format!("{ISSUER_SELECT} WHERE lock_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_issuer).transpose()
}

pub async fn insert_issuer(c: &mut Conn, i: &IssuerRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO issuers (id, lock_id, slot, epoch, account_id, label, created_at, revoked_at, \
         changed_version) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
    )
    .bind(i.id.clone())
    .bind(i.lock_id.clone())
    .bind(i.slot)
    .bind(i.epoch)
    .bind(i.account_id.clone())
    .bind(i.label.clone())
    .bind(i.created_at)
    .bind(i.changed_version)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn revoke_issuer(c: &mut Conn, id: &str, r: Revocation) -> Result<bool> {
    let done =
        sqlx::query("UPDATE issuers SET revoked_at = $1, changed_version = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(r.at)
            .bind(r.version)
            .bind(id.to_string())
            .execute(&mut *c)
            .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------- events

#[derive(Debug, Clone, Default)]
pub struct EventRow {
    pub id: String,
    pub lock_id: String,
    pub seq: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub outcome: Option<String>,
    pub method: Option<String>,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub reason: Option<String>,
    pub by_account: Option<String>,
    pub by_name: Option<String>,
    pub detail: String,
}

/// Inserts an event; an event from the lock whose sequence number is already stored is
/// skipped (returns false), which makes uploads idempotent.
pub async fn insert_event(c: &mut Conn, e: &EventRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO events (id, lock_id, seq, at, kind, outcome, method, actor_kind, actor_id, \
         actor_name, reason, by_account, by_name, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT DO NOTHING",
    )
    .bind(e.id.clone())
    .bind(e.lock_id.clone())
    .bind(e.seq)
    .bind(e.at)
    .bind(e.kind.clone())
    .bind(e.outcome.clone())
    .bind(e.method.clone())
    .bind(e.actor_kind.clone())
    .bind(e.actor_id.clone())
    .bind(e.actor_name.clone())
    .bind(e.reason.clone())
    .bind(e.by_account.clone())
    .bind(e.by_name.clone())
    .bind(e.detail.clone())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Newest first, strictly before the cursor `before` (an event id) when given.
pub async fn events(c: &mut Conn, lock_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, lock_id, seq, at, kind, outcome, method, actor_kind, actor_id, actor_name, \
         reason, by_account, by_name, detail FROM events \
         WHERE lock_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(lock_id.to_string())
    .bind(before.unwrap_or("").to_string())
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                id: r.try_get("id")?,
                lock_id: r.try_get("lock_id")?,
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                outcome: r.try_get("outcome")?,
                method: r.try_get("method")?,
                actor_kind: r.try_get("actor_kind")?,
                actor_id: r.try_get("actor_id")?,
                actor_name: r.try_get("actor_name")?,
                reason: r.try_get("reason")?,
                by_account: r.try_get("by_account")?,
                by_name: r.try_get("by_name")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

// ------------------------------------------------------------------------------ sms outbox

#[derive(Debug, Clone)]
pub struct SmsRow {
    pub id: String,
    pub to_phone: String,
    pub body: String,
    pub purpose: String,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// An SMS for the outbox.
#[derive(Debug, Clone)]
pub struct NewSms<'a> {
    pub id: &'a str,
    pub to: &'a str,
    pub body: &'a str,
    pub purpose: &'a str,
    pub created_at: i64,
}

pub async fn enqueue_sms(c: &mut Conn, m: &NewSms<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sms_outbox (id, to_phone, body, purpose, created_at, attempts, \
         next_attempt_at, claimed_until, sent_at, last_error) \
         VALUES ($1, $2, $3, $4, $5, 0, $5, NULL, NULL, NULL)",
    )
    .bind(m.id.to_string())
    .bind(m.to.to_string())
    .bind(m.body.to_string())
    .bind(m.purpose.to_string())
    .bind(m.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

fn read_sms(r: &AnyRow) -> Result<SmsRow> {
    Ok(SmsRow {
        id: r.try_get("id")?,
        to_phone: r.try_get("to_phone")?,
        body: r.try_get("body")?,
        purpose: r.try_get("purpose")?,
        attempts: r.try_get("attempts")?,
        sent_at: r.try_get("sent_at")?,
        last_error: r.try_get("last_error")?,
    })
}

/// A worker's claim on due messages.
#[derive(Debug, Clone, Copy)]
pub struct SmsClaim {
    pub now: i64,
    /// How long the claimed messages are the worker's.
    pub lease_ms: i64,
    /// At most this many.
    pub limit: i64,
}

/// Claims up to `limit` due messages for `lease_ms`, so that no other worker (in this or
/// another server instance) sends them meanwhile.
pub async fn claim_sms(c: &mut Conn, claim: SmsClaim) -> Result<Vec<SmsRow>> {
    let SmsClaim { now, lease_ms, limit } = claim;
    let rows = sqlx::query(
        "UPDATE sms_outbox SET claimed_until = $1 WHERE id IN (\
           SELECT id FROM sms_outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 \
           AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY next_attempt_at LIMIT $3) \
         AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $2) \
         RETURNING id, to_phone, body, purpose, attempts, sent_at, last_error",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(read_sms).collect()
}

pub async fn sms_sent(c: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sms_outbox SET sent_at = $1, attempts = attempts + 1, claimed_until = NULL WHERE id = $2")
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn sms_failed(c: &mut Conn, id: &str, error: &str, next_attempt_at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sms_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
         claimed_until = NULL WHERE id = $3",
    )
    .bind(error.to_string())
    .bind(next_attempt_at)
    .bind(id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn sms_by_id(c: &mut Conn, id: &str) -> Result<Option<SmsRow>> {
    let row =
        sqlx::query("SELECT id, to_phone, body, purpose, attempts, sent_at, last_error FROM sms_outbox WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *c)
            .await?;
    row.as_ref().map(read_sms).transpose()
}

pub async fn next_sms_due(c: &mut Conn) -> Result<Option<i64>> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM sms_outbox WHERE sent_at IS NULL")
        .fetch_one(&mut *c)
        .await?;
    Ok(v)
}
