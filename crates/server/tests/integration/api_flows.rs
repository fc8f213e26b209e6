//! End-to-end flows through the HTTP API with the typed client: sign-in by SMS code, pairing,
//! invitations (accept, decline, revoke, expiry), the last-Admin rule under races, guest keys
//! and their SMS, issuers, PINs, remote unlock and the activity log. Each flow runs on SQLite
//! and, when configured, on PostgreSQL (see `kit`).

use crate::kit;

use jiff::SignedDuration;
use kit::{Backend, Harness, UnlockMode, User, always, guest_key, invalid_fields, schedule, status};
use latchkey_client::model as m;

on_both_backends!(
    sign_in_creates_the_account_once_and_sign_out_ends_the_session,
    pairing_makes_the_caller_admin_and_unpairing_forgets_the_lock,
    invitation_is_accepted_and_the_invitee_becomes_a_member,
    invitations_can_be_declined_revoked_and_expire,
    the_last_admin_can_be_neither_removed_nor_demoted,
    concurrent_demotions_leave_exactly_one_admin,
    concurrent_removals_leave_exactly_one_admin,
    guest_key_sms_and_statuses_follow_the_clock,
    issuers_are_created_and_deleted,
    pins_are_unique_and_changes_are_events_with_their_actor,
    remote_unlock_within_the_members_rights,
);

async fn sign_in_creates_the_account_once_and_sign_out_ends_the_session(b: Backend) {
    let h = Harness::start(b).await;
    let phone = h.new_phone();
    let code = h.otp(&phone).await;
    let first = h.anon.create_session(&phone, &code).await.unwrap();
    assert_eq!(first.account.phone, phone);
    assert!(first.account.id.len() > 4);
    assert!(first.token.len() >= 43, "256-bit tokens");
    // A code works once.
    assert_eq!(status(h.anon.create_session(&phone, &code).await), 401);

    let me = h.anon.with_token(&first.token);
    assert_eq!(me.me().await.unwrap().id, first.account.id);
    assert_eq!(me.patch_me("Ana Pereira").await.unwrap().name, "Ana Pereira");

    // Another notation of the same number signs in to the same account.
    let spaced = format!("{} {} {}", &phone[..3], &phone[3..6], &phone[6..]);
    let code = h.otp(&phone).await;
    let second = h.anon.create_session(&spaced, &code).await.unwrap();
    assert_eq!(second.account.id, first.account.id);
    assert_eq!(second.account.name, "Ana Pereira");
    assert_ne!(second.token, first.token);

    // Signing out ends that session only.
    me.sign_out().await.unwrap();
    assert_eq!(status(me.me().await), 401);
    let other = h.anon.with_token(&second.token);
    assert_eq!(other.me().await.unwrap().id, first.account.id);
    assert_eq!(status(h.anon.me().await), 401);
    assert_eq!(status(h.anon.with_token("not-a-token").me().await), 401);

    // Sign-in codes expire after 5 minutes.
    let code = h.otp(&phone).await;
    h.advance(SignedDuration::from_secs(5 * 60));
    assert_eq!(status(h.anon.create_session(&phone, &code).await), 401);
    h.stop().await;
}

