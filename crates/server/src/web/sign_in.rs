//! Signing in by SMS code, and out.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::page::{Button, CsrfForm, Page};
use super::views::{FormErrors, SignInPage};
use crate::api::extract::ClientAddr;
use crate::domain::Error;
use crate::domain::types::{PhoneNumber, countries};

/// Where to go after signing in (`?next=`), kept through the sign-in forms.
#[derive(Deserialize, Default)]
pub(super) struct Next {
    #[serde(default)]
    next: String,
}

pub(super) async fn home(page: Page, headers: HeaderMap, Query(n): Query<Next>) -> Response {
    let next = safe_next(&n.next);
    if page.caller.is_some() {
        return page.redirect(if next.is_empty() { "/locks" } else { &next });
    }
    page.render(
        StatusCode::OK,
        SignInPage {
            c: page.common(),
            code_step: false,
            phone: String::new(),
            country: language_country(&headers),
            next,
            errors: FormErrors::default(),
        },
    )
}

/// The country a sign-in number is most likely in, from the browser's preferred language
/// (`en-GB` gives `GB`); none when the language names no country.
fn language_country(headers: &HeaderMap) -> String {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("");
    let tag = first.split(';').next().unwrap_or("").trim();
    tag.split(['-', '_'])
        .skip(1)
        .find(|part| part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|part| part.to_ascii_uppercase())
        .filter(|region| countries().iter().any(|(id, _)| id == region))
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(super) struct PhoneForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn phone(page: Page, client: ClientAddr, CsrfForm(f): CsrfForm<PhoneForm>) -> Response {
    let phone = PhoneNumber::in_country(&f.phone, &f.country);
    match page.domain.request_sign_in_code(&phone, &client.0, page.now).await {
        Ok(()) => {
            let shown = PhoneNumber::parse(&phone)
                .map(|p| p.as_str().to_string())
                .unwrap_or(phone);
            page.render(
                StatusCode::OK,
                SignInPage {
                    c: page.common(),
                    code_step: true,
                    phone: shown,
                    country: f.country,
                    next: safe_next(&f.next),
                    errors: FormErrors::default(),
                },
            )
        }
        Err(Error::Invalid(fe)) => page.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            SignInPage {
                c: page.common(),
                code_step: false,
                phone: f.phone.trim().to_string(),
                country: f.country,
                next: safe_next(&f.next),
                errors: FormErrors::from_domain(fe, page.tr),
            },
        ),
        Err(e) => page.error_page(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn code(mut page: Page, client: ClientAddr, CsrfForm(f): CsrfForm<CodeForm>) -> Response {
    match page.domain.sign_in(&f.phone, f.code.trim(), &client.0, page.now).await {
        Ok((token, account)) => {
            page.remember_session(&token, i64::from(page.domain.settings.session_ttl_days) * 86_400);
            let next = safe_next(&f.next);
            if account.name.trim().is_empty() {
                // The first sign-in asks the name: people see each other by name, not number.
                let then = if next.is_empty() {
                    String::new()
                } else {
                    format!("&next={}", url_encode(&next))
                };
                page.redirect(&format!("/profile?first=1{then}"))
            } else {
                page.redirect(if next.is_empty() { "/locks" } else { &next })
            }
        }
        Err(e @ (Error::Unauthenticated | Error::Invalid(_))) => {
            let mut errors = match e {
                Error::Invalid(fe) => FormErrors::from_domain(fe, page.tr),
                _ => FormErrors::default(),
            };
            if errors.is_empty() || !errors.has("code") {
                errors.add("code", &page.tr.t("sign-in-wrong-code"));
            }
            page.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                SignInPage {
                    c: page.common(),
                    code_step: true,
                    phone: f.phone,
                    country: String::new(),
                    next: safe_next(&f.next),
                    errors,
                },
            )
        }
        Err(e) => page.error_page(e),
    }
}

pub(super) async fn sign_out(mut page: Page, _: CsrfForm<Button>) -> Response {
    if let Some(caller) = &page.caller {
        let _ = page.domain.sign_out(caller).await;
    }
    page.forget_session();
    page.redirect("/")
}

/// A path on this site to go to after signing in: `/…` but not `//…` (another host), of
/// visible ASCII; anything else is dropped.
pub(super) fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if ok { next.to_string() } else { String::new() }
}

/// Percent-encodes a query value.
pub(super) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        assert_eq!(safe_next("/locks/lk_1/users?x=1"), "/locks/lk_1/users?x=1");
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "locks",
            "/a b",
        ] {
            assert_eq!(safe_next(bad), "", "{bad}");
        }
        assert_eq!(url_encode("/locks?a=1&b"), "/locks%3Fa%3D1%26b");
    }
}
