//! Guest-code issuers of Admin devices.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result, Revocation, map_err};

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