async fn pairing_makes_the_caller_admin_and_unpairing_forgets_the_lock(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let code = h.gateway.new_lock();
    let lock = ana
        .client
        .pair_lock(&code, "Front door", "Europe/Berlin")
        .await
        .unwrap();
    assert_eq!(lock.my_access_level, m::AccessLevel::Admin);
    assert_eq!(lock.time_zone, "Europe/Berlin");
    assert_eq!(lock.name, "Front door");
    assert_eq!(lock.settings.wrong_code_limit, 5);
    assert!(lock.online);

    // The same lock cannot be paired twice; an unknown code pairs nothing.
    assert_eq!(status(ana.client.pair_lock(&code, "Again", "Europe/Berlin").await), 409);
    let fields = invalid_fields(ana.client.pair_lock("9999-0000", "Nope", "Europe/Berlin").await);
    assert_eq!(fields, ["setup_code"]);

    let locks = ana.client.locks().await.unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].id, lock.id);
    let got = ana.client.lock(&lock.id).await.unwrap();
    assert_eq!(got.my_access_level, m::AccessLevel::Admin);

    let patched = ana
        .client
        .patch_lock(
            &lock.id,
            &m::PatchLock {
                name: Some("Back door".into()),
                time_zone: Some("America/New_York".into()),
                settings: Some(m::PatchSettings {
                    wrong_code_limit: Some(7),
                    lockout_seconds: Some(120),
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "Back door");
    assert_eq!(patched.time_zone, "America/New_York");
    assert_eq!(patched.settings.wrong_code_limit, 7);
    assert_eq!(patched.settings.lockout_seconds, 120);
    let members = ana.client.members(&lock.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].account_id, ana.id());
    assert_eq!(members[0].access_level, m::AccessLevel::Admin);

    ana.client.delete_lock(&lock.id).await.unwrap();
    assert_eq!(*h.gateway.unpaired.lock().unwrap(), vec![lock.id.clone()]);
    assert_eq!(status(ana.client.lock(&lock.id).await), 404);
    assert!(ana.client.locks().await.unwrap().is_empty());
    // Once unpaired, the lock can be paired again.
    let again = ana
        .client
        .pair_lock(&code, "Front door", "Europe/Berlin")
        .await
        .unwrap();
    assert_ne!(again.id, lock.id);
    h.stop().await;
}

async fn invitation_is_accepted_and_the_invitee_becomes_a_member(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Beach house", "Europe/Lisbon").await;
    let phone = h.new_phone();
    // Any common notation is accepted and stored in E.164.
    let typed = format!("00{}", &phone[1..]);
    let inv = ana
        .client
        .invite(
            &lock.id,
            &m::CreateInvitation {
                name: None,
                phone: typed,
                access_level: m::AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(inv.phone, phone);
    assert_eq!(inv.status, m::InvitationStatus::Pending);
    assert_eq!(inv.access_level, m::AccessLevel::Family);
    assert_eq!(inv.lock_name, "Beach house");
    let expires: jiff::Timestamp = inv.expires_at.parse().unwrap();
    assert_eq!(expires, h.now() + SignedDuration::from_hours(7 * 24));

    // The SMS names the lock and the inviter and links to the web app.
    let sms = h.next_sms(&phone, 0).await;
    assert!(sms.body.contains("Beach house"), "{}", sms.body);
    assert!(sms.body.contains("Ana"), "{}", sms.body);
    assert!(sms.body.contains("http://127.0.0.1/invitations"), "{}", sms.body);

    // Inviting the same number again while pending conflicts.
    let again = m::CreateInvitation {
        name: None,
        phone: phone.clone(),
        access_level: m::AccessLevel::Admin,
        schedule: None,
    };
    assert_eq!(status(ana.client.invite(&lock.id, &again).await), 409);

    let (bea, bea_account) = h.sign_in(&phone).await;
    let mine = bea.my_invitations().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, inv.id);
    assert_eq!(mine[0].lock_id, lock.id);
    assert_eq!(mine[0].invited_by, "Ana");
    // Not visible to the invitee as a lock yet.
    assert_eq!(status(bea.lock(&lock.id).await), 404);

    let member = bea.accept_invitation(&inv.id).await.unwrap();
    assert_eq!(member.account_id, bea_account.id);
    assert_eq!(member.access_level, m::AccessLevel::Family);
    assert_eq!(member.sync, m::SyncState::Pending, "the fake lock never acknowledges");
    assert!(bea.my_invitations().await.unwrap().is_empty());
    assert_eq!(status(bea.accept_invitation(&inv.id).await), 409);

    let members = ana.client.members(&lock.id).await.unwrap();
    assert_eq!(members.len(), 2);
    let listed = members.iter().find(|m| m.account_id == bea_account.id).unwrap();
    assert_eq!(listed.phone, phone);
    assert_eq!(listed.access_level, m::AccessLevel::Family);
    assert!(!listed.has_pin);
    let seen = bea.lock(&lock.id).await.unwrap();
    assert_eq!(seen.my_access_level, m::AccessLevel::Family);
    let statuses: Vec<_> = ana.client.lock_invitations(&lock.id).await.unwrap();
    assert_eq!(statuses[0].status, m::InvitationStatus::Accepted);

    // Already a member: a new invitation conflicts.
    assert_eq!(status(ana.client.invite(&lock.id, &again).await), 409);

    // A Recurring Guest keeps its schedule.
    let carl = h.user("Carl").await;
    let sched = schedule(&["tue"], "09:00", "12:30");
    let inv = ana
        .client
        .invite(
            &lock.id,
            &m::CreateInvitation {
                name: None,
                phone: carl.phone.clone(),
                access_level: m::AccessLevel::RecurringGuest,
                schedule: Some(sched.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(inv.schedule.as_ref(), Some(&sched));
    let member = carl.client.accept_invitation(&inv.id).await.unwrap();
    assert_eq!(member.access_level, m::AccessLevel::RecurringGuest);
    assert_eq!(member.schedule, Some(sched));

    // Leaving: a member removes itself.
    carl.client.remove_member(&lock.id, carl.id()).await.unwrap();
    assert_eq!(status(carl.client.lock(&lock.id).await), 404);
    assert_eq!(ana.client.members(&lock.id).await.unwrap().len(), 2);
    h.stop().await;
}

async fn invitations_can_be_declined_revoked_and_expire(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Office", "Europe/Berlin").await;
    let invite = |who: &User| m::CreateInvitation {
        name: None,
        phone: who.phone.clone(),
        access_level: m::AccessLevel::Family,
        schedule: None,
    };

    // Declined.
    let dan = h.user("Dan").await;
    let inv = ana.client.invite(&lock.id, &invite(&dan)).await.unwrap();
    let declined = dan.client.decline_invitation(&inv.id).await.unwrap();
    assert_eq!(declined.status, m::InvitationStatus::Declined);
    assert!(dan.client.my_invitations().await.unwrap().is_empty());
    assert_eq!(status(dan.client.accept_invitation(&inv.id).await), 409);
    // Only the invitee sees it at all.
    assert_eq!(status(ana.client.decline_invitation(&inv.id).await), 404);

    // Revoked.
    let eve = h.user("Eve").await;
    let inv = ana.client.invite(&lock.id, &invite(&eve)).await.unwrap();
    assert_eq!(eve.client.my_invitations().await.unwrap().len(), 1);
    ana.client.revoke_invitation(&lock.id, &inv.id).await.unwrap();
    assert!(eve.client.my_invitations().await.unwrap().is_empty());
    assert_eq!(status(eve.client.accept_invitation(&inv.id).await), 409);
    assert_eq!(status(ana.client.revoke_invitation(&lock.id, &inv.id).await), 409);

    // Expired: the clock passes expires_at.
    let fay = h.user("Fay").await;
    let inv = ana.client.invite(&lock.id, &invite(&fay)).await.unwrap();
    let expires: jiff::Timestamp = inv.expires_at.parse().unwrap();
    h.clock.set(expires - SignedDuration::from_secs(1));
    assert_eq!(fay.client.my_invitations().await.unwrap().len(), 1);
    h.clock.set(expires);
    assert!(fay.client.my_invitations().await.unwrap().is_empty());
    assert_eq!(status(fay.client.accept_invitation(&inv.id).await), 409);

    let all = ana.client.lock_invitations(&lock.id).await.unwrap();
    let state = |id: &str| all.iter().find(|i| i.id == id).map(|i| i.status);
    assert_eq!(all.len(), 3);
    assert_eq!(state(&inv.id), Some(m::InvitationStatus::Expired));
    assert!(all.iter().any(|i| i.status == m::InvitationStatus::Declined));
    assert!(all.iter().any(|i| i.status == m::InvitationStatus::Revoked));

    // An expired invitation does not block a new one.
    let renewed = ana.client.invite(&lock.id, &invite(&fay)).await.unwrap();
    assert_eq!(renewed.status, m::InvitationStatus::Pending);
    fay.client.accept_invitation(&renewed.id).await.unwrap();
    assert_eq!(ana.client.members(&lock.id).await.unwrap().len(), 2);
    h.stop().await;
}

async fn the_last_admin_can_be_neither_removed_nor_demoted(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    let demote = m::PatchMember {
        access_level: Some(m::AccessLevel::Family),
        schedule: None,
    };
    assert_eq!(status(ana.client.remove_member(&lock.id, ana.id()).await), 409);
    assert_eq!(status(ana.client.patch_member(&lock.id, ana.id(), &demote).await), 409);

    let bob = h.user("Bob").await;
    h.add_member(&ana, &lock.id, &bob, m::AccessLevel::Family, None).await;
    // A Family member is no Admin: the lock still has only one.
    assert_eq!(status(ana.client.remove_member(&lock.id, ana.id()).await), 409);
    let promote = m::PatchMember {
        access_level: Some(m::AccessLevel::Admin),
        schedule: None,
    };
    let bob_admin = ana.client.patch_member(&lock.id, bob.id(), &promote).await.unwrap();
    assert_eq!(bob_admin.access_level, m::AccessLevel::Admin);
    // Now Ana may step down, after which Bob is the last Admin.
    let ana_now = ana.client.patch_member(&lock.id, ana.id(), &demote).await.unwrap();
    assert_eq!(ana_now.access_level, m::AccessLevel::Family);
    assert_eq!(status(bob.client.remove_member(&lock.id, bob.id()).await), 409);
    assert_eq!(status(bob.client.patch_member(&lock.id, bob.id(), &demote).await), 409);
    // Ana is Family now: she cannot manage people.
    assert_eq!(status(ana.client.remove_member(&lock.id, bob.id()).await), 403);
    bob.client.remove_member(&lock.id, ana.id()).await.unwrap();
    let members = bob.client.members(&lock.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].access_level, m::AccessLevel::Admin);
    h.stop().await;
}

/// A lock with Admins Ana and Bob.
async fn two_admins(h: &Harness) -> (User, User, m::Lock) {
    let ana = h.user("Ana").await;
    let bob = h.user("Bob").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    h.add_member(&ana, &lock.id, &bob, m::AccessLevel::Admin, None).await;
    (ana, bob, lock)
}

async fn admins(by: &User, lock_id: &str) -> Vec<String> {
    by.client
        .members(lock_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.access_level == m::AccessLevel::Admin)
        .map(|m| m.account_id)
        .collect()
}

async fn concurrent_demotions_leave_exactly_one_admin(b: Backend) {
    let h = Harness::start(b).await;
    let demote = m::PatchMember {
        access_level: Some(m::AccessLevel::Family),
        schedule: None,
    };
    let promote = m::PatchMember {
        access_level: Some(m::AccessLevel::Admin),
        schedule: None,
    };
    let (ana, bob, lock) = two_admins(&h).await;
    for round in 0..3 {
        // Each demotes themself at the same instant: one wins, the other is the last Admin.
        let (a, b) = tokio::join!(
            ana.client.patch_member(&lock.id, ana.id(), &demote),
            bob.client.patch_member(&lock.id, bob.id(), &demote),
        );
        let mut outcomes = [a.as_ref().map(|_| 200).unwrap_or_else(|e| e.status().unwrap()), 0];
        outcomes[1] = b.as_ref().map(|_| 200).unwrap_or_else(|e| e.status().unwrap());
        outcomes.sort();
        assert_eq!(outcomes, [200, 409], "round {round}");
        let left = admins(if a.is_ok() { &bob } else { &ana }, &lock.id).await;
        assert_eq!(left.len(), 1, "round {round}: {left:?}");
        // Restore two Admins.
        let (admin, other) = if a.is_ok() { (&bob, &ana) } else { (&ana, &bob) };
        admin.client.patch_member(&lock.id, other.id(), &promote).await.unwrap();
    }

    // Each demotes the other at the same instant: exactly one Admin remains.
    let (a, b) = tokio::join!(
        ana.client.patch_member(&lock.id, bob.id(), &demote),
        bob.client.patch_member(&lock.id, ana.id(), &demote),
    );
    let (winner, loser) = match (a, b) {
        (Ok(_), Err(e)) => (&ana, e),
        (Err(e), Ok(_)) => (&bob, e),
        other => panic!("exactly one demotion must win: {other:?}"),
    };
    // The loser is no longer an Admin by the time its change runs (403), or meets the rule (409).
    assert!(matches!(loser.status(), Some(403 | 409)), "{loser}");
    assert_eq!(admins(winner, &lock.id).await, [winner.id().to_string()]);
    h.stop().await;
}

async fn concurrent_removals_leave_exactly_one_admin(b: Backend) {
    let h = Harness::start(b).await;
    let (ana, bob, lock) = two_admins(&h).await;
    let (a, b) = tokio::join!(
        ana.client.remove_member(&lock.id, bob.id()),
        bob.client.remove_member(&lock.id, ana.id()),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(),
        1,
        "{a:?} / {b:?}"
    );
    let (winner, loser) = match (a, b) {
        (Ok(()), Err(e)) => (&ana, e),
        (Err(e), Ok(())) => (&bob, e),
        other => panic!("{other:?}"),
    };
    // The loser was removed first: the lock is no longer visible to it.
    assert!(matches!(loser.status(), Some(404 | 409)), "{loser}");
    let members = winner.client.members(&lock.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].account_id, winner.id());
    assert_eq!(members[0].access_level, m::AccessLevel::Admin);

    // Two Admins both leaving at once: one stays.
    let (ana, bob, lock) = two_admins(&h).await;
    let (a, b) = tokio::join!(
        ana.client.remove_member(&lock.id, ana.id()),
        bob.client.remove_member(&lock.id, bob.id()),
    );
    let mut st = [
        a.as_ref().map(|_| 204).unwrap_or_else(|e| e.status().unwrap()),
        b.as_ref().map(|_| 204).unwrap_or_else(|e| e.status().unwrap()),
    ];
    st.sort();
    assert_eq!(st, [204, 409]);
    let stayer = if a.is_ok() { &bob } else { &ana };
    assert_eq!(admins(stayer, &lock.id).await, [stayer.id().to_string()]);
    h.stop().await;
}

async fn guest_key_sms_and_statuses_follow_the_clock(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Apartment 3", "Europe/Berlin").await;
    let guest_phone = h.new_phone();
    // Local times at the lock: 1 July 15:00 to 4 July 11:00, Berlin summer time (UTC+2).
    let key = ana
        .client
        .create_guest_key(
            &lock.id,
            &guest_key("Gil", Some(&guest_phone), "2027-07-01T15:00", "2027-07-04T11:00"),
        )
        .await
        .unwrap();
    assert_eq!(key.status, m::GuestKeyStatus::Scheduled);
    assert_eq!(key.starts_at, "2027-07-01T15:00:00+02:00");
    assert_eq!(key.ends_at, "2027-07-04T11:00:00+02:00");
    assert_eq!(key.phone.as_deref(), Some(guest_phone.as_str()));
    assert!(
        !key.code.is_empty() && key.code.bytes().all(|c| c.is_ascii_digit()),
        "{}",
        key.code
    );
    assert!(key.instructions.contains(&key.code) && key.instructions.contains('#'));
    assert!(matches!(key.sms, m::SmsState::Queued | m::SmsState::Sent));

    let sms = h.next_sms(&guest_phone, 0).await;
    assert!(
        sms.body
            .contains(&format!("Type {} on the lock's keypad, then press #", key.code)),
        "{}",
        sms.body
    );
    assert!(
        sms.body.contains("Apartment 3") && sms.body.contains("Ana"),
        "{}",
        sms.body
    );
    assert!(sms.body.contains("Thu 1 Jul 2027 15:00"), "local start in {}", sms.body);
    assert!(sms.body.contains("Sun 4 Jul 2027 11:00"), "local end in {}", sms.body);
    assert!(sms.body.contains("Europe/Berlin"), "{}", sms.body);
    let sent = kit::eventually("sms state sent", || async {
        let k = ana.client.guest_key(&lock.id, &key.id).await.unwrap();
        (k.sms == m::SmsState::Sent).then_some(k)
    })
    .await;
    assert_eq!(sent.code, key.code);

    // An instant with an offset works too; a one-time key says so in its SMS.
    let once_phone = h.new_phone();
    let mut once = guest_key(
        "Courier",
        Some(&once_phone),
        "2027-06-30T12:00:00+02:00",
        "2027-06-30T18:00:00+02:00",
    );
    once.one_time = true;
    let once = ana.client.create_guest_key(&lock.id, &once).await.unwrap();
    assert!(once.one_time);
    assert_eq!(once.status, m::GuestKeyStatus::Active, "starts now");
    assert_ne!(once.code, key.code);
    let sms = h.next_sms(&once_phone, 0).await;
    assert!(sms.body.contains("once"), "{}", sms.body);
    assert!(sms.body.contains(&once.code));

    // Without a phone, no SMS.
    let quiet = ana
        .client
        .create_guest_key(
            &lock.id,
            &guest_key("Quiet", None, "2027-07-02T10:00", "2027-07-02T12:00"),
        )
        .await
        .unwrap();
    assert_eq!(quiet.sms, m::SmsState::None);

    let status_of = |id: String| {
        let c = ana.client.clone();
        let lock_id = lock.id.clone();
        async move { c.guest_key(&lock_id, &id).await.unwrap().status }
    };
    h.clock.set("2027-07-01T12:59:59Z".parse().unwrap());
    assert_eq!(status_of(key.id.clone()).await, m::GuestKeyStatus::Scheduled);
    h.clock.set("2027-07-01T13:00:00Z".parse().unwrap());
    assert_eq!(status_of(key.id.clone()).await, m::GuestKeyStatus::Active);
    assert_eq!(status_of(once.id.clone()).await, m::GuestKeyStatus::Expired);

    ana.client.revoke_guest_key(&lock.id, &quiet.id).await.unwrap();
    assert_eq!(status_of(quiet.id.clone()).await, m::GuestKeyStatus::Revoked);
    assert_eq!(status(ana.client.revoke_guest_key(&lock.id, &quiet.id).await), 409);

    h.clock.set("2027-07-04T09:00:00Z".parse().unwrap());
    assert_eq!(status_of(key.id.clone()).await, m::GuestKeyStatus::Expired);
    assert_eq!(status_of(quiet.id.clone()).await, m::GuestKeyStatus::Revoked);

    let list = ana.client.guest_keys(&lock.id).await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|k| k.status != m::GuestKeyStatus::Active));
    assert_eq!(status(ana.client.guest_key(&lock.id, "gk_nope").await), 404);

    // The activity log names the key and who made it.
    let events = ana.client.events(&lock.id, None, None).await.unwrap();
    let created = events
        .iter()
        .find(|e| e.kind == "guest_key_created" && e.actor.as_ref().is_some_and(|a| a.name == "Gil"))
        .expect("guest_key_created event");
    assert_eq!(created.actor.as_ref().unwrap().kind, "guest_key");
    assert_eq!(created.by.as_ref().unwrap().name, "Ana");
    assert!(events.iter().any(|e| e.kind == "guest_key_revoked"));
    h.stop().await;
}

async fn issuers_are_created_and_deleted(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    let issuer = ana.client.create_issuer(&lock.id, Some("Ana's phone")).await.unwrap();
    let file: serde_json::Value = serde_json::from_str(&issuer.file).unwrap();
    assert_eq!(file["format"], "latchkey-issuer/1");
    assert_eq!(file["issuer_id"], issuer.issuer_id.as_str());
    assert_eq!(file["lock_id"], lock.id.as_str());
    assert_eq!(file["slot"], 1);
    assert_eq!(file["key"].as_str().map(str::len), Some(64));
    // A second device gets another slot; no label is fine too.
    let second = ana.client.create_issuer(&lock.id, None).await.unwrap();
    let file2: serde_json::Value = serde_json::from_str(&second.file).unwrap();
    assert_eq!(file2["slot"], 2);
    assert_ne!(file2["key"], file["key"]);

    ana.client.delete_issuer(&lock.id, &issuer.issuer_id).await.unwrap();
    assert_eq!(status(ana.client.delete_issuer(&lock.id, &issuer.issuer_id).await), 409);
    assert_eq!(status(ana.client.delete_issuer(&lock.id, "iss_nope").await), 404);
    // The freed slot is reused with a new epoch (so old codes stay dead).
    let third = ana.client.create_issuer(&lock.id, Some("New phone")).await.unwrap();
    let file3: serde_json::Value = serde_json::from_str(&third.file).unwrap();
    assert_eq!(file3["slot"], 1);
    assert_eq!(file3["epoch"], 2);

    let events = ana.client.events(&lock.id, None, None).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "issuer_created").count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "issuer_revoked").count(), 1, "{kinds:?}");
    h.stop().await;
}

