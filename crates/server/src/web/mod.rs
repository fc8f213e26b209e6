//! The web app: server-rendered pages over the same domain as the API.
//!
//! Every page works without JavaScript (there is none). Templates are askama files in
//! `crates/server/templates`, compiled into the binary and HTML-escaped by default; the style
//! sheet is embedded too. The session is the API's session, carried in an HttpOnly, SameSite=Lax
//! cookie (`Secure` when the public URL is https). Every form carries a CSRF token that must
//! equal the `latchkey_csrf` cookie (double submit); a cross-site page can neither read the
//! cookie nor, with SameSite=Lax, send the session along with a POST.

// Handlers return early with a ready page (`Result<_, Response>`); boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod views;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::api::extract::{ClientAddr, SESSION_COOKIE};
use crate::api::{self, AppState};
use crate::domain::guest_keys::{GuestKeyRequest, instructions, local_time};
use crate::domain::members::MemberPatch;
use crate::domain::types::{AccessLevel, TimeZoneName};
use crate::domain::{Caller, Error};
use latchkey_client::model as m;

use views::*;

/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "latchkey_csrf";
const STYLE: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(style))
        .route("/static/app.js", get(script))
        .route("/sign-in/phone", post(sign_in_phone))
        .route("/sign-in/code", post(sign_in_code))
        .route("/sign-out", post(sign_out))
        .route("/locks", get(locks_page).post(pair_lock))
        .route("/locks/{lock_id}", get(lock_page))
        .route("/locks/{lock_id}/unlock", post(unlock))
        .route("/locks/{lock_id}/users", get(users_page))
        .route("/locks/{lock_id}/invite", get(invite_page))
        .route(
            "/locks/{lock_id}/invite/member",
            get(invite_member_page).post(invite_member),
        )
        .route(
            "/locks/{lock_id}/guest-keys/new",
            get(guest_key_page).post(create_guest_key),
        )
        .route("/locks/{lock_id}/guest-keys/{key_id}/revoke", post(revoke_guest_key))
        .route("/locks/{lock_id}/invitations/{id}/revoke", post(revoke_invitation))
        .route("/locks/{lock_id}/members/{account_id}", get(member_page))
        .route("/locks/{lock_id}/members/{account_id}/access", post(member_access))
        .route("/locks/{lock_id}/members/{account_id}/pin", post(member_pin))
        .route("/locks/{lock_id}/members/{account_id}/remove", post(member_remove))
        .route("/locks/{lock_id}/activity", get(activity_page))
        .route("/invitations", get(invitations_page))
        .route("/invitations/{id}/accept", post(accept_invitation))
        .route("/invitations/{id}/decline", post(decline_invitation))
}

// ------------------------------------------------------------------------ request context

/// What every page needs: the caller (if signed in), the CSRF token, and cookies to set.
struct Ctx {
    caller: Option<Caller>,
    csrf: String,
    set_cookies: Vec<String>,
    secure: bool,
    now: Timestamp,
}

