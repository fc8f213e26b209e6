//! The persisted state: round trips keep all observable behaviour; corruption is detected.

mod common;

use common::*;
use latchkey_lock_core::{Change, Decision, Input, Key, RestoreError, Settings, UserKind};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Upsert(u32, u8, Option<u32>),
    Remove(u32),
    Press(u8),
    Advance(i64),
    Remote(u32),
    Ack(u64),
    PowerOn(bool),
    SetTime,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..12, 0u8..4, proptest::option::of(0u32..20)).prop_map(|(id, k, p)| Op::Upsert(id, k, p)),
        (0u32..12).prop_map(Op::Remove),
        (0u8..13).prop_map(Op::Press),
        (0u8..13).prop_map(Op::Press),
        (0u8..13).prop_map(Op::Press),
        (0i64..400).prop_map(Op::Advance),
        (0u32..12).prop_map(Op::Remote),
        (0u64..40).prop_map(Op::Ack),
        any::<bool>().prop_map(Op::PowerOn),
        Just(Op::SetTime),
    ]
}

/// Runs one op; returns what the lock said, for comparison.
fn run(lock: &mut TestLock, now: &mut i64, op: &Op) -> Option<Decision> {
    match *op {
        Op::Upsert(id, k, p) => {
            let kind = match k {
                0 => UserKind::Unrestricted,
                1 => UserKind::Disposable,
                2 => UserKind::Expiring {
                    from: T0,
                    until: T0 + 3000,
                },
                _ => UserKind::ScheduleRestricted(schedule(&[(0x55, 600, 120)])),
            };
            let pin = p.map(|p| format!("{:06}", 100_000 + p * 37));
            let v = lock.applied_version() + 1;
            let _ = lock.apply(v, &[Change::UpsertUser(user(id, kind, pin.as_deref()))], *now);
            None
        }
        Op::Remove(id) => {
            let v = lock.applied_version() + 1;
            let _ = lock.apply(v, &[Change::RemoveUser(id)], *now);
            None
        }
        Op::Press(k) => {
            let key = match k {
                10 => Key::Confirm,
                11 => Key::Clear,
                12 => Key::Confirm,
                d => Key::Digit(d),
            };
            lock.press(key, *now)
        }
        Op::Advance(s) => {
            *now += s;
            None
        }
        Op::Remote(id) => Some(lock.decide(Input::Remote(id), *now)),
        Op::Ack(n) => {
            let s = lock.journal_stats().next_seq.saturating_sub(n);
            lock.ack(s);
            None
        }
        Op::PowerOn(rtc) => {
            lock.power_on(*now, rtc);
            None
        }
        Op::SetTime => {
            let v = lock.applied_version() + 1;
            let _ = lock.apply(v, &[Change::SetTime(*now)], *now);
            None
        }
    }
}

fn image(lock: &TestLock) -> Vec<u8> {
    let mut b = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut b).unwrap();
    b.truncate(n);
    b
}

fn setup() -> (Box<TestLock>, i64) {
    let mut lock = lock_in("Europe/Paris", T0);
    let s = Settings {
        lockout_attempts: 3,
        lockout_base_secs: 30,
        ..Settings::DEFAULT
    };
    sync(&mut lock, &[Change::Settings(s)], T0);
    (lock, T0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// After any history, a restored lock encodes identically and behaves identically.
    #[test]
    fn state_survives_save_and_restore(before in proptest::collection::vec(op(), 0..120),
                                       after in proptest::collection::vec(op(), 0..120)) {
        let (mut lock, mut now) = setup();
        for o in &before {
            run(&mut lock, &mut now, o);
        }
        // A partial keypad entry is not state: start the comparison from a clean keypad.
        lock.press(Key::Clear, now);
        let img = image(&lock);
        let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &img).unwrap());
        prop_assert_eq!(image(&back), img.clone());
        prop_assert!(!back.is_dirty());
        let mut now2 = now;
        for o in &after {
            let a = run(&mut lock, &mut now, o);
            let b = run(&mut back, &mut now2, o);
            prop_assert_eq!(a, b, "{:?}", o);
        }
        prop_assert_eq!(image(&lock), image(&back));
        prop_assert_eq!(lock.events().copied().collect::<Vec<_>>(), back.events().copied().collect::<Vec<_>>());
    }

    /// Any change of any byte, any truncation or extension, is detected.
    #[test]
    fn corruption_is_detected(ops in proptest::collection::vec(op(), 0..60), at in any::<prop::sample::Index>(), x in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let (mut lock, mut now) = setup();
        for o in &ops {
            run(&mut lock, &mut now, o);
        }
        let img = image(&lock);
        let mut bad = img.clone();
        bad[at.index(img.len())] ^= x;
        prop_assert!(TestLock::restore(LOCK_ID, ROOT, &bad).is_err());
        prop_assert!(TestLock::restore(LOCK_ID, ROOT, &img[..cut.index(img.len())]).is_err());
        let mut longer = img.clone();
        longer.push(0);
        prop_assert!(TestLock::restore(LOCK_ID, ROOT, &longer).is_err());
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = TestLock::restore(LOCK_ID, ROOT, &bytes);
    }
}

