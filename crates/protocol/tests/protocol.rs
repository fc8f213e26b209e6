//! The wire protocol's promises: every message round-trips, decoders never panic, encrypted
//! and signed messages are refused when tampered with, stale, replayed, misdirected or sent in
//! the clear, sync batches reach the lock core intact, and pairing needs the setup code.

use latchkey_lock_core::{
    ApplyError, ApplyErrorKind, Credential, Decision, DenyEntry, Event, EventKind, GuestRecord, Input, LocalDate, Lock,
    Method, OffsetEntry, Reason, RootSecret, Schedule, Settings, Subject, TimeCause, UserKind, Window,
};
use latchkey_protocol::pairing::{MAX_SERIAL_LEN, SHARE_LEN};
use latchkey_protocol::*;
use proptest::prelude::*;

const LOCK_ID: &[u8] = b"lk_front_door";
const NOW: i64 = 1_800_000_000;

fn server_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn lock_key() -> SigningKey {
    SigningKey::from_bytes(&[9u8; 32])
}

/// The test lock's root secret.
const ROOT: RootSecret = RootSecret([3; 32]);

/// The test lock's link keys.
fn keys() -> &'static LinkKeys {
    static KEYS: std::sync::OnceLock<LinkKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| LinkKeys::derive(&ROOT, LOCK_ID))
}

/// The production protection of the test lock's link.
fn enc() -> Protection<'static> {
    Protection::Encrypted(keys())
}

/// A copy of `bytes` for one `open_*`, which decrypts in place: tests open the same bytes many
/// times, so each open gets its own copy, kept for the rest of the test process (a few MB).
fn copy(bytes: &[u8]) -> &'static mut [u8] {
    Box::leak(bytes.to_vec().into_boxed_slice())
}

fn header(seq: u64) -> Header {
    Header {
        seq,
        expires: NOW + 300,
    }
}

fn pin(d: &str) -> PinCode {
    PinCode::parse(d.as_bytes()).unwrap()
}

fn schedule() -> Schedule {
    let mut windows = heapless::Vec::new();
    windows
        .push(Window {
            days: 0b0011_1110,
            from: 9 * 60,
            to: 17 * 60,
        })
        .unwrap();
    windows
        .push(Window {
            days: 0b0100_0000,
            from: 22 * 60,
            to: 60,
        })
        .unwrap();
    Schedule {
        windows,
        dates: Some((
            LocalDate::from_ymd(2027, 1, 1).unwrap(),
            LocalDate::from_ymd(2027, 6, 30).unwrap(),
        )),
    }
}

const OFFSETS: [OffsetEntry; 2] = [
    OffsetEntry {
        start: NOW - 86_400,
        offset: 3600,
    },
    OffsetEntry {
        start: NOW + 86_400 * 100,
        offset: 7200,
    },
];

/// One change of every kind.
fn every_change() -> Vec<SyncChange<'static>> {
    vec![
        SyncChange::ClearAll,
        SyncChange::UpsertUser(User {
            id: 1,
            enabled: true,
            kind: UserKind::Unrestricted,
            pin: Some(pin("012345")),
        }),
        SyncChange::UpsertUser(User {
            id: 2,
            enabled: true,
            kind: UserKind::ScheduleRestricted(schedule()),
            pin: Some(pin("87654321")),
        }),
        SyncChange::UpsertUser(User {
            id: 3,
            enabled: false,
            kind: UserKind::Disposable,
            pin: None,
        }),
        SyncChange::UpsertUser(User {
            id: u32::MAX,
            enabled: true,
            kind: UserKind::Expiring {
                from: NOW - 10,
                until: NOW + 3600,
            },
            pin: None,
        }),
        SyncChange::SetPin {
            user: 3,
            pin: pin("0000001"),
        },
        SyncChange::ClearPin(3),
        SyncChange::RemoveUser(4),
        SyncChange::UpsertGuestKey(GuestRecord {
            code: 999_999_999_999,
            key_id: 17,
            from: NOW,
            until: NOW + 7200,
            one_time: true,
        }),
        SyncChange::RemoveGuestKey(123),
        SyncChange::AddDenyEntry(DenyEntry {
            code: 42,
            expires: NOW + 86_400,
        }),
        SyncChange::SetIssuer {
            slot: 3,
            epoch: 2,
            enabled: true,
        },
        SyncChange::Settings(Settings {
            keypad_timeout_secs: 15,
            lockout_attempts: 3,
            lockout_base_secs: 30,
            lockout_max_secs: 7200,
            lockout_forget_secs: 0,
        }),
        SyncChange::SetOffsetTable {
            entries: &OFFSETS,
            valid_until: NOW + 86_400 * 400,
        },
    ]
}

fn guest_subject() -> Subject {
    Subject::GuestKey {
        slot: 7,
        code: 999_999_999_999,
        key_id: Some(u32::MAX),
    }
}

/// One event of every kind.
fn every_event() -> Vec<Event> {
    let kinds = [
        EventKind::Granted {
            method: Method::Keypad,
            subject: Subject::User(5),
            credential: Credential::Pin,
        },
        EventKind::Granted {
            method: Method::Remote,
            subject: Subject::User(u32::MAX),
            credential: Credential::Remote,
        },
        EventKind::Granted {
            method: Method::Keypad,
            subject: guest_subject(),
            credential: Credential::GuestCode,
        },
        EventKind::Denied {
            method: Method::Keypad,
            reason: Reason::UnknownCredential,
            subject: None,
            repeat: 1,
        },
        EventKind::Denied {
            method: Method::Keypad,
            reason: Reason::LockedOut,
            subject: Some(Subject::GuestKey {
                slot: 0,
                code: 1,
                key_id: None,
            }),
            repeat: u16::MAX,
        },
        EventKind::LockoutStarted {
            until: NOW + 60,
            level: 255,
        },
        EventKind::TimeUntrusted {
            cause: TimeCause::RtcLost,
        },
        EventKind::TimeUntrusted {
            cause: TimeCause::Rollback,
        },
        EventKind::TimeTrusted {
            cause: TimeCause::ServerTime,
        },
        EventKind::TimeTrusted {
            cause: TimeCause::RtcSurvived,
        },
        EventKind::SyncApplied { version: u64::MAX },
    ];
    let mut out: Vec<Event> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| Event {
            seq: i as u64 + 1,
            time: NOW + i as i64,
            kind: *k,
        })
        .collect();
    for (i, r) in all_reasons().into_iter().enumerate() {
        out.push(Event {
            seq: 100 + i as u64,
            time: i64::MIN,
            kind: EventKind::Denied {
                method: Method::Remote,
                reason: r,
                subject: Some(guest_subject()),
                repeat: 2,
            },
        });
    }
    out
}

fn all_reasons() -> Vec<Reason> {
    (0..=10).map(|c| reason_from_code(c).unwrap()).collect()
}

fn all_apply_errors() -> Vec<ApplyErrorKind> {
    (0..=14).map(|c| apply_error_from_code(c).unwrap()).collect()
}

fn every_down<'a>(changes: &'a [SyncChange<'a>]) -> Vec<Down<'a>> {
    vec![
        Down::Sync(Sync::new(3, 4, changes)),
        Down::Sync(Sync::new(0, 1, &[])),
        Down::Time(Time {
            utc: NOW,
            echo: [0xab; 16],
        }),
        Down::EventsAck(EventsAck { upto: 77 }),
        Down::Unlock(Unlock {
            command: u64::MAX,
            user: 12,
        }),
        Down::Unpair,
        Down::Lock(Unlock { command: 5, user: 1 }),
    ]
}

fn every_up(events: &[Event]) -> Vec<Up<'_>> {
    let mut v = vec![
        Up::Hello(Hello {
            nonce: [1; 16],
            applied_version: 4,
            next_event_seq: 120,
            time_trusted: false,
            clock: -5,
        }),
        Up::SyncAck(SyncAck {
            version: 4,
            status: SyncStatus::Applied,
        }),
        Up::SyncAck(SyncAck {
            version: 3,
            status: SyncStatus::BaseMismatch,
        }),
        Up::Events(Events::new(
            EventStats {
                next_seq: 120,
                dropped_security: 1,
                dropped_routine: u64::MAX,
            },
            events,
        )),
        Up::Events(Events::new(EventStats::default(), &[])),
        Up::UnlockResult(UnlockResult {
            command: 9,
            outcome: UnlockOutcome::Unlocked,
        }),
        Up::UnlockResult(UnlockResult {
            command: 9,
            outcome: UnlockOutcome::Failed,
        }),
        Up::UnlockResult(UnlockResult {
            command: 5,
            outcome: UnlockOutcome::Locked,
        }),
        Up::Bolt(Bolt { locked: true }),
        Up::Bolt(Bolt { locked: false }),
    ];
    for kind in all_apply_errors() {
        v.push(Up::SyncAck(SyncAck {
            version: 3,
            status: SyncStatus::Rejected(ApplyError { index: 7, kind }),
        }));
    }
    for r in all_reasons() {
        v.push(Up::UnlockResult(UnlockResult {
            command: 10,
            outcome: UnlockOutcome::Denied(r),
        }));
    }
    v
}