impl Ctx {
    async fn new(s: &AppState, headers: &HeaderMap) -> Ctx {
        let secure = s.domain.settings.public_url.starts_with("https://");
        let now = s.clock.now();
        let mut set_cookies = Vec::new();
        let csrf =
            match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
                Some(v) => v,
                None => {
                    let v = hex::encode(s.domain.random::<16>());
                    set_cookies.push(cookie_header(CSRF_COOKIE, &v, secure, None));
                    v
                }
            };
        let caller = match cookie(headers, SESSION_COOKIE) {
            Some(token) => s.domain.authenticate(&token, now).await.ok(),
            None => None,
        };
        Ctx {
            caller,
            csrf,
            set_cookies,
            secure,
            now,
        }
    }

    fn common(&self) -> Common {
        Common {
            signed_in: self.caller.is_some(),
            csrf: self.csrf.clone(),
            notice: String::new(),
            problem: String::new(),
        }
    }

    fn common_with(&self, notice: &str) -> Common {
        Common {
            notice: notice.to_string(),
            ..self.common()
        }
    }

    /// Checks a form's token against the cookie.
    fn csrf_ok(&self, submitted: &str) -> bool {
        submitted.len() == self.csrf.len() && bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    fn render(&self, status: StatusCode, t: impl Template) -> Response {
        let body = match t.render() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "template failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be shown").into_response();
            }
        };
        let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
        self.add_cookies(&mut resp);
        resp
    }

    fn redirect(&self, to: &str) -> Response {
        let mut resp = Redirect::to(to).into_response();
        self.add_cookies(&mut resp);
        resp
    }

    fn add_cookies(&self, resp: &mut Response) {
        for c in &self.set_cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    /// A page about a failure that is not a form field's.
    fn error_page(&self, e: Error) -> Response {
        let (status, heading, text) = match &e {
            Error::Unauthenticated => return self.redirect("/"),
            Error::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("This {what} does not exist."),
            ),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            Error::Conflict(m) => (StatusCode::CONFLICT, "That did not work", m.clone()),
            Error::Invalid(fe) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "That did not work",
                fe.0.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; "),
            ),
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, "That did not work", m.clone()),
            Error::RateLimited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Try again in {retry_after} seconds."),
            ),
            Error::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", m.clone()),
            Error::Timeout(m) => (StatusCode::GATEWAY_TIMEOUT, "No answer", m.clone()),
            Error::Internal(m) => {
                tracing::error!(error = %m, "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side; try again.".to_string(),
                )
            }
        };
        self.render(
            status,
            MessagePage {
                c: self.common(),
                heading: heading.into(),
                text,
                next: if self.caller.is_some() { "/locks" } else { "/" }.into(),
                next_label: "Continue".into(),
            },
        )
    }

    fn bad_csrf(&self) -> Response {
        self.render(
            StatusCode::FORBIDDEN,
            MessagePage {
                c: self.common(),
                heading: "Please try again".into(),
                text: "This form expired or did not come from this site. Reload the page and send it again.".into(),
                next: "/".into(),
                next_label: "Start again".into(),
            },
        )
    }

    /// The caller, or a redirect to the sign-in page.
    fn need_caller(&self) -> Result<&Caller, Response> {
        self.caller.as_ref().ok_or_else(|| self.redirect("/"))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn cookie_header(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// Only the messages we wrote ourselves are shown after a redirect (never user text).
#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    done: String,
    #[serde(default)]
    before: Option<String>,
}

fn notice_text(code: &str) -> &'static str {
    match code {
        "invited" => "Successfully invited! They will get an SMS with a link.",
        "unlocked" => "Unlocked.",
        "pin" => "PIN saved. The lock will have it on its next sync.",
        "saved" => "Saved.",
        "removed" => "Removed.",
        "revoked" => "Revoked. The lock will refuse it after its next sync.",
        "accepted" => "Welcome! You are now a member of this lock.",
        "declined" => "Invitation declined.",
        "paired" => "Lock paired. You are its Admin.",
        "left" => "You left the lock.",
        _ => "",
    }
}

// --------------------------------------------------------------------------------- pages

/// Progressive enhancement only: every form works without it.
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The country a sign-in number is most likely in, from the browser's preferred language
/// (`en-GB` gives `GB`); none when the language names no country.
fn language_country(headers: &HeaderMap) -> String {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("");
    let tag = first.split(';').next().unwrap_or("").trim();
    tag.split(['-', '_'])
        .skip(1)
        .find(|part| part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|part| part.to_ascii_uppercase())
        .filter(|region| crate::domain::types::countries().iter().any(|(id, _)| id == region))
        .unwrap_or_default()
}

/// The country of the signed-in person's own number, the likeliest for the numbers they type.
fn caller_country(caller: &Caller) -> String {
    caller.account.phone.country().unwrap_or_default()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    if ctx.caller.is_some() {
        return ctx.redirect("/locks");
    }
    ctx.render(
        StatusCode::OK,
        SignInPage {
            c: ctx.common(),
            code_step: false,
            phone: String::new(),
            country: language_country(&headers),
            errors: FormErrors::default(),
        },
    )
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    country: String,
}

