//! Notifications for people (spec/api.md, second round): "your guest has arrived" (the first
//! use of a guest key), a keypad lockout, a lock offline for more than 10 minutes, a calendar
//! feed failing. Each member chooses for themself per lock; messages go out by SMS through the
//! outbox, in the transaction of what caused them, at most one a kind per lock per 10 minutes
//! (one conditional upsert decides, so several instances agree).

use jiff::Timestamp;

use super::access::{self, Caller};
use super::types::AccessLevel;
use super::{Domain, Result, ms, ts};
use crate::store::{self, Conn, EventRow, LockRow, NotificationPrefs};

/// At most one notification a kind per lock per this long.
pub const RATE_WINDOW_MS: i64 = 10 * 60 * 1000;

/// A lock offline for longer than this is reported.
pub const OFFLINE_AFTER_MS: i64 = 10 * 60 * 1000;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GuestArrived,
    Lockout,
    Offline,
    CalendarFailing,
}

impl Kind {
    /// The name kept in `notifications_sent`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::GuestArrived => "guest_arrived",
            Kind::Lockout => "lockout",
            Kind::Offline => "offline",
            Kind::CalendarFailing => "calendar_failing",
        }
    }

    fn chosen(self, p: &NotificationPrefs) -> bool {
        match self {
            Kind::GuestArrived => p.guest_arrived,
            Kind::Lockout => p.lockout,
            Kind::Offline => p.offline,
            Kind::CalendarFailing => p.calendar_failing,
        }
    }
}

/// A member's choices when they made none: an Admin hears of guests arriving, lockouts and
/// failing calendars; everyone else of nothing.
pub fn defaults(level: AccessLevel) -> NotificationPrefs {
    let admin = level == AccessLevel::Admin;
    NotificationPrefs {
        guest_arrived: admin,
        lockout: admin,
        offline: false,
        calendar_failing: admin,
    }
}

/// A change of one's choices; what is left out stays as it was.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrefsPatch {
    pub guest_arrived: Option<bool>,
    pub lockout: Option<bool>,
    pub offline: Option<bool>,
    pub calendar_failing: Option<bool>,
}

/// `HH:MM` at the lock.
fn local_time(lock: &LockRow, at_ms: i64) -> String {
    ts(at_ms)
        .to_zoned_datetime(lock.time_zone.zone())
        .strftime("%H:%M")
        .to_string()
}

/// The texts (spec: they name the lock and the person or key).
pub fn guest_arrived_text(lock: &LockRow, key_name: &str, at_ms: i64) -> String {
    format!(
        "Latchkey: your guest \"{key_name}\" has arrived at {} (first use of their guest key at {}).",
        lock.name,
        local_time(lock, at_ms)
    )
}

pub fn lockout_text(lock: &LockRow, after: Option<&str>, at_ms: i64) -> String {
    let who = match after {
        Some(name) => format!(" (last tried: {name})"),
        None => String::new(),
    };
    format!(
        "Latchkey: the keypad of {} locked itself at {} after too many wrong codes{who}.",
        lock.name,
        local_time(lock, at_ms)
    )
}

pub fn offline_text(lock: &LockRow, since_ms: i64) -> String {
    format!(
        "Latchkey: {} has been offline since {} (more than 10 minutes). Keypad codes still work; \
         changes reach it when it is back.",
        lock.name,
        local_time(lock, since_ms)
    )
}

pub fn calendar_failing_text(lock: &LockRow, calendar: &str, error: &str) -> String {
    let error: String = error.chars().take(160).collect();
    format!(
        "Latchkey: the calendar \"{calendar}\" of {} cannot be read: {error}. Guest keys from it are not updated.",
        lock.name
    )
}

impl Domain {
    /// Queues `text` by SMS, in the caller's transaction, to every member of `lock_id` who
    /// chose `kind`, unless a notification of that kind went out for the lock in the last 10
    /// minutes (or, with `since`, after that instant). Returns how many messages it queued.
    /// The calendars call this with `Kind::CalendarFailing` (`notify_calendar_failing`).
    pub async fn notify(
        &self,
        c: &mut Conn,
        lock_id: &str,
        kind: Kind,
        text: &str,
        since: Option<i64>,
        now: Timestamp,
    ) -> Result<usize> {
        let audience = store::notification_audience(c, lock_id).await?;
        let mut to = Vec::new();
        for (_, phone, level, prefs) in audience {
            let prefs = match prefs {
                Some(p) => p,
                None => defaults(AccessLevel::try_from(level.as_str()).unwrap_or(AccessLevel::Family)),
            };
            if kind.chosen(&prefs) {
                to.push(phone);
            }
        }
        if to.is_empty() {
            return Ok(0);
        }
        if !store::take_notification_slot(c, lock_id, kind.name(), ms(now), RATE_WINDOW_MS, since).await? {
            return Ok(0);
        }
        for phone in &to {
            self.queue_sms(c, phone, text, &format!("notify_{}", kind.name()), now)
                .await?;
        }
        Ok(to.len())
    }