fn seal_d_with(p: Protection<'_>, body: &Down<'_>, seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let n = seal_down(&server_key(), p, LOCK_ID, header(seq), body, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn seal_u_with(p: Protection<'_>, body: &Up<'_>, seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let n = seal_up(&lock_key(), p, LOCK_ID, header(seq), body, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// An encrypted down message, as the server sends it.
fn seal_d(body: &Down<'_>, seq: u64) -> Vec<u8> {
    seal_d_with(enc(), body, seq)
}

/// An encrypted up message, as a paired lock sends it.
fn seal_u(body: &Up<'_>, seq: u64) -> Vec<u8> {
    seal_u_with(enc(), body, seq)
}

fn open_d_with(p: Protection<'_>, bytes: &[u8], replay: &mut ReplayWindow) -> Result<Opened<Down<'static>>, Reject> {
    open_down(
        copy(bytes),
        LOCK_ID,
        &server_key().verifying_key(),
        p,
        replay,
        Clock::Trusted(NOW),
    )
}

fn open_u_with(p: Protection<'_>, bytes: &[u8], replay: &mut ReplayWindow) -> Result<Opened<Up<'static>>, Reject> {
    open_up(copy(bytes), LOCK_ID, &lock_key().verifying_key(), p, replay, NOW)
}

/// The lock's side of the production link.
fn open_d(bytes: &[u8], replay: &mut ReplayWindow) -> Result<Opened<Down<'static>>, Reject> {
    open_d_with(enc(), bytes, replay)
}

/// The server's side of the production link.
fn open_u(bytes: &[u8], replay: &mut ReplayWindow) -> Result<Opened<Up<'static>>, Reject> {
    open_u_with(enc(), bytes, replay)
}

// ---------------------------------------------------------------------------- round trips

#[test]
fn every_down_message_round_trips() {
    let changes = every_change();
    for (i, body) in every_down(&changes).iter().enumerate() {
        let bytes = seal_d(body, i as u64 + 1);
        let mut replay = ReplayWindow::new();
        let opened = open_d(&bytes, &mut replay).unwrap();
        assert_eq!(&opened.body, body);
        assert_eq!(opened.header, header(i as u64 + 1));
        // One encoding per message: re-encoding the decoded message gives the same bytes.
        assert_eq!(seal_d(&opened.body, i as u64 + 1), bytes);
        let peeked = peek(&bytes).unwrap();
        assert_eq!(peeked.header, opened.header);
        assert!(peeked.encrypted);
        assert_eq!(bytes[1], peeked.kind | link::ENCRYPTED_KIND);
        assert!(
            decode_down(&bytes).is_err(),
            "an encrypted body cannot be read without the keys"
        );
        assert!(decode_up(&bytes).is_err(), "a down message is not an up message");
        // The signed-only form (benchmarks only) carries the same body in the clear.
        let plain = seal_d_with(Protection::SignedOnly, body, i as u64 + 1);
        let opened_plain = open_d_with(Protection::SignedOnly, &plain, &mut ReplayWindow::new()).unwrap();
        assert_eq!(opened_plain, opened);
        assert_eq!(decode_down(&plain).unwrap(), opened);
        assert_eq!(
            plain.len() + link::TAG_LEN,
            bytes.len(),
            "the tag is all encryption adds"
        );
        assert!(!peek(&plain).unwrap().encrypted);
    }
}

#[test]
fn every_up_message_round_trips() {
    let events = every_event();
    for (i, body) in every_up(&events).iter().enumerate() {
        let bytes = seal_u(body, i as u64 + 1);
        let mut replay = ReplayWindow::new();
        let opened = open_u(&bytes, &mut replay).unwrap();
        assert_eq!(&opened.body, body);
        assert_eq!(seal_u(&opened.body, i as u64 + 1), bytes);
        assert!(decode_down(&bytes).is_err(), "an up message is not a down message");
        assert!(
            decode_up(&bytes).is_err(),
            "an encrypted body cannot be read without the keys"
        );
        let plain = seal_u_with(Protection::SignedOnly, body, i as u64 + 1);
        let opened_plain = open_u_with(Protection::SignedOnly, &plain, &mut ReplayWindow::new()).unwrap();
        assert_eq!(opened_plain, opened);
        assert_eq!(decode_up(&plain).unwrap(), opened);
    }
}

fn every_pairing() -> Vec<Pairing<'static>> {
    vec![
        Pairing::Start(PairStart {
            session: [1; 16],
            share: [2; SHARE_LEN],
        }),
        Pairing::Reply(PairReply {
            session: [1; 16],
            share: [3; SHARE_LEN],
            lock_key: [4; 32],
            serial: "LK-0001-é",
            confirm: [5; 32],
        }),
        Pairing::Finish(PairFinish {
            session: [1; 16],
            lock_id: b"lk_1",
            server_key: [6; 32],
            sealed_root: [7; 32],
            confirm: [8; 32],
        }),
        Pairing::Done(PairDone {
            session: [1; 16],
            confirm: [9; 32],
        }),
        Pairing::Refused(PairRefused {
            session: [1; 16],
            retry_after: 3600,
        }),
    ]
}

#[test]
fn every_pairing_message_round_trips() {
    for m in every_pairing() {
        let mut buf = [0u8; 512];
        let n = encode_pairing(&m, &mut buf).unwrap();
        let back = decode_pairing(&buf[..n]).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.session(), &[1; 16]);
        assert!(decode_pairing(&buf[..n - 1]).is_err(), "truncated");
        let mut longer = buf[..n].to_vec();
        longer.push(0);
        assert_eq!(decode_pairing(&longer), Err(DecodeError::TrailingBytes));
    }
    let long_serial = "x".repeat(MAX_SERIAL_LEN + 1);
    let m = Pairing::Reply(PairReply {
        session: [1; 16],
        share: [3; SHARE_LEN],
        lock_key: [4; 32],
        serial: &long_serial,
        confirm: [5; 32],
    });
    assert_eq!(encode_pairing(&m, &mut [0u8; 512]), Err(EncodeError::Invalid));
}

#[test]
fn encoding_errors_are_values() {
    let changes = every_change();
    let body = Down::Sync(Sync::new(3, 4, &changes));
    let full = seal_d(&body, 1).len();
    for n in 0..full {
        let mut buf = vec![0u8; n];
        assert_eq!(
            seal_down(&server_key(), enc(), LOCK_ID, header(1), &body, &mut buf),
            Err(EncodeError::BufferTooSmall)
        );
    }
    let mut buf = vec![0u8; 1024];
    assert_eq!(
        seal_down(&server_key(), enc(), b"", header(1), &body, &mut buf),
        Err(EncodeError::Invalid)
    );
    assert_eq!(
        seal_down(&server_key(), enc(), &[b'x'; 65], header(1), &body, &mut buf),
        Err(EncodeError::Invalid)
    );
    let two_tables = [
        SyncChange::SetOffsetTable {
            entries: &OFFSETS,
            valid_until: NOW,
        },
        SyncChange::SetOffsetTable {
            entries: &OFFSETS,
            valid_until: NOW,
        },
    ];
    let body = Down::Sync(Sync::new(0, 1, &two_tables));
    assert_eq!(
        seal_down(&server_key(), enc(), LOCK_ID, header(1), &body, &mut buf),
        Err(EncodeError::Invalid)
    );
    let bad_code = [SyncChange::RemoveGuestKey(1_000_000_000_000)];
    let body = Down::Sync(Sync::new(0, 1, &bad_code));
    assert_eq!(
        seal_down(&server_key(), enc(), LOCK_ID, header(1), &body, &mut buf),
        Err(EncodeError::Invalid)
    );
}

#[test]
fn sizes_are_compact() {
    let unlock = seal_d(
        &Down::Unlock(Unlock {
            command: 1000,
            user: 12,
        }),
        1000,
    );
    assert!(unlock.len() <= 64 + 16 + 20, "{}", unlock.len());
    // A full snapshot of a standard lock fits in one message.
    let users: Vec<SyncChange> = (0..1000u32)
        .map(|i| {
            SyncChange::UpsertUser(User {
                id: 1_000_000 + i,
                enabled: true,
                kind: UserKind::ScheduleRestricted(Schedule {
                    windows: heapless::Vec::from_slice(
                        &[Window {
                            days: 0x7f,
                            from: 540,
                            to: 1020,
                        }; 4],
                    )
                    .unwrap(),
                    dates: Some((LocalDate(20_000), LocalDate(20_400))),
                }),
                pin: Some(pin("12345678")),
            })
        })
        .chain((0..256u64).map(|i| {
            SyncChange::UpsertGuestKey(GuestRecord {
                code: 999_999_000_000 + i,
                key_id: 100_000 + i as u32,
                from: NOW,
                until: NOW + 14 * 86_400,
                one_time: false,
            })
        }))
        .chain((0..256u64).map(|i| {
            SyncChange::AddDenyEntry(DenyEntry {
                code: 999_999_000_000 + i,
                expires: NOW + 14 * 86_400,
            })
        }))
        .collect();
    let bytes = seal_d(&Down::Sync(Sync::new(0, 1, &users)), 1);
    assert!(bytes.len() < 50_000 && bytes.len() < MAX_MESSAGE_LEN, "{}", bytes.len());
    let events = every_event();
    for e in &events {
        let one = seal_u(
            &Up::Events(Events::new(EventStats::default(), std::slice::from_ref(e))),
            1,
        );
        let none = seal_u(&Up::Events(Events::new(EventStats::default(), &[])), 1);
        assert!(one.len() - none.len() <= MAX_EVENT_LEN);
    }
}

// ---------------------------------------------------------------------------- authentication

#[test]
fn wrong_key_lock_or_direction_is_refused() {
    let body = Down::Unlock(Unlock { command: 1, user: 2 });
    let bytes = seal_d(&body, 1);
    let mut r = ReplayWindow::new();
    let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
    assert_eq!(
        open_down(copy(&bytes), LOCK_ID, &other, enc(), &mut r, Clock::Trusted(NOW)).unwrap_err(),
        Reject::BadSignature
    );
    assert_eq!(
        open_down(
            copy(&bytes),
            b"lk_back_door",
            &server_key().verifying_key(),
            enc(),
            &mut r,
            Clock::Trusted(NOW)
        )
        .unwrap_err(),
        Reject::BadSignature,
        "a message for one lock does not open on another"
    );
    // The lock's own key signed an up message: it is no down message even if the lock
    // key were confused with the server key.
    let up = seal_u(
        &Up::Hello(Hello {
            nonce: [0; 16],
            applied_version: 0,
            next_event_seq: 1,
            time_trusted: true,
            clock: NOW,
        }),
        1,
    );
    assert!(
        open_down(
            copy(&up),
            LOCK_ID,
            &lock_key().verifying_key(),
            enc(),
            &mut r,
            Clock::Trusted(NOW)
        )
        .is_err()
    );
    assert_eq!(r, ReplayWindow::new(), "nothing refused changes the window");
    assert!(open_d(&bytes, &mut r).is_ok());
}

#[test]
fn expiry_is_enforced() {
    let body = Down::Unlock(Unlock { command: 1, user: 2 });
    let bytes = seal_d(&body, 1);
    let key = server_key().verifying_key();
    let open = |clock| open_down(copy(&bytes), LOCK_ID, &key, enc(), &mut ReplayWindow::new(), clock).map(|_| ());
    assert_eq!(open(Clock::Trusted(NOW + 299)), Ok(()));
    assert_eq!(open(Clock::Trusted(NOW + 300)), Err(Reject::Expired));
    assert_eq!(open(Clock::Trusted(NOW + 300 - MAX_LIFETIME_SECS)), Ok(()));
    assert_eq!(
        open(Clock::Trusted(NOW + 299 - MAX_LIFETIME_SECS)),
        Err(Reject::TooFarAhead)
    );
    assert_eq!(open(Clock::Untrusted { floor: NOW + 299 }), Ok(()));
    assert_eq!(open(Clock::Untrusted { floor: NOW + 300 }), Err(Reject::Expired));
    assert_eq!(
        open(Clock::Untrusted { floor: 0 }),
        Ok(()),
        "an untrusted clock cannot refuse early"
    );
    // Extreme instants are refused, not overflowed.
    let forever = Header {
        seq: 1,
        expires: i64::MAX,
    };
    let mut buf = [0u8; 128];
    let n = seal_down(&server_key(), enc(), LOCK_ID, forever, &body, &mut buf).unwrap();
    let open_forever =
        |clock| open_down(copy(&buf[..n]), LOCK_ID, &key, enc(), &mut ReplayWindow::new(), clock).map(|_| ());
    assert_eq!(open_forever(Clock::Trusted(i64::MIN)), Err(Reject::TooFarAhead));
    assert_eq!(open_forever(Clock::Trusted(-1)), Err(Reject::TooFarAhead));
    assert_eq!(open_forever(Clock::Trusted(i64::MAX)), Err(Reject::Expired));
    assert_eq!(open_forever(Clock::Untrusted { floor: i64::MIN }), Ok(()));
    let up = seal_u(&Up::Events(Events::new(EventStats::default(), &[])), 1);
    let lk = lock_key().verifying_key();
    assert!(open_up(copy(&up), LOCK_ID, &lk, enc(), &mut ReplayWindow::new(), NOW).is_ok());
    assert_eq!(
        open_up(copy(&up), LOCK_ID, &lk, enc(), &mut ReplayWindow::new(), NOW + 300).unwrap_err(),
        Reject::Expired
    );
}

#[test]
fn replays_are_refused_reordering_is_not() {
    let msgs: Vec<Vec<u8>> = (1..=5)
        .map(|seq| seal_d(&Down::Unlock(Unlock { command: seq, user: 2 }), seq))
        .collect();
    let mut r = ReplayWindow::new();
    for i in [0usize, 2, 1, 4, 3] {
        assert!(open_d(&msgs[i], &mut r).is_ok(), "message {i} first time");
    }
    for m in &msgs {
        assert_eq!(open_d(m, &mut r).unwrap_err(), Reject::Replayed);
    }
    // The window survives a restart through its persisted form.
    let mut restored = ReplayWindow::from_bytes(&r.to_bytes());
    assert_eq!(open_d(&msgs[0], &mut restored).unwrap_err(), Reject::Replayed);
    let far = seal_d(&Down::Unlock(Unlock { command: 99, user: 2 }), 500);
    assert!(open_d(&far, &mut r).is_ok());
    let old = seal_d(&Down::Unlock(Unlock { command: 6, user: 2 }), 6);
    assert_eq!(open_d(&old, &mut r).unwrap_err(), Reject::Replayed, "too far behind");
    let zero = seal_d(&Down::Unlock(Unlock { command: 0, user: 2 }), 0);
    assert_eq!(open_d(&zero, &mut ReplayWindow::new()).unwrap_err(), Reject::Replayed);
    // The server keeps a window per lock for up messages, the same way.
    let up = seal_u(&Up::Events(Events::new(EventStats::default(), &[])), 1);
    let mut r = ReplayWindow::new();
    assert!(open_u(&up, &mut r).is_ok());
    assert_eq!(open_u(&up, &mut r).unwrap_err(), Reject::Replayed);
}

#[test]
fn time_answers_only_its_hello() {
    let t = Time {
        utc: NOW,
        echo: [5; 16],
    };
    assert!(t.answers(&[5; 16]));
    assert!(!t.answers(&[6; 16]));
    assert_eq!(t.to_change(), latchkey_lock_core::Change::SetTime(NOW));
}

// ---------------------------------------------------------------------------- encryption

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

const DOWN: u8 = 0;
const UP: u8 = 1;

/// Signs `msg` (everything before the signature) for `dir` as the specification says, and
/// appends the signature.
fn signed(key: &SigningKey, dir: u8, lock_id: &[u8], msg: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    use sha2::{Digest, Sha512};
    let mut h = Sha512::new();
    h.update(b"latchkey/v1 signed message");
    h.update([dir, lock_id.len() as u8]);
    h.update(lock_id);
    h.update(msg);
    let d: [u8; 64] = h.finalize().into();
    let mut out = msg.to_vec();
    out.extend_from_slice(&key.sign(&d).to_bytes());
    out
}

/// The header of a message: version, kind, seq, expires.
fn header_bytes(kind: u8, seq: u64, expires: i64) -> Vec<u8> {
    let mut h = vec![VERSION, kind];
    h.extend(varint(seq));
    h.extend(zigzag(expires));
    h
}

/// An encrypted message built by hand from the specification (ChaCha20-Poly1305 straight from
/// RustCrypto, not through the crate's envelope): `aead_key` and `nonce` are what the sender
/// used, the header is the associated data, the signature is `signer`'s.
#[allow(clippy::too_many_arguments)]
fn hand_sealed(
    signer: &SigningKey,
    dir: u8,
    lock_id: &[u8],
    aead_key: &[u8; 32],
    nonce: [u8; 12],
    kind: u8,
    h: Header,
    body: &[u8],
) -> Vec<u8> {
    use chacha20poly1305::aead::AeadInOut;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
    let mut msg = header_bytes(kind, h.seq, h.expires);
    let mut ct = body.to_vec();
    let tag = ChaCha20Poly1305::new(&(*aead_key).into())
        .encrypt_inout_detached(&nonce.into(), &msg, ct.as_mut_slice().into())
        .unwrap();
    msg.extend_from_slice(&ct);
    msg.extend_from_slice(&tag);
    signed(signer, dir, lock_id, &msg)
}

/// The plaintext body of a signed-only message.
fn plain_body(plain: &[u8]) -> Vec<u8> {
    let head = header_bytes(
        plain[1],
        peek(plain).unwrap().header.seq,
        peek(plain).unwrap().header.expires,
    )
    .len();
    plain[head..plain.len() - SIGNATURE_LEN].to_vec()
}

#[test]
fn encrypted_messages_follow_the_specification() {
    let changes = every_change();
    let events = every_event();
    let nonce = |seq| link::nonce(seq, NOW + 300);
    for (i, body) in every_down(&changes).iter().enumerate() {
        let seq = i as u64 + 1;
        let plain = plain_body(&seal_d_with(Protection::SignedOnly, body, seq));
        let by_hand = hand_sealed(
            &server_key(),
            DOWN,
            LOCK_ID,
            keys().down_key(),
            nonce(seq),
            plain_body_kind(body.clone()) | link::ENCRYPTED_KIND,
            header(seq),
            &plain,
        );
        assert_eq!(by_hand, seal_d(body, seq), "down message {i}");
    }
    for (i, body) in every_up(&events).iter().enumerate() {
        let seq = i as u64 + 1;
        let sealed = seal_u(body, seq);
        let plain = plain_body(&seal_u_with(Protection::SignedOnly, body, seq));
        let by_hand = hand_sealed(
            &lock_key(),
            UP,
            LOCK_ID,
            keys().up_key(),
            nonce(seq),
            sealed[1],
            header(seq),
            &plain,
        );
        assert_eq!(by_hand, sealed, "up message {i}");
    }
}

/// The kind byte of a down body (from its signed-only form).
fn plain_body_kind(body: Down<'_>) -> u8 {
    seal_d_with(Protection::SignedOnly, &body, 1)[1]
}

#[test]
fn the_wrong_key_or_nonce_is_refused_even_behind_a_valid_signature() {
    let unlock = Down::Unlock(Unlock { command: 5, user: 12 });
    let body = plain_body(&seal_d_with(Protection::SignedOnly, &unlock, 9));
    let h = header(9);
    let good = link::nonce(9, h.expires);
    let back_door = LinkKeys::derive(&ROOT, b"lk_back_door");
    let other_root = LinkKeys::derive(&RootSecret([4; 32]), LOCK_ID);
    let mut swapped_halves = good;
    swapped_halves.rotate_left(4);
    let cases: [(&str, &[u8; 32], [u8; 12]); 7] = [
        ("the up key for a down message", keys().up_key(), good),
        ("another lock id's key", back_door.down_key(), good),
        ("another root secret's key", other_root.down_key(), good),
        (
            "the nonce of another sequence number",
            keys().down_key(),
            link::nonce(10, h.expires),
        ),
        (
            "the nonce of another expiry",
            keys().down_key(),
            link::nonce(9, h.expires + 1),
        ),
        ("a nonce of the sequence number alone", keys().down_key(), {
            let mut n = [0u8; 12];
            n[..8].copy_from_slice(&9u64.to_le_bytes());
            n
        }),
        ("the nonce's halves swapped", keys().down_key(), swapped_halves),
    ];
    let right = hand_sealed(&server_key(), DOWN, LOCK_ID, keys().down_key(), good, 0x24, h, &body);
    assert!(open_d(&right, &mut ReplayWindow::new()).is_ok(), "the control opens");
    for (what, key, nonce) in cases {
        let bytes = hand_sealed(&server_key(), DOWN, LOCK_ID, key, nonce, 0x24, h, &body);
        let mut r = ReplayWindow::new();
        assert_eq!(open_d(&bytes, &mut r).unwrap_err(), Reject::BadCiphertext, "{what}");
        assert_eq!(r, ReplayWindow::new(), "{what}");
    }
    // Up: the down key does not open what the lock sends, nor another lock's up key.
    let answer = Up::UnlockResult(UnlockResult {
        command: 5,
        outcome: UnlockOutcome::Unlocked,
    });
    let body = plain_body(&seal_u_with(Protection::SignedOnly, &answer, 3));
    for (what, key) in [
        ("the down key for an up message", keys().down_key()),
        ("another lock id's up key", back_door.up_key()),
    ] {
        let bytes = hand_sealed(
            &lock_key(),
            UP,
            LOCK_ID,
            key,
            link::nonce(3, NOW + 300),
            0xa4,
            header(3),
            &body,
        );
        assert_eq!(
            open_u(&bytes, &mut ReplayWindow::new()).unwrap_err(),
            Reject::BadCiphertext,
            "{what}"
        );
    }
    // A message for another lock, signed and encrypted for it, does not open here.
    let mut buf = [0u8; 256];
    let n = seal_down(
        &server_key(),
        Protection::Encrypted(&back_door),
        b"lk_back_door",
        h,
        &unlock,
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        open_d(&buf[..n], &mut ReplayWindow::new()).unwrap_err(),
        Reject::BadSignature
    );
}

#[test]
fn tampering_behind_a_valid_signature_is_refused() {
    // Someone who could sign (but does not hold the root secret) changes any byte of the
    // header, the ciphertext or the tag: the tag check refuses it.
    let unlock = seal_d(&Down::Unlock(Unlock { command: 5, user: 12 }), 9);
    let sig = unlock.len() - SIGNATURE_LEN;
    let head = header_bytes(0x24, 9, NOW + 300).len();
    for i in 1..sig {
        for bit in 0..8 {
            let mut m = unlock[..sig].to_vec();
            m[i] ^= 1 << bit;
            let bytes = signed(&server_key(), DOWN, LOCK_ID, &m);
            let mut r = ReplayWindow::new();
            let err = open_d(&bytes, &mut r).unwrap_err();
            if i >= head {
                assert_eq!(err, Reject::BadCiphertext, "byte {i} bit {bit}");
            } else if i == 1 && bit == 5 {
                assert_eq!(err, Reject::Unencrypted, "the encryption bit cleared");
            }
            assert_eq!(r, ReplayWindow::new(), "byte {i} bit {bit}");
        }
    }
    // Shortened or lengthened, and signed again.
    for cut in 1..=sig - head {
        let bytes = signed(&server_key(), DOWN, LOCK_ID, &unlock[..sig - cut]);
        let err = open_d(&bytes, &mut ReplayWindow::new()).unwrap_err();
        if sig - cut - head >= link::TAG_LEN {
            assert_eq!(err, Reject::BadCiphertext, "cut {cut}");
        } else {
            assert_eq!(err, Reject::Malformed(DecodeError::Truncated), "cut {cut}");
        }
    }
    let mut longer = unlock[..sig].to_vec();
    longer.insert(head, 0);
    let bytes = signed(&server_key(), DOWN, LOCK_ID, &longer);
    assert_eq!(
        open_d(&bytes, &mut ReplayWindow::new()).unwrap_err(),
        Reject::BadCiphertext
    );
    // Not signed again: the signature refuses it first.
    let mut bytes = unlock.clone();
    bytes[head] ^= 1;
    assert_eq!(
        open_d(&bytes, &mut ReplayWindow::new()).unwrap_err(),
        Reject::BadSignature
    );
    assert_eq!(
        open_d(&unlock[..unlock.len() - 1], &mut ReplayWindow::new()).unwrap_err(),
        Reject::BadSignature
    );
    // The untouched message opens once, then it is a replay.
    let mut r = ReplayWindow::new();
    assert!(open_d(&unlock, &mut r).is_ok());
    assert_eq!(open_d(&unlock, &mut r).unwrap_err(), Reject::Replayed);
}

#[test]
fn nothing_on_the_wire_turns_encryption_off() {
    let changes = every_change();
    let events = every_event();
    // Signed-only messages, genuinely signed: an encrypted receiver refuses every one, before
    // looking at the signature, and the other way round.
    for (i, body) in every_down(&changes).iter().enumerate() {
        let plain = seal_d_with(Protection::SignedOnly, body, i as u64 + 1);
        let mut r = ReplayWindow::new();
        assert_eq!(open_d(&plain, &mut r).unwrap_err(), Reject::Unencrypted, "down {i}");
        assert_eq!(r, ReplayWindow::new());
        let sealed = seal_d(body, i as u64 + 1);
        assert_eq!(
            open_d_with(Protection::SignedOnly, &sealed, &mut r).unwrap_err(),
            Reject::Malformed(DecodeError::UnknownKind(sealed[1])),
            "down {i}"
        );
    }
    for (i, body) in every_up(&events).iter().enumerate() {
        let plain = seal_u_with(Protection::SignedOnly, body, i as u64 + 1);
        assert_eq!(
            open_u(&plain, &mut ReplayWindow::new()).unwrap_err(),
            Reject::Unencrypted,
            "up {i}"
        );
    }
    // The encryption bit cleared on an encrypted message and signed again: still refused.
    let sealed = seal_d(&Down::Unlock(Unlock { command: 1, user: 1 }), 1);
    let mut m = sealed[..sealed.len() - SIGNATURE_LEN].to_vec();
    m[1] &= !link::ENCRYPTED_KIND;
    let bytes = signed(&server_key(), DOWN, LOCK_ID, &m);
    assert_eq!(
        open_d(&bytes, &mut ReplayWindow::new()).unwrap_err(),
        Reject::Unencrypted
    );
}

#[test]
fn opening_decrypts_in_place_and_only_after_the_tag() {
    let sealed = seal_d(&Down::Unlock(Unlock { command: 5, user: 12 }), 9);
    let plain = plain_body(&seal_d_with(
        Protection::SignedOnly,
        &Down::Unlock(Unlock { command: 5, user: 12 }),
        9,
    ));
    let head = header_bytes(0x24, 9, NOW + 300).len();
    // A wrong key leaves the buffer as it was.
    let other = LinkKeys::derive(&RootSecret([4; 32]), LOCK_ID);
    let mut bytes = sealed.clone();
    let r = open_down(
        &mut bytes,
        LOCK_ID,
        &server_key().verifying_key(),
        Protection::Encrypted(&other),
        &mut ReplayWindow::new(),
        Clock::Trusted(NOW),
    );
    assert_eq!(r.unwrap_err(), Reject::BadCiphertext);
    assert_eq!(bytes, sealed);
    // The right key leaves the plaintext body where the ciphertext was.
    let r = open_down(
        &mut bytes,
        LOCK_ID,
        &server_key().verifying_key(),
        enc(),
        &mut ReplayWindow::new(),
        Clock::Trusted(NOW),
    );
    assert!(r.is_ok());
    assert_eq!(&bytes[head..head + plain.len()], plain.as_slice());
}

#[test]
fn link_keys_are_per_direction_lock_and_root() {
    let a = LinkKeys::derive(&ROOT, LOCK_ID);
    let all = [
        *a.down_key(),
        *a.up_key(),
        *LinkKeys::derive(&ROOT, b"lk_back_door").down_key(),
        *LinkKeys::derive(&RootSecret([4; 32]), LOCK_ID).down_key(),
        // The length prefix keeps `lk_front_door` apart from a prefix of it.
        *LinkKeys::derive(&ROOT, b"lk_front_doo").down_key(),
    ];
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y);
        }
    }
    assert_eq!(LinkKeys::derive(&ROOT, LOCK_ID).down_key(), a.down_key());
    assert_eq!(format!("{a:?}"), "LinkKeys(..)", "keys never reach a log");
}

