//! Rental calendars, the guest keys they made, and named leases.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, GuestKeyRow, Result, b};

#[derive(Debug, Clone)]
pub struct CalendarRow {
    pub id: String,
    pub lock_id: String,
    pub url: String,
    pub name: String,
    pub check_in: String,
    pub check_out: String,
    pub created_by: String,
    pub created_at: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub next_sync_at: i64,
}

const CALENDAR_COLUMNS: &str = "id, lock_id, url, name, check_in, check_out, created_by, created_at, \
    etag, last_modified, last_synced_at, last_error, last_error_at, next_sync_at";

fn read_calendar(r: &AnyRow) -> Result<CalendarRow> {
    Ok(CalendarRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        url: r.try_get("url")?,
        name: r.try_get("name")?,
        check_in: r.try_get("check_in")?,
        check_out: r.try_get("check_out")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        etag: r.try_get("etag")?,
        last_modified: r.try_get("last_modified")?,
        last_synced_at: r.try_get("last_synced_at")?,
        last_error: r.try_get("last_error")?,
        last_error_at: r.try_get("last_error_at")?,
        next_sync_at: r.try_get("next_sync_at")?,
    })
}

pub async fn insert_calendar(c: &mut Conn, cal: &CalendarRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO calendars (id, lock_id, url, name, check_in, check_out, created_by, created_at, \
         etag, last_modified, last_synced_at, last_error, last_error_at, next_sync_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, NULL, NULL, $9)",
    )
    .bind(cal.id.clone())
    .bind(cal.lock_id.clone())
    .bind(cal.url.clone())
    .bind(cal.name.clone())
    .bind(cal.check_in.clone())
    .bind(cal.check_out.clone())
    .bind(cal.created_by.clone())
    .bind(cal.created_at)
    .bind(cal.next_sync_at)
    .execute(&mut *c)
    .await
    .map_err(super::map_err)?;
    Ok(())
}

