//! Time zones: the names feeds use in `TZID=`, and turning a lock-local date and time into an
//! instant the same way everywhere (a time in a DST gap is the instant the gap ends; a time
//! that happens twice is the first).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The instant a local date and time stands for in `zone`.
///
/// - A time that does not exist that day (the clocks jump over it, e.g. 02:30 on the spring
///   night in Europe/Paris) is the instant right after the gap: 03:00 local, the first moment
///   that exists on the clock at or after the time asked for.
/// - A time that exists twice (the autumn night) is the first of the two.
pub fn local_instant(zone: &TimeZone, local: DateTime) -> Timestamp {
    let ambiguous = zone.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => to_timestamp(offset, local),
        // Earlier instant of the two: the offset in force before the clocks went back.
        AmbiguousOffset::Fold { before, after } => {
            let a = to_timestamp(before, local);
            let b = to_timestamp(after, local);
            a.min(b)
        }
        AmbiguousOffset::Gap { before, after } => {
            // `local` read with the offset after the gap is an instant before the transition;
            // the transition that follows it is the end of the gap.
            let probe = to_timestamp(after, local).min(to_timestamp(before, local));
            zone.following(probe)
                .next()
                .map(|t| t.timestamp())
                .unwrap_or_else(|| to_timestamp(before, local))
        }
    }
}

