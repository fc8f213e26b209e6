//! No lost commands (issue 16, `docs/design/device-link.md`, "Remote unlock"), on both
//! brokers: the first remote unlock right after pairing (while the lock switches from the
//! `pairing` login to its own) opens; an unlock during a reconnect of the lock opens, once; an
//! unlock to a lock the server knows to be offline is answered at once with a problem that says
//! so, not after the unlock timeout.

use crate::device_kit;

use std::time::{Duration, Instant};

use device_kit::{Broker, OWNER, World, eventually};

on_both_brokers!(
    first_unlock_right_after_pairing_opens,
    unlock_across_a_lock_reconnect_opens_once,
    unlock_of_a_lock_known_offline_is_answered_at_once,
    a_lock_paired_again_is_unlocked_under_its_new_keys,
);

/// Pairs without waiting for the lock's reconnect, then unlocks at once.
async fn first_unlock_right_after_pairing_opens(broker: Broker) {
    let w = World::start(broker, false).await;
    let owner = w.sign_in(OWNER).await;
    let status = eventually("the lock online and unpaired", 20, || async {
        let s = w.status().await;
        (s["online"] == true).then_some(s)
    })
    .await;
    let code = status["setup_code"].as_str().expect("a setup code").to_string();
    let lock = owner
        .pair_lock(&code, "Front door", "Europe/Berlin")
        .await
        .expect("pairs");
    // Right away: the lock is still on its pairing connection, or reconnecting as itself.
    let r = owner
        .unlock(&lock.id)
        .await
        .expect("the first remote unlock after pairing");
    assert_eq!(r.outcome, "unlocked");
    let evs = w.wait_access_events(&owner, &lock.id, "remote", 1).await;
    assert_eq!(evs[0].outcome.as_deref(), Some("granted"), "{evs:#?}");
    w.stop().await;
}

/// The link drops right after the command leaves and comes back: the command is resent until
/// the lock answers, and the lock opens for it once.
async fn unlock_across_a_lock_reconnect_opens_once(broker: Broker) {
    let w = World::start(broker, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    w.wait_synced(&owner, &lid, 20).await;
    let unlocking = {
        let owner = owner.clone();
        let lid = lid.clone();
        tokio::spawn(async move { owner.unlock(&lid).await })
    };
    // Cut at once (whether or not the first send arrived), and back after a moment.
    w.network(false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.network(true).await;
    let r = unlocking.await.unwrap().expect("the unlock across the reconnect");
    assert_eq!(r.outcome, "unlocked");
    // Opened once, however many times the command was sent.
    w.wait_access_events(&owner, &lid, "remote", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let remote = w
        .access_events(&owner, &lid)
        .await
        .into_iter()
        .filter(|e| e.method.as_deref() == Some("remote"))
        .count();
    assert_eq!(remote, 1, "the lock opened more than once for one command");
    // And the next one works as usual.
    owner.unlock(&lid).await.expect("the next remote unlock");
    w.stop().await;
}

/// Known offline (its last will came): 503 at once, saying that codes still work at the door.
async fn unlock_of_a_lock_known_offline_is_answered_at_once(broker: Broker) {
    let w = World::start(broker, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    w.network(false).await;
    eventually("the server to show the lock offline", 20, || async {
        (!owner.lock(&lid).await.ok()?.online).then_some(())
    })
    .await;
    // Gone for longer than a reconnect takes: known offline, no longer reconnecting.
    tokio::time::sleep(latchkey_server::gateway::RECONNECT_GRACE + Duration::from_millis(500)).await;
    let started = Instant::now();
    let e = owner.unlock(&lid).await.expect_err("an offline lock cannot open");
    let took = started.elapsed();
    assert_eq!(e.status(), Some(503), "{e}");
    let text = e.to_string();
    assert!(text.contains("offline"), "{text}");
    assert!(text.contains("guest codes and PINs still work"), "{text}");
    // Generous: the point is not waiting for `unlock_timeout_ms` (5 s).
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    w.network(true).await;
    eventually("the server to show the lock online", 20, || async {
        owner.lock(&lid).await.ok()?.online.then_some(())
    })
    .await;
    owner.unlock(&lid).await.expect("a remote unlock once online again");
    w.stop().await;
}

/// The answer to a remote unlock is checked with the keys the request read with the lock's row,
/// before any database read (issue 19): a lock unpaired and paired again has a new id and new
/// keys, and its unlocks are checked with those (an answer checked with the old keys would be
/// dropped and the request would time out); the old id answers 404.
async fn a_lock_paired_again_is_unlocked_under_its_new_keys(broker: Broker) {
    let w = World::start(broker, false).await;
    let owner = w.sign_in(OWNER).await;
    let first = w.pair(&owner).await;
    w.wait_synced(&owner, &first, 20).await;
    let r = owner.unlock(&first).await.expect("the first pairing's unlock");
    assert_eq!(r.outcome, "unlocked");
    owner.delete_lock(&first).await.expect("unpairs");
    eventually("the lock told, back to pairing", 30, || async {
        let s = w.status().await;
        (s["paired"] == false && s["online"] == true).then_some(())
    })
    .await;
    let second = w.pair(&owner).await;
    assert_ne!(second, first);
    w.wait_synced(&owner, &second, 20).await;
    for _ in 0..3 {
        let r = owner.unlock(&second).await.expect("an unlock under the new keys");
        assert_eq!(r.outcome, "unlocked");
    }
    let old = owner.unlock(&first).await.expect_err("the old id is gone");
    assert_eq!(old.status(), Some(404), "{old}");
    w.wait_access_events(&owner, &second, "remote", 3).await;
    w.stop().await;
}
