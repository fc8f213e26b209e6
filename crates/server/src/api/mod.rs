//! The HTTP API of `api.md`: thin handlers that parse, call the domain, and shape the answer.
//! No SQL and no rules here. The OpenAPI description is generated from these handlers and the
//! shared model types (`latchkey_client::model`), so the two cannot drift apart.

pub mod calendars;
mod doc;
pub mod error;
pub mod extract;
mod webhooks;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use latchkey_client::model::{self as m};
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::domain::guest_keys::{GuestKeyRequest, KeyStatus, OfflineKeyRequest, at_lock, instructions, key_status};
use crate::domain::invitations::InviteRequest;
use crate::domain::locks::LockPatch;
use crate::domain::members::MemberPatch;
use crate::domain::ts;
use crate::domain::types::{AccessLevel, InvitationStatus, Schedule};
use crate::store::{self, AccountRow, EventRow, GuestKeyRow, InvitationRow, LockRow, MemberRow};
use error::ApiError;
use extract::{ApiJson, ApiQuery, Auth, Bearer, ClientAddr};

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(title = "Latchkey API", version = "1", description = "Accounts, locks, members, invitations, guest keys and the activity log. See spec/api.md."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in by SMS code"),
        (name = "locks", description = "Locks and their settings"),
        (name = "members", description = "Who may open a lock"),
        (name = "invitations", description = "Invitations by phone number"),
        (name = "guest-keys", description = "Guest keys and guest-code issuers"),
        (name = "activity", description = "The activity log and remote unlock"),
        (name = "webhooks", description = "Events to other programs, signed per Standard Webhooks"),
        (name = "notifications", description = "Each member's SMS notifications"),
        (name = "calendars", description = "Rental calendars whose reservations become guest keys"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The API router (to be nested under `/api/v1`) and its OpenAPI description.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(request_otp))
        .routes(routes!(create_session, delete_session))
        .routes(routes!(get_me, patch_me))
        .routes(routes!(pair_lock, list_locks))
        .routes(routes!(get_lock, patch_lock, delete_lock))
        .routes(routes!(list_members))
        .routes(routes!(patch_member, remove_member))
        .routes(routes!(set_pin))
        .routes(routes!(create_invitation, list_lock_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(resend_invitation))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
        .routes(routes!(create_guest_key, list_guest_keys))
        .routes(routes!(get_guest_key, revoke_guest_key, extend_guest_key))
        .routes(routes!(resend_guest_key))
        .routes(routes!(create_issuer))
        .routes(routes!(delete_issuer))
        .routes(routes!(record_offline_key))
        .routes(routes!(unlock))
        .routes(routes!(lock_bolt))
        .routes(routes!(list_events))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(webhooks::get_notifications, webhooks::put_notifications))
        .routes(routes!(calendars::create_calendar, calendars::list_calendars))
        .routes(routes!(calendars::get_calendar, calendars::delete_calendar))
        .routes(routes!(calendars::sync_calendar));
    let (router, mut doc) = OpenApiRouter::new().nest("/api/v1", api).split_for_parts();
    doc::document(&mut doc);
    doc.paths
        .paths
        .insert("/api/v1/openapi.json".to_string(), openapi_path_item());
    (router, doc)
}

/// `/api/v1/openapi.json` describes itself too, so every path of `api.md` is listed.
fn openapi_path_item() -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let op = OperationBuilder::new()
        .tag("meta")
        .summary(Some("This OpenAPI 3.1 description"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("the description")
                .content("application/json", ContentBuilder::new().build())
                .build(),
        )
        .build();
    utoipa::openapi::PathItem::new(HttpMethod::Get, op)
}

/// The OpenAPI document as pretty JSON (served, and compared with `docs/openapi.json`).
pub fn openapi_json() -> String {
    router().1.to_pretty_json().unwrap_or_else(|_| "{}".into())
}

/// The `Idempotency-Key` request header of the creating requests.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IdempotencyHeader {
    /// A key the client makes up per request (a UUID): sending the same request again with
    /// it (a retry) answers with what the first one made. Kept 24 hours; the same key with a
    /// different request is refused (422).
    #[param(rename = "Idempotency-Key", pattern = "^[ \\t]*[!-~]{1,255}[ \\t]*$")]
    idempotency_key: Option<String>,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(text) => Ok(Some(text.to_string())),
            Err(_) => Err(crate::domain::Error::invalid("idempotency_key", "must be visible ASCII").into()),
        },
    }
}

