//! Each member's own notification choices on a lock (the web form of
//! `GET`/`PUT /locks/{id}/notifications`).

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;

use super::page::{CsrfForm, Notice, OrPage, PageResult, SignedIn, notice_text};
use super::views::Common;
use crate::domain::notifications::PrefsPatch;

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub c: Common,
    pub lock_id: String,
    pub lock_name: String,
    pub guest_arrived: bool,
    pub lockout: bool,
    pub offline: bool,
    pub calendar_failing: bool,
}

pub(super) async fn page(me: SignedIn, Path(lock_id): Path<String>, Query(n): Query<Notice>) -> PageResult {
    let member = me.domain.lock(&me.caller, &lock_id).await.or_page(&me)?;
    let p = me.domain.notification_prefs(&me.caller, &lock_id).await.or_page(&me)?;
    Ok(me.render(
        StatusCode::OK,
        NotificationsPage {
            c: me.common_with(&notice_text(&n.done, me.tr)),
            lock_id: member.lock.id.clone(),
            lock_name: member.lock.name.clone(),
            guest_arrived: p.guest_arrived,
            lockout: p.lockout,
            offline: p.offline,
            calendar_failing: p.calendar_failing,
        },
    ))
}

/// A checkbox is in the form only when ticked.
#[derive(Deserialize)]
pub(super) struct PrefsForm {
    #[serde(default)]
    guest_arrived: Option<String>,
    #[serde(default)]
    lockout: Option<String>,
    #[serde(default)]
    offline: Option<String>,
    #[serde(default)]
    calendar_failing: Option<String>,
}

pub(super) async fn save(me: SignedIn, Path(lock_id): Path<String>, CsrfForm(f): CsrfForm<PrefsForm>) -> PageResult {
    let patch = PrefsPatch {
        guest_arrived: Some(f.guest_arrived.is_some()),
        lockout: Some(f.lockout.is_some()),
        offline: Some(f.offline.is_some()),
        calendar_failing: Some(f.calendar_failing.is_some()),
    };
    me.domain
        .set_notification_prefs(&me.caller, &lock_id, patch)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/notifications?done=saved")))
}
