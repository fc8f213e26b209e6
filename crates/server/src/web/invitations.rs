//! Inviting someone to a lock, revoking an invitation, and the invitations of the caller.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, caller_country, form_failure, notice_text};
use super::views::{FormErrors, InvitationItem, InvitationsPage, InviteMemberPage, InvitePage, MemberForm};
use crate::api;
use crate::domain::Error;
use crate::domain::invitations::InviteRequest;
use crate::domain::types::{PhoneNumber, TimeZoneName};

pub(super) async fn invite_page(me: SignedIn, Path(lock_id): Path<String>) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    Ok(me.render(
        StatusCode::OK,
        InvitePage {
            c: me.common(),
            lock_id: admin.lock().id.clone(),
        },
    ))
}

pub(super) async fn invite_member_page(me: SignedIn, Path(lock_id): Path<String>) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    let form = MemberForm {
        access_level: "family".into(),
        country: caller_country(&me.caller),
        idem: me.new_form_key(),
        ..Default::default()
    };
    Ok(me.render(
        StatusCode::OK,
        InviteMemberPage {
            c: me.common(),
            lock_id: admin.lock().id.clone(),
            days: form.days(),
            form,
            errors: FormErrors::default(),
        },
    ))
}

pub(super) async fn invite_member(
    me: SignedIn,
    Path(lock_id): Path<String>,
    CsrfForm(f): CsrfForm<MemberForm>,
) -> Response {
    let schedule = f.schedule();
    let result = match f.level() {
        Some(level) => {
            let phone = PhoneNumber::in_country(&f.phone, &f.country);
            let req = InviteRequest {
                phone: &phone,
                name: Some(f.name.as_str()),
                level,
                schedule: schedule.as_ref(),
                idempotency_key: Some(f.idem.as_str()).filter(|k| !k.is_empty()),
            };
            me.domain.invite(&me.caller, &lock_id, &req, me.now).await
        }
        None => Err(Error::invalid("access_level", "choose an access level")),
    };
    match result {
        Ok(_) => me.redirect(&format!("/locks/{lock_id}/users?done=invited")),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e, me.tr);
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                InviteMemberPage {
                    c: me.common_with_problem(problem),
                    lock_id,
                    days: f.days(),
                    form: f,
                    errors,
                },
            )
        }
        Err(e) => me.error_page(e),
    }
}

pub(super) async fn revoke(
    me: SignedIn,
    Path((lock_id, id)): Path<(String, String)>,
    _: CsrfForm<Button>,
) -> PageResult {
    me.domain
        .revoke_invitation(&me.caller, &lock_id, &id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/users?done=revoked")))
}

pub(super) async fn invitations_page(me: SignedIn, Query(n): Query<Notice>) -> PageResult {
    let rows = me.domain.my_invitations(&me.caller, me.now).await.or_page(&me)?;
    Ok(me.render(
        StatusCode::OK,
        InvitationsPage {
            c: me.common_with(&notice_text(&n.done, me.tr)),
            invitations: rows
                .iter()
                .map(|i| InvitationItem::new(&api::invitation_wire(i), &TimeZoneName::utc(), me.tr))
                .collect(),
        },
    ))
}

pub(super) async fn accept(me: SignedIn, Path(id): Path<String>, _: CsrfForm<Button>) -> PageResult {
    let (member, _) = me
        .domain
        .accept_invitation(&me.caller, &id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{}?done=accepted", member.lock_id)))
}

pub(super) async fn decline(me: SignedIn, Path(id): Path<String>, _: CsrfForm<Button>) -> PageResult {
    me.domain
        .decline_invitation(&me.caller, &id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect("/invitations?done=declined"))
}
