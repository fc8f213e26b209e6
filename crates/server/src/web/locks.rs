//! The caller's locks, pairing a lock, one lock's page and remote unlock.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::i18n::Tr;
use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, form_failure, notice_text};
use super::views::{Bolt, EventItem, FormErrors, LockItem, LockPage, LocksPage, level_name};
use crate::api;
use crate::domain::ts;
use crate::domain::types::{AccessLevel, Opening, Schedule, TimeZoneName};
use crate::store::LockRow;

/// The pairing form.
#[derive(Deserialize, Default)]
pub struct PairForm {
    #[serde(default)]
    pub setup_code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub time_zone: String,
}

fn lock_items(locks: &[(LockRow, AccessLevel)], tr: Tr) -> Vec<LockItem> {
    locks
        .iter()
        .map(|(l, level)| LockItem {
            id: l.id.clone(),
            name: l.name.clone(),
            level: level_name(*level, tr),
            online: l.online,
        })
        .collect()
}

pub(super) async fn locks_page(me: SignedIn, Query(n): Query<Notice>) -> PageResult {
    let locks = me.domain.my_locks(&me.caller).await.or_page(&me)?;
    let invitations = me
        .domain
        .my_invitations(&me.caller, me.now)
        .await
        .map(|v| v.len())
        .unwrap_or(0);
    Ok(me.render(
        StatusCode::OK,
        LocksPage {
            c: me.common_with(&notice_text(&n.done, me.tr)),
            locks: lock_items(&locks, me.tr),
            invitations,
            form: PairForm::default(),
            errors: FormErrors::default(),
        },
    ))
}

pub(super) async fn pair_lock(me: SignedIn, CsrfForm(f): CsrfForm<PairForm>) -> Response {
    match me
        .domain
        .pair_lock(&me.caller, &f.setup_code, &f.name, &zone_named(&f.time_zone), me.now)
        .await
    {
        Ok(member) => me.redirect(&format!("/locks/{}?done=paired", member.lock.id)),
        Err(e) => {
            let (errors, problem) = form_failure(e, me.tr);
            let locks = me.domain.my_locks(&me.caller).await.unwrap_or_default();
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                LocksPage {
                    c: me.common_with_problem(problem),
                    locks: lock_items(&locks, me.tr),
                    invitations: 0,
                    form: f,
                    errors,
                },
            )
        }
    }
}

pub(super) async fn lock_page(me: SignedIn, Path(lock_id): Path<String>, Query(n): Query<Notice>) -> PageResult {
    let (member, cap) = me
        .domain
        .lock_with_capacity(&me.caller, &lock_id, me.now)
        .await
        .or_page(&me)?;
    let level = member.level();
    let is_admin = level == AccessLevel::Admin;
    let wire = api::lock_wire(&member.lock, level);
    let capacity = me.tr.t_args(
        "lock-capacity",
        &[
            ("keys", &cap.guest_keys.used),
            ("max_keys", &cap.guest_keys.max),
            ("members", &cap.members.used),
            ("max_members", &cap.members.max),
        ],
    );
    let tz = &member.lock.time_zone;
    // The latest few events, for those who may see the log.
    let events = if is_admin {
        me.domain
            .events(&me.caller, &lock_id, Some(LATEST), None)
            .await
            .unwrap_or_default()
            .iter()
            .map(|e| EventItem::new(&api::event_wire(e), e.at, tz, me.tr))
            .collect()
    } else {
        Vec::new()
    };
    // A Recurring Guest is told when the schedule lets them in (the lock refuses them outside
    // it, and a refusal alone does not say when to come back).
    let opening = match (&member.member.schedule, level) {
        (Some(schedule), AccessLevel::RecurringGuest) => opening_text(schedule, me.now, tz, me.tr),
        _ => String::new(),
    };
    // Remote Unlock is offered only when it can work: the domain refuses a Recurring Guest
    // outside the schedule, so the button is not shown then (the text says when).
    let within_schedule = match (&member.member.schedule, level) {
        (Some(schedule), AccessLevel::RecurringGuest) => {
            schedule.allows(me.now.to_zoned_datetime(tz.zone()).datetime())
        }
        (None, AccessLevel::RecurringGuest) => false,
        _ => true,
    };
    let last_seen = member
        .lock
        .last_seen_at
        .map(|at| ago(me.now, ts(at), tz, me.tr))
        .unwrap_or_default();
    Ok(me.render(
        StatusCode::OK,
        LockPage {
            c: me.common_with(&notice_text(&n.done, me.tr)),
            // The bolt as `api::lock_wire` reports it: "unknown" while the lock is offline.
            bolt: Bolt::from_wire(wire.bolt.as_deref()),
            capacity,
            last_seen,
            level_label: level_name(level, me.tr),
            is_admin,
            my_id: me.caller.id().to_string(),
            events,
            opening,
            can_unlock: within_schedule,
            lock: wire,
        },
    ))
}

