//! A lock's activity log, for its Admins.

use axum::extract::{Path, Query};
use axum::http::StatusCode;

use super::page::{Notice, OrPage, PageResult, SignedIn};
use super::views::{ActivityPage, EventItem};
use crate::api;

/// Events per page.
const PAGE: i64 = 50;

pub(super) async fn activity_page(me: SignedIn, Path(lock_id): Path<String>, Query(n): Query<Notice>) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    let lock = admin.lock();
    let events = me
        .domain
        .events(&me.caller, &lock_id, Some(PAGE), n.before.as_deref())
        .await
        .or_page(&me)?;
    let older = if events.len() as i64 == PAGE {
        events.last().map(|e| e.id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(me.render(
        StatusCode::OK,
        ActivityPage {
            c: me.common(),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            events: events
                .iter()
                .map(|e| EventItem::new(&api::event_wire(e), e.at, &lock.time_zone))
                .collect(),
            older,
        },
    ))
}
