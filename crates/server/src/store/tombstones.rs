//! Lock ids the server does not keep (migration 8, `docs/design/pairing-convergence.md`): ids
//! offered in a pairing that has not (yet) been kept, and locks an Admin unpaired. A lock that
//! presents itself under one is told `Unpair`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Hex32, Result, StoreError, decoded};
use crate::domain::types::LockSecret;

/// What a tombstone says about its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TombstoneState {
    /// Offered to a lock in a `PairFinish`; the exchange may still be running.
    Pending,
    /// The pairing was given up: the server never kept this id.
    Abandoned,
    /// An Admin unpaired the lock.
    Unpaired,
}

impl TombstoneState {
    fn as_str(self) -> &'static str {
        match self {
            TombstoneState::Pending => "pending",
            TombstoneState::Abandoned => "abandoned",
            TombstoneState::Unpaired => "unpaired",
        }
    }

    fn parse(text: &str) -> Result<TombstoneState> {
        match text {
            "pending" => Ok(TombstoneState::Pending),
            "abandoned" => Ok(TombstoneState::Abandoned),
            "unpaired" => Ok(TombstoneState::Unpaired),
            other => Err(StoreError::Corrupt(format!("lock_tombstones.state: {other:?}"))),
        }
    }
}

/// A lock id the server does not keep, with what it needs to tell that lock so.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub lock_id: String,
    pub serial: String,
    /// The lock's Ed25519 public key.
    pub device_key: [u8; 32],
    pub root_secret: LockSecret,
    pub state: TombstoneState,
    /// The last number taken by `next_unpair_seq`.
    pub unpair_seq: i64,
    /// Unix ms.
    pub created_at: i64,
}

fn read(r: &AnyRow) -> Result<Tombstone> {
    Ok(Tombstone {
        lock_id: r.try_get("lock_id")?,
        serial: r.try_get("serial")?,
        device_key: decoded::<Hex32>(r, "device_key")?.0,
        root_secret: decoded(r, "root_secret")?,
        state: TombstoneState::parse(&r.try_get::<String, _>("state")?)?,
        unpair_seq: r.try_get("unpair_seq")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Writes (or replaces) the tombstone of `t.lock_id`.
pub async fn put_tombstone(c: &mut Conn, t: &Tombstone) -> Result<()> {
    sqlx::query(
        "INSERT INTO lock_tombstones (lock_id, serial, device_key, root_secret, state, unpair_seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (lock_id) DO UPDATE SET serial = $2, device_key = $3, root_secret = $4, state = $5, \
         unpair_seq = $6, created_at = $7",
    )
    .bind(t.lock_id.clone())
    .bind(t.serial.clone())
    .bind(hex::encode(t.device_key))
    .bind(t.root_secret.to_hex())
    .bind(t.state.as_str())
    .bind(t.unpair_seq)
    .bind(t.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn tombstone(c: &mut Conn, lock_id: &str) -> Result<Option<Tombstone>> {
    let row = sqlx::query(
        "SELECT lock_id, serial, device_key, root_secret, state, unpair_seq, created_at \
         FROM lock_tombstones WHERE lock_id = $1",
    )
    .bind(lock_id.to_string())
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(read).transpose()
}

/// Keeps the pairing of `lock_id`, in the transaction that inserts its lock row: removes its
/// `pending` tombstone. False when the pairing was given up meanwhile (its tombstone is no
/// longer pending): the lock has been or will be told `Unpair`, so the row must not be kept.
/// True when there is no tombstone at all (a gateway that keeps none, as the tests' fake).
pub async fn keep_pairing(c: &mut Conn, lock_id: &str) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM lock_tombstones WHERE lock_id = $1 AND state = 'pending'")
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    if deleted.rows_affected() == 1 {
        return Ok(true);
    }
    Ok(tombstone(c, lock_id).await?.is_none())
}

/// Gives up the pairing of `lock_id`, if still pending and, when `created_before` is given,
/// offered before then (Unix ms). Returns whether this call gave it up. It races with
/// `keep_pairing` on the same row: exactly one of them wins.
pub async fn abandon_pairing(c: &mut Conn, lock_id: &str, created_before: Option<i64>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE lock_tombstones SET state = 'abandoned' \
         WHERE lock_id = $1 AND state = 'pending' AND created_at < $2",
    )
    .bind(lock_id.to_string())
    .bind(created_before.unwrap_or(i64::MAX))
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Reserves the next `Unpair` sequence number offset of a tombstoned lock.
pub async fn next_unpair_seq(c: &mut Conn, lock_id: &str) -> Result<Option<i64>> {
    let v: Option<i64> = sqlx::query_scalar(
        "UPDATE lock_tombstones SET unpair_seq = unpair_seq + 1 WHERE lock_id = $1 RETURNING unpair_seq",
    )
    .bind(lock_id.to_string())
    .fetch_optional(&mut *c)
    .await?;
    Ok(v)
}

/// Forgets tombstones written before `before` (Unix ms). Returns how many.
pub async fn purge_tombstones(c: &mut Conn, before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM lock_tombstones WHERE created_at < $1")
        .bind(before)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected())
}
