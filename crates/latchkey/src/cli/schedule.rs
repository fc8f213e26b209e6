//! The `--schedule` syntax of `latchkey invite`, and the same syntax when `latchkey members`
//! shows a schedule, so what the CLI prints can be pasted back.
//!
//! ```text
//! SCHEDULE = PART *( ";" PART )
//! PART     = WINDOW | DATES
//! WINDOW   = DAYS TIME "-" TIME
//! DAYS     = DAYSET *( "," DAYSET )
//! DAYSET   = DAY | DAY "-" DAY | "daily" | "weekdays" | "weekends"
//! DAY      = mon | tue | wed | thu | fri | sat | sun   (or the full English name, any case)
//! TIME     = H:MM | HH:MM                                 ("24:00" as an end)
//! DATES    = [DATE] ".." [DATE]                           (first and last day, inclusive)
//! ```
//!
//! A day range runs forward through the week and may wrap (`fri-mon` is Friday to Monday). A
//! window whose end is earlier than its start runs past midnight into the next day
//! (`fri,sat 22:00-02:00`). Times and dates are the lock's local wall-clock time. This module
//! only reads the syntax; the server checks the rest (at most 4 windows, real times and dates)
//! and names the field it refuses.

use latchkey_client::model::{Schedule, Window};

/// Days in the order of the week, as the API names them.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Reads a schedule in the syntax above.
pub fn parse(text: &str) -> Result<Schedule, String> {
    let mut schedule = Schedule {
        windows: Vec::new(),
        valid_from: None,
        valid_until: None,
    };
    let mut dates_seen = false;
    for part in text.split(';').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        if let Some((from, until)) = part.split_once("..") {
            if dates_seen {
                return Err("give the date range once".into());
            }
            dates_seen = true;
            let (from, until) = (from.trim(), until.trim());
            if from.is_empty() && until.is_empty() {
                return Err("a date range needs a first or a last day, e.g. 2027-01-01..2027-06-30".into());
            }
            schedule.valid_from = date(from)?;
            schedule.valid_until = date(until)?;
            continue;
        }
        schedule.windows.push(window(part)?);
    }
    if schedule.windows.is_empty() {
        return Err("give at least one window, e.g. \"mon-fri 09:00-17:00\"".into());
    }
    Ok(schedule)
}

/// Writes a schedule in the syntax `parse` reads: days in week order, runs of three or more
/// days as a range.
pub fn format(s: &Schedule) -> String {
    let mut parts: Vec<String> = s
        .windows
        .iter()
        .map(|w| format!("{} {}-{}", format_days(&w.days), w.from, w.to))
        .collect();
    if s.valid_from.is_some() || s.valid_until.is_some() {
        parts.push(format!(
            "{}..{}",
            s.valid_from.as_deref().unwrap_or(""),
            s.valid_until.as_deref().unwrap_or("")
        ));
    }
    parts.join("; ")
}

fn date(text: &str) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(format!("'{text}' is not a date; use YYYY-MM-DD"));
    }
    Ok(Some(text.to_string()))
}

fn window(part: &str) -> Result<Window, String> {
    // The times are the last word (spaces around the dash allowed); everything before is days.
    let start = part
        .char_indices()
        .find(|&(i, c)| c.is_ascii_digit() && part[i..].contains(':'))
        .map(|(i, _)| i)
        .ok_or_else(|| format!("'{part}' has no times; write a window like \"mon-fri 09:00-17:00\""))?;
    let (days, times) = part.split_at(start);
    let times: String = times.chars().filter(|c| !c.is_whitespace()).collect();
    let (from, to) = times
        .split_once('-')
        .ok_or_else(|| format!("'{times}' needs a start and an end, e.g. 09:00-17:00"))?;
    let days = parse_days(days)?;
    Ok(Window {
        days,
        from: time(from)?,
        to: time(to)?,
    })
}

fn time(text: &str) -> Result<String, String> {
    let err = || format!("'{text}' is not a time; use HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(err)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(err());
    }
    Ok(format!("{h:0>2}:{m}"))
}

fn day(name: &str) -> Option<usize> {
    let n = name.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| *d == n)
        .or_else(|| FULL.iter().position(|d| *d == n))
}

