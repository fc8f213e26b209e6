//! Offline guest keys (the web app's `web/offline.rs`, `Domain::record_offline_key`): a device
//! turns them on and gets its issuer file once; a code it minted with that file is recorded,
//! listed and logged; the same code again answers with that key; a code the issuer did not
//! make for the window, or one of a revoked issuer, is refused; revoking the device's issuer
//! revokes its keys without filling the lock's deny list. (`browser.rs` does the same through
//! the offline page in Chromium.)

use crate::kit;
use crate::web_pages::page_csrf;

use jiff::{SignedDuration, Timestamp};
use kit::{Backend, Harness};
use latchkey_client::model as m;
use latchkey_guest_code::{self as gc, Validity, file::IssuerFile};

on_both_backends!(a_device_records_what_it_minted_offline_and_revoking_it_revokes_them);

fn web() -> reqwest::Client {
    latchkey_client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(h: &Harness, path: &str, token: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = web()
        .post(format!("{}{path}", h.base))
        .header("cookie", format!("latchkey_session={token}"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An attribute's value in a page, HTML-unescaped.
fn attribute(page: &str, name: &str) -> String {
    let start = page
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in the page"))
        + name.len()
        + 2;
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// What a device does: the window rounded out to whole hours, minted with its file.
fn mint(file: &IssuerFile, lock_id: &str, start: Timestamp, end: Timestamp, one_time: bool) -> String {
    let validity = Validity::covering(start.as_second(), end.as_second()).unwrap();
    let code = gc::mint(&file.key, lock_id.as_bytes(), file.slot, file.epoch, validity, one_time).unwrap();
    String::from_utf8(code.0.to_vec()).unwrap()
}

async fn a_device_records_what_it_minted_offline_and_revoking_it_revokes_them(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let csrf = page_csrf(&h, &token).await;
    let base = format!("/locks/{}/offline-keys", lock.id);

    // Turning it on: the page carries the issuer file once, and says what such keys cannot do.
    let (status, page) = post(&h, &base, &token, &[("csrf", &csrf), ("label", "Ana's phone")]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("revoke its issuer"), "{page}");
    assert!(page.contains("cannot text it"), "{page}");
    let issuer_id = attribute(&page, "data-new-issuer");
    let file = IssuerFile::parse(&attribute(&page, "data-new-file")).expect("an issuer file");
    assert_eq!(file.issuer_id, issuer_id);
    assert_eq!(file.lock_id.as_deref(), Some(lock.id.as_str()));
    assert!((1..=7).contains(&file.slot), "a device slot: {}", file.slot);
    // The page as reloaded lists the device but no longer carries the file.
    let r = web()
        .get(format!("{}{base}", h.base))
        .header("cookie", format!("latchkey_session={token}"))
        .send()
        .await
        .unwrap();
    let again = r.text().await.unwrap();
    assert!(
        again.contains("Ana&#39;s phone") || again.contains("Ana's phone"),
        "{again}"
    );
    assert!(again.contains("data-new-file=\"\""), "the file is shown again");

    // A code minted offline is recorded: listed, logged, with the window the Admin chose.
    let now = h.now();
    let (start, end) = (now, now + SignedDuration::from_hours(3));
    let code = mint(&file, &lock.id, start, end, false);
    let keys_path = format!("{base}/{issuer_id}/keys");
    let window = [start.to_string(), end.to_string()];
    let form = |name: &'static str, code: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_string()),
            ("code", code.to_string()),
            ("starts_at", window[0].clone()),
            ("ends_at", window[1].clone()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let (h, token, path) = (&h, token.clone(), keys_path.clone());
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(h, &path, &token, &pairs).await
        }
    };
    let (status, body) = send(form("Bob", &code)).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = ana.client.guest_keys(&lock.id).await.unwrap();
    let key = keys.iter().find(|k| k.id == id).expect("the recorded key is listed");
    assert_eq!((key.name.as_str(), key.code.as_str()), ("Bob", code.as_str()));
    assert_eq!(key.status, m::GuestKeyStatus::Active);
    assert_eq!(key.phone, None, "no SMS for a key made offline");
    let events = ana.client.events(&lock.id, None, None).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "guest_key_created" && e.detail.contains("made offline on \"Ana's phone\"")),
        "{events:?}"
    );

    // The same code again (the device missed the answer): the same key, no second one.
    let (status, body) = send(form("Bob", &code)).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains(&id), "{body}");
    assert_eq!(ana.client.guest_keys(&lock.id).await.unwrap().len(), keys.len());

    // Codes the issuer did not make for this window are refused, naming the field.
    let forged = if code.ends_with('0') {
        format!("{}1", &code[..11])
    } else {
        format!("{}0", &code[..11])
    };
    let other_window = mint(
        &file,
        &lock.id,
        start + SignedDuration::from_hours(5),
        end + SignedDuration::from_hours(5),
        false,
    );
    let one_time = mint(&file, &lock.id, start, end, true);
    for bad in [
        forged.as_str(),
        other_window.as_str(),
        one_time.as_str(),
        "12345",
        "abcdefghijkl",
    ] {
        let (status, body) = send(form("Eve", bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body.contains("code"), "{body}");
    }
    // Without the form's CSRF token: refused before anything is read.
    let no_csrf = [
        ("name", "Eve"),
        ("code", code.as_str()),
        ("starts_at", &window[0]),
        ("ends_at", &window[1]),
    ];
    let (status, _) = post(&h, &keys_path, &token, &no_csrf).await;
    assert_eq!(status, 403);

    // Revoking the device: its keys are revoked with it, and need no deny entry on the lock.
    let (status, _) = post(&h, &format!("{base}/{issuer_id}/revoke"), &token, &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let keys = ana.client.guest_keys(&lock.id).await.unwrap();
    assert_eq!(
        keys.iter().find(|k| k.id == id).unwrap().status,
        m::GuestKeyStatus::Revoked
    );
    let capacity = ana.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    assert_eq!(capacity.revoked_codes.map(|c| c.used), Some(0), "{capacity:?}");
    // A code the revoked issuer made is no longer recorded.
    let late = mint(&file, &lock.id, start + SignedDuration::from_hours(1), end, false);
    let (status, body) = send(form("Late", &late)).await;
    assert_eq!(status, 409, "{body}");
    h.stop().await;
}
