//! Nothing secret crosses the broker (`docs/protocol.md`, "Encrypted messages"; issue 15).
//!
//! A raw MQTT client reads every message the lock and the server exchange on the broker, from
//! pairing on, while members with PINs (one of them a Recurring Guest with a schedule) and a
//! guest key sync, a remote unlock runs and the lock uploads its journal. In what it read it
//! finds no PIN in any encoding (ASCII digits, the protocol's packed encoding, BCD, binary,
//! hex), no member (account ids, phone numbers, the lock's user records), no schedule, no
//! guest code or guest-key window and no root secret, and the protocol's own decoders read no
//! body of it. The same capture on the benchmarks' signed-only link does find the PINs, the
//! records, the schedule and the window, which shows that the search would catch a leak.
//!
//! And nobody can turn the encryption off: a signed-only command signed with the genuine
//! server key is refused by the lock, and a signed-only upload signed with the genuine lock key
//! is refused by the server, while the same messages encrypted are carried out. Nor does a
//! sequence number, which is the nonce, ever cover two different messages: not in a lock's
//! life, and not when the lock is deleted with a stale copy of its row.

use crate::device_kit::{Broker, FAMILY, FAMILY2, OWNER, Sniffer, World, eventually};
use jiff::{SignedDuration, Timestamp};
use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateGuestKey, CreateInvitation, Schedule, SyncState, Window};
use latchkey_lock_core::{Credential, Event, EventKind, Method, RootSecret, Subject};
use latchkey_protocol::{
    Down, EventStats, Events, Header, LinkKeys, Protection, ReplayWindow, SigningKey, Unlock, Up, decode_down,
    decode_up, open_up, peek, seal_down, seal_up, topics,
};
use latchkey_vlock::LinkMode;

on_both_brokers!(nothing_secret_crosses_the_broker);

const OWNER_PIN: &str = "73915864";
const FAMILY_PIN: &str = "48291573";
const GUEST_PIN: &str = "61829374";

// ------------------------------------------------------------------------------ encodings

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn zigzag(v: i64) -> Vec<u8> {
    varint(((v << 1) ^ (v >> 63)) as u64)
}

/// Packed BCD of a digit string; for an odd count, both paddings (leading and trailing 0).
fn bcd(digits: &str) -> Vec<Vec<u8>> {
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let pack = |d: &[u8]| d.chunks(2).map(|c| c[0] << 4 | c[1]).collect::<Vec<u8>>();
    if d.len().is_multiple_of(2) {
        vec![pack(&d)]
    } else {
        let lead: Vec<u8> = std::iter::once(0).chain(d.iter().copied()).collect();
        let trail: Vec<u8> = d.iter().copied().chain(std::iter::once(0)).collect();
        vec![pack(&lead), pack(&trail)]
    }
}

/// What must never be seen on the broker: (what, bytes).
#[derive(Default)]
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn add(&mut self, what: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((what.into(), bytes.into()));
    }

    /// A PIN in every encoding a careless implementation could put on the wire.
    fn pin(&mut self, name: &str, pin: &str) {
        let value: u64 = pin.parse().unwrap();
        self.add(format!("{name} PIN, ASCII"), pin.as_bytes());
        let mut packed = vec![pin.len() as u8];
        packed.extend(varint(value));
        self.add(format!("{name} PIN, packed (u8 digits, varint)"), packed);
        for b in bcd(pin) {
            self.add(format!("{name} PIN, BCD"), b);
        }
        self.add(format!("{name} PIN, u32 LE"), (value as u32).to_le_bytes());
        self.add(format!("{name} PIN, u32 BE"), (value as u32).to_be_bytes());
        self.add(format!("{name} PIN, hex"), format!("{value:x}").into_bytes());
        self.add(format!("{name} PIN, HEX"), format!("{value:X}").into_bytes());
        self.add(format!("{name} PIN, hex of ASCII"), hex::encode(pin).into_bytes());
    }

    /// An instant (a guest-key window's end) as the wire (`zz` seconds), binary or text would
    /// carry it.
    fn instant(&mut self, what: &str, t: Timestamp, api_text: &str) {
        let s = t.as_second();
        self.add(format!("{what}, zz varint"), zigzag(s));
        self.add(format!("{what}, varint"), varint(s as u64));
        self.add(format!("{what}, i64 LE"), s.to_le_bytes());
        self.add(format!("{what}, i64 BE"), s.to_be_bytes());
        self.add(format!("{what}, u32 LE"), (s as u32).to_le_bytes());
        self.add(format!("{what}, u32 BE"), (s as u32).to_be_bytes());
        self.add(format!("{what}, ms zz varint"), zigzag(s * 1000));
        self.add(format!("{what}, decimal"), s.to_string().into_bytes());
        self.add(format!("{what}, RFC 3339"), t.to_string().into_bytes());
        self.add(format!("{what}, as the API shows it"), api_text.as_bytes());
    }

    /// The names of the needles found in `haystack`.
    fn found_in(&self, haystack: &[u8]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, n)| haystack.windows(n.len()).any(|w| w == n.as_slice()))
            .map(|(what, _)| what.clone())
            .collect()
    }
}

