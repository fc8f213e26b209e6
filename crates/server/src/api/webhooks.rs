//! `…/webhooks` and `…/notifications` (spec/api.md, second round).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_client::model::{self as m, CreateWebhook, Delivery, Notifications, PutNotifications, Webhook};

use super::extract::{ApiJson, Auth};
use super::{ApiResult, utc};
use crate::app::AppState;
use crate::domain::notifications::PrefsPatch;
use crate::store::{DeliveryRow, NotificationPrefs, WebhookRow};

fn webhook_wire(w: &WebhookRow, with_secret: bool) -> Webhook {
    Webhook {
        id: w.id.clone(),
        url: w.url.clone(),
        events: if w.events == "*" {
            crate::domain::webhooks::EVENT_TYPES
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            w.event_list()
        },
        secret: with_secret.then(|| w.secret.clone()),
        created_at: utc(w.created_at),
    }
}

fn delivery_wire(d: &DeliveryRow) -> Delivery {
    Delivery {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        type_: d.type_.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error.clone(),
        next_attempt_at: d.next_attempt_at.map(utc),
        created_at: utc(d.created_at),
    }
}

fn prefs_wire(p: NotificationPrefs) -> Notifications {
    Notifications {
        guest_arrived: p.guest_arrived,
        lockout: p.lockout,
        offline: p.offline,
        calendar_failing: p.calendar_failing,
    }
}

/// Adds a webhook (Admins); the answer carries its signing secret, once.
#[utoipa::path(post, path = "/locks/{lock_id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("lock_id" = String, Path)), request_body = CreateWebhook,
    responses((status = 201, body = Webhook), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
pub(super) async fn create_webhook(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<Webhook>)> {
    let row = s
        .domain
        .create_webhook(&caller, &lock_id, &body.url, body.events.as_deref(), s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(webhook_wire(&row, true))))
}

/// The lock's webhooks, without their secrets (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub(super) async fn list_webhooks(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Vec<Webhook>>> {
    let rows = s.domain.webhooks(&caller, &lock_id).await?;
    Ok(Json(rows.iter().map(|w| webhook_wire(w, false)).collect()))
}

/// Deletes a webhook and its pending deliveries (Admins).
#[utoipa::path(delete, path = "/locks/{lock_id}/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub(super) async fn delete_webhook(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.delete_webhook(&caller, &lock_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook's latest deliveries, newest first (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Vec<Delivery>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub(super) async fn list_deliveries(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Delivery>>> {
    let rows = s.domain.webhook_deliveries(&caller, &lock_id, &id).await?;
    Ok(Json(rows.iter().map(delivery_wire).collect()))
}

/// Sends a `webhook.test` event to this webhook now (Admins); 202 with the queued delivery.
#[utoipa::path(post, path = "/locks/{lock_id}/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 202, body = Delivery), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
pub(super) async fn test_webhook(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    let row = s.domain.test_webhook(&caller, &lock_id, &id, s.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_wire(&row))))
}

/// The caller's own notification choices on the lock (members).
#[utoipa::path(get, path = "/locks/{lock_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Notifications), (status = 404, body = m::Problem)))]
pub(super) async fn get_notifications(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Notifications>> {
    let p = s.domain.notification_prefs(&caller, &lock_id).await?;
    Ok(Json(prefs_wire(p)))
}

/// Changes the caller's own notification choices on the lock (members).
#[utoipa::path(put, path = "/locks/{lock_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("lock_id" = String, Path)), request_body = PutNotifications,
    responses((status = 200, body = Notifications), (status = 404, body = m::Problem)))]
pub(super) async fn put_notifications(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    ApiJson(body): ApiJson<PutNotifications>,
) -> ApiResult<Json<Notifications>> {
    let patch = PrefsPatch {
        guest_arrived: body.guest_arrived,
        lockout: body.lockout,
        offline: body.offline,
        calendar_failing: body.calendar_failing,
    };
    let p = s.domain.set_notification_prefs(&caller, &lock_id, patch).await?;
    Ok(Json(prefs_wire(p)))
}