    /// A calendar feed of `lock_id` failed: tells those who chose it (rate-limited like the
    /// rest), in the caller's transaction. The caller wakes the SMS worker after commit
    /// (`self.sms_wake.notify_one()`).
    pub async fn notify_calendar_failing(
        &self,
        c: &mut Conn,
        lock_id: &str,
        calendar: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<usize> {
        let Some(lock) = store::lock_by_id(c, lock_id).await? else {
            return Ok(0);
        };
        let text = calendar_failing_text(&lock, calendar, error);
        self.notify(c, lock_id, Kind::CalendarFailing, &text, None, now).await
    }

    /// The notifications an activity-log entry from the lock causes (a guest's first entry, a
    /// lockout), in its transaction.
    pub async fn notify_event(&self, c: &mut Conn, e: &EventRow, first_use: bool, now: Timestamp) -> Result<usize> {
        let kind = match e.kind.as_str() {
            "access" if first_use => Kind::GuestArrived,
            "lockout" => Kind::Lockout,
            _ => return Ok(0),
        };
        let Some(lock) = store::lock_by_id(c, &e.lock_id).await? else {
            return Ok(0);
        };
        let text = match kind {
            Kind::GuestArrived => guest_arrived_text(&lock, e.actor_name.as_deref().unwrap_or("guest"), e.at),
            _ => lockout_text(&lock, e.actor_name.as_deref(), e.at),
        };
        self.notify(c, &e.lock_id, kind, &text, None, now).await
    }

    /// Tells of locks offline for more than 10 minutes (once per outage). The webhook worker
    /// runs it now and then. Returns how many messages it queued.
    pub async fn notify_offline_locks(&self, now: Timestamp) -> Result<usize> {
        let mut c = self.store.read().await?;
        let locks = store::locks_offline_since(&mut c, ms(now) - OFFLINE_AFTER_MS).await?;
        drop(c);
        let mut n = 0;
        for (lock_id, _, since) in locks {
            let mut tx = self.store.begin().await?;
            let Some(lock) = store::lock_by_id(&mut tx, &lock_id).await? else {
                continue;
            };
            if lock.online {
                continue;
            }
            let text = offline_text(&lock, since);
            n += self
                .notify(&mut tx, &lock_id, Kind::Offline, &text, Some(since), now)
                .await?;
            // Nobody chose it: mark this outage as seen anyway, so it is not looked at again.
            let _ =
                store::take_notification_slot(&mut tx, &lock_id, Kind::Offline.name(), ms(now), 0, Some(since)).await?;
            tx.commit().await?;
        }
        if n > 0 {
            self.sms_wake.notify_one();
        }
        Ok(n)
    }

    /// `GET /locks/{id}/notifications`: the caller's own choices on the lock.
    pub async fn notification_prefs(&self, caller: &Caller, lock_id: &str) -> Result<NotificationPrefs> {
        let mut c = self.store.read().await?;
        let me = access::member_of(&mut c, caller, lock_id).await?;
        Ok(store::notification_prefs(&mut c, lock_id, caller.id())
            .await?
            .unwrap_or_else(|| defaults(me.level())))
    }

    /// `PUT /locks/{id}/notifications`: changes the caller's own choices.
    pub async fn set_notification_prefs(
        &self,
        caller: &Caller,
        lock_id: &str,
        patch: PrefsPatch,
    ) -> Result<NotificationPrefs> {
        let mut tx = self.store.begin().await?;
        let me = access::member_of(&mut tx, caller, lock_id).await?;
        let cur = store::notification_prefs(&mut tx, lock_id, caller.id())
            .await?
            .unwrap_or_else(|| defaults(me.level()));
        let new = NotificationPrefs {
            guest_arrived: patch.guest_arrived.unwrap_or(cur.guest_arrived),
            lockout: patch.lockout.unwrap_or(cur.lockout),
            offline: patch.offline.unwrap_or(cur.offline),
            calendar_failing: patch.calendar_failing.unwrap_or(cur.calendar_failing),
        };
        store::set_notification_prefs(&mut tx, lock_id, caller.id(), new).await?;
        tx.commit().await?;
        Ok(new)
    }
}
