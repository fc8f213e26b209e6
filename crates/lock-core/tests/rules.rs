//! Table-driven tests: one or more for every rule and every denial reason of the lock core.

mod common;

use common::*;
use latchkey_lock_core::{
    ApplyErrorKind, Change, Credential, Decision, EventKind, Input, Key, LocalDate, Method, Reason, Settings, Subject,
    TimeCause, TimeState, UserKind,
};

const NY: &str = "America/New_York";

fn deny(r: Reason) -> Decision {
    Decision::Deny(r)
}

#[test]
fn pins_users_and_reasons() {
    // 2026-01-15 is a Thursday (bit 4).
    let now = at(NY, 2026, 1, 15, 10, 0);
    let mut lock = lock_in(NY, now);
    let mut disabled = user(3, UserKind::Unrestricted, Some("33333333"));
    disabled.enabled = false;
    sync(
        &mut lock,
        &[
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
            Change::UpsertUser(user(2, UserKind::Unrestricted, Some("0222222"))),
            Change::UpsertUser(disabled),
            Change::UpsertUser(user(
                4,
                UserKind::ScheduleRestricted(schedule(&[(1 << 4, 540, 1020)])),
                Some("444444"),
            )),
            Change::UpsertUser(user(
                5,
                UserKind::ScheduleRestricted(schedule(&[(1 << 5, 540, 1020)])),
                Some("555555"),
            )),
            Change::UpsertUser(user(
                6,
                UserKind::Expiring {
                    from: now + 60,
                    until: now + 120,
                },
                Some("666666"),
            )),
            Change::UpsertUser(user(
                7,
                UserKind::Expiring {
                    from: now - 60,
                    until: now,
                },
                Some("777777"),
            )),
            Change::UpsertUser(user(
                8,
                UserKind::Expiring {
                    from: now - 60,
                    until: now + 1,
                },
                Some("888888"),
            )),
        ],
        now,
    );
    let cases: &[(&str, Decision)] = &[
        (
            "111111",
            Decision::Grant {
                subject: Subject::User(1),
                credential: Credential::Pin,
                persist_first: false,
            },
        ),
        (
            "0222222",
            Decision::Grant {
                subject: Subject::User(2),
                credential: Credential::Pin,
                persist_first: false,
            },
        ),
        ("222222", deny(Reason::UnknownCredential)), // leading zeros matter
        ("33333333", deny(Reason::Disabled)),
        (
            "444444",
            Decision::Grant {
                subject: Subject::User(4),
                credential: Credential::Pin,
                persist_first: false,
            },
        ),
        ("555555", deny(Reason::OutsideSchedule)),
        ("666666", deny(Reason::NotYetValid)),
        ("777777", deny(Reason::Expired)),
        (
            "888888",
            Decision::Grant {
                subject: Subject::User(8),
                credential: Credential::Pin,
                persist_first: false,
            },
        ),
        ("123456", deny(Reason::UnknownCredential)),
    ];
    for (entry, want) in cases {
        assert_eq!(enter(&mut lock, entry, now), *want, "entry {entry}");
        lock.press(Key::Clear, now); // keep the lockout count out of this table
        if !want.is_grant() {
            // a grant resets the count; make sure the table never reaches the lockout
            enter(&mut lock, "111111", now);
        }
    }
}

#[test]
fn wrong_lengths_are_unknown_and_never_panic() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("123456")))],
        now,
    );
    let mut settings = Settings::DEFAULT;
    settings.lockout_attempts = 100;
    sync(&mut lock, &[Change::Settings(settings)], now);
    for entry in [
        "1",
        "12345",
        "123456789",
        "1234567890",
        "12345678901",
        "1234567890123",
        "99999999999999999999999999",
    ] {
        assert_eq!(enter(&mut lock, entry, now), deny(Reason::UnknownCredential), "{entry}");
    }
    // Direct inputs with non-digits or huge lengths never panic either.
    for entry in [&b"12345a"[..], b"", b"\xff\xff\xff\xff\xff\xff", &[b'1'; 10_000][..]] {
        assert_eq!(lock.decide(Input::Keypad(entry), now), deny(Reason::UnknownCredential));
    }
    assert_eq!(lock.press(Key::Digit(10), now), None);
    assert_eq!(
        lock.press(Key::Confirm, now),
        Some(deny(Reason::UnknownCredential)),
        "a bad key makes the entry wrong"
    );
    assert_eq!(lock.press(Key::Confirm, now), None, "an empty entry decides nothing");
    assert!(enter(&mut lock, "123456", now).is_grant());
}