async fn sign_in_phone(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(f): Form<PhoneForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    let phone = crate::domain::types::PhoneNumber::in_country(&f.phone, &f.country);
    match s.domain.request_sign_in_code(&phone, &client.0, ctx.now).await {
        Ok(()) => {
            let shown = crate::domain::types::PhoneNumber::parse(&phone)
                .map(|p| p.as_str().to_string())
                .unwrap_or(phone);
            ctx.render(
                StatusCode::OK,
                SignInPage {
                    c: ctx.common(),
                    code_step: true,
                    phone: shown,
                    country: f.country,
                    errors: FormErrors::default(),
                },
            )
        }
        Err(Error::Invalid(fe)) => ctx.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            SignInPage {
                c: ctx.common(),
                code_step: false,
                phone: f.phone.trim().to_string(),
                country: f.country,
                errors: FormErrors::from(fe),
            },
        ),
        Err(e) => ctx.error_page(e),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

async fn sign_in_code(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(f): Form<CodeForm>,
) -> Response {
    let mut ctx = Ctx::new(&s, &headers).await;
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.sign_in(&f.phone, f.code.trim(), &client.0, ctx.now).await {
        Ok((token, _account)) => {
            let max_age = i64::from(s.domain.settings.session_ttl_days) * 86_400;
            ctx.set_cookies
                .push(cookie_header(SESSION_COOKIE, &token, ctx.secure, Some(max_age)));
            ctx.redirect("/locks")
        }
        Err(e @ (Error::Unauthenticated | Error::Invalid(_))) => {
            let mut errors = match e {
                Error::Invalid(fe) => FormErrors::from(fe),
                _ => FormErrors::default(),
            };
            if errors.is_empty() || !errors.has("code") {
                errors.add(
                    "code",
                    "That code is wrong or has expired. Check the SMS, or ask for a new code.",
                );
            }
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                SignInPage {
                    c: ctx.common(),
                    code_step: true,
                    phone: f.phone,
                    country: String::new(),
                    errors,
                },
            )
        }
        Err(e) => ctx.error_page(e),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<CsrfOnly>) -> Response {
    let mut ctx = Ctx::new(&s, &headers).await;
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    if let Some(caller) = &ctx.caller {
        let _ = s.domain.sign_out(caller).await;
    }
    ctx.set_cookies
        .push(cookie_header(SESSION_COOKIE, "", ctx.secure, Some(0)));
    ctx.redirect("/")
}

async fn locks_page(State(s): State<AppState>, headers: HeaderMap, Query(n): Query<Notice>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let locks = match s.domain.my_locks(caller).await {
        Ok(l) => l,
        Err(e) => return ctx.error_page(e),
    };
    let invitations = s
        .domain
        .my_invitations(caller, ctx.now)
        .await
        .map(|v| v.len())
        .unwrap_or(0);
    ctx.render(
        StatusCode::OK,
        LocksPage {
            c: ctx.common_with(notice_text(&n.done)),
            locks: locks
                .iter()
                .map(|(l, level)| LockItem {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    level: level.label().into(),
                    online: l.online,
                })
                .collect(),
            invitations,
            form: PairForm::default(),
            errors: FormErrors::default(),
        },
    )
}

#[derive(Deserialize, Default)]
struct PairForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    setup_code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
}

async fn pair_lock(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<PairForm>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s
        .domain
        .pair_lock(caller, &f.setup_code, &f.name, &f.time_zone, ctx.now)
        .await
    {
        Ok(member) => ctx.redirect(&format!("/locks/{}?done=paired", member.lock.id)),
        Err(e) => {
            let (errors, problem) = form_failure(e);
            let locks = s.domain.my_locks(caller).await.unwrap_or_default();
            let mut c = ctx.common();
            c.problem = problem;
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                LocksPage {
                    c,
                    locks: locks
                        .iter()
                        .map(|(l, level)| LockItem {
                            id: l.id.clone(),
                            name: l.name.clone(),
                            level: level.label().into(),
                            online: l.online,
                        })
                        .collect(),
                    invitations: 0,
                    form: PairForm {
                        csrf: String::new(),
                        ..f
                    },
                    errors,
                },
            )
        }
    }
}

