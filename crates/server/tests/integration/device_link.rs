//! The device link end to end: a real server (SQLite, embedded MQTT broker), a real virtual lock
//! (in-process, `latchkey-vlock`), pairing with the lock's setup code, member sync, PINs at the
//! keypad, remote unlock, removal, and the lock's journal in the activity log. The world and
//! its helpers are in `device_kit`, shared with `device_flows.rs`.

use crate::device_kit;

use device_kit::{Broker, FAMILY, OWNER, World, eventually};
use latchkey_client::model::{AccessLevel, SyncState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pair_sync_keypad_remote_unlock_removal_and_events() {
    latchkey_client::install_crypto_provider();
    let w = World::start(Broker::Embedded, false).await;

    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.lock_get("/status").await;
        (s["online"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["paired"], false);
    let setup_code = status["setup_code"]
        .as_str()
        .expect("a setup code while unpaired")
        .to_string();
    assert_eq!(setup_code.chars().filter(char::is_ascii_digit).count(), 11);

    // Pairing: the owner enters the setup code.
    let owner = w.sign_in(OWNER).await;
    let wrong = owner.pair_lock("000-0000-0001", "Front door", "Europe/Berlin").await;
    assert!(wrong.is_err(), "a wrong setup code must not pair");
    let lid = w.pair(&owner).await;

    // A Family member: invited, accepted, PIN set.
    let (fam, fam_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some("482915"))
        .await;

    eventually("the family member synced to the lock", 20, || async {
        let members = owner.members(&lid).await.ok()?;
        members
            .iter()
            .any(|m| m.account_id == fam_id && m.sync == SyncState::Synced)
            .then_some(())
    })
    .await;

    // At the keypad.
    let ok = w.keypad("482915#").await;
    assert_eq!(ok["outcome"], "granted", "{ok}");
    assert_eq!(w.lock_get("/status").await["bolt"], "unlocked");
    let bad = w.keypad("111111#").await;
    assert_eq!(bad["outcome"], "denied", "{bad}");
    assert_eq!(bad["reason"], "unknown_credential");

    // Remote unlock by the family member: the lock decides and answers.
    let r = fam.unlock(&lid).await;
    assert!(r.is_ok(), "remote unlock: {r:?}");

    // The lock's journal reaches the activity log.
    let events = eventually("keypad events in the activity log", 10, || async {
        let evs = owner.events(&lid, Some(100), None).await.ok()?;
        let keypad = evs.iter().filter(|e| e.method.as_deref() == Some("keypad")).count();
        let remote = evs.iter().any(|e| e.method.as_deref() == Some("remote"));
        (keypad >= 2 && remote).then_some(evs)
    })
    .await;
    let granted = events
        .iter()
        .find(|e| e.method.as_deref() == Some("keypad") && e.outcome.as_deref() == Some("granted"))
        .expect("a granted keypad event");
    assert_eq!(granted.actor.as_ref().map(|a| a.id.clone()), Some(Some(fam_id.clone())));
    let denied = events
        .iter()
        .find(|e| e.method.as_deref() == Some("keypad") && e.outcome.as_deref() == Some("denied"))
        .expect("a denied keypad event");
    assert_eq!(denied.reason.as_deref(), Some("unknown_credential"));

    // Removing the member: after the sync the PIN no longer opens.
    owner.remove_member(&lid, &fam_id).await.unwrap();
    eventually("the removed member's PIN to stop working", 20, || async {
        let r = w.keypad("482915#").await;
        (r["outcome"] == "denied").then_some(())
    })
    .await;
    eventually("the lock to acknowledge the removal", 10, || async {
        let l = owner.lock(&lid).await.ok()?;
        (l.sync == SyncState::Synced).then_some(())
    })
    .await;

    // Presence: the lock is shown online.
    assert!(owner.lock(&lid).await.unwrap().online);
    w.stop().await;
}
