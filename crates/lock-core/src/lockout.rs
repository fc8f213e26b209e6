//! The keypad's wrong-entry budget: the wrong count, the doubling lockouts, and their decay
//! with time only. A correct entry never touches this state; see `docs/lock-core.md`, "Keypad
//! lockout", for the rules and the arithmetic of the bound on wrong entries per day.
//!
//! Elapsed time is *credited* explicitly: `at` is the instant (on the lock's clock) up to which
//! the remaining lockout and the quiet time have been brought, and every call that sees a new
//! `now` credits `now - at`. A lockout runs down on any clock that moves forward (so a lock
//! whose clock is not trusted still ends its lockouts), but the budget refills only with time
//! the lock trusts. A clock earlier than `at` credits nothing (the remainder is served again
//! from the new clock), and the lock credits nothing across a jump it cannot vouch for (a lost
//! real-time clock, the server setting the time of a lock whose clock was not trusted), so no
//! clock jump shortens a lockout or refills the budget.

use crate::model::Settings;

/// Lockout bookkeeping (persisted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Lockout {
    /// Wrong entries counted toward the next lockout (below `lockout_attempts`).
    pub wrong: u8,
    /// The doubling level: the last lockout lasted `base * 2^(level-1)`, capped (0: none).
    /// Never above [`Lockout::cap`].
    pub level: u8,
    /// Seconds of the current lockout still to serve, as of `at` (0: none in force).
    pub remaining: u32,
    /// Seconds without a wrong entry credited toward the next decay step, as of `at` (below
    /// the step; 0 when there is nothing left to decay).
    pub quiet: u32,
    /// The instant (lock clock, UTC seconds) up to which time has been credited.
    pub at: i64,
}

/// The keypad lockout as of an instant: what [`crate::Lock::lockout_status`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutStatus {
    /// Wrong entries counted toward the next lockout.
    pub wrong_entries: u8,
    /// The doubling level: the next lockout lasts `base * 2^level` seconds, capped at the
    /// maximum (0: the next one lasts `base`).
    pub level: u8,
    /// The end of the lockout in force, if any (UTC Unix seconds).
    pub locked_until: Option<i64>,
}

impl Lockout {
    /// The highest useful level: the first whose lockout reaches `lockout_max_secs`.
    pub(crate) fn cap(s: &Settings) -> u8 {
        let max = u64::from(s.lockout_max_secs);
        let mut d = u64::from(s.lockout_base_secs.max(1));
        let mut n = 1u8;
        // base >= 1 and max < 2^32: at most 33 rounds.
        while d < max && n < 64 {
            d = d.saturating_mul(2);
            n += 1;
        }
        n
    }

    /// The length of a lockout at `level` (>= 1): `base * 2^(level-1)`, at most `max`.
    pub(crate) fn duration(s: &Settings, level: u8) -> u32 {
        let shift = u32::from(level.saturating_sub(1)).min(32);
        let d = u64::from(s.lockout_base_secs)
            .checked_shl(shift)
            .unwrap_or(u64::MAX)
            .min(u64::from(s.lockout_max_secs));
        u32::try_from(d).unwrap_or(u32::MAX)
    }

    /// The decay step: one step back per `lockout_max_secs` without a wrong entry. Not shorter
    /// than the longest lockout, so waiting never buys more guesses than hammering does.
    #[inline]
    pub(crate) fn step(s: &Settings) -> u64 {
        u64::from(s.lockout_max_secs.max(1))
    }

    #[inline]
    fn rested(&self) -> bool {
        self.wrong == 0 && self.level == 0 && self.remaining == 0
    }

    /// Whether a lockout is in force (as of `at`; credit first).
    #[inline]
    pub(crate) fn in_force(&self) -> bool {
        self.remaining > 0
    }

    /// Credits the time from `at` to `now`: the lockout runs down, and when the clock was
    /// trusted over the whole interval (`trusted`), the quiet time counts toward the decay. A
    /// clock earlier than `at` credits nothing: the state is kept and counted from `now` on (a
    /// lockout's remainder is served again). Returns whether the state worth saving changed.
    #[inline]
    pub(crate) fn credit(&mut self, now: i64, s: &Settings, trusted: bool) -> bool {
        if self.rested() {
            self.at = now;
            return false;
        }
        if now < self.at {
            self.at = now;
            return true;
        }
        let elapsed = now.abs_diff(self.at);
        self.at = now;
        elapsed > 0 && self.elapse(elapsed, if trusted { elapsed } else { 0 }, s)
    }