#[test]
fn encrypted_bodies_show_no_pin_schedule_user_or_window() {
    let changes = [
        SyncChange::ClearAll,
        SyncChange::UpsertUser(User {
            id: 77_777,
            enabled: true,
            kind: UserKind::ScheduleRestricted(schedule()),
            pin: Some(pin("73915864")),
        }),
        SyncChange::UpsertGuestKey(GuestRecord {
            code: 935_182_920_626,
            key_id: 4242,
            from: NOW + 7 * 86_400,
            until: NOW + 8 * 86_400,
            one_time: false,
        }),
    ];
    let sync = Down::Sync(Sync::new(0, 9, &changes));
    let mut packed_pin = vec![8];
    packed_pin.extend(varint(73_915_864));
    let needles: [(&str, Vec<u8>); 6] = [
        ("PIN", packed_pin),
        ("user id", varint(77_777)),
        (
            "schedule window",
            [vec![0b0011_1110], varint(9 * 60), varint(17 * 60)].concat(),
        ),
        ("guest code", varint(935_182_920_626)),
        ("window start", zigzag(NOW + 7 * 86_400)),
        ("window end", zigzag(NOW + 8 * 86_400)),
    ];
    let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).any(|w| w == n);
    let plain = seal_d_with(Protection::SignedOnly, &sync, 1);
    let sealed = seal_d(&sync, 1);
    for (what, n) in &needles {
        assert!(find(&plain, n), "{what} is in the clear on the signed-only link");
        assert!(!find(&sealed, n), "{what} is visible in the encrypted message");
    }
    let Down::Sync(back) = open_d(&sealed, &mut ReplayWindow::new()).unwrap().body else {
        panic!("not a sync")
    };
    assert_eq!(back.changes().collect::<Vec<_>>(), changes);
}

