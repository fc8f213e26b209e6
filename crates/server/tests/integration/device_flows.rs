//! Device-link flows end to end, each on the embedded broker and on Mosquitto (`device_kit`):
//! guest keys against the lock's (fake) clock, one-time codes, the lock's journal in the
//! activity log, a network cut with changes and keypad entries on both sides, a server restart
//! mid-sync, a broker killed and restarted mid-sync, messages replayed or forged on the broker,
//! and a remote unlock while the lock is offline.

use crate::device_kit;

use std::time::{Duration, Instant};

use device_kit::{Broker, FAMILY, FAMILY2, OWNER, Sniffer, World, eventually};
use jiff::{SignedDuration, Timestamp};
use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateGuestKey, Event, GuestKeyStatus, SyncState};
use latchkey_lock_core::RootSecret;
use latchkey_lock_core::{Credential, EventKind, Method, Subject};
use latchkey_protocol::{
    Down, EventStats, Events, Header, LinkKeys, Protection, SigningKey, Unlock, Up, peek, seal_down, seal_up, topics,
};

on_both_brokers!(
    guest_key_opens_only_inside_its_window,
    one_time_guest_code_opens_once,
    network_cut_then_both_sides_converge,
    server_restart_mid_sync_loses_and_doubles_nothing,
    replayed_and_forged_messages_are_refused,
    remote_unlock_of_an_offline_lock_is_refused_at_once,
    changes_reach_the_lock_as_deltas,
);

const PIN_A: &str = "482915";
const PIN_B: &str = "736204";
const WRONG: &str = "111111";
const OWNER_PIN: &str = "950317";

/// A world with a paired lock and a signed-in owner.
async fn paired(broker: Broker, fake_clock: bool) -> (World, Client, String) {
    let w = World::start(broker, fake_clock).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    (w, owner, lid)
}

/// Gives the owner a PIN (for marker entries that also reset the wrong-code count) and waits
/// until the lock holds it.
async fn owner_pin(w: &World, owner: &Client, lid: &str) {
    let me = owner.me().await.unwrap().id;
    owner.set_pin(lid, &me, OWNER_PIN).await.unwrap();
    w.wait_synced(owner, lid, 20).await;
}

/// The keys to type for a guest key's code.
fn keys_of(code: &str) -> String {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 12, "a guest code has 12 digits: {code}");
    format!("{digits}#")
}

/// A whole hour two days from now (real time: the server checks windows against its clock).
fn future_hour() -> Timestamp {
    let now = Timestamp::now().as_second();
    Timestamp::from_second((now / 3600 + 48) * 3600).unwrap()
}

fn at(t: Timestamp, minutes: i64) -> String {
    (t + SignedDuration::from_mins(minutes)).to_string()
}

fn count(evs: &[Event], outcome: &str, reason: Option<&str>) -> usize {
    evs.iter()
        .filter(|e| e.outcome.as_deref() == Some(outcome) && e.reason.as_deref() == reason)
        .count()
}

fn keypad_events(evs: &[Event]) -> Vec<Event> {
    evs.iter()
        .filter(|e| e.method.as_deref() == Some("keypad"))
        .cloned()
        .collect()
}

// ------------------------------------------------------------------------- guest keys

async fn guest_key_opens_only_inside_its_window(broker: Broker) {
    let (w, owner, lid) = paired(broker, true).await;
    let start = future_hour();
    let key = owner
        .create_guest_key(
            &lid,
            &CreateGuestKey {
                name: "Cleaner".into(),
                phone: None,
                starts_at: at(start, 0),
                ends_at: at(start, 120),
                one_time: false,
                precautions_accepted: true,
            },
        )
        .await
        .expect("POST guest-keys");
    eventually("the guest key synced to the lock", 20, || async {
        let k = owner.guest_key(&lid, &key.id).await.ok()?;
        (k.sync == SyncState::Synced).then_some(())
    })
    .await;
    let keys = keys_of(&key.code);

    // Before the window.
    w.set_clock(&at(start, -30)).await;
    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "denied", "before the window: {r}");
    assert_eq!(r["reason"], "not_yet_valid", "{r}");
    assert_eq!(w.status().await["bolt"], "locked");

    // Inside.
    w.set_clock(&at(start, 60)).await;
    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "granted", "inside the window: {r}");
    assert_eq!(r["actor"]["kind"], "guest_key", "{r}");
    assert_eq!(w.status().await["bolt"], "unlocked");
    w.wait_locked().await;

    // After.
    w.set_clock(&at(start, 150)).await;
    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "denied", "after the window: {r}");
    assert_eq!(r["reason"], "expired", "{r}");

    // The activity log: three keypad events, the grant naming the guest key.
    let evs = w.wait_access_events(&owner, &lid, "keypad", 3).await;
    assert_eq!(count(&evs, "granted", None), 1, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("not_yet_valid")), 1, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("expired")), 1, "{evs:#?}");
    let granted = evs.iter().find(|e| e.outcome.as_deref() == Some("granted")).unwrap();
    let actor = granted.actor.as_ref().expect("the grant names its actor");
    assert_eq!(actor.kind, "guest_key", "{granted:?}");
    assert_eq!(actor.id.as_deref(), Some(key.id.as_str()), "{granted:?}");
    assert_eq!(actor.name, "Cleaner");
    // The lock's time is in the log: the grant happened an hour into the window.
    let granted_at: Timestamp = granted.at.parse().unwrap();
    assert!(
        (granted_at - (start + SignedDuration::from_mins(60))).abs() < SignedDuration::from_mins(5),
        "{} is not an hour into the window starting {start}",
        granted.at
    );
    w.stop().await;
}

