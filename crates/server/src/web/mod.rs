//! The web app: server-rendered pages over the same domain as the API.
//!
//! Every page works without JavaScript (`static/app.js` only enhances: live parts, sharing,
//! confirmations), but for offline guest keys (`offline.rs`), which are made in the browser.
//! Templates are askama files in
//! `crates/server/templates`, compiled into the binary and HTML-escaped by default; the style
//! sheet is embedded too. The session is the API's session, carried in an HttpOnly, SameSite=Lax
//! cookie (`Secure` when the public URL is https). Every form carries a CSRF token that must
//! equal the `latchkey_csrf` cookie (double submit); a cross-site page can neither read the
//! cookie nor, with SameSite=Lax, send the session along with a POST.
//!
//! `page.rs` holds what every page shares (the `Page`, `SignedIn` and `CsrfForm` extractors,
//! rendering, errors as pages); the pages are one file per area: `sign_in`, `locks`,
//! `members`, `invitations`, `guest_keys`, `calendars`, `activity`. No rule lives here: who may see or do
//! what is the domain's.

// Handlers return early with a ready page (`Result<_, Response>`); boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod activity;
mod calendars;
mod guest_keys;
pub mod i18n;
mod invitations;
mod live;
mod locks;
mod members;
mod notifications;
mod offline;
mod page;
mod profile;
mod sign_in;
mod views;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;

pub use page::{PRE_COOKIE, SESSION_COOKIE};

const STYLE: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in::home))
        .route("/static/app.css", get(style))
        .route("/static/app.js", get(script))
        .route("/sw.js", get(offline::service_worker))
        .route("/offline", get(offline::offline_page))
        .route("/static/offline.js", get(offline::offline_js))
        .route("/static/manifest.webmanifest", get(offline::manifest))
        .route("/static/icons/icon.svg", get(offline::icon_svg))
        .route("/static/icons/icon-192.png", get(offline::icon_192))
        .route("/static/icons/icon-512.png", get(offline::icon_512))
        .route("/static/guest-code.mjs", get(offline::guest_code_js))
        .route("/static/guest-code.wasm", get(offline::guest_code_wasm))
        .route("/static/messages/{file}", get(i18n::js_messages_file))
        .route("/sign-in/phone", post(sign_in::phone))
        .route("/sign-in/code", post(sign_in::code))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/profile", get(profile::profile_page).post(profile::save))
        .route("/locks", get(locks::locks_page).post(locks::pair_lock))
        .route("/locks/{lock_id}", get(locks::lock_page))
        .route("/locks/{lock_id}/unlock", post(locks::unlock))
        .route("/locks/{lock_id}/lock", post(locks::lock))
        .route("/locks/{lock_id}/live", get(live::lock_stream))
        .route("/locks/{lock_id}/users", get(members::users_page))
        .route("/locks/{lock_id}/invite", get(invitations::invite_page))
        .route(
            "/locks/{lock_id}/invite/member",
            get(invitations::invite_member_page).post(invitations::invite_member),
        )
        .route(
            "/locks/{lock_id}/guest-keys/new",
            get(guest_keys::new_page).post(guest_keys::create),
        )
        .route("/locks/{lock_id}/guest-keys/{key_id}", get(guest_keys::key_page))
        .route("/locks/{lock_id}/guest-keys/{key_id}/revoke", post(guest_keys::revoke))
        .route("/locks/{lock_id}/guest-keys/{key_id}/extend", post(guest_keys::extend))
        .route("/locks/{lock_id}/guest-keys/{key_id}/resend", post(guest_keys::resend))
        .route(
            "/locks/{lock_id}/invitations/{id}/resend",
            post(members::resend_invitation),
        )
        .route("/locks/{lock_id}/invitations/{id}/revoke", post(invitations::revoke))
        .route("/locks/{lock_id}/members/{account_id}", get(members::member_page))
        .route("/locks/{lock_id}/members/{account_id}/access", post(members::access))
        .route("/locks/{lock_id}/members/{account_id}/pin", post(members::pin))
        .route("/locks/{lock_id}/members/{account_id}/remove", post(members::remove))
        .route("/locks/{lock_id}/activity", get(activity::activity_page))
        .route(
            "/locks/{lock_id}/notifications",
            get(notifications::page).post(notifications::save),
        )
        .route(
            "/locks/{lock_id}/offline-keys",
            get(offline::page).post(offline::turn_on),
        )
        .route(
            "/locks/{lock_id}/offline-keys/{issuer_id}/revoke",
            post(offline::revoke),
        )
        .route("/locks/{lock_id}/offline-keys/{issuer_id}/keys", post(offline::record))
        .route("/locks/{lock_id}/calendars", get(calendars::page).post(calendars::add))
        .route("/locks/{lock_id}/calendars/{id}/sync", post(calendars::read_now))
        .route("/locks/{lock_id}/calendars/{id}/remove", post(calendars::remove))
        .route("/invitations", get(invitations::invitations_page))
        .route("/invitations/{id}/accept", post(invitations::accept))
        .route("/invitations/{id}/decline", post(invitations::decline))
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
