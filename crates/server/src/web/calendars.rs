//! Rental calendars (Admins): the lock's feeds with their reservations, last read and last
//! error; adding a feed with its check-in and check-out times; "Read now"; removing one (with
//! a ticked confirmation: its upcoming keys are revoked). The web form of
//! `/locks/{id}/calendars` over the same domain calls (`domain::calendars`).

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;

use super::i18n::Tr;
use super::locks::ago;
use super::page::{Button, CsrfForm, OrPage, PageResult, SignedIn, form_failure};
use super::views::{Common, FormErrors, wire_str};
use crate::api;
use crate::domain::calendars::{CalendarRequest, CalendarView};
use crate::domain::{Error, ts};
use crate::store::LockRow;

/// One reservation of a calendar, as its key stands.
pub struct ReservationItem {
    pub key_id: String,
    /// The guest's name, else the reservation code (the key's name).
    pub name: String,
    /// Check-in to check-out, lock-local.
    pub window: String,
    pub status: String,
    /// Whether the key opens now or will (scheduled, active).
    pub live: bool,
}

pub struct CalendarItem {
    pub id: String,
    pub name: String,
    pub url: String,
    pub check_in: String,
    pub check_out: String,
    /// "5 min ago", or empty when the feed was never read.
    pub last_read: String,
    /// Why the last read changed nothing (empty when it worked).
    pub last_error: String,
    pub reservations: Vec<ReservationItem>,
    /// Keys that still work or will (what removing revokes).
    pub upcoming: usize,
}

impl CalendarItem {
    fn new(v: &CalendarView, lock: &LockRow, now: jiff::Timestamp, tr: Tr) -> CalendarItem {
        let tz = &lock.time_zone;
        let mut keys: Vec<_> = v.keys.iter().collect();
        keys.sort_by(|a, b| a.key.starts_at.cmp(&b.key.starts_at).then_with(|| a.uid.cmp(&b.uid)));
        let reservations: Vec<ReservationItem> = keys
            .iter()
            .map(|k| {
                let status = api::guest_key_status(&k.key, now);
                ReservationItem {
                    key_id: k.key.id.clone(),
                    name: k.key.name.clone(),
                    window: format!("{} – {}", tr.at(ts(k.key.starts_at), tz), tr.at(ts(k.key.ends_at), tz)),
                    status: tr.t(&format!("status-{}", wire_str(&status))),
                    live: matches!(
                        status,
                        latchkey_client::model::GuestKeyStatus::Scheduled
                            | latchkey_client::model::GuestKeyStatus::Active
                    ),
                }
            })
            .collect();
        let c = &v.calendar;
        CalendarItem {
            id: c.id.clone(),
            name: c.name.clone(),
            url: c.url.clone(),
            check_in: tr.hhmm(&c.check_in),
            check_out: tr.hhmm(&c.check_out),
            last_read: c.last_synced_at.map(|at| ago(now, ts(at), tz, tr)).unwrap_or_default(),
            last_error: c
                .last_error
                .as_deref()
                .map(|e| tr.domain_message(e))
                .unwrap_or_default(),
            upcoming: reservations.iter().filter(|r| r.live).count(),
            reservations,
        }
    }
}

/// The add form's fields.
#[derive(Deserialize)]
pub struct CalendarForm {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub check_in: String,
    #[serde(default)]
    pub check_out: String,
}

impl Default for CalendarForm {
    /// The usual rental times.
    fn default() -> CalendarForm {
        CalendarForm {
            url: String::new(),
            name: String::new(),
            check_in: "15:00".into(),
            check_out: "11:00".into(),
        }
    }
}

#[derive(Template)]
#[template(path = "calendars.html")]
pub struct CalendarsPage {
    pub c: Common,
    pub lock_id: String,
    pub lock_name: String,
    pub time_zone: String,
    /// How often feeds are read ("15 minutes").
    pub every: String,
    pub calendars: Vec<CalendarItem>,
    pub form: CalendarForm,
    pub errors: FormErrors,
    /// The calendar whose removal was sent without the confirmation ticked (else empty).
    pub unconfirmed: String,
}

/// What the page says after a redirect: our own wording and counts only, never user text.
#[derive(Deserialize, Default)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    added: usize,
    #[serde(default)]
    changed: usize,
    #[serde(default)]
    cancelled: usize,
    #[serde(default)]
    unchanged: usize,
    #[serde(default)]
    revoked: usize,
    /// Reservations that got no key, or whose key could not be changed (a full lock, an
    /// event without usable dates).
    #[serde(default)]
    skipped: usize,
}