fn to_timestamp(offset: jiff::tz::Offset, local: DateTime) -> Timestamp {
    // Only fails for datetimes at the very ends of jiff's range, which a feed cannot reach
    // after our own parsing (years 1..=9999 with the offsets of real zones); fall back to UTC.
    offset
        .to_timestamp(local)
        .or_else(|_| jiff::tz::Offset::UTC.to_timestamp(local))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The IANA zone a feed's `TZID` names.
///
/// Accepts IANA names (`Europe/Paris`), the path forms some producers write
/// (`/mozilla.org/20050126_1/Europe/Paris`, `/Europe/Paris`), and the Windows names Outlook and
/// Exchange write (`Romance Standard Time`), mapped with the Unicode CLDR "001" table (the zone
/// Windows itself uses for that name). Anything else is refused with a message naming it.
pub fn resolve_tzid(tzid: &str) -> Result<TimeZone, String> {
    let name = tzid.trim().trim_matches('"');
    if let Ok(tz) = TimeZone::get(name) {
        return Ok(tz);
    }
    if let Some(iana) = windows_to_iana(name)
        && let Ok(tz) = TimeZone::get(iana)
    {
        return Ok(tz);
    }
    // Path forms: try the last two, then three segments (`America/Argentina/Buenos_Aires`).
    if name.contains('/') {
        let segments: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
        for take in [2, 3, 1] {
            if segments.len() >= take {
                let candidate = segments[segments.len() - take..].join("/");
                if let Ok(tz) = TimeZone::get(&candidate) {
                    return Ok(tz);
                }
            }
        }
    }
    Err(format!(
        "time zone \"{}\" is neither an IANA name (such as Europe/Paris) nor a known Windows name",
        printable(name)
    ))
}

/// At most 60 characters of `s`, control characters replaced, for error messages.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// Windows time-zone names to IANA names: the "001" (default territory) rows of the Unicode
/// CLDR `windowsZones.xml` for the zones rental listings are likely to be in.
fn windows_to_iana(name: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("Dateline Standard Time", "Etc/GMT+12"),
        ("UTC-11", "Etc/GMT+11"),
        ("Hawaiian Standard Time", "Pacific/Honolulu"),
        ("Alaskan Standard Time", "America/Anchorage"),
        ("Pacific Standard Time (Mexico)", "America/Tijuana"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("US Mountain Standard Time", "America/Phoenix"),
        ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
        ("Mountain Standard Time", "America/Denver"),
        ("Central America Standard Time", "America/Guatemala"),
        ("Central Standard Time (Mexico)", "America/Mexico_City"),
        ("Central Standard Time", "America/Chicago"),
        ("Canada Central Standard Time", "America/Regina"),
        ("SA Pacific Standard Time", "America/Bogota"),
        ("Eastern Standard Time (Mexico)", "America/Cancun"),
        ("Eastern Standard Time", "America/New_York"),
        ("US Eastern Standard Time", "America/Indianapolis"),
        ("Cuba Standard Time", "America/Havana"),
        ("Atlantic Standard Time", "America/Halifax"),
        ("Venezuela Standard Time", "America/Caracas"),
        ("SA Western Standard Time", "America/La_Paz"),
        ("Pacific SA Standard Time", "America/Santiago"),
        ("Newfoundland Standard Time", "America/St_Johns"),
        ("E. South America Standard Time", "America/Sao_Paulo"),
        ("Argentina Standard Time", "America/Buenos_Aires"),
        ("SA Eastern Standard Time", "America/Cayenne"),
        ("Montevideo Standard Time", "America/Montevideo"),
        ("UTC-02", "Etc/GMT+2"),
        ("Azores Standard Time", "Atlantic/Azores"),
        ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
        ("UTC", "Etc/UTC"),
        ("Coordinated Universal Time", "Etc/UTC"),
        ("GMT Standard Time", "Europe/London"),
        ("Greenwich Standard Time", "Atlantic/Reykjavik"),
        ("Morocco Standard Time", "Africa/Casablanca"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Central Europe Standard Time", "Europe/Budapest"),
        ("Romance Standard Time", "Europe/Paris"),
        ("Central European Standard Time", "Europe/Warsaw"),
        ("W. Central Africa Standard Time", "Africa/Lagos"),
        ("GTB Standard Time", "Europe/Bucharest"),
        ("Middle East Standard Time", "Asia/Beirut"),
        ("Egypt Standard Time", "Africa/Cairo"),
        ("E. Europe Standard Time", "Europe/Chisinau"),
        ("South Africa Standard Time", "Africa/Johannesburg"),
        ("FLE Standard Time", "Europe/Kiev"),
        ("Israel Standard Time", "Asia/Jerusalem"),
        ("Arabic Standard Time", "Asia/Baghdad"),
        ("Turkey Standard Time", "Europe/Istanbul"),
        ("Arab Standard Time", "Asia/Riyadh"),
        ("Russian Standard Time", "Europe/Moscow"),
        ("E. Africa Standard Time", "Africa/Nairobi"),
        ("Iran Standard Time", "Asia/Tehran"),
        ("Arabian Standard Time", "Asia/Dubai"),
        ("Caucasus Standard Time", "Asia/Yerevan"),
        ("Afghanistan Standard Time", "Asia/Kabul"),
        ("Pakistan Standard Time", "Asia/Karachi"),
        ("India Standard Time", "Asia/Calcutta"),
        ("Sri Lanka Standard Time", "Asia/Colombo"),
        ("Nepal Standard Time", "Asia/Katmandu"),
        ("Bangladesh Standard Time", "Asia/Dhaka"),
        ("Myanmar Standard Time", "Asia/Rangoon"),
        ("SE Asia Standard Time", "Asia/Bangkok"),
        ("China Standard Time", "Asia/Shanghai"),
        ("Singapore Standard Time", "Asia/Singapore"),
        ("Taipei Standard Time", "Asia/Taipei"),
        ("W. Australia Standard Time", "Australia/Perth"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("Korea Standard Time", "Asia/Seoul"),
        ("Cen. Australia Standard Time", "Australia/Adelaide"),
        ("AUS Central Standard Time", "Australia/Darwin"),
        ("E. Australia Standard Time", "Australia/Brisbane"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("Tasmania Standard Time", "Australia/Hobart"),
        ("West Pacific Standard Time", "Pacific/Port_Moresby"),
        ("New Zealand Standard Time", "Pacific/Auckland"),
        ("Fiji Standard Time", "Pacific/Fiji"),
    ];
    TABLE
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(name))
        .map(|(_, iana)| *iana)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(zone: &str, y: i16, m: i8, d: i8, h: i8, min: i8) -> String {
        let tz = TimeZone::get(zone).unwrap();
        local_instant(&tz, date(y, m, d).at(h, min, 0, 0)).to_string()
    }

    #[test]
    fn ordinary_gap_and_fold_times() {
        // (zone, local date and time, the instant)
        let cases = [
            ("Europe/Paris", (2026, 3, 1, 15, 0), "2026-03-01T14:00:00Z"),
            ("Europe/Paris", (2026, 7, 1, 15, 0), "2026-07-01T13:00:00Z"),
            // 2026-03-29 02:00 -> 03:00 in Paris: 02:30 does not exist, the gap ends 01:00Z.
            ("Europe/Paris", (2026, 3, 29, 2, 30), "2026-03-29T01:00:00Z"),
            ("Europe/Paris", (2026, 3, 29, 2, 0), "2026-03-29T01:00:00Z"),
            // 2026-10-25 03:00 -> 02:00: 02:30 happens twice, the first is 00:30Z.
            ("Europe/Paris", (2026, 10, 25, 2, 30), "2026-10-25T00:30:00Z"),
            // New York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00.
            ("America/New_York", (2026, 3, 8, 2, 15), "2026-03-08T07:00:00Z"),
            ("America/New_York", (2026, 11, 1, 1, 30), "2026-11-01T05:30:00Z"),
            ("America/New_York", (2026, 11, 1, 11, 0), "2026-11-01T16:00:00Z"),
        ];
        for (zone, (y, m, d, h, min), want) in cases {
            assert_eq!(at(zone, y, m, d, h, min), want, "{zone} {y}-{m}-{d} {h}:{min}");
        }
    }

    #[test]
    fn tzid_names() {
        assert_eq!(resolve_tzid("Europe/Paris").unwrap().iana_name(), Some("Europe/Paris"));
        assert_eq!(
            resolve_tzid("\"Europe/Paris\"").unwrap().iana_name(),
            Some("Europe/Paris")
        );
        assert_eq!(
            resolve_tzid("Romance Standard Time").unwrap().iana_name(),
            Some("Europe/Paris")
        );
        assert_eq!(
            resolve_tzid("eastern standard time").unwrap().iana_name(),
            Some("America/New_York")
        );
        assert_eq!(
            resolve_tzid("/mozilla.org/20050126_1/America/New_York")
                .unwrap()
                .iana_name(),
            Some("America/New_York")
        );
        let err = resolve_tzid("GMT +0100 (Standard) / GMT +0200 (Daylight)").unwrap_err();
        assert!(err.contains("GMT +0100"), "{err}");
        assert!(resolve_tzid("Mars/Olympus_Mons").is_err());
    }
}
