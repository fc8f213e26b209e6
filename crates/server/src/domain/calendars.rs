//! Rental calendars (issue 17): a lock's iCalendar feeds, read through `Outbound`, whose
//! reservations become guest keys.
//!
//! The rules of reading, planning and reconciling are in `latchkey_calendar`
//! (docs/design/rental-calendars.md); this module fetches, applies a `Reconciliation` in one
//! transaction of the lock, and records what happened (`last_error`, the activity log).
//!
//! **The code kind.** Calendar keys get **held codes** (`CodeKind::Synced`): the code carries
//! no window, the lock holds the key's record with the window, so a moved or extended stay
//! keeps its code and the lock is simply told the new window. A lock has 369 held serials per
//! server epoch; when they are used up, a stay of at most 7 days gets a window code instead
//! (`CodeKind::Offline`), and moving it means a new code, texted to the guest, with the reason
//! in the activity log. Codes are never shared: every code the lock ever had is excluded.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use latchkey_calendar::{
    self as cal, CancelReason, CodeFate, CodeKind, ExistingKey, PlannedKey, Reconciliation, RevokedBy, Safety,
    StayTimes,
};
use latchkey_guest_code::{self as gc, Validity};

use super::access::{self, Caller};
use super::change::Need;
use super::events::NewEvent;
use super::guest_keys::{instructions, local_time, mint_text};
use super::types::{Name, PhoneNumber, TimeZoneName};
use super::{Domain, Error, FieldErrors, Result, ms};
use crate::outbound::{Fetched, Validators};
use crate::store::{self, CalendarKeyRow, CalendarRow, Conn, GuestKeyRow, LockRow, Revocation, SyncOutcome};

/// The background reader's default interval.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 900;
/// Calendars one lock may have.
pub const MAX_CALENDARS_PER_LOCK: usize = 20;

/// `POST /locks/{id}/calendars`, unparsed.
#[derive(Debug, Clone)]
pub struct CalendarRequest {
    pub url: String,
    pub name: Option<String>,
    pub check_in: String,
    pub check_out: String,
}

/// What one read of a feed did. `error` is set (and nothing changed) when the feed could not
/// be fetched, did not parse, or looked broken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub changed: usize,
    pub cancelled: usize,
    pub unchanged: usize,
    pub error: Option<String>,
    /// Reservations that got no key (with the reason), for the activity log and the page.
    pub skipped: Vec<String>,
    /// Whether anything was written besides the calendar's own read time.
    pub wrote: bool,
}

/// A calendar and the keys it made.
#[derive(Debug, Clone)]
pub struct CalendarView {
    pub calendar: CalendarRow,
    pub keys: Vec<CalendarKeyRow>,
}

/// Who asked for a read: an Admin (`POST .../sync`, a new calendar) or the background reader.
#[derive(Clone, Copy)]
enum By<'a> {
    Admin(&'a Caller),
    Reader,
}

impl By<'_> {
    fn event(&self, kind: &'static str, detail: String) -> NewEvent {
        match self {
            By::Admin(c) => NewEvent::change(kind, c, detail),
            By::Reader => NewEvent {
                kind,
                detail,
                ..Default::default()
            },
        }
    }
}