impl Done {
    fn text(&self, tr: Tr) -> String {
        let mut counts = tr.t_args(
            "calendars-counts",
            &[
                ("added", &self.added),
                ("changed", &self.changed),
                ("cancelled", &self.cancelled),
                ("unchanged", &self.unchanged),
            ],
        );
        if self.skipped > 0 {
            counts.push(' ');
            counts.push_str(&tr.t_count("calendars-skipped", self.skipped as i64));
        }
        match self.done.as_str() {
            "added" => tr.t1("calendars-done-added", "counts", counts),
            "read" => tr.t1("calendars-done-read", "counts", counts),
            "failed" => tr.t("calendars-done-failed"),
            "removed" => tr.t_count("calendars-done-removed", self.revoked as i64),
            _ => String::new(),
        }
    }
}

async fn render(
    me: &SignedIn,
    lock_id: &str,
    status: StatusCode,
    c: Common,
    form: CalendarForm,
    errors: FormErrors,
    unconfirmed: String,
) -> PageResult {
    let (views, lock) = me.domain.calendars(&me.caller, lock_id).await.or_page(me)?;
    Ok(me.render(
        status,
        CalendarsPage {
            c,
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            time_zone: lock.time_zone.as_str().to_string(),
            every: every(me.domain.settings.calendar_interval_seconds, me.tr),
            calendars: views
                .iter()
                .map(|v| CalendarItem::new(v, &lock, me.now, me.tr))
                .collect(),
            form,
            errors,
            unconfirmed,
        },
    ))
}

pub(super) async fn page(me: SignedIn, Path(lock_id): Path<String>, Query(d): Query<Done>) -> PageResult {
    let c = me.common_with(&d.text(me.tr));
    render(
        &me,
        &lock_id,
        StatusCode::OK,
        c,
        CalendarForm::default(),
        FormErrors::default(),
        String::new(),
    )
    .await
}

/// `900` as "15 minutes", `90` as "90 seconds".
fn every(seconds: u64, tr: Tr) -> String {
    match seconds {
        s if s >= 120 && s % 60 == 0 => tr.t_count("duration-minutes", (s / 60) as i64),
        s => tr.t_count("duration-seconds", s as i64),
    }
}

fn counts(r: &crate::domain::calendars::SyncReport) -> String {
    format!(
        "added={}&changed={}&cancelled={}&unchanged={}&skipped={}",
        r.added,
        r.changed,
        r.cancelled,
        r.unchanged,
        r.skipped.len()
    )
}

pub(super) async fn add(me: SignedIn, Path(lock_id): Path<String>, CsrfForm(f): CsrfForm<CalendarForm>) -> PageResult {
    let req = CalendarRequest {
        url: f.url.trim().to_string(),
        name: Some(f.name.clone()).filter(|n| !n.trim().is_empty()),
        check_in: f.check_in.trim().to_string(),
        check_out: f.check_out.trim().to_string(),
    };
    match me.domain.add_calendar(&me.caller, &lock_id, &req, me.now).await {
        // Post/Redirect/Get: reloading the list reads nothing again.
        Ok((_, report)) if report.error.is_some() => {
            Ok(me.redirect(&format!("/locks/{lock_id}/calendars?done=failed")))
        }
        Ok((_, report)) => Ok(me.redirect(&format!("/locks/{lock_id}/calendars?done=added&{}", counts(&report)))),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e, me.tr);
            let c = me.common_with_problem(problem);
            render(
                &me,
                &lock_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                c,
                f,
                errors,
                String::new(),
            )
            .await
        }
        Err(e) => Err(me.error_page(e)),
    }
}

/// "Read now".
pub(super) async fn read_now(
    me: SignedIn,
    Path((lock_id, id)): Path<(String, String)>,
    _: CsrfForm<Button>,
) -> PageResult {
    let report = me
        .domain
        .sync_calendar(&me.caller, &lock_id, &id, me.now)
        .await
        .or_page(&me)?;
    if report.error.is_some() {
        return Ok(me.redirect(&format!("/locks/{lock_id}/calendars?done=failed")));
    }
    Ok(me.redirect(&format!("/locks/{lock_id}/calendars?done=read&{}", counts(&report))))
}

/// A checkbox is in the form only when ticked.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    confirm: Option<String>,
}

pub(super) async fn remove(
    me: SignedIn,
    Path((lock_id, id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<RemoveForm>,
) -> PageResult {
    if f.confirm.is_none() {
        let c = me.common_with_problem(me.tr.t("calendars-not-removed"));
        return render(
            &me,
            &lock_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            c,
            CalendarForm::default(),
            FormErrors::default(),
            id,
        )
        .await;
    }
    let revoked = me
        .domain
        .delete_calendar(&me.caller, &lock_id, &id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/calendars?done=removed&revoked={revoked}")))
}