async fn pins_are_unique_and_changes_are_events_with_their_actor(b: Backend) {
    let h = Harness::start(b).await;
    // Event ids sort by time; a second between changes makes "newest first" observable.
    let tick = || h.advance(SignedDuration::from_secs(1));
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    tick();
    let bob = h.user("Bob").await;
    h.add_member(&ana, &lock.id, &bob, m::AccessLevel::Family, None).await;
    tick();

    ana.client.set_pin(&lock.id, ana.id(), "482915").await.unwrap();
    tick();
    // Unique on the lock without telling whose PIN exists: `pin_choice.rs`.
    bob.client.set_pin(&lock.id, bob.id(), "5937261").await.unwrap();
    tick();
    // An Admin may set a member's PIN; the member may change its own again.
    ana.client.set_pin(&lock.id, bob.id(), "73915284").await.unwrap();
    tick();
    bob.client.set_pin(&lock.id, bob.id(), "5937261").await.unwrap();
    tick();
    // A Family member may not set someone else's.
    assert_eq!(status(bob.client.set_pin(&lock.id, ana.id(), "615243").await), 403);
    // The same PIN on another lock is fine.
    let other = h.pair(&ana, "Garage", "Europe/Berlin").await;
    h.add_member(&ana, &other.id, &bob, m::AccessLevel::Family, None).await;
    bob.client.set_pin(&other.id, bob.id(), "482915").await.unwrap();

    let members = ana.client.members(&lock.id).await.unwrap();
    assert!(members.iter().all(|m| m.has_pin), "{members:?}");

    // A level and schedule change is an event too.
    tick();
    ana.client
        .patch_member(
            &lock.id,
            bob.id(),
            &m::PatchMember {
                access_level: Some(m::AccessLevel::RecurringGuest),
                schedule: Some(schedule(&["sat", "sun"], "10:00", "18:00")),
            },
        )
        .await
        .unwrap();

    let events = ana.client.events(&lock.id, None, None).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"member_changed"), "newest first: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"lock_paired"), "oldest last: {kinds:?}");
    let ats: Vec<jiff::Timestamp> = events.iter().map(|e| e.at.parse().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");
    let pin_events: Vec<_> = events.iter().filter(|e| e.kind == "pin_set").collect();
    assert_eq!(pin_events.len(), 4);
    let by_admin = pin_events
        .iter()
        .find(|e| e.by.as_ref().unwrap().name == "Ana" && e.actor.as_ref().unwrap().name == "Bob")
        .expect("Ana set Bob's PIN");
    assert_eq!(by_admin.actor.as_ref().unwrap().id.as_deref(), Some(bob.id()));
    assert_eq!(by_admin.actor.as_ref().unwrap().kind, "member");
    for want in ["lock_paired", "invitation_sent", "member_added", "member_changed"] {
        assert!(kinds.contains(&want), "{want} missing from {kinds:?}");
    }
    let added = events.iter().find(|e| e.kind == "member_added").unwrap();
    assert_eq!(added.actor.as_ref().unwrap().name, "Bob");
    let changed = &events[0];
    assert_eq!(changed.by.as_ref().unwrap().id.as_deref(), Some(ana.id()));
    assert_eq!(changed.actor.as_ref().unwrap().name, "Bob");
    assert!(changed.detail.contains("Recurring Guest"), "{}", changed.detail);
    // Events of the other lock stay there.
    assert!(events.iter().all(|e| !e.detail.contains("Garage")));

    // Paging: limit and before.
    let first = ana.client.events(&lock.id, Some(2), None).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].id, events[0].id);
    let next = ana.client.events(&lock.id, Some(3), Some(&first[1].id)).await.unwrap();
    assert_eq!(
        next.iter().map(|e| &e.id).collect::<Vec<_>>(),
        events[2..5].iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    h.stop().await;
}

