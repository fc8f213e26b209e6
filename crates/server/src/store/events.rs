//! The activity log.

use sqlx::Row;

use super::{Conn, Result};

#[derive(Debug, Clone, Default)]
pub struct EventRow {
    pub id: String,
    pub lock_id: String,
    pub seq: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub outcome: Option<String>,
    pub method: Option<String>,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub reason: Option<String>,
    pub by_account: Option<String>,
    pub by_name: Option<String>,
    pub detail: String,
}

/// Inserts an event; an event from the lock whose sequence number is already stored is
/// skipped (returns false), which makes uploads idempotent.
pub async fn insert_event(c: &mut Conn, e: &EventRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO events (id, lock_id, seq, at, kind, outcome, method, actor_kind, actor_id, \
         actor_name, reason, by_account, by_name, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT DO NOTHING",
    )
    .bind(e.id.clone())
    .bind(e.lock_id.clone())
    .bind(e.seq)
    .bind(e.at)
    .bind(e.kind.clone())
    .bind(e.outcome.clone())
    .bind(e.method.clone())
    .bind(e.actor_kind.clone())
    .bind(e.actor_id.clone())
    .bind(e.actor_name.clone())
    .bind(e.reason.clone())
    .bind(e.by_account.clone())
    .bind(e.by_name.clone())
    .bind(e.detail.clone())
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Newest first, strictly before the cursor `before` (an event id) when given.
pub async fn events(c: &mut Conn, lock_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<EventRow>> {
    events_where(c, lock_id, &EventFilter::default(), before, limit).await
}

/// What the activity log is narrowed to (`events_where`); empty strings match everything.
#[derive(Debug, Clone)]
pub struct EventFilter {
    /// A member's account id (entries about them and changes they made) or a guest key's id.
    pub who: String,
    /// `opened`, `refused` (refused entries and keypad lockouts) or `changes` (made through
    /// the server).
    pub kind: String,
    /// `[from, until)` in milliseconds.
    pub from: i64,
    pub until: i64,
}

impl Default for EventFilter {
    fn default() -> EventFilter {
        EventFilter {
            who: String::new(),
            kind: String::new(),
            from: i64::MIN,
            until: i64::MAX,
        }
    }
}

/// Like `events`, narrowed by `f` (one statement, every narrowing a parameter).
pub async fn events_where(
    c: &mut Conn,
    lock_id: &str,
    f: &EventFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, lock_id, seq, at, kind, outcome, method, actor_kind, actor_id, actor_name, \
         reason, by_account, by_name, detail FROM events \
         WHERE lock_id = $1 AND ($2 = '' OR id < $2) \
         AND ($3 = '' OR actor_id = $3 OR by_account = $3) \
         AND ($4 = '' \
              OR ($4 = 'opened' AND kind = 'access' AND outcome = 'granted') \
              OR ($4 = 'refused' AND ((kind = 'access' AND outcome = 'denied') OR kind = 'lockout')) \
              OR ($4 = 'changes' AND by_account IS NOT NULL)) \
         AND at >= $5 AND at < $6 \
         ORDER BY id DESC LIMIT $7",
    )
    .bind(lock_id.to_string())
    .bind(before.unwrap_or("").to_string())
    .bind(f.who.clone())
    .bind(f.kind.clone())
    .bind(f.from)
    .bind(f.until)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                id: r.try_get("id")?,
                lock_id: r.try_get("lock_id")?,
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                outcome: r.try_get("outcome")?,
                method: r.try_get("method")?,
                actor_kind: r.try_get("actor_kind")?,
                actor_id: r.try_get("actor_id")?,
                actor_name: r.try_get("actor_name")?,
                reason: r.try_get("reason")?,
                by_account: r.try_get("by_account")?,
                by_name: r.try_get("by_name")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}
