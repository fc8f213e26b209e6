//! Accounts, sign-in codes, sessions and rate limits.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result, map_err};
use crate::domain::types::PhoneNumber;

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub phone: PhoneNumber,
    pub name: String,
    pub created_at: i64,
    /// The language the account reads the web app in (`en`, `ko`); `None`: the browser's.
    pub locale: Option<String>,
}

fn read_account(r: &AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        phone: PhoneNumber::from_stored(r.try_get("phone")?),
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        locale: r.try_get("locale")?,
    })
}

pub async fn account_by_phone(c: &mut Conn, phone: &str) -> Result<Option<AccountRow>> {
    let row = sqlx::query("SELECT id, phone, name, created_at, locale FROM accounts WHERE phone = $1")
        .bind(phone.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_account).transpose()
}

pub async fn account_by_id(c: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
    let row = sqlx::query("SELECT id, phone, name, created_at, locale FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_account).transpose()
}

pub async fn insert_account(c: &mut Conn, a: &AccountRow) -> Result<()> {
    sqlx::query("INSERT INTO accounts (id, phone, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(a.id.clone())
        .bind(a.phone.as_str().to_string())
        .bind(a.name.clone())
        .bind(a.created_at)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn set_account_locale(c: &mut Conn, id: &str, locale: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE accounts SET locale = $1 WHERE id = $2")
        .bind(locale.map(str::to_string))
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
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
        "SELECT a.id, a.phone, a.name, a.created_at, a.locale FROM sessions s \
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