#[test]
fn keypad_clear_and_timeout() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("123456")))],
        now,
    );
    // '*' clears.
    for d in [9, 9, 9] {
        lock.press(Key::Digit(d), now);
    }
    lock.press(Key::Clear, now);
    assert!(enter(&mut lock, "123456", now).is_grant());
    // A pause of exactly the timeout keeps the entry; one second more discards it.
    let t = lock.settings().keypad_timeout_secs as i64;
    for (pause, expect_grant) in [(t, true), (t + 1, false)] {
        lock.press(Key::Digit(1), now);
        lock.press(Key::Digit(2), now);
        lock.press(Key::Digit(3), now);
        let later = now + pause;
        for d in [4, 5, 6] {
            lock.press(Key::Digit(d), later);
        }
        let d = lock.press(Key::Confirm, later).unwrap();
        assert_eq!(d.is_grant(), expect_grant, "pause {pause}");
    }
    // A clock that goes back between keys also discards.
    lock.press(Key::Digit(1), now + 100);
    for d in [1, 2, 3, 4, 5, 6] {
        lock.press(Key::Digit(d), now + 50);
    }
    assert!(lock.press(Key::Confirm, now + 50).unwrap().is_grant());
}

#[test]
fn untrusted_time_denies_time_bounded_but_not_unrestricted() {
    let now = at(NY, 2026, 1, 15, 10, 0);
    let mut lock = lock_in(NY, now);
    sync(
        &mut lock,
        &[
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
            Change::UpsertUser(user(
                4,
                UserKind::ScheduleRestricted(schedule(&[(0x7f, 0, 1440)])),
                Some("444444"),
            )),
            Change::UpsertUser(user(
                6,
                UserKind::Expiring {
                    from: now - 10,
                    until: now + 10_000,
                },
                Some("666666"),
            )),
            Change::UpsertUser(user(9, UserKind::Disposable, Some("999999"))),
        ],
        now,
    );
    assert!(enter(&mut lock, "444444", now).is_grant());
    lock.power_on(now + 5, false);
    assert_eq!(lock.time_state(), TimeState::Untrusted);
    let later = now + 10;
    assert!(enter(&mut lock, "111111", later).is_grant(), "Admin/Family still open");
    assert_eq!(enter(&mut lock, "444444", later), deny(Reason::TimeUnknown));
    assert_eq!(enter(&mut lock, "666666", later), deny(Reason::TimeUnknown));
    assert!(
        enter(&mut lock, "999999", later).is_grant(),
        "Disposable has no time bound"
    );
    assert_eq!(lock.decide(Input::Remote(4), later), deny(Reason::TimeUnknown));
    assert_eq!(lock.wrong_entries(), 0, "TimeUnknown does not count toward the lockout");
    // The server's time makes it trusted again.
    sync(&mut lock, &[Change::SetTime(later)], later);
    assert_eq!(lock.time_state(), TimeState::Trusted);
    assert!(enter(&mut lock, "444444", later).is_grant());
}

#[test]
fn clock_floor_and_rollback() {
    let now = at(NY, 2026, 1, 15, 10, 0);
    let mut lock = lock_in(NY, now);
    sync(
        &mut lock,
        &[Change::UpsertUser(user(
            6,
            UserKind::Expiring {
                from: now - 10,
                until: now + 100_000,
            },
            Some("666666"),
        ))],
        now,
    );
    assert!(enter(&mut lock, "666666", now + 1000).is_grant());
    assert_eq!(lock.time_floor(), now + 1000);
    // A clock earlier than the floor is not believed.
    assert_eq!(enter(&mut lock, "666666", now + 999), deny(Reason::TimeUnknown));
    assert_eq!(lock.time_state(), TimeState::Untrusted);
    assert!(lock.events().any(|e| e.kind
        == EventKind::TimeUntrusted {
            cause: TimeCause::Rollback
        }));
    // Untrusted time never advances the floor.
    enter(&mut lock, "666666", now + 50_000);
    assert_eq!(lock.time_floor(), now + 1000);
    // Power-on with a surviving clock keeps trust; a clock earlier than the floor does not.
    sync(&mut lock, &[Change::SetTime(now + 2000)], now + 2000);
    lock.power_on(now + 3000, true);
    assert_eq!(lock.time_state(), TimeState::Trusted);
    lock.power_on(now + 2500, true);
    assert_eq!(lock.time_state(), TimeState::Untrusted);
    // Past the end of the offset table local time is unknown: Recurring Guests get TimeUnknown,
    // UTC-bounded credentials still work.
    let mut lock = lock_in(NY, now);
    sync(
        &mut lock,
        &[
            Change::UpsertUser(user(
                4,
                UserKind::ScheduleRestricted(schedule(&[(0x7f, 0, 1440)])),
                Some("444444"),
            )),
            Change::UpsertUser(user(
                6,
                UserKind::Expiring {
                    from: now - 10,
                    until: now + 1000 * 86_400,
                },
                Some("666666"),
            )),
        ],
        now,
    );
    let end = lock.offset_table().valid_until();
    assert!(enter(&mut lock, "444444", end - 1).is_grant());
    assert_eq!(enter(&mut lock, "444444", end), deny(Reason::TimeUnknown));
    assert!(enter(&mut lock, "666666", end).is_grant());
}

