//! Choosing a PIN reveals no one else's PIN (issue 16, `docs/design/pin-choice.md`): a member
//! who chooses a PIN another member holds gets the same answer as for a free one; the other
//! member loses it and is told; PIN choices are rate-limited.

use crate::kit;

use jiff::SignedDuration;
use kit::{Backend, Harness, schedule, status};
use latchkey_client::model as m;

on_both_backends!(choosing_someone_elses_pin_tells_nothing, pin_choices_are_rate_limited);

async fn choosing_someone_elses_pin_tells_nothing(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    let rita = h.user("Rita").await;
    let sched = schedule(&["sat", "sun"], "10:00", "18:00");
    h.add_member(&ana, &lock.id, &rita, m::AccessLevel::RecurringGuest, Some(sched))
        .await;
    ana.client.set_pin(&lock.id, ana.id(), "482915").await.unwrap();
    let sms_before = h.sms_to(&ana.phone).len();

    // A free PIN and the Admin's PIN: the same answer.
    let free = rita.client.set_pin(&lock.id, rita.id(), "739152").await;
    let taken = rita.client.set_pin(&lock.id, rita.id(), "482915").await;
    assert!(free.is_ok(), "{free:?}");
    assert!(
        taken.is_ok(),
        "the answer tells that the PIN was someone else's: {taken:?}"
    );

    // The PIN is Rita's now (her own rights); Ana lost it and was told.
    let members = ana.client.members(&lock.id).await.unwrap();
    let has_pin = |id: &str| members.iter().find(|mm| mm.account_id == id).unwrap().has_pin;
    assert!(has_pin(rita.id()));
    assert!(!has_pin(ana.id()), "PINs stay unique on the lock");
    let told = h.next_sms(&ana.phone, sms_before).await;
    let body = &told.body;
    assert!(body.contains("no longer works") && body.contains("Home"), "{body}");
    assert!(!body.contains("482915"), "the SMS does not repeat the PIN: {body}");
    let events = ana.client.events(&lock.id, None, None).await.unwrap();
    let cleared = events
        .iter()
        .find(|e| e.kind == "pin_cleared")
        .expect("a pin_cleared event");
    assert_eq!(cleared.actor.as_ref().unwrap().id.as_deref(), Some(ana.id()));
    assert_eq!(cleared.by.as_ref().unwrap().id.as_deref(), Some(rita.id()));

    // Ana chooses a new one; nothing else changed for Rita.
    ana.client.set_pin(&lock.id, ana.id(), "5937261").await.unwrap();
    let members = ana.client.members(&lock.id).await.unwrap();
    assert!(members.iter().all(|mm| mm.has_pin), "{members:?}");
    // Choosing one's own PIN again changes nothing and tells no one.
    rita.client.set_pin(&lock.id, rita.id(), "482915").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(h.sms_to(&ana.phone).len(), sms_before + 1);
    h.stop().await;
}

async fn pin_choices_are_rate_limited(b: Backend) {
    let h = Harness::start(b).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Home", "Europe/Berlin").await;
    let bob = h.user("Bob").await;
    h.add_member(&ana, &lock.id, &bob, m::AccessLevel::Family, None).await;
    let pins = [
        "592817", "603948", "714059", "825160", "936271", "147382", "258493", "369504", "470615", "581726",
    ];
    for pin in pins {
        bob.client.set_pin(&lock.id, bob.id(), pin).await.unwrap();
    }
    let r = bob.client.set_pin(&lock.id, bob.id(), "692837").await;
    let retry = match &r {
        Err(latchkey_client::Error::Status { retry_after, .. }) => *retry_after,
        _ => None,
    };
    assert_eq!(status(r), 429);
    assert!(retry.is_some_and(|s| s > 0), "Retry-After");
    // Another member's budget is their own.
    ana.client.set_pin(&lock.id, ana.id(), "692837").await.unwrap();
    // After the window, choices are possible again.
    h.advance(SignedDuration::from_secs(16 * 60));
    bob.client.set_pin(&lock.id, bob.id(), "803948").await.unwrap();
    h.stop().await;
}