// ------------------------------------------------------------------------------- converters

fn utc(ms: i64) -> String {
    ts(ms).to_string()
}

fn level_wire(l: AccessLevel) -> m::AccessLevel {
    match l {
        AccessLevel::Admin => m::AccessLevel::Admin,
        AccessLevel::Family => m::AccessLevel::Family,
        AccessLevel::RecurringGuest => m::AccessLevel::RecurringGuest,
    }
}

fn level_domain(l: m::AccessLevel) -> AccessLevel {
    match l {
        m::AccessLevel::Admin => AccessLevel::Admin,
        m::AccessLevel::Family => AccessLevel::Family,
        m::AccessLevel::RecurringGuest => AccessLevel::RecurringGuest,
    }
}

fn sync_state(changed_version: i64, acked_version: i64) -> m::SyncState {
    if changed_version <= acked_version {
        m::SyncState::Synced
    } else {
        m::SyncState::Pending
    }
}

pub fn account_wire(a: &AccountRow) -> m::Account {
    m::Account {
        id: a.id.clone(),
        phone: a.phone.to_string(),
        name: a.name.clone(),
        created_at: utc(a.created_at),
        locale: a.locale.clone(),
    }
}

pub fn lock_wire(l: &LockRow, level: AccessLevel) -> m::Lock {
    m::Lock {
        id: l.id.clone(),
        name: l.name.clone(),
        time_zone: l.time_zone.as_str().to_string(),
        online: l.online,
        last_seen_at: l.last_seen_at.map(utc),
        my_access_level: level_wire(level),
        settings: m::LockSettings {
            wrong_code_limit: l.wrong_code_limit as u32,
            lockout_seconds: l.lockout_seconds as u32,
        },
        sync: sync_state(l.version, l.acked_version),
        // What the lock last reported, while it is online: offline, nobody knows.
        bolt: Some(match (l.online, l.bolt.as_deref()) {
            (true, Some(b @ ("locked" | "unlocked"))) => b.to_string(),
            _ => "unknown".to_string(),
        }),
        capacity: None,
    }
}

pub fn member_wire(mr: &MemberRow, acked_version: i64) -> m::Member {
    m::Member {
        account_id: mr.account_id.clone(),
        name: mr.name.clone(),
        phone: mr.phone.to_string(),
        access_level: level_wire(mr.access_level),
        schedule: mr.schedule.as_ref().map(Schedule::to_wire),
        has_pin: mr.pin.is_some(),
        sync: sync_state(mr.changed_version, acked_version),
        added_at: utc(mr.added_at),
    }
}

pub fn invitation_wire(i: &InvitationRow) -> m::Invitation {
    m::Invitation {
        id: i.id.clone(),
        lock_id: i.lock_id.clone(),
        lock_name: i.lock_name.clone(),
        phone: i.phone.to_string(),
        name: i.name.clone(),
        access_level: level_wire(i.access_level),
        schedule: i.schedule.as_ref().map(Schedule::to_wire),
        status: match i.status {
            InvitationStatus::Pending => m::InvitationStatus::Pending,
            InvitationStatus::Accepted => m::InvitationStatus::Accepted,
            InvitationStatus::Declined => m::InvitationStatus::Declined,
            InvitationStatus::Revoked => m::InvitationStatus::Revoked,
            InvitationStatus::Expired => m::InvitationStatus::Expired,
        },
        invited_by: i.invited_by_name.clone(),
        created_at: utc(i.created_at),
        expires_at: utc(i.expires_at),
    }
}

pub fn sms_wire(row: Option<&store::SmsRow>) -> m::SmsState {
    match row {
        None => m::SmsState::None,
        Some(r) if r.sent_at.is_some() => m::SmsState::Sent,
        Some(r) if r.last_error.is_some() => m::SmsState::Failing,
        Some(_) => m::SmsState::Queued,
    }
}