// ---------------------------------------------------------------------------- lock core

type SmallLock = Lock<8, 8, 4, 4, 4, 32>;

#[test]
fn a_sync_reaches_the_lock_core_and_events_come_back() {
    let mut lock = SmallLock::new(LOCK_ID, RootSecret([3; 32])).unwrap();
    let changes = [
        SyncChange::ClearAll,
        SyncChange::UpsertUser(User {
            id: 1,
            enabled: true,
            kind: UserKind::Unrestricted,
            pin: Some(pin("012345")),
        }),
        SyncChange::UpsertUser(User {
            id: 2,
            enabled: true,
            kind: UserKind::Expiring {
                from: NOW + 3600,
                until: NOW + 7200,
            },
            pin: None,
        }),
        SyncChange::SetOffsetTable {
            entries: &OFFSETS,
            valid_until: NOW + 86_400 * 400,
        },
        SyncChange::Settings(Settings::DEFAULT),
    ];
    let bytes = seal_d(&Down::Sync(Sync::new(0, 5, &changes)), 1);
    let mut replay = ReplayWindow::new();
    let Down::Sync(sync) = open_d(&bytes, &mut replay).unwrap().body else {
        panic!("not a sync")
    };
    assert!(sync.is_snapshot());
    assert!(
        sync.applies_to(0) && sync.applies_to(17),
        "a snapshot applies to any version"
    );
    let lock_changes: Vec<_> = sync.lock_changes().collect();
    assert_eq!(lock_changes.len(), 5);
    lock.set_trusted_time(NOW);
    lock.apply(sync.version, &lock_changes, NOW).unwrap();
    assert_eq!(lock.applied_version(), 5);
    assert_eq!(lock.offset_table().entries(), &OFFSETS);
    assert_eq!(lock.local_time(NOW), Some(NOW + 3600));
    assert!(
        lock.decide(Input::Keypad(b"012345"), NOW).is_grant(),
        "the PIN arrived intact"
    );
    assert_eq!(
        lock.decide(Input::Keypad(b"12345"), NOW),
        Decision::Deny(Reason::UnknownCredential)
    );
    assert!(lock.decide(Input::Remote(1), NOW).is_grant());
    assert_eq!(lock.decide(Input::Remote(2), NOW), Decision::Deny(Reason::NotYetValid));

    // The journal goes up, and the server's ack comes back down.
    let events: Vec<Event> = lock.events().copied().collect();
    let up = seal_u(&Up::Events(Events::new(lock.journal_stats().into(), &events)), 1);
    let Up::Events(got) = open_u(&up, &mut ReplayWindow::new()).unwrap().body else {
        panic!("not events")
    };
    assert_eq!(got.iter().collect::<Vec<_>>(), events);
    assert_eq!(got.stats.next_seq, lock.journal_stats().next_seq);
    let upto = got.iter().last().unwrap().seq;
    let ack = seal_d(&Down::EventsAck(EventsAck { upto }), 2);
    let Down::EventsAck(a) = open_d(&ack, &mut replay).unwrap().body else {
        panic!("not an ack")
    };
    lock.ack(a.upto);
    assert_eq!(lock.events().count(), 0);

    // A delta on the wrong base is the host's to refuse; a stale version is lock-core's.
    let stale = [SyncChange::RemoveUser(2)];
    let bytes = seal_d(&Down::Sync(Sync::new(4, 5, &stale)), 3);
    let Down::Sync(sync) = open_d(&bytes, &mut replay).unwrap().body else {
        panic!()
    };
    assert!(
        !sync.applies_to(lock.applied_version()),
        "a delta on another base does not apply"
    );
    assert!(sync.applies_to(4));
    let err = lock
        .apply(sync.version, &sync.lock_changes().collect::<Vec<_>>(), NOW)
        .unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::StaleVersion);
    let ack = seal_u(
        &Up::SyncAck(SyncAck {
            version: lock.applied_version(),
            status: SyncStatus::from_apply(Err(err)),
        }),
        2,
    );
    assert!(matches!(
        open_u(&ack, &mut ReplayWindow::new()).unwrap().body,
        Up::SyncAck(SyncAck {
            status: SyncStatus::Rejected(ApplyError {
                kind: ApplyErrorKind::StaleVersion,
                ..
            }),
            ..
        })
    ));
}

