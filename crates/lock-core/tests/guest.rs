//! Guest codes in the lock core: windows, one-time use, issuers, deny entries, records.

mod common;

use common::*;
use latchkey_guest_code::{Code, Validity, mint};
use latchkey_lock_core::{Change, Credential, Decision, DenyEntry, GuestRecord, Input, Reason, Subject, UserKind};
use proptest::prelude::*;

const H: i64 = 3600;

fn code(slot: u8, epoch: u32, validity: Validity, one_time: bool) -> String {
    let key = ROOT.issuer_key(slot, epoch);
    mint(&key, LOCK_ID, slot, epoch, validity, one_time)
        .unwrap()
        .to_string()
}

fn window(start: i64, hours: u16) -> Validity {
    Validity::Window {
        start_hour: (start / H) as u32,
        hours,
    }
}

fn id(c: &str) -> u64 {
    Code::parse(c.as_bytes()).unwrap().as_u64()
}

fn issuers(lock: &mut TestLock, now: i64) {
    let changes: Vec<Change> = (0..8)
        .map(|slot| Change::SetIssuer {
            slot,
            epoch: 1,
            enabled: true,
        })
        .collect();
    sync(lock, &changes, now);
}

fn try_code(lock: &mut TestLock, c: &str, now: i64) -> Decision {
    lock.decide(Input::Keypad(c.as_bytes()), now)
}

fn deny(r: Reason) -> Decision {
    Decision::Deny(r)
}

#[test]
fn window_codes_across_a_dst_change() {
    // New York spring forward 2026-03-08 07:00Z. The Admin picks local 00:00-04:00 that night:
    // 05:00Z-08:00Z, three real hours; the code's window is UTC hours and ignores the offsets.
    let tz = "America/New_York";
    let start = at(tz, 2026, 3, 8, 0, 0);
    let end = at(tz, 2026, 3, 8, 4, 0);
    assert_eq!(end - start, 3 * H);
    let now = start - 2 * 86_400;
    let mut lock = lock_in(tz, now);
    issuers(&mut lock, now);
    let validity = Validity::covering(start, end).unwrap();
    let c = code(2, 1, validity, false);
    let granted = |lock: &mut TestLock, t| try_code(lock, &c, t);
    assert_eq!(granted(&mut lock, now), deny(Reason::NotYetValid));
    assert_eq!(granted(&mut lock, start - 1), deny(Reason::NotYetValid));
    for t in [
        start,
        start + H,
        at(tz, 2026, 3, 8, 1, 59),
        at(tz, 2026, 3, 8, 3, 0),
        end - 1,
    ] {
        let d = granted(&mut lock, t);
        assert_eq!(
            d,
            Decision::Grant {
                subject: Subject::GuestKey {
                    slot: 2,
                    code: id(&c),
                    key_id: None
                },
                credential: Credential::GuestCode,
                persist_first: false
            },
            "at {t}"
        );
    }
    assert_eq!(granted(&mut lock, end), deny(Reason::Expired));
    assert_eq!(granted(&mut lock, end + 50 * H), deny(Reason::Expired));
    assert_eq!(lock.wrong_entries(), 0, "NotYetValid and Expired do not count");
}

#[test]
fn one_time_codes_once_also_after_restore() {
    let now = T0;
    let mut lock = lock_in("UTC", now);
    issuers(&mut lock, now);
    let c = code(0, 1, window(now, 4), true);
    let d = try_code(&mut lock, &c, now + 60);
    assert_eq!(
        d,
        Decision::Grant {
            subject: Subject::GuestKey {
                slot: 0,
                code: id(&c),
                key_id: None
            },
            credential: Credential::GuestCode,
            persist_first: true
        }
    );
    assert!(lock.is_code_used(id(&c)));
    assert_eq!(try_code(&mut lock, &c, now + 120), deny(Reason::AlreadyUsed));
    let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(now + 180, true);
    assert_eq!(try_code(&mut back, &c, now + 180), deny(Reason::AlreadyUsed));
    assert_eq!(back.wrong_entries(), 0, "AlreadyUsed does not count");
    // A full snapshot does not forget it either.
    sync(&mut back, &[Change::ClearAll], now + 200);
    assert_eq!(try_code(&mut back, &c, now + 200), deny(Reason::AlreadyUsed));
}