pub fn guest_key_wire(k: &GuestKeyRow, lock: &LockRow, sms: m::SmsState, now: Timestamp) -> m::GuestKey {
    let tz = &lock.time_zone;
    m::GuestKey {
        id: k.id.clone(),
        name: k.name.clone(),
        phone: k.phone.clone(),
        code: k.code.clone(),
        starts_at: at_lock(k.starts_at, tz),
        ends_at: at_lock(k.ends_at, tz),
        one_time: k.one_time,
        status: guest_key_status(k, now),
        sms,
        sync: sync_state(k.changed_version, lock.acked_version),
        instructions: instructions(&k.code),
        source: None,
    }
}

pub fn guest_key_status(k: &GuestKeyRow, now: Timestamp) -> m::GuestKeyStatus {
    match key_status(k, now) {
        KeyStatus::Scheduled => m::GuestKeyStatus::Scheduled,
        KeyStatus::Active => m::GuestKeyStatus::Active,
        KeyStatus::Used => m::GuestKeyStatus::Used,
        KeyStatus::Expired => m::GuestKeyStatus::Expired,
        KeyStatus::Revoked => m::GuestKeyStatus::Revoked,
    }
}

pub fn event_wire(e: &EventRow) -> m::Event {
    m::Event {
        id: e.id.clone(),
        at: utc(e.at),
        kind: e.kind.clone(),
        outcome: e.outcome.clone(),
        method: e.method.clone(),
        actor: e.actor_name.as_ref().map(|name| m::Actor {
            kind: e.actor_kind.clone().unwrap_or_else(|| "unknown".into()),
            id: e.actor_id.clone(),
            name: name.clone(),
        }),
        reason: e.reason.clone(),
        by: e.by_account.as_ref().map(|id| m::Actor {
            kind: "member".into(),
            id: Some(id.clone()),
            name: e.by_name.clone().unwrap_or_default(),
        }),
        detail: e.detail.clone(),
    }
}

// ----------------------------------------------------------------------------------- auth

/// Sends a 6-digit sign-in code by SMS.
#[utoipa::path(post, path = "/auth/otp", tag = "auth", request_body = m::OtpRequest,
    responses((status = 202, description = "A code was sent if the number can receive one"),
              (status = 422, body = m::Problem), (status = 429, body = m::Problem)))]
async fn request_otp(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<m::OtpRequest>,
) -> ApiResult<StatusCode> {
    s.domain.request_sign_in_code(&body.phone, &client, s.now()).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Exchanges a sign-in code for a session; creates the account on first sign-in.
#[utoipa::path(post, path = "/auth/session", tag = "auth", request_body = m::SessionRequest,
    responses((status = 201, body = m::SessionCreated), (status = 401, body = m::Problem),
              (status = 422, body = m::Problem), (status = 429, body = m::Problem)))]
async fn create_session(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<m::SessionRequest>,
) -> ApiResult<(StatusCode, Json<m::SessionCreated>)> {
    let (token, account) = s.domain.sign_in(&body.phone, &body.code, &client, s.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(m::SessionCreated {
            token,
            account: account_wire(&account),
        }),
    ))
}

/// Signs out: the token stops working.
#[utoipa::path(delete, path = "/auth/session", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = m::Problem)))]
async fn delete_session(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<StatusCode> {
    s.domain.sign_out(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = m::Account), (status = 401, body = m::Problem)))]
async fn get_me(Auth(caller): Auth) -> Json<m::Account> {
    Json(account_wire(&caller.account))
}

/// Sets the caller's name, and the web app's language when `locale` is given.
#[utoipa::path(patch, path = "/me", tag = "auth", security(("bearer" = [])), request_body = m::PatchMe,
    responses((status = 200, body = m::Account), (status = 401, body = m::Problem), (status = 422, body = m::Problem)))]
async fn patch_me(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<m::PatchMe>,
) -> ApiResult<Json<m::Account>> {
    let mut account = s.domain.rename_me(&caller, &body.name).await?;
    if let Some(locale) = &body.locale {
        account = s.domain.set_my_locale(&caller, locale.as_deref()).await?;
    }
    Ok(Json(account_wire(&account)))
}

// ---------------------------------------------------------------------------------- locks

