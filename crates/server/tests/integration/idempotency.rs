//! "Nothing made twice" (issue 20): the API's `Idempotency-Key` on POST guest-keys and
//! invitations, and on the PATCH that changes a key's end, answers a repeated request with the
//! first result, and the web forms redirect
//! after a POST and carry their own key, so a reload or a double tap makes one key.

use crate::kit;

use kit::{Backend, Harness};
use latchkey_client::model as m;
use serde_json::json;

on_both_backends!(
    the_same_idempotency_key_answers_with_the_first_guest_key,
    the_same_idempotency_key_answers_with_the_first_invitation,
    a_retried_change_of_end_answers_with_the_key_it_made,
    the_guest_key_form_redirects_and_makes_one_key_when_sent_twice,
);

async fn post_json(
    h: &Harness,
    token: &str,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    send_json(h, reqwest::Method::POST, token, path, key, body).await
}

async fn send_json(
    h: &Harness,
    method: reqwest::Method,
    token: &str,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut r = kit::raw()
        .request(method, format!("{}/api/v1{path}", h.base))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn the_same_idempotency_key_answers_with_the_first_guest_key(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let phone = h.new_phone();
    let path = format!("/locks/{}/guest-keys", lock.id);
    let body = json!({
        "name": "Courier", "phone": phone, "starts_at": "2027-07-01T10:00", "ends_at": "2027-07-02T10:00",
        "precautions_accepted": true
    });

    let (s1, first) = post_json(&h, &token, &path, Some("retry-1"), &body).await;
    assert_eq!(s1, 201, "{first}");
    // A retry (a lost answer over a bad network): the same key, the same code, one SMS.
    let (s2, again) = post_json(&h, &token, &path, Some("retry-1"), &body).await;
    assert_eq!(s2, 201, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["code"], first["code"]);
    assert_eq!(ana.client.guest_keys(&lock.id).await.unwrap().len(), 1);
    // The outbox is asynchronous: wait for the first SMS, then give a second one time to come.
    h.next_sms(&phone, 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(h.sms_to(&phone).len(), 1, "a retry texted the guest again");

    // The same key with another request is refused, and makes nothing.
    let other = json!({
        "name": "Someone else", "starts_at": "2027-07-01T10:00", "ends_at": "2027-07-02T10:00",
        "precautions_accepted": true
    });
    let (s3, problem) = post_json(&h, &token, &path, Some("retry-1"), &other).await;
    assert_eq!(s3, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "idempotency_key", "{problem}");
    // A bad key is a field error too.
    let (s4, problem) = post_json(&h, &token, &path, Some("has spaces"), &other).await;
    assert_eq!(s4, 422, "{problem}");
    // Keys are the caller's own: another Admin's same key is another request.
    let ben = h.user("Ben").await;
    h.add_member(&ana, &lock.id, &ben, m::AccessLevel::Admin, None).await;
    let (s5, bens) = post_json(&h, ben.client.token().unwrap(), &path, Some("retry-1"), &body).await;
    assert_eq!(s5, 201, "{bens}");
    assert_ne!(bens["id"], first["id"]);
    // Without a key, every request makes a key (the API as before).
    let (s6, _) = post_json(&h, &token, &path, None, &body).await;
    assert_eq!(s6, 201);
    assert_eq!(ana.client.guest_keys(&lock.id).await.unwrap().len(), 3);
    // A day later the key is forgotten: it may be used again.
    h.advance(jiff::SignedDuration::from_hours(25));
    let later = json!({
        "name": "Courier", "starts_at": "2027-07-03T10:00", "ends_at": "2027-07-04T10:00",
        "precautions_accepted": true
    });
    let (s7, fresh) = post_json(&h, &token, &path, Some("retry-1"), &later).await;
    assert_eq!(s7, 201, "{fresh}");
    assert_ne!(fresh["id"], first["id"]);
    h.stop().await;
}

async fn the_same_idempotency_key_answers_with_the_first_invitation(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let phone = h.new_phone();
    let path = format!("/locks/{}/invitations", lock.id);
    let body = json!({"phone": phone, "name": "Cy Young", "access_level": "family"});

    let (s1, first) = post_json(&h, &token, &path, Some("inv-1"), &body).await;
    assert_eq!(s1, 201, "{first}");
    assert_eq!(first["name"], "Cy Young");
    let (s2, again) = post_json(&h, &token, &path, Some("inv-1"), &body).await;
    assert_eq!(s2, 201, "{again}");
    assert_eq!(again["id"], first["id"]);
    // The outbox is asynchronous: wait for the first SMS, then give a second one time to come.
    h.next_sms(&phone, 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(h.sms_to(&phone).len(), 1, "a retry texted the invitee again");
    // Without the key the same invitation is a conflict, as before.
    let (s3, _) = post_json(&h, &token, &path, None, &body).await;
    assert_eq!(s3, 409);
    // The invitation's name is the invitee's until they say their own.
    let (cy, account) = h.sign_in(&phone).await;
    assert_eq!(account.name, "");
    cy.accept_invitation(first["id"].as_str().unwrap()).await.unwrap();
    let members = ana.client.members(&lock.id).await.unwrap();
    assert!(
        members.iter().any(|m| m.name == "Cy Young" && m.phone == phone),
        "{members:?}"
    );
    h.stop().await;
}

async fn the_guest_key_form_redirects_and_makes_one_key_when_sent_twice(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = format!("latchkey_session={token}");
    let form_page = web
        .get(format!("{}/locks/{}/guest-keys/new", h.base, lock.id))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\"");
        let at = form_page
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {form_page}"))
            + marker.len();
        let rest = &form_page[at..];
        let v = rest.find("value=\"").unwrap() + 7;
        rest[v..].split('"').next().unwrap().to_string()
    };
    let (csrf, idem, starts) = (field("csrf"), field("idem"), field("starts_at"));
    // The form proposes to start now (the test clock's minute), not at the next hour.
    let now_local = h
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    assert_eq!(starts, now_local);
    let form = [
        ("csrf", csrf.as_str()),
        ("idem", idem.as_str()),
        ("name", "Courier"),
        ("starts_at", starts.as_str()),
        ("ends_at", &field("ends_at")),
        ("precautions_accepted", "on"),
    ];
    let mut places = Vec::new();
    for _ in 0..2 {
        let r = web
            .post(format!("{}/locks/{}/guest-keys/new", h.base, lock.id))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        places.push(r.headers()["location"].to_str().unwrap().to_string());
    }
    assert_eq!(places[0], places[1], "the second submission went elsewhere");
    assert!(
        places[0].contains("/guest-keys/gk") && places[0].ends_with("?done=created"),
        "{}",
        places[0]
    );
    let keys = ana.client.guest_keys(&lock.id).await.unwrap();
    assert_eq!(keys.len(), 1, "two submissions made {} keys", keys.len());
    assert_eq!(
        keys[0].status,
        m::GuestKeyStatus::Active,
        "a key made with the defaults works at once"
    );
    // The page it leads to shows the code and says it works now; reloading it makes nothing.
    for _ in 0..2 {
        let page = web
            .get(format!("{}{}", h.base, places[0]))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&keys[0].code[..4]) && page.contains("It works now"),
            "{page}"
        );
    }
    assert_eq!(ana.client.guest_keys(&lock.id).await.unwrap().len(), 1);
    h.stop().await;
}

