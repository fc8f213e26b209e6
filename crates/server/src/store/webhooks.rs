//! Webhooks and their outbox (`webhook_deliveries`), and the notification records.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Result, b};

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub lock_id: String,
    pub url: String,
    /// Comma-separated event types, or `*`.
    pub events: String,
    pub secret: String,
    pub created_by: String,
    pub created_at: i64,
}

impl WebhookRow {
    /// The event types, empty for "all".
    pub fn event_list(&self) -> Vec<String> {
        if self.events == "*" {
            Vec::new()
        } else {
            self.events
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }
    }

    /// Whether the webhook wants events of type `ty`.
    pub fn wants(&self, ty: &str) -> bool {
        self.events == "*" || self.events.split(',').any(|e| e == ty)
    }
}

const WEBHOOK_COLUMNS: &str = "id, lock_id, url, events, secret, created_by, created_at";

fn read_webhook(r: &AnyRow) -> Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        url: r.try_get("url")?,
        events: r.try_get("events")?,
        secret: r.try_get("secret")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert_webhook(c: &mut Conn, w: &WebhookRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, lock_id, url, events, secret, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(w.id.clone())
    .bind(w.lock_id.clone())
    .bind(w.url.clone())
    .bind(w.events.clone())
    .bind(w.secret.clone())
    .bind(w.created_by.clone())
    .bind(w.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A lock's webhooks, oldest first.
pub async fn webhooks_of_lock(c: &mut Conn, lock_id: &str) -> Result<Vec<WebhookRow>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE lock_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_webhook).collect()
}

pub async fn webhook(c: &mut Conn, lock_id: &str, id: &str) -> Result<Option<WebhookRow>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE lock_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_webhook).transpose()
}

pub async fn count_webhooks(c: &mut Conn, lock_id: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE lock_id = $1")
        .bind(lock_id.to_string())
        .fetch_one(&mut *c)
        .await?;
    Ok(n)
}

/// Deletes a webhook and its deliveries; false when there was none.
pub async fn delete_webhook(c: &mut Conn, lock_id: &str, id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND lock_id = $2")
        .bind(id.to_string())
        .bind(lock_id.to_string())
        .execute(&mut *c)
        .await?;
    let done = sqlx::query("DELETE FROM webhooks WHERE lock_id = $1 AND id = $2")
        .bind(lock_id.to_string())
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One row of the webhook outbox.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// The `webhook-id`.
    pub id: String,
    pub webhook_id: String,
    pub lock_id: String,
    pub event_id: Option<String>,
    pub type_: String,
    pub payload: String,
    pub created_at: i64,
    /// `retrying`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, lock_id, event_id, type, payload, created_at, status, attempts, \
     last_status_code, last_error, next_attempt_at";

fn read_delivery(r: &AnyRow) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        lock_id: r.try_get("lock_id")?,
        event_id: r.try_get("event_id")?,
        type_: r.try_get("type")?,
        payload: r.try_get("payload")?,
        created_at: r.try_get("created_at")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
    })
}

/// A delivery for the outbox, due at `created_at`.
pub async fn enqueue_delivery(c: &mut Conn, d: &DeliveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, lock_id, event_id, type, payload, created_at, \
         status, attempts, last_status_code, last_error, next_attempt_at, claimed_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'retrying', 0, NULL, NULL, $7, NULL)",
    )
    .bind(d.id.clone())
    .bind(d.webhook_id.clone())
    .bind(d.lock_id.clone())
    .bind(d.event_id.clone())
    .bind(d.type_.clone())
    .bind(d.payload.clone())
    .bind(d.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Claims up to `limit` due deliveries until `now + lease_ms`, so that no other worker (in this
/// or another instance) sends them meanwhile.
pub async fn claim_deliveries(c: &mut Conn, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id IN (\
           SELECT id FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $2 \
           AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY next_attempt_at LIMIT $3) \
         AND next_attempt_at IS NOT NULL AND (claimed_until IS NULL OR claimed_until <= $2) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_delivery).collect()
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub status: &'a str,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    /// `None` once settled (delivered or failed).
    pub next_attempt_at: Option<i64>,
}

pub async fn record_attempt(c: &mut Conn, id: &str, a: &Attempt<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status_code = $2, \
         last_error = $3, next_attempt_at = $4, claimed_until = NULL WHERE id = $5",
    )
    .bind(a.status.to_string())
    .bind(a.status_code)
    .bind(a.error.map(str::to_string))
    .bind(a.next_attempt_at)
    .bind(id.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A webhook's latest deliveries, newest first.
pub async fn deliveries(c: &mut Conn, webhook_id: &str, limit: i64) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(webhook_id.to_string())
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_delivery).collect()
}

pub async fn delivery(c: &mut Conn, id: &str) -> Result<Option<DeliveryRow>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_delivery).transpose()
}

/// When the next pending delivery is due (`None`: nothing pending).
pub async fn next_delivery_due(c: &mut Conn) -> Result<Option<i64>> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&mut *c)
            .await?;
    Ok(v)
}

// ------------------------------------------------------------------------- notifications