/// "You can open now, until today 12:00 PM" / "You can open from Mon 8:00 AM", in the lock's
/// time and the reader's hour cycle; a day further than a week away gets its date.
pub(super) fn opening_text(schedule: &Schedule, now: jiff::Timestamp, tz: &TimeZoneName, tr: Tr) -> String {
    let local = now.to_zoned_datetime(tz.zone()).datetime();
    let when = |t: jiff::civil::DateTime| {
        let days = local.date().until(t.date()).map(|s| s.get_days()).unwrap_or(i32::MAX);
        let time = tr.time(t.time());
        match days {
            0 => tr.t1("when-today", "time", time),
            1 => tr.t1("when-tomorrow", "time", time),
            2..=6 => tr.t2(
                "when-weekday",
                "day",
                tr.day_name(&wire_day(t.date().weekday())),
                "time",
                time,
            ),
            _ => tr.t2("when-date", "date", tr.date(t.date()), "time", time),
        }
    };
    match schedule.opening(local) {
        Opening::Open(Some(until)) => tr.t1("opening-now-until", "when", when(until)),
        Opening::Open(None) => tr.t("opening-now"),
        Opening::Next(at) => tr.t1("opening-from", "when", when(at)),
        Opening::Never => tr.t("opening-ended"),
    }
}

/// A weekday's wire name (`mon`).
fn wire_day(d: jiff::civil::Weekday) -> String {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.to_monday_zero_offset() as usize].to_string()
}

/// Events on the lock's main screen.
const LATEST: i64 = 5;

/// "just now", "5 min ago", "3 h ago", or the local date and time.
pub(super) fn ago(
    now: jiff::Timestamp,
    then: jiff::Timestamp,
    tz: &crate::domain::types::TimeZoneName,
    tr: Tr,
) -> String {
    let s = now.as_second() - then.as_second();
    match s {
        ..60 => tr.t("ago-now"),
        60..3600 => tr.t1("ago-minutes", "count", s / 60),
        3600..86_400 => tr.t1("ago-hours", "count", s / 3600),
        _ => tr.at(then, tz),
    }
}

pub(super) async fn unlock(me: SignedIn, Path(lock_id): Path<String>, _: CsrfForm<Button>) -> PageResult {
    me.domain
        .remote_unlock(&me.caller, &lock_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}?done=unlocked")))
}

/// The remote Lock command beside Unlock: the lock throws its bolt.
pub(super) async fn lock(me: SignedIn, Path(lock_id): Path<String>, _: CsrfForm<Button>) -> PageResult {
    me.domain.remote_lock(&me.caller, &lock_id, me.now).await.or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}?done=locked")))
}

/// A city typed as people write it ("New York", "berlin") read as its IANA zone
/// (`America/New_York`); anything else is left for the domain to judge.
fn zone_named(text: &str) -> String {
    let text = text.trim();
    if text.contains('/') || text.is_empty() {
        return text.to_string();
    }
    let city = text.replace(' ', "_").to_ascii_lowercase();
    jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .find(|n| n.contains('/') && n.rsplit('/').next().is_some_and(|c| c.to_ascii_lowercase() == city))
        .unwrap_or_else(|| text.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_recurring_guest_is_told_when_they_may_open() {
        use crate::domain::FieldErrors;
        use crate::domain::types::{Schedule, TimeZoneName};
        use latchkey_client::model as m;
        let wire = m::Schedule {
            windows: vec![m::Window {
                days: vec!["mon".into()],
                from: "08:00".into(),
                to: "12:00".into(),
            }],
            valid_from: None,
            valid_until: None,
        };
        let s = Schedule::parse(&wire, "schedule", &mut FieldErrors::default()).unwrap();
        let tz = TimeZoneName::parse("Europe/Berlin").unwrap();
        let gb = super::Tr::negotiate(None, "en-GB");
        let us = super::Tr::negotiate(None, "en-US");
        let ko = super::Tr::negotiate(None, "ko-KR");
        assert_eq!(
            super::opening_text(&s, "2027-01-06T09:00:00Z".parse().unwrap(), &tz, us),
            "You can open from Mon 8:00 AM."
        );
        assert_eq!(
            super::opening_text(&s, "2027-01-04T08:00:00Z".parse().unwrap(), &tz, ko),
            "지금 열 수 있습니다. 오늘 오후 12:00까지."
        );
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
        // Wednesday 2027-01-06 10:00 in Berlin: next Monday.
        assert_eq!(
            super::opening_text(&s, at("2027-01-06T09:00:00Z"), &tz, gb),
            "You can open from Mon 08:00."
        );
        // Monday 2027-01-04 09:00 in Berlin (08:00 UTC): open until noon.
        assert_eq!(
            super::opening_text(&s, at("2027-01-04T08:00:00Z"), &tz, gb),
            "You can open now, until today 12:00."
        );
        // Sunday evening: tomorrow.
        assert_eq!(
            super::opening_text(&s, at("2027-01-10T18:00:00Z"), &tz, gb),
            "You can open from tomorrow 08:00."
        );
    }

    #[test]
    fn cities_are_read_as_their_zones() {
        assert_eq!(super::zone_named("New York"), "America/New_York");
        assert_eq!(super::zone_named("berlin"), "Europe/Berlin");
        assert_eq!(super::zone_named("Europe/Paris"), "Europe/Paris");
        assert_eq!(super::zone_named("Atlantis"), "Atlantis");
    }
}
