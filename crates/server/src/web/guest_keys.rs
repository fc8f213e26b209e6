//! Guest keys: the form, the key's own page (its code, window and status), revoking.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use jiff::Timestamp;
use latchkey_client::model as m;
use serde::Deserialize;

use super::i18n::Tr;
use super::page::{Button, CsrfForm, Notice, OrPage, PageResult, SignedIn, caller_country, form_failure};
use super::views::{Common, FormErrors, GuestKeyForm, GuestKeyNewPage, GuestKeyPage};
use crate::api;
use crate::domain::Error;
use crate::domain::guest_keys::{GuestKeyRequest, KeyStatus, extend_keeps_code, key_status};
use crate::domain::ts;
use crate::domain::types::{PhoneNumber, TimeZoneName};

/// A `datetime-local` field's value for an instant, in the lock's zone.
fn local_input(t: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
}

pub(super) async fn new_page(me: SignedIn, Path(lock_id): Path<String>) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    let lock = admin.lock();
    // Defaults: from now (the minute that has begun, so the code opens at once), for a day,
    // in the lock's local time.
    let zone = lock.time_zone.zone();
    let this_minute = Timestamp::from_second(me.now.as_second().div_euclid(60) * 60).unwrap_or(me.now);
    let form = GuestKeyForm {
        country: caller_country(&me.caller),
        starts_at: local_input(this_minute, &zone),
        ends_at: local_input(this_minute + jiff::SignedDuration::from_hours(24), &zone),
        idem: me.new_form_key(),
        ..Default::default()
    };
    Ok(me.render(
        StatusCode::OK,
        GuestKeyNewPage {
            c: me.common(),
            lock_id: lock.id.clone(),
            time_zone: lock.time_zone.as_str().to_string(),
            form,
            errors: FormErrors::default(),
        },
    ))
}

pub(super) async fn create(
    me: SignedIn,
    Path(lock_id): Path<String>,
    CsrfForm(f): CsrfForm<GuestKeyForm>,
) -> PageResult {
    let req = GuestKeyRequest {
        name: f.name.clone(),
        phone: Some(PhoneNumber::in_country(&f.phone, &f.country)).filter(|p| !p.is_empty()),
        starts_at: f.starts_at.clone(),
        ends_at: f.ends_at.clone(),
        one_time: f.one_time.is_some(),
        precautions_accepted: f.precautions_accepted.is_some(),
        idempotency_key: Some(f.idem.clone()).filter(|k| !k.is_empty()),
    };
    match me.domain.create_guest_key(&me.caller, &lock_id, &req, me.now).await {
        // Post/Redirect/Get: reloading the page that shows the code asks for nothing again.
        Ok(row) => Ok(me.redirect(&format!("/locks/{lock_id}/guest-keys/{}?done=created", row.id))),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e, me.tr);
            let time_zone = me
                .domain
                .lock(&me.caller, &lock_id)
                .await
                .map(|m| m.lock.time_zone.as_str().to_string())
                .unwrap_or_default();
            Ok(me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                GuestKeyNewPage {
                    c: me.common_with_problem(problem),
                    lock_id,
                    time_zone,
                    form: f,
                    errors,
                },
            ))
        }
        Err(e) => Err(me.error_page(e)),
    }
}

/// One guest key: the code (to read out or share), when it works, its status and SMS, and
/// what can be done with it (share, text again, change the end, revoke).
pub(super) async fn key_page(
    me: SignedIn,
    Path((lock_id, key_id)): Path<(String, String)>,
    Query(n): Query<Notice>,
) -> PageResult {
    let notice = match n.done.as_str() {
        "created" => me.tr.t("key-notice-created"),
        "extended" => me.tr.t("key-notice-extended"),
        "replaced" => me.tr.t("key-notice-replaced"),
        "resent" => me.tr.t("key-notice-resent"),
        _ => String::new(),
    };
    show_key(
        &me,
        &lock_id,
        &key_id,
        me.common_with(&notice),
        None,
        FormErrors::default(),
    )
    .await
}

