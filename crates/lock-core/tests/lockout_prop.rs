//! No sequence of key presses and time steps gets past a lockout.

mod common;

use common::*;
use latchkey_lock_core::{Change, Decision, Input, Key, Reason, Settings, UserKind};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Key(Key),
    /// Types the correct PIN and `#`.
    Correct,
    /// Types a wrong PIN and `#`.
    Wrong,
    Forward(i64),
    Back(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..10).prop_map(|d| Step::Key(Key::Digit(d))),
        1 => Just(Step::Key(Key::Confirm)),
        1 => Just(Step::Key(Key::Clear)),
        3 => Just(Step::Correct),
        6 => Just(Step::Wrong),
        3 => (0i64..90).prop_map(Step::Forward),
        1 => (0i64..4000).prop_map(Step::Forward),
        1 => (0i64..300).prop_map(Step::Back),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn lockout_is_never_bypassed_or_extended(steps in proptest::collection::vec(step(), 1..300)) {
        let mut lock = new_lock();
        sync(&mut lock, &[Change::SetTime(T0), Change::UpsertUser(user(1, UserKind::Unrestricted, Some("31415926")))], T0);
        let mut now = T0;
        let mut high = T0; // the latest time seen: below it, the clock went back
        for s in steps {
            let monotone = now >= high;
            high = high.max(now);
            let before = lock.locked_until(now);
            let mut decisions = Vec::new();
            match s {
                Step::Key(k) => decisions.extend(lock.press(k, now)),
                Step::Correct => {
                    lock.press(Key::Clear, now);
                    for c in "31415926".bytes() {
                        decisions.extend(lock.press(Key::Digit(c - b'0'), now));
                    }
                    decisions.extend(lock.press(Key::Confirm, now));
                }
                Step::Wrong => {
                    lock.press(Key::Clear, now);
                    for d in [2, 7, 1, 8, 2, 8] {
                        decisions.extend(lock.press(Key::Digit(d), now));
                    }
                    decisions.extend(lock.press(Key::Confirm, now));
                }
                Step::Forward(d) => now += d,
                Step::Back(d) => now -= d,
            }
            if let Some(until) = before {
                for d in &decisions {
                    prop_assert_eq!(*d, Decision::Deny(Reason::LockedOut), "during a lockout until {}", until);
                }
                if !matches!(s, Step::Back(_) | Step::Forward(_)) {
                    // Presses never move the end.
                    let after = lock.locked_until(now);
                    prop_assert!(after.is_none() || after == Some(until), "{:?} -> {:?}", before, after);
                }
            }
            if let (Step::Forward(_), Some(until), true) = (&s, before, monotone) {
                // Time going forward only ends a lockout, never extends it.
                let after = lock.locked_until(now);
                prop_assert!(after.is_none() || after == Some(until));
            }
            if matches!(s, Step::Correct) && before.is_none() {
                prop_assert!(decisions.last().is_some_and(|d| d.is_grant()));
            }
        }
    }
}

/// What an attacker who knows one valid PIN does at the keypad.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// A wrong 6-digit entry.
    Wrong,
    /// The valid PIN (the attacker's own), between guesses.
    Pin,
    /// Waits this many seconds.
    Wait(i64),
    /// Power loss: the state is saved, restored, and powered on with the clock kept.
    PowerLoss,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        8 => Just(Act::Wrong),
        3 => Just(Act::Pin),
        4 => (0i64..120).prop_map(Act::Wait),
        2 => (0i64..4_000).prop_map(Act::Wait),
        1 => (0i64..30_000).prop_map(Act::Wait),
        1 => Just(Act::PowerLoss),
    ]
}

/// Settings the server can send: 3 to 20 attempts, a base of up to 15 minutes and a maximum
/// of 1 to 64 times the base.
fn settings() -> impl Strategy<Value = Settings> {
    (3u8..=20, 1u32..=900, 1u32..=64).prop_map(|(attempts, base, mul)| Settings {
        lockout_attempts: attempts,
        lockout_base_secs: base,
        lockout_max_secs: base * mul,
        ..Settings::DEFAULT
    })
}

