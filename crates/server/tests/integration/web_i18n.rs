//! The web app in Korean (issue 21): a browser that asks for Korean gets every page in Korean,
//! with no English word left in its text or in the attributes people hear or see
//! (placeholder, aria-label, title, alt, the confirmations), apart from the data this test made,
//! "Latchkey", IANA zone names, region codes and digits; the profile's setting wins over the
//! browser; `<html lang>` follows. (`flows.mjs` walks the Korean pages in Chromium too.)

use jiff::SignedDuration;
use latchkey_client::model as m;

use crate::kit::{self, Backend, Harness};
use crate::web_pages::page_csrf;

on_both_backends!(
    every_page_speaks_korean_to_a_korean_browser,
    the_profile_setting_wins_over_the_browser,
);

const CSRF: &str = "0123456789abcdef0123456789abcdef";
const KOREAN: &str = "ko-KR,ko;q=0.9,en;q=0.8";

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

async fn get(h: &Harness, path: &str, token: Option<&str>, languages: &str) -> (u16, String) {
    let r = web()
        .get(format!("{}{path}", h.base))
        .header("cookie", cookies(token))
        .header("accept-language", languages)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn rfc(t: jiff::Timestamp) -> String {
    t.to_string()
}

/// What a reader meets on a page: the text outside tags (not scripts' or styles' contents,
/// not the zone list's options) and the attributes that are read out or shown.
fn readable(html: &str) -> String {
    let mut html = html.to_string();
    for (open, close) in [
        ("<script", "</script>"),
        ("<style", "</style>"),
        ("<datalist", "</datalist>"),
    ] {
        while let Some(a) = html.find(open) {
            let b = html[a..].find(close).map(|b| a + b + close.len()).unwrap_or(html.len());
            html.replace_range(a..b, " ");
        }
    }
    let mut out = String::new();
    let mut rest = html.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let gt = rest[lt..].find('>').map(|g| lt + g).unwrap_or(rest.len() - 1);
        let tag = &rest[lt..=gt];
        for attr in ["placeholder", "aria-label", "title", "alt", "data-confirm"] {
            let key = format!(" {attr}=\"");
            if let Some(a) = tag.find(&key) {
                let v = &tag[a + key.len()..];
                out.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                out.push(' ');
            }
        }
        rest = &rest[gt + 1..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
}

/// The English words left in a page's readable text, beside the allowed ones.
fn english_words(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || "()[]{}·,.;:!?\"'“”‘’/–-+#=<>|…".contains(c)) {
        // IANA zones (`Europe/Berlin`) were split at the slash: their parts are allowed below.
        let word: String = token.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        if word.len() < 2 || token.chars().any(|c| !c.is_ascii() && c.is_alphabetic()) && word.len() < 2 {
            continue;
        }
        let is_region = word.len() == 2 && word.chars().all(|c| c.is_ascii_uppercase());
        let is_zone_part = jiff::tz::db()
            .available()
            .any(|n| n.as_str().split('/').any(|p| p.replace('_', "") == word));
        if is_region || is_zone_part || allowed.contains(&word.as_str()) {
            continue;
        }
        left.push(token.to_string());
    }
    left
}

async fn every_page_speaks_korean_to_a_korean_browser(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Haus", "Europe/Berlin").await;
    // A Recurring Guest with a schedule, a pending invitation, a key that works now, one that
    // starts tomorrow, a revoked one: the pages' lists and the activity log have entries.
    let bo = h.user("Bo").await;
    h.add_member(
        &ana,
        &lock.id,
        &bo,
        m::AccessLevel::RecurringGuest,
        Some(kit::schedule(&["mon", "wed"], "09:00", "17:30")),
    )
    .await;
    ana.client
        .invite(
            &lock.id,
            &m::CreateInvitation {
                phone: h.new_phone(),
                name: Some("Jonas".into()),
                access_level: m::AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    let now = h.now();
    let key = ana
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", None, &rfc(now), &rfc(now + SignedDuration::from_hours(3))),
        )
        .await
        .unwrap();
    let later = ana
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key(
                "Tomorrow",
                Some(&h.new_phone()),
                &rfc(now + SignedDuration::from_hours(26)),
                &rfc(now + SignedDuration::from_hours(30)),
            ),
        )
        .await
        .unwrap();
    let gone = ana
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Gone", None, &rfc(now), &rfc(now + SignedDuration::from_hours(3))),
        )
        .await
        .unwrap();
    ana.client.revoke_guest_key(&lock.id, &gone.id).await.unwrap();

    let l = &lock.id;
    let pages = [
        "/locks".to_string(),
        format!("/locks/{l}"),
        format!("/locks/{l}/users"),
        format!("/locks/{l}/invite"),
        format!("/locks/{l}/invite/member"),
        format!("/locks/{l}/guest-keys/new"),
        format!("/locks/{l}/guest-keys/{}", key.id),
        format!("/locks/{l}/guest-keys/{}?done=created", later.id),
        format!("/locks/{l}/guest-keys/{}", gone.id),
        format!("/locks/{l}/members/{}", ana.id()),
        format!("/locks/{l}/members/{}", bo.id()),
        format!("/locks/{l}/activity"),
        format!("/locks/{l}/activity?kind=changes"),
        format!("/locks/{l}/notifications"),
        format!("/locks/{l}/offline-keys"),
        format!("/locks/{l}/calendars"),
        "/invitations".to_string(),
        "/profile".to_string(),
        "/locks?done=saved".to_string(),
        // A page about an error.
        "/locks/no-such-lock".to_string(),
    ];
    let allowed = [
        "Latchkey",
        "Ana",
        "Bo",
        "Haus",
        "Jonas",
        "Courier",
        "Tomorrow",
        "Gone",
        "iCalendar",
        "English",
    ];
    let mut checked = 0;
    for path in &pages {
        let (status, body) = get(&h, path, Some(&token), KOREAN).await;
        assert!(status == 200 || path.contains("no-such"), "{path}: {status}");
        assert!(body.contains("<html lang=\"ko\">"), "{path} is not marked Korean");
        let text = readable(&body);
        assert!(
            text.chars().any(|c| ('가'..='힣').contains(&c)),
            "{path} has no Korean: {text}"
        );
        let left = english_words(&text, &allowed);
        assert!(left.is_empty(), "{path} still has English: {left:?}\n{text}");
        checked += 1;
    }
    // The Recurring Guest's own view (when the schedule lets them in) and the signed-out page.
    let bo_token = bo.client.token().unwrap().to_string();
    for (path, token) in [
        (format!("/locks/{l}"), Some(bo_token.as_str())),
        ("/".to_string(), None),
    ] {
        let (status, body) = get(&h, &path, token, KOREAN).await;
        assert_eq!(status, 200, "{path}");
        let text = readable(&body);
        let left = english_words(&text, &allowed);
        assert!(left.is_empty(), "{path} still has English: {left:?}\n{text}");
        checked += 1;
    }
    // Times are written the Korean way ("오후 5:30"), never 24-hour.
    let (_, member) = get(&h, &format!("/locks/{l}/members/{}", bo.id()), Some(&token), KOREAN).await;
    assert!(readable(&member).contains("오후 5:30"), "{}", readable(&member));
    // The scripts' words come along in Korean.
    let (_, locks) = get(&h, "/locks", Some(&token), KOREAN).await;
    assert!(locks.contains("id=\"lk-messages\"") && locks.contains("연락처에서 고르기"));
    // The same pages in English for an English browser, with US times.
    let (_, en) = get(
        &h,
        &format!("/locks/{l}/members/{}", bo.id()),
        Some(&token),
        "en-US,en;q=0.9",
    )
    .await;
    assert!(en.contains("<html lang=\"en\">") && en.contains("5:30 PM"), "{en}");
    let (_, gb) = get(&h, &format!("/locks/{l}/members/{}", bo.id()), Some(&token), "en-GB").await;
    assert!(gb.contains("17:30"), "{gb}");
    // The offline page's words, generated for both languages.
    for lang in ["en", "ko"] {
        let (status, json) = get(&h, &format!("/static/messages/{lang}.json"), None, "").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(
            v["js-offline-heading"].as_str().is_some_and(|s| !s.is_empty()),
            "{json}"
        );
    }
    assert_eq!(get(&h, "/static/messages/fr.json", None, "").await.0, 404);
    assert_eq!(checked, pages.len() + 2);
    h.stop().await;
}

