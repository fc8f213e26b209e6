//! The web app's checks, page by page, without a browser: a page that needs a session sends
//! the visitor to sign in, every form needs the CSRF token of its cookie, a lock or member the
//! caller may not see is "not found", and domain errors become pages with the API's statuses.
//! (`browser.rs` drives the flows themselves in Chromium.)

use crate::kit;

use kit::{Backend, Harness};
use latchkey_client::model as m;

on_both_backends!(
    pages_need_a_session_and_forms_their_csrf_token,
    members_see_themselves_and_admins_see_everyone,
    domain_errors_become_pages_with_the_api_statuses,
);

const CSRF: &str = "0123456789abcdef0123456789abcdef";

/// A client that keeps redirects as answers.
fn web() -> reqwest::Client {
    latchkey_client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookies(token: Option<&str>) -> String {
    match token {
        Some(t) => format!("latchkey_session={t}; latchkey_pre={CSRF}"),
        None => format!("latchkey_pre={CSRF}"),
    }
}

async fn get(h: &Harness, path: &str, token: Option<&str>) -> (u16, String, reqwest::header::HeaderMap) {
    let r = web()
        .get(format!("{}{path}", h.base))
        .header("cookie", cookies(token))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

async fn post(
    h: &Harness,
    path: &str,
    token: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String, reqwest::header::HeaderMap) {
    let r = web()
        .post(format!("{}{path}", h.base))
        .header("cookie", cookies(token))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

/// The CSRF token the pages give a session (derived from it: see `web_security.rs`).
pub async fn page_csrf(h: &Harness, token: &str) -> String {
    let (_, body, _) = get(h, "/locks", Some(token)).await;
    let at = body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    body[at..at + 32].to_string()
}

fn location(h: &reqwest::header::HeaderMap) -> &str {
    h.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn pages_need_a_session_and_forms_their_csrf_token(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;

    // No session: every page and form sends the visitor to the sign-in page.
    // A link opened while signed out is remembered for after sign-in.
    for path in ["/locks", &format!("/locks/{}", lock.id), "/invitations"] {
        let (status, _, headers) = get(&h, path, None).await;
        assert_eq!(
            (status, location(&headers)),
            (303, format!("/?next={path}").as_str()),
            "GET {path}"
        );
    }
    let csrf = page_csrf(&h, &token).await;
    let csrf = csrf.as_str();
    let (status, _, headers) = post(&h, &format!("/locks/{}/unlock", lock.id), None, &[("csrf", CSRF)]).await;
    assert_eq!((status, location(&headers)), (303, "/"));
    // The sign-in page sets a CSRF cookie when there is none, and no-store.
    let r = web().get(format!("{}/", h.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("latchkey_pre=") && c.contains("HttpOnly")),
        "{set:?}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");

    // A signed-in visitor is sent on from the sign-in page, and sees the pages.
    let (status, _, headers) = get(&h, "/", Some(&token)).await;
    assert_eq!((status, location(&headers)), (303, "/locks"));
    let (status, body, _) = get(&h, "/locks", Some(&token)).await;
    assert_eq!(status, 200);
    assert!(body.contains("Front door") && body.contains(csrf), "{body}");

    // A form without its token, or with another one, is refused with a page, and does nothing.
    for csrf in [None, Some("ffffffffffffffffffffffffffffffff")] {
        let mut form = vec![("phone", "+12025550123"), ("access_level", "family")];
        form.extend(csrf.map(|c| ("csrf", c)));
        let (status, body, _) = post(&h, &format!("/locks/{}/invite/member", lock.id), Some(&token), &form).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("Please try again"), "{body}");
    }
    assert!(ana.client.lock_invitations(&lock.id).await.unwrap().is_empty());
    let before = ana.client.lock(&lock.id).await.unwrap();
    let (status, _, _) = post(
        &h,
        &format!("/locks/{}/members/{}/pin", lock.id, ana.id()),
        Some(&token),
        &[("csrf", "wrong"), ("pin", "482915")],
    )
    .await;
    assert_eq!(status, 403);
    let members = ana.client.members(&lock.id).await.unwrap();
    assert!(!members[0].has_pin, "a refused form changes nothing");
    assert_eq!(ana.client.lock(&lock.id).await.unwrap().sync, before.sync);

    // With its token the same form works, and answers with a redirect.
    let (status, _, headers) = post(
        &h,
        &format!("/locks/{}/members/{}/pin", lock.id, ana.id()),
        Some(&token),
        &[("csrf", csrf), ("pin", "482915")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        location(&headers),
        format!("/locks/{}/members/{}?done=pin", lock.id, ana.id())
    );
    assert!(ana.client.members(&lock.id).await.unwrap()[0].has_pin);

    // Signing out ends the session and clears its cookie.
    let (status, _, headers) = post(&h, "/sign-out", Some(&token), &[("csrf", csrf)]).await;
    assert_eq!((status, location(&headers)), (303, "/"));
    let cleared: Vec<_> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("latchkey_session=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let (status, _, headers) = get(&h, "/locks", Some(&token)).await;
    assert_eq!((status, location(&headers)), (303, "/?next=/locks"));
    h.stop().await;
}

async fn members_see_themselves_and_admins_see_everyone(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let ben = h.user("Ben").await;
    let cy = h.user("Cy").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    h.add_member(&ana, &lock.id, &ben, m::AccessLevel::Family, None).await;
    h.add_member(&ana, &lock.id, &cy, m::AccessLevel::Family, None).await;
    let (ana_t, ben_t) = (ana.client.token().unwrap(), ben.client.token().unwrap());
    let page = |who: &kit::User| format!("/locks/{}/members/{}", lock.id, who.id());

    // An Admin sees every member; a member sees only themself.
    for who in [&ana, &ben, &cy] {
        let (status, body, _) = get(&h, &page(who), Some(ana_t)).await;
        assert_eq!(status, 200, "Ana sees {}", who.account.name);
        assert!(body.contains(&who.account.name), "{body}");
    }
    let (status, body, _) = get(&h, &page(&ben), Some(ben_t)).await;
    assert_eq!(status, 200);
    assert!(body.contains("Ben"), "{body}");
    for who in [&ana, &cy] {
        let (status, _, _) = get(&h, &page(who), Some(ben_t)).await;
        assert_eq!(status, 404, "Ben must not see {}", who.account.name);
    }
    // The Admin-only pages are not for members; a lock one is not a member of is not found.
    for path in ["users", "invite", "invite/member", "guest-keys/new", "activity"] {
        let (status, _, _) = get(&h, &format!("/locks/{}/{path}", lock.id), Some(ben_t)).await;
        assert_eq!(status, 403, "{path}");
        let (status, _, _) = get(&h, &format!("/locks/{}/{path}", lock.id), Some(ana_t)).await;
        assert_eq!(status, 200, "{path}");
    }
    let stranger = h.user("Dee").await;
    let (status, body, _) = get(&h, &format!("/locks/{}", lock.id), stranger.client.token()).await;
    assert_eq!(status, 404);
    assert!(body.contains("does not exist"), "{body}");
    h.stop().await;
}

async fn domain_errors_become_pages_with_the_api_statuses(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let csrf = page_csrf(&h, &token).await;
    let csrf = csrf.as_str();

    // A form the domain refuses is shown again with its errors, 422.
    let (status, body, _) = post(
        &h,
        &format!("/locks/{}/invite/member", lock.id),
        Some(&token),
        &[("csrf", csrf), ("phone", "not a phone"), ("access_level", "family")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("not a phone"), "{body}");
    // The last Admin cannot leave: 409, said on a page.
    let (status, body, _) = post(
        &h,
        &format!("/locks/{}/members/{}/remove", lock.id, ana.id()),
        Some(&token),
        &[("csrf", csrf), ("confirm", "on")],
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("at least one Admin"), "{body}");
    // An invitation that is not the caller's: 404.
    let (status, _, _) = post(&h, "/invitations/inv_nope/accept", Some(&token), &[("csrf", csrf)]).await;
    assert_eq!(status, 404);
    // Lock beside Unlock: the remote Lock command goes to the lock, and the page says so.
    let sent = h.gateway.unlocks.lock().unwrap().len();
    let (status, _, headers) = post(&h, &format!("/locks/{}/lock", lock.id), Some(&token), &[("csrf", csrf)]).await;
    assert_eq!(
        (status, location(&headers)),
        (303, format!("/locks/{}?done=locked", lock.id).as_str())
    );
    assert_eq!(
        h.gateway.unlocks.lock().unwrap().len(),
        sent + 1,
        "the Lock command was not sent"
    );
    // Without the form's token it is refused and sends nothing.
    let (status, _, _) = post(&h, &format!("/locks/{}/lock", lock.id), Some(&token), &[]).await;
    assert_ne!(status, 303);
    assert_eq!(h.gateway.unlocks.lock().unwrap().len(), sent + 1);
    // A remote unlock the lock does not answer in time: 504 (the fake lock is silent).
    h.gateway.set_unlock_mode(kit::UnlockMode::Timeout);
    let (status, body, _) = post(
        &h,
        &format!("/locks/{}/unlock", lock.id),
        Some(&token),
        &[("csrf", csrf)],
    )
    .await;
    assert_eq!(status, 504, "{body}");
    h.stop().await;
}