#[test]
fn every_single_byte_flip_is_detected_and_errors_are_specific() {
    let (mut lock, now) = setup();
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("123456")))],
        now,
    );
    let img = image(&lock);
    for i in 0..img.len() {
        for x in [1u8, 0x80, 0xff] {
            let mut bad = img.clone();
            bad[i] ^= x;
            assert!(TestLock::restore(LOCK_ID, ROOT, &bad).is_err(), "byte {i} ^ {x:#x}");
        }
    }
    assert_eq!(
        TestLock::restore(LOCK_ID, ROOT, &img[..10]).err(),
        Some(RestoreError::TooShort)
    );
    let mut b = img.clone();
    b[0] = b'X';
    assert_eq!(TestLock::restore(LOCK_ID, ROOT, &b).err(), Some(RestoreError::BadMagic));
    let mut b = img.clone();
    b[4] = 9;
    assert_eq!(
        TestLock::restore(LOCK_ID, ROOT, &b).err(),
        Some(RestoreError::UnsupportedVersion(9))
    );
    let mut b = img.clone();
    b[20] ^= 1;
    assert_eq!(
        TestLock::restore(LOCK_ID, ROOT, &b).err(),
        Some(RestoreError::BadChecksum)
    );
    assert_eq!(
        TestLock::restore(b"another-lock", ROOT, &img).err(),
        Some(RestoreError::WrongLock)
    );
    // A valid checksum over invalid content is still refused (here: a PIN of 5 digits).
    let mut b = img.clone();
    let n = b.len();
    let body = n - 4;
    // Find the user's PIN length byte (6) right after id (1), flags (3) and value.
    let pos = b.windows(5).position(|w| w == [1, 0, 0, 0, 3]).unwrap() + 5 + 4;
    assert_eq!(b[pos], 6);
    b[pos] = 5;
    let crc = latchkey_lock_core::crc32(&b[..body]);
    b[body..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        TestLock::restore(LOCK_ID, ROOT, &b).err(),
        Some(RestoreError::Invalid("users"))
    );
    // The buffer must be large enough.
    let mut small = vec![0u8; img.len() - 1];
    assert!(lock.save(&mut small).is_err());
}

/// A state image of format 1, as the lock core before the time-only lockout decay wrote it
/// (commit 374608d, `StandardLock`, lock id `lock-0001`, root `[7; 32]`): settings 15 s / 4
/// attempts / 45 s / 2,000 s / 43,200 s; issuers 0 (epoch 2) and 3 (epoch 2, epoch 1
/// revoked); users 1 (unrestricted, `111111`), 2 (schedule with dates, `0222222`), 3
/// (disposable, `333333`, used), 4 (expiring, `44444444`), 5 (disabled, `55555555`), 6 (no
/// PIN); a guest record, a deny entry, a used one-time code; two lockouts (the second, of
/// 90 s, in force until 1768478555); a lost clock, then the server's time 1768478473 in sync
/// version 8; events 1 and 2 acknowledged, 3 to 21 held.
const V1_IMAGE: &[u8] = include_bytes!("fixtures/standard-lock-v1.bin");
const V1_FLOOR: i64 = 1_768_478_473;
const V1_LOCKED_UNTIL: i64 = 1_768_478_555;