async fn one_time_guest_code_opens_once(broker: Broker) {
    let (w, owner, lid) = paired(broker, true).await;
    let start = future_hour();
    let key = owner
        .create_guest_key(
            &lid,
            &CreateGuestKey {
                name: "Plumber".into(),
                phone: None,
                starts_at: at(start, 0),
                ends_at: at(start, 180),
                one_time: true,
                precautions_accepted: true,
            },
        )
        .await
        .expect("POST guest-keys");
    assert!(key.one_time);
    eventually("the one-time key synced to the lock", 20, || async {
        let k = owner.guest_key(&lid, &key.id).await.ok()?;
        (k.sync == SyncState::Synced).then_some(())
    })
    .await;
    let keys = keys_of(&key.code);
    w.set_clock(&at(start, 30)).await;

    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "granted", "first use: {r}");
    w.wait_locked().await;
    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "denied", "second use: {r}");
    assert_eq!(r["reason"], "already_used", "{r}");

    // The server learns of the use, marks the key used and syncs again (without the record):
    // the code still opens no more.
    eventually("the key shown as used", 15, || async {
        let k = owner.guest_key(&lid, &key.id).await.ok()?;
        (k.status == GuestKeyStatus::Used).then_some(())
    })
    .await;
    w.wait_synced(&owner, &lid, 20).await;
    let r = w.keypad(&keys).await;
    assert_eq!(r["outcome"], "denied", "use after the server's sync: {r}");
    assert_eq!(r["reason"], "already_used", "{r}");

    let evs = w.wait_access_events(&owner, &lid, "keypad", 3).await;
    assert_eq!(count(&evs, "granted", None), 1, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("already_used")), 2, "{evs:#?}");
    let granted = evs.iter().find(|e| e.outcome.as_deref() == Some("granted")).unwrap();
    assert_eq!(
        granted.actor.as_ref().and_then(|a| a.id.as_deref()),
        Some(key.id.as_str()),
        "{granted:?}"
    );
    w.stop().await;
}

/// `latchkey_syncs_sent_total` from the server's `/metrics`: (deltas, snapshots).
async fn syncs_sent(w: &World) -> (u64, u64) {
    let count = |kind: &'static str| async move {
        let series = format!("latchkey_syncs_sent_total{{kind=\"{kind}\"}}");
        device_kit::metric(&w.http, &w.base, &series).await.unwrap_or(0)
    };
    (count("delta").await, count("snapshot").await)
}

