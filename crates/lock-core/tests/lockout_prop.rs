//! No sequence of key presses and time steps gets past a lockout.

mod common;

use common::*;
use latchkey_lock_core::{Change, Decision, Key, Reason, UserKind};
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
