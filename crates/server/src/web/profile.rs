//! The caller's own profile: the name others see (asked at the first sign-in).

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
            errors: FormErrors::default(),
        },
    )
}

pub(super) async fn save(me: SignedIn, CsrfForm(f): CsrfForm<ProfileForm>) -> Response {
    let next = safe_next(&f.next);
    match me.domain.rename_me(&me.caller, &f.name).await {
        Ok(_) => me.redirect(if next.is_empty() { "/locks?done=saved" } else { &next }),
        Err(e) => {
            let (errors, problem) = form_failure(e);
            me.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProfilePage {
                    c: me.common_with_problem(problem),
                    first: me.caller.account.name.trim().is_empty(),
                    name: f.name,
                    phone: me.caller.account.phone.to_string(),
                    next,
                    errors,
                },
            )
        }
    }
}
