//! The web app's detail pages and activity log without a browser: a guest key's page changes
//! its end (keeping the code when the code allows, else a new key and code), texts the code
//! again and revokes only once confirmed; a pending invitation is texted again; the activity
//! log filters by person or key, kind and day, orders one second's journal entries by the
//! lock's sequence, shows local times and names a refused revoked code's key.

use jiff::{SignedDuration, Timestamp};
use latchkey_client::model as m;
use latchkey_lock_core::{Credential, Event, EventKind, Method as LockMethod, Reason, Subject};
use latchkey_server::gateway::Devices;

use crate::kit::{self, Backend, Harness};

on_both_backends!(
    guest_key_page_extends_resends_and_revokes,
    activity_log_filters_orders_and_names,
    pending_invitations_are_texted_again,
    a_recurring_guest_is_offered_unlock_only_within_the_schedule,
);

/// A client that keeps redirects as answers.
fn web() -> reqwest::Client {
    latchkey_client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(h: &Harness, path: &str, token: &str) -> (u16, String) {
    let r = web()
        .get(format!("{}{path}", h.base))
        .header("cookie", format!("latchkey_session={token}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form with the session's CSRF token; the status and where it redirects (or the body).
async fn post(h: &Harness, path: &str, token: &str, form: &[(&str, &str)]) -> (u16, String) {
    let csrf = crate::web_pages::page_csrf(h, token).await;
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let r = web()
        .post(format!("{}{path}", h.base))
        .header("cookie", format!("latchkey_session={token}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match location {
        Some(l) => (status, l),
        None => (status, r.text().await.unwrap()),
    }
}

fn rfc(t: Timestamp) -> String {
    t.to_string()
}

async fn guest_key_page_extends_resends_and_revokes(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let token = admin.client.token().unwrap().to_string();
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let guest_phone = h.new_phone();
    let now = h.now();
    // A two-hour key: a window code, whose own window is rounded out to whole hours.
    let end = now + SignedDuration::from_mins(125);
    let key = admin
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", Some(&guest_phone), &rfc(now), &rfc(end)),
        )
        .await
        .unwrap();
    let sms_seen = h.next_sms(&guest_phone, 0).await;
    assert!(sms_seen.body.contains(&key.code));
    let page = format!("/locks/{}/guest-keys/{}", lock.id, key.id);
    let (st, body) = get(&h, &page, &token).await;
    assert_eq!(st, 200);
    for want in [
        "not used yet",
        "Change the end",
        "data-share=",
        "href=\"sms:",
        "Send the SMS again",
        "a later end makes a new code",
    ] {
        assert!(body.contains(want), "{want} missing in {body}");
    }

    // An end inside the code's own window keeps the key and its code.
    let code_end = Timestamp::from_second((end.as_second() + 3599).div_euclid(3600) * 3600).unwrap();
    let (st, to) = post(&h, &format!("{page}/extend"), &token, &[("ends_at", &rfc(code_end))]).await;
    assert_eq!((st, to.as_str()), (303, format!("{page}?done=extended").as_str()));
    let same = admin.client.guest_key(&lock.id, &key.id).await.unwrap();
    assert_eq!(same.code, key.code);
    assert_eq!(same.ends_at.parse::<Timestamp>().unwrap(), code_end);

    // A bad end is shown at its field, and changes nothing.
    let (st, body) = post(&h, &format!("{page}/extend"), &token, &[("ends_at", "soon")]).await;
    assert_eq!(st, 422);
    assert!(body.contains("field-error"), "{body}");

    // A later end: the window is in the code, so a new key with a new code replaces it,
    // texted to the guest, and the old one is revoked.
    let later = now + SignedDuration::from_hours(26);
    let (st, to) = post(&h, &format!("{page}/extend"), &token, &[("ends_at", &rfc(later))]).await;
    assert_eq!(st, 303);
    assert!(to.ends_with("?done=replaced") && !to.contains(&key.id), "{to}");
    let new_id = to
        .trim_start_matches(&format!("/locks/{}/guest-keys/", lock.id))
        .trim_end_matches("?done=replaced")
        .to_string();
    let new = admin.client.guest_key(&lock.id, &new_id).await.unwrap();
    assert_ne!(new.code, key.code);
    assert_eq!(
        (new.name.as_str(), new.phone.as_deref()),
        ("Courier", Some(guest_phone.as_str()))
    );
    assert_eq!(new.ends_at.parse::<Timestamp>().unwrap(), later);
    let old = admin.client.guest_key(&lock.id, &key.id).await.unwrap();
    assert_eq!(old.status, m::GuestKeyStatus::Revoked);
    let texted = h.next_sms(&guest_phone, 1).await;
    assert!(
        texted.body.contains(&new.code) && texted.body.contains("changed"),
        "{}",
        texted.body
    );

    // Send the SMS again: the same code, once more.
    let new_page = format!("/locks/{}/guest-keys/{new_id}", lock.id);
    let (st, to) = post(&h, &format!("{new_page}/resend"), &token, &[]).await;
    assert_eq!((st, to.as_str()), (303, format!("{new_page}?done=resent").as_str()));
    let again = h.next_sms(&guest_phone, 2).await;
    assert!(again.body.contains(&new.code), "{}", again.body);

    // Revoking needs its confirmation; without it the page asks and nothing happens.
    let (st, body) = post(&h, &format!("{new_page}/revoke"), &token, &[]).await;
    assert_eq!(st, 422);
    assert!(body.contains("Tick the box to confirm"), "{body}");
    let still = admin.client.guest_key(&lock.id, &new_id).await.unwrap();
    assert_eq!(still.status, m::GuestKeyStatus::Active);
    let (st, to) = post(&h, &format!("{new_page}/revoke"), &token, &[("confirm", "on")]).await;
    assert_eq!(
        (st, to.as_str()),
        (303, format!("/locks/{}/users?done=revoked", lock.id).as_str())
    );
    // A revoked key can be neither extended nor texted again.
    let (st, _) = post(&h, &format!("{new_page}/extend"), &token, &[("ends_at", &rfc(later))]).await;
    assert_eq!(st, 422);
    let (st, _) = post(&h, &format!("{new_page}/resend"), &token, &[]).await;
    assert_eq!(st, 409);

    // A key longer than an offline code can carry is a held code: any new end keeps it.
    let long_end = now + SignedDuration::from_hours(24 * 8);
    let held = admin
        .client
        .create_guest_key(&lock.id, &kit::guest_key("Long stay", None, &rfc(now), &rfc(long_end)))
        .await
        .unwrap();
    let held_page = format!("/locks/{}/guest-keys/{}", lock.id, held.id);
    let (_, body) = get(&h, &held_page, &token).await;
    assert!(
        body.contains("The code stays the same when you change the end."),
        "{body}"
    );
    let longer = long_end + SignedDuration::from_hours(48);
    let (st, to) = post(&h, &format!("{held_page}/extend"), &token, &[("ends_at", &rfc(longer))]).await;
    assert_eq!((st, to.as_str()), (303, format!("{held_page}?done=extended").as_str()));
    let moved = admin.client.guest_key(&lock.id, &held.id).await.unwrap();
    assert_eq!(moved.code, held.code);
    assert_eq!(moved.ends_at.parse::<Timestamp>().unwrap(), longer);
    h.stop().await;
}

/// A lock event through the journal, as the gateway hands it over.
async fn journal(h: &Harness, lock_id: &str, seq: u64, time: i64, kind: EventKind) {
    let domain = &h.server.as_ref().unwrap().domain;
    domain
        .journal(lock_id, &[Event { seq, time, kind }], h.now())
        .await
        .expect("journal");
}

async fn activity_log_filters_orders_and_names(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let token = admin.client.token().unwrap().to_string();
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let now = h.now();
    let key = admin
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", None, &rfc(now), &rfc(now + SignedDuration::from_hours(3))),
        )
        .await
        .unwrap();
    let jonas = h.new_phone();
    admin
        .client
        .invite(
            &lock.id,
            &m::CreateInvitation {
                phone: jonas.clone(),
                name: Some("Jonas Weber".into()),
                access_level: m::AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    admin.client.revoke_guest_key(&lock.id, &key.id).await.unwrap();
    // Three entries the lock made in one second, after those changes: a refused revoked
    // code, a lockout, a remote unlock.
    h.advance(SignedDuration::from_secs(2));
    let second = h.now().as_second();
    let code = key.code.parse().unwrap();
    journal(
        &h,
        &lock.id,
        7,
        second,
        EventKind::Denied {
            method: LockMethod::Keypad,
            reason: Reason::Revoked,
            subject: Some(Subject::GuestKey {
                slot: 0,
                code,
                key_id: None,
            }),
            repeat: 1,
        },
    )
    .await;
    journal(
        &h,
        &lock.id,
        8,
        second,
        EventKind::LockoutStarted {
            until: second + 300,
            level: 1,
        },
    )
    .await;
    journal(
        &h,
        &lock.id,
        9,
        second,
        EventKind::Granted {
            method: LockMethod::Remote,
            subject: Subject::User(1),
            credential: Credential::Remote,
        },
    )
    .await;

    let log = format!("/locks/{}/activity", lock.id);
    let (st, body) = get(&h, &log, &token).await;
    assert_eq!(st, 200);
    // Newest first, and within the second in the lock's order: 9, 8, 7.
    let opened = body.find("remote unlock").expect("the remote unlock");
    let lockout = body.find("keypad locked until").expect("the lockout");
    let refused = body.find("· revoked").expect("the refusal");
    assert!(opened < lockout && lockout < refused, "{body}");
    // The lockout's end in the lock's time, 24-hour, not an ISO instant.
    let until = Timestamp::from_second(second + 300)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .strftime("%H:%M")
        .to_string();
    let line = &body[lockout..lockout + 80];
    assert!(line.contains(&until) && !line.contains('Z'), "{line}");
    // The refused code names its key; the invitation names the invitee, number second.
    assert!(body.contains("Courier · keypad · revoked"), "{body}");
    assert!(body.contains(&format!("invited Jonas Weber ({jonas})")), "{body}");

    // Filters: the key's entries only; refusals only; a day with nothing; a bad day.
    let (_, body) = get(&h, &format!("{log}?who={}", key.id), &token).await;
    assert!(body.contains("Courier · keypad · revoked"), "{body}");
    assert!(!body.contains("remote unlock") && !body.contains("Jonas"), "{body}");
    let (_, body) = get(&h, &format!("{log}?kind=refused"), &token).await;
    assert!(
        body.contains("keypad locked until") && body.contains("· revoked"),
        "{body}"
    );
    assert!(!body.contains("remote unlock") && !body.contains("invited"), "{body}");
    let (_, body) = get(&h, &format!("{log}?kind=changes"), &token).await;
    assert!(
        body.contains("invited Jonas Weber") && !body.contains("keypad locked until"),
        "{body}"
    );
    let today = now
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .date();
    let (_, body) = get(&h, &format!("{log}?day={today}"), &token).await;
    assert!(body.contains("remote unlock"), "{body}");
    let (_, body) = get(&h, &format!("{log}?day={}", today.tomorrow().unwrap()), &token).await;
    assert!(
        body.contains("Nothing matches these filters") && !body.contains("remote unlock"),
        "{body}"
    );
    let (st, body) = get(&h, &format!("{log}?day=yesterday"), &token).await;
    assert_eq!(st, 200);
    assert!(body.contains("Use a date like 2027-01-31"), "{body}");
    // The page is live: it listens to the lock's stream.
    assert!(
        body.contains(&format!("data-live-src=\"/locks/{}/live\"", lock.id)),
        "{body}"
    );
    h.stop().await;
}

async fn pending_invitations_are_texted_again(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let token = admin.client.token().unwrap().to_string();
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let phone = h.new_phone();
    let inv = admin
        .client
        .invite(
            &lock.id,
            &m::CreateInvitation {
                phone: phone.clone(),
                name: Some("Jonas".into()),
                access_level: m::AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    h.next_sms(&phone, 0).await;
    let (_, body) = get(&h, &format!("/locks/{}/users", lock.id), &token).await;
    assert!(body.contains(&format!("/invitations/{}/resend", inv.id)), "{body}");
    let (st, to) = post(
        &h,
        &format!("/locks/{}/invitations/{}/resend", lock.id, inv.id),
        &token,
        &[],
    )
    .await;
    assert_eq!(
        (st, to.as_str()),
        (303, format!("/locks/{}/users?done=resent", lock.id).as_str())
    );
    let again = h.next_sms(&phone, 1).await;
    assert!(again.body.contains("invited you"), "{}", again.body);
    // Once revoked it cannot be texted again; nor can a stranger text it.
    admin.client.revoke_invitation(&lock.id, &inv.id).await.unwrap();
    let (st, _) = post(
        &h,
        &format!("/locks/{}/invitations/{}/resend", lock.id, inv.id),
        &token,
        &[],
    )
    .await;
    assert_eq!(st, 409);
    let stranger = h.user("Eve").await;
    let eve = stranger.client.token().unwrap().to_string();
    let (st, _) = post(
        &h,
        &format!("/locks/{}/invitations/{}/resend", lock.id, inv.id),
        &eve,
        &[],
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(h.sms_to(&phone).len(), 2);
    h.stop().await;
}

/// The lock's main screen tells a Recurring Guest outside their schedule when they can open,
/// and does not offer the remote Unlock the server would refuse; within it, it does.
async fn a_recurring_guest_is_offered_unlock_only_within_the_schedule(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let greta = h.user("Greta").await;
    // The test clock starts on a Wednesday at noon in Berlin: Mondays 08:00-09:00 is outside
    // (English with no region reads 12-hour times, as en-US).
    h.add_member(
        &admin,
        &lock.id,
        &greta,
        m::AccessLevel::RecurringGuest,
        Some(kit::schedule(&["mon"], "08:00", "09:00")),
    )
    .await;
    let token = greta.client.token().unwrap().to_string();
    let page = format!("/locks/{}", lock.id);
    let unlock_form = format!("action=\"/locks/{}/unlock\"", lock.id);
    let lock_form = format!("action=\"/locks/{}/lock\"", lock.id);
    let (st, body) = get(&h, &page, &token).await;
    assert_eq!(st, 200);
    assert!(body.contains("You can open from Mon 8:00 AM."), "{body}");
    assert!(
        !body.contains(&unlock_form),
        "Unlock offered outside the schedule: {body}"
    );
    assert!(body.contains(&lock_form), "{body}");
    // What the button would have asked is refused anyway.
    assert_eq!(kit::status(greta.client.unlock(&lock.id).await), 403);

    // Within the schedule the button is there, with the text saying until when.
    admin
        .client
        .patch_member(
            &lock.id,
            greta.id(),
            &m::PatchMember {
                access_level: None,
                schedule: Some(kit::always()),
            },
        )
        .await
        .unwrap();
    let (st, body) = get(&h, &page, &token).await;
    assert_eq!(st, 200);
    assert!(body.contains("You can open now"), "{body}");
    assert!(body.contains(&unlock_form), "{body}");
    // An Admin, who has no schedule, always gets it.
    let (_, body) = get(&h, &page, admin.client.token().unwrap()).await;
    assert!(body.contains(&unlock_form), "{body}");
}
