//! What follows a change, in the same transaction: entries in the lock's activity log and SMS
//! in the outbox.

use jiff::Timestamp;

use super::access::{self, Caller};
use super::types::PhoneNumber;
use super::{Domain, Result, ms};
use crate::store::{self, Conn, EventRow};

/// An activity-log entry about to be written.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub kind: &'static str,
    pub outcome: Option<&'static str>,
    pub method: Option<&'static str>,
    /// (kind, id, name) of the member or key the event is about.
    pub actor: Option<(&'static str, Option<String>, String)>,
    pub reason: Option<String>,
    /// (account id, name) of who made a change through the server.
    pub by: Option<(String, String)>,
    pub detail: String,
}

impl NewEvent {
    /// A change made by `caller` through the server.
    pub fn change(kind: &'static str, caller: &Caller, detail: impl Into<String>) -> NewEvent {
        NewEvent {
            kind,
            by: Some((caller.id().to_string(), caller.display_name())),
            detail: detail.into(),
            ..Default::default()
        }
    }

    /// Names the member the change is about.
    pub fn about_member(mut self, account_id: &str, name: &str, phone: &PhoneNumber) -> NewEvent {
        self.actor = Some((
            "member",
            Some(account_id.to_string()),
            access::display_name(name, phone),
        ));
        self
    }

    /// Names the guest key the change is about.
    pub fn about_key(mut self, key_id: &str, name: &str) -> NewEvent {
        self.actor = Some(("guest_key", Some(key_id.to_string()), name.to_string()));
        self
    }
}

/// Largest page of `GET /locks/{id}/events`.
pub const MAX_PAGE: i64 = 500;

impl Domain {
    /// Writes an activity-log entry inside the caller's transaction.
    pub async fn log(&self, c: &mut Conn, lock_id: &str, now: Timestamp, e: NewEvent) -> Result<()> {
        let row = EventRow {
            id: self.event_id(ms(now)),
            lock_id: lock_id.to_string(),
            seq: None,
            at: ms(now),
            kind: e.kind.to_string(),
            outcome: e.outcome.map(str::to_string),
            method: e.method.map(str::to_string),
            actor_kind: e.actor.as_ref().map(|a| a.0.to_string()),
            actor_id: e.actor.as_ref().and_then(|a| a.1.clone()),
            actor_name: e.actor.as_ref().map(|a| a.2.clone()),
            reason: e.reason,
            by_account: e.by.as_ref().map(|b| b.0.clone()),
            by_name: e.by.as_ref().map(|b| b.1.clone()),
            detail: e.detail,
        };
        store::insert_event(c, &row).await?;
        self.queue_event_webhooks(c, &row, false, now).await?;
        Ok(())
    }

    /// Queues an SMS inside the caller's transaction; the worker delivers it after commit.
    /// Returns the message id.
    pub async fn queue_sms(&self, c: &mut Conn, to: &str, body: &str, purpose: &str, now: Timestamp) -> Result<String> {
        let id = self.new_id("sms");
        let sms = store::NewSms {
            id: &id,
            to,
            body: &sms_safe(body),
            purpose,
            created_at: ms(now),
        };
        store::enqueue_sms(c, &sms).await?;
        Ok(id)
    }

    /// `GET /locks/{id}/events`: newest first, Admins only.
    pub async fn events(
        &self,
        caller: &Caller,
        lock_id: &str,
        limit: Option<i64>,
        before: Option<&str>,
    ) -> Result<Vec<EventRow>> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_PAGE);
        Ok(store::events(&mut c, lock_id, before, limit).await?)
    }
}

/// The activity log's filters as a page or a client gives them (`who`: a member's account id
/// or a guest key's id; `kind`: `opened`, `refused` or `changes`; `day`: a date at the lock).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub who: String,
    pub kind: String,
    pub day: String,
}

impl Domain {
    /// The activity log narrowed by `q`, newest first, Admins only. A day is the lock's local
    /// day (23 or 25 hours on a daylight-saving change).
    pub async fn events_filtered(
        &self,
        caller: &Caller,
        lock_id: &str,
        q: &EventQuery,
        limit: Option<i64>,
        before: Option<&str>,
    ) -> Result<Vec<EventRow>> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let mut f = store::EventFilter {
            who: q.who.trim().to_string(),
            ..Default::default()
        };
        f.kind = match q.kind.trim() {
            k @ ("" | "opened" | "refused" | "changes") => k.to_string(),
            _ => return Err(super::Error::invalid("kind", "use opened, refused or changes")),
        };
        let day = q.day.trim();
        if !day.is_empty() {
            let date = day
                .parse::<jiff::civil::Date>()
                .map_err(|_| super::Error::invalid("day", "use a date like 2027-01-31"))?;
            let zone = admin.lock().time_zone.zone();
            let start = |d: jiff::civil::Date| {
                d.to_zoned_datetime(zone.clone())
                    .map(|z| ms(z.timestamp()))
                    .map_err(|_| super::Error::invalid("day", "this day does not exist at the lock"))
            };
            f.from = start(date)?;
            f.until = match date.tomorrow() {
                Ok(next) => start(next)?,
                Err(_) => i64::MAX,
            };
        }
        let limit = limit.unwrap_or(50).clamp(1, MAX_PAGE);
        Ok(store::events_where(&mut c, lock_id, &f, before, limit).await?)
    }
}

/// SMS bodies carry names people typed: no control characters (which could forge extra
/// lines), and a bounded length.
pub fn sms_safe(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(1000)
        .collect()
}
