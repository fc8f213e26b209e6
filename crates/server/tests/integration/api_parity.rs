//! What the web app could do and the API could not (issues 20 and 21): changing a guest key's
//! end (`PATCH /locks/{id}/guest-keys/{key}`), texting its code again (`POST …/resend`),
//! recording a key a device minted offline with its issuer
//! (`POST /locks/{id}/issuers/{issuer}/keys`) and texting a pending invitation again
//! (`POST /locks/{id}/invitations/{inv}/resend`), each through the typed client, on both
//! backends.

use crate::kit;

use jiff::{SignedDuration, Timestamp};
use kit::{Backend, Harness, status};
use latchkey_client::model as m;
use latchkey_guest_code::{self as gc, Validity, file::IssuerFile};

on_both_backends!(
    the_api_extends_a_key_keeping_or_replacing_its_code,
    the_api_texts_a_key_again,
    the_api_records_a_key_minted_offline_and_refuses_a_forged_one,
    the_api_texts_a_pending_invitation_again
);

fn rfc(t: Timestamp) -> String {
    t.to_string()
}

async fn the_api_extends_a_key_keeping_or_replacing_its_code(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let guest_phone = h.new_phone();
    let now = h.now();
    // A window code: its own window is the key's rounded out to whole hours.
    let end = now + SignedDuration::from_mins(125);
    let key = admin
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Courier", Some(&guest_phone), &rfc(now), &rfc(end)),
        )
        .await
        .unwrap();
    h.next_sms(&guest_phone, 0).await;

    // An end the code already covers: the same key and code, the new end, pending sync.
    let code_end = Timestamp::from_second((end.as_second() + 3599).div_euclid(3600) * 3600).unwrap();
    let same = admin
        .client
        .extend_guest_key(&lock.id, &key.id, &rfc(code_end))
        .await
        .unwrap();
    assert_eq!(
        (same.id.as_str(), same.code.as_str()),
        (key.id.as_str(), key.code.as_str())
    );
    assert_eq!(same.ends_at.parse::<Timestamp>().unwrap(), code_end);
    assert_eq!(same.sync, m::SyncState::Pending);
    assert_eq!(
        admin.client.guest_key(&lock.id, &key.id).await.unwrap().ends_at,
        same.ends_at
    );

    // Bad ends: not a time, before the start, in the past; nothing changes.
    for bad in ["soon", &rfc(now - SignedDuration::from_hours(1))] {
        let fields = kit::invalid_fields(admin.client.extend_guest_key(&lock.id, &key.id, bad).await);
        assert_eq!(fields, ["ends_at"], "{bad}");
    }
    assert_eq!(
        admin.client.guest_key(&lock.id, &key.id).await.unwrap().ends_at,
        same.ends_at
    );
    assert_eq!(
        status(
            admin
                .client
                .extend_guest_key(&lock.id, "gk_nosuchkey", &rfc(code_end))
                .await
        ),
        404
    );

    // A later end than the code can carry: the answer is the new key, with a new code, texted
    // to the guest; the old key is revoked.
    let later = now + SignedDuration::from_hours(26);
    let new = admin
        .client
        .extend_guest_key(&lock.id, &key.id, &rfc(later))
        .await
        .unwrap();
    assert_ne!(new.id, key.id);
    assert_ne!(new.code, key.code);
    assert_eq!(
        (new.name.as_str(), new.phone.as_deref()),
        ("Courier", Some(guest_phone.as_str()))
    );
    assert_eq!(new.ends_at.parse::<Timestamp>().unwrap(), later);
    assert_eq!(new.status, m::GuestKeyStatus::Active);
    let old = admin.client.guest_key(&lock.id, &key.id).await.unwrap();
    assert_eq!(old.status, m::GuestKeyStatus::Revoked);
    let texted = h.next_sms(&guest_phone, 1).await;
    assert!(texted.body.contains(&new.code), "{}", texted.body);

    // A revoked key cannot be extended.
    assert_eq!(
        status(admin.client.extend_guest_key(&lock.id, &key.id, &rfc(later)).await),
        409
    );

    // A held code (longer than a window code carries) keeps its code for any later end.
    let long = admin
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key(
                "Long stay",
                None,
                &rfc(now),
                &rfc(now + SignedDuration::from_hours(24 * 8)),
            ),
        )
        .await
        .unwrap();
    let longer = now + SignedDuration::from_hours(24 * 12);
    let kept = admin
        .client
        .extend_guest_key(&lock.id, &long.id, &rfc(longer))
        .await
        .unwrap();
    assert_eq!(
        (kept.id.as_str(), kept.code.as_str()),
        (long.id.as_str(), long.code.as_str())
    );
    assert_eq!(kept.ends_at.parse::<Timestamp>().unwrap(), longer);

    // The activity log says what happened.
    let events = admin.client.events(&lock.id, None, None).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "guest_key_changed"), "{events:?}");
}