#[test]
fn issuer_epochs_and_deny_entries() {
    let now = T0;
    let mut lock = lock_in("UTC", now);
    issuers(&mut lock, now);
    let v = window(now, 10);
    let codes: Vec<String> = (0..8).map(|slot| code(slot, 1, v, false)).collect();
    for c in &codes {
        assert!(try_code(&mut lock, c, now).is_grant());
    }
    // Bump slot 3's epoch: its codes die, reported as Revoked; the others still open.
    sync(
        &mut lock,
        &[Change::SetIssuer {
            slot: 3,
            epoch: 2,
            enabled: true,
        }],
        now,
    );
    for (slot, c) in codes.iter().enumerate() {
        let d = try_code(&mut lock, c, now);
        if slot == 3 {
            assert_eq!(d, deny(Reason::Revoked));
        } else {
            assert!(d.is_grant(), "slot {slot}");
        }
    }
    let fresh = code(3, 2, v, false);
    assert!(try_code(&mut lock, &fresh, now).is_grant());
    // Disable slot 5: Revoked too. Epochs never go back.
    sync(
        &mut lock,
        &[Change::SetIssuer {
            slot: 5,
            epoch: 1,
            enabled: false,
        }],
        now,
    );
    assert_eq!(try_code(&mut lock, &codes[5], now), deny(Reason::Revoked));
    let e = lock.apply(
        lock.applied_version() + 1,
        &[Change::SetIssuer {
            slot: 3,
            epoch: 1,
            enabled: true,
        }],
        now,
    );
    assert_eq!(e.unwrap_err().kind, latchkey_lock_core::ApplyErrorKind::EpochRegression);
    // A deny entry revokes one code.
    sync(
        &mut lock,
        &[Change::AddDenyEntry(DenyEntry {
            code: id(&codes[1]),
            expires: now + 11 * H,
        })],
        now,
    );
    assert_eq!(try_code(&mut lock, &codes[1], now), deny(Reason::Revoked));
    assert!(try_code(&mut lock, &codes[2], now).is_grant());
    assert_eq!(lock.wrong_entries(), 0, "Revoked does not count");
    // Expired deny entries are pruned at the next sync.
    sync(&mut lock, &[], now + 12 * H);
    assert!(lock.deny_entries().is_empty());
    // The issuer state survives a restore.
    let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(now + 12 * H, true);
    assert_eq!(try_code(&mut back, &codes[3], now + 12 * H), deny(Reason::Revoked));
    assert_eq!(try_code(&mut back, &codes[5], now + 12 * H), deny(Reason::Revoked));
    assert_eq!(try_code(&mut back, &codes[0], now + 12 * H), deny(Reason::Expired));
}

#[test]
fn synced_records_enforce_the_exact_window() {
    let now = T0; // a whole hour
    let mut lock = lock_in("UTC", now);
    issuers(&mut lock, now);
    // The Admin chose 12:17 to 14:41; the code covers 12:00-15:00; the record says exactly.
    let c = code(1, 1, window(now, 3), false);
    let rec = GuestRecord {
        code: id(&c),
        key_id: 42,
        from: now + 17 * 60,
        until: now + 2 * H + 41 * 60,
        one_time: false,
    };
    sync(&mut lock, &[Change::UpsertGuestKey(rec)], now);
    let key = Subject::GuestKey {
        slot: 1,
        code: id(&c),
        key_id: Some(42),
    };
    let cases = [
        (now + 16 * 60 + 59, deny(Reason::NotYetValid)),
        (
            now + 17 * 60,
            Decision::Grant {
                subject: key,
                credential: Credential::GuestCode,
                persist_first: false,
            },
        ),
        (
            now + 2 * H + 40 * 60 + 59,
            Decision::Grant {
                subject: key,
                credential: Credential::GuestCode,
                persist_first: false,
            },
        ),
        (now + 2 * H + 41 * 60, deny(Reason::Expired)),
    ];
    for (t, want) in cases {
        assert_eq!(try_code(&mut lock, &c, t), want, "at {}", t - now);
    }
    // A one-time record makes a reusable code one-time.
    let c2 = code(2, 1, window(now, 3), false);
    let t2 = now + 2 * H + 50 * 60;
    let rec2 = GuestRecord {
        code: id(&c2),
        key_id: 43,
        from: now,
        until: now + 3 * H,
        one_time: true,
    };
    sync(&mut lock, &[Change::UpsertGuestKey(rec2)], t2);
    assert!(try_code(&mut lock, &c2, t2).is_grant());
    assert_eq!(try_code(&mut lock, &c2, t2), deny(Reason::AlreadyUsed));
    // Held codes: only with a record.
    let held = code(4, 1, Validity::Held { serial: 7 }, false);
    let t = now + 3 * H;
    assert_eq!(try_code(&mut lock, &held, t), deny(Reason::NotSynced));
    assert_eq!(lock.wrong_entries(), 0, "a genuine held code does not count");
    let rec = GuestRecord {
        code: id(&held),
        key_id: 7,
        from: t,
        until: t + 30 * 86_400,
        one_time: true,
    };
    sync(&mut lock, &[Change::UpsertGuestKey(rec)], t);
    assert_eq!(
        try_code(&mut lock, &held, t + 20 * 86_400),
        Decision::Grant {
            subject: Subject::GuestKey {
                slot: 4,
                code: id(&held),
                key_id: Some(7)
            },
            credential: Credential::GuestCode,
            persist_first: true
        }
    );
    assert_eq!(try_code(&mut lock, &held, t + 20 * 86_400), deny(Reason::AlreadyUsed));
    sync(&mut lock, &[Change::RemoveGuestKey(id(&held))], t + 20 * 86_400);
    assert_eq!(try_code(&mut lock, &held, t + 20 * 86_400), deny(Reason::NotSynced));
}