/// Once the lock acknowledged a state, each change goes to it as a delta (only what changed),
/// and the lock ends up holding exactly what a snapshot would give it: new keys open, revoked
/// ones are refused, a used one-time key's record leaves it.
async fn changes_reach_the_lock_as_deltas(broker: Broker) {
    let (w, owner, lid) = paired(broker, true).await;
    owner_pin(&w, &owner, &lid).await;
    let (deltas_before, snapshots_before) = syncs_sent(&w).await;
    let start = future_hour();
    let mut keys = Vec::new();
    for i in 0..6 {
        let key = owner
            .create_guest_key(
                &lid,
                &CreateGuestKey {
                    name: format!("Guest {i}"),
                    phone: None,
                    starts_at: at(start, 0),
                    ends_at: at(start, 120),
                    one_time: i == 5,
                    precautions_accepted: true,
                },
            )
            .await
            .expect("POST guest-keys");
        w.wait_synced(&owner, &lid, 20).await;
        keys.push(key);
    }
    for key in &keys[..2] {
        owner.revoke_guest_key(&lid, &key.id).await.unwrap();
    }
    w.wait_synced(&owner, &lid, 20).await;
    let (deltas, snapshots) = syncs_sent(&w).await;
    assert!(
        deltas >= deltas_before + 7,
        "each change a delta: {deltas_before} -> {deltas}"
    );
    assert_eq!(
        snapshots, snapshots_before,
        "no snapshot once the lock acknowledged one"
    );
    // The owner's PIN and the four live keys.
    assert_eq!(w.status().await["codes"], 5, "{}", w.status().await);

    w.set_clock(&at(start, 30)).await;
    for key in &keys[..2] {
        let r = w.keypad(&keys_of(&key.code)).await;
        assert_eq!(r["outcome"], "denied", "revoked: {r}");
        assert_eq!(r["reason"], "revoked", "{r}");
    }
    for key in &keys[2..] {
        let r = w.keypad(&keys_of(&key.code)).await;
        assert_eq!(r["outcome"], "granted", "{}: {r}", key.name);
        w.wait_locked().await;
    }
    // The one-time key, used, leaves the lock's table with the next change's delta.
    eventually("the one-time key shown as used", 15, || async {
        let k = owner.guest_key(&lid, &keys[5].id).await.ok()?;
        (k.status == GuestKeyStatus::Used).then_some(())
    })
    .await;
    owner.revoke_guest_key(&lid, &keys[2].id).await.unwrap();
    w.wait_synced(&owner, &lid, 20).await;
    assert_eq!(w.status().await["codes"], 3, "{}", w.status().await);
    let r = w.keypad(&keys_of(&keys[5].code)).await;
    assert_eq!(r["reason"], "already_used", "{r}");
    let (_, snapshots) = syncs_sent(&w).await;
    assert_eq!(snapshots, snapshots_before, "still no snapshot");
    w.stop().await;
}

// ------------------------------------------------------------------------ network cut

async fn network_cut_then_both_sides_converge(broker: Broker) {
    let (w, owner, lid) = paired(broker, false).await;
    let (_a, a_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(PIN_A))
        .await;
    w.wait_synced(&owner, &lid, 20).await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "granted", "A's PIN once synced: {r}");
    w.wait_access_events(&owner, &lid, "keypad", 1).await;

    // Cut: the lock goes offline, and the server sees it (the lock's last will).
    w.network(false).await;
    eventually("the server to show the lock offline", 20, || async {
        (!owner.lock(&lid).await.ok()?.online).then_some(())
    })
    .await;

    // Changes on the server while the lock cannot hear them.
    owner.remove_member(&lid, &a_id).await.unwrap();
    let (_b, b_id) = w
        .add_member(&owner, &lid, FAMILY2, AccessLevel::Family, Some(PIN_B))
        .await;
    let members = owner.members(&lid).await.unwrap();
    let b = members.iter().find(|m| m.account_id == b_id).unwrap();
    assert_eq!(b.sync, SyncState::Pending, "the lock cannot have acknowledged B yet");
    assert_eq!(owner.lock(&lid).await.unwrap().sync, SyncState::Pending);

    // Entries at the door meanwhile: the lock decides alone on what it holds, so the removed
    // member's PIN still opens and the new one does not yet.
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "denied", "B's PIN before the sync: {r}");
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "granted", "A's PIN before the sync: {r}");
    let r = w.keypad(&format!("{WRONG}#")).await;
    assert_eq!(r["outcome"], "denied", "{r}");
    assert_eq!(
        w.access_events(&owner, &lid).await.len(),
        1,
        "nothing reached the server"
    );

    // Restore: both sides converge.
    w.network(true).await;
    w.wait_synced(&owner, &lid, 20).await;
    assert!(owner.lock(&lid).await.unwrap().online);
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "granted", "B's PIN after the sync: {r}");
    w.wait_locked().await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "denied", "A's PIN after the sync: {r}");
    assert_eq!(r["reason"], "unknown_credential");

    // Every entry made offline is in the log exactly once.
    let evs = w.wait_access_events(&owner, &lid, "keypad", 6).await;
    assert_eq!(count(&evs, "granted", None), 3, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("unknown_credential")), 3, "{evs:#?}");
    let b_grants = evs
        .iter()
        .filter(|e| e.outcome.as_deref() == Some("granted"))
        .filter(|e| e.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(b_id.as_str()))
        .count();
    assert_eq!(b_grants, 1, "{evs:#?}");
    w.stop().await;
}

