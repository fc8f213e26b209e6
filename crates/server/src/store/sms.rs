//! The SMS outbox.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result};

#[derive(Debug, Clone)]
pub struct SmsRow {
    pub id: String,
    pub to_phone: String,
    pub body: String,
    pub purpose: String,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// An SMS for the outbox.
#[derive(Debug, Clone)]
pub struct NewSms<'a> {
    pub id: &'a str,
    pub to: &'a str,
    pub body: &'a str,
    pub purpose: &'a str,
    pub created_at: i64,
}

pub async fn enqueue_sms(c: &mut Conn, m: &NewSms<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sms_outbox (id, to_phone, body, purpose, created_at, attempts, \
         next_attempt_at, claimed_until, sent_at, last_error) \
         VALUES ($1, $2, $3, $4, $5, 0, $5, NULL, NULL, NULL)",
    )
    .bind(m.id.to_string())
    .bind(m.to.to_string())
    .bind(m.body.to_string())
    .bind(m.purpose.to_string())
    .bind(m.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

fn read_sms(r: &AnyRow) -> Result<SmsRow> {
    Ok(SmsRow {
        id: r.try_get("id")?,
        to_phone: r.try_get("to_phone")?,
        body: r.try_get("body")?,
        purpose: r.try_get("purpose")?,
        attempts: r.try_get("attempts")?,
        sent_at: r.try_get("sent_at")?,
        last_error: r.try_get("last_error")?,
    })
}

/// A worker's claim on due messages.
#[derive(Debug, Clone, Copy)]
pub struct SmsClaim {
    pub now: i64,
    /// How long the claimed messages are the worker's.
    pub lease_ms: i64,
    /// At most this many.
    pub limit: i64,
}

/// Claims up to `limit` due messages for `lease_ms`, so that no other worker (in this or
/// another server instance) sends them meanwhile.
pub async fn claim_sms(c: &mut Conn, claim: SmsClaim) -> Result<Vec<SmsRow>> {
    let SmsClaim { now, lease_ms, limit } = claim;
    let rows = sqlx::query(
        "UPDATE sms_outbox SET claimed_until = $1 WHERE id IN (\
           SELECT id FROM sms_outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 \
           AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY next_attempt_at LIMIT $3) \
         AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $2) \
         RETURNING id, to_phone, body, purpose, attempts, sent_at, last_error",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(read_sms).collect()
}

pub async fn sms_sent(c: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sms_outbox SET sent_at = $1, attempts = attempts + 1, claimed_until = NULL WHERE id = $2")
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn sms_failed(c: &mut Conn, id: &str, error: &str, next_attempt_at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sms_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
         claimed_until = NULL WHERE id = $3",
    )
    .bind(error.to_string())
    .bind(next_attempt_at)
    .bind(id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn sms_by_id(c: &mut Conn, id: &str) -> Result<Option<SmsRow>> {
    let row =
        sqlx::query("SELECT id, to_phone, body, purpose, attempts, sent_at, last_error FROM sms_outbox WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *c)
            .await?;
    row.as_ref().map(read_sms).transpose()
}

pub async fn next_sms_due(c: &mut Conn) -> Result<Option<i64>> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM sms_outbox WHERE sent_at IS NULL")
        .fetch_one(&mut *c)
        .await?;
    Ok(v)
}
