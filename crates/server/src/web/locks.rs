//! The caller's locks, pairing a lock, one lock's page and remote unlock.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, form_failure, notice_text};
use super::views::{Bolt, EventItem, FormErrors, LockItem, LockPage, LocksPage};
use crate::api;
use crate::domain::guest_keys::local_time;
use crate::domain::ts;
use crate::domain::types::AccessLevel;
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

fn lock_items(locks: &[(LockRow, AccessLevel)]) -> Vec<LockItem> {
    locks
        .iter()
        .map(|(l, level)| LockItem {
            id: l.id.clone(),
            name: l.name.clone(),
            level: level.label().into(),
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
            c: me.common_with(notice_text(&n.done)),
            locks: lock_items(&locks),
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
            let (errors, problem) = form_failure(e);
            let locks = me.domain.my_locks(&me.caller).await.unwrap_or_default();
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                LocksPage {
                    c: me.common_with_problem(problem),
                    locks: lock_items(&locks),
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
    let capacity = format!(
        "Holds {} of {} guest keys · {} of {} members",
        cap.guest_keys.used, cap.guest_keys.max, cap.members.used, cap.members.max
    );
    let tz = &member.lock.time_zone;
    // The latest few events, for those who may see the log.
    let events = if is_admin {
        me.domain
            .events(&me.caller, &lock_id, Some(LATEST), None)
            .await
            .unwrap_or_default()
            .iter()
            .map(|e| EventItem::new(&api::event_wire(e), e.at, tz))
            .collect()
    } else {
        Vec::new()
    };
    let last_seen = member
        .lock
        .last_seen_at
        .map(|at| ago(me.now, ts(at), tz))
        .unwrap_or_default();
    Ok(me.render(
        StatusCode::OK,
        LockPage {
            c: me.common_with(notice_text(&n.done)),
            // The bolt as `api::lock_wire` reports it: "unknown" while the lock is offline.
            bolt: Bolt::from_wire(wire.bolt.as_deref()),
            capacity,
            last_seen,
            level_label: level.label().into(),
            is_admin,
            my_id: me.caller.id().to_string(),
            events,
            lock: wire,
        },
    ))
}

/// Events on the lock's main screen.
const LATEST: i64 = 5;

/// "just now", "5 min ago", "3 h ago", or the local date and time.
pub(super) fn ago(now: jiff::Timestamp, then: jiff::Timestamp, tz: &crate::domain::types::TimeZoneName) -> String {
    let s = now.as_second() - then.as_second();
    match s {
        ..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => local_time(then, tz),
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
    fn cities_are_read_as_their_zones() {
        assert_eq!(super::zone_named("New York"), "America/New_York");
        assert_eq!(super::zone_named("berlin"), "Europe/Berlin");
        assert_eq!(super::zone_named("Europe/Paris"), "Europe/Paris");
        assert_eq!(super::zone_named("Atlantis"), "Atlantis");
    }
}
