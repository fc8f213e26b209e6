//! Rental calendars (`api.md`, "Rental calendars"): thin handlers over `domain::calendars`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use latchkey_client::model::{self as m};

use super::extract::{ApiJson, Auth};
use super::{ApiResult, guest_key_status, utc};
use crate::app::AppState;
use crate::domain::calendars::{CalendarRequest, CalendarView, SyncReport};
use crate::domain::guest_keys::at_lock;
use crate::store::LockRow;

pub fn calendar_wire(v: &CalendarView, lock: &LockRow, now: Timestamp) -> m::Calendar {
    let c = &v.calendar;
    let mut reservations: Vec<_> = v
        .keys
        .iter()
        .map(|k| {
            (
                k.key.starts_at,
                m::CalendarReservation {
                    uid: k.uid.clone(),
                    name: k.key.name.clone(),
                    starts_at: at_lock(k.key.starts_at, &lock.time_zone),
                    ends_at: at_lock(k.key.ends_at, &lock.time_zone),
                    key_id: k.key.id.clone(),
                    status: guest_key_status(&k.key, now),
                },
            )
        })
        .collect();
    reservations.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.uid.cmp(&b.1.uid)));
    m::Calendar {
        id: c.id.clone(),
        url: c.url.clone(),
        name: c.name.clone(),
        check_in: c.check_in.clone(),
        check_out: c.check_out.clone(),
        last_synced_at: c.last_synced_at.map(utc),
        last_error: c.last_error.clone(),
        reservations: reservations.into_iter().map(|(_, r)| r).collect(),
    }
}

pub fn sync_wire(r: &SyncReport) -> m::CalendarSync {
    m::CalendarSync {
        added: r.added,
        changed: r.changed,
        cancelled: r.cancelled,
        unchanged: r.unchanged,
        error: r.error.clone(),
    }
}

/// Subscribes a lock to a rental calendar (Admins). The feed is read at once; its
/// reservations become guest keys from check-in to check-out in the lock's time zone.
#[utoipa::path(post, path = "/locks/{lock_id}/calendars", tag = "calendars", security(("bearer" = [])),
    params(("lock_id" = String, Path)), request_body = m::CreateCalendar,
    responses((status = 201, body = m::Calendar), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
pub async fn create_calendar(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    ApiJson(body): ApiJson<m::CreateCalendar>,
) -> ApiResult<(StatusCode, Json<m::Calendar>)> {
    let req = CalendarRequest {
        url: body.url,
        name: body.name,
        check_in: body.check_in,
        check_out: body.check_out,
    };
    let (row, _) = s.domain.add_calendar(&caller, &lock_id, &req, s.now()).await?;
    let (view, lock) = s.domain.calendar(&caller, &lock_id, &row.id).await?;
    Ok((StatusCode::CREATED, Json(calendar_wire(&view, &lock, s.now()))))
}

/// The lock's rental calendars with their reservations, last read and last error (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/calendars", tag = "calendars", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Vec<m::Calendar>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub async fn list_calendars(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Vec<m::Calendar>>> {
    let (views, lock) = s.domain.calendars(&caller, &lock_id).await?;
    let now = s.now();
    Ok(Json(views.iter().map(|v| calendar_wire(v, &lock, now)).collect()))
}

/// One rental calendar (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/calendars/{id}", tag = "calendars", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = m::Calendar), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub async fn get_calendar(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<Json<m::Calendar>> {
    let (view, lock) = s.domain.calendar(&caller, &lock_id, &id).await?;
    Ok(Json(calendar_wire(&view, &lock, s.now())))
}

/// Deletes a rental calendar (Admins); its keys that have not ended are revoked.
#[utoipa::path(delete, path = "/locks/{lock_id}/calendars/{id}", tag = "calendars", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub async fn delete_calendar(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.delete_calendar(&caller, &lock_id, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads the calendar's feed now (Admins). A feed that cannot be read, does not parse or
/// suddenly lists nothing changes nothing: the answer's `error` (and the calendar's
/// `last_error`) says why.
#[utoipa::path(post, path = "/locks/{lock_id}/calendars/{id}/sync", tag = "calendars", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = m::CalendarSync), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub async fn sync_calendar(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<Json<m::CalendarSync>> {
    let report = s.domain.sync_calendar(&caller, &lock_id, &id, s.now()).await?;
    Ok(Json(sync_wire(&report)))
}