#[test]
fn changes_convert_both_ways_where_they_can() {
    for c in every_change() {
        let lc = c.to_change();
        match SyncChange::from_change(&lc) {
            Some(back) => assert_eq!(back, c),
            None => assert!(
                matches!(
                    &c,
                    SyncChange::SetPin { .. } | SyncChange::UpsertUser(User { pin: Some(_), .. })
                ),
                "{c:?}"
            ),
        }
    }
    assert_eq!(SyncChange::from_change(&latchkey_lock_core::Change::SetTime(1)), None);
    let p = pin("00123456");
    assert_eq!(p.digits(), (*b"00123456", 8));
    assert_eq!(format!("{p:?}"), "PinCode(8 digits)");
    assert!(PinCode::parse(b"12345").is_none());
    assert!(PinCode::parse(b"123456789").is_none());
    assert!(PinCode::parse(b"12345a").is_none());
    assert_eq!(reason_name(Reason::OutsideSchedule), "outside_schedule");
    for r in all_reasons() {
        assert_eq!(reason_from_code(reason_code(r)), Some(r));
    }
    assert_eq!(reason_from_code(11), None);
    for k in all_apply_errors() {
        assert_eq!(apply_error_from_code(apply_error_code(k)), Some(k));
    }
    assert_eq!(apply_error_from_code(15), None);
}

// ---------------------------------------------------------------------------- pairing

struct Exchange {
    lock: Result<(LockPairing, Vec<u8>), PairError>,
    server: ServerPairing,
}

fn serial() -> &'static str {
    "LK-000123"
}

/// Runs the first two steps over the wire.
fn exchange(server_code: &SetupCode, lock_code: &SetupCode) -> Exchange {
    let (server, start) = ServerPairing::start(server_code, [1; 16], [2; 32]);
    let mut buf = [0u8; 256];
    let n = encode_pairing(&Pairing::Start(start), &mut buf).unwrap();
    let Pairing::Start(start) = decode_pairing(&buf[..n]).unwrap() else {
        panic!()
    };
    let lock = LockPairing::respond(lock_code, &start, &lock_key().verifying_key(), serial(), [3; 32]).map(
        |(state, reply)| {
            let mut buf = [0u8; 256];
            let n = encode_pairing(&Pairing::Reply(reply), &mut buf).unwrap();
            (state, buf[..n].to_vec())
        },
    );
    Exchange { lock, server }
}

fn code() -> SetupCode {
    SetupCode::parse("123-4567-8901").unwrap()
}

#[test]
fn pairing_with_the_right_code_hands_over_the_identity() {
    let root = RootSecret([0x5a; 32]);
    let x = exchange(&code(), &code());
    let (lock, reply) = x.lock.unwrap();
    let Pairing::Reply(reply) = decode_pairing(&reply).unwrap() else {
        panic!()
    };
    let confirmed = x
        .server
        .finish(&reply, b"lk_42", &server_key().verifying_key(), &root)
        .unwrap();
    assert_eq!(confirmed.lock_key, lock_key().verifying_key());
    assert_ne!(
        confirmed.finish.sealed_root, root.0,
        "the root secret never crosses in the clear"
    );
    let mut buf = [0u8; 256];
    let n = encode_pairing(&Pairing::Finish(confirmed.finish), &mut buf).unwrap();
    assert!(
        !buf[..n].windows(32).any(|w| w == root.0),
        "no copy of the root on the wire"
    );
    let Pairing::Finish(fin) = decode_pairing(&buf[..n]).unwrap() else {
        panic!()
    };
    let (paired, done) = lock.finish(&fin).unwrap();
    assert_eq!(paired.lock_id.as_slice(), b"lk_42");
    assert_eq!(paired.server_key, server_key().verifying_key());
    assert_eq!(paired.root, root);
    confirmed.done.check(&done).unwrap();
    let mut other = done;
    other.confirm[0] ^= 1;
    assert_eq!(confirmed.done.check(&other), Err(PairError::BadConfirmation));
    other.session = [9; 16];
    assert_eq!(confirmed.done.check(&other), Err(PairError::WrongSession));
}

#[test]
fn a_wrong_setup_code_fails_and_learns_nothing() {
    let root = RootSecret([0x5a; 32]);
    let wrong = SetupCode::parse("12345678900").unwrap();
    assert_eq!(
        wrong.discriminator(),
        code().discriminator(),
        "same topic, different secret"
    );

    // A server (or an attacker posing as one) with the wrong code: the lock's confirmation does
    // not verify, so it gets no key to use; it sends nothing the lock would accept.
    let x = exchange(&wrong, &code());
    let (lock, reply) = x.lock.unwrap();
    let Pairing::Reply(reply) = decode_pairing(&reply).unwrap() else {
        panic!()
    };
    let err = x
        .server
        .finish(&reply, b"lk_42", &server_key().verifying_key(), &root)
        .unwrap_err();
    assert_eq!(err, PairError::BadConfirmation);
    // Whatever it forges instead (here: a finish sealed and MACed with its own, wrong key) the
    // lock refuses, so it cannot plant its server key.
    let y = exchange(&wrong, &wrong);
    let (_, forged_reply) = y.lock.unwrap();
    let Pairing::Reply(mut forged_reply) = decode_pairing(&forged_reply).unwrap() else {
        panic!()
    };
    forged_reply.lock_key = reply.lock_key;
    let forged = y
        .server
        .finish(
            &forged_reply,
            b"lk_evil",
            &SigningKey::from_bytes(&[66; 32]).verifying_key(),
            &root,
        )
        .unwrap()
        .finish;
    assert_eq!(lock.finish(&forged).unwrap_err(), PairError::BadConfirmation);

    // A lock (or an attacker posing as one) with the wrong code: the server refuses its reply,
    // so it never receives the sealed root secret.
    let x = exchange(&code(), &wrong);
    let (wrong_lock, reply) = x.lock.unwrap();
    let Pairing::Reply(reply) = decode_pairing(&reply).unwrap() else {
        panic!()
    };
    assert_eq!(
        x.server
            .finish(&reply, b"lk_42", &server_key().verifying_key(), &root)
            .unwrap_err(),
        PairError::BadConfirmation
    );
    // And had the server sent a finish anyway (a genuine one, for the right code), the wrong
    // code neither verifies it nor unseals the root.
    let z = exchange(&code(), &code());
    let (_, good_reply) = z.lock.unwrap();
    let Pairing::Reply(good_reply) = decode_pairing(&good_reply).unwrap() else {
        panic!()
    };
    let genuine = z
        .server
        .finish(&good_reply, b"lk_42", &server_key().verifying_key(), &root)
        .unwrap();
    assert_eq!(
        wrong_lock.finish(&genuine.finish).unwrap_err(),
        PairError::BadConfirmation
    );
}