async fn the_profile_setting_wins_over_the_browser(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let csrf = page_csrf(&h, &token).await;
    let save = |locale: &'static str| {
        let (h, token, csrf) = (&h, token.clone(), csrf.clone());
        async move {
            let r = web()
                .post(format!("{}/profile", h.base))
                .header("cookie", cookies(Some(&token)))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("name", "Ana"),
                    ("next", ""),
                    ("locale", locale),
                ])
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    // A Korean browser, English chosen: English.
    assert_eq!(save("en").await, 303);
    let (_, body) = get(&h, "/locks", Some(&token), KOREAN).await;
    assert!(
        body.contains("<html lang=\"en\">") && body.contains("My locks"),
        "{body}"
    );
    let (_, profile) = get(&h, "/profile", Some(&token), KOREAN).await;
    assert!(
        profile.contains("<option value=\"en\" lang=\"en\" selected>"),
        "{profile}"
    );
    assert_eq!(ana.client.me().await.unwrap().locale.as_deref(), Some("en"));
    // Korean chosen, an English browser: Korean.
    assert_eq!(save("ko").await, 303);
    let (_, body) = get(&h, "/locks", Some(&token), "en-US").await;
    assert!(
        body.contains("<html lang=\"ko\">") && body.contains("내 도어락"),
        "{body}"
    );
    // Back to the browser's.
    assert_eq!(save("").await, 303);
    let (_, body) = get(&h, "/locks", Some(&token), "en-US").await;
    assert!(body.contains("My locks"), "{body}");
    assert_eq!(ana.client.me().await.unwrap().locale, None);
    // Something else is refused, in the reader's language, and changes nothing.
    assert_eq!(save("fr").await, 422);
    assert_eq!(ana.client.me().await.unwrap().locale, None);
    // The API sets it too (PATCH /me), and null is the browser's.
    let r = kit::raw()
        .patch(format!("{}/api/v1/me", h.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Ana", "locale": "ko"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["locale"], "ko");
    let (_, body) = get(&h, "/locks", Some(&token), "en-US").await;
    assert!(body.contains("내 도어락"), "{body}");
    let r = kit::raw()
        .patch(format!("{}/api/v1/me", h.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Ana", "locale": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = kit::raw()
        .patch(format!("{}/api/v1/me", h.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Ana", "locale": "de"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(ana.client.me().await.unwrap().locale, None);
    h.stop().await;
}
