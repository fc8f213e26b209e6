//! Local-time schedules across daylight-saving changes: explicit cases, and a property test
//! against an independent oracle (jiff and the IANA database).

mod common;

use common::*;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use latchkey_lock_core::{Change, Input, LocalDate, Reason, Schedule, UserKind, Window};
use proptest::prelude::*;

const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Santiago",
    "Australia/Sydney",
];

/// 2026-01-01T00:00:00Z.
const YEAR_START: i64 = 1_767_225_600;
const YEAR: i64 = 365 * 86_400;

/// The oracle: is the local time of `t` in `tz` (per jiff) inside the schedule?
fn oracle(tz: &TimeZone, s: &Schedule, t: i64) -> bool {
    let z = Timestamp::from_second(t).unwrap().to_zoned_datetime(tz.clone());
    let minute = z.hour() as u16 * 60 + z.minute() as u16;
    let date = z.date();
    let yesterday = date.yesterday().unwrap();
    let in_range = |d: Date| match s.dates {
        None => true,
        Some((a, b)) => {
            let (ay, am, ad) = a.ymd();
            let (by, bm, bd) = b.ymd();
            let a = Date::new(ay as i16, am as i8, ad as i8).unwrap();
            let b = Date::new(by as i16, bm as i8, bd as i8).unwrap();
            a <= d && d <= b
        }
    };
    let has = |w: &Window, d: Date| w.days & (1 << d.weekday().to_sunday_zero_offset()) != 0;
    s.windows.iter().any(|w| {
        if w.from < w.to {
            has(w, date) && w.from <= minute && minute < w.to && in_range(date)
        } else {
            (has(w, date) && minute >= w.from && in_range(date))
                || (has(w, yesterday) && minute < w.to && in_range(yesterday))
        }
    })
}

fn guest_lock(tz: &str, s: Schedule, start: i64) -> Box<TestLock> {
    let mut lock = new_lock();
    let (entries, until) = offsets_for(tz, start - 86_400, start + YEAR + 40 * 86_400);
    lock.apply(
        1,
        &[
            Change::SetTime(start),
            Change::SetOffsetTable {
                entries: &entries,
                valid_until: until,
            },
            Change::UpsertUser(user(1, UserKind::ScheduleRestricted(s), None)),
        ],
        start,
    )
    .unwrap();
    lock
}

/// (zone, window (days, from, to), UTC instant, expected grant, what it shows)
type Case<'a> = (&'a str, (u8, u16, u16), i64, bool, &'a str);