async fn lock_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let member = match s.domain.lock(caller, &lock_id).await {
        Ok(m) => m,
        Err(e) => return ctx.error_page(e),
    };
    let level = member.level();
    let wire = api::lock_wire(&member.lock, level);
    ctx.render(
        StatusCode::OK,
        LockPage {
            c: ctx.common_with(notice_text(&n.done)),
            bolt: match wire.bolt.as_deref() {
                Some("unlocked") => "Unlocked".into(),
                Some("locked") => "Locked".into(),
                _ => "Bolt state unknown".into(),
            },
            level_label: level.label().into(),
            is_admin: level == AccessLevel::Admin,
            my_id: caller.id().to_string(),
            lock: wire,
        },
    )
}

async fn unlock(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.remote_unlock(caller, &lock_id, ctx.now).await {
        Ok(()) => ctx.redirect(&format!("/locks/{lock_id}?done=unlocked")),
        Err(e) => ctx.error_page(e),
    }
}

async fn users_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (members, acked) = match s.domain.members(caller, &lock_id).await {
        Ok(v) => v,
        Err(e) => return ctx.error_page(e),
    };
    let invitations = s
        .domain
        .lock_invitations(caller, &lock_id, ctx.now)
        .await
        .unwrap_or_default();
    let (keys, lock) = match s.domain.guest_keys(caller, &lock_id).await {
        Ok(v) => v,
        Err(e) => return ctx.error_page(e),
    };
    let tz = lock.time_zone.clone();
    ctx.render(
        StatusCode::OK,
        UsersPage {
            c: ctx.common_with(notice_text(&n.done)),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            members: members
                .iter()
                .map(|mr| MemberItem::new(&api::member_wire(mr, acked)))
                .collect(),
            invitations: invitations
                .iter()
                .map(api::invitation_wire)
                .filter(|i| i.status == m::InvitationStatus::Pending)
                .map(|i| InvitationItem::new(&i, &tz))
                .collect(),
            keys: keys
                .iter()
                .map(|k| {
                    let wire = api::guest_key_wire(k, &lock, m::SmsState::None, ctx.now);
                    KeyItem {
                        id: wire.id.clone(),
                        name: wire.name.clone(),
                        status: wire_str(&wire.status),
                        live: matches!(wire.status, m::GuestKeyStatus::Scheduled | m::GuestKeyStatus::Active),
                        window: format!(
                            "{} – {}",
                            local_time(Timestamp::from_millisecond(k.starts_at).unwrap_or(ctx.now), &tz),
                            local_time(Timestamp::from_millisecond(k.ends_at).unwrap_or(ctx.now), &tz)
                        ),
                        one_time: wire.one_time,
                    }
                })
                .collect(),
        },
    )
}

/// Loads the lock as its Admin, for the Admin-only pages.
async fn admin_lock(s: &AppState, ctx: &Ctx, lock_id: &str) -> Result<crate::store::LockRow, Response> {
    let caller = ctx.need_caller()?;
    let member = s.domain.lock(caller, lock_id).await.map_err(|e| ctx.error_page(e))?;
    member.admin().map(|a| a.lock().clone()).map_err(|e| ctx.error_page(e))
}

async fn invite_page(State(s): State<AppState>, headers: HeaderMap, Path(lock_id): Path<String>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let lock = match admin_lock(&s, &ctx, &lock_id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    ctx.render(
        StatusCode::OK,
        InvitePage {
            c: ctx.common(),
            lock_id: lock.id,
        },
    )
}

async fn invite_member_page(State(s): State<AppState>, headers: HeaderMap, Path(lock_id): Path<String>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let lock = match admin_lock(&s, &ctx, &lock_id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let form = MemberForm {
        access_level: "family".into(),
        country: ctx.caller.as_ref().map(caller_country).unwrap_or_default(),
        ..Default::default()
    };
    ctx.render(
        StatusCode::OK,
        InviteMemberPage {
            c: ctx.common(),
            lock_id: lock.id,
            days: form.days(),
            form,
            errors: FormErrors::default(),
        },
    )
}

async fn invite_member(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    let level = f.level();
    let schedule = f.schedule();
    let result = match level {
        Some(level) => {
            s.domain
                .invite(
                    caller,
                    &lock_id,
                    &crate::domain::types::PhoneNumber::in_country(&f.phone, &f.country),
                    level,
                    schedule.as_ref(),
                    ctx.now,
                )
                .await
        }
        None => Err(Error::invalid("access_level", "choose an access level")),
    };
    match result {
        Ok(_) => ctx.redirect(&format!("/locks/{lock_id}/users?done=invited")),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e);
            let mut c = ctx.common();
            c.problem = problem;
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                InviteMemberPage {
                    c,
                    lock_id,
                    days: f.days(),
                    form: f.without_csrf(),
                    errors,
                },
            )
        }
        Err(e) => ctx.error_page(e),
    }
}