#[test]
fn schedules_midnight_and_date_ranges() {
    // Window Friday 22:00 -> 02:00 (bit 5 = Friday), dates 2026-01-16 ..= 2026-01-23 (Fridays).
    let tz = "Europe/Berlin";
    let now = at(tz, 2026, 1, 14, 12, 0);
    let mut lock = lock_in(tz, now);
    let mut s = schedule(&[(1 << 5, 22 * 60, 2 * 60)]);
    s.dates = Some((
        LocalDate::from_ymd(2026, 1, 16).unwrap(),
        LocalDate::from_ymd(2026, 1, 23).unwrap(),
    ));
    sync(
        &mut lock,
        &[Change::UpsertUser(user(
            4,
            UserKind::ScheduleRestricted(s),
            Some("444444"),
        ))],
        now,
    );
    let cases = [
        (at(tz, 2026, 1, 9, 23, 0), deny(Reason::NotYetValid)), // a Friday before the range
        (at(tz, 2026, 1, 16, 21, 59), deny(Reason::OutsideSchedule)),
        (
            at(tz, 2026, 1, 16, 22, 0),
            Decision::Grant {
                subject: Subject::User(4),
                credential: Credential::Remote,
                persist_first: false,
            },
        ),
        (
            at(tz, 2026, 1, 17, 1, 59),
            Decision::Grant {
                subject: Subject::User(4),
                credential: Credential::Remote,
                persist_first: false,
            },
        ),
        (at(tz, 2026, 1, 17, 2, 0), deny(Reason::OutsideSchedule)),
        // Saturday 22:00: the mask names the start day (Friday), so Saturday night is closed.
        (at(tz, 2026, 1, 17, 22, 30), deny(Reason::OutsideSchedule)),
        // Thursday 01:00: would belong to a Wednesday window: closed.
        (at(tz, 2026, 1, 22, 1, 0), deny(Reason::OutsideSchedule)),
        // The last date's window runs past midnight into a date outside the range.
        (
            at(tz, 2026, 1, 24, 1, 0),
            Decision::Grant {
                subject: Subject::User(4),
                credential: Credential::Remote,
                persist_first: false,
            },
        ),
        (at(tz, 2026, 1, 24, 2, 0), deny(Reason::Expired)),
        (at(tz, 2026, 1, 30, 23, 0), deny(Reason::Expired)),
    ];
    for (t, want) in cases {
        // Remote commands use the same rights and schedule checks.
        sync(&mut lock, &[Change::SetTime(t)], t);
        assert_eq!(lock.decide(Input::Remote(4), t), want, "at {t}");
    }
}

#[test]
fn disposable_remote_and_used_table() {
    let now = T0;
    let mut lock = new_lock(); // TestLock remembers 8 used credentials
    sync(&mut lock, &[Change::SetTime(now)], now);
    for id in 1..=9 {
        sync(
            &mut lock,
            &[Change::UpsertUser(user(
                id,
                UserKind::Disposable,
                Some(&format!("10000{id}")),
            ))],
            now,
        );
    }
    assert_eq!(
        enter(&mut lock, "100001", now),
        Decision::Grant {
            subject: Subject::User(1),
            credential: Credential::Pin,
            persist_first: true
        }
    );
    assert!(lock.is_dirty());
    assert_eq!(enter(&mut lock, "100001", now), deny(Reason::AlreadyUsed));
    assert_eq!(lock.decide(Input::Remote(1), now), deny(Reason::AlreadyUsed));
    assert_eq!(
        lock.decide(Input::Remote(2), now),
        Decision::Grant {
            subject: Subject::User(2),
            credential: Credential::Remote,
            persist_first: true
        }
    );
    for id in 3..=8 {
        assert!(lock.decide(Input::Remote(id), now).is_grant());
    }
    // The table is full: a new one-time use is refused rather than an old one forgotten.
    assert_eq!(lock.decide(Input::Remote(9), now), deny(Reason::UsedTableFull));
    assert_eq!(lock.decide(Input::Remote(1), now), deny(Reason::AlreadyUsed));
    // Removing a disposable user frees its entry.
    sync(&mut lock, &[Change::RemoveUser(1)], now);
    assert!(lock.decide(Input::Remote(9), now).is_grant());
    // A full snapshot that still holds user 2 remembers its use.
    sync(
        &mut lock,
        &[
            Change::ClearAll,
            Change::UpsertUser(user(2, UserKind::Disposable, None)),
        ],
        now,
    );
    assert_eq!(lock.decide(Input::Remote(2), now), deny(Reason::AlreadyUsed));
    // Unknown users are unknown credentials, and remote commands never count toward lockout.
    for _ in 0..10 {
        assert_eq!(lock.decide(Input::Remote(777), now), deny(Reason::UnknownCredential));
    }
    assert_eq!(lock.wrong_entries(), 0);
    assert_eq!(lock.locked_until(now), None);
}

