//! What a lock holds, counted as its snapshot would carry it (`domain::capacity`).

use super::{Conn, Result};

/// Guest-key records and deny entries a snapshot sent now would carry: keys whose code is still
/// valid after `now_s`, live (a record; one-time keys until used) or revoked (a deny entry).
/// The same filters as `sync_guest_keys`.
pub async fn count_guest_entries(c: &mut Conn, lock_id: &str, now_s: i64) -> Result<(i64, i64)> {
    let after = now_s.saturating_add(1).saturating_mul(1000);
    let sql = format!(
        "SELECT COUNT(*) FROM guest_keys WHERE lock_id = $1 AND {}",
        super::guest_keys::LIVE_RECORD.replace("$after", "$2")
    );
    let records: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(after)
        .fetch_one(&mut *c)
        .await?;
    let sql = format!(
        "SELECT COUNT(*) FROM guest_keys WHERE lock_id = $1 AND code_ends_at >= $2 AND {}",
        super::guest_keys::REVOKED_NEEDS_DENY
    );
    let denies: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(after)
        .fetch_one(&mut *c)
        .await?;
    Ok((records, denies))
}

/// Members of a lock (each is a user on the lock) and those with a PIN.
pub async fn count_members(c: &mut Conn, lock_id: &str) -> Result<(i64, i64)> {
    let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_one(&mut *c)
        .await?;
    let pins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE lock_id = $1 AND pin IS NOT NULL")
        .bind(lock_id.to_string())
        .fetch_one(&mut *c)
        .await?;
    Ok((members, pins))
}