async fn the_api_texts_a_key_again(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let guest_phone = h.new_phone();
    let now = h.now();
    let window = (rfc(now), rfc(now + SignedDuration::from_hours(3)));
    let key = admin
        .client
        .create_guest_key(
            &lock.id,
            &kit::guest_key("Bob", Some(&guest_phone), &window.0, &window.1),
        )
        .await
        .unwrap();
    h.next_sms(&guest_phone, 0).await;

    let again = admin.client.resend_guest_key(&lock.id, &key.id).await.unwrap();
    assert_eq!(
        (again.id.as_str(), again.code.as_str()),
        (key.id.as_str(), key.code.as_str())
    );
    assert!(
        matches!(again.sms, m::SmsState::Queued | m::SmsState::Sent),
        "{:?}",
        again.sms
    );
    let sms = h.next_sms(&guest_phone, 1).await;
    assert!(
        sms.body.contains(&key.code) && sms.body.contains("again"),
        "{}",
        sms.body
    );

    // No phone number: nothing to text (409), and nothing is sent.
    let silent = admin
        .client
        .create_guest_key(&lock.id, &kit::guest_key("Carol", None, &window.0, &window.1))
        .await
        .unwrap();
    let before = h.outbox().len();
    assert_eq!(status(admin.client.resend_guest_key(&lock.id, &silent.id).await), 409);
    // A revoked key is not texted again either.
    admin.client.revoke_guest_key(&lock.id, &key.id).await.unwrap();
    assert_eq!(status(admin.client.resend_guest_key(&lock.id, &key.id).await), 409);
    assert_eq!(
        status(admin.client.resend_guest_key(&lock.id, "gk_nosuchkey").await),
        404
    );
    assert_eq!(h.outbox().len(), before);
}

/// What a device does: the window rounded out to whole hours, minted with its issuer file.
fn mint(file: &IssuerFile, lock_id: &str, start: Timestamp, end: Timestamp) -> String {
    let validity = Validity::covering(start.as_second(), end.as_second()).unwrap();
    let code = gc::mint(&file.key, lock_id.as_bytes(), file.slot, file.epoch, validity, false).unwrap();
    String::from_utf8(code.0.to_vec()).unwrap()
}

fn offline(name: &str, code: &str, start: Timestamp, end: Timestamp) -> m::RecordOfflineKey {
    m::RecordOfflineKey {
        name: name.into(),
        code: code.into(),
        starts_at: rfc(start),
        ends_at: rfc(end),
        one_time: false,
    }
}