async fn guest_key_page(State(s): State<AppState>, headers: HeaderMap, Path(lock_id): Path<String>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let lock = match admin_lock(&s, &ctx, &lock_id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    // Defaults: from the next full hour, for a day, in the lock's local time.
    let tz = lock.time_zone.clone();
    let next_hour = Timestamp::from_second((ctx.now.as_second() / 3600 + 1) * 3600).unwrap_or(ctx.now);
    let fmt = |t: Timestamp| t.to_zoned_datetime(tz.zone()).strftime("%Y-%m-%dT%H:%M").to_string();
    let form = GuestKeyForm {
        country: ctx.caller.as_ref().map(caller_country).unwrap_or_default(),
        starts_at: fmt(next_hour),
        ends_at: fmt(next_hour + jiff::SignedDuration::from_hours(24)),
        ..Default::default()
    };
    ctx.render(
        StatusCode::OK,
        GuestKeyNewPage {
            c: ctx.common(),
            lock_id: lock.id,
            time_zone: tz.as_str().to_string(),
            form,
            errors: FormErrors::default(),
        },
    )
}

async fn create_guest_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Form(f): Form<GuestKeyForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    let req = GuestKeyRequest {
        name: f.name.clone(),
        phone: Some(crate::domain::types::PhoneNumber::in_country(&f.phone, &f.country)).filter(|p| !p.is_empty()),
        starts_at: f.starts_at.clone(),
        ends_at: f.ends_at.clone(),
        one_time: f.one_time.is_some(),
        precautions_accepted: f.precautions_accepted.is_some(),
    };
    match s.domain.create_guest_key(caller, &lock_id, &req, ctx.now).await {
        Ok(row) => {
            let lock = match s.domain.lock(caller, &lock_id).await {
                Ok(m) => m.lock,
                Err(e) => return ctx.error_page(e),
            };
            let tz = lock.time_zone.clone();
            let sms = match (&row.phone, &row.sms_id) {
                (Some(phone), Some(_)) => format!("We are texting the code to {phone}."),
                _ => "No SMS was sent: read the code to your guest.".to_string(),
            };
            ctx.render(
                StatusCode::CREATED,
                GuestKeyDonePage {
                    c: ctx.common(),
                    lock_id,
                    name: row.name.clone(),
                    code_spaced: spaced(&row.code),
                    instructions: instructions(&row.code),
                    window: format!(
                        "Valid {} – {} ({})",
                        local_time(Timestamp::from_millisecond(row.starts_at).unwrap_or(ctx.now), &tz),
                        local_time(Timestamp::from_millisecond(row.ends_at).unwrap_or(ctx.now), &tz),
                        tz.as_str()
                    ),
                    one_time: row.one_time,
                    sms,
                },
            )
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e);
            let mut c = ctx.common();
            c.problem = problem;
            let tz = s
                .domain
                .lock(caller, &lock_id)
                .await
                .map(|m| m.lock.time_zone.as_str().to_string())
                .unwrap_or_default();
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                GuestKeyNewPage {
                    c,
                    lock_id,
                    time_zone: tz,
                    form: GuestKeyForm {
                        csrf: String::new(),
                        ..f
                    },
                    errors,
                },
            )
        }
        Err(e) => ctx.error_page(e),
    }
}

