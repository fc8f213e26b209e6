//! The caller's own profile: the name others see (asked at the first sign-in) and the language
//! the app speaks to them (as the browser asks, English or Korean).

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::page::{CsrfForm, SignedIn, form_failure};
use super::sign_in::safe_next;
use super::views::{FormErrors, ProfilePage};

#[derive(Deserialize, Default)]
pub(super) struct ProfileQuery {
    #[serde(default)]
    first: Option<String>,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub(super) struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    next: String,
    /// `en`, `ko`, or empty for the browser's; absent (an older form): unchanged.
    #[serde(default)]
    locale: Option<String>,
}

pub(super) async fn profile_page(me: SignedIn, Query(q): Query<ProfileQuery>) -> Response {
    me.render(
        StatusCode::OK,
        ProfilePage {
            c: me.common(),
            first: q.first.is_some() || me.caller.account.name.trim().is_empty(),
            name: me.caller.account.name.clone(),
            phone: me.caller.account.phone.to_string(),
            next: safe_next(&q.next),
            locale: me.caller.account.locale.clone().unwrap_or_default(),
            errors: FormErrors::default(),
        },
    )
}

pub(super) async fn save(me: SignedIn, CsrfForm(f): CsrfForm<ProfileForm>) -> Response {
    let next = safe_next(&f.next);
    let mut result = me.domain.rename_me(&me.caller, &f.name).await;
    if result.is_ok()
        && let Some(locale) = &f.locale
    {
        result = me.domain.set_my_locale(&me.caller, Some(locale.as_str())).await;
    }
    match result {
        Ok(_) => me.redirect(if next.is_empty() { "/locks?done=saved" } else { &next }),
        Err(e) => {
            let (errors, problem) = form_failure(e, me.tr);
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProfilePage {
                    c: me.common_with_problem(problem),
                    first: me.caller.account.name.trim().is_empty(),
                    name: f.name,
                    phone: me.caller.account.phone.to_string(),
                    next,
                    locale: f.locale.unwrap_or_default(),
                    errors,
                },
            )
        }
    }
}