async fn the_api_records_a_key_minted_offline_and_refuses_a_forged_one(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let issuer = admin.client.create_issuer(&lock.id, Some("Ana's phone")).await.unwrap();
    let file = IssuerFile::parse(&issuer.file).expect("an issuer file");
    let start = h.now();
    let end = start + SignedDuration::from_hours(5);
    let code = mint(&file, &lock.id, start, end);

    // Recorded: listed like the server's own keys, with the code the device made.
    let spaced = format!("{} {} {}", &code[..4], &code[4..8], &code[8..]);
    let key = admin
        .client
        .record_offline_key(&lock.id, &issuer.issuer_id, &offline("Dora", &spaced, start, end))
        .await
        .unwrap();
    assert_eq!((key.name.as_str(), key.code.as_str()), ("Dora", code.as_str()));
    assert_eq!(key.status, m::GuestKeyStatus::Active);
    assert_eq!(key.phone, None);
    let listed = admin.client.guest_keys(&lock.id).await.unwrap();
    assert!(listed.iter().any(|k| k.id == key.id && k.code == code), "{listed:?}");

    // The device did not hear the answer and sends it again: the same key, not a second one.
    let again = admin
        .client
        .record_offline_key(&lock.id, &issuer.issuer_id, &offline("Dora", &code, start, end))
        .await
        .unwrap();
    assert_eq!(again.id, key.id);
    assert_eq!(admin.client.guest_keys(&lock.id).await.unwrap().len(), listed.len());

    // A forged code (one digit changed), or a real code claimed for another window: 422.
    let mut forged = code.clone().into_bytes();
    forged[11] = if forged[11] == b'9' { b'0' } else { forged[11] + 1 };
    let forged = String::from_utf8(forged).unwrap();
    let other_end = end + SignedDuration::from_hours(48);
    let fresh = mint(&file, &lock.id, start, other_end);
    for (what, body) in [
        ("forged", offline("Eve", &forged, start, other_end)),
        (
            "wrong window",
            offline("Eve", &fresh, start, end + SignedDuration::from_hours(72)),
        ),
        ("not 12 digits", offline("Eve", "12345", start, end)),
    ] {
        let r = admin
            .client
            .record_offline_key(&lock.id, &issuer.issuer_id, &body)
            .await;
        assert_eq!(kit::invalid_fields(r), ["code"], "{what}");
    }
    assert_eq!(admin.client.guest_keys(&lock.id).await.unwrap().len(), listed.len());
    assert_eq!(
        status(
            admin
                .client
                .record_offline_key(&lock.id, "is_nosuchissuer", &offline("Eve", &fresh, start, other_end))
                .await
        ),
        404
    );

    // Revoking the issuer revokes its keys; codes it made are refused afterwards (409).
    admin.client.delete_issuer(&lock.id, &issuer.issuer_id).await.unwrap();
    assert_eq!(
        admin.client.guest_key(&lock.id, &key.id).await.unwrap().status,
        m::GuestKeyStatus::Revoked
    );
    let r = admin
        .client
        .record_offline_key(&lock.id, &issuer.issuer_id, &offline("Eve", &fresh, start, other_end))
        .await;
    assert_eq!(status(r), 409);
}

async fn the_api_texts_a_pending_invitation_again(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Ana").await;
    let lock = h.pair(&admin, "Front door", "Europe/Berlin").await;
    let phone = h.new_phone();
    let invite = m::CreateInvitation {
        phone: phone.clone(),
        name: Some("Jonas".into()),
        access_level: m::AccessLevel::Family,
        schedule: None,
    };
    let inv = admin.client.invite(&lock.id, &invite).await.unwrap();
    h.next_sms(&phone, 0).await;
    admin.client.resend_invitation(&lock.id, &inv.id).await.unwrap();
    let again = h.next_sms(&phone, 1).await;
    assert!(again.body.contains("invited you"), "{}", again.body);
    // Not on another lock's path, not once revoked; nothing more is sent.
    let other = h.pair(&admin, "Back door", "Europe/Berlin").await;
    assert_eq!(status(admin.client.resend_invitation(&other.id, &inv.id).await), 404);
    admin.client.revoke_invitation(&lock.id, &inv.id).await.unwrap();
    assert_eq!(status(admin.client.resend_invitation(&lock.id, &inv.id).await), 409);
    assert_eq!(h.sms_to(&phone).len(), 2);
}