// --------------------------------------------------------------------- server restart

async fn server_restart_mid_sync_loses_and_doubles_nothing(broker: Broker) {
    let (mut w, owner, lid) = paired(broker, false).await;
    let (_a, a_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(PIN_A))
        .await;
    w.wait_synced(&owner, &lid, 20).await;

    // A change, and the server stops right after it: the lock may or may not have got it.
    owner.set_pin(&lid, &a_id, PIN_B).await.unwrap();
    w.stop_server().await;
    // The lock keeps working alone; what it journals waits for the server.
    let r = w.keypad(&format!("{WRONG}#")).await;
    assert_eq!(r["outcome"], "denied", "{r}");
    w.start_server_again().await;
    w.wait_synced(&owner, &lid, 20).await;
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "granted", "the new PIN after the restart: {r}");
    w.wait_locked().await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "denied", "the old PIN after the restart: {r}");

    // A change the lock cannot acknowledge before the server stops (its link is cut), and
    // entries both while the server is down and while the lock is cut off.
    w.network(false).await;
    owner.remove_member(&lid, &a_id).await.unwrap();
    let (_b, b_id) = w
        .add_member(&owner, &lid, FAMILY2, AccessLevel::Family, Some(PIN_A))
        .await;
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "granted", "A's PIN offline, before the sync: {r}");
    w.wait_locked().await;
    w.stop_server().await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "denied", "B's PIN before the sync: {r}");
    if broker == Broker::Embedded {
        // The embedded broker belongs to its server: with the server down it admits no lock
        // (it stops with its server; the next one listens on the same address).
        w.start_server_again().await;
        w.network(true).await;
    } else {
        // On Mosquitto the lock reconnects while the server is down; its Hello goes to nobody.
        w.network(true).await;
        w.start_server_again().await;
    }

    w.wait_synced(&owner, &lid, 20).await;
    eventually("the new server to show the lock online", 15, || async {
        owner.lock(&lid).await.ok()?.online.then_some(())
    })
    .await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "granted", "B's PIN after the restart: {r}");
    w.wait_locked().await;
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "denied", "A's PIN after the removal: {r}");

    // Every entry is in the log once: wrong, B-new-PIN, A-old-PIN, A offline, B early, B, A.
    let evs = w.wait_access_events(&owner, &lid, "keypad", 7).await;
    assert_eq!(count(&evs, "granted", None), 3, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("unknown_credential")), 4, "{evs:#?}");
    let b_grants = evs
        .iter()
        .filter(|e| e.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(b_id.as_str()))
        .count();
    assert_eq!(b_grants, 1, "{evs:#?}");
    w.stop().await;
}

/// A private Mosquitto is killed right after a change and restarted on the same port; the
/// lock reconnects by itself and both sides converge. (The embedded broker lives and dies
/// with the server: `server_restart_mid_sync_loses_and_doubles_nothing` covers it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_mosquitto_killed_and_restarted_mid_sync_converges() {
    latchkey_client::install_crypto_provider();
    if !std::path::Path::new(device_kit::MOSQUITTO_BIN).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {} is missing",
            device_kit::MOSQUITTO_BIN
        );
        eprintln!("SKIPPED: {} is not installed", device_kit::MOSQUITTO_BIN);
        return;
    }
    let (mut w, owner, lid) = paired(Broker::OwnMosquitto, false).await;
    let (_a, a_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(PIN_A))
        .await;
    w.wait_synced(&owner, &lid, 20).await;

    // A change, then the broker dies at once.
    owner.remove_member(&lid, &a_id).await.unwrap();
    w.mosquitto.as_mut().unwrap().kill().await;
    eventually("the lock to notice the broker is gone", 20, || async {
        (w.status().await["online"] == false).then_some(())
    })
    .await;
    // More changes and entries while there is no broker.
    let (_b, b_id) = w
        .add_member(&owner, &lid, FAMILY2, AccessLevel::Family, Some(PIN_B))
        .await;
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "denied", "B's PIN before the sync: {r}");
    let r = w.keypad(&format!("{WRONG}#")).await;
    assert_eq!(r["outcome"], "denied", "{r}");

    w.mosquitto.as_mut().unwrap().restart().await;
    eventually("the lock to reconnect", 20, || async {
        (w.status().await["online"] == true).then_some(())
    })
    .await;
    w.wait_ready().await;
    w.wait_synced(&owner, &lid, 25).await;
    let r = w.keypad(&format!("{PIN_B}#")).await;
    assert_eq!(r["outcome"], "granted", "B's PIN after the restart: {r}");
    w.wait_locked().await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(r["outcome"], "denied", "A's PIN after the removal: {r}");

    let evs = w.wait_access_events(&owner, &lid, "keypad", 4).await;
    assert_eq!(count(&evs, "granted", None), 1, "{evs:#?}");
    assert_eq!(count(&evs, "denied", Some("unknown_credential")), 3, "{evs:#?}");
    assert_eq!(
        evs.iter()
            .filter(|e| e.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(b_id.as_str()))
            .count(),
        1,
        "{evs:#?}"
    );
    w.stop().await;
}

