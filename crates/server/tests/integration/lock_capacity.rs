//! Capacity, honestly (issue 16; `api.md` second round, "Lock capacity"): `GET /locks/{id}`
//! reports what the lock holds, a request that would need more is refused with 409 and a
//! detail that says what to do, and every key answered 201 opens at the real lock's keypad.

use crate::device_kit;
use crate::kit;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kit::{Backend, Harness, guest_key, status};
use latchkey_client::model::CreateGuestKey;

on_both_backends!(capacity_is_reported_and_a_full_lock_refuses_with_409);

async fn capacity_is_reported_and_a_full_lock_refuses_with_409(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Apartment 3", "Europe/Berlin").await;
    let cap = ana.client.lock(&lock.id).await.unwrap().capacity.expect("capacity");
    assert_eq!((cap.guest_keys.used, cap.guest_keys.max), (0, 512), "{cap:?}");
    assert_eq!((cap.members.used, cap.members.max), (1, 1000), "{cap:?}");
    let max = cap.guest_keys.max as usize;

    // Fill the lock (windows on many days and hours: each window has a bounded number of
    // distinct codes).
    let mut first = None;
    for i in 0..max {
        let day = 1 + (i % 28);
        let hour = 8 + (i / 28) % 12;
        let k = ana
            .client
            .create_guest_key(
                &lock.id,
                &guest_key(
                    &format!("Guest {i}"),
                    None,
                    &format!("2027-07-{day:02}T{hour:02}:00"),
                    &format!("2027-07-{:02}T11:00", day + 2),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("key {i}: {e}"));
        first.get_or_insert(k.id);
    }
    let cap = ana.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    assert_eq!(cap.guest_keys.used, cap.guest_keys.max, "{cap:?}");

    // One more: 409, saying what is full and what to do.
    let one_more = guest_key("One too many", None, "2027-07-20T15:00", "2027-07-22T11:00");
    let r = ana.client.create_guest_key(&lock.id, &one_more).await;
    let text = match &r {
        Err(e) => e.to_string(),
        Ok(k) => panic!("a full lock took another key: {k:?}"),
    };
    assert_eq!(status(r), 409, "{text}");
    assert!(text.contains("full") && text.contains("revoke"), "{text}");
    assert_eq!(
        ana.client.guest_keys(&lock.id).await.unwrap().len(),
        max,
        "nothing stored"
    );

    // Revoking one makes room (and takes a place on the lock's list of revoked codes).
    ana.client.revoke_guest_key(&lock.id, &first.unwrap()).await.unwrap();
    let cap = ana.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    assert_eq!(cap.guest_keys.used as usize, max - 1, "{cap:?}");
    assert_eq!(cap.revoked_codes.map(|r| r.used), Some(1), "{cap:?}");
    ana.client
        .create_guest_key(&lock.id, &one_more)
        .await
        .expect("room again");

    // Keys whose codes have ended leave the lock.
    h.advance(SignedDuration::from_hours(24 * 40));
    let cap = ana.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    assert_eq!(
        (cap.guest_keys.used, cap.revoked_codes.map(|r| r.used)),
        (0, Some(0)),
        "{cap:?}"
    );
    h.stop().await;
}

/// 300 keys for the same day on one real lock: each one the API answered 201 opens at the
/// keypad (most of them are held codes, which the lock accepts only from its snapshot).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_same_day_keys_each_open_or_were_refused() {
    latchkey_client::install_crypto_provider();
    let w = device_kit::World::start(device_kit::Broker::Embedded, false).await;
    let owner = w.sign_in(device_kit::OWNER).await;
    let lid = w.pair(&owner).await;
    let now = Timestamp::now();
    let starts_at = (now - SignedDuration::from_mins(30)).to_string();
    let ends_at = (now + SignedDuration::from_hours(8)).to_string();
    let mut codes = Vec::new();
    let mut refused = 0;
    for i in 0..300 {
        let body = CreateGuestKey {
            name: format!("Guest {i}"),
            phone: None,
            starts_at: starts_at.clone(),
            ends_at: ends_at.clone(),
            one_time: false,
            precautions_accepted: true,
        };
        match owner.create_guest_key(&lid, &body).await {
            Ok(k) => codes.push(k.code),
            Err(e) if e.status() == Some(409) => refused += 1,
            Err(e) => panic!("key {i}: {e}"),
        }
    }
    eprintln!("{} keys made, {refused} refused", codes.len());
    let cap = owner.lock(&lid).await.unwrap().capacity.unwrap();
    assert_eq!(cap.guest_keys.used as usize, codes.len(), "{cap:?}");
    w.wait_synced(&owner, &lid, 60).await;
    for (i, code) in codes.iter().enumerate() {
        let digits: String = code.chars().filter(char::is_ascii_digit).collect();
        let r = w.keypad(&format!("{digits}#")).await;
        assert_eq!(
            r["outcome"], "granted",
            "key {i} ({code}) was answered 201 but the lock says {r}"
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.stop().await;
}