/// Pairs the lock that shows this setup code; the caller becomes its first Admin. A lock that
/// refused too many wrong setup codes answers 429 until its own wait is over.
#[utoipa::path(post, path = "/locks", tag = "locks", security(("bearer" = [])), request_body = m::CreateLock,
    responses((status = 201, body = m::Lock), (status = 401, body = m::Problem), (status = 409, body = m::Problem),
              (status = 422, body = m::Problem), (status = 429, body = m::Problem), (status = 503, body = m::Problem)))]
async fn pair_lock(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<m::CreateLock>,
) -> ApiResult<(StatusCode, Json<m::Lock>)> {
    let me = s
        .domain
        .pair_lock(&caller, &body.setup_code, &body.name, &body.time_zone, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(lock_wire(&me.lock, me.level()))))
}

/// The locks the caller is a member of.
#[utoipa::path(get, path = "/locks", tag = "locks", security(("bearer" = [])),
    responses((status = 200, body = Vec<m::Lock>), (status = 401, body = m::Problem)))]
async fn list_locks(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<Vec<m::Lock>>> {
    let locks = s.domain.my_locks(&caller).await?;
    Ok(Json(locks.iter().map(|(l, level)| lock_wire(l, *level)).collect()))
}

/// One lock, for its members, with what it can hold (`capacity`).
#[utoipa::path(get, path = "/locks/{lock_id}", tag = "locks", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = m::Lock), (status = 401, body = m::Problem), (status = 404, body = m::Problem)))]
async fn get_lock(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<m::Lock>> {
    let (me, capacity) = s.domain.lock_with_capacity(&caller, &lock_id, s.now()).await?;
    let mut wire = lock_wire(&me.lock, me.level());
    wire.capacity = Some(capacity_wire(&capacity));
    Ok(Json(wire))
}

pub fn capacity_wire(c: &crate::domain::capacity::LockCapacity) -> m::LockCapacity {
    let u = |u: crate::domain::capacity::Use| m::CapacityUse {
        used: u.used,
        max: u.max,
    };
    m::LockCapacity {
        guest_keys: u(c.guest_keys),
        members: u(c.members),
        revoked_codes: Some(u(c.deny_entries)),
    }
}

/// Renames the lock or changes its time zone or keypad settings (Admins).
#[utoipa::path(patch, path = "/locks/{lock_id}", tag = "locks", security(("bearer" = [])),
    params(("lock_id" = String, Path)), request_body = m::PatchLock,
    responses((status = 200, body = m::Lock), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 422, body = m::Problem)))]
async fn patch_lock(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    ApiJson(body): ApiJson<m::PatchLock>,
) -> ApiResult<Json<m::Lock>> {
    let patch = LockPatch {
        name: body.name,
        time_zone: body.time_zone,
        wrong_code_limit: body.settings.as_ref().and_then(|s| s.wrong_code_limit),
        lockout_seconds: body.settings.as_ref().and_then(|s| s.lockout_seconds),
    };
    let me = s.domain.patch_lock(&caller, &lock_id, &patch, s.now()).await?;
    Ok(Json(lock_wire(&me.lock, me.level())))
}