#[test]
fn tampered_pairing_messages_are_refused() {
    let root = RootSecret([1; 32]);
    let x = exchange(&code(), &code());
    let (lock, reply) = x.lock.unwrap();
    let Pairing::Reply(reply) = decode_pairing(&reply).unwrap() else {
        panic!()
    };
    // A broker that swaps the lock's key for its own breaks the lock's confirmation.
    let mut swapped = reply;
    swapped.lock_key = SigningKey::from_bytes(&[66; 32]).verifying_key().to_bytes();
    let (server2, _) = ServerPairing::start(&code(), [1; 16], [2; 32]);
    assert_eq!(
        server2
            .finish(&swapped, b"lk", &server_key().verifying_key(), &root)
            .unwrap_err(),
        PairError::BadConfirmation
    );
    let mut other_session = reply;
    other_session.session = [2; 16];
    let (server3, _) = ServerPairing::start(&code(), [1; 16], [2; 32]);
    assert_eq!(
        server3
            .finish(&other_session, b"lk", &server_key().verifying_key(), &root)
            .unwrap_err(),
        PairError::WrongSession
    );
    let fin = x
        .server
        .finish(&reply, b"lk_42", &server_key().verifying_key(), &root)
        .unwrap()
        .finish;
    // Every field of the finish is covered by the server's MAC.
    let mut bad = fin;
    bad.lock_id = b"lk_43";
    let check = |f: &PairFinish<'_>| {
        let (l, _) = LockPairing::respond(&code(), &x_start(), &lock_key().verifying_key(), serial(), [3; 32]).unwrap();
        l.finish(f).map(|_| ())
    };
    assert_eq!(check(&fin), Ok(()));
    assert_eq!(check(&bad), Err(PairError::BadConfirmation));
    let mut bad = fin;
    bad.server_key[0] ^= 1;
    assert_eq!(check(&bad), Err(PairError::BadConfirmation));
    let mut bad = fin;
    bad.sealed_root[31] ^= 0x80;
    assert_eq!(check(&bad), Err(PairError::BadConfirmation));
    let mut bad = fin;
    bad.session = [0; 16];
    assert_eq!(check(&bad), Err(PairError::WrongSession));
    assert!(lock.finish(&fin).is_ok());
}

fn x_start() -> PairStart {
    ServerPairing::start(&code(), [1; 16], [2; 32]).1
}

#[test]
fn setup_codes_and_attempt_limits() {
    let c = SetupCode::parse("123 4567 8901").unwrap();
    assert_eq!(c, code());
    assert_eq!(c.to_string(), "123-4567-8901");
    assert_eq!(format!("{c:?}"), "SetupCode(123-****-****)");
    assert_eq!(c.discriminator(), 123);
    assert!(SetupCode::parse("123-4567-890").is_none());
    assert!(SetupCode::parse("123-4567-89012").is_none());
    assert!(SetupCode::parse("123-4567-890a").is_none());
    let r = SetupCode::from_random([0xff; 8]);
    assert_eq!(SetupCode::parse(&r.to_string()), Some(r));
    assert_eq!(
        topics::pairing_up(c.discriminator()).unwrap().as_str(),
        "latchkey/v1/pair/123/up"
    );

    let mut a = PairAttempts::default();
    for _ in 0..PairAttempts::FREE - 1 {
        assert_eq!(a.check(NOW), Ok(()));
        a.record(NOW);
    }
    assert_eq!(a.check(NOW), Ok(()));
    a.record(NOW);
    assert_eq!(a.check(NOW), Err(60));
    assert_eq!(a.check(NOW + 60), Ok(()));
    a.record(NOW + 60);
    assert_eq!(a.check(NOW + 60), Err(120));
    for _ in 0..20 {
        a.record(NOW);
    }
    assert_eq!(a.check(NOW), Err(3600), "the wait is capped at an hour");
    a.reset();
    assert_eq!(a.check(NOW), Ok(()));
}

// ---------------------------------------------------------------------------- properties

fn arb_window() -> impl Strategy<Value = Window> {
    (any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(days, from, to)| Window { days, from, to })
}

fn arb_kind() -> impl Strategy<Value = UserKind> {
    prop_oneof![
        Just(UserKind::Unrestricted),
        Just(UserKind::Disposable),
        (any::<i64>(), any::<i64>()).prop_map(|(from, until)| UserKind::Expiring { from, until }),
        (
            proptest::collection::vec(arb_window(), 0..=4),
            proptest::option::of((any::<i32>(), any::<i32>()))
        )
            .prop_map(|(w, d)| UserKind::ScheduleRestricted(Schedule {
                windows: heapless::Vec::from_slice(&w).unwrap(),
                dates: d.map(|(a, b)| (LocalDate(a), LocalDate(b))),
            })),
    ]
}

fn arb_pin() -> impl Strategy<Value = PinCode> {
    "[0-9]{6,8}".prop_map(|s| pin(&s))
}

fn arb_change() -> impl Strategy<Value = SyncChange<'static>> {
    let code = 0u64..1_000_000_000_000;
    prop_oneof![
        Just(SyncChange::ClearAll),
        (any::<u32>(), any::<bool>(), arb_kind(), proptest::option::of(arb_pin()))
            .prop_map(|(id, enabled, kind, pin)| SyncChange::UpsertUser(User { id, enabled, kind, pin })),
        any::<u32>().prop_map(SyncChange::RemoveUser),
        (any::<u32>(), arb_pin()).prop_map(|(user, pin)| SyncChange::SetPin { user, pin }),
        any::<u32>().prop_map(SyncChange::ClearPin),
        (code.clone(), any::<u32>(), any::<i64>(), any::<i64>(), any::<bool>()).prop_map(
            |(code, key_id, from, until, one_time)| SyncChange::UpsertGuestKey(GuestRecord {
                code,
                key_id,
                from,
                until,
                one_time
            })
        ),
        code.clone().prop_map(SyncChange::RemoveGuestKey),
        (code, any::<i64>()).prop_map(|(code, expires)| SyncChange::AddDenyEntry(DenyEntry { code, expires })),
        (any::<u8>(), any::<u32>(), any::<bool>()).prop_map(|(slot, epoch, enabled)| SyncChange::SetIssuer {
            slot,
            epoch,
            enabled
        }),
        (any::<u16>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c, d, e)| {
            SyncChange::Settings(Settings {
                keypad_timeout_secs: a,
                lockout_attempts: b,
                lockout_base_secs: c,
                lockout_max_secs: d,
                lockout_forget_secs: e,
            })
        }),
    ]
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        any::<u32>().prop_map(Subject::User),
        (any::<u8>(), any::<u64>(), proptest::option::of(any::<u32>()))
            .prop_map(|(slot, code, key_id)| Subject::GuestKey { slot, code, key_id }),
    ]
}

fn arb_event() -> impl Strategy<Value = Event> {
    let method = prop_oneof![Just(Method::Keypad), Just(Method::Remote)];
    let reason = (0u8..=10).prop_map(|c| reason_from_code(c).unwrap());
    let cause = prop_oneof![
        Just(TimeCause::RtcLost),
        Just(TimeCause::Rollback),
        Just(TimeCause::ServerTime),
        Just(TimeCause::RtcSurvived)
    ];
    let credential = prop_oneof![
        Just(Credential::Pin),
        Just(Credential::GuestCode),
        Just(Credential::Remote)
    ];
    let kind = prop_oneof![
        (method.clone(), arb_subject(), credential).prop_map(|(method, subject, credential)| EventKind::Granted {
            method,
            subject,
            credential
        }),
        (method, reason, proptest::option::of(arb_subject()), any::<u16>()).prop_map(
            |(method, reason, subject, repeat)| EventKind::Denied {
                method,
                reason,
                subject,
                repeat
            }
        ),
        (any::<i64>(), any::<u8>()).prop_map(|(until, level)| EventKind::LockoutStarted { until, level }),
        cause.clone().prop_map(|cause| EventKind::TimeUntrusted { cause }),
        cause.prop_map(|cause| EventKind::TimeTrusted { cause }),
        any::<u64>().prop_map(|version| EventKind::SyncApplied { version }),
    ];
    (any::<u64>(), any::<i64>(), kind).prop_map(|(seq, time, kind)| Event { seq, time, kind })
}

/// Valid messages of every kind, as bytes, for mutation.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

/// One valid message after pairing, and how to open it.
struct Sealed {
    bytes: Vec<u8>,
    down: bool,
    encrypted: bool,
}

