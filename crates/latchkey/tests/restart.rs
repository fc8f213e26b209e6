//! The server and its embedded broker killed mid-sync, as separate processes: `latchkey serve`
//! (embedded broker) and `latchkey lock run` (a virtual lock), both the built binary. The server
//! is killed with SIGKILL right after a change, so the broker dies with it; while it is down the
//! lock decides alone and journals; after the server starts again on the same data folder the
//! lock reconnects by itself, and both sides converge with nothing lost or doubled.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Proc, eventually, free_port, keypad, sign_in, status};
use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, SyncState};

const OWNER: &str = "+12025550181";
const FAMILY: &str = "+12025550182";
const PIN_A: &str = "580213";
const PIN_B: &str = "691324";
const WRONG: &str = "111111";

struct Ports {
    http: u16,
    mqtt: u16,
}

fn serve(data: &Path, p: &Ports, n: u32) -> Proc {
    let args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--http".into(),
        format!("127.0.0.1:{}", p.http),
        "--mqtt".into(),
        format!("embedded://127.0.0.1:{}", p.mqtt),
        "--sms".into(),
        format!("file:{}", data.join("outbox.jsonl").display()),
    ];
    Proc::spawn(&args, data.with_extension(format!("serve{n}.stderr")), Stdio::null())
}

async fn wait_ready(http: &reqwest::Client, p: &Ports) {
    eventually("the server ready", 30, || async {
        let r = http
            .get(format!("http://127.0.0.1:{}/readyz", p.http))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

async fn wait_synced(owner: &Client, lid: &str) {
    eventually("the lock to acknowledge the latest state", 30, || async {
        let l = owner.lock(lid).await.ok()?;
        let members = owner.members(lid).await.ok()?;
        (l.sync == SyncState::Synced && members.iter().all(|m| m.sync == SyncState::Synced)).then_some(())
    })
    .await;
}

async fn wait_locked(http: &reqwest::Client, control: &str) {
    eventually("the bolt to relock", 10, || async {
        (status(http, control).await?["bolt"] == "locked").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_embedded_broker_killed_mid_sync_converge() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Ports {
        http: free_port(),
        mqtt: free_port(),
    };
    let http = reqwest::Client::new();
    let outbox = data.join("outbox.jsonl");
    let api = Client::new(format!("http://127.0.0.1:{}", p.http));

    let mut server = serve(&data, &p, 1);
    wait_ready(&http, &p).await;
    let control_port = free_port();
    let control = format!("http://127.0.0.1:{control_port}");
    let _lock = Proc::spawn(
        &[
            "lock".into(),
            "run".into(),
            "--state".into(),
            dir.path().join("lock.state").display().to_string(),
            "--mqtt".into(),
            format!("mqtt://127.0.0.1:{}", p.mqtt),
            "--control".into(),
            format!("127.0.0.1:{control_port}"),
            "--relock-secs".into(),
            "1".into(),
        ],
        dir.path().join("lock.stderr"),
        Stdio::null(),
    );
    let setup = eventually("the lock online with its setup code", 30, || async {
        let s = status(&http, &control).await?;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;

    // Pair, and a Family member with a PIN, synced.
    let owner = sign_in(&api, &outbox, OWNER).await;
    let lock = owner
        .pair_lock(&setup, "Front door", "America/New_York")
        .await
        .expect("pairing");
    let lid = lock.id.clone();
    let inv = owner
        .invite(
            &lid,
            &CreateInvitation {
                name: None,
                phone: FAMILY.into(),
                access_level: AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    let fam = sign_in(&api, &outbox, FAMILY).await;
    fam.accept_invitation(&inv.id).await.unwrap();
    let fam_id = fam.me().await.unwrap().id;
    fam.set_pin(&lid, &fam_id, PIN_A).await.unwrap();
    wait_synced(&owner, &lid).await;
    let r = keypad(&http, &control, &format!("{PIN_A}#")).await.unwrap();
    assert_eq!(r["outcome"], "granted", "{r}");
    wait_locked(&http, &control).await;

    // A change, then the server and its broker die at once (SIGKILL): the lock may or may
    // not have got the change.
    fam.set_pin(&lid, &fam_id, PIN_B).await.unwrap();
    server.kill();
    eventually("the lock to notice the broker is gone", 30, || async {
        (status(&http, &control).await?["online"] == false).then_some(())
    })
    .await;
    // Alone, the lock still decides, and journals.
    let r = keypad(&http, &control, &format!("{WRONG}#")).await.unwrap();
    assert_eq!(r["outcome"], "denied", "{r}");

    // The server starts again on the same data folder; the lock comes back by itself.
    let _server = serve(&data, &p, 2);
    wait_ready(&http, &p).await;
    eventually("the lock back online", 60, || async {
        (status(&http, &control).await?["online"] == true).then_some(())
    })
    .await;
    wait_synced(&owner, &lid).await;
    let r = keypad(&http, &control, &format!("{PIN_B}#")).await.unwrap();
    assert_eq!(r["outcome"], "granted", "the new PIN after the restart: {r}");
    wait_locked(&http, &control).await;
    let r = keypad(&http, &control, &format!("{PIN_A}#")).await.unwrap();
    assert_eq!(r["outcome"], "denied", "the old PIN after the restart: {r}");

    // Every keypad entry in the activity log exactly once: A granted, wrong denied (made while
    // the server was dead), B granted, A denied.
    let events = eventually("four keypad entries in the activity log", 30, || async {
        let evs = owner.events(&lid, Some(200), None).await.ok()?;
        let keypad: Vec<_> = evs
            .into_iter()
            .filter(|e| e.method.as_deref() == Some("keypad"))
            .collect();
        (keypad.len() >= 4).then_some(keypad)
    })
    .await;
    // Give a doubled upload the time to show.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let again: Vec<_> = owner
        .events(&lid, Some(200), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.method.as_deref() == Some("keypad"))
        .collect();
    assert_eq!(again.len(), 4, "each keypad entry once: {again:#?}");
    let granted = events
        .iter()
        .filter(|e| e.outcome.as_deref() == Some("granted"))
        .count();
    let denied = events.iter().filter(|e| e.outcome.as_deref() == Some("denied")).count();
    assert_eq!((granted, denied), (2, 2), "{events:#?}");
    assert!(
        events
            .iter()
            .filter(|e| e.outcome.as_deref() == Some("granted"))
            .all(|e| e.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(fam_id.as_str())),
        "both grants name the member: {events:#?}"
    );
}
