//! The authorization matrix of `security.md`: every endpoint of `api.md` called by every kind of
//! caller (no session; a Guest, who holds only a keypad code; a stranger signed in with no
//! membership; an Admin of another lock; a Recurring Guest, a Family member and an Admin of
//! the lock), each with the status it must get. Nothing outside a caller's own locks is even
//! visible (404, not 403); members without the right get 403; no session gets 401.

use crate::kit;

use std::sync::atomic::{AtomicU32, Ordering};

use kit::{Backend, Harness, User, always, guest_key};
use latchkey_client::model as m;
use latchkey_guest_code::{self as gc, Validity, file::IssuerFile};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    every_endpoint_against_every_kind_of_caller,
    ids_of_another_lock_are_not_found
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    NoSession,
    /// Someone with a guest-key code and no account: the code is no session.
    Guest,
    Stranger,
    /// Admin of another lock.
    OtherLock,
    RecurringGuest,
    Family,
    Admin,
}

const ROLES: [Role; 7] = [
    Role::NoSession,
    Role::Guest,
    Role::Stranger,
    Role::OtherLock,
    Role::RecurringGuest,
    Role::Family,
    Role::Admin,
];

/// The endpoints, each with what it acts on (fresh objects where a call changes or removes
/// something, so that every caller meets the same state).
#[derive(Debug, Clone, Copy)]
enum Ep {
    RequestOtp,
    CreateSession,
    DeleteSession,
    GetMe,
    PatchMe,
    PairLock,
    ListLocks,
    GetLock,
    GetUnknownLock,
    PatchLock,
    DeleteLock,
    ListMembers,
    PatchMember,
    RemoveLastAdmin,
    RemoveFamily,
    RemoveRecurringGuest,
    PinOfFamily,
    PinOfAdmin,
    Invite,
    ListLockInvitations,
    RevokeInvitation,
    ResendInvitation,
    MyInvitations,
    AcceptOwnInvitation,
    AcceptOthersInvitation,
    DeclineOwnInvitation,
    DeclineOthersInvitation,
    CreateGuestKey,
    ListGuestKeys,
    GetGuestKey,
    RevokeGuestKey,
    ExtendGuestKey,
    ResendGuestKey,
    CreateIssuer,
    DeleteIssuer,
    RecordOfflineKey,
    Unlock,
    RemoteLock,
    Events,
    OpenApi,
    Healthz,
    Readyz,
    Metrics,
}

