//! Helpers shared by the integration tests.
#![allow(dead_code)]

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use latchkey_lock_core::{
    Change, Decision, Key, Lock, OffsetEntry, Pin, RootSecret, Schedule, UserKind, UserRecord, Window,
};

/// A small lock, quick to build and to copy in property tests.
pub type TestLock = Lock<64, 64, 16, 16, 8, 64>;

pub const ROOT: RootSecret = RootSecret([7; 32]);
pub const LOCK_ID: &[u8] = b"lock-0001";

/// 2026-01-15T12:00:00Z, a Thursday.
pub const T0: i64 = 1_768_478_400;

pub fn new_lock() -> Box<TestLock> {
    Box::new(TestLock::new(LOCK_ID, ROOT).expect("identity"))
}

/// A lock with trusted time at `now` and an offset table for `tz` covering `now` ± 400 days.
pub fn lock_in(tz: &str, now: i64) -> Box<TestLock> {
    let mut lock = new_lock();
    let (entries, until) = offsets_for(tz, now - 400 * 86_400, now + 400 * 86_400);
    lock.apply(
        1,
        &[
            Change::SetTime(now),
            Change::SetOffsetTable {
                entries: &entries,
                valid_until: until,
            },
        ],
        now,
    )
    .expect("setup");
    lock
}

pub fn pin(s: &str) -> Pin {
    Pin::parse(s.as_bytes()).expect("pin")
}

pub fn user(id: u32, kind: UserKind, p: Option<&str>) -> UserRecord {
    UserRecord {
        id,
        enabled: true,
        kind,
        pin: p.map(pin),
    }
}

pub fn schedule(windows: &[(u8, u16, u16)]) -> Schedule {
    Schedule {
        windows: windows
            .iter()
            .map(|&(days, from, to)| Window { days, from, to })
            .collect(),
        dates: None,
    }
}

/// Applies one batch with the next version.
pub fn sync<const U: usize, const P: usize, const K: usize, const D: usize, const N: usize, const E: usize>(
    lock: &mut Lock<U, P, K, D, N, E>,
    changes: &[Change<'_>],
    now: i64,
) {
    let v = lock.applied_version() + 1;
    lock.apply(v, changes, now).expect("sync");
}

/// Types `digits` then `#` on the keypad, one key per second... all at `now`.
pub fn enter<const U: usize, const P: usize, const K: usize, const D: usize, const N: usize, const E: usize>(
    lock: &mut Lock<U, P, K, D, N, E>,
    digits: &str,
    now: i64,
) -> Decision {
    for c in digits.bytes() {
        assert_eq!(lock.press(Key::Digit(c - b'0'), now), None);
    }
    lock.press(Key::Confirm, now).expect("a decision")
}

/// The offset table for the IANA zone `tz` over `[from, to)`, built from jiff's transitions.
pub fn offsets_for(tz: &str, from: i64, to: i64) -> (Vec<OffsetEntry>, i64) {
    let zone = TimeZone::get(tz).expect("zone");
    let start = Timestamp::from_second(from).unwrap();
    let mut entries = vec![OffsetEntry {
        start: from,
        offset: zone.to_offset(start).seconds(),
    }];
    for t in zone.following(start) {
        let s = t.timestamp().as_second();
        if s >= to || entries.len() == 32 {
            break;
        }
        entries.push(OffsetEntry {
            start: s,
            offset: t.offset().seconds(),
        });
    }
    let until = if entries.len() == 32 {
        zone.following(start)
            .nth(31)
            .map(|t| t.timestamp().as_second())
            .unwrap_or(to)
            .min(to)
    } else {
        to
    };
    (entries, until)
}

/// The UTC instant of a local civil time in `tz` (earlier one when ambiguous; after the gap
/// when skipped, as jiff's "compatible" disambiguation does).
pub fn at(tz: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
    let zone = TimeZone::get(tz).unwrap();
    let dt = DateTime::new(y, mo, d, h, mi, 0, 0).unwrap();
    zone.to_timestamp(dt).unwrap().as_second()
}

/// UTC instant of a UTC civil time.
pub fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
    at("UTC", y, mo, d, h, mi)
}
