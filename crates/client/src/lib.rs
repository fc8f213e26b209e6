//! A typed client for the Latchkey HTTP API (`spec/api.md`), used by the CLI, the load tool and
//! the tests. It knows nothing of the server's internals: only paths and JSON bodies.

pub mod model;

use model::*;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status and (usually) a problem+json body.
    #[error("HTTP {status}: {}", problem.as_ref().map(|p| p.detail.as_str()).unwrap_or(""))]
    Status {
        status: StatusCode,
        problem: Option<Problem>,
        retry_after: Option<u64>,
    },
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// A success answer whose body is not the JSON the model describes.
    #[error("unexpected answer: {0}")]
    Decode(#[from] serde_json::Error),
}

impl Error {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(status.as_u16()),
            Error::Transport(_) | Error::Decode(_) => None,
        }
    }

    /// The problem body, when the server sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Status { problem, .. } => problem.as_ref(),
            Error::Transport(_) | Error::Decode(_) => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A decoded answer together with its body exactly as the server sent it, for callers that
/// pass the API's JSON on untouched (the CLI's `--json`).
#[derive(Debug, Clone)]
pub struct WithJson<T> {
    pub value: T,
    /// The response body, byte for byte (UTF-8).
    pub text: String,
}

/// A client bound to one server and, optionally, one session.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// `base` is the server's root URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("a reqwest client with default settings builds");
        Client {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// Like `new`, with a bound on connecting (`connect`) and on each whole request
    /// (`request`), for interactive clients that must not hang on a server that never answers.
    pub fn with_timeouts(base: impl Into<String>, connect: std::time::Duration, request: std::time::Duration) -> Self {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .build()
            .expect("a reqwest client with timeouts builds");
        Client {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// The same server, signed in with `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            token: Some(token.into()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends a request to `/api/v1{path}` and decodes the JSON answer.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let resp = self.send(method, path, body).await?;
        Ok(resp.json().await?)
    }

    /// Like `call`, keeping the body as the server sent it beside the decoded value.
    pub async fn call_with_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<WithJson<T>> {
        let resp = self.send(method, path, body).await?;
        let text = resp.text().await?;
        let value = serde_json::from_str(&text)?;
        Ok(WithJson { value, text })
    }

    /// Like `call`, for answers without a body.
    pub async fn call_empty<B: Serialize + ?Sized>(&self, method: Method, path: &str, body: Option<&B>) -> Result<()> {
        self.send(method, path, body).await.map(|_| ())
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let mut req = self.http.request(method, format!("{}/api/v1{}", self.base, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let problem = resp.json::<Problem>().await.ok();
        Err(Error::Status {
            status,
            problem,
            retry_after,
        })
    }

    pub async fn request_otp(&self, phone: &str) -> Result<()> {
        self.call_empty(Method::POST, "/auth/otp", Some(&OtpRequest { phone: phone.into() }))
            .await
    }

    pub async fn create_session(&self, phone: &str, code: &str) -> Result<SessionCreated> {
        Ok(self.create_session_with_json(phone, code).await?.value)
    }

    pub async fn create_session_with_json(&self, phone: &str, code: &str) -> Result<WithJson<SessionCreated>> {
        let body = SessionRequest {
            phone: phone.into(),
            code: code.into(),
        };
        self.call_with_json(Method::POST, "/auth/session", Some(&body)).await
    }

    pub async fn sign_out(&self) -> Result<()> {
        self.call_empty::<()>(Method::DELETE, "/auth/session", None).await
    }

    pub async fn me(&self) -> Result<Account> {
        self.call::<(), _>(Method::GET, "/me", None).await
    }

    pub async fn patch_me(&self, name: &str) -> Result<Account> {
        self.call(
            Method::PATCH,
            "/me",
            Some(&PatchMe {
                name: name.into(),
                locale: None,
            }),
        )
        .await
    }

    pub async fn pair_lock(&self, setup_code: &str, name: &str, time_zone: &str) -> Result<Lock> {
        let body = CreateLock {
            setup_code: setup_code.into(),
            name: name.into(),
            time_zone: time_zone.into(),
        };
        self.call(Method::POST, "/locks", Some(&body)).await
    }

    pub async fn locks(&self) -> Result<Vec<Lock>> {
        Ok(self.locks_with_json().await?.value)
    }

    pub async fn locks_with_json(&self) -> Result<WithJson<Vec<Lock>>> {
        self.call_with_json::<(), _>(Method::GET, "/locks", None).await
    }

    pub async fn lock(&self, lock_id: &str) -> Result<Lock> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}"), None)
            .await
    }

    pub async fn patch_lock(&self, lock_id: &str, patch: &PatchLock) -> Result<Lock> {
        self.call(Method::PATCH, &format!("/locks/{lock_id}"), Some(patch))
            .await
    }

    pub async fn delete_lock(&self, lock_id: &str) -> Result<()> {
        self.call_empty::<()>(Method::DELETE, &format!("/locks/{lock_id}"), None)
            .await
    }

    pub async fn members(&self, lock_id: &str) -> Result<Vec<Member>> {
        Ok(self.members_with_json(lock_id).await?.value)
    }

    pub async fn members_with_json(&self, lock_id: &str) -> Result<WithJson<Vec<Member>>> {
        let path = format!("/locks/{lock_id}/members");
        self.call_with_json::<(), _>(Method::GET, &path, None).await
    }

    pub async fn patch_member(&self, lock_id: &str, account_id: &str, patch: &PatchMember) -> Result<Member> {
        self.call(
            Method::PATCH,
            &format!("/locks/{lock_id}/members/{account_id}"),
            Some(patch),
        )
        .await
    }

    pub async fn remove_member(&self, lock_id: &str, account_id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/members/{account_id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    pub async fn set_pin(&self, lock_id: &str, account_id: &str, pin: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/members/{account_id}/pin");
        self.call_empty(Method::PUT, &path, Some(&SetPin { pin: pin.into() }))
            .await
    }

    pub async fn invite(&self, lock_id: &str, body: &CreateInvitation) -> Result<Invitation> {
        Ok(self.invite_with_json(lock_id, body).await?.value)
    }

    pub async fn invite_with_json(&self, lock_id: &str, body: &CreateInvitation) -> Result<WithJson<Invitation>> {
        let path = format!("/locks/{lock_id}/invitations");
        self.call_with_json(Method::POST, &path, Some(body)).await
    }

    pub async fn lock_invitations(&self, lock_id: &str) -> Result<Vec<Invitation>> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}/invitations"), None)
            .await
    }

    pub async fn revoke_invitation(&self, lock_id: &str, id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/invitations/{id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    /// `POST /locks/{lock_id}/invitations/{id}/resend`: texts a pending invitation again.
    pub async fn resend_invitation(&self, lock_id: &str, id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/invitations/{id}/resend");
        self.call_empty::<()>(Method::POST, &path, None).await
    }

    pub async fn my_invitations(&self) -> Result<Vec<Invitation>> {
        self.call::<(), _>(Method::GET, "/invitations", None).await
    }

    pub async fn accept_invitation(&self, id: &str) -> Result<Member> {
        self.call::<(), _>(Method::POST, &format!("/invitations/{id}/accept"), None)
            .await
    }

    pub async fn decline_invitation(&self, id: &str) -> Result<Invitation> {
        self.call::<(), _>(Method::POST, &format!("/invitations/{id}/decline"), None)
            .await
    }

    pub async fn create_guest_key(&self, lock_id: &str, body: &CreateGuestKey) -> Result<GuestKey> {
        Ok(self.create_guest_key_with_json(lock_id, body).await?.value)
    }

    pub async fn create_guest_key_with_json(&self, lock_id: &str, body: &CreateGuestKey) -> Result<WithJson<GuestKey>> {
        let path = format!("/locks/{lock_id}/guest-keys");
        self.call_with_json(Method::POST, &path, Some(body)).await
    }

    pub async fn guest_keys(&self, lock_id: &str) -> Result<Vec<GuestKey>> {
        Ok(self.guest_keys_with_json(lock_id).await?.value)
    }

    pub async fn guest_keys_with_json(&self, lock_id: &str) -> Result<WithJson<Vec<GuestKey>>> {
        let path = format!("/locks/{lock_id}/guest-keys");
        self.call_with_json::<(), _>(Method::GET, &path, None).await
    }

    pub async fn guest_key(&self, lock_id: &str, id: &str) -> Result<GuestKey> {
        Ok(self.guest_key_with_json(lock_id, id).await?.value)
    }

    pub async fn guest_key_with_json(&self, lock_id: &str, id: &str) -> Result<WithJson<GuestKey>> {
        let path = format!("/locks/{lock_id}/guest-keys/{id}");
        self.call_with_json::<(), _>(Method::GET, &path, None).await
    }

    pub async fn revoke_guest_key(&self, lock_id: &str, id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/guest-keys/{id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    /// `PATCH /locks/{lock_id}/guest-keys/{id}`: a later end. The answer is the key as it is
    /// now: the same key, or, when the code had to change, the new key that replaces it.
    pub async fn extend_guest_key(&self, lock_id: &str, id: &str, ends_at: &str) -> Result<GuestKey> {
        Ok(self.extend_guest_key_with_json(lock_id, id, ends_at).await?.value)
    }

    pub async fn extend_guest_key_with_json(
        &self,
        lock_id: &str,
        id: &str,
        ends_at: &str,
    ) -> Result<WithJson<GuestKey>> {
        let path = format!("/locks/{lock_id}/guest-keys/{id}");
        let body = PatchGuestKey {
            ends_at: ends_at.to_string(),
        };
        self.call_with_json(Method::PATCH, &path, Some(&body)).await
    }

    /// `POST /locks/{lock_id}/guest-keys/{id}/resend`: texts the code to the guest again.
    pub async fn resend_guest_key(&self, lock_id: &str, id: &str) -> Result<GuestKey> {
        Ok(self.resend_guest_key_with_json(lock_id, id).await?.value)
    }

    pub async fn resend_guest_key_with_json(&self, lock_id: &str, id: &str) -> Result<WithJson<GuestKey>> {
        let path = format!("/locks/{lock_id}/guest-keys/{id}/resend");
        self.call_with_json::<(), _>(Method::POST, &path, None).await
    }

    /// `POST /locks/{lock_id}/issuers/{issuer_id}/keys`: records a key a device minted
    /// offline; the same code again answers with the key already recorded.
    pub async fn record_offline_key(
        &self,
        lock_id: &str,
        issuer_id: &str,
        body: &RecordOfflineKey,
    ) -> Result<GuestKey> {
        let path = format!("/locks/{lock_id}/issuers/{issuer_id}/keys");
        self.call(Method::POST, &path, Some(body)).await
    }

    /// `POST /locks/{lock_id}/calendars`: subscribes the lock to a rental calendar.
    pub async fn create_calendar(&self, lock_id: &str, body: &CreateCalendar) -> Result<Calendar> {
        self.call(Method::POST, &format!("/locks/{lock_id}/calendars"), Some(body))
            .await
    }

    pub async fn calendars(&self, lock_id: &str) -> Result<Vec<Calendar>> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}/calendars"), None)
            .await
    }

    pub async fn calendar(&self, lock_id: &str, id: &str) -> Result<Calendar> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}/calendars/{id}"), None)
            .await
    }

    /// `POST /locks/{lock_id}/calendars/{id}/sync`: reads the feed now.
    pub async fn sync_calendar(&self, lock_id: &str, id: &str) -> Result<CalendarSync> {
        self.call::<(), _>(Method::POST, &format!("/locks/{lock_id}/calendars/{id}/sync"), None)
            .await
    }

    pub async fn delete_calendar(&self, lock_id: &str, id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/calendars/{id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    /// `POST /locks/{lock_id}/webhooks`: the answer carries the signing secret, once.
    pub async fn create_webhook(&self, lock_id: &str, body: &CreateWebhook) -> Result<Webhook> {
        self.call(Method::POST, &format!("/locks/{lock_id}/webhooks"), Some(body))
            .await
    }

    pub async fn webhooks(&self, lock_id: &str) -> Result<Vec<Webhook>> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}/webhooks"), None)
            .await
    }

    pub async fn delete_webhook(&self, lock_id: &str, id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/webhooks/{id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    /// The webhook's latest deliveries, newest first.
    pub async fn webhook_deliveries(&self, lock_id: &str, id: &str) -> Result<Vec<Delivery>> {
        let path = format!("/locks/{lock_id}/webhooks/{id}/deliveries");
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// `POST /locks/{lock_id}/webhooks/{id}/test`: queues a `webhook.test` delivery.
    pub async fn test_webhook(&self, lock_id: &str, id: &str) -> Result<Delivery> {
        let path = format!("/locks/{lock_id}/webhooks/{id}/test");
        self.call::<(), _>(Method::POST, &path, None).await
    }

    /// The caller's own notification choices on the lock.
    pub async fn notifications(&self, lock_id: &str) -> Result<Notifications> {
        self.call::<(), _>(Method::GET, &format!("/locks/{lock_id}/notifications"), None)
            .await
    }

    pub async fn set_notifications(&self, lock_id: &str, body: &PutNotifications) -> Result<Notifications> {
        self.call(Method::PUT, &format!("/locks/{lock_id}/notifications"), Some(body))
            .await
    }

    pub async fn create_issuer(&self, lock_id: &str, label: Option<&str>) -> Result<Issuer> {
        let body = CreateIssuer {
            label: label.map(Into::into),
        };
        self.call(Method::POST, &format!("/locks/{lock_id}/issuers"), Some(&body))
            .await
    }

    pub async fn delete_issuer(&self, lock_id: &str, issuer_id: &str) -> Result<()> {
        let path = format!("/locks/{lock_id}/issuers/{issuer_id}");
        self.call_empty::<()>(Method::DELETE, &path, None).await
    }

    pub async fn unlock(&self, lock_id: &str) -> Result<UnlockResult> {
        Ok(self.unlock_with_json(lock_id).await?.value)
    }

    /// `POST /locks/{lock_id}/lock`: throws the bolt.
    pub async fn remote_lock(&self, lock_id: &str) -> Result<UnlockResult> {
        let path = format!("/locks/{lock_id}/lock");
        Ok(self.call_with_json::<(), _>(Method::POST, &path, None).await?.value)
    }

    pub async fn unlock_with_json(&self, lock_id: &str) -> Result<WithJson<UnlockResult>> {
        let path = format!("/locks/{lock_id}/unlock");
        self.call_with_json::<(), _>(Method::POST, &path, None).await
    }

    pub async fn events(&self, lock_id: &str, limit: Option<u32>, before: Option<&str>) -> Result<Vec<Event>> {
        Ok(self.events_with_json(lock_id, limit, before).await?.value)
    }

    /// One page of the activity log, newest first: at most `limit` events older than the event
    /// `before` (an event id).
    pub async fn events_with_json(
        &self,
        lock_id: &str,
        limit: Option<u32>,
        before: Option<&str>,
    ) -> Result<WithJson<Vec<Event>>> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(before) = before {
            query.push(format!("before={}", encode_query_value(before)));
        }
        let mut path = format!("/locks/{lock_id}/events");
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        self.call_with_json::<(), _>(Method::GET, &path, None).await
    }
}

/// Percent-encodes a query value (event ids are digits and hex, but a caller may pass anything).
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// rustls needs one process-wide crypto provider; we use `ring` (no C toolchain beyond a C
/// compiler, no cmake). Installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