/// Expected statuses for [no session, stranger, other lock's Admin, Recurring Guest, Family,
/// Admin]; a Guest (code, no account) always gets what "no session" gets.
const MATRIX: &[(Ep, [u16; 6])] = &[
    (Ep::RequestOtp, [202, 202, 202, 202, 202, 202]),
    (Ep::CreateSession, [201, 201, 201, 201, 201, 201]),
    (Ep::DeleteSession, [401, 204, 204, 204, 204, 204]),
    (Ep::GetMe, [401, 200, 200, 200, 200, 200]),
    (Ep::PatchMe, [401, 200, 200, 200, 200, 200]),
    (Ep::PairLock, [401, 201, 201, 201, 201, 201]),
    (Ep::ListLocks, [401, 200, 200, 200, 200, 200]),
    (Ep::GetLock, [401, 404, 404, 200, 200, 200]),
    (Ep::GetUnknownLock, [401, 404, 404, 404, 404, 404]),
    (Ep::PatchLock, [401, 404, 404, 403, 403, 200]),
    (Ep::DeleteLock, [401, 404, 404, 403, 403, 204]),
    (Ep::ListMembers, [401, 404, 404, 403, 403, 200]),
    (Ep::PatchMember, [401, 404, 404, 403, 403, 200]),
    (Ep::RemoveLastAdmin, [401, 404, 404, 403, 403, 409]),
    (Ep::RemoveFamily, [401, 404, 404, 403, 204, 204]),
    (Ep::RemoveRecurringGuest, [401, 404, 404, 204, 403, 204]),
    (Ep::PinOfFamily, [401, 404, 404, 403, 204, 204]),
    (Ep::PinOfAdmin, [401, 404, 404, 403, 403, 204]),
    (Ep::Invite, [401, 404, 404, 403, 403, 201]),
    (Ep::ListLockInvitations, [401, 404, 404, 403, 403, 200]),
    (Ep::RevokeInvitation, [401, 404, 404, 403, 403, 204]),
    (Ep::ResendInvitation, [401, 404, 404, 403, 403, 204]),
    (Ep::MyInvitations, [401, 200, 200, 200, 200, 200]),
    (Ep::AcceptOwnInvitation, [401, 200, 200, 200, 200, 200]),
    (Ep::AcceptOthersInvitation, [401, 404, 404, 404, 404, 404]),
    (Ep::DeclineOwnInvitation, [401, 200, 200, 200, 200, 200]),
    (Ep::DeclineOthersInvitation, [401, 404, 404, 404, 404, 404]),
    (Ep::CreateGuestKey, [401, 404, 404, 403, 403, 201]),
    (Ep::ListGuestKeys, [401, 404, 404, 403, 403, 200]),
    (Ep::GetGuestKey, [401, 404, 404, 403, 403, 200]),
    (Ep::RevokeGuestKey, [401, 404, 404, 403, 403, 204]),
    (Ep::ExtendGuestKey, [401, 404, 404, 403, 403, 200]),
    (Ep::ResendGuestKey, [401, 404, 404, 403, 403, 200]),
    (Ep::CreateIssuer, [401, 404, 404, 403, 403, 201]),
    (Ep::DeleteIssuer, [401, 404, 404, 403, 403, 204]),
    (Ep::RecordOfflineKey, [401, 404, 404, 403, 403, 201]),
    (Ep::Unlock, [401, 404, 404, 200, 200, 200]),
    (Ep::RemoteLock, [401, 404, 404, 200, 200, 200]),
    (Ep::Events, [401, 404, 404, 403, 403, 200]),
    (Ep::OpenApi, [200, 200, 200, 200, 200, 200]),
    (Ep::Healthz, [200, 200, 200, 200, 200, 200]),
    (Ep::Readyz, [200, 200, 200, 200, 200, 200]),
    (Ep::Metrics, [200, 200, 200, 200, 200, 200]),
];

fn expected(row: &[u16; 6], role: Role) -> u16 {
    match role {
        Role::NoSession | Role::Guest => row[0],
        Role::Stranger => row[1],
        Role::OtherLock => row[2],
        Role::RecurringGuest => row[3],
        Role::Family => row[4],
        Role::Admin => row[5],
    }
}

/// One request to make.
struct Req {
    method: Method,
    /// Relative to the server root.
    path: String,
    body: Option<Value>,
    /// Replaces the caller's own token (for signing out a second session).
    token: Option<Option<String>>,
}

fn req(method: Method, path: impl Into<String>) -> Req {
    Req {
        method,
        path: path.into(),
        body: None,
        token: None,
    }
}

fn api(method: Method, path: impl AsRef<str>) -> Req {
    req(method, format!("/api/v1{}", path.as_ref()))
}

impl Req {
    fn json(mut self, v: Value) -> Req {
        self.body = Some(v);
        self
    }
}

/// Lock A with an Admin, a Family member and a Recurring Guest (always allowed); lock B with
/// its own Admin; a stranger; and a host who owns further locks for invitations.
struct World {
    h: Harness,
    admin: User,
    family: User,
    rguest: User,
    other: User,
    stranger: User,
    host: User,
    lock: String,
    other_lock: String,
    key_id: String,
    guest_code: String,
    pins: AtomicU32,
    /// A device issuer of lock A, for recording keys minted offline.
    issuer: IssuerFile,
}