#[test]
fn a_format_1_image_still_loads_and_keeps_its_meaning() {
    use latchkey_lock_core::{
        EventKind, FORMAT_VERSION, GuestRecord, LockoutStatus, Reason, StandardLock, TimeCause, TimeState,
    };
    assert_eq!(&V1_IMAGE[..4], b"LKCS");
    assert_eq!(u16::from_le_bytes([V1_IMAGE[4], V1_IMAGE[5]]), 1);
    assert_eq!(FORMAT_VERSION, 2);
    let mut lock = Box::new(StandardLock::restore(LOCK_ID, ROOT, V1_IMAGE).expect("a format 1 image loads"));
    assert!(!lock.is_dirty());
    assert_eq!(lock.applied_version(), 8);
    assert_eq!(
        *lock.settings(),
        Settings {
            keypad_timeout_secs: 15,
            lockout_attempts: 4,
            lockout_base_secs: 45,
            lockout_max_secs: 2000,
            lockout_forget_secs: 43_200,
        }
    );
    assert_eq!((lock.time_state(), lock.time_floor()), (TimeState::Trusted, V1_FLOOR));
    let counts = lock.counts();
    assert_eq!(
        (
            counts.users,
            counts.pins,
            counts.guest_keys,
            counts.deny_entries,
            counts.used
        ),
        (6, 5, 1, 1, 2)
    );
    assert_eq!(
        lock.guest_keys()[0],
        GuestRecord {
            code: 123_456_789_012,
            key_id: 77,
            from: 1_768_474_800,
            until: 1_768_564_800,
            one_time: false,
        }
    );
    assert_eq!(lock.issuers()[3].revoked_epoch, Some(1));
    let seqs: Vec<u64> = lock.events().map(|e| e.seq).collect();
    assert_eq!(seqs, (3..=21).collect::<Vec<_>>());
    assert!(matches!(
        lock.events().last().map(|e| e.kind),
        Some(EventKind::SyncApplied { version: 8 })
    ));
    assert!(lock.events().any(|e| e.kind
        == EventKind::TimeUntrusted {
            cause: TimeCause::RtcLost
        }));
    // The lockout in force is the same: level 2, until the same instant.
    lock.power_on(V1_FLOOR + 20, true);
    assert_eq!(
        lock.lockout_status(V1_FLOOR + 20),
        LockoutStatus {
            wrong_entries: 0,
            level: 2,
            locked_until: Some(V1_LOCKED_UNTIL),
        }
    );
    let t = V1_LOCKED_UNTIL;
    assert_eq!(
        lock.decide(Input::Keypad(b"111111"), t - 1),
        Decision::Deny(Reason::LockedOut)
    );
    assert!(lock.decide(Input::Keypad(b"111111"), t).is_grant());
    // Thursday 13:02 in Berlin: inside the weekday window of user 2.
    assert!(lock.decide(Input::Keypad(b"0222222"), t).is_grant());
    assert_eq!(
        lock.decide(Input::Keypad(b"333333"), t),
        Decision::Deny(Reason::AlreadyUsed)
    );
    assert!(lock.decide(Input::Keypad(b"44444444"), t).is_grant());
    assert_eq!(
        lock.decide(Input::Keypad(b"55555555"), t),
        Decision::Deny(Reason::Disabled)
    );
    // The doubling goes on from level 2: the next lockout is the third, 180 s.
    for _ in 0..4 {
        lock.decide(Input::Keypad(b"999999"), t);
    }
    assert_eq!(lock.locked_until(t), Some(t + 180));
    // Saving writes format 2, which reads back to the same image.
    let mut buf = vec![0u8; StandardLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    assert_eq!(u16::from_le_bytes([buf[4], buf[5]]), 2);
    let back = StandardLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap();
    let mut again = vec![0u8; StandardLock::MAX_ENCODED_LEN];
    let m = back.save(&mut again).unwrap();
    assert_eq!(buf[..n], again[..m]);
    assert_eq!(back.locked_until(t + 1), Some(t + 180));
}

#[test]
fn a_format_1_lockout_that_had_ended_is_not_revived() {
    use latchkey_lock_core::StandardLock;
    let mut lock = Box::new(StandardLock::restore(LOCK_ID, ROOT, V1_IMAGE).unwrap());
    // The clock went back to before the lockout's start: its remainder as of the last known
    // good time (82 s) is served again from the new clock, as format 1 meant.
    lock.power_on(V1_FLOOR - 1000, true);
    assert_eq!(lock.locked_until(V1_FLOOR - 1000), Some(V1_FLOOR - 1000 + 82));
    // Much later with the clock kept: over.
    let mut lock = Box::new(StandardLock::restore(LOCK_ID, ROOT, V1_IMAGE).unwrap());
    lock.power_on(V1_LOCKED_UNTIL + 5, true);
    assert_eq!(lock.locked_until(V1_LOCKED_UNTIL + 5), None);
}