impl Sealed {
    /// Opens a copy with the receiver's production setting (or signed-only for a signed-only
    /// message); `replay` must be unchanged on refusal.
    fn open(&self, bytes: &[u8], replay: &mut ReplayWindow) -> Result<(), Reject> {
        let p = if self.encrypted { enc() } else { Protection::SignedOnly };
        if self.down {
            open_d_with(p, bytes, replay).map(|_| ())
        } else {
            open_u_with(p, bytes, replay).map(|_| ())
        }
    }
}

/// Every down and up message, encrypted (as the link runs) and signed-only (the benchmarks'
/// link).
fn signed_corpus() -> &'static [Sealed] {
    static SIGNED: std::sync::OnceLock<Vec<Sealed>> = std::sync::OnceLock::new();
    SIGNED.get_or_init(|| {
        let changes = every_change();
        let events = every_event();
        let mut all = Vec::new();
        for (p, encrypted) in [(enc(), true), (Protection::SignedOnly, false)] {
            for m in every_down(&changes) {
                let bytes = seal_d_with(p, &m, 1);
                all.push(Sealed {
                    bytes,
                    down: true,
                    encrypted,
                });
            }
            for m in every_up(&events) {
                let bytes = seal_u_with(p, &m, 1);
                all.push(Sealed {
                    bytes,
                    down: false,
                    encrypted,
                });
            }
        }
        all
    })
}

fn build_corpus() -> Vec<Vec<u8>> {
    let changes = every_change();
    let events = every_event();
    let mut out = Vec::new();
    for p in [enc(), Protection::SignedOnly] {
        out.extend(
            every_down(&changes)
                .iter()
                .enumerate()
                .map(|(i, m)| seal_d_with(p, m, i as u64 + 1)),
        );
        out.extend(
            every_up(&events)
                .iter()
                .enumerate()
                .map(|(i, m)| seal_u_with(p, m, i as u64 + 1)),
        );
    }
    for m in every_pairing() {
        let mut buf = [0u8; 512];
        let n = encode_pairing(&m, &mut buf).unwrap();
        out.push(buf[..n].to_vec());
    }
    out
}

/// Runs every decoder and every checker on `bytes`; none may panic.
fn decode_everything(bytes: &[u8]) {
    let _ = decode_down(bytes);
    let _ = decode_up(bytes);
    let _ = decode_pairing(bytes);
    if let Ok(m) = decode_down(bytes)
        && let Down::Sync(s) = &m.body
    {
        let _ = s.lock_changes().count();
        let _ = s.is_snapshot();
    }
    if let Ok(m) = decode_up(bytes)
        && let Up::Events(e) = &m.body
    {
        let _ = e.iter().count();
    }
    let _ = peek(bytes);
    let mut r = ReplayWindow::new();
    for p in [enc(), Protection::SignedOnly] {
        let mut copy = bytes.to_vec();
        if let Ok(m) = open_down(
            &mut copy,
            LOCK_ID,
            &server_key().verifying_key(),
            p,
            &mut r,
            Clock::Untrusted { floor: 0 },
        ) && let Down::Sync(s) = &m.body
        {
            let _ = s.lock_changes().count();
        }
        let mut copy = bytes.to_vec();
        if let Ok(m) = open_up(&mut copy, LOCK_ID, &lock_key().verifying_key(), p, &mut r, NOW)
            && let Up::Events(e) = &m.body
        {
            let _ = e.iter().count();
        }
    }
}

#[test]
fn every_single_bit_flip_of_every_signed_message_is_rejected() {
    let mut flips = 0;
    for (i, m) in signed_corpus().iter().enumerate() {
        assert_eq!(
            m.open(&m.bytes, &mut ReplayWindow::new()),
            Ok(()),
            "message {i} as sent"
        );
        for bit in 0..m.bytes.len() * 8 {
            let mut bytes = m.bytes.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let mut r = ReplayWindow::new();
            assert!(m.open(&bytes, &mut r).is_err(), "message {i}, bit {bit}");
            assert_eq!(r, ReplayWindow::new());
            flips += 1;
        }
    }
    assert!(flips > 20_000, "{flips}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_bodies_after_a_valid_prefix_never_panic(
        version in prop_oneof![Just(1u8), any::<u8>()],
        kind in prop_oneof![
            0x01u8..=0x05, 0x21u8..=0x25, 0x81u8..=0x84, 0xa1u8..=0xa4, 0x40u8..=0x41, 0xc0u8..=0xc2, any::<u8>()
        ],
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![version, kind, 1, 2];
        bytes.extend_from_slice(&body);
        // The body decoders behind `open_*` are the ones `decode_*` runs.
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let mut bytes = pick.get(corpus()).clone();
        for (at, byte, op) in edits {
            let i = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
            match op {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 if !bytes.is_empty() => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        decode_everything(&bytes);
    }

    #[test]
    fn any_single_bit_flip_is_rejected(pick in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let m = pick.get(signed_corpus());
        let mut bytes = m.bytes.clone();
        let b = bit.index(bytes.len() * 8);
        bytes[b / 8] ^= 1 << (b % 8);
        let mut r = ReplayWindow::new();
        prop_assert!(m.open(&bytes, &mut r).is_err());
        prop_assert_eq!(r, ReplayWindow::new());
    }

    #[test]
    fn sync_batches_round_trip(
        changes in proptest::collection::vec(arb_change(), 0..40),
        offsets in proptest::option::of((proptest::collection::vec((any::<i64>(), any::<i32>()), 0..=32), any::<i64>())),
        base in any::<u64>(),
        version in any::<u64>(),
        seq in 1u64..,
    ) {
        let entries: Vec<OffsetEntry> = offsets
            .as_ref()
            .map(|(e, _)| e.iter().map(|&(start, offset)| OffsetEntry { start, offset }).collect())
            .unwrap_or_default();
        let mut changes = changes;
        if let Some((_, valid_until)) = offsets {
            let at = changes.len() / 2;
            changes.insert(at, SyncChange::SetOffsetTable { entries: &entries, valid_until });
        }
        let body = Down::Sync(Sync::new(base, version, &changes));
        let bytes = seal_d(&body, seq);
        let opened = open_d(&bytes, &mut ReplayWindow::new()).unwrap();
        prop_assert_eq!(&opened.body, &body);
        prop_assert_eq!(seal_d(&opened.body, seq), bytes.clone());
        let Down::Sync(s) = opened.body else { unreachable!() };
        let lock: Vec<_> = s.lock_changes().collect();
        let direct: Vec<_> = changes.iter().map(SyncChange::to_change).collect();
        prop_assert_eq!(lock, direct);
    }

    #[test]
    fn event_batches_round_trip(events in proptest::collection::vec(arb_event(), 0..60), stats in any::<(u64, u64, u64)>()) {
        let stats = EventStats { next_seq: stats.0, dropped_security: stats.1, dropped_routine: stats.2 };
        let body = Up::Events(Events::new(stats, &events));
        let bytes = seal_u(&body, 1);
        let opened = open_u(&bytes, &mut ReplayWindow::new()).unwrap();
        prop_assert_eq!(&opened.body, &body);
        let Up::Events(e) = opened.body else { unreachable!() };
        prop_assert_eq!(e.iter().collect::<Vec<_>>(), events);
    }

    #[test]
    fn arbitrary_headers_and_clocks_never_panic(
        seq in any::<u64>(),
        expires in any::<i64>(),
        now in any::<i64>(),
        trusted in any::<bool>(),
        highest in any::<u64>(),
    ) {
        let body = Down::Unlock(Unlock { command: seq, user: 1 });
        let mut buf = [0u8; 128];
        let n = seal_down(&server_key(), enc(), LOCK_ID, Header { seq, expires }, &body, &mut buf).unwrap();
        let clock = if trusted { Clock::Trusted(now) } else { Clock::Untrusted { floor: now } };
        let mut r = ReplayWindow::new();
        r.accept(highest);
        let before = r;
        match open_down(&mut buf[..n], LOCK_ID, &server_key().verifying_key(), enc(), &mut r, clock) {
            Ok(m) => {
                prop_assert_eq!(m.body, body);
                prop_assert!(expires > now);
                prop_assert!(!r.check(seq));
            }
            Err(_) => prop_assert_eq!(r, before),
        }
    }

    #[test]
    fn arbitrary_ciphertext_behind_a_valid_signature_is_refused(
        kind in prop_oneof![0x21u8..=0x25, 0xa1u8..=0xa4, any::<u8>()],
        seq in any::<u64>(),
        expires in any::<i64>(),
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Someone who can sign but holds no link key: whatever follows the header, the tag
        // check refuses it, on either side, and no window moves.
        let mut m = header_bytes(kind, seq, expires);
        m.extend_from_slice(&rest);
        let mut r = ReplayWindow::new();
        let down = signed(&server_key(), DOWN, LOCK_ID, &m);
        prop_assert!(open_d(&down, &mut r).is_err());
        let up = signed(&lock_key(), UP, LOCK_ID, &m);
        prop_assert!(open_u(&up, &mut r).is_err());
        prop_assert_eq!(r, ReplayWindow::new());
    }

    #[test]
    fn pin_codes_keep_their_digits(d in "[0-9]{6,8}") {
        let p = pin(&d);
        let (digits, n) = p.digits();
        prop_assert_eq!(&digits[..n], d.as_bytes());
        prop_assert_eq!(p.to_pin(), latchkey_lock_core::Pin::parse(d.as_bytes()).unwrap());
    }

    #[test]
    fn replay_window_accepts_each_number_at_most_once(seqs in proptest::collection::vec(1u64..200, 0..300)) {
        let mut w = ReplayWindow::new();
        let mut accepted = std::collections::HashSet::new();
        for s in seqs {
            if w.check(s) {
                prop_assert!(accepted.insert(s), "{} accepted twice", s);
                w.accept(s);
            }
            prop_assert!(!w.check(s));
        }
    }
}

// ---------------------------------------------------------------------------- test vectors

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The signed-only vectors printed in docs/protocol.md ("Test vectors"): the first round's
/// format, byte for byte, which `Protection::SignedOnly` keeps for the benchmarks.
#[test]
fn signed_only_vectors_match_the_docs() {
    let server = SigningKey::from_bytes(&[7; 32]);
    let lock = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(
        hex(&server.verifying_key().to_bytes()),
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    );
    assert_eq!(
        hex(&lock.verifying_key().to_bytes()),
        "fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618"
    );
    let mut buf = [0u8; 512];
    let id = b"lk_front_door";
    let n = seal_down(
        &server,
        Protection::SignedOnly,
        id,
        Header {
            seq: 41,
            expires: 1_800_000_030,
        },
        &Down::Unlock(Unlock { command: 7, user: 12 }),
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        hex(&buf[..n]),
        "010429bcc8ceb40d070c84afd45318181c1cd21268e593819a5e9f7ee086d12181bd2df09a1c08cad1e10230cceb6caafa5d6b01650709c641cde5c4225d2373ea1c73759733724ce401"
    );
    let changes = [
        SyncChange::UpsertUser(User {
            id: 5,
            enabled: true,
            kind: UserKind::Unrestricted,
            pin: Some(pin("012345")),
        }),
        SyncChange::AddDenyEntry(DenyEntry {
            code: 123_456_789_012,
            expires: 1_800_086_400,
        }),
        SyncChange::SetIssuer {
            slot: 1,
            epoch: 2,
            enabled: true,
        },
    ];
    let n = seal_down(
        &server,
        Protection::SignedOnly,
        id,
        Header {
            seq: 42,
            expires: 1_800_000_600,
        },
        &Down::Sync(Sync::new(3, 4, &changes)),
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        hex(&buf[..n]),
        "01012ab0d1ceb40d030403010501000106b9600794b4e4f4cb03808ed9b40d0801020131dac58aa276376988a80be1dada95d8f4675a40753db5902aa6605597adbeda6fc88ab110d3c53a72fd84842281b8b226074c4b9f40e1a7a6df1a0ff6d85409"
    );
    let n = seal_up(
        &lock,
        Protection::SignedOnly,
        id,
        Header {
            seq: 1,
            expires: 1_800_000_060,
        },
        &Up::Hello(Hello {
            nonce: [0x11; 16],
            applied_version: 3,
            next_event_seq: 120,
            time_trusted: false,
            clock: 1_800_000_000,
        }),
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        hex(&buf[..n]),
        "018101f8c8ceb40d1111111111111111111111111111111103780080c8ceb40d69348e6ed6ea44beaa671543ded6afb8080772546c037e9a09240f5312eb86dcebd89c52759116cccd5ce626bacc29939053ccd86c36a4834e6667c5f9ecbd02"
    );
    let events = [Event {
        seq: 120,
        time: 1_800_000_001,
        kind: EventKind::Denied {
            method: Method::Keypad,
            reason: Reason::UnknownCredential,
            subject: None,
            repeat: 1,
        },
    }];
    let stats = EventStats {
        next_seq: 121,
        dropped_security: 0,
        dropped_routine: 0,
    };
    let n = seal_up(
        &lock,
        Protection::SignedOnly,
        id,
        Header {
            seq: 2,
            expires: 1_800_000_060,
        },
        &Up::Events(Events::new(stats, &events)),
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        hex(&buf[..n]),
        "018302f8c8ceb40d790000017882c8ceb40d010000000115862385959794e9f09fe0b4d89d609427973fb29268d0d95cbb4582aa641ebbf7eef52e8af90a44ceb5e217478166e4bea12e3470c369501d732bc958ad2f02"
    );
}

const DOC: &str = include_str!("../../../docs/protocol.md");

/// The body rows of the table that follows `<!-- vectors:NAME -->` in docs/protocol.md, cells
/// trimmed and stripped of backticks.
fn doc_table(name: &str) -> Vec<Vec<String>> {
    let marker = format!("<!-- vectors:{name} -->");
    let (_, rest) = DOC
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker} in docs/protocol.md"));
    let rows: Vec<Vec<String>> = rest
        .trim_start()
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert!(rows.len() > 2, "table {name} is empty");
    rows[2..].to_vec()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "{s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32 bytes")
}