// ------------------------------------------------------------------------------ the scenario

/// What one run of the scenario leaves: the messages seen, and what they must not show.
struct Capture {
    /// (topic, payload) of every message on this lock's topics and its pairing topics.
    link: Vec<(String, Vec<u8>)>,
    pairing: Vec<(String, Vec<u8>)>,
    needles: Needles,
    /// Needles a signed-only link does carry (the control's expectations).
    plain_on_the_wire: Vec<String>,
    lid: String,
}

async fn invite_recurring_guest(w: &World, owner: &Client, lid: &str) -> (Client, String) {
    let schedule = Schedule {
        windows: vec![Window {
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            from: "07:15".into(),
            to: "18:45".into(),
        }],
        valid_from: None,
        valid_until: None,
    };
    let inv = owner
        .invite(
            lid,
            &CreateInvitation {
                name: None,
                phone: FAMILY2.into(),
                access_level: AccessLevel::RecurringGuest,
                schedule: Some(schedule),
            },
        )
        .await
        .unwrap();
    let c = w.sign_in(FAMILY2).await;
    c.accept_invitation(&inv.id).await.unwrap();
    let id = c.me().await.unwrap().id;
    c.set_pin(lid, &id, GUEST_PIN).await.unwrap();
    (c, id)
}

/// Pairs, syncs three members with PINs (one on a schedule) and a guest key, runs a remote
/// unlock and a keypad entry, all on `link`, and returns everything the broker carried.
async fn run(broker: Broker, link: LinkMode) -> Capture {
    let w = World::start_with_link(broker, false, link).await;
    // The embedded broker is this test's own: everything on it. The system Mosquitto is shared
    // with other tests: everything under the protocol's root, filtered below.
    let filter = match broker {
        Broker::Embedded => "#",
        _ => "latchkey/v1/#",
    };
    let sn = Sniffer::start(&w, filter).await;
    let setup_code = eventually("the lock online and unpaired", 20, || async {
        let s = w.status().await;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;

    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    let owner_id = owner.me().await.unwrap().id;
    owner.set_pin(&lid, &owner_id, OWNER_PIN).await.unwrap();
    let (fam, fam_id) = w
        .add_member(&owner, &lid, FAMILY, AccessLevel::Family, Some(FAMILY_PIN))
        .await;
    let (_guest, guest_id) = invite_recurring_guest(&w, &owner, &lid).await;
    let start = Timestamp::from_second((Timestamp::now().as_second() / 3600 + 48) * 3600).unwrap();
    let key = owner
        .create_guest_key(
            &lid,
            &CreateGuestKey {
                name: "Cleaner".into(),
                phone: None,
                starts_at: start.to_string(),
                ends_at: (start + SignedDuration::from_mins(150)).to_string(),
                one_time: false,
                precautions_accepted: true,
            },
        )
        .await
        .expect("POST guest-keys");
    w.wait_synced(&owner, &lid, 30).await;
    eventually("the guest key synced to the lock", 20, || async {
        let k = owner.guest_key(&lid, &key.id).await.ok()?;
        (k.sync == SyncState::Synced).then_some(())
    })
    .await;

    // A remote unlock by the Family member, then the same member at the keypad.
    fam.unlock(&lid).await.expect("remote unlock");
    w.wait_access_events(&owner, &lid, "remote", 1).await;
    w.wait_locked().await;
    let r = w.keypad(&format!("{FAMILY_PIN}#")).await;
    assert_eq!(r["outcome"], "granted", "{r}");
    w.wait_access_events(&owner, &lid, "keypad", 1).await;

    // What must not be seen.
    let mut needles = Needles::default();
    let mut plain_on_the_wire = Vec::new();
    for (name, pin) in [("owner", OWNER_PIN), ("family", FAMILY_PIN), ("guest", GUEST_PIN)] {
        needles.pin(name, pin);
        plain_on_the_wire.push(format!("{name} PIN, packed (u8 digits, varint)"));
    }
    // The lock's user records: `UpsertUser { id, enabled, Unrestricted, PIN }` for the ids a
    // lock's first members get (the owner is 1).
    for (name, pin) in [("owner", OWNER_PIN), ("family", FAMILY_PIN)] {
        for user in 1..=8u8 {
            let mut record = vec![0x01, user, 0x01, 0x00, 0x01, pin.len() as u8];
            record.extend(varint(pin.parse().unwrap()));
            needles.add(format!("{name}'s user record as user {user}"), record);
        }
    }
    plain_on_the_wire.push("owner's user record as user 1".into());
    // The Recurring Guest's schedule: one window, Monday to Friday (lock-core's mask, Sunday is
    // bit 0), 07:15 to 18:45 in minutes of the local day.
    let mut window = vec![0x01, 0x01, 0b0011_1110];
    window.extend(varint(7 * 60 + 15));
    window.extend(varint(18 * 60 + 45));
    needles.add("the guest's schedule", window);
    needles.add("the guest's schedule, text", b"07:15".to_vec());
    plain_on_the_wire.push("the guest's schedule".into());
    // Who the members are.
    for (name, id) in [("owner", &owner_id), ("family", &fam_id), ("guest", &guest_id)] {
        needles.add(format!("{name}'s account id"), id.as_bytes());
    }
    for phone in [OWNER, FAMILY, FAMILY2] {
        needles.add(format!("phone {phone}"), phone.as_bytes());
        needles.add(
            format!("phone {phone}, digits"),
            phone.trim_start_matches('+').as_bytes(),
        );
    }
    // The guest key: its code and its window.
    let code: String = key.code.chars().filter(char::is_ascii_digit).collect();
    needles.add("guest code, ASCII", code.as_bytes());
    needles.add("guest code, varint", varint(code.parse().unwrap()));
    for b in bcd(&code) {
        needles.add("guest code, BCD", b);
    }
    plain_on_the_wire.push("guest code, varint".into());
    let from: Timestamp = key.starts_at.parse().unwrap();
    let until: Timestamp = key.ends_at.parse().unwrap();
    needles.instant("guest window start", from, &key.starts_at);
    needles.instant("guest window end", until, &key.ends_at);
    plain_on_the_wire.push("guest window start, zz varint".into());
    plain_on_the_wire.push("guest window end, zz varint".into());
    // The root secret the lock got when pairing.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.dir.path().join("lock.state")).unwrap()).unwrap();
    let root = state["paired"]["root"]
        .as_str()
        .expect("the lock's root secret")
        .to_string();
    needles.add("root secret", hex::decode(&root).unwrap());
    needles.add("root secret, hex", root.as_bytes());

    let lock_prefix = format!("latchkey/v1/locks/{lid}/");
    let pair_prefix = format!("latchkey/v1/pair/{}/", &setup_code[..3]);
    let seen = sn.seen();
    let link_msgs = seen
        .iter()
        .filter(|(t, p)| t.starts_with(&lock_prefix) && !p.is_empty())
        .cloned()
        .collect();
    let pairing = seen
        .iter()
        .filter(|(t, _)| t.starts_with(&pair_prefix))
        .cloned()
        .collect();
    w.stop().await;
    Capture {
        link: link_msgs,
        pairing,
        needles,
        plain_on_the_wire,
        lid,
    }
}

/// The kinds seen on a lock topic (`down` or `up`), by the cleartext header.
fn kinds(c: &Capture, dir: &str) -> Vec<u8> {
    c.link
        .iter()
        .filter(|(t, _)| t.ends_with(dir))
        .filter_map(|(_, p)| peek(p).ok().map(|m| m.kind))
        .collect()
}

/// No sequence number, which is the AEAD nonce with the expiry, covers two different messages
/// of one direction (a repeat of the same bytes, a QoS 1 duplicate, is harmless).
fn assert_no_nonce_twice(link: &[(String, Vec<u8>)]) {
    let mut seen: std::collections::HashMap<(bool, u64, i64), &Vec<u8>> = std::collections::HashMap::new();
    for (topic, p) in link {
        let m = peek(p).unwrap_or_else(|e| panic!("{topic}: {e:?}"));
        let key = (topic.ends_with("/down"), m.header.seq, m.header.expires);
        if let Some(other) = seen.insert(key, p) {
            assert_eq!(
                other, p,
                "{topic}: sequence number {} sealed two messages",
                m.header.seq
            );
        }
        // The sequence number alone, as the argument in docs/protocol.md has it.
        let twice = link
            .iter()
            .filter(|(t, q)| t == topic && q != p && peek(q).is_ok_and(|n| n.header.seq == m.header.seq))
            .count();
        assert_eq!(twice, 0, "{topic}: sequence number {} used twice", m.header.seq);
    }
}

/// The capture holds the whole exchange (so that finding nothing in it means something).
fn assert_complete(c: &Capture) {
    let down = kinds(c, "/down");
    let up = kinds(c, "/up");
    for (dir, got, kind, what) in [
        ("down", &down, 0x01, "Sync"),
        ("down", &down, 0x02, "Time"),
        ("down", &down, 0x03, "EventsAck"),
        ("down", &down, 0x04, "Unlock"),
        ("up", &up, 0x81, "Hello"),
        ("up", &up, 0x82, "SyncAck"),
        ("up", &up, 0x83, "Events"),
        ("up", &up, 0x84, "UnlockResult"),
    ] {
        assert!(got.contains(&kind), "no {what} seen {dir} for {}: {got:02x?}", c.lid);
    }
    assert!(
        c.pairing.len() >= 4,
        "the pairing exchange was not seen: {} messages",
        c.pairing.len()
    );
}

async fn nothing_secret_crosses_the_broker(broker: Broker) {
    let c = run(broker, LinkMode::Encrypted).await;
    assert_complete(&c);
    assert_no_nonce_twice(&c.link);
    for (topic, payload) in c.link.iter().chain(&c.pairing) {
        let found = c.needles.found_in(payload);
        assert!(found.is_empty(), "{topic} shows {found:?}: {}", hex::encode(payload));
    }
    // Nor can anyone who knows the format read a body: every message after pairing is
    // encrypted, and the decoders find no body in any of them.
    for (topic, payload) in &c.link {
        let m = peek(payload).unwrap_or_else(|e| panic!("{topic}: {e:?}"));
        assert!(m.encrypted, "{topic}: a message in the clear: {m:?}");
        assert!(decode_down(payload).is_err() && decode_up(payload).is_err(), "{topic}");
    }
}

/// The control: on the signed-only link of the benchmarks, the same search finds the PINs,
/// records, schedule, code and window, and the decoders read the bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_only_link_shows_what_encryption_hides() {
    latchkey_client::install_crypto_provider();
    let c = run(Broker::Embedded, LinkMode::SignedOnly).await;
    assert_complete(&c);
    let mut everything = Vec::new();
    for (_, p) in &c.link {
        everything.extend_from_slice(p);
        // A separator that matches no needle, so that none spans two messages.
        everything.extend_from_slice(&[0xff; 16]);
    }
    let found = c.needles.found_in(&everything);
    for expected in &c.plain_on_the_wire {
        assert!(
            found.contains(expected),
            "not found in the clear: {expected}; found {found:?}"
        );
    }
    assert!(
        c.link.iter().all(|(_, p)| !peek(p).unwrap().encrypted),
        "the signed-only link sent encrypted messages"
    );
    let syncs = c
        .link
        .iter()
        .filter(|(t, _)| t.ends_with("/down"))
        .filter(|(_, p)| matches!(decode_down(p).map(|m| m.body), Ok(Down::Sync(_))))
        .count();
    assert!(syncs > 0, "the decoder reads no sync on the signed-only link");
    // The root secret is sealed at pairing on either link.
    for (topic, p) in c.link.iter().chain(&c.pairing) {
        let found = c.needles.found_in(p);
        assert!(
            !found.iter().any(|f| f.starts_with("root secret")),
            "{topic} shows the root secret"
        );
    }
}

// ------------------------------------------------------------------------------ no downgrade

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s.trim()).unwrap().try_into().unwrap()
}

