//! Reading a feed: iCalendar text to reservations.

use crate::text;
use crate::zones::{self, printable};
use icalendar::parser::{Component, Property};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use std::collections::HashMap;

/// When an event starts or ends, as the feed wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// An all-day value (`VALUE=DATE`). `DTEND` is exclusive: the day the guest leaves.
    Date(Date),
    /// A date-time in UTC (`…Z`) or in a named zone (`TZID=`), resolved to an instant.
    Instant(Timestamp),
    /// A floating date-time (no `Z`, no `TZID`): the lock's local time.
    Floating(DateTime),
}

/// `STATUS` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Confirmed, tentative, or not said.
    Active,
    /// `STATUS:CANCELLED`.
    Cancelled,
}

/// Whether an event is a stay or dates the host or the site closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reservation,
    /// "Not available", "Blocked", owner blocks: see [`crate::text::is_block`].
    Block,
}

/// One `VEVENT` that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub start: When,
    /// Exclusive end (`DTEND`, or `DTSTART` + `DURATION`, or one day for an all-day event with
    /// neither).
    pub end: When,
    pub status: Status,
    pub kind: Kind,
    pub guest_name: Option<String>,
    pub reservation_code: Option<String>,
    /// Phone numbers as written in the event's text; the server normalizes them.
    pub phones: Vec<String>,
}

impl Reservation {
    /// What to call the guest key: the guest's name, else the reservation code, else the
    /// summary when it says more than "Reserved", else "Reservation" and its first day.
    pub fn label(&self, first_day: Date) -> String {
        if let Some(name) = &self.guest_name {
            return name.clone();
        }
        if let Some(code) = &self.reservation_code {
            return code.clone();
        }
        let summary = text::clean_one_line(&self.summary);
        if summary.is_empty() || summary.eq_ignore_ascii_case("reserved") {
            format!("Reservation {first_day}")
        } else {
            format!("{summary} {first_day}")
        }
    }
}

/// A `VEVENT` that could not be used, and why. Its UID (when it has one) is still "in the
/// feed": reconciling leaves its key alone rather than revoking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventProblem {
    pub uid: Option<String>,
    pub message: String,
}

/// What a feed holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    /// `X-WR-CALNAME`, when the feed names itself.
    pub name: Option<String>,
    /// Every `VEVENT` that could be read, blocks and cancelled ones included.
    pub events: Vec<Reservation>,
    /// `VEVENT`s that could not be used (no UID, no start, an unknown time zone, a recurring
    /// event, a UID seen twice).
    pub problems: Vec<EventProblem>,
}

/// Why a feed could not be read at all. The messages are for a host (`last_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("the calendar feed is empty")]
    Empty,
    #[error(
        "the address does not serve an iCalendar feed (it starts with \"{start}\"); copy the listing's calendar export link (.ics)"
    )]
    NotICalendar { start: String },
    #[error("the calendar feed is not valid iCalendar: line {line} (\"{text}\") could not be read")]
    Syntax { line: usize, text: String },
    #[error("the calendar feed is cut short: it has no END:VCALENDAR")]
    Truncated,
    #[error("the calendar feed nests components more than {max} deep")]
    TooDeep { max: usize },
}

/// Components deeper than this are refused before parsing (a VCALENDAR holds VEVENTs, which
/// hold VALARMs; VTIMEZONE holds STANDARD/DAYLIGHT): the parser recurses per level, and a feed
/// of nothing but `BEGIN:` lines must not exhaust the stack.
const MAX_DEPTH: usize = 8;

/// [`parse_feed`] on the bytes a server sent: iCalendar is UTF-8 (RFC 5545 3.1.4); anything
/// else is read with replacement characters rather than refused, so one odd byte in a
/// description does not stop a whole calendar.
pub fn parse_feed_bytes(bytes: &[u8]) -> Result<Feed, FeedError> {
    parse_feed(&String::from_utf8_lossy(bytes))
}

