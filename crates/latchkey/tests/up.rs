//! `latchkey up`, run as a newcomer runs it: the built binary on the embedded defaults (ports
//! and folders moved out of the way). It must come up with a virtual lock already paired to
//! the owner, print how to sign in, and the owner must be able to use the lock at once; a second
//! start on the same data folder finds the same lock, still paired.

mod common;

use common::{Ports, eventually, free_port, sign_in, start_up};
use latchkey_client::Client;
use latchkey_client::model::SyncState;
use serde_json::{Value, json};

const OWNER: &str = "+12025550177";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_brings_a_paired_virtual_lock_the_owner_can_use_at_once() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports {
        http: free_port(),
        mqtt: free_port(),
        control: free_port(),
    };
    let up = start_up(&data, &ports, OWNER);
    let w = &up.welcome;
    assert!(
        w.contains(&format!("http://127.0.0.1:{}/", ports.http)),
        "web app address:\n{w}"
    );
    assert!(w.contains(OWNER), "owner's phone number:\n{w}");
    assert!(w.contains("outbox.jsonl"), "where the sign-in code appears:\n{w}");
    assert!(
        w.contains(&format!("127.0.0.1:{}/keypad", ports.control)),
        "the lock's keypad:\n{w}"
    );

    let api = Client::new(format!("http://127.0.0.1:{}", ports.http));
    let owner = sign_in(&api, &data.join("outbox.jsonl"), OWNER).await;
    let locks = owner.locks().await.unwrap();
    assert_eq!(locks.len(), 1, "one lock, paired to the owner: {locks:?}");
    let lock = locks[0].clone();
    assert_eq!(lock.name, "Front door");
    assert_eq!(lock.time_zone, "Europe/Berlin");
    eventually("the lock online and synced", 20, || async {
        let l = owner.lock(&lock.id).await.ok()?;
        (l.online && l.sync == SyncState::Synced).then_some(())
    })
    .await;

    // The owner sets a PIN and it opens the keypad on the control port the welcome printed.
    let me = owner.me().await.unwrap();
    owner.set_pin(&lock.id, &me.id, "736251").await.unwrap();
    let http = reqwest::Client::new();
    let keypad = format!("http://127.0.0.1:{}/keypad", ports.control);
    let granted: Value = eventually("the owner's PIN to open the lock", 20, || async {
        let r: Value = http
            .post(&keypad)
            .json(&json!({ "keys": "736251#" }))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["outcome"] == "granted").then_some(r)
    })
    .await;
    assert_eq!(granted["outcome"], "granted");
    drop(up);

    // A second start on the same data folder: the same lock, still paired, no second lock.
    let again = start_up(&data, &ports, OWNER);
    assert!(again.welcome.contains("Front door"), "{}", again.welcome);
    let owner = sign_in(&api, &data.join("outbox.jsonl"), OWNER).await;
    let locks = owner.locks().await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].id, lock.id);
    let status: Value = eventually("the lock back online", 20, || async {
        let s: Value = reqwest::get(format!("http://127.0.0.1:{}/status", ports.control))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (s["online"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["paired"], true);
    assert_eq!(status["lock_id"], lock.id.as_str());
}

/// The lock's state file kept, the database not (a fresh data folder but for the lock, or a
/// database restored from elsewhere): `up` notices that the lock's pairing is unknown to its
/// database, resets the lock and pairs it again, instead of showing its old id as a name for a
/// lock the broker refuses for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_a_kept_lock_state_and_a_fresh_database_pairs_the_lock_again() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let api = Client::new(format!("http://127.0.0.1:{}", ports.http));
    let first = start_up(&data, &ports, OWNER);
    assert!(first.welcome.contains("Front door"), "{}", first.welcome);
    let owner = sign_in(&api, &data.join("outbox.jsonl"), OWNER).await;
    let old = owner.locks().await.unwrap()[0].id.clone();
    drop(first);

    // A fresh database beside the kept lock state.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("latchkey.db") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    assert!(data.join("virtual-lock.state").exists());

    let again = start_up(&data, &ports, OWNER);
    let w = &again.welcome;
    assert!(w.contains("\"Front door\""), "the lock's name, not its old id:\n{w}");
    assert!(w.contains("paired again"), "says what it did:\n{w}");
    let owner = sign_in(&api, &data.join("outbox.jsonl"), OWNER).await;
    let locks = owner.locks().await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    let new = locks[0].id.clone();
    assert_ne!(new, old);
    eventually("the lock online under its new id and synced", 20, || async {
        let s: Value = reqwest::get(format!("http://127.0.0.1:{}/status", ports.control))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let l = owner.lock(&new).await.ok()?;
        (s["lock_id"] == new.as_str() && s["online"] == true && l.online && l.sync == SyncState::Synced).then_some(())
    })
    .await;
}