#[test]
fn full_used_table_refuses_new_one_time_codes() {
    let now = T0;
    let mut lock = lock_in("UTC", now); // remembers 8
    issuers(&mut lock, now);
    let codes: Vec<String> = (0..9u32)
        .map(|i| code(0, 1, window(now + i64::from(i) * H, 24), true))
        .collect();
    for (i, c) in codes.iter().take(8).enumerate() {
        assert!(try_code(&mut lock, c, now + i as i64 * H + 1).is_grant(), "code {i}");
    }
    let t = now + 8 * H + 1;
    assert_eq!(try_code(&mut lock, &codes[8], t), deny(Reason::UsedTableFull));
    assert_eq!(
        try_code(&mut lock, &codes[0], t),
        deny(Reason::AlreadyUsed),
        "nothing was forgotten"
    );
    assert_eq!(lock.wrong_entries(), 0);
    // Once an old entry is past its window (+1 h) it may be pruned, and the new code is accepted.
    let later = now + 25 * H;
    assert_eq!(try_code(&mut lock, &codes[8], later - 1), deny(Reason::UsedTableFull));
    assert!(try_code(&mut lock, &codes[8], later).is_grant());
    assert_eq!(try_code(&mut lock, &codes[7], later), deny(Reason::AlreadyUsed));
}

#[test]
fn forged_codes_count_and_time_unknown_denies() {
    let now = T0;
    let mut lock = lock_in("UTC", now);
    issuers(&mut lock, now);
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111")))],
        now,
    );
    let c = code(0, 1, window(now, 2), false);
    let mut forged = c.clone().into_bytes();
    forged[11] = if forged[11] == b'9' { b'0' } else { forged[11] + 1 };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(try_code(&mut lock, &forged, now), deny(Reason::UnknownCredential));
    assert_eq!(lock.wrong_entries(), 1, "a forged code counts toward the lockout");
    for _ in 0..4 {
        try_code(&mut lock, &forged, now);
    }
    assert_eq!(
        try_code(&mut lock, &c, now),
        deny(Reason::LockedOut),
        "even a genuine code during a lockout"
    );
    assert!(lock.decide(Input::Remote(1), now).is_grant());
    // Untrusted time: genuine codes are TimeUnknown (not counted), forged ones still count.
    let mut lock = lock_in("UTC", now);
    issuers(&mut lock, now);
    lock.power_on(now + 10, false);
    assert_eq!(try_code(&mut lock, &c, now + 10), deny(Reason::TimeUnknown));
    assert_eq!(lock.wrong_entries(), 0);
    assert_eq!(try_code(&mut lock, &forged, now + 10), deny(Reason::UnknownCredential));
    assert_eq!(lock.wrong_entries(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every minted window code is granted inside its window and refused outside it with the
    /// right reason.
    #[test]
    fn minted_codes_inside_and_outside(slot in 0u8..8, start_off in 0i64..(150 * H), hours in 1u16..=168,
                                       one_time in any::<bool>(), probe in 0i64..(400 * H)) {
        let now0 = T0;
        let mut lock = lock_in("Australia/Lord_Howe", now0);
        issuers(&mut lock, now0);
        let start = (now0 + start_off) / H * H;
        let end = start + i64::from(hours) * H;
        let c = code(slot, 1, window(start, hours), one_time);
        let t = now0 + probe;
        let d = try_code(&mut lock, &c, t);
        if t < start {
            prop_assert!(matches!(d, Decision::Deny(Reason::NotYetValid | Reason::UnknownCredential)), "{:?}", d);
            if t >= start - 176 * H { prop_assert_eq!(d, Decision::Deny(Reason::NotYetValid)); }
        } else if t < end {
            prop_assert!(d.is_grant(), "{:?}", d);
        } else {
            prop_assert!(matches!(d, Decision::Deny(Reason::Expired | Reason::UnknownCredential)), "{:?}", d);
            if t < start + 193 * H { prop_assert_eq!(d, Decision::Deny(Reason::Expired)); }
        }
    }
}