impl World {
    async fn new(b: Backend) -> World {
        let h = Harness::start(b).await;
        let admin = h.user("Admin Ada").await;
        let family = h.user("Family Fred").await;
        let rguest = h.user("Guest Greta").await;
        let other = h.user("Other Otto").await;
        let stranger = h.user("Stranger Sam").await;
        let host = h.user("Host Hana").await;
        let lock = h.pair(&admin, "Lock A", "Europe/Berlin").await.id;
        h.add_member(&admin, &lock, &family, m::AccessLevel::Family, None).await;
        h.add_member(&admin, &lock, &rguest, m::AccessLevel::RecurringGuest, Some(always()))
            .await;
        let other_lock = h.pair(&other, "Lock B", "Europe/Berlin").await.id;
        let key = admin
            .client
            .create_guest_key(&lock, &guest_key("Key", None, "2027-06-30T12:00", "2027-07-02T12:00"))
            .await
            .unwrap();
        let issuer = admin.client.create_issuer(&lock, Some("Phone")).await.unwrap();
        let issuer = IssuerFile::parse(&issuer.file).expect("an issuer file");
        World {
            h,
            admin,
            family,
            rguest,
            other,
            stranger,
            host,
            lock,
            other_lock,
            key_id: key.id,
            guest_code: key.code,
            pins: AtomicU32::new(0),
            issuer,
        }
    }

    fn user(&self, role: Role) -> Option<&User> {
        match role {
            Role::NoSession | Role::Guest => None,
            Role::Stranger => Some(&self.stranger),
            Role::OtherLock => Some(&self.other),
            Role::RecurringGuest => Some(&self.rguest),
            Role::Family => Some(&self.family),
            Role::Admin => Some(&self.admin),
        }
    }

    fn token(&self, role: Role) -> Option<String> {
        match role {
            Role::Guest => Some(self.guest_code.clone()),
            _ => self.user(role).and_then(|u| u.client.token().map(str::to_string)),
        }
    }

    /// A lock with the same cast as lock A, for calls that change or remove things.
    async fn fresh_lock(&self) -> String {
        let lock = self.h.pair(&self.admin, "Spare", "Europe/Berlin").await.id;
        self.h
            .add_member(&self.admin, &lock, &self.family, m::AccessLevel::Family, None)
            .await;
        self.h
            .add_member(
                &self.admin,
                &lock,
                &self.rguest,
                m::AccessLevel::RecurringGuest,
                Some(always()),
            )
            .await;
        lock
    }

    /// A PIN no other call used (non-trivial: 6 digits, no sequence).
    fn pin(&self) -> String {
        format!("{}", 482_900 + 7 * self.pins.fetch_add(1, Ordering::SeqCst))
    }