/// A member's notification choices on a lock (stored, or `None`: the defaults apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub guest_arrived: bool,
    pub lockout: bool,
    pub offline: bool,
    pub calendar_failing: bool,
}

fn read_prefs(r: &AnyRow) -> Result<NotificationPrefs> {
    let g: i64 = r.try_get("guest_arrived")?;
    let l: i64 = r.try_get("lockout")?;
    let o: i64 = r.try_get("offline")?;
    let cf: i64 = r.try_get("calendar_failing")?;
    Ok(NotificationPrefs {
        guest_arrived: g != 0,
        lockout: l != 0,
        offline: o != 0,
        calendar_failing: cf != 0,
    })
}

pub async fn notification_prefs(c: &mut Conn, lock_id: &str, account_id: &str) -> Result<Option<NotificationPrefs>> {
    let row = sqlx::query(
        "SELECT guest_arrived, lockout, offline, calendar_failing FROM notification_prefs \
         WHERE lock_id = $1 AND account_id = $2",
    )
    .bind(lock_id.to_string())
    .bind(account_id.to_string())
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(read_prefs).transpose()
}

pub async fn set_notification_prefs(c: &mut Conn, lock_id: &str, account_id: &str, p: NotificationPrefs) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_prefs (lock_id, account_id, guest_arrived, lockout, offline, calendar_failing) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lock_id, account_id) DO UPDATE SET \
         guest_arrived = excluded.guest_arrived, lockout = excluded.lockout, offline = excluded.offline, \
         calendar_failing = excluded.calendar_failing",
    )
    .bind(lock_id.to_string())
    .bind(account_id.to_string())
    .bind(b(p.guest_arrived))
    .bind(b(p.lockout))
    .bind(b(p.offline))
    .bind(b(p.calendar_failing))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Every member of a lock with their stored choices (`None`: defaults): (account id, phone,
/// access level text, choices).
pub async fn notification_audience(
    c: &mut Conn,
    lock_id: &str,
) -> Result<Vec<(String, String, String, Option<NotificationPrefs>)>> {
    let rows = sqlx::query(
        "SELECT m.account_id AS account_id, a.phone AS phone, m.access_level AS access_level, \
         p.guest_arrived AS guest_arrived, p.lockout AS lockout, p.offline AS offline, \
         p.calendar_failing AS calendar_failing \
         FROM members m JOIN accounts a ON a.id = m.account_id \
         LEFT JOIN notification_prefs p ON p.lock_id = m.lock_id AND p.account_id = m.account_id \
         WHERE m.lock_id = $1 ORDER BY m.account_id",
    )
    .bind(lock_id.to_string())
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let stored: Option<i64> = r.try_get("guest_arrived")?;
            let prefs = match stored {
                Some(_) => Some(read_prefs(r)?),
                None => None,
            };
            Ok((
                r.try_get("account_id")?,
                r.try_get("phone")?,
                r.try_get("access_level")?,
                prefs,
            ))
        })
        .collect()
}

/// Takes the one slot of `kind` on `lock_id` for the next `window_ms` when it is free (nothing
/// of that kind went out since `now - window_ms`, and, with `since`, nothing since that instant
/// either). True when this caller may send.
pub async fn take_notification_slot(
    c: &mut Conn,
    lock_id: &str,
    kind: &str,
    now: i64,
    window_ms: i64,
    since: Option<i64>,
) -> Result<bool> {
    let free_before = match since {
        Some(s) => (now - window_ms).min(s),
        None => now - window_ms,
    };
    let done = sqlx::query(
        "INSERT INTO notifications_sent (lock_id, kind, last_at) VALUES ($1, $2, $3) \
         ON CONFLICT (lock_id, kind) DO UPDATE SET last_at = excluded.last_at \
         WHERE notifications_sent.last_at <= $4",
    )
    .bind(lock_id.to_string())
    .bind(kind.to_string())
    .bind(now)
    .bind(free_before)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks offline since before `before` (id, name, last seen).
pub async fn locks_offline_since(c: &mut Conn, before: i64) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT l.id AS id, l.name AS name, k.last_seen_at AS last_seen_at \
         FROM locks l JOIN lock_link k ON k.lock_id = l.id \
         WHERE k.online = 0 AND k.last_seen_at IS NOT NULL AND k.last_seen_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM notifications_sent n \
           WHERE n.lock_id = l.id AND n.kind = 'offline' AND n.last_at >= k.last_seen_at) \
         ORDER BY l.id LIMIT 500",
    )
    .bind(before)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("last_seen_at")?)))
        .collect()
}

/// Members whose rights changed at a version in `(after, upto]` (account id, name, phone):
/// what a lock acknowledging `upto` after `after` has just received.
pub async fn members_changed_between(
    c: &mut Conn,
    lock_id: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT m.account_id AS account_id, a.name AS name, a.phone AS phone FROM members m \
         JOIN accounts a ON a.id = m.account_id \
         WHERE m.lock_id = $1 AND m.changed_version > $2 AND m.changed_version <= $3 ORDER BY m.account_id",
    )
    .bind(lock_id.to_string())
    .bind(after)
    .bind(upto)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("name")?, r.try_get("phone")?)))
        .collect()
}