fn parse_days(text: &str) -> Result<Vec<String>, String> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Err("a window needs its days first, e.g. \"mon-fri 09:00-17:00\"".into());
    }
    let mut set = [false; 7];
    for item in text.split(',') {
        let unknown = |d: &str| format!("'{d}' is not a day; use mon, tue, wed, thu, fri, sat, sun");
        match item.to_ascii_lowercase().as_str() {
            "daily" => set = [true; 7],
            "weekdays" => set[..5].iter_mut().for_each(|d| *d = true),
            "weekends" => set[5..].iter_mut().for_each(|d| *d = true),
            "" => return Err("an empty day between commas".into()),
            _ => match item.split_once('-') {
                Some((a, b)) => {
                    let a = day(a).ok_or_else(|| unknown(a))?;
                    let b = day(b).ok_or_else(|| unknown(b))?;
                    let mut d = a;
                    loop {
                        set[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => set[day(item).ok_or_else(|| unknown(item))?] = true,
            },
        }
    }
    Ok(DAYS
        .iter()
        .zip(set)
        .filter(|(_, on)| *on)
        .map(|(d, _)| d.to_string())
        .collect())
}

fn format_days(days: &[String]) -> String {
    let mut set = [false; 7];
    let mut other = Vec::new();
    for d in days {
        match day(d) {
            Some(i) => set[i] = true,
            None => other.push(d.clone()),
        }
    }
    if set == [true; 7] && other.is_empty() {
        return "daily".into();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !set[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < 7 && set[j + 1] {
            j += 1;
        }
        if j - i >= 2 {
            out.push(format!("{}-{}", DAYS[i], DAYS[j]));
        } else {
            out.extend((i..=j).map(|k| DAYS[k].to_string()));
        }
        i = j + 1;
    }
    out.extend(other);
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(days: &[&str], from: &str, to: &str) -> Window {
        Window {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn reads_windows_day_ranges_lists_and_dates() {
        type Case<'a> = (&'a str, Vec<Window>, Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            (
                "mon-fri 09:00-17:00",
                vec![w(&["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")],
                None,
                None,
            ),
            (
                "mon,wed,fri 9:00-12:30; sat 10:00 - 14:00",
                vec![
                    w(&["mon", "wed", "fri"], "09:00", "12:30"),
                    w(&["sat"], "10:00", "14:00"),
                ],
                None,
                None,
            ),
            // A range wraps through the week; a window past midnight keeps its order.
            (
                "Fri-Mon 22:00-02:00",
                vec![w(&["mon", "fri", "sat", "sun"], "22:00", "02:00")],
                None,
                None,
            ),
            (
                "daily 08:00-20:00; 2027-01-01..2027-06-30",
                vec![w(&DAYS, "08:00", "20:00")],
                Some("2027-01-01"),
                Some("2027-06-30"),
            ),
            (
                "weekdays 07:00-09:00; weekends 10:00-24:00; ..2027-03-31",
                vec![
                    w(&["mon", "tue", "wed", "thu", "fri"], "07:00", "09:00"),
                    w(&["sat", "sun"], "10:00", "24:00"),
                ],
                None,
                Some("2027-03-31"),
            ),
            (
                "2027-05-01..; monday, thursday 18:00-22:00",
                vec![w(&["mon", "thu"], "18:00", "22:00")],
                Some("2027-05-01"),
                None,
            ),
        ];
        for (text, windows, from, until) in cases {
            let s = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&s.windows, windows, "{text}");
            assert_eq!(s.valid_from.as_deref(), *from, "{text}");
            assert_eq!(s.valid_until.as_deref(), *until, "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_why() {
        let cases = [
            ("", "at least one window"),
            ("2027-01-01..2027-02-01", "at least one window"),
            ("mon-fri", "has no times"),
            ("09:00-17:00", "needs its days"),
            ("mon-fry 09:00-17:00", "'fry' is not a day"),
            ("mon 09:00", "needs a start and an end"),
            ("mon 9-17:00", "'9' is not a time"),
            ("mon 09:00-17:0", "'17:0' is not a time"),
            ("mon,,tue 09:00-10:00", "empty day"),
            ("mon 09:00-10:00; 2027-1-1..", "not a date"),
            ("mon 09:00-10:00; ..", "first or a last day"),
            ("mon 09:00-10:00; 2027-01-01..; ..2027-02-01", "once"),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn prints_what_it_reads() {
        for (text, canonical) in [
            ("mon-fri 09:00-17:00", "mon-fri 09:00-17:00"),
            ("fri,mon,sat,sun 22:00-02:00", "mon,fri-sun 22:00-02:00"),
            ("sat,sun 10:00-14:00", "sat,sun 10:00-14:00"),
            (
                "daily 8:00-20:00; 2027-01-01..2027-06-30",
                "daily 08:00-20:00; 2027-01-01..2027-06-30",
            ),
            (
                "mon,wed 07:00-09:00; tue-thu 18:00-19:00; ..2027-03-31",
                "mon,wed 07:00-09:00; tue-thu 18:00-19:00; ..2027-03-31",
            ),
        ] {
            let s = parse(text).unwrap();
            assert_eq!(format(&s), canonical);
            assert_eq!(parse(&format(&s)).unwrap(), s, "round trip of {text}");
        }
    }
}
