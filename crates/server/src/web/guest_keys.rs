//! Guest keys: the form, the code shown once, revoking.

use axum::extract::Path;
use axum::http::StatusCode;
use jiff::Timestamp;

use super::page::{Button, CsrfForm, OrPage, PageResult, SignedIn, caller_country, form_failure};
use super::views::{FormErrors, GuestKeyDonePage, GuestKeyForm, GuestKeyNewPage};
use crate::domain::Error;
use crate::domain::guest_keys::{GuestKeyRequest, instructions, local_time};
use crate::domain::types::PhoneNumber;

pub(super) async fn new_page(me: SignedIn, Path(lock_id): Path<String>) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    let lock = admin.lock();
    // Defaults: from the next full hour, for a day, in the lock's local time.
    let zone = lock.time_zone.zone();
    let next_hour = Timestamp::from_second((me.now.as_second() / 3600 + 1) * 3600).unwrap_or(me.now);
    let fmt = |t: Timestamp| t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string();
    let form = GuestKeyForm {
        country: caller_country(&me.caller),
        starts_at: fmt(next_hour),
        ends_at: fmt(next_hour + jiff::SignedDuration::from_hours(24)),
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
    };
    match me.domain.create_guest_key(&me.caller, &lock_id, &req, me.now).await {
        Ok(row) => {
            let lock = me.domain.lock(&me.caller, &lock_id).await.or_page(&me)?.lock;
            let tz = &lock.time_zone;
            let at = |ms: i64| local_time(Timestamp::from_millisecond(ms).unwrap_or(me.now), tz);
            let sms = match (&row.phone, &row.sms_id) {
                (Some(phone), Some(_)) => format!("We are texting the code to {phone}."),
                _ => "No SMS was sent: read the code to your guest.".to_string(),
            };
            Ok(me.render(
                StatusCode::CREATED,
                GuestKeyDonePage {
                    c: me.common(),
                    lock_id,
                    name: row.name.clone(),
                    code_spaced: spaced(&row.code),
                    instructions: instructions(&row.code),
                    window: format!("Valid {} – {} ({})", at(row.starts_at), at(row.ends_at), tz.as_str()),
                    one_time: row.one_time,
                    sms,
                },
            ))
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let (errors, problem) = form_failure(e);
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

pub(super) async fn revoke(
    me: SignedIn,
    Path((lock_id, key_id)): Path<(String, String)>,
    _: CsrfForm<Button>,
) -> PageResult {
    me.domain
        .revoke_guest_key(&me.caller, &lock_id, &key_id, me.now)
        .await
        .or_page(&me)?;
    Ok(me.redirect(&format!("/locks/{lock_id}/users?done=revoked")))
}

/// `123456789012` as `1234 5678 9012`, easier to read out.
fn spaced(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