pub async fn calendars(c: &mut Conn, lock_id: &str) -> Result<Vec<CalendarRow>> {
    let sql = format!("SELECT {CALENDAR_COLUMNS} FROM calendars WHERE lock_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_calendar).collect()
}

pub async fn calendar(c: &mut Conn, lock_id: &str, id: &str) -> Result<Option<CalendarRow>> {
    let sql = format!("SELECT {CALENDAR_COLUMNS} FROM calendars WHERE lock_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_calendar).transpose()
}

/// Calendars whose next read is due at `now_ms`, the most overdue first.
pub async fn due_calendars(c: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<CalendarRow>> {
    let sql =
        format!("SELECT {CALENDAR_COLUMNS} FROM calendars WHERE next_sync_at <= $1 ORDER BY next_sync_at, id LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_calendar).collect()
}

pub async fn delete_calendar(c: &mut Conn, lock_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM calendars WHERE lock_id = $1 AND id = $2")
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What a read of the feed left: on success the new validators and `last_synced_at`, on
/// failure only the error. Either way the next read is due at `next_sync_at`.
#[derive(Debug, Clone)]
pub enum SyncOutcome<'a> {
    Read {
        at: i64,
        etag: Option<&'a str>,
        last_modified: Option<&'a str>,
    },
    /// The feed was read but answered 304: the validators stay.
    NotModified {
        at: i64,
    },
    Failed {
        at: i64,
        error: &'a str,
    },
}

pub async fn record_sync(c: &mut Conn, id: &str, outcome: SyncOutcome<'_>, next_sync_at: i64) -> Result<()> {
    let q = match outcome {
        SyncOutcome::Read {
            at,
            etag,
            last_modified,
        } => sqlx::query(
            "UPDATE calendars SET last_synced_at = $1, etag = $2, last_modified = $3, last_error = NULL, \
             last_error_at = NULL, next_sync_at = $4 WHERE id = $5",
        )
        .bind(at)
        .bind(etag.map(str::to_string))
        .bind(last_modified.map(str::to_string)),
        SyncOutcome::NotModified { at } => sqlx::query(
            "UPDATE calendars SET last_synced_at = $1, last_error = NULL, last_error_at = NULL, \
             next_sync_at = $2 WHERE id = $3",
        )
        .bind(at),
        SyncOutcome::Failed { at, error } => {
            sqlx::query("UPDATE calendars SET last_error = $1, last_error_at = $2, next_sync_at = $3 WHERE id = $4")
                .bind(error.to_string())
                .bind(at)
        }
    };
    q.bind(next_sync_at).bind(id.to_string()).execute(&mut *c).await?;
    Ok(())
}

/// Forgets the validators, so that the next read fetches the whole feed (after a read whose
/// body could not be used, a 304 must not hide the feed from the next one).
pub async fn clear_validators(c: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("UPDATE calendars SET etag = NULL, last_modified = NULL WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A guest key a calendar made.
#[derive(Debug, Clone)]
pub struct CalendarKeyRow {
    pub key: GuestKeyRow,
    pub calendar_id: String,
    pub uid: String,
    /// `synced` or `offline`.
    pub code_kind: String,
    pub revoked_by_calendar: bool,
}

/// The keys calendar `calendar_id` made, oldest first.
pub async fn calendar_keys(c: &mut Conn, calendar_id: &str) -> Result<Vec<CalendarKeyRow>> {
    let sql = "SELECT g.id, g.lock_id, g.key_no, g.name, g.phone, g.code, g.slot, g.epoch, g.starts_at, \
         g.ends_at, g.code_ends_at, g.one_time, g.revoked_at, g.used_at, g.changed_version, g.sms_id, \
         g.created_by, g.created_at, k.calendar_id, k.uid, k.code_kind, k.revoked_by_calendar \
         FROM calendar_keys k JOIN guest_keys g ON g.id = k.key_id \
         WHERE k.calendar_id = $1 ORDER BY k.created_at, g.key_no";
    let rows = sqlx::query(sql)
        .bind(calendar_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CalendarKeyRow {
                key: super::guest_keys::read_guest_key(r)?,
                calendar_id: r.try_get("calendar_id")?,
                uid: r.try_get("uid")?,
                code_kind: r.try_get("code_kind")?,
                revoked_by_calendar: r.try_get::<i64, _>("revoked_by_calendar")? != 0,
            })
        })
        .collect()
}

pub async fn insert_calendar_key(
    c: &mut Conn,
    key_id: &str,
    lock_id: &str,
    calendar_id: &str,
    uid: &str,
    code_kind: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO calendar_keys (key_id, lock_id, calendar_id, uid, code_kind, revoked_by_calendar, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(key_id.to_string())
    .bind(lock_id.to_string())
    .bind(calendar_id.to_string())
    .bind(uid.to_string())
    .bind(code_kind.to_string())
    .bind(at)
    .execute(&mut *c)
    .await
    .map_err(super::map_err)?;
    Ok(())
}

pub async fn mark_revoked_by_calendar(c: &mut Conn, key_id: &str) -> Result<()> {
    sqlx::query("UPDATE calendar_keys SET revoked_by_calendar = $1 WHERE key_id = $2")
        .bind(b(true))
        .bind(key_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Moves a live key's window (a held code: its code stays, the lock is told the new window).
pub async fn move_guest_key(
    c: &mut Conn,
    key_id: &str,
    starts_at: i64,
    ends_at: i64,
    code_ends_at: i64,
    version: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE guest_keys SET starts_at = $1, ends_at = $2, code_ends_at = $3, changed_version = $4 \
         WHERE id = $5 AND revoked_at IS NULL",
    )
    .bind(starts_at)
    .bind(ends_at)
    .bind(code_ends_at)
    .bind(version)
    .bind(key_id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the phone a key's code was texted to.
pub async fn set_guest_key_phone(c: &mut Conn, key_id: &str, phone: &str, sms_id: &str) -> Result<()> {
    sqlx::query("UPDATE guest_keys SET phone = $1, sms_id = $2 WHERE id = $3")
        .bind(phone.to_string())
        .bind(sms_id.to_string())
        .bind(key_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Every code lock `lock_id` ever had (live, used, expired or revoked): a new key never gets
/// one of them. One query for a whole sync instead of one per candidate code.
pub async fn lock_codes(c: &mut Conn, lock_id: &str) -> Result<Vec<String>> {
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM guest_keys WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    Ok(codes)
}

/// `key id -> (calendar id, uid)` for the keys of a lock that a calendar made.
pub async fn key_sources(c: &mut Conn, lock_id: &str) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT key_id, calendar_id, uid FROM calendar_keys WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("key_id")?, r.try_get("calendar_id")?, r.try_get("uid")?)))
        .collect()
}

/// Takes or renews the lease `name` for `holder` until `until_ms`, when it is free (expired at
/// `now_ms`) or already `holder`'s. Whether `holder` holds it now.
pub async fn take_lease(c: &mut Conn, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
         WHERE leases.until_ms <= $4 OR leases.holder = $2 RETURNING holder",
    )
    .bind(name.to_string())
    .bind(holder.to_string())
    .bind(until_ms)
    .bind(now_ms)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.is_some())
}
