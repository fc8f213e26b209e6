//! The web app's CSRF defence (issue 20): the token is derived from the session (a token made
//! for an anonymous page or another session does not pass), it changes at sign-in, a POST
//! whose Origin is another site is refused, and the API takes only bearer tokens (the web
//! app's cookie does not authenticate `/api/v1`).

use crate::kit;
use crate::web_pages::page_csrf;

use kit::{Backend, Harness};

on_both_backends!(
    csrf_tokens_belong_to_their_session_and_origin,
    the_api_ignores_the_session_cookie,
    sign_in_renews_the_token_and_returns_to_the_link,
    the_live_stream_says_when_the_lock_changes,
);

async fn the_live_stream_says_when_the_lock_changes(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let token = ana.client.token().unwrap().to_string();
    let mut r = web()
        .get(format!("{}/locks/{}/live", h.base, lock.id))
        .header("cookie", format!("latchkey_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), r.chunk())
        .await
        .expect("the stream answers at once")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"), "{first:?}");
    // A change of the lock (a guest key is an event in the log) is told within seconds.
    ana.client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", None, "2027-07-01T10:00", "2027-07-02T10:00"),
        )
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("event: changed") {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("a change event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    h.stop().await;
}

fn web() -> reqwest::Client {
    latchkey_client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A PIN form post as a browser would send it; the status.
async fn set_pin(h: &Harness, path: &str, cookie: &str, csrf: &str, extra: &[(&str, &str)]) -> u16 {
    let mut r = web()
        .post(format!("{}{path}", h.base))
        .header("cookie", cookie)
        .form(&[("csrf", csrf), ("pin", "482915")]);
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap().status().as_u16()
}

async fn csrf_tokens_belong_to_their_session_and_origin(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let eve = h.user("Eve").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let token = ana.client.token().unwrap().to_string();
    let cookie = format!("latchkey_session={token}");
    let path = format!("/locks/{}/members/{}/pin", lock.id, ana.id());

    // What an attacker can get: a token of an anonymous page (with the pre-session cookie they
    // set), and the token of their own session. Neither passes with Ana's session, even with
    // their pre-session cookie planted next to it.
    let anon = web().get(format!("{}/", h.base)).send().await.unwrap();
    let pre = anon.headers()["set-cookie"].to_str().unwrap().to_string();
    let pre_value = pre.split(';').next().unwrap().to_string();
    let body = anon.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let anon_csrf = &body[at..at + 32];
    let planted = format!("{cookie}; {pre_value}");
    assert_eq!(set_pin(&h, &path, &planted, anon_csrf, &[]).await, 403);
    let eves = page_csrf(&h, eve.client.token().unwrap()).await;
    assert_eq!(set_pin(&h, &path, &cookie, &eves, &[]).await, 403);
    // The token does not show the session it comes from.
    let mine = page_csrf(&h, &token).await;
    assert!(!token.contains(&mine) && !mine.contains(&token));
    assert_ne!(mine, eves);

    // Ana's own token, from another site: refused by Origin, or by Sec-Fetch-Site.
    assert_eq!(
        set_pin(&h, &path, &cookie, &mine, &[("origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(
        set_pin(
            &h,
            &path,
            &cookie,
            &mine,
            &[("origin", "null"), ("sec-fetch-site", "cross-site")]
        )
        .await,
        403
    );
    assert_eq!(
        set_pin(&h, &path, &cookie, &mine, &[("sec-fetch-site", "cross-site")]).await,
        403
    );
    assert_eq!(
        set_pin(&h, &path, &cookie, &mine, &[("sec-fetch-site", "same-site")]).await,
        403
    );
    assert!(
        !ana.client.members(&lock.id).await.unwrap()[0].has_pin,
        "a refused form changed something"
    );
    // From this site it works.
    let ours = h.base.clone();
    let status = set_pin(
        &h,
        &path,
        &cookie,
        &mine,
        &[("origin", ours.as_str()), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(ana.client.members(&lock.id).await.unwrap()[0].has_pin);
    h.stop().await;
}

async fn the_api_ignores_the_session_cookie(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let token = ana.client.token().unwrap().to_string();
    // The attack of the issue: a cross-site text/plain POST carrying the cookie.
    let r = web()
        .post(format!("{}/api/v1/locks/{}/unlock", h.base, lock.id))
        .header("cookie", format!("latchkey_session={token}"))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = web()
        .get(format!("{}/api/v1/me", h.base))
        .header("cookie", format!("latchkey_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The bearer token still works.
    let r = web()
        .get(format!("{}/api/v1/me", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    h.stop().await;
}

async fn sign_in_renews_the_token_and_returns_to_the_link(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let link = format!("/locks/{}/activity", lock.id);

    // Signed out, the link leads to sign-in, which keeps it.
    let r = web().get(format!("{}{link}", h.base)).send().await.unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, format!("/?next={link}"));
    let r = web().get(format!("{}{to}", h.base)).send().await.unwrap();
    let pre = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("name=\"next\" value=\"{link}\"")), "{page}");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let anon_csrf = page[at..at + 32].to_string();

    let phone = ana.phone.clone();
    let seen = h.sms_to(&phone).len();
    let r = web()
        .post(format!("{}/sign-in/phone", h.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", anon_csrf.as_str()),
            ("phone", phone.as_str()),
            ("next", link.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let code_page = r.text().await.unwrap();
    assert!(code_page.contains("Send a new code"), "{code_page}");
    let code = kit::six_digits(&h.next_sms(&phone, seen).await.body).unwrap();
    let r = web()
        .post(format!("{}/sign-in/code", h.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", anon_csrf.as_str()),
            ("phone", phone.as_str()),
            ("code", code.as_str()),
            ("next", link.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    // Back to the link (Ana has a name, so no name question first).
    assert_eq!(r.headers()["location"].to_str().unwrap(), link);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("latchkey_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("latchkey_session=")
        .to_string();
    // A new pre-session replaces the old one, and the session's token is another.
    assert!(
        set.iter()
            .any(|c| c.starts_with("latchkey_pre=") && !c.starts_with(&pre)),
        "{set:?}"
    );
    assert_ne!(page_csrf(&h, &session).await, anon_csrf);

    // Somebody new is asked their name first, then sent on.
    let newcomer = h.new_phone();
    let seen = h.sms_to(&newcomer).len();
    let r = web()
        .post(format!("{}/sign-in/phone", h.base))
        .header("cookie", &pre)
        .form(&[("csrf", anon_csrf.as_str()), ("phone", newcomer.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let code = kit::six_digits(&h.next_sms(&newcomer, seen).await.body).unwrap();
    let r = web()
        .post(format!("{}/sign-in/code", h.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", anon_csrf.as_str()),
            ("phone", newcomer.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"].to_str().unwrap(), "/profile?first=1");
    h.stop().await;
}