/// A change of end that needed a new code replaces the key: the old id then names a revoked
/// key, so a plain retry gets 409. With an `Idempotency-Key` the retry (a lost answer) gets the
/// new key again, and the guest one SMS.
async fn a_retried_change_of_end_answers_with_the_key_it_made(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let token = ana.client.token().unwrap().to_string();
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let phone = h.new_phone();
    let now = h.now();
    let end = now + jiff::SignedDuration::from_mins(125);
    let key = ana
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", Some(&phone), &now.to_string(), &end.to_string()),
        )
        .await
        .unwrap();
    h.next_sms(&phone, 0).await;
    let path = format!("/locks/{}/guest-keys/{}", lock.id, key.id);
    let later = json!({"ends_at": (now + jiff::SignedDuration::from_hours(26)).to_string()});

    let (s1, first) = send_json(&h, reqwest::Method::PATCH, &token, &path, Some("end-1"), &later).await;
    assert_eq!(s1, 200, "{first}");
    assert_ne!(
        first["id"],
        key.id.as_str(),
        "a later end than the code carries makes a new key"
    );
    let (s2, again) = send_json(&h, reqwest::Method::PATCH, &token, &path, Some("end-1"), &later).await;
    assert_eq!(s2, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["code"], first["code"]);
    // One new key, one new SMS.
    let keys = ana.client.guest_keys(&lock.id).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    h.next_sms(&phone, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(h.sms_to(&phone).len(), 2, "a retry texted the guest again");
    // Without the key, the retry is told the old key is revoked (as before); the same key with
    // another end is refused.
    let (s3, _) = send_json(&h, reqwest::Method::PATCH, &token, &path, None, &later).await;
    assert_eq!(s3, 409);
    let other = json!({"ends_at": (now + jiff::SignedDuration::from_hours(30)).to_string()});
    let (s4, problem) = send_json(&h, reqwest::Method::PATCH, &token, &path, Some("end-1"), &other).await;
    assert_eq!(s4, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "idempotency_key", "{problem}");
    h.stop().await;
}