/// Unpairs the lock (Admins).
#[utoipa::path(delete, path = "/locks/{lock_id}", tag = "locks", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn delete_lock(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<StatusCode> {
    s.domain.unpair_lock(&caller, &lock_id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------------------------- members

/// The lock's members, with whether the lock holds their current rights (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/members", tag = "members", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Vec<m::Member>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn list_members(
    State(s): State<AppState>,
    Bearer(token): Bearer,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Vec<m::Member>>> {
    // The session, the Admin check and the listing in one query (issue 19).
    let (members, acked) = s.domain.members_for_token(&token, &lock_id, s.now()).await?;
    Ok(Json(members.iter().map(|mr| member_wire(mr, acked)).collect()))
}

/// Changes a member's level or schedule (Admins). The last Admin cannot be demoted.
#[utoipa::path(patch, path = "/locks/{lock_id}/members/{account_id}", tag = "members", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("account_id" = String, Path)), request_body = m::PatchMember,
    responses((status = 200, body = m::Member), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
async fn patch_member(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, account_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<m::PatchMember>,
) -> ApiResult<Json<m::Member>> {
    let patch = MemberPatch {
        access_level: body.access_level.map(level_domain),
        schedule: body.schedule,
    };
    let (member, acked) = s
        .domain
        .patch_member(&caller, &lock_id, &account_id, &patch, s.now())
        .await?;
    Ok(Json(member_wire(&member, acked)))
}

/// Removes a member (Admins), or leaves the lock (the member itself). 409 for the last Admin.
#[utoipa::path(delete, path = "/locks/{lock_id}/members/{account_id}", tag = "members", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("account_id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn remove_member(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, account_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.remove_member(&caller, &lock_id, &account_id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a personal keypad PIN (the member itself, or an Admin). PIN choices are limited per
/// caller and lock (`docs/design/pin-choice.md`): past the limit the answer is 429 with
/// `Retry-After`.
#[utoipa::path(put, path = "/locks/{lock_id}/members/{account_id}/pin", tag = "members", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("account_id" = String, Path)), request_body = m::SetPin,
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem), (status = 429, body = m::Problem)))]
async fn set_pin(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, account_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<m::SetPin>,
) -> ApiResult<StatusCode> {
    s.domain
        .set_pin(&caller, &lock_id, &account_id, &body.pin, s.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------- invitations

/// Invites a phone number (Admins); texts the invitee. With an `Idempotency-Key`, the same
/// request again answers with the first invitation instead of making another.
#[utoipa::path(post, path = "/locks/{lock_id}/invitations", tag = "invitations", security(("bearer" = [])),
    params(("lock_id" = String, Path), IdempotencyHeader), request_body = m::CreateInvitation,
    responses((status = 201, body = m::Invitation), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
async fn create_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<m::CreateInvitation>,
) -> ApiResult<(StatusCode, Json<m::Invitation>)> {
    let key = idempotency_key(&headers)?;
    let req = InviteRequest {
        phone: &body.phone,
        name: body.name.as_deref(),
        level: level_domain(body.access_level),
        schedule: body.schedule.as_ref(),
        idempotency_key: key.as_deref(),
    };
    let inv = s.domain.invite(&caller, &lock_id, &req, s.now()).await?;
    Ok((StatusCode::CREATED, Json(invitation_wire(&inv))))
}

/// The lock's invitations (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/invitations", tag = "invitations", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Vec<m::Invitation>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn list_lock_invitations(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Vec<m::Invitation>>> {
    let rows = s.domain.lock_invitations(&caller, &lock_id, s.now()).await?;
    Ok(Json(rows.iter().map(invitation_wire).collect()))
}

/// Revokes a pending invitation (Admins).
#[utoipa::path(delete, path = "/locks/{lock_id}/invitations/{id}", tag = "invitations", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn revoke_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.revoke_invitation(&caller, &lock_id, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Texts a pending invitation to its phone number again (Admins); 409 once it is no longer
/// pending.
#[utoipa::path(post, path = "/locks/{lock_id}/invitations/{id}/resend", tag = "invitations", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn resend_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.resend_invitation(&caller, &lock_id, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own pending invitations, matched by phone number.
#[utoipa::path(get, path = "/invitations", tag = "invitations", security(("bearer" = [])),
    responses((status = 200, body = Vec<m::Invitation>), (status = 401, body = m::Problem)))]
async fn my_invitations(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<Vec<m::Invitation>>> {
    let rows = s.domain.my_invitations(&caller, s.now()).await?;
    Ok(Json(rows.iter().map(invitation_wire).collect()))
}

/// Accepts an invitation: the caller becomes a member with the invited level.
#[utoipa::path(post, path = "/invitations/{id}/accept", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = m::Member), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn accept_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<m::Member>> {
    let (member, acked) = s.domain.accept_invitation(&caller, &id, s.now()).await?;
    Ok(Json(member_wire(&member, acked)))
}

/// Declines an invitation.
#[utoipa::path(post, path = "/invitations/{id}/decline", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = m::Invitation), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn decline_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<m::Invitation>> {
    let inv = s.domain.decline_invitation(&caller, &id, s.now()).await?;
    Ok(Json(invitation_wire(&inv)))
}

// ----------------------------------------------------------------------------- guest keys