async fn revoke_guest_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, key_id)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.revoke_guest_key(caller, &lock_id, &key_id, ctx.now).await {
        Ok(()) => ctx.redirect(&format!("/locks/{lock_id}/users?done=revoked")),
        Err(e) => ctx.error_page(e),
    }
}

async fn revoke_invitation(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, id)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.revoke_invitation(caller, &lock_id, &id, ctx.now).await {
        Ok(()) => ctx.redirect(&format!("/locks/{lock_id}/users?done=revoked")),
        Err(e) => ctx.error_page(e),
    }
}

/// The member the page is about, as the caller may see it: Admins see anyone of the lock,
/// others only themselves.
async fn visible_member(
    s: &AppState,
    ctx: &Ctx,
    lock_id: &str,
    account_id: &str,
) -> Result<(MemberItem, bool), Response> {
    let caller = ctx.need_caller()?;
    let me = s.domain.lock(caller, lock_id).await.map_err(|e| ctx.error_page(e))?;
    let is_admin = me.level() == AccessLevel::Admin;
    if account_id == caller.id() {
        return Ok((
            MemberItem::new(&api::member_wire(&me.member, me.lock.acked_version)),
            is_admin,
        ));
    }
    if !is_admin {
        return Err(ctx.error_page(Error::NotFound("member")));
    }
    let (members, acked) = s.domain.members(caller, lock_id).await.map_err(|e| ctx.error_page(e))?;
    members
        .iter()
        .find(|m| m.account_id == account_id)
        .map(|mr| (MemberItem::new(&api::member_wire(mr, acked)), true))
        .ok_or_else(|| ctx.error_page(Error::NotFound("member")))
}

async fn member_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, account_id)): Path<(String, String)>,
    Query(n): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let (member, is_admin) = match visible_member(&s, &ctx, &lock_id, &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = MemberForm::from_member(&member);
    render_member(
        &ctx,
        StatusCode::OK,
        notice_text(&n.done),
        "",
        lock_id,
        member,
        is_admin,
        form,
        FormErrors::default(),
    )
}

#[allow(clippy::too_many_arguments)]
fn render_member(
    ctx: &Ctx,
    status: StatusCode,
    notice: &str,
    problem: &str,
    lock_id: String,
    member: MemberItem,
    is_admin: bool,
    form: MemberForm,
    errors: FormErrors,
) -> Response {
    let mut c = ctx.common_with(notice);
    c.problem = problem.to_string();
    let is_self = ctx.caller.as_ref().is_some_and(|me| me.id() == member.account_id);
    ctx.render(
        status,
        MemberPage {
            c,
            lock_id,
            is_admin,
            is_self,
            days: form.days(),
            member,
            form,
            errors,
        },
    )
}

async fn member_access(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, account_id)): Path<(String, String)>,
    Form(f): Form<MemberForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    let patch = MemberPatch {
        access_level: f.level(),
        schedule: f.schedule(),
    };
    match s
        .domain
        .patch_member(caller, &lock_id, &account_id, &patch, ctx.now)
        .await
    {
        Ok(_) => ctx.redirect(&format!("/locks/{lock_id}/members/{account_id}?done=saved")),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (member, is_admin) = match visible_member(&s, &ctx, &lock_id, &account_id).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let (errors, problem) = form_failure(e);
            render_member(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
                &problem,
                lock_id,
                member,
                is_admin,
                f.without_csrf(),
                errors,
            )
        }
        Err(e) => ctx.error_page(e),
    }
}

#[derive(Deserialize)]
struct PinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pin: String,
}