async fn keypad_marker(w: &World, owner: &Client, lid: &str, keypad_before: usize) {
    let r = w.keypad(&format!("{OWNER_PIN}#")).await;
    assert_eq!(r["outcome"], "granted", "{r}");
    w.wait_access_events(owner, lid, "keypad", keypad_before + 1).await;
    w.wait_locked().await;
}

/// Whoever holds the signing keys still cannot talk to the other end in the clear: the lock
/// refuses a signed-only `Unlock` signed with the server's own key, the server refuses a
/// signed-only upload signed with the lock's own key; encrypted with the link's keys, the same
/// messages are carried out (so the refusals are the protection's, not a broken injection).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_only_messages_are_refused_even_with_the_genuine_keys() {
    latchkey_client::install_crypto_provider();
    let w = World::start(Broker::Embedded, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    let me = owner.me().await.unwrap().id;
    owner.set_pin(&lid, &me, OWNER_PIN).await.unwrap();
    w.wait_synced(&owner, &lid, 20).await;
    let sn = Sniffer::start(&w, &format!("latchkey/v1/locks/{lid}/+")).await;
    let down = topics::lock_down(&lid).unwrap().to_string();
    let up = topics::lock_up(&lid).unwrap().to_string();

    // The genuine keys: the server's from its data folder, the lock's and the root secret from
    // the lock's state file.
    let server_key = SigningKey::from_bytes(&hex32(
        &std::fs::read_to_string(w.dir.path().join("server").join("server-key")).unwrap(),
    ));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.dir.path().join("lock.state")).unwrap()).unwrap();
    let lock_key = SigningKey::from_bytes(&hex32(state["key"].as_str().unwrap()));
    let keys = LinkKeys::derive(
        &RootSecret(hex32(state["paired"]["root"].as_str().unwrap())),
        lid.as_bytes(),
    );
    let now = Timestamp::now().as_second();
    let mut buf = vec![0u8; 4096];

    // Down: the owner (lock-local user 1) opens the door, first in the clear, then encrypted.
    let seq = 1u64 << 40;
    for (i, protection) in [Protection::SignedOnly, Protection::Encrypted(&keys)]
        .into_iter()
        .enumerate()
    {
        let n = seal_down(
            &server_key,
            protection,
            lid.as_bytes(),
            Header {
                seq: seq + i as u64,
                expires: now + 30,
            },
            &Down::Unlock(Unlock {
                command: seq + i as u64,
                user: 1,
            }),
            &mut buf,
        )
        .unwrap();
        sn.publish(&down, buf[..n].to_vec()).await;
    }
    // The lock answers in the order it handles its messages, so once the answer to the
    // encrypted command is on the broker, an answer to the signed-only one would be too.
    let answered = |sn: &Sniffer| -> Vec<u64> {
        sn.seen()
            .into_iter()
            .filter(|(t, _)| *t == up)
            .filter_map(|(_, mut p)| {
                let m = open_up(
                    &mut p,
                    lid.as_bytes(),
                    &lock_key.verifying_key(),
                    Protection::Encrypted(&keys),
                    &mut ReplayWindow::new(),
                    now,
                )
                .ok()?;
                match m.body {
                    Up::UnlockResult(r) => Some(r.command),
                    _ => None,
                }
            })
            .collect()
    };
    let commands = eventually("the lock's answer to the encrypted command", 15, || async {
        let c = answered(&sn);
        c.contains(&(seq + 1)).then_some(c)
    })
    .await;
    assert!(
        !commands.contains(&seq),
        "the lock acted on the signed-only unlock: {commands:?}"
    );
    let evs = w.wait_access_events(&owner, &lid, "remote", 1).await;
    assert_eq!(evs[0].outcome.as_deref(), Some("granted"), "{evs:#?}");
    w.wait_locked().await;

    // Up: a made-up keypad entry of user 1, uploaded in the clear with the lock's own key. A
    // real entry at the keypad afterwards reaches the log (had the server taken the forged
    // upload, its sequence number would now refuse the lock's own), the forged one does not.
    let keypad_before = w
        .access_events(&owner, &lid)
        .await
        .iter()
        .filter(|e| e.method.as_deref() == Some("keypad"))
        .count();
    let fake = |seq: u64| {
        [Event {
            seq,
            time: now,
            kind: EventKind::Granted {
                method: Method::Keypad,
                subject: Subject::User(1),
                credential: Credential::Pin,
            },
        }]
    };
    let useq = 1u64 << 40;
    let events = fake(100_000);
    let stats = EventStats {
        next_seq: 100_001,
        dropped_security: 0,
        dropped_routine: 0,
    };
    let n = seal_up(
        &lock_key,
        Protection::SignedOnly,
        lid.as_bytes(),
        Header {
            seq: useq,
            expires: now + 60,
        },
        &Up::Events(Events::new(stats, &events)),
        &mut buf,
    )
    .unwrap();
    sn.publish(&up, buf[..n].to_vec()).await;
    keypad_marker(&w, &owner, &lid, keypad_before).await;
    // Encrypted, the made-up entry is taken (the server cannot tell it from the lock's own).
    let events = fake(100_001);
    let stats = EventStats {
        next_seq: 100_002,
        ..stats
    };
    let n = seal_up(
        &lock_key,
        Protection::Encrypted(&keys),
        lid.as_bytes(),
        Header {
            seq: useq + 1,
            expires: now + 60,
        },
        &Up::Events(Events::new(stats, &events)),
        &mut buf,
    )
    .unwrap();
    sn.publish(&up, buf[..n].to_vec()).await;
    w.wait_access_events(&owner, &lid, "keypad", keypad_before + 2).await;
    w.stop().await;
}