/// Creates a guest key (Admins); texts the code to `phone` when given. With an
/// `Idempotency-Key`, the same request again answers with the first key (never a second code).
#[utoipa::path(post, path = "/locks/{lock_id}/guest-keys", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), IdempotencyHeader), request_body = m::CreateGuestKey,
    responses((status = 201, body = m::GuestKey), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
async fn create_guest_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<m::CreateGuestKey>,
) -> ApiResult<(StatusCode, Json<m::GuestKey>)> {
    let req = GuestKeyRequest {
        name: body.name,
        phone: body.phone,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        one_time: body.one_time,
        precautions_accepted: body.precautions_accepted,
        idempotency_key: idempotency_key(&headers)?,
    };
    let now = s.now();
    let key = s.domain.create_guest_key(&caller, &lock_id, &req, now).await?;
    let (key, lock) = s.domain.guest_key(&caller, &lock_id, &key.id).await?;
    let sms = s.domain.sms_state(key.sms_id.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(guest_key_wire(&key, &lock, sms_wire(sms.as_ref()), now)),
    ))
}

/// The lock's guest keys with their status (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/guest-keys", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = Vec<m::GuestKey>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn list_guest_keys(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<Vec<m::GuestKey>>> {
    let now = s.now();
    let (keys, lock) = s.domain.guest_keys(&caller, &lock_id).await?;
    let mut sources = s.domain.key_sources(&caller, &lock_id).await?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        let sms = s.domain.sms_state(k.sms_id.as_deref()).await?;
        let mut wire = guest_key_wire(k, &lock, sms_wire(sms.as_ref()), now);
        wire.source = sources.remove(&k.id);
        out.push(wire);
    }
    Ok(Json(out))
}

/// One guest key (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/guest-keys/{id}", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = m::GuestKey), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn get_guest_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<Json<m::GuestKey>> {
    Ok(Json(guest_key_now(&s, &caller, &lock_id, &id).await?))
}

/// Revokes a guest key (Admins); the lock refuses it from its next sync.
#[utoipa::path(delete, path = "/locks/{lock_id}/guest-keys/{id}", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn revoke_guest_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.revoke_guest_key(&caller, &lock_id, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The guest key as it is now, as the API shows it.
async fn guest_key_now(
    s: &AppState,
    caller: &crate::domain::Caller,
    lock_id: &str,
    id: &str,
) -> ApiResult<m::GuestKey> {
    let (key, lock) = s.domain.guest_key(caller, lock_id, id).await?;
    let sms = s.domain.sms_state(key.sms_id.as_deref()).await?;
    let mut wire = guest_key_wire(&key, &lock, sms_wire(sms.as_ref()), s.now());
    wire.source = s.domain.key_sources(caller, lock_id).await?.remove(&key.id);
    Ok(wire)
}

/// Changes when a guest key ends (Admins): a later end than now and than the current one. The
/// lock learns of it on its next sync. The code stays when it covers the new end; otherwise the
/// key is replaced by one with a new code (texted to the guest when the key has a phone number)
/// and the old code stops working: the answer is then that new key, with its own `id`. With an
/// `Idempotency-Key`, the same request again answers with what the first one made (the new key,
/// not a 409 for the old one it revoked).
#[utoipa::path(patch, path = "/locks/{lock_id}/guest-keys/{id}", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path), IdempotencyHeader), request_body = m::PatchGuestKey,
    responses((status = 200, body = m::GuestKey), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
async fn extend_guest_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<m::PatchGuestKey>,
) -> ApiResult<Json<m::GuestKey>> {
    let key = idempotency_key(&headers)?;
    let done = s
        .domain
        .extend_guest_key(&caller, &lock_id, &id, &body.ends_at, key.as_deref(), s.now())
        .await?;
    Ok(Json(guest_key_now(&s, &caller, &lock_id, &done.key_id).await?))
}

/// Texts a scheduled or active guest key's code to its phone number again (Admins); 409 when
/// the key no longer works or has no phone number. `sms` in the answer follows the new text.
#[utoipa::path(post, path = "/locks/{lock_id}/guest-keys/{id}/resend", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = m::GuestKey), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem)))]
async fn resend_guest_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, id)): Path<(String, String)>,
) -> ApiResult<Json<m::GuestKey>> {
    s.domain.resend_guest_key(&caller, &lock_id, &id, s.now()).await?;
    Ok(Json(guest_key_now(&s, &caller, &lock_id, &id).await?))
}

