//! The caller's locks, pairing a lock, one lock's page and remote unlock.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, form_failure, notice_text};
use super::views::{FormErrors, LockItem, LockPage, LocksPage};
use crate::api;
use crate::domain::types::AccessLevel;
use crate::store::LockRow;

/// The pairing form.
#[derive(Deserialize, Default)]
pub struct PairForm {
    #[serde(default)]
    pub setup_code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub time_zone: String,
}

fn lock_items(locks: &[(LockRow, AccessLevel)]) -> Vec<LockItem> {
    locks
        .iter()
        .map(|(l, level)| LockItem {
            id: l.id.clone(),
            name: l.name.clone(),
            level: level.label().into(),
            online: l.online,
        })
        .collect()
}

pub(super) async fn locks_page(me: SignedIn, Query(n): Query<Notice>) -> PageResult {
    let locks = me.domain.my_locks(&me.caller).await.or_page(&me)?;
    let invitations = me
        .domain
        .my_invitations(&me.caller, me.now)
        .await
        .map(|v| v.len())
        .unwrap_or(0);
    Ok(me.render(
        StatusCode::OK,
        LocksPage {
            c: me.common_with(notice_text(&n.done)),
            locks: lock_items(&locks),
            invitations,
            form: PairForm::default(),
            errors: FormErrors::default(),
        },
    ))
}

pub(super) async fn pair_lock(me: SignedIn, CsrfForm(f): CsrfForm<PairForm>) -> Response {
    match me
        .domain
        .pair_lock(&me.caller, &f.setup_code, &f.name, &f.time_zone, me.now)
        .await
    {
        Ok(member) => me.redirect(&format!("/locks/{}?done=paired", member.lock.id)),
        Err(e) => {
            let (errors, problem) = form_failure(e);
            let locks = me.domain.my_locks(&me.caller).await.unwrap_or_default();
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                LocksPage {
                    c: me.common_with_problem(problem),
                    locks: lock_items(&locks),
                    invitations: 0,
                    form: f,
                    errors,
                },
            )
        }
    }
}

pub(super) async fn lock_page(me: SignedIn, Path(lock_id): Path<String>, Query(n): Query<Notice>) -> PageResult {
    let (member, cap) = me
        .domain
        .lock_with_capacity(&me.caller, &lock_id, me.now)
        .await
        .or_page(&me)?;
    let level = member.level();
    let wire = api::lock_wire(&member.lock, level);
    let capacity = format!(
        "Holds {} of {} guest keys · {} of {} members",
        cap.guest_keys.used, cap.guest_keys.max, cap.members.used, cap.members.max
    );
    Ok(me.render(
        StatusCode::OK,
        LockPage {
            c: me.common_with(notice_text(&n.done)),
            bolt: match wire.bolt.as_deref() {
                Some("unlocked") => "Unlocked".into(),
                Some("locked") => "Locked".into(),
                _ => "Bolt state unknown".into(),
            },
            capacity,
            level_label: level.label().into(),
            is_admin: level == AccessLevel::Admin,
            my_id: me.caller.id().to_string(),
            lock: wire,
        },
    ))
}

pub(super) async fn unlock(me: SignedIn, Path(lock_id): Path<String>, _: CsrfForm<Button>) -> PageResult {
    me.domain
        .remote_unlock(&me.caller, &lock_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}?done=unlocked")))
}