impl Domain {
    /// `POST /locks/{id}/calendars`: Admins only. The feed is read at once; a read that fails
    /// leaves the calendar with `last_error` (the host fixes the URL or waits).
    pub async fn add_calendar(
        &self,
        caller: &Caller,
        lock_id: &str,
        req: &CalendarRequest,
        now: Timestamp,
    ) -> Result<(CalendarRow, SyncReport)> {
        let interval_s = self.settings.calendar_interval_seconds;
        let mut errors = FieldErrors::default();
        let url = match self.outbound.check_url(&req.url) {
            Ok(u) if req.url.len() <= 2000 => Some(u),
            Ok(_) => {
                errors.add("url", "must be at most 2000 characters");
                None
            }
            Err(e) => {
                errors.add("url", e.to_string());
                None
            }
        };
        let times = match StayTimes::parse(&req.check_in, &req.check_out) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.add(e.field, e.to_string());
                None
            }
        };
        let name = match req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => errors.field("name", Name::parse(n)).map(|n| n.as_str().to_string()),
            None => url
                .as_ref()
                .map(|u| u.host_str().unwrap_or("calendar").chars().take(Name::MAX).collect()),
        };
        errors.check()?;
        let (Some(url), Some(times), Some(name)) = (url, times, name) else {
            return Err(Error::Internal("validated fields missing".into()));
        };

        let mut tx = self.store.begin().await?;
        access::admin_of(&mut tx, caller, lock_id).await?;
        let have = store::calendars(&mut tx, lock_id).await?;
        if have.len() >= MAX_CALENDARS_PER_LOCK {
            return Err(Error::Conflict(format!(
                "a lock has at most {MAX_CALENDARS_PER_LOCK} calendars; delete one first"
            )));
        }
        // The same feed twice would give each reservation two keys (and a form sent twice,
        // two calendars).
        if let Some(same) = have.iter().find(|c| c.url == url.as_str()) {
            return Err(Error::Conflict(format!(
                "this lock already reads this calendar (\"{}\")",
                same.name
            )));
        }
        let row = CalendarRow {
            id: self.new_id("cal"),
            lock_id: lock_id.to_string(),
            url: url.to_string(),
            name,
            check_in: times.check_in.strftime("%H:%M").to_string(),
            check_out: times.check_out.strftime("%H:%M").to_string(),
            created_by: caller.id().to_string(),
            created_at: ms(now),
            etag: None,
            last_modified: None,
            last_synced_at: None,
            last_error: None,
            last_error_at: None,
            next_sync_at: ms(now) + interval_ms(interval_s),
        };
        store::insert_calendar(&mut tx, &row).await?;
        let detail = format!(
            "calendar \"{}\" added (check-in {}, check-out {})",
            row.name, row.check_in, row.check_out
        );
        self.log(
            &mut tx,
            lock_id,
            now,
            NewEvent::change("calendar_added", caller, detail),
        )
        .await?;
        tx.commit().await?;

        let report = self.read_calendar(&row, By::Admin(caller), now, interval_s).await?;
        let mut c = self.store.read().await?;
        let row = store::calendar(&mut c, lock_id, &row.id)
            .await?
            .ok_or(Error::NotFound("calendar"))?;
        Ok((row, report))
    }

    /// `GET /locks/{id}/calendars`: Admins only.
    pub async fn calendars(&self, caller: &Caller, lock_id: &str) -> Result<(Vec<CalendarView>, LockRow)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let mut out = Vec::new();
        for calendar in store::calendars(&mut c, lock_id).await? {
            let keys = store::calendar_keys(&mut c, &calendar.id).await?;
            out.push(CalendarView { calendar, keys });
        }
        Ok((out, admin.lock().clone()))
    }

    /// `GET /locks/{id}/calendars/{cid}`: Admins only.
    pub async fn calendar(&self, caller: &Caller, lock_id: &str, id: &str) -> Result<(CalendarView, LockRow)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let calendar = store::calendar(&mut c, lock_id, id)
            .await?
            .ok_or(Error::NotFound("calendar"))?;
        let keys = store::calendar_keys(&mut c, &calendar.id).await?;
        Ok((CalendarView { calendar, keys }, admin.lock().clone()))
    }

    /// The calendar reservation each calendar-made key of the lock came from (Admins).
    pub async fn key_sources(
        &self,
        caller: &Caller,
        lock_id: &str,
    ) -> Result<HashMap<String, latchkey_client::model::KeySource>> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await?;
        Ok(store::key_sources(&mut c, lock_id)
            .await?
            .into_iter()
            .map(|(key_id, calendar_id, uid)| (key_id, latchkey_client::model::KeySource { calendar_id, uid }))
            .collect())
    }

    /// `DELETE /locks/{id}/calendars/{cid}`: Admins only; the calendar's keys that have not
    /// ended are revoked (past ones stay in the list as they were).
    pub async fn delete_calendar(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<usize> {
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let revocation = change.revocation()?;
        let calendar = store::calendar(change.conn(), lock_id, id)
            .await?
            .ok_or(Error::NotFound("calendar"))?;
        let keys = store::calendar_keys(change.conn(), id).await?;
        let mut revoked = 0;
        for k in keys
            .iter()
            .filter(|k| k.key.revoked_at.is_none() && k.key.ends_at > ms(now))
        {
            // Like a person's revocation: a revoked code the lock could not deny would still
            // open, so a full deny list refuses the deletion (409) rather than half doing it.
            if k.key.code_ends_at > ms(now) {
                super::capacity::check_room_for_deny_entry(change.conn(), lock_id, now).await?;
            }
            if store::revoke_guest_key(change.conn(), lock_id, &k.key.id, revocation).await? {
                store::mark_revoked_by_calendar(change.conn(), &k.key.id).await?;
                revoked += 1;
                let event = change
                    .event(
                        "guest_key_revoked",
                        format!(
                            "revoked guest key \"{}\": its calendar \"{}\" was deleted",
                            k.key.name, calendar.name
                        ),
                    )
                    .about_key(&k.key.id, &k.key.name);
                change.log(event).await?;
            }
        }
        store::delete_calendar(change.conn(), lock_id, id).await?;
        let event = change.event(
            "calendar_deleted",
            format!(
                "calendar \"{}\" deleted; {revoked} upcoming guest key(s) revoked",
                calendar.name
            ),
        );
        change.log(event).await?;
        change.commit().await?;
        Ok(revoked)
    }

    /// `POST /locks/{id}/calendars/{cid}/sync`: Admins only; reads the feed now.
    pub async fn sync_calendar(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<SyncReport> {
        let interval_s = self.settings.calendar_interval_seconds;
        let calendar = {
            let mut c = self.store.read().await?;
            access::admin_of(&mut c, caller, lock_id).await?;
            store::calendar(&mut c, lock_id, id)
                .await?
                .ok_or(Error::NotFound("calendar"))?
        };
        self.read_calendar(&calendar, By::Admin(caller), now, interval_s).await
    }

    /// The background reader's turn: reads up to `limit` calendars whose next read is due.
    /// Call it on one instance at a time (see `take_reader_lease`). Returns how many were read.
    pub async fn read_due_calendars(&self, now: Timestamp, limit: i64) -> Result<usize> {
        let interval_s = self.settings.calendar_interval_seconds;
        let due = {
            let mut c = self.store.read().await?;
            store::due_calendars(&mut c, ms(now), limit).await?
        };
        for calendar in &due {
            if let Err(e) = self.read_calendar(calendar, By::Reader, now, interval_s).await {
                tracing::warn!(calendar = %calendar.id, error = %e, "calendar read failed");
            }
        }
        Ok(due.len())
    }

    /// Takes or renews the background reader's lease for `holder` (one instance reads feeds
    /// at a time; another takes over when the lease runs out).
    pub async fn take_reader_lease(&self, holder: &str, now: Timestamp, for_ms: i64) -> Result<bool> {
        let mut c = self.store.write().await?;
        Ok(store::take_lease(&mut c, "calendar-reader", holder, ms(now), ms(now) + for_ms).await?)
    }

    /// Reads one feed and applies it. Fetch, parse and plan happen outside any transaction;
    /// when the plan changes nothing only the calendar's read time is written.
    async fn read_calendar(
        &self,
        calendar: &CalendarRow,
        by: By<'_>,
        now: Timestamp,
        interval_s: u64,
    ) -> Result<SyncReport> {
        let next = ms(now) + interval_ms(interval_s);
        let validators = Validators {
            etag: calendar.etag.clone(),
            last_modified: calendar.last_modified.clone(),
        };
        let (body, validators) = match self.outbound.fetch(&calendar.url, &validators).await {
            Ok(Fetched::NotModified) => {
                let mut c = self.store.write().await?;
                store::record_sync(&mut c, &calendar.id, SyncOutcome::NotModified { at: ms(now) }, next).await?;
                let live = store::calendar_keys(&mut c, &calendar.id)
                    .await?
                    .iter()
                    .filter(|k| k.key.revoked_at.is_none() && k.key.ends_at > ms(now))
                    .count();
                return Ok(SyncReport {
                    unchanged: live,
                    ..Default::default()
                });
            }
            Ok(Fetched::Body { body, validators, .. }) => (body, validators),
            Err(e) => return self.failed(calendar, e.to_string(), now, next).await,
        };
        let feed = match cal::parse_feed_bytes(&body) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .failed(calendar, format!("the feed is not a calendar: {e}"), now, next)
                    .await;
            }
        };
        let Ok(times) = StayTimes::parse(&calendar.check_in, &calendar.check_out) else {
            return Err(Error::Internal(format!(
                "calendar {} has unreadable check-in/check-out times",
                calendar.id
            )));
        };

        let (lock, existing) = {
            let mut c = self.store.read().await?;
            let lock = store::lock_by_id(&mut c, &calendar.lock_id)
                .await?
                .ok_or(Error::NotFound("lock"))?;
            (lock, store::calendar_keys(&mut c, &calendar.id).await?)
        };
        let plan = cal::plan(&feed, times, &lock.time_zone.zone(), now);
        let skipped: Vec<String> = plan.skipped.iter().map(|s| s.message.clone()).collect();
        let todo = match cal::reconcile(&existing_keys(&existing), &plan, now, Safety::default()) {
            Ok(t) => t,
            Err(suspicious) => return self.failed(calendar, suspicious.to_string(), now, next).await,
        };
        let outcome = SyncOutcome::Read {
            at: ms(now),
            etag: validators.etag.as_deref(),
            last_modified: validators.last_modified.as_deref(),
        };
        if is_nothing(&todo, &existing) {
            let mut c = self.store.write().await?;
            store::record_sync(&mut c, &calendar.id, outcome, next).await?;
            return Ok(SyncReport {
                unchanged: todo.unchanged.len(),
                skipped,
                ..Default::default()
            });
        }

        // Something to do: the lock's change, its version bumped first (which serialises it
        // with every other change of this lock), then the keys read again and reconciled
        // again inside the transaction, so that two reads at once cannot both add a key.
        let mut tx = self.store.begin().await?;
        let version = store::bump_version(&mut tx, &calendar.lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        if store::calendar(&mut tx, &calendar.lock_id, &calendar.id)
            .await?
            .is_none()
        {
            return Err(Error::NotFound("calendar"));
        }
        let lock = store::lock_by_id(&mut tx, &calendar.lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        let existing = store::calendar_keys(&mut tx, &calendar.id).await?;
        let todo = match cal::reconcile(&existing_keys(&existing), &plan, now, Safety::default()) {
            Ok(t) => t,
            Err(suspicious) => {
                drop(tx);
                return self.failed(calendar, suspicious.to_string(), now, next).await;
            }
        };
        let mut apply = Apply {
            domain: self,
            tx: &mut tx,
            lock: &lock,
            calendar,
            by,
            now,
            version,
            codes: None,
            next_serial: 0,
            sms: false,
        };
        let mut report = apply.run(&todo, &existing).await?;
        let sms = apply.sms;
        store::record_sync(&mut tx, &calendar.id, outcome, next).await?;
        tx.commit().await?;
        self.gateway.lock_changed(&calendar.lock_id);
        if sms {
            self.sms_wake.notify_one();
        }
        // The plan's skipped reservations first, then what applying could not do.
        let mut all = skipped;
        all.append(&mut report.skipped);
        report.skipped = all;
        report.wrote = true;
        Ok(report)
    }

    /// Records a read that changed nothing because of `error`. A calendar that starts failing
    /// gets one activity-log entry (not one every 15 minutes).
    async fn failed(&self, calendar: &CalendarRow, error: String, now: Timestamp, next: i64) -> Result<SyncReport> {
        let error: String = error.chars().take(1000).collect();
        let mut tx = self.store.begin().await?;
        store::record_sync(
            &mut tx,
            &calendar.id,
            SyncOutcome::Failed {
                at: ms(now),
                error: &error,
            },
            next,
        )
        .await?;
        let mut queued = 0;
        if calendar.last_error.as_deref() != Some(error.as_str()) {
            let event = NewEvent {
                kind: "calendar_failing",
                reason: Some(error.clone()),
                detail: format!("calendar \"{}\" could not be read; nothing was changed", calendar.name),
                ..Default::default()
            };
            self.log(&mut tx, &calendar.lock_id, now, event).await?;
            // The members who asked to be told (Admins by default), at most once per lock per
            // 10 minutes (`notifications.rs`).
            queued = self
                .notify_calendar_failing(&mut tx, &calendar.lock_id, &calendar.name, &error, now)
                .await?;
        }
        tx.commit().await?;
        if queued > 0 {
            self.sms_wake.notify_one();
        }
        Ok(SyncReport {
            error: Some(error),
            ..Default::default()
        })
    }
}

fn interval_ms(interval_s: u64) -> i64 {
    i64::try_from(interval_s.max(1))
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000)
}

