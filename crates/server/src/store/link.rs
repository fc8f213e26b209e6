//! The device link's own records: presence, the version the lock holds, command and replay
//! sequence numbers and resend claims (table `lock_link`, one row per lock), unlock results
//! handed between instances, and the server key's identity. Several instances share them
//! (ARCHITECTURE.md, "Instances share nothing but the database and the broker"), so they change
//! by conditional update.
//!
//! None of these writes touch the `locks` row: a message from or to a lock only locks its
//! `lock_link` row, so a change of who may enter (`bump_version`, which takes the `locks` row)
//! does not wait for the link's transactions on PostgreSQL (migration 11). Conditions on the
//! lock's version read it with a subquery (`LOCK_VERSION`), which takes no row lock.

use sqlx::Row;

use super::{Conn, Result, StoreError, b};
use crate::domain::device::UnlockOutcome;

/// The version of the lock whose `lock_link` row is being updated (`lock_link.lock_id`).
const LOCK_VERSION: &str = "(SELECT l.version FROM locks l WHERE l.id = lock_link.lock_id)";

/// The locks whose acknowledged version is behind (for the resend sweep).
pub async fn unsynced_lock_ids(c: &mut Conn) -> Result<Vec<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT l.id FROM locks l JOIN lock_link k ON k.lock_id = l.id WHERE k.acked_version < l.version ORDER BY l.id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(ids)
}

/// Records that the lock holds `version` (never moves backwards).
pub async fn set_acked_version(c: &mut Conn, lock_id: &str, version: i64) -> Result<()> {
    let sql = format!(
        "UPDATE lock_link SET acked_version = $1 WHERE lock_id = $2 AND acked_version < $1 AND $1 <= {LOCK_VERSION}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
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
    sqlx::query("UPDATE lock_link SET online = $1, bolt = COALESCE($2, bolt), last_seen_at = $3 WHERE lock_id = $4")
        .bind(b(p.online))
        .bind(p.bolt.map(str::to_string))
        .bind(p.at)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_event_seq(c: &mut Conn, lock_id: &str, seq: i64) -> Result<()> {
    sqlx::query("UPDATE lock_link SET event_seq = $1 WHERE lock_id = $2 AND event_seq < $1")
        .bind(seq)
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Reserves the next command sequence number towards a lock.
pub async fn next_command_seq(c: &mut Conn, lock_id: &str) -> Result<Option<i64>> {
    let v: Option<i64> = sqlx::query_scalar(
        "UPDATE lock_link SET command_seq = command_seq + 1 WHERE lock_id = $1 RETURNING command_seq",
    )
    .bind(lock_id.to_string())
    .fetch_optional(&mut *c)
    .await?;
    Ok(v)
}

/// The stored replay window of the lock's up messages (hex, empty before the first message);
/// `None` when there is no such lock.
pub async fn up_replay(c: &mut Conn, lock_id: &str) -> Result<Option<String>> {
    let v: Option<String> = sqlx::query_scalar("SELECT up_replay FROM lock_link WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    Ok(v)
}

/// Replaces the lock's up replay window with `new` only while it still is `old`
/// (compare-and-set); false when another writer changed it first.
pub async fn swap_up_replay(c: &mut Conn, lock_id: &str, old: &str, new: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE lock_link SET up_replay = $1 WHERE lock_id = $2 AND up_replay = $3")
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
    let sql = format!(
        "UPDATE lock_link SET acked_version = $1, acked_up_seq = $2 \
         WHERE lock_id = $3 AND acked_up_seq < $2 AND $1 <= {LOCK_VERSION}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
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
    let if_due = format!(
        "UPDATE lock_link SET sync_claimed_until = $1 WHERE lock_id = $2 AND acked_version < {LOCK_VERSION} \
         AND (sync_claimed_until IS NULL OR sync_claimed_until <= $3)"
    );
    let query = match claim {
        ResyncClaim::Always { until } => sqlx::query("UPDATE lock_link SET sync_claimed_until = $1 WHERE lock_id = $2")
            .bind(until)
            .bind(lock_id.to_string()),
        ResyncClaim::IfDue { now, until } => sqlx::query(sqlx::AssertSqlSafe(if_due))
            .bind(until)
            .bind(lock_id.to_string())
            .bind(now),
    };
    let done = query.execute(&mut *c).await?;
    Ok(done.rows_affected() == 1)
}

/// Leaves the lock's answer to remote unlock `command` for whichever instance waits for it.
pub async fn put_unlock_result(c: &mut Conn, lock_id: &str, command: i64, r: &UnlockOutcome, now: i64) -> Result<()> {
    let (outcome, reason) = match r {
        UnlockOutcome::Unlocked => ("unlocked", None),
        UnlockOutcome::Locked => ("locked", None),
        UnlockOutcome::Denied(reason) => ("denied", Some(reason.clone())),
    };
    sqlx::query(
        "INSERT INTO unlock_results (lock_id, command, outcome, reason, at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(lock_id.to_string())
    .bind(command)
    .bind(outcome.to_string())
    .bind(reason)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Takes (reads and deletes) the result of a remote unlock, if it arrived.
pub async fn take_unlock_result(c: &mut Conn, lock_id: &str, command: i64) -> Result<Option<UnlockOutcome>> {
    let row = sqlx::query("DELETE FROM unlock_results WHERE lock_id = $1 AND command = $2 RETURNING outcome, reason")
        .bind(lock_id.to_string())
        .bind(command)
        .fetch_optional(&mut *c)
        .await?;
    row.map(|r| {
        let reason: Option<String> = r.try_get("reason")?;
        match r.try_get::<String, _>("outcome")?.as_str() {
            "unlocked" => Ok(UnlockOutcome::Unlocked),
            "locked" => Ok(UnlockOutcome::Locked),
            "denied" => Ok(UnlockOutcome::Denied(reason.unwrap_or_else(|| "denied".into()))),
            // Written by earlier versions for a lock that could not open.
            "failed" => Ok(UnlockOutcome::Denied("failed_to_open".into())),
            other => Err(StoreError::Corrupt(format!("unlock_results.outcome: '{other}'"))),
        }
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
