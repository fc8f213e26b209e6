//! Pairing finds a lock by the first three digits of its setup code (the discriminator), so
//! every unpaired lock with those digits receives the exchange and answers it. Only the lock
//! that shows the code passes the confirmation; the server must wait for that answer instead of
//! giving up on the first one. Four unpaired neighbours online at once are paired one after
//! the other, each by its own code (an installer unboxing a batch of locks).

use crate::device_kit;

use std::time::Duration;

use device_kit::{Broker, World, eventually};

const OWNER: &str = "+12025550161";

/// A fresh, unpaired virtual lock state showing `setup_code` (the format `latchkey lock run`
/// writes).
fn unpaired_state(serial: &str, setup_code: &str) -> String {
    let key: String = (0..32).map(|i| format!("{:02x}", 7 + i * 3 + serial.len())).collect();
    serde_json::json!({
        "serial": serial,
        "key": key,
        "setup_code": setup_code,
        "attempts": 0,
        "blocked_until": 0,
        "paired": null,
        "core": null,
        "fake_now": null,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_sharing_a_discriminator_pair_by_their_own_codes() {
    let w = World::start(Broker::Embedded, false).await;
    let owner = w.sign_in(OWNER).await;
    // The discriminator 9xy, drawn per run, so that runs on a shared broker do not meet.
    let d = 900 + (std::process::id() % 100);
    let codes: Vec<String> = (1..=4).map(|i| format!("{d:03}{:08}", 31_415_920 + i)).collect();
    let mut locks = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let state = w.dir.path().join(format!("neighbour-{i}.state"));
        std::fs::write(&state, unpaired_state(&format!("VL-NEIGHBOUR{i}"), code)).unwrap();
        let lock = latchkey_vlock::start(latchkey_vlock::Options {
            state,
            broker_host: w.broker_host.clone(),
            broker_port: w.broker_port,
            control: None,
            fake_clock: false,
            relock: Duration::from_secs(1),
        })
        .await
        .expect("a neighbour starts");
        assert_eq!(lock.setup_code().as_deref(), Some(code.as_str()));
        locks.push(lock);
    }
    eventually("the neighbours connected", 10, || async {
        locks.iter().all(|l| l.listening()).then_some(())
    })
    .await;
    // Their pairing subscriptions follow the CONNACK.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for (i, (lock, code)) in locks.iter().zip(&codes).enumerate() {
        let paired = owner
            .pair_lock(code, &format!("Flat {i}"), "Europe/Berlin")
            .await
            .unwrap_or_else(|e| panic!("pairing neighbour {i} by its own code: {e}"));
        eventually("the neighbour to know its lock id", 10, || async {
            (lock.lock_id().as_deref() == Some(paired.id.as_str())).then_some(())
        })
        .await;
        // The others stay unpaired, still showing their codes.
        for (j, other) in locks.iter().enumerate().skip(i + 1) {
            assert_eq!(other.setup_code().as_deref(), Some(codes[j].as_str()), "neighbour {j}");
        }
    }
    assert_eq!(owner.locks().await.unwrap().len(), 4);
    drop(locks);
    w.stop().await;
}