/// Creates a guest-code issuer for one Admin device (Admins); `file` is what
/// `latchkey guest-code mint --issuer-file` reads.
#[utoipa::path(post, path = "/locks/{lock_id}/issuers", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path)), request_body = Option<m::CreateIssuer>,
    responses((status = 201, body = m::Issuer), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn create_issuer(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    body: Option<ApiJson<Option<m::CreateIssuer>>>,
) -> ApiResult<(StatusCode, Json<m::Issuer>)> {
    // No body, `null` or `{}`: no label.
    let label = body.and_then(|ApiJson(b)| b).and_then(|b| b.label);
    let (row, file) = s
        .domain
        .create_issuer(&caller, &lock_id, label.as_deref(), s.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(m::Issuer {
            issuer_id: row.id,
            file,
        }),
    ))
}

/// Deletes an issuer (Admins): every code it made stops working once the lock syncs.
#[utoipa::path(delete, path = "/locks/{lock_id}/issuers/{issuer_id}", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("issuer_id" = String, Path)),
    responses((status = 204), (status = 403, body = m::Problem), (status = 404, body = m::Problem), (status = 409, body = m::Problem)))]
async fn delete_issuer(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, issuer_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.domain.delete_issuer(&caller, &lock_id, &issuer_id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a guest key a device minted offline with this issuer's file (Admins), so that it is
/// listed, logged and revocable like the server's own. The server mints the code again from
/// the lock's root secret and refuses (422) a code the issuer did not make for this window.
/// Idempotent by nature: the same code again answers with the key already recorded.
#[utoipa::path(post, path = "/locks/{lock_id}/issuers/{issuer_id}/keys", tag = "guest-keys", security(("bearer" = [])),
    params(("lock_id" = String, Path), ("issuer_id" = String, Path)), request_body = m::RecordOfflineKey,
    responses((status = 201, body = m::GuestKey), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 409, body = m::Problem), (status = 422, body = m::Problem)))]
async fn record_offline_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((lock_id, issuer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<m::RecordOfflineKey>,
) -> ApiResult<(StatusCode, Json<m::GuestKey>)> {
    let req = OfflineKeyRequest {
        name: body.name,
        code: body.code,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        one_time: body.one_time,
    };
    let row = s
        .domain
        .record_offline_key(&caller, &lock_id, &issuer_id, &req, s.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(guest_key_now(&s, &caller, &lock_id, &row.id).await?),
    ))
}

// ---------------------------------------------------------------------- unlock and events

/// Asks the lock to open, within the caller's own rights.
#[utoipa::path(post, path = "/locks/{lock_id}/unlock", tag = "activity", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = m::UnlockResult), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 503, body = m::Problem), (status = 504, body = m::Problem)))]
async fn unlock(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<m::UnlockResult>> {
    s.domain.remote_unlock(&caller, &lock_id, s.now()).await?;
    Ok(Json(m::UnlockResult {
        outcome: "unlocked".into(),
    }))
}

/// Asks the lock to throw its bolt (any member); `bolt` in `GET /locks/{lock_id}` follows.
#[utoipa::path(post, path = "/locks/{lock_id}/lock", tag = "activity", security(("bearer" = [])),
    params(("lock_id" = String, Path)),
    responses((status = 200, body = m::UnlockResult), (status = 403, body = m::Problem), (status = 404, body = m::Problem),
              (status = 503, body = m::Problem), (status = 504, body = m::Problem)))]
async fn lock_bolt(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
) -> ApiResult<Json<m::UnlockResult>> {
    s.domain.remote_lock(&caller, &lock_id, s.now()).await?;
    Ok(Json(m::UnlockResult {
        outcome: "locked".into(),
    }))
}

/// Paging of the activity log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
    /// Only events older than this event id.
    before: Option<String>,
}

/// The activity log, newest first (Admins).
#[utoipa::path(get, path = "/locks/{lock_id}/events", tag = "activity", security(("bearer" = [])),
    params(("lock_id" = String, Path), EventsQuery),
    responses((status = 200, body = Vec<m::Event>), (status = 403, body = m::Problem), (status = 404, body = m::Problem)))]
async fn list_events(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(lock_id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Vec<m::Event>>> {
    let rows = s.domain.events(&caller, &lock_id, q.limit, q.before.as_deref()).await?;
    Ok(Json(rows.iter().map(event_wire).collect()))
}