async fn member_pin(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, account_id)): Path<(String, String)>,
    Form(f): Form<PinForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s
        .domain
        .set_pin(caller, &lock_id, &account_id, f.pin.trim(), ctx.now)
        .await
    {
        Ok(()) => ctx.redirect(&format!("/locks/{lock_id}/members/{account_id}?done=pin")),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (member, is_admin) = match visible_member(&s, &ctx, &lock_id, &account_id).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let (mut errors, problem) = form_failure(e);
            if !problem.is_empty() {
                // A PIN conflict is about the PIN field.
                errors.add("pin", &problem);
            }
            let form = MemberForm::from_member(&member);
            render_member(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
                "",
                lock_id,
                member,
                is_admin,
                form,
                errors,
            )
        }
        Err(e) => ctx.error_page(e),
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn member_remove(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((lock_id, account_id)): Path<(String, String)>,
    Form(f): Form<RemoveForm>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    let leaving = account_id == caller.id();
    if f.confirm.is_none() {
        let (member, is_admin) = match visible_member(&s, &ctx, &lock_id, &account_id).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let mut errors = FormErrors::default();
        errors.add("confirm", "Tick the box to confirm.");
        let form = MemberForm::from_member(&member);
        return render_member(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            "",
            lock_id,
            member,
            is_admin,
            form,
            errors,
        );
    }
    match s.domain.remove_member(caller, &lock_id, &account_id, ctx.now).await {
        Ok(()) if leaving => ctx.redirect("/locks?done=left"),
        Ok(()) => ctx.redirect(&format!("/locks/{lock_id}/users?done=removed")),
        Err(e) => ctx.error_page(e),
    }
}

async fn activity_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(lock_id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let lock = match admin_lock(&s, &ctx, &lock_id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Some(caller) = ctx.caller.as_ref() else {
        return ctx.redirect("/");
    };
    const PAGE: i64 = 50;
    let events = match s.domain.events(caller, &lock_id, Some(PAGE), n.before.as_deref()).await {
        Ok(e) => e,
        Err(e) => return ctx.error_page(e),
    };
    let tz = lock.time_zone.clone();
    let older = if events.len() as i64 == PAGE {
        events.last().map(|e| e.id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    ctx.render(
        StatusCode::OK,
        ActivityPage {
            c: ctx.common(),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            events: events
                .iter()
                .map(|e| EventItem::new(&api::event_wire(e), e.at, &tz))
                .collect(),
            older,
        },
    )
}

async fn invitations_page(State(s): State<AppState>, headers: HeaderMap, Query(n): Query<Notice>) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rows = match s.domain.my_invitations(caller, ctx.now).await {
        Ok(r) => r,
        Err(e) => return ctx.error_page(e),
    };
    ctx.render(
        StatusCode::OK,
        InvitationsPage {
            c: ctx.common_with(notice_text(&n.done)),
            invitations: rows
                .iter()
                .map(|i| InvitationItem::new(&api::invitation_wire(i), &TimeZoneName::utc()))
                .collect(),
        },
    )
}

async fn accept_invitation(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.accept_invitation(caller, &id, ctx.now).await {
        Ok((member, _)) => ctx.redirect(&format!("/locks/{}?done=accepted", member.lock_id)),
        Err(e) => ctx.error_page(e),
    }
}

async fn decline_invitation(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let ctx = Ctx::new(&s, &headers).await;
    let caller = match ctx.need_caller() {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.bad_csrf();
    }
    match s.domain.decline_invitation(caller, &id, ctx.now).await {
        Ok(_) => ctx.redirect("/invitations?done=declined"),
        Err(e) => ctx.error_page(e),
    }
}

/// Splits a domain failure into field errors and a message for the top of the form.
fn form_failure(e: Error) -> (FormErrors, String) {
    match e {
        Error::Invalid(fe) => (FormErrors::from(fe), String::new()),
        Error::Conflict(m) | Error::Forbidden(m) | Error::BadRequest(m) | Error::Unavailable(m) | Error::Timeout(m) => {
            (FormErrors::default(), m)
        }
        Error::NotFound(what) => (FormErrors::default(), format!("This {what} does not exist.")),
        Error::RateLimited { retry_after } => (
            FormErrors::default(),
            format!("Too many attempts; try again in {retry_after} seconds."),
        ),
        Error::Unauthenticated => (FormErrors::default(), "Sign in again.".into()),
        Error::Internal(m) => {
            tracing::error!(error = %m, "internal error on a form");
            (
                FormErrors::default(),
                "Something went wrong on our side; try again.".into(),
            )
        }
    }
}

/// `123456789012` as `1234 5678 9012`, easier to read out.
fn spaced(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