#[test]
fn lockout_rules() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(now),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
            Change::UpsertUser(user(2, UserKind::Unrestricted, Some("222222"))),
        ],
        now,
    );
    lock.events().count();
    let mut t = now;
    // Lockouts double from 60 s up to 1 h; the level stops at the first that reaches the hour.
    for (n, dur) in [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600].into_iter().enumerate() {
        for i in 0..5 {
            assert_eq!(
                enter(&mut lock, "000000", t),
                deny(Reason::UnknownCredential),
                "lockout {n} try {i}"
            );
        }
        assert_eq!(lock.locked_until(t), Some(t + dur), "lockout {n}");
        assert!(
            matches!(lock.last_event().unwrap().kind, EventKind::LockoutStarted { until, level } if until == t + dur && level as usize == (n + 1).min(7)),
            "{:?}",
            lock.last_event()
        );
        // During it every entry is refused, correct or not, and the end does not move.
        for k in 0..20 {
            let tk = t + (k * dur) / 20;
            assert_eq!(enter(&mut lock, "111111", tk), deny(Reason::LockedOut));
            assert_eq!(enter(&mut lock, "000000", tk), deny(Reason::LockedOut));
            assert_eq!(lock.locked_until(tk), Some(t + dur));
        }
        // Remote commands are not subject to the keypad lockout.
        assert!(lock.decide(Input::Remote(1), t + dur - 1).is_grant());
        t += dur;
        assert_eq!(lock.locked_until(t), None);
    }
    // Repeated LockedOut refusals are one event with a count.
    let refusals: u32 = lock
        .events()
        .filter_map(|e| match e.kind {
            EventKind::Denied {
                reason: Reason::LockedOut,
                repeat,
                ..
            } => Some(repeat as u32),
            _ => None,
        })
        .sum();
    assert_eq!(refusals, 9 * 40);
    // The hour-long lockout was an hour without a wrong entry: one level back, so the next
    // lockout is an hour again.
    assert_eq!(lock.lockout_status(t).level, 6);
    // A correct entry resets nothing: neither the count nor the doubling.
    enter(&mut lock, "000000", t);
    assert_eq!(lock.wrong_entries(), 1);
    assert!(enter(&mut lock, "222222", t).is_grant());
    assert!(lock.decide(Input::Remote(2), t).is_grant());
    assert_eq!(lock.wrong_entries(), 1);
    for _ in 0..4 {
        enter(&mut lock, "000000", t);
    }
    assert_eq!(lock.locked_until(t), Some(t + 3600));
    t += 3600;
    // Time alone takes it back, one step an hour: after 7 quiet hours (the lockout's included)
    // the doubling starts from the base again.
    assert_eq!(lock.lockout_status(t + 6 * 3600 - 1).level, 1);
    t += 6 * 3600;
    assert_eq!(lock.lockout_status(t).level, 0);
    for _ in 0..5 {
        enter(&mut lock, "000000", t);
    }
    assert_eq!(lock.locked_until(t), Some(t + 60));
    t += 60;
    // Known credentials that are refused do not count.
    let mut u = user(3, UserKind::Unrestricted, Some("333333"));
    u.enabled = false;
    sync(&mut lock, &[Change::UpsertUser(u)], t);
    for _ in 0..10 {
        assert_eq!(enter(&mut lock, "333333", t), deny(Reason::Disabled));
    }
    assert_eq!(lock.wrong_entries(), 0);
    // Both numbers are settings, and the decay step is the longest lockout.
    t += 3600;
    assert_eq!(lock.lockout_status(t).level, 0);
    let s = Settings {
        lockout_attempts: 2,
        lockout_base_secs: 10,
        lockout_max_secs: 15,
        ..Settings::DEFAULT
    };
    sync(&mut lock, &[Change::Settings(s)], t);
    assert!(enter(&mut lock, "111111", t).is_grant());
    enter(&mut lock, "000000", t);
    enter(&mut lock, "000000", t);
    assert_eq!(lock.locked_until(t), Some(t + 10));
    t += 10;
    enter(&mut lock, "000000", t);
    enter(&mut lock, "000000", t);
    assert_eq!(lock.locked_until(t), Some(t + 15));
    t += 15;
    enter(&mut lock, "000000", t);
    enter(&mut lock, "000000", t);
    assert_eq!(lock.locked_until(t), Some(t + 15), "capped");
    assert_eq!(lock.lockout_status(t + 15).level, 1);
    assert_eq!(lock.lockout_status(t + 30).level, 0);
}