async fn remote_unlock_within_the_members_rights(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    let fam = h.user("Fam").await;
    let rg = h.user("Rita").await;
    h.add_member(&ana, &lock.id, &fam, m::AccessLevel::Family, None).await;
    // Tuesdays 09:00-12:30 Berlin time.
    h.add_member(
        &ana,
        &lock.id,
        &rg,
        m::AccessLevel::RecurringGuest,
        Some(schedule(&["tue"], "09:00", "12:30")),
    )
    .await;

    assert_eq!(ana.client.unlock(&lock.id).await.unwrap().outcome, "unlocked");
    assert_eq!(fam.client.unlock(&lock.id).await.unwrap().outcome, "unlocked");
    // Wednesday 12:00 in Berlin: outside the schedule, refused before the lock is asked.
    let asked = h.gateway.unlocks.lock().unwrap().len();
    assert_eq!(status(rg.client.unlock(&lock.id).await), 403);
    assert_eq!(h.gateway.unlocks.lock().unwrap().len(), asked);
    // Tuesday 2027-07-06 09:00 Berlin = 07:00 UTC.
    h.clock.set("2027-07-06T07:00:00Z".parse().unwrap());
    assert_eq!(rg.client.unlock(&lock.id).await.unwrap().outcome, "unlocked");
    h.clock.set("2027-07-06T10:30:00Z".parse().unwrap());
    assert_eq!(status(rg.client.unlock(&lock.id).await), 403);

    // Commands carry increasing sequence numbers and the member's lock-local id.
    let sent = h.gateway.unlocks.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    assert!(sent.windows(2).all(|w| w[0].2 < w[1].2), "{sent:?}");
    assert_eq!(sent[0].1, 1, "the first Admin is user 1 on the lock");

    // What the lock answers.
    h.gateway.set_unlock_mode(UnlockMode::Deny("lockout".into()));
    assert_eq!(status(fam.client.unlock(&lock.id).await), 403);
    h.gateway.set_unlock_mode(UnlockMode::Timeout);
    assert_eq!(status(fam.client.unlock(&lock.id).await), 504);
    h.gateway.set_unlock_mode(UnlockMode::Unavailable);
    assert_eq!(status(fam.client.unlock(&lock.id).await), 503);

    // A Recurring Guest with an always-open schedule opens any time.
    h.gateway.set_unlock_mode(UnlockMode::Open);
    ana.client
        .patch_member(
            &lock.id,
            rg.id(),
            &m::PatchMember {
                access_level: None,
                schedule: Some(always()),
            },
        )
        .await
        .unwrap();
    assert_eq!(rg.client.unlock(&lock.id).await.unwrap().outcome, "unlocked");
    h.stop().await;
}