#[test]
fn explicit_dst_cases() {
    const SUN: u8 = 1;
    const SAT: u8 = 1 << 6;
    let ny = "America/New_York";
    let lon = "Europe/London";
    let lh = "Australia/Lord_Howe";
    let ktm = "Asia/Kathmandu";
    let scl = "America/Santiago";
    let cases: Vec<Case> = vec![
        // New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
        (
            ny,
            (SUN, 150, 210),
            utc(2026, 3, 8, 6, 59),
            false,
            "01:59 EST, before the window",
        ),
        (
            ny,
            (SUN, 150, 210),
            utc(2026, 3, 8, 7, 0),
            true,
            "02:30-03:30 opens at the jump (03:00 EDT)",
        ),
        (ny, (SUN, 150, 210), utc(2026, 3, 8, 7, 29), true, "03:29 EDT"),
        (
            ny,
            (SUN, 150, 210),
            utc(2026, 3, 8, 7, 30),
            false,
            "closes at 03:30 EDT",
        ),
        (
            ny,
            (SUN, 60, 150),
            utc(2026, 3, 8, 6, 59),
            true,
            "01:00-02:30: 01:59 EST inside",
        ),
        (
            ny,
            (SUN, 60, 150),
            utc(2026, 3, 8, 7, 0),
            false,
            "01:00-02:30 ends at the jump",
        ),
        (
            ny,
            (SUN, 130, 145),
            utc(2026, 3, 8, 7, 0),
            false,
            "02:10-02:25 never exists that day",
        ),
        // New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
        (ny, (SUN, 60, 120), utc(2026, 11, 1, 4, 59), false, "00:59 EDT"),
        (
            ny,
            (SUN, 60, 120),
            utc(2026, 11, 1, 5, 0),
            true,
            "01:00 EDT, first time",
        ),
        (ny, (SUN, 60, 120), utc(2026, 11, 1, 5, 59), true, "01:59 EDT"),
        (
            ny,
            (SUN, 60, 120),
            utc(2026, 11, 1, 6, 0),
            true,
            "01:00 EST, second time: two real hours",
        ),
        (ny, (SUN, 60, 120), utc(2026, 11, 1, 6, 59), true, "01:59 EST"),
        (ny, (SUN, 60, 120), utc(2026, 11, 1, 7, 0), false, "02:00 EST"),
        (
            ny,
            (SUN, 90, 180),
            utc(2026, 11, 1, 5, 29),
            false,
            "01:29 EDT, before a window starting in the repeated hour",
        ),
        (ny, (SUN, 90, 180), utc(2026, 11, 1, 5, 30), true, "01:30 EDT"),
        (
            ny,
            (SUN, 90, 180),
            utc(2026, 11, 1, 6, 10),
            false,
            "01:10 EST: the wall clock went back before 01:30: closed again",
        ),
        (
            ny,
            (SUN, 90, 180),
            utc(2026, 11, 1, 6, 30),
            true,
            "01:30 EST: open again",
        ),
        (
            ny,
            (SUN, 0, 90),
            utc(2026, 11, 1, 6, 15),
            true,
            "00:00-01:30 reopens at 01:15 EST",
        ),
        // London, spring 2026-03-29 01:00 GMT -> 02:00 BST; fall 2026-10-25 02:00 BST -> 01:00 GMT.
        (lon, (SUN, 75, 105), utc(2026, 3, 29, 0, 59), false, "00:59 GMT"),
        (
            lon,
            (SUN, 75, 105),
            utc(2026, 3, 29, 1, 0),
            false,
            "01:15-01:45 does not exist that day",
        ),
        (lon, (SUN, 60, 120), utc(2026, 10, 25, 0, 0), true, "01:00 BST"),
        (
            lon,
            (SUN, 60, 120),
            utc(2026, 10, 25, 1, 30),
            true,
            "01:30 GMT, second time",
        ),
        (lon, (SUN, 60, 120), utc(2026, 10, 25, 2, 0), false, "02:00 GMT"),
        // Lord Howe: 30-minute shifts. 2026-04-05 02:00 +11 -> 01:30 +10:30 (15:00Z Apr 4);
        // 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z Oct 3).
        (lh, (SUN, 90, 120), utc(2026, 4, 4, 14, 30), true, "01:30 +11"),
        (
            lh,
            (SUN, 90, 120),
            utc(2026, 4, 4, 15, 0),
            true,
            "01:30 +10:30, the repeated half hour",
        ),
        (lh, (SUN, 90, 120), utc(2026, 4, 4, 15, 29), true, "01:59 +10:30"),
        (lh, (SUN, 90, 120), utc(2026, 4, 4, 15, 30), false, "02:00 +10:30"),
        (lh, (SUN, 135, 180), utc(2026, 10, 3, 15, 29), false, "01:59 +10:30"),
        (
            lh,
            (SUN, 135, 180),
            utc(2026, 10, 3, 15, 30),
            true,
            "02:15-03:00 opens at the jump to 02:30",
        ),
        (
            lh,
            (SUN, 120, 150),
            utc(2026, 10, 3, 15, 30),
            false,
            "02:00-02:30 never exists",
        ),
        // Kathmandu +05:45, no DST: 09:00-17:00 local is 03:15-11:15 UTC.
        (ktm, (0x7f, 540, 1020), utc(2026, 6, 1, 3, 14), false, "08:59"),
        (ktm, (0x7f, 540, 1020), utc(2026, 6, 1, 3, 15), true, "09:00"),
        (ktm, (0x7f, 540, 1020), utc(2026, 6, 1, 11, 14), true, "16:59"),
        (ktm, (0x7f, 540, 1020), utc(2026, 6, 1, 11, 15), false, "17:00"),
        // Santiago (southern hemisphere, changes at midnight): 2026-04-05 00:00 -03 -> Sat 23:00
        // -04 (03:00Z); 2026-09-06 00:00 -04 -> 01:00 -03 (04:00Z).
        (scl, (SAT, 1380, 30), utc(2026, 4, 5, 2, 59), true, "Sat 23:59 -03"),
        (
            scl,
            (SAT, 1380, 30),
            utc(2026, 4, 5, 3, 0),
            true,
            "Sat 23:00 -04 again: the window runs 2.5 h",
        ),
        (scl, (SAT, 1380, 30), utc(2026, 4, 5, 4, 29), true, "Sun 00:29 -04"),
        (scl, (SAT, 1380, 30), utc(2026, 4, 5, 4, 30), false, "Sun 00:30 -04"),
        (scl, (SAT, 1320, 30), utc(2026, 9, 6, 3, 59), true, "Sat 23:59 -04"),
        (
            scl,
            (SAT, 1320, 30),
            utc(2026, 9, 6, 4, 0),
            false,
            "midnight skipped to 01:00: past 00:30",
        ),
        (
            scl,
            (SUN, 0, 60),
            utc(2026, 9, 6, 4, 0),
            false,
            "Sunday 00:00-01:00 does not exist that day",
        ),
        (
            scl,
            (SUN, 0, 90),
            utc(2026, 9, 6, 4, 0),
            true,
            "Sunday 00:00-01:30 opens at 01:00",
        ),
    ];
    for (tz, (days, from, to), t, want, what) in cases {
        let s = Schedule {
            windows: [Window { days, from, to }].into_iter().collect(),
            dates: None,
        };
        let zone = TimeZone::get(tz).unwrap();
        assert_eq!(
            oracle(&zone, &s, t),
            want,
            "oracle disagrees with the table: {tz} {what}"
        );
        let mut lock = guest_lock(tz, s, t - 86_400);
        let d = lock.decide(Input::Remote(1), t);
        assert_eq!(d.is_grant(), want, "{tz}: {what}: {d:?}");
    }
}