// ------------------------------------------------------------------------------ nonces

/// The domain deletes a lock's row and then has the gateway send `Unpair`, with the copy of the
/// row it read. On PostgreSQL that copy may be older than the last sequence number another
/// instance reserved; here a copy read before a sync plays that part. The `Unpair` still
/// takes a number no other message used (above 2^63), so no nonce repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpair_sent_with_a_stale_row_reuses_no_sequence_number() {
    latchkey_client::install_crypto_provider();
    let w = World::start(Broker::Embedded, false).await;
    let owner = w.sign_in(OWNER).await;
    let lid = w.pair(&owner).await;
    let sn = Sniffer::start(&w, &format!("latchkey/v1/locks/{lid}/+")).await;
    let domain = &w.server().domain;
    let stale = {
        let mut c = domain.store.read().await.unwrap();
        latchkey_server::store::lock_by_id(&mut c, &lid).await.unwrap().unwrap()
    };
    // Down messages after the copy was read: a sync with the owner's PIN.
    let me = owner.me().await.unwrap().id;
    owner.set_pin(&lid, &me, OWNER_PIN).await.unwrap();
    w.wait_synced(&owner, &lid, 20).await;
    let down = topics::lock_down(&lid).unwrap().to_string();
    let after: Vec<u64> = sn
        .seen()
        .iter()
        .filter(|(t, _)| *t == down)
        .filter_map(|(_, p)| peek(p).ok().map(|m| m.header.seq))
        .filter(|s| *s > stale.command_seq as u64)
        .collect();
    assert!(!after.is_empty(), "no down message after the copy was read");
    owner.delete_lock(&lid).await.unwrap();
    // The gateway, with the old copy, after the row is gone.
    domain.gateway.unpaired(&stale).await;
    let unpairs = eventually("both Unpair messages on the broker", 10, || async {
        let u: Vec<u64> = sn
            .seen()
            .iter()
            .filter(|(t, p)| *t == down && peek(p).is_ok_and(|m| m.kind == 0x05))
            .filter_map(|(_, p)| peek(p).ok().map(|m| m.header.seq))
            .collect();
        (u.len() >= 2).then_some(u)
    })
    .await;
    for seq in &unpairs {
        assert!(*seq > 1 << 63, "an Unpair took {seq}, a number the counter hands out");
    }
    let link: Vec<(String, Vec<u8>)> = sn.seen().into_iter().filter(|(_, p)| !p.is_empty()).collect();
    assert_no_nonce_twice(&link);
    w.stop().await;
}
