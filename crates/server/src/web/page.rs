//! What every page has in common, once: the request's context (`Page`: the domain, the caller,
//! the CSRF token, the time), the signed-in caller
//! (`SignedIn`), forms that carry the CSRF token of their cookie (`CsrfForm`), rendering, and
//! domain errors as pages, with the statuses of the API's one mapping (`api::error::status_of`).
//! Each extractor answers with a rendered page when it refuses, so a handler starts with what
//! it needs already checked.

use std::convert::Infallible;
use std::ops::Deref;

use askama::Template;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::i18n::Tr;
use super::views::{Common, FormErrors, MessagePage};
use crate::api::error::status_of;
use crate::api::extract::cookie;
use crate::app::AppState;
use crate::domain::{Caller, Domain, Error};

/// The cookies' names: `__Host-` prefixed when the site is served over https (the browser then
/// refuses them from a sibling subdomain or plain HTTP, and they hold only with `Secure`,
/// `Path=/` and no `Domain`); plain names on an http development server, where browsers would
/// refuse `__Host-` cookies.
#[derive(Clone, Copy)]
pub struct CookieNames {
    pub session: &'static str,
    /// The anonymous visitor's pre-session (the sign-in forms' CSRF token is derived from it).
    pub pre: &'static str,
}

impl CookieNames {
    pub fn new(secure: bool) -> CookieNames {
        if secure {
            CookieNames {
                session: SECURE_SESSION_COOKIE,
                pre: SECURE_PRE_COOKIE,
            }
        } else {
            CookieNames {
                session: SESSION_COOKIE,
                pre: PRE_COOKIE,
            }
        }
    }
}

/// The session cookie over http (a development server).
pub const SESSION_COOKIE: &str = "latchkey_session";
/// The session cookie over https.
pub const SECURE_SESSION_COOKIE: &str = "__Host-latchkey_session";
/// The pre-session cookie, over https and over http.
pub const SECURE_PRE_COOKIE: &str = "__Host-latchkey_pre";
pub const PRE_COOKIE: &str = "latchkey_pre";