/// A correct entry between wrong ones changes nothing in the count: four wrong entries, the
/// PIN, one more wrong entry is a lockout, and typing the PIN between every wrong entry gives
/// exactly the lockouts of typing no PIN at all (it used to reset the count, so someone with
/// one valid PIN could guess without limit).
#[test]
fn a_correct_entry_does_not_reset_the_count() {
    let now = T0;
    let setup = || {
        let mut lock = lock_in("UTC", now);
        sync(
            &mut lock,
            &[
                Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
                Change::UpsertUser(user(
                    2,
                    UserKind::ScheduleRestricted(schedule(&[(0x7f, 0, 1440)])),
                    Some("2222222"),
                )),
            ],
            now,
        );
        lock
    };
    let mut lock = setup();
    for _ in 0..4 {
        assert_eq!(enter(&mut lock, "000000", now), deny(Reason::UnknownCredential));
    }
    assert!(enter(&mut lock, "2222222", now + 1).is_grant());
    assert_eq!(lock.wrong_entries(), 4);
    assert_eq!(enter(&mut lock, "000000", now + 2), deny(Reason::UnknownCredential));
    assert_eq!(lock.locked_until(now + 2), Some(now + 62));
    // A whole day of "4 wrong, then the PIN" at 10 s an entry: the same processed wrong
    // entries as a day of the wrong entries alone.
    let day = |with_pin: bool| {
        let mut lock = setup();
        let mut wrong = 0u32;
        let mut t = now;
        while t < now + 86_400 {
            for _ in 0..4 {
                if enter(&mut lock, "000000", t) == deny(Reason::UnknownCredential) {
                    wrong += 1;
                }
                t += 10;
            }
            if with_pin {
                enter(&mut lock, "2222222", t);
            }
            t += 10;
        }
        wrong
    };
    let (with, without) = (day(true), day(false));
    assert_eq!(with, without);
    assert!(with <= 145, "{with} wrong entries in a day");
}

/// The count and the doubling fall back with time only: one step per `lockout_max_secs`
/// (an hour) without a wrong entry, first the wrong entries, then the levels; untrusted time
/// takes nothing back, though a lockout still ends on it.
#[test]
fn wrong_entries_and_levels_fall_back_with_time_only() {
    let t = T0;
    let mut lock = lock_in("UTC", t);
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111")))],
        t,
    );
    let status = |l: &TestLock, at: i64| {
        let s = l.lockout_status(at);
        (s.wrong_entries, s.level)
    };
    for _ in 0..3 {
        enter(&mut lock, "000000", t);
    }
    assert_eq!(status(&lock, t + 3599), (3, 0));
    assert_eq!(status(&lock, t + 3600), (2, 0));
    // Granted entries and remote commands in between change nothing.
    assert!(enter(&mut lock, "111111", t + 1800).is_grant());
    assert!(lock.decide(Input::Remote(1), t + 1900).is_grant());
    assert_eq!(status(&lock, t + 3600), (2, 0));
    // A wrong entry starts the hour again.
    let t = t + 5400;
    assert_eq!(status(&lock, t), (2, 0));
    enter(&mut lock, "000000", t);
    assert_eq!(status(&lock, t + 3599), (3, 0));
    assert_eq!(status(&lock, t + 3 * 3600), (0, 0));
    // Three lockouts: level 3; each quiet hour takes one level back.
    let mut t = t + 3 * 3600;
    for _ in 0..3 {
        for _ in 0..5 {
            enter(&mut lock, "000000", t);
        }
        t = lock.locked_until(t).unwrap();
    }
    assert_eq!(status(&lock, t), (0, 3));
    let last = t - 240;
    assert_eq!(status(&lock, last + 3600), (0, 2));
    assert_eq!(status(&lock, last + 2 * 3600), (0, 1));
    // At level 1, the next lockout is the second of the doubling: 120 s.
    let t = last + 2 * 3600;
    for _ in 0..5 {
        enter(&mut lock, "000000", t);
    }
    assert_eq!(lock.locked_until(t), Some(t + 120));
    // Untrusted time: the lockout still ends, but nothing falls back.
    lock.power_on(t + 10, false);
    assert_eq!(lock.time_state(), TimeState::Untrusted);
    assert_eq!(lock.locked_until(t + 10), Some(t + 130), "a lost clock credits nothing");
    assert_eq!(enter(&mut lock, "111111", t + 129), deny(Reason::LockedOut));
    assert!(enter(&mut lock, "111111", t + 130).is_grant());
    assert_eq!(status(&lock, t + 10 * 3600), (0, 2));
    // The server's time after untrusted time credits nothing for the jump either.
    lock.set_trusted_time(t + 100 * 3600);
    assert_eq!(status(&lock, t + 100 * 3600), (0, 2));
    assert_eq!(status(&lock, t + 102 * 3600), (0, 0));
}