/// What reconciling needs of the keys a calendar made: the newest key per UID.
fn existing_keys(rows: &[CalendarKeyRow]) -> Vec<ExistingKey> {
    let mut newest: HashMap<&str, &CalendarKeyRow> = HashMap::new();
    for r in rows {
        // Rows come oldest first: a later row for the same UID replaces the earlier one.
        newest.insert(r.uid.as_str(), r);
    }
    newest
        .into_values()
        .map(|r| ExistingKey {
            uid: r.uid.clone(),
            window: cal::Window {
                start: super::ts(r.key.starts_at),
                end: super::ts(r.key.ends_at),
            },
            revoked: match (r.key.revoked_at, r.revoked_by_calendar) {
                (None, _) => None,
                (Some(_), true) => Some(RevokedBy::Calendar),
                (Some(_), false) => Some(RevokedBy::Person),
            },
            code: if r.code_kind == "offline" {
                CodeKind::Offline
            } else {
                CodeKind::Synced
            },
        })
        .collect()
}

/// Whether a reconciliation writes nothing: no key added, moved or revoked, and no phone
/// number newly found for a key that has none.
fn is_nothing(todo: &Reconciliation, existing: &[CalendarKeyRow]) -> bool {
    todo.added.is_empty()
        && todo.changed.is_empty()
        && todo.cancelled.is_empty()
        && !todo.unchanged.iter().any(|p| needs_phone(p, existing))
}

