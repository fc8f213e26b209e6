//! The bolt state (issue 16 brief, item 4): the lock reports its bolt over the link (`Bolt`,
//! `docs/protocol.md`), `GET /locks/{id}` shows it while the lock is online (`unknown` while
//! offline), and `POST /locks/{id}/lock` throws the bolt remotely.

use crate::device_kit;

use device_kit::{Broker, OWNER, World, eventually};
use latchkey_client::Client;

on_both_brokers!(bolt_state_follows_the_lock_and_remote_lock_throws_it);

const OWNER_PIN: &str = "950317";

async fn bolt(owner: &Client, lid: &str) -> String {
    owner.lock(lid).await.unwrap().bolt.unwrap_or_default()
}

async fn wait_bolt(owner: &Client, lid: &str, want: &str) {
    eventually(&format!("the server to show the bolt {want}"), 15, || async {
        (bolt(owner, lid).await == want).then_some(())
    })
    .await;
}

async fn bolt_state_follows_the_lock_and_remote_lock_throws_it(broker: Broker) {
    let w = World::start(broker, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    // Reported on connect.
    wait_bolt(&owner, &lid, "locked").await;

    // The keypad opens it; it re-locks by itself (after a second in tests).
    let me = owner.me().await.unwrap().id;
    owner.set_pin(&lid, &me, OWNER_PIN).await.unwrap();
    w.wait_synced(&owner, &lid, 20).await;
    assert_eq!(w.keypad(&format!("{OWNER_PIN}#")).await["outcome"], "granted");
    wait_bolt(&owner, &lid, "unlocked").await;
    wait_bolt(&owner, &lid, "locked").await;

    // Remote unlock, then remote lock.
    owner.unlock(&lid).await.expect("remote unlock");
    wait_bolt(&owner, &lid, "unlocked").await;
    let r = owner.remote_lock(&lid).await.expect("remote lock");
    assert_eq!(r.outcome, "locked");
    assert_eq!(w.status().await["bolt"], "locked", "the lock threw its bolt");
    wait_bolt(&owner, &lid, "locked").await;

    // Offline: nobody knows.
    w.network(false).await;
    wait_bolt(&owner, &lid, "unknown").await;
    // Gone for longer than a reconnect takes: known offline.
    tokio::time::sleep(latchkey_server::gateway::RECONNECT_GRACE + std::time::Duration::from_millis(500)).await;
    let e = owner
        .remote_lock(&lid)
        .await
        .expect_err("an offline lock cannot be locked remotely");
    assert_eq!(e.status(), Some(503), "{e}");
    w.network(true).await;
    wait_bolt(&owner, &lid, "locked").await;
    w.stop().await;
}