/// The budget survives power loss: a lock saved after wrong entries and restored (with its
/// clock kept, or lost) goes on counting where it was, and a restore never refills it.
#[test]
fn the_budget_survives_power_loss() {
    let t = T0;
    let mut lock = lock_in("UTC", t);
    sync(
        &mut lock,
        &[Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111")))],
        t,
    );
    for _ in 0..5 {
        enter(&mut lock, "000000", t);
    }
    let t = t + 60;
    for _ in 0..3 {
        enter(&mut lock, "000000", t);
    }
    assert_eq!(
        lock.lockout_status(t),
        latchkey_lock_core::LockoutStatus {
            wrong_entries: 3,
            level: 1,
            locked_until: None
        }
    );
    assert!(lock.is_dirty());
    let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    // The clock kept time: 20 minutes later two more wrong entries are the second lockout.
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(t + 1200, true);
    assert_eq!(back.wrong_entries(), 3);
    enter(&mut back, "000000", t + 1200);
    enter(&mut back, "000000", t + 1200);
    assert_eq!(back.locked_until(t + 1200), Some(t + 1200 + 120));
    // The power was off for 3 hours with the clock running: 3 steps back (3 wrong entries).
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(t + 3 * 3600, true);
    assert_eq!(back.lockout_status(t + 3 * 3600).wrong_entries, 0);
    assert_eq!(back.lockout_status(t + 3 * 3600).level, 1);
    // The clock was lost: the lock cannot tell how long it was off and takes nothing back,
    // even once the server sets the time a day later.
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(1_000, false);
    back.set_trusted_time(t + 86_400);
    assert_eq!(back.wrong_entries(), 3);
    assert_eq!(back.lockout_status(t + 86_400).level, 1);
    enter(&mut back, "000000", t + 86_400);
    enter(&mut back, "000000", t + 86_400);
    assert_eq!(back.locked_until(t + 86_400), Some(t + 86_400 + 120));
}

#[test]
fn lockout_survives_restore_and_clock_jumps() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(now),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
        ],
        now,
    );
    for _ in 0..5 {
        enter(&mut lock, "000000", now);
    }
    let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(now + 10, true);
    assert_eq!(enter(&mut back, "111111", now + 10), deny(Reason::LockedOut));
    // Power loss with the clock reset to long ago: the rest of the lockout is served again.
    let mut back = Box::new(TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    back.power_on(1_000, false);
    assert_eq!(enter(&mut back, "111111", 1_000), deny(Reason::LockedOut));
    assert_eq!(enter(&mut back, "111111", 1_059), deny(Reason::LockedOut));
    assert!(enter(&mut back, "111111", 1_060).is_grant());
}

#[test]
fn journal_records_decisions_and_ack() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(now),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
        ],
        now,
    );
    enter(&mut lock, "111111", now + 1);
    enter(&mut lock, "000000", now + 2);
    lock.decide(Input::Remote(1), now + 3);
    let kinds: Vec<_> = lock.events().map(|e| (e.seq, e.time, e.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (
                1,
                now,
                EventKind::TimeTrusted {
                    cause: TimeCause::ServerTime
                }
            ),
            (2, now, EventKind::SyncApplied { version: 1 }),
            (
                3,
                now + 1,
                EventKind::Granted {
                    method: Method::Keypad,
                    subject: Subject::User(1),
                    credential: Credential::Pin
                }
            ),
            (
                4,
                now + 2,
                EventKind::Denied {
                    method: Method::Keypad,
                    reason: Reason::UnknownCredential,
                    subject: None,
                    repeat: 1
                }
            ),
            (
                5,
                now + 3,
                EventKind::Granted {
                    method: Method::Remote,
                    subject: Subject::User(1),
                    credential: Credential::Remote
                }
            ),
        ]
    );
    lock.ack(3);
    assert_eq!(lock.events().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    // Overflow: the journal keeps 64 events; security events win, drops are counted. (A
    // disabled user's PIN is a security event that does not count toward the lockout.)
    let mut disabled = user(2, UserKind::Unrestricted, Some("222222"));
    disabled.enabled = false;
    sync(&mut lock, &[Change::UpsertUser(disabled)], now + 4);
    for i in 0..200 {
        enter(&mut lock, if i % 2 == 0 { "111111" } else { "222222" }, now + 10 + i);
        lock.press(Key::Clear, now + 10 + i);
    }
    let stats = lock.journal_stats();
    assert_eq!(stats.len, 64);
    assert!(lock.events().all(|e| e.kind.is_security() || e.seq > 180));
    assert_eq!(
        stats.next_seq - 1 - 3,
        stats.len as u64 + stats.dropped_routine + stats.dropped_security
    );
}

