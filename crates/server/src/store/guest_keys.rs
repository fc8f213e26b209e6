//! Guest keys.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result, b, map_err};

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

pub(super) fn read_guest_key(r: &AnyRow) -> Result<GuestKeyRow> {
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

/// Guest-key records a snapshot would carry after `$after` (milliseconds), on lock `$lock`:
/// the filter `count_guest_entries` counts (`domain::capacity`).
pub(super) const LIVE_RECORD: &str = "code_ends_at >= $after AND revoked_at IS NULL \
    AND NOT (one_time = 1 AND used_at IS NOT NULL) AND starts_at / 1000 < ends_at / 1000";

/// Inserts a new guest key as the last step of its creation, once the lock's version is
/// bumped (the lock row is held from there to commit), checking again in the same statement
/// what was checked before without the row lock: `admin_id` is still an Admin of the lock and
/// the lock holds fewer than `max_records` live records after `now_s`, and no key of the lock
/// ever had this code (another creation may have taken it meanwhile). The key number is the
/// lock's next one, read in the statement (`g.key_no` is ignored). Returns the key number, or
/// `None` when a check failed (nothing inserted).
pub async fn insert_guest_key_checked(
    c: &mut Conn,
    g: &GuestKeyRow,
    admin_id: &str,
    now_s: i64,
    max_records: i64,
) -> Result<Option<i64>> {
    let after = now_s.saturating_add(1).saturating_mul(1000);
    let live = LIVE_RECORD.replace("$after", "$17");
    let sql = format!(
        "INSERT INTO guest_keys (id, lock_id, key_no, name, phone, code, slot, epoch, starts_at, \
         ends_at, code_ends_at, one_time, revoked_at, used_at, changed_version, sms_id, \
         created_by, created_at) \
         SELECT $1, $2, (SELECT COALESCE(MAX(key_no), 0) + 1 FROM guest_keys WHERE lock_id = $2), \
         $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, $12, $13, $14, $15 \
         WHERE EXISTS (SELECT 1 FROM members WHERE lock_id = $2 AND account_id = $16 AND access_level = 'admin') \
         AND (SELECT COUNT(*) FROM guest_keys WHERE lock_id = $2 AND {live}) < $18 \
         AND NOT EXISTS (SELECT 1 FROM guest_keys WHERE lock_id = $2 AND code = $5) \
         RETURNING key_no"
    );
    let key_no: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(g.id.clone())
        .bind(g.lock_id.clone())
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
        .bind(admin_id.to_string())
        .bind(after)
        .bind(max_records)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?;
    Ok(key_no)
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

/// The newest key of this lock with this code (a refused code names its key, revoked or not).
pub async fn guest_key_by_code(c: &mut Conn, lock_id: &str, code: &str) -> Result<Option<GuestKeyRow>> {
    let sql = format!(
        "SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND code = $2 ORDER BY created_at DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(code.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_guest_key).transpose()
}

/// Marks revoked the live keys an Admin device's issuer (`slot` at `epoch`) made, when the
/// issuer is revoked; the number marked.
pub async fn revoke_issuer_keys(c: &mut Conn, lock_id: &str, slot: i64, epoch: i64, r: Revocation) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE guest_keys SET revoked_at = $1, changed_version = $2 \
         WHERE lock_id = $3 AND slot = $4 AND epoch = $5 AND revoked_at IS NULL",
    )
    .bind(r.at)
    .bind(r.version)
    .bind(lock_id.to_string())
    .bind(slot)
    .bind(epoch)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected())
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
/// A revoked key the lock needs a deny entry for: one of the server's (slot 0), or one of an
/// Admin device's issuer that is still active. A revoked issuer's codes need none: the lock
/// refuses every code of a slot or epoch it no longer holds.
pub const REVOKED_NEEDS_DENY: &str = "revoked_at IS NOT NULL AND (slot = 0 OR EXISTS (SELECT 1 FROM issuers i \
     WHERE i.lock_id = guest_keys.lock_id AND i.slot = guest_keys.slot AND i.epoch = guest_keys.epoch \
     AND i.revoked_at IS NULL))";

pub async fn sync_guest_keys(c: &mut Conn, lock_id: &str, now_s: i64, limit: i64) -> Result<Vec<GuestKeyRow>> {
    let mut out = Vec::new();
    for filter in [
        "revoked_at IS NULL AND NOT (one_time = 1 AND used_at IS NOT NULL) AND starts_at / 1000 < ends_at / 1000",
        REVOKED_NEEDS_DENY,
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

/// The lock's guest keys changed after `version` (made, revoked, or their window changed: every
/// change that reaches the lock records its version in `changed_version`), whatever their state.
pub async fn guest_keys_changed_since(c: &mut Conn, lock_id: &str, version: i64) -> Result<Vec<GuestKeyRow>> {
    let sql = format!("SELECT {GUEST_KEY_COLUMNS} FROM guest_keys WHERE lock_id = $1 AND changed_version > $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(version)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_guest_key).collect()
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

/// Records the first use of a key the lock reported; true when this was its first use.
pub async fn mark_guest_key_used(c: &mut Conn, lock_id: &str, key_no: i64, at: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE guest_keys SET used_at = $1 WHERE lock_id = $2 AND key_no = $3 AND used_at IS NULL")
        .bind(at)
        .bind(lock_id.to_string())
        .bind(key_no)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Records the first use of the key with this code; the key, and whether this was its first
/// use.
pub async fn mark_guest_key_used_by_code(
    c: &mut Conn,
    lock_id: &str,
    code: &str,
    at: i64,
) -> Result<(Option<GuestKeyRow>, bool)> {
    let done = sqlx::query(
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
    Ok((row.as_ref().map(read_guest_key).transpose()?, done.rows_affected() > 0))
}