// ------------------------------------------------------------------ replay and forgery

/// The last message seen on `topic` of kind `kind` (its header is in the clear).
fn captured(sn: &Sniffer, topic: &str, kind: u8) -> Option<Vec<u8>> {
    sn.seen()
        .into_iter()
        .filter(|(t, p)| t == topic && peek(p).is_ok_and(|m| m.kind == kind))
        .map(|(_, p)| p)
        .next_back()
}

/// The owner's PIN at the keypad, as a marker: once its event is in the log, every earlier event
/// of the lock is there too (the lock uploads its journal oldest first, everything not yet
/// acknowledged, after each entry).
async fn keypad_marker(w: &World, owner: &Client, lid: &str, keypad_before: usize) {
    let r = w.keypad(&format!("{OWNER_PIN}#")).await;
    assert_eq!(r["outcome"], "granted", "{r}");
    w.wait_access_events(owner, lid, "keypad", keypad_before + 1).await;
    w.wait_locked().await;
}

async fn replayed_and_forged_messages_are_refused(broker: Broker) {
    let (w, owner, lid) = paired(broker, false).await;
    let down = topics::lock_down(&lid).unwrap().to_string();
    let up = topics::lock_up(&lid).unwrap().to_string();
    owner_pin(&w, &owner, &lid).await;
    let sn = Sniffer::start(&w, &format!("latchkey/v1/locks/{lid}/+")).await;

    // A member whose PIN a captured snapshot holds.
    let (_a, a_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(PIN_A))
        .await;
    w.wait_synced(&owner, &lid, 20).await;
    let old_sync = eventually("a captured sync holding A", 10, || async { captured(&sn, &down, 0x01) }).await;

    // A remote unlock, captured.
    owner.unlock(&lid).await.expect("remote unlock");
    let unlock = eventually("the captured unlock", 10, || async { captured(&sn, &down, 0x04) }).await;
    w.wait_locked().await;
    w.wait_access_events(&owner, &lid, "remote", 1).await;

    // Replaying the unlock (still within its 30 s life) opens nothing.
    sn.publish(&down, unlock.clone()).await;
    keypad_marker(&w, &owner, &lid, 0).await;
    assert_eq!(
        w.access_events(&owner, &lid).await.len(),
        2,
        "a replayed unlock was acted on"
    );

    // Forgeries of the unlock: a flipped sequence number (a number the lock has not seen), a
    // flipped ciphertext byte, a flipped tag byte, a flipped signature byte, and a command
    // signed and encrypted with keys of someone else.
    let mut forged = Vec::new();
    for i in [2, unlock.len() - 81, unlock.len() - 65, unlock.len() - 1] {
        let mut f = unlock.clone();
        f[i] ^= 0x40;
        forged.push(f);
    }
    let seq = peek(&unlock).unwrap().header.seq;
    let mut buf = vec![0u8; 1024];
    let stranger = LinkKeys::derive(&RootSecret([7u8; 32]), lid.as_bytes());
    let n = seal_down(
        &SigningKey::from_bytes(&[7u8; 32]),
        Protection::Encrypted(&stranger),
        lid.as_bytes(),
        Header {
            seq: seq + 100,
            expires: Timestamp::now().as_second() + 30,
        },
        &Down::Unlock(Unlock {
            command: seq + 100,
            user: 1,
        }),
        &mut buf,
    )
    .unwrap();
    forged.push(buf[..n].to_vec());
    forged.push(b"not a latchkey message".to_vec());
    forged.push(Vec::new());
    for f in forged {
        sn.publish(&down, f).await;
    }
    keypad_marker(&w, &owner, &lid, 1).await;
    assert_eq!(
        w.access_events(&owner, &lid).await.len(),
        3,
        "a forged down message was acted on"
    );

    // The old snapshot, replayed after A's removal, does not bring A's PIN back.
    owner.remove_member(&lid, &a_id).await.unwrap();
    w.wait_synced(&owner, &lid, 20).await;
    assert_eq!(w.keypad(&format!("{PIN_A}#")).await["outcome"], "denied");
    sn.publish(&down, old_sync).await;
    keypad_marker(&w, &owner, &lid, 3).await;
    let r = w.keypad(&format!("{PIN_A}#")).await;
    assert_eq!(
        r["outcome"], "denied",
        "a replayed snapshot restored a removed PIN: {r}"
    );
    let keypad_now = 5;
    w.wait_access_events(&owner, &lid, "keypad", keypad_now).await;

    // Up: replaying every event upload seen so far doubles nothing in the log.
    let uploads: Vec<Vec<u8>> = sn
        .seen()
        .into_iter()
        .filter(|(t, p)| *t == up && peek(p).is_ok_and(|m| m.kind == 0x83))
        .map(|(_, p)| p)
        .collect();
    assert!(!uploads.is_empty());
    for u in &uploads {
        sn.publish(&up, u.clone()).await;
    }
    // Forged uploads: a flipped byte in each upload, and an event signed with another key.
    for u in &uploads {
        let mut f = u.clone();
        let i = f.len() / 2;
        f[i] ^= 0x01;
        sn.publish(&up, f).await;
    }
    let fake = [latchkey_lock_core::Event {
        seq: 10_000,
        time: Timestamp::now().as_second(),
        kind: EventKind::Granted {
            method: Method::Keypad,
            subject: Subject::User(1),
            credential: Credential::Pin,
        },
    }];
    let stats = EventStats {
        next_seq: 10_001,
        dropped_security: 0,
        dropped_routine: 0,
    };
    let n = seal_up(
        &SigningKey::from_bytes(&[9u8; 32]),
        Protection::Encrypted(&stranger),
        lid.as_bytes(),
        Header {
            seq: 10_000,
            expires: Timestamp::now().as_second() + 60,
        },
        &Up::Events(Events::new(stats, &fake)),
        &mut buf,
    )
    .unwrap();
    sn.publish(&up, buf[..n].to_vec()).await;
    keypad_marker(&w, &owner, &lid, keypad_now).await;
    let evs = w.access_events(&owner, &lid).await;
    assert_eq!(
        evs.len(),
        keypad_now + 2,
        "replayed or forged uploads reached the log: {evs:#?}"
    );
    // Four markers were granted; the forged upload would be a fifth.
    assert_eq!(count(&keypad_events(&evs), "granted", None), 4, "{evs:#?}");

    // Both ends still work.
    assert!(owner.lock(&lid).await.unwrap().online);
    owner.unlock(&lid).await.expect("remote unlock after the attacks");
    w.wait_access_events(&owner, &lid, "remote", 2).await;
    w.stop().await;
}

