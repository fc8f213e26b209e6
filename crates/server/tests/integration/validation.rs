//! Bad input of every kind `security.md` and `api.md` name: a clear 422 naming the field, 400
//! for malformed requests, 413 for oversized bodies, 429 with `Retry-After` past the rate
//! limits, and never a 500.

use crate::kit;

use jiff::SignedDuration;
use kit::{Backend, Harness, User, guest_key, invalid_fields, schedule, status};
use latchkey_client::model as m;
use serde_json::json;

on_both_backends!(
    bad_phone_numbers_are_refused_naming_the_field,
    unknown_time_zones_are_refused,
    bad_schedules_are_refused_naming_the_field,
    bad_guest_key_windows_are_refused,
    bad_pins_are_refused,
    bad_names_and_settings_are_refused,
    malformed_and_oversized_requests,
    a_code_dies_after_five_wrong_tries,
    sign_in_is_rate_limited_per_phone_with_retry_after,
    sign_in_is_rate_limited_per_client,
);

const BAD_PHONES: &[&str] = &[
    "",
    "   ",
    "not a phone",
    "202 555 0123",
    "+1 555",
    "+999 123456",
    "+1\n2025550123",
    "+49151234567890123456789012345678901",
    "+4915123456780\u{0}",
    "tel:+4915123456780",
];

/// An Admin with a lock in Berlin.
async fn admin_with_lock(h: &Harness) -> (User, m::Lock) {
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    (ana, lock)
}

async fn bad_phone_numbers_are_refused_naming_the_field(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    for bad in BAD_PHONES {
        assert_eq!(invalid_fields(h.anon.request_otp(bad).await), ["phone"], "otp {bad:?}");
        assert_eq!(
            invalid_fields(h.anon.create_session(bad, "123456").await),
            ["phone"],
            "session {bad:?}"
        );
        let inv = m::CreateInvitation {
            name: None,
            phone: bad.to_string(),
            access_level: m::AccessLevel::Family,
            schedule: None,
        };
        assert_eq!(
            invalid_fields(ana.client.invite(&lock.id, &inv).await),
            ["phone"],
            "invite {bad:?}"
        );
        if !bad.trim().is_empty() {
            // An empty phone on a guest key means "no SMS".
            let key = guest_key("Gil", Some(bad), "2027-07-01T10:00", "2027-07-01T12:00");
            assert_eq!(
                invalid_fields(ana.client.create_guest_key(&lock.id, &key).await),
                ["phone"],
                "guest key {bad:?}"
            );
        }
    }
    // Nothing was sent or stored.
    assert!(ana.client.lock_invitations(&lock.id).await.unwrap().is_empty());
    assert!(ana.client.guest_keys(&lock.id).await.unwrap().is_empty());
    assert_eq!(h.outbox().len(), 1, "only Ana's sign-in code");
    // The message says what to do.
    let e = h.anon.request_otp("202 555 0123").await.unwrap_err();
    let p = e.problem().unwrap();
    assert!(p.errors[0].message.contains("country code"), "{p:?}");
    assert!(p.detail.contains("phone"), "{p:?}");
    h.stop().await;
}

async fn unknown_time_zones_are_refused(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    for bad in [
        "Mars/Olympus",
        "",
        "+02:00",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "../../etc/passwd",
        "Europe/\nBerlin",
        "Europe/Atlantis",
        "europe/berlin/x",
    ] {
        let code = h.gateway.new_lock();
        let fields = invalid_fields(ana.client.pair_lock(&code, "Lock", bad).await);
        assert_eq!(fields, ["time_zone"], "pair {bad:?}");
        let patch = m::PatchLock {
            time_zone: Some(bad.into()),
            ..Default::default()
        };
        assert_eq!(
            invalid_fields(ana.client.patch_lock(&lock.id, &patch).await),
            ["time_zone"],
            "patch {bad:?}"
        );
    }
    assert_eq!(ana.client.lock(&lock.id).await.unwrap().time_zone, "Europe/Berlin");
    assert_eq!(ana.client.locks().await.unwrap().len(), 1);
    // Several problems are reported at once.
    let fields = invalid_fields(ana.client.pair_lock("", "", "Nowhere").await);
    assert_eq!(fields, ["name", "time_zone", "setup_code"]);
    h.stop().await;
}

