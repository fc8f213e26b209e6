//! Members of locks, and the tombstones of removed ones.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::locks::{LOCK_COLUMNS_AS, LockRow, read_lock_as};
use super::schedule::{StoredSchedule, schedule};
use super::{Conn, Result, decoded, map_err};
use crate::domain::types::{AccessLevel, PhoneNumber, Pin, Schedule};

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub lock_id: String,
    pub account_id: String,
    pub user_id: i64,
    pub access_level: AccessLevel,
    /// A Recurring Guest's schedule.
    pub schedule: Option<Schedule>,
    pub pin: Option<Pin>,
    pub changed_version: i64,
    pub added_at: i64,
    pub name: String,
    pub phone: PhoneNumber,
}

const MEMBER_COLUMNS: &str = "m.lock_id, m.account_id, m.user_id, m.access_level, m.schedule, \
    m.pin, m.changed_version, m.added_at, a.name, a.phone";

pub(super) fn read_member(r: &AnyRow) -> Result<MemberRow> {
    Ok(MemberRow {
        lock_id: r.try_get("lock_id")?,
        account_id: r.try_get("account_id")?,
        user_id: r.try_get("user_id")?,
        access_level: decoded(r, "access_level")?,
        schedule: schedule(r)?,
        pin: r.try_get::<Option<String>, _>("pin")?.map(Pin::from_stored),
        changed_version: r.try_get("changed_version")?,
        added_at: r.try_get("added_at")?,
        name: r.try_get("name")?,
        phone: PhoneNumber::from_stored(r.try_get("phone")?),
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
         JOIN lock_link k ON k.lock_id = m.lock_id \
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

/// The listing an Admin asks for, with the lock's acknowledged version, in one query that also
/// checks the session (`token_hash`, live at `now`) and that its account is an Admin of the
/// lock. `None` when any of that fails (the caller then finds out which, see
/// `Domain::members_for_token`): a lock always has an Admin, so an authorised listing is never
/// empty. One round trip instead of three for the members listing (issue 19).
pub async fn members_for_admin_session(
    c: &mut Conn,
    token_hash: &str,
    lock_id: &str,
    now: i64,
) -> Result<Option<(Vec<MemberRow>, i64)>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS}, k.acked_version AS lock_acked_version FROM sessions s \
         JOIN members me ON me.account_id = s.account_id AND me.lock_id = $2 AND me.access_level = 'admin' \
         JOIN lock_link k ON k.lock_id = me.lock_id \
         JOIN members m ON m.lock_id = me.lock_id JOIN accounts a ON a.id = m.account_id \
         WHERE s.token_hash = $1 AND s.expires_at > $3 ORDER BY m.added_at, m.account_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_string())
        .bind(lock_id.to_string())
        .bind(now)
        .fetch_all(&mut *c)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let acked: i64 = first.try_get("lock_acked_version")?;
    let members = rows.iter().map(read_member).collect::<Result<Vec<_>>>()?;
    Ok(Some((members, acked)))
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
    pub access_level: AccessLevel,
    pub schedule: Option<&'a Schedule>,
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
    .bind(m.access_level.as_str().to_string())
    .bind(m.schedule.map(StoredSchedule::encode))
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
    pub access_level: AccessLevel,
    pub schedule: Option<&'a Schedule>,
    pub changed_version: i64,
}

pub async fn update_member_access(c: &mut Conn, lock_id: &str, account_id: &str, a: &MemberAccess<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE members SET access_level = $1, schedule = $2, changed_version = $3 \
         WHERE lock_id = $4 AND account_id = $5",
    )
    .bind(a.access_level.as_str().to_string())
    .bind(a.schedule.map(StoredSchedule::encode))
    .bind(a.changed_version)
    .bind(lock_id.to_string())
    .bind(account_id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_member_pin(c: &mut Conn, lock_id: &str, account_id: &str, pin: &Pin, version: i64) -> Result<()> {
    sqlx::query("UPDATE members SET pin = $1, changed_version = $2 WHERE lock_id = $3 AND account_id = $4")
        .bind(pin.as_str().to_string())
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