// --------------------------------------------------------------- unlock while offline

async fn remote_unlock_of_an_offline_lock_is_refused_at_once(broker: Broker) {
    let (w, owner, lid) = paired(broker, false).await;
    owner_pin(&w, &owner, &lid).await;
    w.network(false).await;
    eventually("the server to show the lock offline", 20, || async {
        (!owner.lock(&lid).await.ok()?.online).then_some(())
    })
    .await;
    // Gone for longer than a reconnect takes: known offline, no longer reconnecting.
    tokio::time::sleep(latchkey_server::gateway::RECONNECT_GRACE + Duration::from_millis(500)).await;
    let started = Instant::now();
    let r = owner.unlock(&lid).await;
    let took = started.elapsed();
    match r {
        Ok(v) => panic!("an offline lock cannot unlock: {v:?}"),
        Err(e) => assert_eq!(e.status(), Some(503), "{e}"),
    }
    // Known offline: answered at once, not after `unlock_timeout_ms` (5 s).
    assert!(took <= Duration::from_millis(2500), "took {took:?}");

    // Back online, the stale command does not open the door late.
    w.network(true).await;
    keypad_marker(&w, &owner, &lid, 0).await;
    assert!(
        w.access_events(&owner, &lid)
            .await
            .iter()
            .all(|e| e.method.as_deref() != Some("remote")),
        "a late remote unlock was acted on"
    );
    owner.unlock(&lid).await.expect("remote unlock once online");
    w.stop().await;
}