#[test]
fn sync_is_atomic_and_validated() {
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(now),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("111111"))),
            Change::UpsertUser(user(2, UserKind::Unrestricted, Some("222222"))),
        ],
        now,
    );
    let image = |l: &TestLock| {
        let mut b = vec![0u8; TestLock::MAX_ENCODED_LEN];
        let n = l.save(&mut b).unwrap();
        b.truncate(n);
        b
    };
    let before = image(&lock);
    let v = lock.applied_version() + 1;
    let bad_window = user(5, UserKind::ScheduleRestricted(schedule(&[(0, 0, 60)])), None);
    let many: Vec<Change> = (100..200)
        .map(|id| Change::UpsertUser(user(id, UserKind::Unrestricted, None)))
        .collect();
    let mut too_many = vec![Change::UpsertUser(user(3, UserKind::Unrestricted, Some("333333")))];
    too_many.extend(many.iter().cloned());
    let cases: Vec<(Vec<Change>, u64, usize, ApplyErrorKind)> = vec![
        (
            vec![Change::UpsertUser(user(3, UserKind::Unrestricted, None))],
            1,
            1,
            ApplyErrorKind::StaleVersion,
        ),
        (
            vec![
                Change::UpsertUser(user(3, UserKind::Unrestricted, None)),
                Change::ClearAll,
            ],
            v,
            1,
            ApplyErrorKind::ClearAllNotFirst,
        ),
        (
            vec![
                Change::UpsertUser(user(3, UserKind::Unrestricted, None)),
                Change::UpsertUser(bad_window),
            ],
            v,
            1,
            ApplyErrorKind::InvalidUser,
        ),
        (
            vec![Change::UpsertUser(user(3, UserKind::Unrestricted, Some("111111")))],
            v,
            0,
            ApplyErrorKind::PinInUse,
        ),
        (
            vec![
                Change::UpsertUser(user(3, UserKind::Unrestricted, Some("333333"))),
                Change::SetPin {
                    user: 4,
                    pin: pin("333333"),
                },
            ],
            v,
            1,
            ApplyErrorKind::UnknownUser,
        ),
        (
            vec![
                Change::UpsertUser(user(3, UserKind::Unrestricted, Some("333333"))),
                Change::UpsertUser(user(4, UserKind::Unrestricted, Some("333333"))),
            ],
            v,
            1,
            ApplyErrorKind::PinInUse,
        ),
        (
            vec![Change::SetPin {
                user: 1,
                pin: pin("222222"),
            }],
            v,
            0,
            ApplyErrorKind::PinInUse,
        ),
        (vec![Change::ClearPin(9)], v, 0, ApplyErrorKind::UnknownUser),
        (
            vec![
                Change::RemoveUser(1),
                Change::SetPin {
                    user: 1,
                    pin: pin("999999"),
                },
            ],
            v,
            1,
            ApplyErrorKind::UnknownUser,
        ),
        (too_many, v, 62, ApplyErrorKind::TooManyUsers),
        (
            vec![Change::Settings(Settings {
                lockout_attempts: 0,
                ..Settings::DEFAULT
            })],
            v,
            0,
            ApplyErrorKind::InvalidSettings,
        ),
        (
            vec![Change::SetIssuer {
                slot: 8,
                epoch: 1,
                enabled: true,
            }],
            v,
            0,
            ApplyErrorKind::InvalidIssuer,
        ),
        (
            vec![
                Change::SetOffsetTable {
                    entries: &[],
                    valid_until: 0,
                },
                Change::SetOffsetTable {
                    entries: &[latchkey_lock_core::OffsetEntry { start: 5, offset: 0 }],
                    valid_until: 5,
                },
            ],
            v,
            1,
            ApplyErrorKind::InvalidOffsetTable,
        ),
        (
            vec![Change::AddDenyEntry(latchkey_lock_core::DenyEntry {
                code: 1_000_000_000_000,
                expires: 0,
            })],
            v,
            0,
            ApplyErrorKind::InvalidDenyEntry,
        ),
        (
            vec![Change::UpsertGuestKey(latchkey_lock_core::GuestRecord {
                code: 1,
                key_id: 1,
                from: 10,
                until: 10,
                one_time: false,
            })],
            v,
            0,
            ApplyErrorKind::InvalidGuestKey,
        ),
    ];
    for (i, (changes, version, index, kind)) in cases.iter().enumerate() {
        let e = lock.apply(*version, changes, now).expect_err("refused");
        assert_eq!((e.index, e.kind), (*index, *kind), "case {i}");
        assert_eq!(image(&lock), before, "case {i}: state untouched");
    }
    // Sixteen deny entries fit, the seventeenth does not.
    let denies: Vec<Change> = (0..17)
        .map(|c| {
            Change::AddDenyEntry(latchkey_lock_core::DenyEntry {
                code: c,
                expires: now + 1000,
            })
        })
        .collect();
    assert_eq!(
        lock.apply(v, &denies, now).unwrap_err().kind,
        ApplyErrorKind::TooManyDenyEntries
    );
    let keys: Vec<Change> = (0..17)
        .map(|c| {
            Change::UpsertGuestKey(latchkey_lock_core::GuestRecord {
                code: c,
                key_id: 1,
                from: 0,
                until: 10,
                one_time: false,
            })
        })
        .collect();
    assert_eq!(
        lock.apply(v, &keys, now).unwrap_err().kind,
        ApplyErrorKind::TooManyGuestKeys
    );
    assert_eq!(image(&lock), before);
    // Within a batch, changes apply in order: a PIN can move after it was released.
    lock.apply(
        v,
        &[
            Change::ClearPin(1),
            Change::SetPin {
                user: 2,
                pin: pin("111111"),
            },
            Change::SetPin {
                user: 1,
                pin: pin("222222"),
            },
        ],
        now,
    )
    .unwrap();
    assert_eq!(lock.applied_version(), v);
    assert!(matches!(lock.last_event().unwrap().kind, EventKind::SyncApplied { version } if version == v));
    assert_eq!(
        enter(&mut lock, "111111", now),
        Decision::Grant {
            subject: Subject::User(2),
            credential: Credential::Pin,
            persist_first: false
        }
    );
    // Removing users and adding others in the same batch respects capacity exactly.
    let mut fill: Vec<Change> = (100..162)
        .map(|id| Change::UpsertUser(user(id, UserKind::Unrestricted, None)))
        .collect();
    lock.apply(v + 1, &fill, now).unwrap();
    assert_eq!(lock.counts().users, 64);
    fill.clear();
    fill.push(Change::UpsertUser(user(500, UserKind::Unrestricted, None)));
    assert_eq!(
        lock.apply(v + 2, &fill, now).unwrap_err().kind,
        ApplyErrorKind::TooManyUsers
    );
    fill.insert(0, Change::RemoveUser(100));
    lock.apply(v + 2, &fill, now).unwrap();
    assert!(lock.user(500).is_some() && lock.user(100).is_none());
    // A snapshot replaces users, PINs, records and deny entries, and may reset the version.
    lock.apply(
        1,
        &[
            Change::ClearAll,
            Change::UpsertUser(user(7, UserKind::Unrestricted, Some("111111"))),
        ],
        now,
    )
    .unwrap();
    assert_eq!(lock.counts().users, 1);
    assert_eq!(
        enter(&mut lock, "111111", now),
        Decision::Grant {
            subject: Subject::User(7),
            credential: Credential::Pin,
            persist_first: false
        }
    );
    assert_eq!(enter(&mut lock, "222222", now), deny(Reason::UnknownCredential));
}