/// Parse a feed. Bad structure is an error (its line number counts the lines of the unfolded
/// text, one per property); a bad event is a [`EventProblem`] in the result,
/// so one odd event never hides the others.
pub fn parse_feed(input: &str) -> Result<Feed, FeedError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FeedError::Empty);
    }
    let first_line = trimmed.lines().next().unwrap_or("").trim();
    if !first_line.eq_ignore_ascii_case("BEGIN:VCALENDAR") {
        return Err(FeedError::NotICalendar {
            start: printable(first_line),
        });
    }
    let last_line = trimmed.lines().last().unwrap_or("").trim();
    if !last_line.eq_ignore_ascii_case("END:VCALENDAR") {
        return Err(FeedError::Truncated);
    }
    let unfolded = icalendar::parser::unfold(trimmed);
    check_depth(&unfolded)?;
    let components = icalendar::parser::read_components(&unfolded).map_err(|e| syntax_error(&e, &unfolded))?;
    let Some(root) = components
        .iter()
        .find(|c| c.name.as_str().eq_ignore_ascii_case("VCALENDAR"))
    else {
        return Err(FeedError::NotICalendar {
            start: printable(first_line),
        });
    };

    let mut feed = Feed {
        name: prop(root, "X-WR-CALNAME").map(|p| text::clean_one_line(&text_value(p))),
        ..Feed::default()
    };
    // Producers that define their own zone names (Outlook, Lightning) often say which IANA
    // zone they mean in the VTIMEZONE.
    let mut aliases: HashMap<String, String> = HashMap::new();
    for tz in children(root, "VTIMEZONE") {
        if let (Some(id), Some(loc)) = (
            prop(tz, "TZID"),
            prop(tz, "X-LIC-LOCATION").or_else(|| prop(tz, "X-MICROSOFT-CDO-TZID-NAME")),
        ) {
            aliases.insert(id.val.as_str().to_string(), loc.val.as_str().to_string());
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in children(root, "VEVENT") {
        match read_event(event, &aliases) {
            Ok(r) => {
                if seen.contains_key(&r.uid) {
                    feed.problems.push(EventProblem {
                        uid: Some(r.uid.clone()),
                        message: format!(
                            "the event UID \"{}\" appears more than once; the first one is used",
                            printable(&r.uid)
                        ),
                    });
                    continue;
                }
                seen.insert(r.uid.clone(), feed.events.len());
                feed.events.push(r);
            }
            Err(p) => feed.problems.push(p),
        }
    }
    Ok(feed)
}

fn check_depth(unfolded: &str) -> Result<(), FeedError> {
    let mut depth = 0usize;
    for line in unfolded.lines() {
        let l = line.trim_start();
        let upper = l.get(..6).map(str::to_ascii_uppercase).unwrap_or_default();
        if upper == "BEGIN:" {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(FeedError::TooDeep { max: MAX_DEPTH });
            }
        } else if upper.starts_with("END:") {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// The first "at line N" of the parser's report, with that line's text.
fn syntax_error(report: &str, unfolded: &str) -> FeedError {
    let line = report
        .split("at line ")
        .nth(1)
        .and_then(|s| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(1);
    let text = unfolded
        .lines()
        .nth(line.saturating_sub(1))
        .map(printable)
        .unwrap_or_default();
    FeedError::Syntax { line, text }
}

fn children<'a>(c: &'a Component<'a>, name: &'a str) -> impl Iterator<Item = &'a Component<'a>> {
    c.components
        .iter()
        .filter(move |x| x.name.as_str().eq_ignore_ascii_case(name))
}

fn prop<'a>(c: &'a Component<'a>, name: &str) -> Option<&'a Property<'a>> {
    c.properties.iter().find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn param<'a>(p: &'a Property<'a>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

/// A TEXT value, unescaped. The parser unescapes properties whose names are upper case (as
/// every producer writes them); a lower-case name is unescaped here.
fn text_value(p: &Property) -> String {
    let v = p.val.as_str();
    if p.name.as_str().chars().any(|c| c.is_ascii_lowercase()) {
        unescape(v)
    } else {
        v.to_string()
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn read_event(event: &Component, aliases: &HashMap<String, String>) -> Result<Reservation, EventProblem> {
    let uid = prop(event, "UID")
        .map(text_value)
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let summary = prop(event, "SUMMARY").map(text_value).unwrap_or_default();
    let problem = |message: String| EventProblem {
        uid: uid.clone(),
        message: format!("{}: {message}", describe(uid.as_deref(), &summary)),
    };
    let Some(uid) = uid.clone() else {
        return Err(problem("it has no UID, so changes to it could not be followed".into()));
    };
    if prop(event, "RRULE").is_some() || prop(event, "RECURRENCE-ID").is_some() {
        return Err(problem(
            "it is a recurring event, which a reservation never is; it is ignored".into(),
        ));
    }
    let description = prop(event, "DESCRIPTION").map(text_value).unwrap_or_default();
    let start_prop = prop(event, "DTSTART").ok_or_else(|| problem("it has no DTSTART".into()))?;
    let start = read_when(start_prop, aliases).map_err(|m| problem(format!("DTSTART {m}")))?;
    let end = match (prop(event, "DTEND"), prop(event, "DURATION")) {
        (Some(p), _) => read_when(p, aliases).map_err(|m| problem(format!("DTEND {m}")))?,
        (None, Some(d)) => add_duration(start, d.val.as_str())
            .ok_or_else(|| problem(format!("DURATION \"{}\" is not a duration", printable(d.val.as_str()))))?,
        // RFC 5545 3.6.1: an all-day event without an end lasts one day; a timed one is an
        // instant.
        (None, None) => match start {
            When::Date(d) => When::Date(d.tomorrow().map_err(|_| problem("DTSTART is out of range".into()))?),
            other => other,
        },
    };
    let status = match prop(event, "STATUS").map(|p| p.val.as_str().trim().to_ascii_uppercase()) {
        Some(s) if s == "CANCELLED" || s == "CANCELED" => Status::Cancelled,
        _ => Status::Active,
    };
    let kind = if text::is_block(&summary) {
        Kind::Block
    } else {
        Kind::Reservation
    };
    let location = prop(event, "LOCATION").map(text_value).unwrap_or_default();
    let (guest_name, reservation_code, phones) = match kind {
        Kind::Block => (None, None, Vec::new()),
        Kind::Reservation => (
            text::guest_name(&summary, &description),
            text::reservation_code(&summary, &description),
            text::phone_candidates(&[&summary, &description, &location]),
        ),
    };
    Ok(Reservation {
        uid,
        summary,
        description,
        start,
        end,
        status,
        kind,
        guest_name,
        reservation_code,
        phones,
    })
}

fn describe(uid: Option<&str>, summary: &str) -> String {
    match (uid, summary.trim()) {
        (Some(u), "") => format!("event {}", printable(u)),
        (Some(u), s) => format!("event {} (\"{}\")", printable(u), printable(s)),
        (None, "") => "an event".to_string(),
        (None, s) => format!("event \"{}\"", printable(s)),
    }
}

/// A DTSTART/DTEND value: `YYYYMMDD` (with or without `VALUE=DATE`), `YYYYMMDDTHHMMSS[Z]`,
/// with `TZID=` when it is neither UTC nor floating.
fn read_when(p: &Property, aliases: &HashMap<String, String>) -> Result<When, String> {
    let raw = p.val.as_str().trim();
    let bad = || format!("\"{}\" is not an iCalendar date or date-time", printable(raw));
    let value_date = param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    if value_date || (raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit())) {
        return parse_date(raw).map(When::Date).ok_or_else(bad);
    }
    let (body, utc) = match raw.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let (d, t) = body.split_once(['T', 't']).ok_or_else(bad)?;
    let date = parse_date(d).ok_or_else(bad)?;
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |i: usize| t[i..i + 2].parse::<i8>().unwrap_or(99);
    // A leap second (60) is read as :59.
    let time = jiff::civil::Time::new(n(0), n(2), n(4).min(59), 0).map_err(|_| bad())?;
    let local = date.to_datetime(time);
    if utc {
        return jiff::tz::Offset::UTC
            .to_timestamp(local)
            .map(When::Instant)
            .map_err(|_| bad());
    }
    match param(p, "TZID") {
        None => Ok(When::Floating(local)),
        Some(tzid) => {
            let tz = match aliases.get(tzid) {
                Some(alias) => zones::resolve_tzid(alias).or_else(|_| zones::resolve_tzid(tzid)),
                None => zones::resolve_tzid(tzid),
            }?;
            Ok(When::Instant(zones::local_instant(&tz, local)))
        }
    }
}

fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = s[0..4].parse::<i16>().ok()?;
    let m = s[4..6].parse::<i8>().ok()?;
    let d = s[6..8].parse::<i8>().ok()?;
    Date::new(y, m, d).ok()
}

/// `start` + an RFC 5545 duration (`P3D`, `P1W`, `PT2H30M`, `P1DT12H`). Weeks and days are
/// calendar days on a date or a floating time and 24 hours on an instant; on a date, a time
/// part is rounded down to whole days. Negative or absurd (over ten years) durations are
/// refused.
fn add_duration(start: When, raw: &str) -> Option<When> {
    let raw = raw.trim();
    let (negative, body) = match raw.as_bytes().first()? {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    if negative {
        return None;
    }
    let body = body.strip_prefix(['P', 'p'])?;
    let (date_part, time_part) = match body.split_once(['T', 't']) {
        Some((d, t)) => (d, t),
        None => (body, ""),
    };
    let mut days: i64 = 0;
    let mut seconds: i64 = 0;
    let mut num = String::new();
    for c in date_part.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        match c.to_ascii_uppercase() {
            'W' => days = days.checked_add(n.checked_mul(7)?)?,
            'D' => days = days.checked_add(n)?,
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    for c in time_part.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        let unit = match c.to_ascii_uppercase() {
            'H' => 3600,
            'M' => 60,
            'S' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(n.checked_mul(unit)?)?;
    }
    if !num.is_empty() || days > 3660 || seconds > 3660 * 86_400 {
        return None;
    }
    match start {
        When::Date(d) => {
            let span = jiff::Span::new().try_days(days).ok()?;
            let end = d.checked_add(span).ok()?;
            // A date plus hours is still the end day (a DURATION with a time part on an
            // all-day event is unusual; round down to whole days).
            let extra_days = seconds / 86_400;
            Some(When::Date(
                end.checked_add(jiff::Span::new().try_days(extra_days).ok()?).ok()?,
            ))
        }
        When::Instant(t) => {
            let total = days.checked_mul(86_400)?.checked_add(seconds)?;
            Some(When::Instant(
                t.checked_add(jiff::SignedDuration::from_secs(total)).ok()?,
            ))
        }
        When::Floating(dt) => {
            let dt = dt
                .checked_add(jiff::Span::new().try_days(days).ok()?)
                .ok()?
                .checked_add(jiff::SignedDuration::from_secs(seconds))
                .ok()?;
            Some(When::Floating(dt))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = When::Date(jiff::civil::date(2026, 3, 1));
        assert_eq!(add_duration(d, "P3D"), Some(When::Date(jiff::civil::date(2026, 3, 4))));
        assert_eq!(add_duration(d, "P1W"), Some(When::Date(jiff::civil::date(2026, 3, 8))));
        let t = When::Instant("2026-03-01T10:00:00Z".parse().unwrap());
        assert_eq!(
            add_duration(t, "P1DT2H30M"),
            Some(When::Instant("2026-03-02T12:30:00Z".parse().unwrap()))
        );
        for bad in ["", "P", "3D", "PXD", "-P1D", "P99999999999999999999D", "PT", "P1DT"] {
            // "P" and "PT" add nothing and are accepted as zero by some readers; we only
            // require that nothing panics and that real garbage is refused.
            let _ = add_duration(d, bad);
        }
        assert_eq!(add_duration(d, "3D"), None);
        assert_eq!(add_duration(d, "-P1D"), None);
        assert_eq!(add_duration(d, "P99999999999999999999D"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_not_refused() {
        let mut ics =
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20260302\r\nSUMMARY:Reserved - Jos"
                .to_vec();
        ics.extend_from_slice(&[0xe9, 0xff]);
        ics.extend_from_slice(b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
        let f = parse_feed_bytes(&ics).unwrap();
        assert_eq!(f.events[0].guest_name.as_deref(), Some("Jos\u{fffd}\u{fffd}"));
    }

    #[test]
    fn escapes_in_lower_case_names() {
        assert_eq!(unescape(r"a\, b\; c\nd\\e\x"), "a, b; c\nd\\e\\x");
    }
}
