//! Planning: reservations to guest-key windows in the lock's time zone.

use crate::feed::{Feed, Kind, Reservation, Status, When};
use crate::zones::local_instant;
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// The host's check-in and check-out times, lock-local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StayTimes {
    pub check_in: Time,
    pub check_out: Time,
}

/// A check-in or check-out time that is not `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be a time of day such as \"15:00\" (24-hour HH:MM), not \"{value}\"")]
pub struct TimeError {
    pub field: &'static str,
    pub value: String,
}

impl StayTimes {
    /// Parse `"15:00"` and `"11:00"`. The error names the field (`check_in` / `check_out`).
    pub fn parse(check_in: &str, check_out: &str) -> Result<StayTimes, TimeError> {
        Ok(StayTimes {
            check_in: parse_hhmm("check_in", check_in)?,
            check_out: parse_hhmm("check_out", check_out)?,
        })
    }
}

fn parse_hhmm(field: &'static str, value: &str) -> Result<Time, TimeError> {
    let err = || TimeError {
        field,
        value: crate::zones::printable(value),
    };
    let (h, m) = value.split_once(':').ok_or_else(err)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(err());
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let h: i8 = h.parse().map_err(|_| err())?;
    let m: i8 = m.parse().map_err(|_| err())?;
    Time::new(h, m, 0, 0).map_err(|_| err())
}

/// From when to when a key opens the door: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A reservation that should have a guest key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedKey {
    pub uid: String,
    /// The key's name: see [`Reservation::label`].
    pub label: String,
    pub phones: Vec<String>,
    /// The arrival day and the departure day, lock-local.
    pub first_day: Date,
    pub last_day: Date,
    pub window: Window,
}

/// A reservation (not a block, not cancelled) that gets no key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub uid: String,
    pub message: String,
}

/// What a feed asks for at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Reservations that have not ended, each with its window. Sorted by start, then UID.
    pub keys: Vec<PlannedKey>,
    /// UIDs of reservations the feed lists as `STATUS:CANCELLED`.
    pub cancelled: Vec<String>,
    /// UIDs of blocks ("Not available"...).
    pub blocks: Vec<String>,
    /// UIDs of reservations that have ended (their window is over at `now`).
    pub ended: Vec<String>,
    /// Reservations that get no key for another reason (a window that would be empty), and
    /// the feed's [`crate::EventProblem`]s that have a UID: these UIDs are in the feed, so
    /// their keys are left alone.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// How many reservations the feed lists that are not over (planned, cancelled, or
    /// unreadable, which might be either): zero means it lists no upcoming reservation, which
    /// [`crate::reconcile`] treats as a broken feed while keys are still to come.
    pub fn listed_upcoming(&self) -> usize {
        self.keys.len() + self.cancelled.len() + self.skipped.len()
    }
}

/// Each reservation that has not ended at `now` becomes a window from its first day at
/// `check_in` to its last day (the departure day) at `check_out`, in `zone`.
///
/// - All-day events: the first day is `DTSTART`, the last day is `DTEND` (exclusive in
///   iCalendar, which is exactly the departure day: 1 to 4 March is three nights, leaving on
///   the 4th).
/// - Timed events use their own days, read in the lock's zone (a floating time is already
///   lock-local): the day of `DTSTART` and the day of `DTEND`.
/// - Local times are turned into instants by [`crate::zones::local_instant`]: DST-correct, a
///   time in a gap is the end of the gap, a repeated time is the first.
/// - A reservation ends at its window's end; one that has ended is listed in `ended`.
pub fn plan(feed: &Feed, times: StayTimes, zone: &TimeZone, now: Timestamp) -> Plan {
    let mut out = Plan::default();
    for r in &feed.events {
        match (r.kind, r.status) {
            (Kind::Block, _) => out.blocks.push(r.uid.clone()),
            (Kind::Reservation, Status::Cancelled) => out.cancelled.push(r.uid.clone()),
            (Kind::Reservation, Status::Active) => match window_of(r, times, zone) {
                Err(message) => out.skipped.push(Skipped {
                    uid: r.uid.clone(),
                    message,
                }),
                Ok((_, _, window)) if window.end <= now => out.ended.push(r.uid.clone()),
                Ok((first_day, last_day, window)) => out.keys.push(PlannedKey {
                    uid: r.uid.clone(),
                    label: r.label(first_day),
                    phones: r.phones.clone(),
                    first_day,
                    last_day,
                    window,
                }),
            },
        }
    }
    for p in &feed.problems {
        if let Some(uid) = &p.uid {
            out.skipped.push(Skipped {
                uid: uid.clone(),
                message: p.message.clone(),
            });
        }
    }
    out.keys
        .sort_by(|a, b| (a.window.start, &a.uid).cmp(&(b.window.start, &b.uid)));
    out
}

fn day_of(w: When, zone: &TimeZone) -> Date {
    match w {
        When::Date(d) => d,
        When::Instant(t) => zone.to_datetime(t).date(),
        When::Floating(dt) => dt.date(),
    }
}

fn window_of(r: &Reservation, times: StayTimes, zone: &TimeZone) -> Result<(Date, Date, Window), String> {
    let first_day = day_of(r.start, zone);
    let last_day = day_of(r.end, zone);
    let window = Window {
        start: local_instant(zone, first_day.to_datetime(times.check_in)),
        end: local_instant(zone, last_day.to_datetime(times.check_out)),
    };
    if window.end <= window.start {
        return Err(format!(
            "reservation {} ({} to {}) gives no time at the door between check-in and check-out",
            crate::zones::printable(&r.uid),
            first_day,
            last_day
        ));
    }
    Ok((first_day, last_day, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stay_times() {
        let t = StayTimes::parse("15:00", "9:30").unwrap();
        assert_eq!(t.check_in, Time::constant(15, 0, 0, 0));
        assert_eq!(t.check_out, Time::constant(9, 30, 0, 0));
        for (a, b, field) in [
            ("25:00", "11:00", "check_in"),
            ("15:00", "11", "check_out"),
            ("15:0", "11:00", "check_in"),
            ("15:00", "11:60", "check_out"),
            ("", "11:00", "check_in"),
            ("3 pm", "11:00", "check_in"),
            ("+1:00", "11:00", "check_in"),
        ] {
            assert_eq!(StayTimes::parse(a, b).unwrap_err().field, field, "{a} {b}");
        }
        let msg = StayTimes::parse("15:00", "noon").unwrap_err().to_string();
        assert!(msg.contains("check_out") && msg.contains("noon"), "{msg}");
    }
}