fn live_key<'a>(existing: &'a [CalendarKeyRow], uid: &str) -> Option<&'a CalendarKeyRow> {
    existing
        .iter()
        .rev()
        .find(|k| k.uid == uid && k.key.revoked_at.is_none())
}

/// The first phone candidate that is a real number.
fn phone_of(p: &PlannedKey) -> Option<PhoneNumber> {
    p.phones.iter().find_map(|raw| PhoneNumber::parse(raw).ok())
}

fn needs_phone(p: &PlannedKey, existing: &[CalendarKeyRow]) -> bool {
    live_key(existing, &p.uid).is_some_and(|k| k.key.phone.is_none()) && phone_of(p).is_some()
}

/// A key's name from a reservation's label: at most `Name::MAX` characters, no control or
/// direction characters.
fn key_name(label: &str, p: &PlannedKey) -> String {
    let clean: String = label
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .take(Name::MAX)
        .collect();
    match Name::parse(&clean) {
        Ok(n) => n.as_str().to_string(),
        Err(_) => format!("Reservation {}", p.first_day),
    }
}

/// One reconciliation being applied inside the lock's transaction.
struct Apply<'a, 'b> {
    domain: &'a Domain,
    tx: &'a mut Conn,
    lock: &'a LockRow,
    calendar: &'a CalendarRow,
    by: By<'b>,
    now: Timestamp,
    version: i64,
    /// Every code the lock ever had, read on first need.
    codes: Option<HashSet<String>>,
    /// Held serials below this one are taken (serials are handed out in order).
    next_serial: u16,
    sms: bool,
}