/// The CSRF token of a secret (the session token, or the anonymous pre-session): a digest, so
/// the token in a page reveals nothing of the cookie, and it cannot be chosen by anyone who
/// does not hold the secret. A new session (sign-in) makes a new token.
fn csrf_of(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"latchkey web csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// What a handler answers: a page either way (`Err` for one that stops it early).
pub type PageResult = Result<Response, Response>;

/// What every page needs: the caller (if signed in), the CSRF token, cookies to set, the time.
#[derive(Clone)]
pub struct Page {
    pub domain: Domain,
    pub caller: Option<Caller>,
    pub csrf: String,
    set_cookies: Vec<String>,
    secure: bool,
    names: CookieNames,
    /// `scheme://host[:port]` of the public URL, the one origin forms may come from.
    public_origin: String,
    pub now: Timestamp,
    /// The reader's language and clock (the account's setting, else the browser's).
    pub tr: Tr,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Infallible;

    /// Made once per request: the extractors after the first reuse it.
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Page, Infallible> {
        if let Some(page) = parts.extensions.get::<Page>() {
            return Ok(page.clone());
        }
        let page = Page::new(s, &parts.headers).await;
        parts.extensions.insert(page.clone());
        Ok(page)
    }
}

impl Page {
    async fn new(s: &AppState, headers: &HeaderMap) -> Page {
        let secure = s.domain.settings.public_url.starts_with("https://");
        let names = CookieNames::new(secure);
        let now = s.now();
        let mut set_cookies = Vec::new();
        let session = cookie(headers, names.session);
        let caller = match &session {
            Some(token) => s.domain.authenticate(token, now).await.ok(),
            None => None,
        };
        // Signed in: the token is the session's. Anonymous (the sign-in forms): a pre-session
        // cookie's, made here when there is none.
        let csrf = match (&session, &caller) {
            (Some(token), Some(_)) => csrf_of(token),
            _ => {
                let pre = cookie(headers, names.pre)
                    .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
                    .unwrap_or_else(|| {
                        let v = hex::encode(s.domain.random::<16>());
                        set_cookies.push(cookie_header(names.pre, &v, secure, None));
                        v
                    });
                csrf_of(&pre)
            }
        };
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let setting = caller.as_ref().and_then(|c| c.account.locale.clone());
        let tr = Tr::negotiate(setting.as_deref(), accept);
        Page {
            tr,
            domain: s.domain.clone(),
            caller,
            csrf,
            set_cookies,
            secure,
            names,
            public_origin: origin_of(&s.domain.settings.public_url),
            now,
        }
    }

    pub fn common(&self) -> Common {
        Common {
            signed_in: self.caller.is_some(),
            csrf: self.csrf.clone(),
            notice: String::new(),
            problem: String::new(),
            tr: self.tr,
        }
    }

    /// With a confirmation of our own wording (`notice_text`).
    pub fn common_with(&self, notice: &str) -> Common {
        Common {
            notice: notice.to_string(),
            ..self.common()
        }
    }

    /// With a problem that belongs to no single field.
    pub fn common_with_problem(&self, problem: String) -> Common {
        Common {
            problem,
            ..self.common()
        }
    }

    /// A fresh idempotency key for a form that creates something.
    pub fn new_form_key(&self) -> String {
        hex::encode(self.domain.random::<16>())
    }

    /// Whether a form's token is the cookie's.
    fn csrf_ok(&self, submitted: &str) -> bool {
        submitted.len() == self.csrf.len() && bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// Signs the browser in: the session cookie for `max_age` seconds. The CSRF token is the
    /// new session's from now on, and the anonymous pre-session is replaced, so nothing chosen
    /// before sign-in carries over.
    pub fn remember_session(&mut self, token: &str, max_age: i64) {
        let c = cookie_header(self.names.session, token, self.secure, Some(max_age));
        self.set_cookies.push(c);
        let pre = hex::encode(self.domain.random::<16>());
        self.set_cookies
            .push(cookie_header(self.names.pre, &pre, self.secure, None));
        self.csrf = csrf_of(token);
    }

    /// Signs the browser out: the session cookie cleared.
    pub fn forget_session(&mut self) {
        let c = cookie_header(self.names.session, "", self.secure, Some(0));
        self.set_cookies.push(c);
    }

    /// Whether a POST comes from our own pages: a browser's `Sec-Fetch-Site` must be
    /// `same-origin` (or `none`); without it, an `Origin` must be ours (the public URL's, or
    /// that of the `Host` the browser used). Requests that send neither (old browsers,
    /// scripts) rely on the session-bound token alone.
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        // A browser that says where the request comes from is believed first (with our
        // `Referrer-Policy: no-referrer` Chrome sends `Origin: null` even from our own pages).
        if let Some(site) = text("sec-fetch-site") {
            return matches!(site, "same-origin" | "none");
        }
        match text("origin") {
            None | Some("null") => true,
            Some(origin) => {
                let host = text("host").unwrap_or("");
                origin == self.public_origin
                    || (!host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}")))
            }
        }
    }

    pub fn render(&self, status: StatusCode, t: impl Template) -> Response {
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

    pub fn redirect(&self, to: &str) -> Response {
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

    /// A page about a failure that is not a form field's, with the API's status for it.
    pub fn error_page(&self, e: Error) -> Response {
        if matches!(e, Error::Unauthenticated) {
            return self.redirect("/");
        }
        let (heading, text) = wording(&e, self.tr);
        self.render(
            status_of(&e),
            MessagePage {
                c: self.common(),
                heading,
                text,
                next: if self.caller.is_some() { "/locks" } else { "/" }.into(),
                next_label: self.tr.t("continue"),
            },
        )
    }

    fn bad_csrf(&self) -> Response {
        self.render(
            StatusCode::FORBIDDEN,
            MessagePage {
                c: self.common(),
                heading: self.tr.t("error-csrf-heading"),
                text: self.tr.t("error-csrf-text"),
                next: "/".into(),
                next_label: self.tr.t("error-start-again"),
            },
        )
    }
}

/// A domain result, or the page about its error.
pub trait OrPage<T> {
    fn or_page(self, page: &Page) -> Result<T, Response>;
}

impl<T> OrPage<T> for Result<T, Error> {
    fn or_page(self, page: &Page) -> Result<T, Response> {
        self.map_err(|e| page.error_page(e))
    }
}

/// A signed-in caller, with the page; anyone else is sent to the sign-in page.
pub struct SignedIn {
    pub page: Page,
    pub caller: Caller,
}

impl Deref for SignedIn {
    type Target = Page;

    fn deref(&self) -> &Page {
        &self.page
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<SignedIn, Response> {
        let Ok(page) = Page::from_request_parts(parts, s).await;
        match page.caller.clone() {
            Some(caller) => Ok(SignedIn { page, caller }),
            // A link opened while signed out is where sign-in leads back to.
            None if parts.method == axum::http::Method::GET => {
                let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next = super::sign_in::safe_next(path);
                if next.is_empty() || next == "/" {
                    Err(page.redirect("/"))
                } else {
                    Err(page.redirect(&format!("/?next={}", super::sign_in::url_encode(&next))))
                }
            }
            None => Err(page.redirect("/")),
        }
    }
}

/// A form whose `csrf` field matches the CSRF cookie (double submit); anything else is refused
/// with a page. `T` holds the form's other fields.
pub struct CsrfForm<T>(pub T);

/// No fields besides the token (a button).
#[derive(Deserialize)]
pub struct Button {}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<CsrfForm<T>, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(page) = Page::from_request_parts(&mut parts, s).await;
        let headers = parts.headers.clone();
        let Form(f) = Form::<WithCsrf<T>>::from_request(Request::from_parts(parts, body), s)
            .await
            .map_err(IntoResponse::into_response)?;
        if !page.csrf_ok(&f.csrf) || !page.same_origin(&headers) {
            return Err(page.bad_csrf());
        }
        Ok(CsrfForm(f.form))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
        }
        None => String::new(),
    }
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

/// The heading and text a page shows for an error, in the reader's language (the API keeps
/// its English problem texts; a domain message is translated when the catalogue has it).
fn wording(e: &Error, tr: Tr) -> (String, String) {
    match e {
        Error::Unauthenticated => (tr.t("error-sign-in-again"), tr.t("error-sign-in-again-text")),
        Error::NotFound(what) => (
            tr.t("error-not-found"),
            tr.t1("error-not-found-text", "what", tr.thing(what)),
        ),
        Error::Forbidden(m) => (tr.t("error-not-allowed"), tr.domain_message(m)),
        Error::Conflict(m) | Error::BadRequest(m) => (tr.t("error-did-not-work"), tr.domain_message(m)),
        Error::Invalid(fe) => (
            tr.t("error-did-not-work"),
            fe.0.iter()
                .map(|f| tr.domain_message(&f.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Error::RateLimited { retry_after } => (
            tr.t("error-too-many"),
            tr.t1("error-too-many-text", "seconds", retry_after),
        ),
        Error::Unavailable(m) => (tr.t("error-unavailable"), tr.domain_message(m)),
        Error::Timeout(m) => (tr.t("error-timeout"), tr.domain_message(m)),
        Error::Internal(m) => {
            // Logged once, here, where it becomes a page.
            tracing::error!(error = %m, "internal error on a page");
            (tr.t("error-internal"), tr.t("error-internal-text"))
        }
    }
}

/// Splits a domain failure into field errors and a message for the top of the form.
pub fn form_failure(e: Error, tr: Tr) -> (FormErrors, String) {
    match e {
        Error::Invalid(fe) => (FormErrors::from_domain(fe, tr), String::new()),
        Error::RateLimited { retry_after } => (
            FormErrors::default(),
            tr.t1("error-too-many-form", "seconds", retry_after),
        ),
        e => (FormErrors::default(), wording(&e, tr).1),
    }
}

/// Only the messages we wrote ourselves are shown after a redirect (never user text).
#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    pub done: String,
}

/// The confirmation of a `?done=` code, empty for an unknown one.
pub fn notice_text(code: &str, tr: Tr) -> String {
    let id = match code {
        "invited" => "notice-invited",
        "unlocked" => "notice-unlocked",
        "locked" => "notice-locked",
        "pin" => "notice-pin",
        "saved" => "notice-saved",
        "removed" => "notice-removed",
        "revoked" => "notice-revoked",
        "accepted" => "notice-accepted",
        "declined" => "notice-declined",
        "paired" => "notice-paired",
        "left" => "notice-left",
        "resent" => "notice-resent",
        _ => return String::new(),
    };
    tr.t(id)
}

/// The country of the signed-in person's own number, the likeliest for the numbers they type.
pub fn caller_country(caller: &Caller) -> String {
    caller.account.phone.country().unwrap_or_default()
}