    /// Moves the reference to `now` without crediting anything: the lock cannot vouch for the
    /// time between `at` and `now`. Returns whether the state changed.
    pub(crate) fn rebase(&mut self, now: i64) -> bool {
        let changed = self.at != now && !self.rested();
        self.at = now;
        changed
    }

    /// `elapsed` seconds pass without a wrong entry, `quiet` of them on a trusted clock: the
    /// lockout runs down, and every full step of trusted quiet time takes one wrong entry
    /// back, or once none is left, one level.
    fn elapse(&mut self, elapsed: u64, quiet: u64, s: &Settings) -> bool {
        let before = *self;
        self.remaining = u64::from(self.remaining)
            .saturating_sub(elapsed)
            .try_into()
            .unwrap_or(0);
        let step = Self::step(s);
        let quiet = u64::from(self.quiet).saturating_add(quiet);
        let mut steps = quiet / step;
        let back = steps.min(u64::from(self.wrong));
        self.wrong -= back as u8;
        steps -= back;
        let back = steps.min(u64::from(self.level));
        self.level -= back as u8;
        self.quiet = if self.wrong == 0 && self.level == 0 {
            0
        } else {
            (quiet % step) as u32
        };
        *self != before
    }

    /// Counts a wrong entry at `now` (credited, no lockout in force). Returns the end and level
    /// of the lockout this entry starts, if it starts one.
    pub(crate) fn wrong_entry(&mut self, now: i64, s: &Settings) -> Option<(i64, u8)> {
        self.at = now;
        self.quiet = 0;
        self.wrong = self.wrong.saturating_add(1);
        if self.wrong < s.lockout_attempts {
            return None;
        }
        self.wrong = 0;
        self.level = self.level.saturating_add(1).min(Self::cap(s));
        self.remaining = Self::duration(s, self.level);
        Some((now.saturating_add(i64::from(self.remaining)), self.level))
    }

    /// New settings: the counts are brought within them (a count at or above the new limit
    /// means the next wrong entry starts a lockout, as before), and quiet time already
    /// credited is applied with the new step.
    pub(crate) fn settings_changed(&mut self, s: &Settings) {
        self.wrong = self.wrong.min(s.lockout_attempts.saturating_sub(1));
        self.level = self.level.min(Self::cap(s));
        self.elapse(0, 0, s);
    }