async fn bad_schedules_are_refused_naming_the_field(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    let phone = h.new_phone();
    let w = |days: &[&str], from: &str, to: &str| m::Window {
        days: days.iter().map(|d| d.to_string()).collect(),
        from: from.into(),
        to: to.into(),
    };
    let with = |windows: Vec<m::Window>, vf: Option<&str>, vu: Option<&str>| m::Schedule {
        windows,
        valid_from: vf.map(Into::into),
        valid_until: vu.map(Into::into),
    };
    let cases: Vec<(m::AccessLevel, Option<m::Schedule>, &str)> = vec![
        (m::AccessLevel::RecurringGuest, None, "schedule"),
        (
            m::AccessLevel::Family,
            Some(schedule(&["mon"], "09:00", "10:00")),
            "schedule",
        ),
        (
            m::AccessLevel::Admin,
            Some(schedule(&["mon"], "09:00", "10:00")),
            "schedule",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(vec![], None, None)),
            "schedule.windows",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(vec![w(&["mon"], "09:00", "10:00"); 5], None, None)),
            "schedule.windows",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["funday"], "09:00", "10:00")),
            "schedule.windows[0].days",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&[], "09:00", "10:00")),
            "schedule.windows[0].days",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "25:00", "10:00")),
            "schedule.windows[0].from",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "9:00", "10:00")),
            "schedule.windows[0].from",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "24:00", "10:00")),
            "schedule.windows[0].from",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "09:60", "10:00")),
            "schedule.windows[0].from",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "09:00", "24:01")),
            "schedule.windows[0].to",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "09:00", "noon")),
            "schedule.windows[0].to",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(schedule(&["mon"], "09:00", "09:00")),
            "schedule.windows[0].to",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(
                vec![w(&["mon"], "09:00", "10:00"), w(&["tue"], "10:00", "xx")],
                None,
                None,
            )),
            "schedule.windows[1].to",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(
                vec![w(&["mon"], "09:00", "10:00")],
                Some("2027-06-01"),
                Some("2027-01-01"),
            )),
            "schedule.valid_until",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(vec![w(&["mon"], "09:00", "10:00")], Some("2027-13-01"), None)),
            "schedule.valid_from",
        ),
        (
            m::AccessLevel::RecurringGuest,
            Some(with(vec![w(&["mon"], "09:00", "10:00")], None, Some("next year"))),
            "schedule.valid_until",
        ),
    ];
    for (level, sched, field) in &cases {
        let inv = m::CreateInvitation {
            name: None,
            phone: phone.clone(),
            access_level: *level,
            schedule: sched.clone(),
        };
        let fields = invalid_fields(ana.client.invite(&lock.id, &inv).await);
        assert_eq!(fields, [*field], "{level:?} {sched:?}");
    }
    assert!(ana.client.lock_invitations(&lock.id).await.unwrap().is_empty());

    // The same rules when a member's schedule changes.
    let bob = h.user("Bob").await;
    h.add_member(&ana, &lock.id, &bob, m::AccessLevel::Family, None).await;
    for (level, sched, field) in &cases {
        let patch = m::PatchMember {
            access_level: Some(*level),
            schedule: sched.clone(),
        };
        let fields = invalid_fields(ana.client.patch_member(&lock.id, bob.id(), &patch).await);
        assert_eq!(fields, [*field], "patch {level:?} {sched:?}");
    }
    let members = ana.client.members(&lock.id).await.unwrap();
    let bob_now = members.iter().find(|m| m.account_id == bob.id()).unwrap();
    assert_eq!(bob_now.access_level, m::AccessLevel::Family);
    assert_eq!(bob_now.schedule, None);

    // Valid edge cases are accepted: a window past midnight, one ending at 24:00, a date range.
    let ok = with(
        vec![w(&["fri"], "22:00", "02:00"), w(&["SAT", " sun "], "00:00", "24:00")],
        Some("2027-07-01"),
        Some("2027-07-01"),
    );
    let inv = m::CreateInvitation {
        name: None,
        phone,
        access_level: m::AccessLevel::RecurringGuest,
        schedule: Some(ok),
    };
    let inv = ana.client.invite(&lock.id, &inv).await.unwrap();
    let stored = inv.schedule.unwrap();
    assert_eq!(stored.windows[1].days, ["sat", "sun"]);
    assert_eq!(stored.windows[0].to, "02:00");
    h.stop().await;
}

