//! Times on the command line (`--start`, `--end`) and times in tables (the lock's local time).
//!
//! A time argument is one of:
//! - an instant with an offset, RFC 3339: `2027-07-01T15:00:00+02:00`, `2027-07-01T13:00:00Z`;
//! - a local date-time without an offset, `2027-07-01T15:00` (or `2027-07-01 15:00`): the
//!   lock's wall-clock time, which the server reads in the lock's time zone;
//! - `now`, or `+` and a duration from now in days, hours and minutes: `+90m`, `+2h`,
//!   `+1d12h`. These are read on this computer's clock.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, civil};

/// Reads a time argument into what the API takes (`starts_at`, `ends_at`): the text itself for
/// the first two forms, an RFC 3339 instant in UTC for `now` and `+DURATION`.
pub fn parse_arg(text: &str, now: Timestamp) -> Result<String, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(whole_seconds(now).to_string());
    }
    if let Some(rest) = text.strip_prefix('+') {
        let d = duration(rest)?;
        let at = now
            .checked_add(d)
            .map_err(|_| format!("'{text}' is too far from now"))?;
        return Ok(whole_seconds(at).to_string());
    }
    if text.parse::<Timestamp>().is_ok() {
        return Ok(text.to_string());
    }
    let local = text.replacen(' ', "T", 1);
    if local.parse::<civil::DateTime>().is_ok() && local.contains('T') {
        return Ok(local);
    }
    Err(format!(
        "'{text}' is not a time; use 2027-07-01T15:00:00+02:00 (an instant), 2027-07-01T15:00 \
         (the lock's local time), now, or +2h / +90m / +1d12h (from now)"
    ))
}

fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// `1d12h`, `90m`, `2h30m`: days, hours and minutes, each at most once, in that order.
fn duration(text: &str) -> Result<SignedDuration, String> {
    let err = || format!("'+{text}' is not a duration; use e.g. +90m, +2h, +1d12h");
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut last_unit = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (rank, seconds) = match c.to_ascii_lowercase() {
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            _ => return Err(err()),
        };
        if number.is_empty() || rank <= last_unit || number.len() > 6 {
            return Err(err());
        }
        last_unit = rank;
        total += number.parse::<i64>().map_err(|_| err())? * seconds;
        number.clear();
    }
    if !number.is_empty() || last_unit == 0 {
        return Err(err());
    }
    Ok(SignedDuration::from_secs(total))
}

/// The time zone of a lock, for showing its times; UTC if the name is unknown here.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// An instant from the API shown as the lock's local time, `2027-07-01 15:00`; the text
/// itself when it is not an instant.
pub fn local_minutes(at: &str, tz: &TimeZone) -> String {
    local(at, tz, "%Y-%m-%d %H:%M")
}

/// Like `local_minutes`, with seconds (for the activity log).
pub fn local_seconds(at: &str, tz: &TimeZone) -> String {
    local(at, tz, "%Y-%m-%d %H:%M:%S")
}

fn local(at: &str, tz: &TimeZone, fmt: &str) -> String {
    match at.parse::<Timestamp>() {
        Ok(t) => t.to_zoned_datetime(tz.clone()).strftime(fmt).to_string(),
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2027-03-28T00:30:00.750Z".parse().unwrap()
    }

    #[test]
    fn reads_instants_local_times_now_and_durations() {
        let cases = [
            ("2027-07-01T15:00:00+02:00", "2027-07-01T15:00:00+02:00"),
            ("2027-07-01T13:00:00Z", "2027-07-01T13:00:00Z"),
            ("2027-07-01T15:00", "2027-07-01T15:00"),
            ("2027-07-01 15:00", "2027-07-01T15:00"),
            ("  2027-07-01T15:00:30 ", "2027-07-01T15:00:30"),
            ("now", "2027-03-28T00:30:00Z"),
            ("NOW", "2027-03-28T00:30:00Z"),
            ("+90m", "2027-03-28T02:00:00Z"),
            ("+2h", "2027-03-28T02:30:00Z"),
            ("+1d12h", "2027-03-29T12:30:00Z"),
            ("+1d2h30m", "2027-03-29T03:00:00Z"),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_arg(arg, now()).as_deref(), Ok(want), "{arg}");
        }
    }

    #[test]
    fn refuses_other_times_naming_the_forms() {
        for arg in [
            "tomorrow",
            "2027-07-01",
            "15:00",
            "+",
            "+2",
            "+h",
            "+2x",
            "+2h1d",
            "+2h2h",
            "+9999999h",
            "2027-13-01T15:00",
        ] {
            let e = parse_arg(arg, now()).expect_err(arg);
            assert!(e.contains("+2h") || e.contains("+90m"), "{arg}: {e}");
        }
    }

    #[test]
    fn shows_instants_in_the_lock_s_zone_across_daylight_saving() {
        let berlin = zone("Europe/Berlin");
        let cases = [
            // Before and after the spring change on 2027-03-28 at 02:00 local.
            ("2027-03-28T00:30:00Z", "2027-03-28 01:30"),
            ("2027-03-28T01:30:00Z", "2027-03-28 03:30"),
            ("2027-07-01T15:00:00+02:00", "2027-07-01 15:00"),
            ("2027-07-01T13:00:00Z", "2027-07-01 15:00"),
        ];
        for (at, want) in cases {
            assert_eq!(local_minutes(at, &berlin), want, "{at}");
        }
        assert_eq!(
            local_seconds("2027-01-10T08:00:05Z", &zone("Asia/Seoul")),
            "2027-01-10 17:00:05"
        );
        assert_eq!(
            local_minutes("2027-01-10T08:00:05Z", &zone("No/Such_Zone")),
            "2027-01-10 08:00"
        );
        assert_eq!(local_minutes("not a time", &berlin), "not a time");
    }
}