    /// The end of the lockout in force at `now`, as the next entry would see it.
    pub(crate) fn locked_until(&self, now: i64) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        let remaining = i64::from(self.remaining);
        if now < self.at {
            return Some(now.saturating_add(remaining));
        }
        let end = self.at.saturating_add(remaining);
        (now < end).then_some(end)
    }

    /// The state as of `now`, without changing anything.
    pub(crate) fn status(&self, now: i64, s: &Settings, trusted: bool) -> LockoutStatus {
        let mut l = *self;
        l.credit(now, s, trusted);
        LockoutStatus {
            wrong_entries: l.wrong,
            level: l.level,
            locked_until: l.locked_until(now),
        }
    }

    /// Whether the persisted fields are consistent with `s`.
    pub(crate) fn is_valid(&self, s: &Settings) -> bool {
        let rested = self.wrong == 0 && self.level == 0;
        self.wrong < s.lockout_attempts
            && self.level <= Self::cap(s)
            && u64::from(self.quiet) < Self::step(s)
            && (!rested || self.quiet == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    const DAY: i64 = 86_400;

    fn settings(attempts: u8, base: u32, max: u32) -> Settings {
        Settings {
            lockout_attempts: attempts,
            lockout_base_secs: base,
            lockout_max_secs: max,
            ..Settings::DEFAULT
        }
    }

    /// The next instant at which the state changes with no input (a lockout ends, a decay
    /// step falls due), if any.
    fn next_change(l: &Lockout, s: &Settings) -> Option<i64> {
        let end = (l.remaining > 0).then(|| l.at + i64::from(l.remaining));
        let decay = (l.wrong > 0 || l.level > 0).then(|| l.at + (Lockout::step(s) - u64::from(l.quiet)) as i64);
        match (end, decay) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    type Memo = HashMap<(i64, u8, u8, u32, u32), u32>;

    /// The most wrong entries an attacker gets processed in `[t, end)` from `l` (credited up
    /// to `t`), typing in no time, over every strategy. Between two instants at which the
    /// state changes by itself nothing differs but the quiet time, which a wrong entry resets,
    /// so typing at the earliest of them dominates: the search only considers "type now" and
    /// "wait for the next change".
    fn best(l: Lockout, t: i64, end: i64, s: &Settings, memo: &mut Memo) -> u32 {
        let key = (t, l.wrong, l.level, l.remaining, l.quiet);
        if let Some(&v) = memo.get(&key) {
            return v;
        }
        let mut v = 0;
        if !l.in_force() {
            let mut n = l;
            n.wrong_entry(t, s);
            v = 1 + best(n, t, end, s, memo);
        }
        if let Some(next) = next_change(&l, s).filter(|&n| n < end) {
            let mut n = l;
            n.credit(next, s, true);
            v = v.max(best(n, next, end, s, memo));
        }
        memo.insert(key, v);
        v
    }

    /// The documented bound: `attempts` entries per round, rounds starting at 0 and then after
    /// each lockout, `base * 2^(n-1)` for the n-th, and every `max` once the cap is reached.
    fn documented_bound(s: &Settings, window: i64) -> u32 {
        let cap = Lockout::cap(s);
        let (mut start, mut rounds, mut n) = (0i64, 0u32, 1u8);
        while start < window {
            rounds += 1;
            start += i64::from(Lockout::duration(s, n.min(cap)));
            n = n.saturating_add(1);
        }
        rounds * u32::from(s.lockout_attempts)
    }

    #[test]
    fn defaults_cap_and_durations() {
        let s = Settings::DEFAULT;
        assert_eq!(Lockout::cap(&s), 7);
        let d: Vec<u32> = (1..=9).map(|n| Lockout::duration(&s, n)).collect();
        assert_eq!(d, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(Lockout::cap(&settings(5, 60, 60)), 1);
        assert_eq!(Lockout::cap(&settings(5, 1, u32::MAX)), 33);
        assert_eq!(Lockout::duration(&settings(5, u32::MAX, u32::MAX), 200), u32::MAX);
    }

    /// The bound of `docs/lock-core.md` is exactly the best an attacker can do in 24 hours
    /// from a rested keypad, over every strategy of wrong entries and waits, for the defaults
    /// and other settings the server can send.
    #[test]
    fn the_documented_daily_bound_is_the_best_strategy() {
        for (s, want) in [
            (Settings::DEFAULT, Some(145)),
            (settings(3, 60, 3600), Some(87)),
            (settings(20, 60, 3600), Some(580)),
            (settings(5, 300, 3600), None),
            (settings(5, 600, 7200), None),
            (settings(4, 3600, 3600), None),
            (settings(5, 60, 60), None),
            (settings(10, 30, 900), None),
        ] {
            let bound = documented_bound(&s, DAY);
            if let Some(w) = want {
                assert_eq!(bound, w, "{s:?}");
            }
            let mut memo = Memo::new();
            let start = 1_800_000_000;
            let rested = Lockout {
                at: start,
                ..Lockout::default()
            };
            let got = best(rested, start, start + DAY, &s, &mut memo);
            assert_eq!(got, bound, "{s:?}: exhaustive search {got}, documented {bound}");
        }
    }

    /// Steady state: a keypad kept at the cap gives `attempts` per `max`, 120 a day.
    #[test]
    fn steady_state_is_one_round_per_max() {
        let s = Settings::DEFAULT;
        let t0 = 1_800_000_000;
        let mut l = Lockout {
            level: 7,
            at: t0,
            ..Lockout::default()
        };
        let mut memo = Memo::new();
        assert_eq!(best(l, t0, t0 + DAY, &s, &mut memo), 120);
        // Time only: a full step without a wrong entry takes one level back.
        assert!(l.credit(t0 + 3599, &s, true));
        assert_eq!(l.level, 7);
        l.credit(t0 + 3600, &s, true);
        assert_eq!(l.level, 6);
        // Untrusted time takes nothing back.
        l.credit(t0 + 9 * 3600, &s, false);
        assert_eq!((l.level, l.quiet), (6, 0));
        l.credit(t0 + 15 * 3600, &s, true);
        assert_eq!(
            l,
            Lockout {
                at: t0 + 15 * 3600,
                ..Lockout::default()
            }
        );
    }

    #[test]
    fn crediting_is_additive() {
        let s = settings(4, 45, 2000);
        let t0 = 1_800_000_000;
        let start = Lockout {
            wrong: 3,
            level: 4,
            remaining: 700,
            quiet: 1500,
            at: t0,
        };
        for split in [1, 7, 333, 1999, 2000, 5000] {
            let (mut a, mut b) = (start, start);
            a.credit(t0 + 20_000, &s, true);
            let mut t = t0;
            while t < t0 + 20_000 {
                t = (t + split).min(t0 + 20_000);
                b.credit(t, &s, true);
            }
            assert_eq!(a, b, "split {split}");
        }
    }
}