/// The bound of `docs/lock-core.md`: at most `attempts` wrong entries per round; rounds start
/// at 0 and after each lockout, the n-th lasting `base * 2^(n-1)` up to `max`.
fn daily_bound(s: &Settings) -> usize {
    let (mut start, mut rounds, mut d) = (0u64, 0usize, u64::from(s.lockout_base_secs));
    while start < 86_400 {
        rounds += 1;
        start += d.min(u64::from(s.lockout_max_secs));
        d = d.saturating_mul(2);
    }
    rounds * usize::from(s.lockout_attempts)
}

/// Runs the acts; returns when each wrong entry was typed and what the lock answered.
fn attack(s: &Settings, acts: &[Act]) -> Vec<(i64, Decision)> {
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(T0),
            Change::Settings(*s),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("31415926"))),
        ],
        T0,
    );
    let mut now = T0;
    let mut wrong = Vec::new();
    for a in acts {
        match *a {
            Act::Wrong => {
                let d = lock.decide(Input::Keypad(b"271828"), now);
                wrong.push((now, d));
            }
            Act::Pin => {
                let d = lock.decide(Input::Keypad(b"31415926"), now);
                assert!(
                    d.is_grant() || d == Decision::Deny(Reason::LockedOut),
                    "the valid PIN: {d:?}"
                );
            }
            Act::Wait(d) => now += d,
            Act::PowerLoss => {
                let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
                let n = lock.save(&mut buf).unwrap();
                *lock = TestLock::restore(LOCK_ID, ROOT, &buf[..n]).unwrap();
                lock.power_on(now, true);
            }
        }
    }
    wrong
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the pattern, a valid PIN typed between guesses changes nothing: every wrong
    /// entry gets the same answer as without the PIN, and the wrong entries processed in any
    /// 24 hours stay within the documented bound (which holds either way), across power
    /// losses too.
    #[test]
    fn a_valid_pin_between_guesses_buys_no_guesses(s in settings(),
                                                   acts in proptest::collection::vec(act(), 1..400)) {
        let with_pin = attack(&s, &acts);
        let without: Vec<Act> = acts.iter().copied().filter(|a| !matches!(a, Act::Pin)).collect();
        let without_pin = attack(&s, &without);
        prop_assert_eq!(&with_pin, &without_pin);
        let bound = daily_bound(&s);
        let processed: Vec<i64> = with_pin
            .iter()
            .filter(|(_, d)| *d == Decision::Deny(Reason::UnknownCredential))
            .map(|(t, _)| *t)
            .collect();
        for (i, &t) in processed.iter().enumerate() {
            let in_day = processed[i..].iter().take_while(|&&u| u < t + 86_400).count();
            prop_assert!(in_day <= bound, "{} wrong entries from {} on, bound {}", in_day, t, bound);
        }
    }
}

/// The attacker's best day with a PIN: four wrong entries, the PIN, again, at once whenever the
/// keypad takes entries. The bound is reached exactly, and not exceeded (the PIN used to reset
/// the count, which made this thousands a day).
#[test]
fn the_best_day_with_a_pin_meets_the_bound_exactly() {
    let s = Settings::DEFAULT;
    assert_eq!(daily_bound(&s), 145);
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(T0),
            Change::UpsertUser(user(1, UserKind::Unrestricted, Some("31415926"))),
        ],
        T0,
    );
    let mut now = T0;
    let mut processed = 0;
    while now < T0 + 86_400 {
        if let Some(until) = lock.locked_until(now) {
            now = until;
            continue;
        }
        for _ in 0..4 {
            if lock.decide(Input::Keypad(b"271828"), now) == Decision::Deny(Reason::UnknownCredential) {
                processed += 1;
            }
        }
        let _ = lock.decide(Input::Keypad(b"31415926"), now);
        now += 1;
    }
    assert_eq!(processed, 145);
}