fn window() -> impl Strategy<Value = Window> {
    (1u8..0x80, 0u16..1440, 0u16..=1440)
        .prop_filter("from != to", |(_, f, t)| f != t)
        .prop_map(|(days, from, to)| Window { days, from, to })
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        proptest::collection::vec(window(), 1..=4),
        proptest::option::of((0i32..300, 0i32..200)),
    )
        .prop_map(|(ws, dates)| Schedule {
            windows: ws.into_iter().collect(),
            dates: dates.map(|(a, len)| (LocalDate(20_454 + a), LocalDate(20_454 + a + len))),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// For random schedules and random instants over a year, the core grants a Recurring Guest
    /// exactly when jiff's civil time of the instant falls inside a window.
    #[test]
    fn recurring_guest_matches_jiff(
        zone in 0usize..ZONES.len(),
        s in schedule(),
        mut instants in proptest::collection::vec(0i64..YEAR, 200),
        near_dst in proptest::collection::vec((0usize..8, -7200i64..7200), 60),
    ) {
        let tz_name = ZONES[zone];
        let tz = TimeZone::get(tz_name).unwrap();
        // Add instants around this zone's transitions, where the interesting cases are.
        let transitions: Vec<i64> = tz
            .following(Timestamp::from_second(YEAR_START).unwrap())
            .take(8)
            .map(|t| t.timestamp().as_second() - YEAR_START)
            .collect();
        for (i, d) in near_dst {
            if let Some(t) = transitions.get(i % transitions.len().max(1)) {
                instants.push((t + d).clamp(0, YEAR - 1));
            }
        }
        instants.sort_unstable();
        let mut lock = guest_lock(tz_name, s.clone(), YEAR_START);
        for off in instants {
            let t = YEAR_START + off;
            let d = lock.decide(Input::Remote(1), t);
            let want = oracle(&tz, &s, t);
            prop_assert_eq!(d.is_grant(), want, "{} at {} ({:?})", tz_name, Timestamp::from_second(t).unwrap().to_zoned_datetime(tz.clone()), d);
            if !want {
                prop_assert!(matches!(d, latchkey_lock_core::Decision::Deny(Reason::OutsideSchedule | Reason::NotYetValid | Reason::Expired)));
            }
        }
    }
}
