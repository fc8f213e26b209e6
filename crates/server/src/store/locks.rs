//! Locks: what the server knows of each paired lock. A `LockRow` joins the lock's row
//! (`locks`: what a change of who may enter writes) with its device link's (`lock_link`: what
//! the link writes per message, `link.rs`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Hex32, Result, b, decoded, map_err};
use crate::domain::types::{AccessLevel, LockSecret, TimeZoneName};

#[derive(Debug, Clone)]
pub struct LockRow {
    pub id: String,
    pub serial: String,
    pub name: String,
    pub time_zone: TimeZoneName,
    pub wrong_code_limit: i64,
    pub lockout_seconds: i64,
    /// The lock's Ed25519 public key.
    pub device_key: [u8; 32],
    pub root_secret: LockSecret,
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

/// The tables `LOCK_COLUMNS` and `LOCK_COLUMNS_AS` read from, as `l` and `k`: the lock's row
/// and its device link's (`lock_link`, migration 11), which every lock has from its pairing.
pub(super) const LOCK_TABLES: &str = "locks l JOIN lock_link k ON k.lock_id = l.id";

pub(super) const LOCK_COLUMNS: &str = "l.id, l.serial, l.name, l.time_zone, l.wrong_code_limit, \
    l.lockout_seconds, l.device_key, l.root_secret, l.server_epoch, l.version, k.acked_version, \
    k.event_seq, k.command_seq, k.online, k.bolt, k.last_seen_at, l.next_user_id, l.created_at";

/// `LOCK_COLUMNS` renamed `l_*`, for queries that also select another table's `id`, `name`...
pub(super) const LOCK_COLUMNS_AS: &str = "l.id AS l_id, l.serial AS l_serial, l.name AS l_name, \
    l.time_zone AS l_time_zone, l.wrong_code_limit AS l_wrong_code_limit, \
    l.lockout_seconds AS l_lockout_seconds, l.device_key AS l_device_key, \
    l.root_secret AS l_root_secret, l.server_epoch AS l_server_epoch, l.version AS l_version, \
    k.acked_version AS l_acked_version, k.event_seq AS l_event_seq, \
    k.command_seq AS l_command_seq, k.online AS l_online, k.bolt AS l_bolt, \
    k.last_seen_at AS l_last_seen_at, l.next_user_id AS l_next_user_id, \
    l.created_at AS l_created_at";

/// A `LockRow` from a row whose lock columns are named `$prefix` followed by the column name.
macro_rules! lock_row {
    ($r:expr, $prefix:literal) => {
        LockRow {
            id: $r.try_get(concat!($prefix, "id"))?,
            serial: $r.try_get(concat!($prefix, "serial"))?,
            name: $r.try_get(concat!($prefix, "name"))?,
            time_zone: TimeZoneName::from_stored($r.try_get(concat!($prefix, "time_zone"))?),
            wrong_code_limit: $r.try_get(concat!($prefix, "wrong_code_limit"))?,
            lockout_seconds: $r.try_get(concat!($prefix, "lockout_seconds"))?,
            device_key: decoded::<Hex32>($r, concat!($prefix, "device_key"))?.0,
            root_secret: decoded($r, concat!($prefix, "root_secret"))?,
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
pub(super) fn read_lock_as(r: &AnyRow) -> Result<LockRow> {
    Ok(lock_row!(r, "l_"))
}

pub(super) fn read_lock(r: &AnyRow) -> Result<LockRow> {
    Ok(lock_row!(r, ""))
}

/// Inserts a lock with its device link's row (`lock_link`), in the caller's transaction.
pub async fn insert_lock(c: &mut Conn, l: &LockRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO locks (id, serial, name, time_zone, wrong_code_limit, lockout_seconds, \
         device_key, root_secret, server_epoch, version, next_user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(l.id.clone())
    .bind(l.serial.clone())
    .bind(l.name.clone())
    .bind(l.time_zone.as_str().to_string())
    .bind(l.wrong_code_limit)
    .bind(l.lockout_seconds)
    .bind(hex::encode(l.device_key))
    .bind(l.root_secret.to_hex())
    .bind(l.server_epoch)
    .bind(l.version)
    .bind(l.next_user_id)
    .bind(l.created_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO lock_link (lock_id, acked_version, acked_up_seq, event_seq, command_seq, \
         up_replay, sync_claimed_until, online, bolt, last_seen_at) \
         VALUES ($1, $2, 0, $3, $4, '', NULL, $5, $6, $7)",
    )
    .bind(l.id.clone())
    .bind(l.acked_version)
    .bind(l.event_seq)
    .bind(l.command_seq)
    .bind(b(l.online))
    .bind(l.bolt.clone())
    .bind(l.last_seen_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn lock_by_id(c: &mut Conn, id: &str) -> Result<Option<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM {LOCK_TABLES} WHERE l.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_lock).transpose()
}

pub async fn lock_by_serial(c: &mut Conn, serial: &str) -> Result<Option<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM {LOCK_TABLES} WHERE l.serial = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serial.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_lock).transpose()
}

/// Every lock.
pub async fn all_locks(c: &mut Conn) -> Result<Vec<LockRow>> {
    let sql = format!("SELECT {LOCK_COLUMNS} FROM {LOCK_TABLES} ORDER BY l.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    rows.iter().map(read_lock).collect()
}

/// The locks an account is a member of, with its level.
pub async fn locks_of_account(c: &mut Conn, account_id: &str) -> Result<Vec<(LockRow, AccessLevel)>> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS}, m.access_level FROM {LOCK_TABLES} JOIN members m ON m.lock_id = l.id \
         WHERE m.account_id = $1 ORDER BY l.name, l.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((read_lock(r)?, decoded(r, "access_level")?)))
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
    pub time_zone: &'a TimeZoneName,
    pub wrong_code_limit: i64,
    pub lockout_seconds: i64,
}

pub async fn update_lock_profile(c: &mut Conn, id: &str, p: &LockProfile<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE locks SET name = $1, time_zone = $2, wrong_code_limit = $3, lockout_seconds = $4 \
         WHERE id = $5",
    )
    .bind(p.name.to_string())
    .bind(p.time_zone.as_str().to_string())
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
        "DELETE FROM calendar_keys WHERE lock_id = $1",
        "DELETE FROM calendars WHERE lock_id = $1",
        "DELETE FROM guest_keys WHERE lock_id = $1",
        "DELETE FROM issuers WHERE lock_id = $1",
        "DELETE FROM unlock_results WHERE lock_id = $1",
        "DELETE FROM lock_link WHERE lock_id = $1",
        "DELETE FROM locks WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    Ok(())
}

pub async fn set_server_epoch(c: &mut Conn, lock_id: &str, epoch: i64) -> Result<()> {
    sqlx::query("UPDATE locks SET server_epoch = $1 WHERE id = $2")
        .bind(epoch)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}
