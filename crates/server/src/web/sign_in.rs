//! Signing in by SMS code, and out.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::page::{Button, CsrfForm, Page};
use super::views::{FormErrors, SignInPage};
use crate::api::extract::ClientAddr;
use crate::domain::Error;
use crate::domain::types::{PhoneNumber, countries};

pub(super) async fn home(page: Page, headers: HeaderMap) -> Response {
    if page.caller.is_some() {
        return page.redirect("/locks");
    }
    page.render(
        StatusCode::OK,
        SignInPage {
            c: page.common(),
            code_step: false,
            phone: String::new(),
            country: language_country(&headers),
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
                errors: FormErrors::from(fe),
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
}

pub(super) async fn code(mut page: Page, client: ClientAddr, CsrfForm(f): CsrfForm<CodeForm>) -> Response {
    match page.domain.sign_in(&f.phone, f.code.trim(), &client.0, page.now).await {
        Ok((token, _account)) => {
            page.remember_session(&token, i64::from(page.domain.settings.session_ttl_days) * 86_400);
            page.redirect("/locks")
        }
        Err(e @ (Error::Unauthenticated | Error::Invalid(_))) => {
            let mut errors = match e {
                Error::Invalid(fe) => FormErrors::from(fe),
                _ => FormErrors::default(),
            };
            if errors.is_empty() || !errors.has("code") {
                errors.add(
                    "code",
                    "That code is wrong or has expired. Check the SMS, or ask for a new code.",
                );
            }
            page.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                SignInPage {
                    c: page.common(),
                    code_step: true,
                    phone: f.phone,
                    country: String::new(),
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