async fn bad_guest_key_windows_are_refused(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    // The clock says Wednesday 2027-06-30 12:00 in Berlin.
    let cases: &[(&str, &str, &str)] = &[
        ("2027-07-02T10:00", "2027-07-01T10:00", "ends_at"),
        ("2027-07-01T10:00", "2027-07-01T10:00", "ends_at"),
        ("2027-06-29T10:00", "2027-06-29T12:00", "ends_at"),
        ("2027-06-30T08:00", "2027-06-30T12:00", "ends_at"),
        ("2027-07-01T10:00", "2027-09-29T10:01", "ends_at"),
        ("2028-07-01T10:00", "2028-07-01T12:00", "starts_at"),
        ("tomorrow", "2027-07-01T12:00", "starts_at"),
        ("2027-07-01T10:00", "2027-07-01T25:00", "ends_at"),
        ("2027-07-01T10:00:00+99:00", "2027-07-01T12:00", "starts_at"),
        ("", "2027-07-01T12:00", "starts_at"),
    ];
    for (start, end, field) in cases {
        let key = guest_key("Gil", None, start, end);
        let fields = invalid_fields(ana.client.create_guest_key(&lock.id, &key).await);
        assert_eq!(fields, [*field], "{start} .. {end}");
    }
    // Exactly 90 days is the longest key.
    let longest = guest_key("Long stay", None, "2027-07-01T10:00", "2027-09-29T10:00");
    let key = ana.client.create_guest_key(&lock.id, &longest).await.unwrap();
    assert_eq!(key.ends_at, "2027-09-29T10:00:00+02:00");

    // The precautions must be accepted; names are checked; all problems come at once.
    let mut key = guest_key("Gil", None, "2027-07-01T10:00", "2027-07-01T12:00");
    key.precautions_accepted = false;
    assert_eq!(
        invalid_fields(ana.client.create_guest_key(&lock.id, &key).await),
        ["precautions_accepted"]
    );
    let raw = kit::raw()
        .post(format!("{}/api/v1/locks/{}/guest-keys", h.base, lock.id))
        .bearer_auth(ana.client.token().unwrap())
        .json(&json!({"name": "Gil", "starts_at": "2027-07-01T10:00", "ends_at": "2027-07-01T12:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 422, "precautions_accepted defaults to false");
    for bad in ["", "   ", &"x".repeat(65), "Gil\u{7}", "Gil\u{202E}lig", "a\nb"] {
        let key = guest_key(bad, None, "2027-07-01T10:00", "2027-07-01T12:00");
        assert_eq!(
            invalid_fields(ana.client.create_guest_key(&lock.id, &key).await),
            ["name"],
            "{bad:?}"
        );
    }
    let mut all = guest_key("", Some("12"), "later", "2027-07-01T12:00");
    all.precautions_accepted = false;
    let mut fields = invalid_fields(ana.client.create_guest_key(&lock.id, &all).await);
    fields.sort();
    assert_eq!(fields, ["name", "phone", "precautions_accepted", "starts_at"]);
    assert_eq!(ana.client.guest_keys(&lock.id).await.unwrap().len(), 1);
    h.stop().await;
}

async fn bad_pins_are_refused(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    for bad in [
        "",
        "12345",
        "123456789",
        "12a456",
        "48 29 15",
        "４８２９１５",
        "-48291",
        "111111",
        "123456",
        "654321",
        "890123",
        "121212",
        "4829150000000000000000",
    ] {
        let e = ana.client.set_pin(&lock.id, ana.id(), bad).await;
        assert_eq!(invalid_fields(e), ["pin"], "{bad:?}");
    }
    assert!(!ana.client.members(&lock.id).await.unwrap()[0].has_pin);
    ana.client.set_pin(&lock.id, ana.id(), "482915").await.unwrap();
    ana.client.set_pin(&lock.id, ana.id(), "48291573").await.unwrap();
    // A PIN for someone who is not a member of the lock.
    assert_eq!(status(ana.client.set_pin(&lock.id, "acc_nobody", "739152").await), 404);
    h.stop().await;
}

async fn bad_names_and_settings_are_refused(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    let long = "x".repeat(65);
    let bad_names = [
        "",
        "   ",
        long.as_str(),
        "a\u{0}b",
        "a\nb",
        "\u{202E}evil",
        "tab\there",
        "\u{1b}[31mred",
    ];
    for bad in bad_names {
        assert_eq!(invalid_fields(ana.client.patch_me(bad).await), ["name"], "me {bad:?}");
        let patch = m::PatchLock {
            name: Some(bad.into()),
            ..Default::default()
        };
        assert_eq!(
            invalid_fields(ana.client.patch_lock(&lock.id, &patch).await),
            ["name"],
            "lock {bad:?}"
        );
        let code = h.gateway.new_lock();
        assert_eq!(
            invalid_fields(ana.client.pair_lock(&code, bad, "Europe/Berlin").await),
            ["name"],
            "pair {bad:?}"
        );
        if !bad.trim().is_empty() {
            assert_eq!(
                invalid_fields(ana.client.create_issuer(&lock.id, Some(bad)).await),
                ["label"],
                "issuer {bad:?}"
            );
        }
    }
    assert_eq!(ana.client.me().await.unwrap().name, "Ana");
    // 64 characters, markup included, is a fine name (escaped where shown).
    let ok = "é".repeat(60) + "<b>";
    assert_eq!(ana.client.patch_me(&ok).await.unwrap().name, ok);

    for (limit, lockout, field) in [
        (Some(2), None, "settings.wrong_code_limit"),
        (Some(21), None, "settings.wrong_code_limit"),
        (None, Some(9), "settings.lockout_seconds"),
        (None, Some(3601), "settings.lockout_seconds"),
    ] {
        let patch = m::PatchLock {
            settings: Some(m::PatchSettings {
                wrong_code_limit: limit,
                lockout_seconds: lockout,
            }),
            ..Default::default()
        };
        assert_eq!(invalid_fields(ana.client.patch_lock(&lock.id, &patch).await), [field]);
    }
    let settings = ana.client.lock(&lock.id).await.unwrap().settings;
    assert_eq!((settings.wrong_code_limit, settings.lockout_seconds), (5, 60));
    // Sign-in codes must look like codes.
    for bad in ["12345", "abcdef", "1234567", ""] {
        assert_eq!(
            invalid_fields(h.anon.create_session(&ana.phone, bad).await),
            ["code"],
            "{bad:?}"
        );
    }
    h.stop().await;
}

/// (method, path, content type, body, status, the field a 422 names)
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, Option<&'a str>);

async fn malformed_and_oversized_requests(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, lock) = admin_with_lock(&h).await;
    let token = ana.client.token().unwrap().to_string();
    let http = kit::raw();
    let url = |p: &str| format!("{}/api/v1{p}", h.base);
    let invitations = format!("/locks/{}/invitations", lock.id);
    let guest_keys = format!("/locks/{}/guest-keys", lock.id);

    // (method, path, content type, body, status, field named for 422)
    let cases: Vec<Case> = vec![
        ("POST", "/auth/otp", Some("application/json"), "{not json".into(), 400, None),
        ("POST", "/auth/otp", Some("application/json"), "".into(), 400, None),
        ("POST", "/auth/otp", Some("application/json"), r#"{"phone":"+4915123456780"} x"#.into(), 400, None),
        ("POST", "/auth/otp", None, r#"{"phone":"+4915123456780"}"#.into(), 400, None),
        ("POST", "/auth/otp", Some("text/plain"), r#"{"phone":"+4915123456780"}"#.into(), 400, None),
        ("POST", "/auth/otp", Some("application/json"), r#"{"phone":5}"#.into(), 422, Some("phone")),
        ("POST", "/auth/otp", Some("application/json"), "{}".into(), 422, Some("phone")),
        ("POST", "/auth/otp", Some("application/json"), "[1,2]".into(), 422, None),
        ("POST", "/auth/otp", Some("application/json"), "null".into(), 422, Some("body")),
        (
            "POST",
            "/auth/session",
            Some("application/json"),
            r#"{"phone":"+4915123456780","code":123456}"#.into(),
            422,
            Some("code"),
        ),
        ("PATCH", "/me", Some("application/json"), r#"{"name":["a"]}"#.into(), 422, Some("name")),
        (
            "POST",
            &invitations,
            Some("application/json"),
            r#"{"phone":"+4915123456780","access_level":"owner"}"#.into(),
            422,
            Some("access_level"),
        ),
        (
            "POST",
            &invitations,
            Some("application/json"),
            r#"{"phone":"+4915123456780"}"#.into(),
            422,
            Some("access_level"),
        ),
        (
            "POST",
            &guest_keys,
            Some("application/json"),
            r#"{"name":"G","starts_at":"2027-07-01T10:00","ends_at":"2027-07-01T12:00","one_time":"yes","precautions_accepted":true}"#.into(),
            422,
            Some("one_time"),
        ),
        ("POST", "/auth/otp", Some("application/json"), format!(r#"{{"phone":"{}"}}"#, "1".repeat(70 * 1024)), 413, None),
        ("PATCH", "/me", Some("application/json"), format!(r#"{{"name":"{}"}}"#, "x".repeat(65 * 1024)), 413, None),
    ];
    for (method, path, ct, body, want, field) in cases {
        let mut rb = http
            .request(method.parse().unwrap(), url(path))
            .bearer_auth(&token)
            .body(body.clone());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let resp = rb.send().await.unwrap();
        let got = resp.status().as_u16();
        let shown: String = body.chars().take(60).collect();
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        let text = resp.text().await.unwrap();
        assert_eq!(got, want, "{method} {path} {ct:?} {shown}: {text}");
        assert_eq!(content_type, "application/problem+json", "{method} {path} {shown}");
        let p: m::Problem = serde_json::from_str(&text).unwrap();
        assert_eq!(p.status, want);
        if let Some(field) = field {
            assert_eq!(
                p.errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                [field],
                "{p:?}"
            );
        }
    }

    // Queries, paths and headers.
    let get = |path: String, auth: Option<String>| {
        let http = http.clone();
        async move {
            let mut rb = http.get(path);
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            rb.send().await.unwrap().status().as_u16()
        }
    };
    let bearer = Some(format!("Bearer {token}"));
    let events = url(&format!("/locks/{}/events", lock.id));
    assert_eq!(get(format!("{events}?limit=abc"), bearer.clone()).await, 400);
    assert_eq!(get(format!("{events}?limit=-5"), bearer.clone()).await, 200);
    assert_eq!(get(format!("{events}?limit=100000"), bearer.clone()).await, 200);
    assert_eq!(
        get(format!("{events}?before=%27%20OR%201=1--"), bearer.clone()).await,
        200
    );
    for id in [
        "%27%20OR%20%271%27=%271",
        "..%2F..%2Fetc",
        &"z".repeat(5000),
        "%F0%9F%94%91",
    ] {
        assert_eq!(get(url(&format!("/locks/{id}")), bearer.clone()).await, 404, "{id}");
        assert_eq!(
            get(url(&format!("/locks/{id}/guest-keys/{id}")), bearer.clone()).await,
            404
        );
    }
    let me = url("/me");
    assert_eq!(get(me.clone(), Some("Bearer ".into())).await, 401);
    assert_eq!(get(me.clone(), Some(format!("Bearer {}", "A".repeat(4000)))).await, 401);
    assert_eq!(get(me.clone(), Some(format!("Basic {token}"))).await, 401);
    assert_eq!(get(me.clone(), Some(format!("Bearer {token}x"))).await, 401);
    assert_eq!(get(me.clone(), bearer.clone()).await, 200);
    assert_eq!(get(url("/no/such/endpoint"), bearer).await, 404);
    h.stop().await;
}

async fn a_code_dies_after_five_wrong_tries(b: Backend) {
    let h = Harness::start(b).await;
    let wrong_for = |code: &str| {
        let n: u32 = code.parse().unwrap();
        format!("{:06}", (n + 1) % 1_000_000)
    };
    // Four wrong tries: the code still works.
    let phone = h.new_phone();
    let code = h.otp(&phone).await;
    for _ in 0..4 {
        assert_eq!(status(h.anon.create_session(&phone, &wrong_for(&code)).await), 401);
    }
    h.anon.create_session(&phone, &code).await.unwrap();

    // Five wrong tries: the right code is dead too.
    let phone = h.new_phone();
    let code = h.otp(&phone).await;
    for _ in 0..5 {
        let e = h.anon.create_session(&phone, &wrong_for(&code)).await.unwrap_err();
        assert_eq!(e.status(), Some(401));
        // The answer does not say how many tries are left or whether the account exists.
        assert_eq!(e.problem().unwrap().title, "Sign in first");
    }
    assert_eq!(status(h.anon.create_session(&phone, &code).await), 401);
    // A new code works.
    let code = h.otp(&phone).await;
    h.anon.create_session(&phone, &code).await.unwrap();
    // "Send me a code" answers the same for a known and an unknown number.
    let ask = |phone: String| {
        let url = format!("{}/api/v1/auth/otp", h.base);
        async move {
            let r = kit::raw()
                .post(url)
                .json(&json!({"phone": phone}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(ask(phone.clone()).await, ask(h.new_phone()).await);
    assert_eq!(ask(phone.clone()).await.0, 202);
    // A code for one number does not sign in another.
    let other = h.new_phone();
    let code = h.otp(&phone).await;
    assert_eq!(status(h.anon.create_session(&other, &code).await), 401);
    h.stop().await;
}

async fn sign_in_is_rate_limited_per_phone_with_retry_after(b: Backend) {
    let h = Harness::start_with(b, |c| {
        c.limits.otp_per_phone = 3;
        c.limits.window_seconds = 600;
    })
    .await;
    let phone = h.new_phone();
    for _ in 0..3 {
        h.anon.request_otp(&phone).await.unwrap();
    }
    let e = h.anon.request_otp(&phone).await.unwrap_err();
    match &e {
        latchkey_client::Error::Status {
            status,
            retry_after,
            problem,
        } => {
            assert_eq!(status.as_u16(), 429);
            assert_eq!(*retry_after, Some(600), "the whole window is left on a frozen clock");
            assert_eq!(problem.as_ref().unwrap().status, 429);
        }
        other => panic!("{other:?}"),
    }
    // Another number is not affected.
    h.anon.request_otp(&h.new_phone()).await.unwrap();
    // Retry-After counts down with the clock, and the limit lifts when the window ends.
    h.advance(SignedDuration::from_secs(250));
    match h.anon.request_otp(&phone).await.unwrap_err() {
        latchkey_client::Error::Status { retry_after, .. } => assert_eq!(retry_after, Some(350)),
        other => panic!("{other:?}"),
    }
    h.advance(SignedDuration::from_secs(350));
    h.anon.request_otp(&phone).await.unwrap();
    // Only the accepted requests sent a message.
    let sent = kit::eventually("4 sign-in messages", || async {
        let n = h.sms_to(&phone).len();
        (n >= 4).then_some(n)
    })
    .await;
    assert_eq!(sent, 4);
    h.stop().await;
}

async fn sign_in_is_rate_limited_per_client(b: Backend) {
    let h = Harness::start_with(b, |c| {
        c.limits.otp_per_client = 4;
    })
    .await;
    let phone = h.new_phone();
    h.anon.request_otp(&phone).await.unwrap();
    h.anon.request_otp(&h.new_phone()).await.unwrap();
    // Guessing codes counts too.
    assert_eq!(status(h.anon.create_session(&phone, "000000").await), 401);
    assert_eq!(status(h.anon.create_session(&phone, "000001").await), 401);
    for attempt in [
        h.anon.request_otp(&h.new_phone()).await.unwrap_err(),
        h.anon.create_session(&phone, "000002").await.unwrap_err(),
    ] {
        match attempt {
            latchkey_client::Error::Status {
                status, retry_after, ..
            } => {
                assert_eq!(status.as_u16(), 429);
                assert!(retry_after.is_some_and(|s| s > 0 && s <= 900), "{retry_after:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    h.advance(SignedDuration::from_secs(900));
    h.anon.request_otp(&h.new_phone()).await.unwrap();
    h.stop().await;
}