/// The messages the vectors name.
fn vector_sync_changes() -> [SyncChange<'static>; 3] {
    [
        SyncChange::UpsertUser(User {
            id: 5,
            enabled: true,
            kind: UserKind::Unrestricted,
            pin: Some(pin("012345")),
        }),
        SyncChange::AddDenyEntry(DenyEntry {
            code: 123_456_789_012,
            expires: 1_800_086_400,
        }),
        SyncChange::SetIssuer {
            slot: 1,
            epoch: 2,
            enabled: true,
        },
    ]
}

/// The encrypted vectors of docs/protocol.md ("Test vectors", "Encrypted messages"), read from
/// the document: key derivation, nonces, associated data, and whole sealed messages, each
/// checked against the crate and, for the AEAD, against ChaCha20-Poly1305 used directly.
#[test]
fn encrypted_vectors_match_the_docs() {
    let secrets: std::collections::HashMap<String, RootSecret> = doc_table("link-secrets")
        .into_iter()
        .map(|r| (r[0].clone(), RootSecret(unhex32(&r[1]))))
        .collect();
    let keys_rows = doc_table("link-keys");
    for r in &keys_rows {
        let k = LinkKeys::derive(&secrets[&r[0]], r[1].as_bytes());
        assert_eq!(hex(k.down_key()), r[2], "k_down of {} {}", r[0], r[1]);
        assert_eq!(hex(k.up_key()), r[3], "k_up of {} {}", r[0], r[1]);
    }
    let nonces = doc_table("link-nonces");
    assert!(nonces.len() >= 4);
    for r in &nonces {
        let (seq, expires): (u64, i64) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert_eq!(hex(&link::nonce(seq, expires)), r[2], "nonce of {seq}, {expires}");
    }

    let root = &secrets["A"];
    let id: &[u8] = b"lk_front_door";
    let keys = LinkKeys::derive(root, id);
    let doc_keys = keys_rows
        .iter()
        .find(|r| r[0] == "A" && r[1] == "lk_front_door")
        .expect("the keys of A, lk_front_door");
    let server = SigningKey::from_bytes(&[7; 32]);
    let lock = SigningKey::from_bytes(&[9; 32]);
    let changes = vector_sync_changes();
    let sealed: std::collections::HashMap<String, String> = doc_table("link-sealed")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let messages = doc_table("link-messages");
    assert_eq!(messages.len(), 3);
    for r in &messages {
        let name = r[0].as_str();
        let (seq, expires): (u64, i64) = (r[2].parse().unwrap(), r[3].parse().unwrap());
        let h = Header { seq, expires };
        let mut buf = [0u8; 512];
        let (n, plain_n, down) = match (name, r[1].as_str()) {
            ("Unlock { command: 7, user: 12 }", "down") | ("Sync { base: 3, version: 4 }", "down") => {
                let body = if name.starts_with("Unlock") {
                    Down::Unlock(Unlock { command: 7, user: 12 })
                } else {
                    Down::Sync(Sync::new(3, 4, &changes))
                };
                let n = seal_down(&server, Protection::Encrypted(&keys), id, h, &body, &mut buf).unwrap();
                let mut copy = buf[..n].to_vec();
                let opened = open_down(
                    &mut copy,
                    id,
                    &server.verifying_key(),
                    Protection::Encrypted(&keys),
                    &mut ReplayWindow::new(),
                    Clock::Untrusted { floor: 0 },
                )
                .unwrap();
                assert_eq!(opened.body, body, "{name}");
                let mut plain = [0u8; 512];
                let p = seal_down(&server, Protection::SignedOnly, id, h, &body, &mut plain).unwrap();
                (n, plain[..p].to_vec(), true)
            }
            ("UnlockResult { command: 7, outcome: Unlocked }", "up") => {
                let body = Up::UnlockResult(UnlockResult {
                    command: 7,
                    outcome: UnlockOutcome::Unlocked,
                });
                let n = seal_up(&lock, Protection::Encrypted(&keys), id, h, &body, &mut buf).unwrap();
                let mut copy = buf[..n].to_vec();
                let opened = open_up(
                    &mut copy,
                    id,
                    &lock.verifying_key(),
                    Protection::Encrypted(&keys),
                    &mut ReplayWindow::new(),
                    expires - 1,
                )
                .unwrap();
                assert_eq!(opened.body, body, "{name}");
                let mut plain = [0u8; 512];
                let p = seal_up(&lock, Protection::SignedOnly, id, h, &body, &mut plain).unwrap();
                (n, plain[..p].to_vec(), false)
            }
            other => panic!("a vector this test does not know: {other:?}"),
        };
        let bytes = &buf[..n];
        let (body, aad, ct, tag) = (&r[4], &r[5], &r[6], &r[7]);
        assert_eq!(&hex(&plain_body(&plain_n)), body, "{name}: body");
        let head = aad.len() / 2;
        assert_eq!(&hex(&bytes[..head]), aad, "{name}: header");
        assert_eq!(&hex(&bytes[head..head + ct.len() / 2]), ct, "{name}: ciphertext");
        assert_eq!(&hex(&bytes[head + ct.len() / 2..n - SIGNATURE_LEN]), tag, "{name}: tag");
        assert_eq!(&hex(bytes), &sealed[name], "{name}: the sealed message");
        // The same from the specification alone: ChaCha20-Poly1305 with the documented key and
        // nonce over the documented body and header, signed.
        let (aead_key, dir, signer) = if down {
            (unhex32(&doc_keys[2]), DOWN, &server)
        } else {
            (unhex32(&doc_keys[3]), UP, &lock)
        };
        let by_hand = hand_sealed(
            signer,
            dir,
            id,
            &aead_key,
            link::nonce(seq, expires),
            unhex(aad)[1],
            h,
            &unhex(body),
        );
        assert_eq!(hex(&by_hand), sealed[name], "{name}: built from the specification");
    }
}
