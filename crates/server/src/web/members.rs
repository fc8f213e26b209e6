//! The people of a lock: the Users page (members, pending invitations, guest keys) and one
//! member's page (level and schedule, PIN, removal or leaving).

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use latchkey_client::model as m;
use serde::Deserialize;

use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, form_failure, notice_text};
use super::views::{
    Common, FormErrors, InvitationItem, KeyItem, MemberForm, MemberItem, MemberPage, UsersPage, wire_str,
};
use crate::api;
use crate::domain::Error;
use crate::domain::members::MemberPatch;

pub(super) async fn users_page(me: SignedIn, Path(lock_id): Path<String>, Query(n): Query<Notice>) -> PageResult {
    let (members, acked) = me.domain.members(&me.caller, &lock_id).await.or_page(&me)?;
    let invitations = me
        .domain
        .lock_invitations(&me.caller, &lock_id, me.now)
        .await
        .unwrap_or_default();
    let (keys, lock) = me.domain.guest_keys(&me.caller, &lock_id).await.or_page(&me)?;
    let tz = &lock.time_zone;
    let at = |ms: i64| me.tr.at(Timestamp::from_millisecond(ms).unwrap_or(me.now), tz);
    Ok(me.render(
        StatusCode::OK,
        UsersPage {
            c: me.common_with(&notice_text(&n.done, me.tr)),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            members: members
                .iter()
                .map(|mr| MemberItem::new(&api::member_wire(mr, acked), me.tr))
                .collect(),
            invitations: invitations
                .iter()
                .map(api::invitation_wire)
                .filter(|i| i.status == m::InvitationStatus::Pending)
                .map(|i| InvitationItem::new(&i, tz, me.tr))
                .collect(),
            keys: keys
                .iter()
                .map(|k| {
                    let wire = api::guest_key_wire(k, &lock, m::SmsState::None, me.now);
                    KeyItem {
                        id: wire.id.clone(),
                        name: wire.name.clone(),
                        status: me.tr.t(&format!("status-{}", wire_str(&wire.status))),
                        starts: if wire.status == m::GuestKeyStatus::Scheduled {
                            me.tr.t1("users-starts-working", "when", at(k.starts_at))
                        } else {
                            String::new()
                        },
                        live: matches!(wire.status, m::GuestKeyStatus::Scheduled | m::GuestKeyStatus::Active),
                        window: format!("{} – {}", at(k.starts_at), at(k.ends_at)),
                        one_time: wire.one_time,
                    }
                })
                .collect(),
        },
    ))
}

/// A member's page as the caller may see it (`Domain::visible_member`).
struct Shown {
    lock_id: String,
    member: MemberItem,
    is_admin: bool,
}

impl Shown {
    async fn load(me: &SignedIn, lock_id: &str, account_id: &str) -> Result<Shown, Response> {
        let v = me
            .domain
            .visible_member(&me.caller, lock_id, account_id)
            .await
            .or_page(me)?;
        Ok(Shown {
            lock_id: lock_id.to_string(),
            member: MemberItem::new(&api::member_wire(&v.member, v.acked_version), me.tr),
            is_admin: v.viewer_is_admin,
        })
    }

    /// The page with `form` (the member's own values unless given) and its errors.
    fn render(
        self,
        me: &SignedIn,
        status: StatusCode,
        c: Common,
        form: Option<MemberForm>,
        errors: FormErrors,
    ) -> Response {
        let form = form.unwrap_or_else(|| MemberForm::from_member(&self.member));
        me.render(
            status,
            MemberPage {
                c,
                lock_id: self.lock_id,
                is_admin: self.is_admin,
                is_self: me.caller.id() == self.member.account_id,
                days: form.days(),
                member: self.member,
                form,
                errors,
            },
        )
    }
}

pub(super) async fn member_page(
    me: SignedIn,
    Path((lock_id, account_id)): Path<(String, String)>,
    Query(n): Query<Notice>,
) -> PageResult {
    let shown = Shown::load(&me, &lock_id, &account_id).await?;
    let c = me.common_with(&notice_text(&n.done, me.tr));
    Ok(shown.render(&me, StatusCode::OK, c, None, FormErrors::default()))
}

pub(super) async fn access(
    me: SignedIn,
    Path((lock_id, account_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<MemberForm>,
) -> PageResult {
    let patch = MemberPatch {
        access_level: f.level(),
        schedule: f.schedule(),
    };
    match me
        .domain
        .patch_member(&me.caller, &lock_id, &account_id, &patch, me.now)
        .await
    {
        Ok(_) => Ok(me.redirect(&format!("/locks/{lock_id}/members/{account_id}?done=saved"))),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let shown = Shown::load(&me, &lock_id, &account_id).await?;
            let (errors, problem) = form_failure(e, me.tr);
            let c = me.common_with_problem(problem);
            Ok(shown.render(&me, StatusCode::UNPROCESSABLE_ENTITY, c, Some(f), errors))
        }
        Err(e) => Err(me.error_page(e)),
    }
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    pin: String,
}

pub(super) async fn pin(
    me: SignedIn,
    Path((lock_id, account_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<PinForm>,
) -> PageResult {
    match me
        .domain
        .set_pin(&me.caller, &lock_id, &account_id, f.pin.trim(), me.now)
        .await
    {
        Ok(()) => Ok(me.redirect(&format!("/locks/{lock_id}/members/{account_id}?done=pin"))),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let shown = Shown::load(&me, &lock_id, &account_id).await?;
            let (mut errors, problem) = form_failure(e, me.tr);
            if !problem.is_empty() {
                // A PIN conflict is about the PIN field.
                errors.add("pin", &problem);
            }
            Ok(shown.render(&me, StatusCode::UNPROCESSABLE_ENTITY, me.common(), None, errors))
        }
        Err(e) => Err(me.error_page(e)),
    }
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    confirm: Option<String>,
}

pub(super) async fn remove(
    me: SignedIn,
    Path((lock_id, account_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<RemoveForm>,
) -> PageResult {
    if f.confirm.is_none() {
        let shown = Shown::load(&me, &lock_id, &account_id).await?;
        let mut errors = FormErrors::default();
        errors.add("confirm", &me.tr.t("tick-to-confirm"));
        return Ok(shown.render(&me, StatusCode::UNPROCESSABLE_ENTITY, me.common(), None, errors));
    }
    me.domain
        .remove_member(&me.caller, &lock_id, &account_id, me.now)
        .await
        .or_page(&me)?;
    if account_id == me.caller.id() {
        Ok(me.redirect("/locks?done=left"))
    } else {
        Ok(me.redirect(&format!("/locks/{lock_id}/users?done=removed")))
    }
}

/// Texts a pending invitation again (from the Users page).
pub(super) async fn resend_invitation(
    me: SignedIn,
    Path((lock_id, id)): Path<(String, String)>,
    _: CsrfForm<Button>,
) -> PageResult {
    me.domain
        .resend_invitation(&me.caller, &lock_id, &id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/users?done=resent")))
}