    /// A pending invitation from the host to `phone`.
    async fn host_invitation(&self, phone: &str) -> String {
        let lock = self.h.pair(&self.host, "Host lock", "Europe/Berlin").await.id;
        self.host
            .client
            .invite(
                &lock,
                &m::CreateInvitation {
                    name: None,
                    phone: phone.into(),
                    access_level: m::AccessLevel::Family,
                    schedule: None,
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn prepare(&self, ep: Ep, role: Role) -> Req {
        let a = &self.lock;
        let me = self.user(role);
        match ep {
            Ep::RequestOtp => api(Method::POST, "/auth/otp").json(json!({"phone": self.h.new_phone()})),
            Ep::CreateSession => {
                let phone = self.h.new_phone();
                let code = self.h.otp(&phone).await;
                api(Method::POST, "/auth/session").json(json!({"phone": phone, "code": code}))
            }
            Ep::DeleteSession => {
                // A second session of the caller's own account, so the world's stays.
                let mut r = api(Method::DELETE, "/auth/session");
                if let Some(u) = me {
                    let (c, _) = self.h.sign_in(&u.phone).await;
                    r.token = Some(c.token().map(str::to_string));
                }
                r
            }
            Ep::GetMe => api(Method::GET, "/me"),
            Ep::PatchMe => api(Method::PATCH, "/me").json(json!({"name": "Renamed"})),
            Ep::PairLock => api(Method::POST, "/locks").json(json!({
                "setup_code": self.h.gateway.new_lock(), "name": "Mine", "time_zone": "Europe/Paris"
            })),
            Ep::ListLocks => api(Method::GET, "/locks"),
            Ep::GetLock => api(Method::GET, format!("/locks/{a}")),
            Ep::GetUnknownLock => api(Method::GET, "/locks/lk_00000000000000000000"),
            Ep::PatchLock => api(Method::PATCH, format!("/locks/{a}")).json(json!({"name": "Lock A"})),
            Ep::DeleteLock => api(Method::DELETE, format!("/locks/{}", self.fresh_lock().await)),
            Ep::ListMembers => api(Method::GET, format!("/locks/{a}/members")),
            Ep::PatchMember => api(Method::PATCH, format!("/locks/{a}/members/{}", self.family.id()))
                .json(json!({"access_level": "family"})),
            Ep::RemoveLastAdmin => api(Method::DELETE, format!("/locks/{a}/members/{}", self.admin.id())),
            Ep::RemoveFamily => api(
                Method::DELETE,
                format!("/locks/{}/members/{}", self.fresh_lock().await, self.family.id()),
            ),
            Ep::RemoveRecurringGuest => api(
                Method::DELETE,
                format!("/locks/{}/members/{}", self.fresh_lock().await, self.rguest.id()),
            ),
            Ep::PinOfFamily => api(Method::PUT, format!("/locks/{a}/members/{}/pin", self.family.id()))
                .json(json!({"pin": self.pin()})),
            Ep::PinOfAdmin => {
                api(Method::PUT, format!("/locks/{a}/members/{}/pin", self.admin.id())).json(json!({"pin": self.pin()}))
            }
            Ep::Invite => api(Method::POST, format!("/locks/{a}/invitations"))
                .json(json!({"phone": self.h.new_phone(), "access_level": "family"})),
            Ep::ListLockInvitations => api(Method::GET, format!("/locks/{a}/invitations")),
            Ep::RevokeInvitation | Ep::ResendInvitation => {
                let inv = self
                    .admin
                    .client
                    .invite(
                        a,
                        &m::CreateInvitation {
                            name: None,
                            phone: self.h.new_phone(),
                            access_level: m::AccessLevel::Family,
                            schedule: None,
                        },
                    )
                    .await
                    .unwrap();
                if matches!(ep, Ep::ResendInvitation) {
                    api(Method::POST, format!("/locks/{a}/invitations/{}/resend", inv.id))
                } else {
                    api(Method::DELETE, format!("/locks/{a}/invitations/{}", inv.id))
                }
            }
            Ep::MyInvitations => api(Method::GET, "/invitations"),
            Ep::AcceptOwnInvitation | Ep::DeclineOwnInvitation => {
                let phone = me.map(|u| u.phone.clone()).unwrap_or_else(|| self.h.new_phone());
                let id = self.host_invitation(&phone).await;
                let verb = if matches!(ep, Ep::AcceptOwnInvitation) {
                    "accept"
                } else {
                    "decline"
                };
                api(Method::POST, format!("/invitations/{id}/{verb}"))
            }
            Ep::AcceptOthersInvitation | Ep::DeclineOthersInvitation => {
                let id = self.host_invitation(&self.h.new_phone()).await;
                let verb = if matches!(ep, Ep::AcceptOthersInvitation) {
                    "accept"
                } else {
                    "decline"
                };
                api(Method::POST, format!("/invitations/{id}/{verb}"))
            }
            Ep::CreateGuestKey => api(Method::POST, format!("/locks/{a}/guest-keys")).json(json!({
                "name": "Courier", "starts_at": "2027-06-30T13:00", "ends_at": "2027-06-30T15:00",
                "one_time": true, "precautions_accepted": true
            })),
            Ep::ListGuestKeys => api(Method::GET, format!("/locks/{a}/guest-keys")),
            Ep::GetGuestKey => api(Method::GET, format!("/locks/{a}/guest-keys/{}", self.key_id)),
            Ep::RevokeGuestKey => {
                let key = self
                    .admin
                    .client
                    .create_guest_key(a, &guest_key("Temp", None, "2027-07-01T10:00", "2027-07-01T12:00"))
                    .await
                    .unwrap();
                api(Method::DELETE, format!("/locks/{a}/guest-keys/{}", key.id))
            }
            Ep::ExtendGuestKey => {
                let key = self
                    .admin
                    .client
                    .create_guest_key(a, &guest_key("Temp", None, "2027-07-01T10:00", "2027-07-01T12:00"))
                    .await
                    .unwrap();
                api(Method::PATCH, format!("/locks/{a}/guest-keys/{}", key.id))
                    .json(json!({"ends_at": "2027-07-01T12:00"}))
            }
            Ep::ResendGuestKey => {
                let phone = self.h.new_phone();
                let key = self
                    .admin
                    .client
                    .create_guest_key(
                        a,
                        &guest_key("Temp", Some(&phone), "2027-07-01T10:00", "2027-07-01T12:00"),
                    )
                    .await
                    .unwrap();
                api(Method::POST, format!("/locks/{a}/guest-keys/{}/resend", key.id))
            }
            Ep::CreateIssuer => api(Method::POST, format!("/locks/{a}/issuers")).json(json!({"label": "Phone"})),
            Ep::DeleteIssuer => {
                let lock = self.fresh_lock().await;
                let issuer = self.admin.client.create_issuer(&lock, None).await.unwrap();
                api(Method::DELETE, format!("/locks/{lock}/issuers/{}", issuer.issuer_id))
            }
            Ep::RecordOfflineKey => {
                // A code no earlier call recorded: each call its own window.
                let start = self.h.now()
                    + jiff::SignedDuration::from_hours(i64::from(self.pins.fetch_add(1, Ordering::SeqCst)));
                let end = start + jiff::SignedDuration::from_hours(2);
                let validity = Validity::covering(start.as_second(), end.as_second()).unwrap();
                let f = &self.issuer;
                let code = gc::mint(&f.key, a.as_bytes(), f.slot, f.epoch, validity, false).unwrap();
                let code = String::from_utf8(code.0.to_vec()).unwrap();
                api(Method::POST, format!("/locks/{a}/issuers/{}/keys", f.issuer_id)).json(json!({
                    "name": "Offline", "code": code, "starts_at": start.to_string(), "ends_at": end.to_string()
                }))
            }
            Ep::Unlock => api(Method::POST, format!("/locks/{a}/unlock")),
            Ep::RemoteLock => api(Method::POST, format!("/locks/{a}/lock")),
            Ep::Events => api(Method::GET, format!("/locks/{a}/events?limit=10")),
            Ep::OpenApi => api(Method::GET, "/openapi.json"),
            Ep::Healthz => req(Method::GET, "/healthz"),
            Ep::Readyz => req(Method::GET, "/readyz"),
            Ep::Metrics => req(Method::GET, "/metrics"),
        }
    }

    /// Sends `r` as `role`; returns the status and the content type.
    async fn send(&self, r: Req, role: Role) -> (u16, String) {
        let http = kit::raw();
        let mut rb = http.request(r.method, format!("{}{}", self.h.base, r.path));
        let token = r.token.unwrap_or_else(|| self.token(role));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(body) = r.body {
            rb = rb.json(&body);
        }
        let resp = rb.send().await.expect("the server answers");
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (resp.status().as_u16(), ct)
    }
}

async fn every_endpoint_against_every_kind_of_caller(b: Backend) {
    let w = World::new(b).await;
    let mut wrong = Vec::new();
    let mut calls = 0;
    for (ep, row) in MATRIX {
        for role in ROLES {
            let want = expected(row, role);
            let r = w.prepare(*ep, role).await;
            let shown = format!("{} {}", r.method, r.path);
            let (got, ct) = w.send(r, role).await;
            calls += 1;
            if got != want {
                wrong.push(format!("{ep:?} as {role:?}: {shown} gave {got}, want {want}"));
            }
            if got >= 400 && ct != "application/problem+json" {
                wrong.push(format!("{ep:?} as {role:?}: error {got} with content type {ct:?}"));
            }
        }
    }
    assert_eq!(calls, MATRIX.len() * ROLES.len());
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Lock A survived every refused call.
    let lock = w.admin.client.lock(&w.lock).await.unwrap();
    assert_eq!(lock.name, "Lock A");
    let members = w.admin.client.members(&w.lock).await.unwrap();
    let level = |u: &User| members.iter().find(|m| m.account_id == u.id()).map(|m| m.access_level);
    assert_eq!(level(&w.admin), Some(m::AccessLevel::Admin));
    assert_eq!(level(&w.family), Some(m::AccessLevel::Family));
    assert_eq!(level(&w.rguest), Some(m::AccessLevel::RecurringGuest));
    assert_eq!(members.len(), 3);
    w.h.stop().await;
}

/// An Admin of lock B uses B's id with ids that belong to lock A: nothing of A is reachable.
async fn ids_of_another_lock_are_not_found(b: Backend) {
    let w = World::new(b).await;
    let a = &w.lock;
    let bl = &w.other_lock;
    let inv = w
        .admin
        .client
        .invite(
            a,
            &m::CreateInvitation {
                name: None,
                phone: w.h.new_phone(),
                access_level: m::AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    let issuer = w.admin.client.create_issuer(a, None).await.unwrap();
    let fam = w.family.id();
    let cases = [
        api(Method::GET, format!("/locks/{bl}/guest-keys/{}", w.key_id)),
        api(Method::DELETE, format!("/locks/{bl}/guest-keys/{}", w.key_id)),
        api(Method::DELETE, format!("/locks/{bl}/invitations/{}", inv.id)),
        api(Method::PATCH, format!("/locks/{bl}/members/{fam}")).json(json!({"access_level": "admin"})),
        api(Method::DELETE, format!("/locks/{bl}/members/{fam}")),
        api(Method::PUT, format!("/locks/{bl}/members/{fam}/pin")).json(json!({"pin": "615243"})),
        api(Method::DELETE, format!("/locks/{bl}/issuers/{}", issuer.issuer_id)),
        api(Method::POST, format!("/invitations/{}/accept", inv.id)),
        api(Method::POST, format!("/invitations/{}/decline", inv.id)),
    ];
    for r in cases {
        let shown = format!("{} {}", r.method, r.path);
        let (got, ct) = w.send(r, Role::OtherLock).await;
        assert_eq!(got, 404, "{shown}");
        assert_eq!(ct, "application/problem+json", "{shown}");
    }
    // A's objects are untouched.
    let key = w.admin.client.guest_key(a, &w.key_id).await.unwrap();
    assert_ne!(key.status, m::GuestKeyStatus::Revoked);
    let invs = w.admin.client.lock_invitations(a).await.unwrap();
    let still = invs.iter().find(|i| i.id == inv.id).unwrap();
    assert_eq!(still.status, m::InvitationStatus::Pending);
    let members = w.admin.client.members(a).await.unwrap();
    let f = members.iter().find(|m| m.account_id == fam).unwrap();
    assert_eq!(f.access_level, m::AccessLevel::Family);
    assert!(!f.has_pin);
    w.admin.client.delete_issuer(a, &issuer.issuer_id).await.unwrap();

    // Lists show only the caller's own things.
    let locks = w.stranger.client.locks().await.unwrap();
    assert!(locks.is_empty());
    let locks = w.other.client.locks().await.unwrap();
    assert_eq!(locks.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), [bl.as_str()]);
    assert!(w.other.client.my_invitations().await.unwrap().is_empty());
    w.h.stop().await;
}