#[test]
fn persisted_size_of_a_full_standard_lock() {
    use latchkey_lock_core::{StandardLock, UserRecord};
    let now = T0;
    let mut lock = Box::new(StandardLock::new(LOCK_ID, ROOT).unwrap());
    let changes: Vec<Change> = (0..1000u32)
        .map(|id| {
            let kind = match id % 4 {
                _ if id < 256 => UserKind::Disposable,
                0 | 3 => UserKind::Unrestricted,
                1 => {
                    let mut s = schedule(&[(0x3e, 540, 1020), (0x41, 600, 720), (0x7f, 1320, 120), (0x10, 0, 1440)]);
                    s.dates = Some((LocalDate(20_000), LocalDate(20_500)));
                    UserKind::ScheduleRestricted(s)
                }
                _ => UserKind::Expiring {
                    from: now,
                    until: now + 86_400,
                },
            };
            Change::UpsertUser(UserRecord {
                id: 1_000_000 + id,
                enabled: true,
                kind,
                pin: Some(pin(&format!("{:08}", 10_000_000 + id * 7919))),
            })
        })
        .collect();
    lock.apply(1, &changes, now).unwrap();
    sync(&mut lock, &[Change::SetTime(now)], now);
    for id in 0..256u32 {
        // 256 disposable users used: the used table is full.
        let _ = lock.decide(Input::Remote(1_000_000 + id), now);
    }
    assert_eq!(lock.counts().used, 256);
    let mut buf = vec![0u8; StandardLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    println!(
        "1,000 users + 1,000 PINs + 256 used + {} events: {n} bytes; max {}; in memory {} bytes",
        lock.counts().events,
        StandardLock::MAX_ENCODED_LEN,
        std::mem::size_of::<StandardLock>()
    );
    assert!(n <= 128 * 1024);
    // Full guest-key and deny tables on top.
    let keys: Vec<Change> = (0..latchkey_lock_core::STANDARD_GUEST_KEYS as u64)
        .map(|i| {
            Change::UpsertGuestKey(latchkey_lock_core::GuestRecord {
                code: 999_999_000_000 + i,
                key_id: 100_000 + i as u32,
                from: now,
                until: now + 14 * 86_400,
                one_time: i % 2 == 0,
            })
        })
        .chain((0..latchkey_lock_core::STANDARD_DENY as u64).map(|i| {
            Change::AddDenyEntry(latchkey_lock_core::DenyEntry {
                code: 888_888_000_000 + i,
                expires: now + 14 * 86_400,
            })
        }))
        .collect();
    sync(&mut lock, &keys, now);
    let counts = lock.counts();
    assert_eq!(
        (counts.guest_keys, counts.deny_entries),
        (
            latchkey_lock_core::STANDARD_GUEST_KEYS,
            latchkey_lock_core::STANDARD_DENY
        )
    );
    let full = lock.save(&mut buf).unwrap();
    println!(
        "... + {} guest-key records + {} deny entries: {full} bytes",
        counts.guest_keys, counts.deny_entries
    );
    assert!(full <= 128 * 1024);
    let back = Box::new(StandardLock::restore(LOCK_ID, ROOT, &buf[..full]).unwrap());
    assert_eq!(back.counts(), lock.counts());
    let n = {
        // Back to the state without keys, for the byte-exact round trip below.
        let v = lock.applied_version() + 1;
        lock.apply(v, &[Change::ClearAll], now).unwrap();
        lock.apply(v + 1, &changes, now).unwrap();
        lock.save(&mut buf).unwrap()
    };
    const { assert!(StandardLock::MAX_ENCODED_LEN <= 128 * 1024) };
    let back = Box::new(StandardLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap());
    let mut buf2 = vec![0u8; StandardLock::MAX_ENCODED_LEN];
    assert_eq!(back.save(&mut buf2).unwrap(), n);
    assert_eq!(buf[..n], buf2[..n]);
}