impl Apply<'_, '_> {
    async fn run(&mut self, todo: &Reconciliation, existing: &[CalendarKeyRow]) -> Result<SyncReport> {
        let mut report = SyncReport {
            unchanged: todo.unchanged.len(),
            ..Default::default()
        };
        let tz = self.lock.time_zone.clone();
        for c in &todo.cancelled {
            let Some(k) = live_key(existing, &c.uid) else { continue };
            if !self.deny_room(&k.key, &c.uid, "cancelled", &mut report).await? {
                continue;
            }
            let revocation = Revocation {
                at: ms(self.now),
                version: self.version,
            };
            if store::revoke_guest_key(self.tx, &self.lock.id, &k.key.id, revocation).await? {
                store::mark_revoked_by_calendar(self.tx, &k.key.id).await?;
                report.cancelled += 1;
                let why = match c.reason {
                    CancelReason::Cancelled => "the reservation was cancelled",
                    CancelReason::Removed => "the reservation is no longer in the calendar",
                    CancelReason::NowBlock => "the dates are now blocked, not reserved",
                    CancelReason::NowEnded => "the stay was shortened and is over",
                };
                self.log_key(
                    "guest_key_revoked",
                    &k.key,
                    format!("revoked guest key \"{}\": {why}", k.key.name),
                    Some(why.to_string()),
                )
                .await?;
            }
        }
        for ch in &todo.changed {
            let Some(k) = live_key(existing, &ch.key.uid) else {
                continue;
            };
            let (start, end) = (ch.key.window.start, ch.key.window.end);
            let from = format!("{} – {}", local_time(ch.from.start, &tz), local_time(ch.from.end, &tz));
            let to = format!("{} – {}", local_time(start, &tz), local_time(end, &tz));
            match ch.code {
                CodeFate::Keep => {
                    store::move_guest_key(self.tx, &k.key.id, ms(start), ms(end), ms(end), self.version).await?;
                    self.log_key(
                        "guest_key_changed",
                        &k.key,
                        format!(
                            "guest key \"{}\" moved with its reservation from {from} to {to}; same code",
                            k.key.name
                        ),
                        None,
                    )
                    .await?;
                }
                CodeFate::Reissue => {
                    // The old code must be denied before a new one is given; without room the
                    // key stays as it was and the next read tries again.
                    if !self.deny_room(&k.key, &ch.key.uid, "moved", &mut report).await? {
                        continue;
                    }
                    let revocation = Revocation {
                        at: ms(self.now),
                        version: self.version,
                    };
                    store::revoke_guest_key(self.tx, &self.lock.id, &k.key.id, revocation).await?;
                    store::mark_revoked_by_calendar(self.tx, &k.key.id).await?;
                    let why = format!(
                        "the reservation moved from {from} to {to} and its code (an offline code) carries its dates"
                    );
                    self.log_key(
                        "guest_key_revoked",
                        &k.key,
                        format!("replaced guest key \"{}\": {why}", k.key.name),
                        Some(why.clone()),
                    )
                    .await?;
                    let phone =
                        phone_of(&ch.key).or_else(|| k.key.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok()));
                    if !self.add(&ch.key, phone, true, &mut report).await? {
                        continue;
                    }
                }
            }
            report.changed += 1;
        }
        for p in &todo.added {
            self.add(p, phone_of(p), false, &mut report).await?;
        }
        for p in &todo.unchanged {
            if !needs_phone(p, existing) {
                continue;
            }
            let (Some(k), Some(phone)) = (live_key(existing, &p.uid), phone_of(p)) else {
                continue;
            };
            let body = self.sms_body(
                &k.key.name,
                &k.key.code,
                ms_ts(k.key.starts_at),
                ms_ts(k.key.ends_at),
                false,
            );
            let sms_id = self
                .domain
                .queue_sms(self.tx, phone.as_str(), &body, "guest_key", self.now)
                .await?;
            store::set_guest_key_phone(self.tx, &k.key.id, phone.as_str(), &sms_id).await?;
            self.sms = true;
        }
        Ok(report)
    }

    /// Whether the lock can deny `key`'s code once revoked (issue 16, as for a person's
    /// revocation): a code still within its window needs a deny entry. When the deny list is
    /// full the reservation is reported in `skipped` and its key is left alone.
    async fn deny_room(&mut self, key: &GuestKeyRow, uid: &str, what: &str, report: &mut SyncReport) -> Result<bool> {
        if key.code_ends_at <= ms(self.now) {
            return Ok(true);
        }
        match super::capacity::check_room_for_deny_entry(self.tx, &self.lock.id, self.now).await {
            Ok(()) => Ok(true),
            Err(Error::Conflict(why)) => {
                report
                    .skipped
                    .push(format!("reservation {uid} was {what} but its key was kept: {why}"));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes a key for a planned reservation (new, back after the calendar revoked it, or a
    /// reissue with a new code).
    async fn add(
        &mut self,
        p: &PlannedKey,
        phone: Option<PhoneNumber>,
        reissue: bool,
        report: &mut SyncReport,
    ) -> Result<bool> {
        // Never a key the lock could not hold (issue 16): the reservation is reported instead.
        match super::capacity::check_room_for_guest_key(self.tx, &self.lock.id, self.now).await {
            Ok(()) => {}
            Err(Error::Conflict(why)) => {
                report.skipped.push(format!("reservation {} got no key: {why}", p.uid));
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        let Some((code, code_ends_at, kind)) = self.mint(p.window).await? else {
            report.skipped.push(format!(
                "reservation {} got no key: the lock has no free held code for a stay longer than 7 days",
                p.uid
            ));
            return Ok(false);
        };
        let name = key_name(&p.label, p);
        let key_no = store::next_key_no(self.tx, &self.lock.id).await?;
        let mut row = GuestKeyRow {
            id: self.domain.new_id("gk"),
            lock_id: self.lock.id.clone(),
            key_no,
            name: name.clone(),
            phone: phone.as_ref().map(|p| p.to_string()),
            code: code.clone(),
            slot: 0,
            epoch: self.lock.server_epoch,
            starts_at: ms(p.window.start),
            ends_at: ms(p.window.end),
            code_ends_at,
            one_time: false,
            revoked_at: None,
            used_at: None,
            changed_version: self.version,
            sms_id: None,
            created_by: match self.by {
                By::Admin(c) => c.id().to_string(),
                By::Reader => self.calendar.created_by.clone(),
            },
            created_at: ms(self.now),
        };
        if let Some(phone) = &phone {
            let body = self.sms_body(&name, &code, p.window.start, p.window.end, reissue);
            row.sms_id = Some(
                self.domain
                    .queue_sms(self.tx, phone.as_str(), &body, "guest_key", self.now)
                    .await?,
            );
            self.sms = true;
        }
        store::insert_guest_key(self.tx, &row).await?;
        store::insert_calendar_key(
            self.tx,
            &row.id,
            &self.lock.id,
            &self.calendar.id,
            &p.uid,
            kind,
            ms(self.now),
        )
        .await?;
        let tz = &self.lock.time_zone;
        self.log_key(
            "guest_key_created",
            &row,
            format!(
                "guest key \"{}\" {} – {} from calendar \"{}\"{}",
                row.name,
                local_time(p.window.start, tz),
                local_time(p.window.end, tz),
                self.calendar.name,
                if reissue { " (a new code)" } else { "" }
            ),
            None,
        )
        .await?;
        if !reissue {
            report.added += 1;
        }
        Ok(true)
    }

    /// A code no key of this lock ever had: a held code while serials last, else a window
    /// code for a stay of at most 7 days. `None` when neither is possible.
    async fn mint(&mut self, window: cal::Window) -> Result<Option<(String, i64, &'static str)>> {
        if self.codes.is_none() {
            let codes = store::lock_codes(self.tx, &self.lock.id).await?;
            self.codes = Some(codes.into_iter().collect());
        }
        let epoch = u32::try_from(self.lock.server_epoch).unwrap_or(0);
        let key = self.lock.root_secret.0.issuer_key(0, epoch);
        let lock_id = self.lock.id.clone();
        let codes = self.codes.get_or_insert_with(HashSet::new);
        while self.next_serial < gc::RESIDUES {
            let serial = self.next_serial;
            self.next_serial += 1;
            let code = mint_text(&key, &lock_id, epoch, Validity::Held { serial }, false)?;
            if codes.insert(code.clone()) {
                return Ok(Some((code, ms(window.end), "synced")));
            }
        }
        let (start_s, end_s) = (window.start.as_second(), window.end.as_second());
        let (s0, e0) = (start_s.div_euclid(3600), (end_s + 3599).div_euclid(3600));
        for (ds, de) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (s, e) = (s0 - ds, e0 + de);
            let hours = e - s;
            if start_s - s * 3600 > 3600 || e * 3600 - end_s > 3600 || hours < 1 || hours > i64::from(gc::MAX_HOURS) {
                continue;
            }
            let (Ok(start_hour), Ok(hours)) = (u32::try_from(s), u16::try_from(hours)) else {
                continue;
            };
            let code = mint_text(&key, &lock_id, epoch, Validity::Window { start_hour, hours }, false)?;
            if codes.insert(code.clone()) {
                return Ok(Some((code, e * 3_600_000, "offline")));
            }
        }
        Ok(None)
    }

    fn sms_body(&self, name: &str, code: &str, start: Timestamp, end: Timestamp, reissue: bool) -> String {
        let tz: &TimeZoneName = &self.lock.time_zone;
        format!(
            "{}Your guest key \"{}\" for \"{}\": {} Valid from {} to {} ({}).",
            if reissue {
                "Your stay changed, so your door code changed. "
            } else {
                ""
            },
            name,
            self.lock.name,
            instructions(code),
            local_time(start, tz),
            local_time(end, tz),
            tz.as_str(),
        )
    }

    async fn log_key(
        &mut self,
        kind: &'static str,
        key: &GuestKeyRow,
        detail: String,
        reason: Option<String>,
    ) -> Result<()> {
        let mut event = self.by.event(kind, detail).about_key(&key.id, &key.name);
        event.reason = reason;
        self.domain.log(self.tx, &self.lock.id, self.now, event).await
    }
}

fn ms_ts(v: i64) -> Timestamp {
    super::ts(v)
}

/// The background reader: every `min(interval, 30 s)` it takes (or renews) the
/// `calendar-reader` lease and, while it holds it, reads the calendars that are due, a few at a
/// time. Several instances run it; one reads at a time, and another takes over when the holder
/// stops renewing (the lease lasts 10 minutes). Stops when `shutdown` turns true.
pub async fn run_reader(
    domain: Domain,
    clock: std::sync::Arc<dyn super::Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let holder = domain.new_id("reader");
    let tick = std::time::Duration::from_secs(domain.settings.calendar_interval_seconds.clamp(1, 30));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = clock.now();
        match domain.take_reader_lease(&holder, now, 600_000).await {
            Ok(true) => {
                if let Err(e) = domain.read_due_calendars(now, 10).await {
                    tracing::warn!(error = %e, "reading due calendars failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "taking the calendar reader's lease failed"),
        }
    }
}
