//! The installable app's offline half: "offline guest keys on this device" for Admins, the
//! offline page the service worker shows when the server cannot be reached, and recording the
//! keys a device minted meanwhile (`docs/design/offline-guest-keys.md`).
//!
//! Turning offline keys on registers a guest-code issuer for the device through the domain
//! (`Domain::create_issuer`, what `POST /locks/{id}/issuers` does) and hands its file to the
//! page once; `static/offline.js` keeps it in the browser's storage. With no connection,
//! `static/offline.html` (cached by `static/sw.js`) mints codes with the guest-code crate
//! compiled to WebAssembly; back online, `offline.js` reports each to `record`, which the
//! domain checks by minting the code again from the lock's root secret.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn};
use super::views::Common;
use crate::api::error::status_of;
use crate::domain::Error;
use crate::domain::guest_keys::OfflineKeyRequest;
use crate::domain::ts;

const OFFLINE_HTML: &str = include_str!("../../static/offline.html");
const OFFLINE_JS: &str = include_str!("../../static/offline.js");
const SW_JS: &str = include_str!("../../static/sw.js");
const MANIFEST: &str = include_str!("../../static/manifest.webmanifest");
const ICON_SVG: &str = include_str!("../../static/icons/icon.svg");
const ICON_192: &[u8] = include_bytes!("../../static/icons/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../static/icons/icon-512.png");
const GUEST_CODE_JS: &str = include_str!("../../../guest-code-wasm/web/guest-code.mjs");
const GUEST_CODE_WASM: &[u8] = include_bytes!("../../../guest-code-wasm/web/guest-code.wasm");

/// One device issuer, as the page lists it.
pub struct IssuerItem {
    pub id: String,
    pub label: String,
    pub created: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "offline_keys.html")]
pub struct OfflineKeysPage {
    pub c: Common,
    pub lock_id: String,
    pub lock_name: String,
    pub time_zone: String,
    pub issuers: Vec<IssuerItem>,
    /// Set once, right after turning offline keys on: the issuer and its file, which
    /// `offline.js` stores in this browser. Never shown again.
    pub new_issuer_id: String,
    pub new_issuer_file: String,
    /// An issuer just revoked: `offline.js` forgets its file.
    pub revoked_issuer_id: String,
}

#[derive(Deserialize)]
pub struct TurnOn {
    #[serde(default)]
    pub label: String,
}

#[derive(Deserialize, Default)]
pub struct Revoked {
    #[serde(default)]
    pub revoked: String,
}

async fn page_for(
    me: &SignedIn,
    lock_id: &str,
    notice: &str,
    new_issuer: Option<(String, String)>,
    revoked: String,
) -> PageResult {
    let (rows, lock) = me.domain.issuers(&me.caller, lock_id).await.or_page(me)?;
    let tz = &lock.time_zone;
    let issuers = rows
        .iter()
        .map(|r| IssuerItem {
            id: r.id.clone(),
            label: r.label.clone(),
            created: me.tr.at(ts(r.created_at), tz),
            revoked: r.revoked_at.is_some(),
        })
        .collect();
    let (new_issuer_id, new_issuer_file) = new_issuer.unwrap_or_default();
    Ok(me.render(
        StatusCode::OK,
        OfflineKeysPage {
            c: me.common_with(notice),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            time_zone: tz.as_str().to_string(),
            issuers,
            new_issuer_id,
            new_issuer_file,
            revoked_issuer_id: revoked,
        },
    ))
}

/// `GET /locks/{id}/offline-keys`: Admins only (the domain says who is one).
pub(super) async fn page(
    me: SignedIn,
    Path(lock_id): Path<String>,
    Query(n): Query<Notice>,
    Query(r): Query<Revoked>,
) -> PageResult {
    let notice = match n.done.as_str() {
        "revoked" => me.tr.t("offline-notice-revoked"),
        _ => String::new(),
    };
    // Only an id the page lists is passed on to the script.
    let revoked = if r
        .revoked
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        r.revoked
    } else {
        String::new()
    };
    page_for(&me, &lock_id, &notice, None, revoked).await
}