/// The key's page, with the end field as typed and its errors after a refused change.
async fn show_key(
    me: &SignedIn,
    lock_id: &str,
    key_id: &str,
    c: Common,
    ends_typed: Option<String>,
    errors: FormErrors,
) -> PageResult {
    let (row, lock) = me.domain.guest_key(&me.caller, lock_id, key_id).await.or_page(me)?;
    let sms_row = me.domain.sms_state(row.sms_id.as_deref()).await.or_page(me)?;
    let wire = api::guest_key_wire(&row, &lock, api::sms_wire(sms_row.as_ref()), me.now);
    let tz = &lock.time_zone;
    let tr = me.tr;
    let sms = match (&row.phone, wire.sms) {
        (Some(phone), m::SmsState::Sent) => tr.t1("key-sms-sent", "phone", phone),
        (Some(phone), m::SmsState::Failing) => tr.t1("key-sms-failing", "phone", phone),
        (Some(phone), _) => tr.t1("key-sms-sending", "phone", phone),
        (None, _) => tr.t("key-sms-none"),
    };
    let live = matches!(wire.status, m::GuestKeyStatus::Scheduled | m::GuestKeyStatus::Active);
    // What changing the end does to the code, said before the Admin does it.
    let code_note = if extend_keeps_code(&lock, &row, i64::MAX) {
        tr.t("key-code-stays")
    } else {
        tr.t1("key-code-stays-until", "when", tr.at(ts(row.code_ends_at), tz))
    };
    let first_use = match row.used_at {
        Some(at) => tr.t1("key-first-used", "when", tr.at(ts(at), tz)),
        None => tr.t("key-not-used"),
    };
    let share_text = tr.t2(
        "key-share-text",
        "lock",
        &lock.name,
        "text",
        format!(
            "{} {}",
            tr.t1("key-instructions", "code", &row.code),
            when_sentence(tr, ts(row.starts_at), ts(row.ends_at), me.now, tz)
        ),
    );
    let sms_href = format!(
        "sms:{}?&body={}",
        row.phone.as_deref().unwrap_or(""),
        super::sign_in::url_encode(&share_text)
    );
    let status = if errors.is_empty() && c.problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(me.render(
        status,
        GuestKeyPage {
            c,
            lock_id: lock_id.to_string(),
            key_id: row.id.clone(),
            name: row.name.clone(),
            code_spaced: spaced(&row.code),
            instructions: tr.t1("key-instructions", "code", &row.code),
            window: format!(
                "{} – {} ({})",
                tr.at(ts(row.starts_at), tz),
                tr.at(ts(row.ends_at), tz),
                tz.as_str()
            ),
            when: if live {
                when_sentence(tr, ts(row.starts_at), ts(row.ends_at), me.now, tz)
            } else {
                String::new()
            },
            status: tr.t(&format!("status-{}", super::views::wire_str(&wire.status))),
            scheduled: wire.status == m::GuestKeyStatus::Scheduled,
            live,
            // A key that ended can be given a later end; a revoked or used one cannot.
            extendable: matches!(
                key_status(&row, me.now),
                KeyStatus::Scheduled | KeyStatus::Active | KeyStatus::Expired
            ),
            one_time: row.one_time,
            sms,
            has_phone: row.phone.is_some(),
            share_text,
            sms_href,
            first_use,
            code_note,
            ends_input: ends_typed.unwrap_or_else(|| local_input(ts(row.ends_at), &tz.zone())),
            errors,
        },
    ))
}

#[derive(Deserialize)]
pub(super) struct ExtendForm {
    #[serde(default)]
    ends_at: String,
}

/// Changes when the key ends; the new key's page when the code had to change.
pub(super) async fn extend(
    me: SignedIn,
    Path((lock_id, key_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<ExtendForm>,
) -> PageResult {
    match me
        .domain
        .extend_guest_key(&me.caller, &lock_id, &key_id, &f.ends_at, None, me.now)
        .await
    {
        Ok(done) => {
            let notice = if done.code_changed { "replaced" } else { "extended" };
            Ok(me.redirect(&format!("/locks/{lock_id}/guest-keys/{}?done={notice}", done.key_id)))
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e, me.tr);
            let c = me.common_with_problem(problem);
            show_key(&me, &lock_id, &key_id, c, Some(f.ends_at), errors).await
        }
        Err(e) => Err(me.error_page(e)),
    }
}

/// Texts the code to the guest's phone again.
pub(super) async fn resend(
    me: SignedIn,
    Path((lock_id, key_id)): Path<(String, String)>,
    _: CsrfForm<Button>,
) -> PageResult {
    me.domain
        .resend_guest_key(&me.caller, &lock_id, &key_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/guest-keys/{key_id}?done=resent")))
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// Revokes after a confirmation: the box on the key's page, or the script's dialog (which
/// adds `confirm`); a form sent without either gets the key's page, asking.
pub(super) async fn revoke(
    me: SignedIn,
    Path((lock_id, key_id)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<RevokeForm>,
) -> PageResult {
    if f.confirm.is_none() {
        let mut errors = FormErrors::default();
        errors.add("confirm", &me.tr.t("tick-to-confirm"));
        return show_key(&me, &lock_id, &key_id, me.common(), None, errors).await;
    }
    me.domain
        .revoke_guest_key(&me.caller, &lock_id, &key_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/users?done=revoked")))
}

/// When a key works, said plainly in the reader's language (`window_sentence` of the domain,
/// which the SMS uses, in English).
pub(super) fn when_sentence(tr: Tr, start: Timestamp, end: Timestamp, now: Timestamp, tz: &TimeZoneName) -> String {
    if start > now {
        tr.t_args(
            "key-starts-working",
            &[
                ("start", &tr.at(start, tz)),
                ("end", &tr.at(end, tz)),
                ("zone", &tz.as_str()),
            ],
        )
    } else {
        tr.t2("key-works-now", "end", tr.at(end, tz), "zone", tz.as_str())
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
