//! Idempotency keys: what a creating request made, so that the same request again answers with
//! it instead of making a second one (`docs/design/web-app.md`, "Nothing made twice").

use sqlx::Row;

use super::{Conn, Result, map_err};

/// What one idempotency key was used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    pub account_id: String,
    pub key: String,
    /// What was made where: `guest_key:LOCK_ID`, `invitation:LOCK_ID`.
    pub scope: String,
    /// A digest of what was asked.
    pub fingerprint: String,
    pub result_id: String,
    pub created_at: i64,
}

pub async fn idempotency_key(c: &mut Conn, account_id: &str, key: &str) -> Result<Option<IdempotencyRow>> {
    let row = sqlx::query(
        "SELECT account_id, idem_key, scope, fingerprint, result_id, created_at FROM idempotency_keys \
         WHERE account_id = $1 AND idem_key = $2",
    )
    .bind(account_id.to_string())
    .bind(key.to_string())
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| {
        Ok(IdempotencyRow {
            account_id: r.try_get("account_id")?,
            key: r.try_get("idem_key")?,
            scope: r.try_get("scope")?,
            fingerprint: r.try_get("fingerprint")?,
            result_id: r.try_get("result_id")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

pub async fn insert_idempotency_key(c: &mut Conn, k: &IdempotencyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (account_id, idem_key, scope, fingerprint, result_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(k.account_id.clone())
    .bind(k.key.clone())
    .bind(k.scope.clone())
    .bind(k.fingerprint.clone())
    .bind(k.result_id.clone())
    .bind(k.created_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Forgets keys older than `before` (milliseconds): a retry comes within minutes, not days.
pub async fn prune_idempotency_keys(c: &mut Conn, before: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected())
}