/// `POST /locks/{id}/offline-keys`: registers an issuer for this device. The answer carries
/// its file for the script to keep; it is rendered, not redirected, because the file is never
/// shown again.
pub(super) async fn turn_on(me: SignedIn, Path(lock_id): Path<String>, CsrfForm(f): CsrfForm<TurnOn>) -> PageResult {
    let label = Some(f.label.as_str()).filter(|l| !l.trim().is_empty());
    match me.domain.create_issuer(&me.caller, &lock_id, label, me.now).await {
        Ok((row, file)) => {
            page_for(
                &me,
                &lock_id,
                &me.tr.t("offline-notice-on"),
                Some((row.id, file)),
                String::new(),
            )
            .await
        }
        Err(e) => Err(me.error_page(e)),
    }
}

/// `POST /locks/{id}/offline-keys/{issuer}/revoke`: every code the issuer made stops working.
pub(super) async fn revoke(
    me: SignedIn,
    Path((lock_id, issuer_id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<Button>,
) -> PageResult {
    me.domain
        .delete_issuer(&me.caller, &lock_id, &issuer_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!(
        "/locks/{lock_id}/offline-keys?done=revoked&revoked={issuer_id}"
    )))
}

#[derive(Deserialize)]
pub struct RecordForm {
    pub name: String,
    pub code: String,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub one_time: Option<String>,
}

/// `POST /locks/{id}/offline-keys/{issuer}/keys`: records a key the device minted offline.
/// Called by `offline.js` (a form body with the page's CSRF token); answers JSON: 201 with the
/// key's id and page, or the error's status with its message, so the script knows whether to
/// try again (5xx, no answer) or give up on that key (4xx).
pub(super) async fn record(
    me: SignedIn,
    Path((lock_id, issuer_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<RecordForm>,
) -> Response {
    let req = OfflineKeyRequest {
        name: f.name,
        code: f.code,
        starts_at: f.starts_at,
        ends_at: f.ends_at,
        one_time: f.one_time.is_some_and(|v| !v.is_empty() && v != "false"),
    };
    match me
        .domain
        .record_offline_key(&me.caller, &lock_id, &issuer_id, &req, me.now)
        .await
    {
        Ok(row) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "id": row.id,
                "url": format!("/locks/{lock_id}/guest-keys/{}", row.id),
            })),
        )
            .into_response(),
        Err(e) => {
            let status = status_of(&e);
            let message = match &e {
                Error::Invalid(fe) => {
                    fe.0.iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
                Error::Internal(_) => "something went wrong; try again".to_string(),
                e => e.to_string(),
            };
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}

fn asset(kind: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            // Short: the service worker keeps its own copy, refreshed when it is updated.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The page the service worker shows when the server cannot be reached.
pub(super) async fn offline_page() -> Response {
    asset("text/html; charset=utf-8", OFFLINE_HTML)
}

pub(super) async fn offline_js() -> Response {
    asset("text/javascript; charset=utf-8", OFFLINE_JS)
}

/// The service worker, at the root so that its scope is the whole app; never cached by HTTP
/// (browsers check it for updates on navigation).
pub(super) async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SW_JS,
    )
        .into_response()
}

pub(super) async fn manifest() -> Response {
    asset("application/manifest+json", MANIFEST)
}

pub(super) async fn icon_svg() -> Response {
    asset("image/svg+xml", ICON_SVG)
}

pub(super) async fn icon_192() -> Response {
    asset("image/png", ICON_192)
}

pub(super) async fn icon_512() -> Response {
    asset("image/png", ICON_512)
}

pub(super) async fn guest_code_js() -> Response {
    asset("text/javascript; charset=utf-8", GUEST_CODE_JS)
}

pub(super) async fn guest_code_wasm() -> Response {
    asset("application/wasm", GUEST_CODE_WASM)
}
