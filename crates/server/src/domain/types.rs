//! Values that cannot exist unless valid ("parse, don't validate"): every input from a client
//! becomes one of these at the edge of the domain, or a field error naming what was wrong.

use std::fmt;

use jiff::civil::Date;

use super::FieldErrors;

/// A phone number in E.164, checked with libphonenumber's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// The countries a phone number may be chosen in: CLDR region and calling code, by region.
pub fn countries() -> &'static [(String, u16)] {
    static LIST: std::sync::LazyLock<Vec<(String, u16)>> = std::sync::LazyLock::new(|| {
        let mut v: Vec<(String, u16)> = phonenumber::metadata::DATABASE
            .iter()
            .filter(|m| m.id().len() == 2 && m.id().bytes().all(|b| b.is_ascii_uppercase()))
            .map(|m| (m.id().to_string(), m.country_code()))
            .collect();
        v.sort();
        v
    });
    &LIST
}

fn calling_code(region: &str) -> Option<u16> {
    countries().iter().find(|(id, _)| id == region).map(|(_, code)| *code)
}

impl PhoneNumber {
    /// Accepts any common notation with a country code (`+1 202-555-0123`, `0049 151 ...`).
    pub fn parse(text: &str) -> Result<PhoneNumber, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("enter a phone number with its country code, e.g. +1 202 555 0123".into());
        }
        if trimmed.len() > 32 || trimmed.chars().any(char::is_control) {
            return Err("not a phone number".into());
        }
        let normalized = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_string(),
        };
        if !normalized.starts_with('+') {
            return Err("include the country code, starting with + (e.g. +1 202 555 0123)".into());
        }
        let parsed = phonenumber::parse(None, &normalized).map_err(|_| "not a phone number".to_string())?;
        if !phonenumber::is_valid(&parsed) {
            return Err("not a valid phone number for its country".into());
        }
        Ok(PhoneNumber(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// The number as typed next to a country choice (a CLDR region such as `DE`): a number
    /// written with its country code (`+`, `00`) stands as typed; a national number (`0151
    /// 23456780`) becomes international in the chosen country. What cannot be read that way is
    /// returned with the country's code in front, so `parse` names what is wrong with it.
    pub fn in_country(text: &str, country: &str) -> String {
        let trimmed = text.trim();
        let region = country.trim().parse::<phonenumber::country::Id>().ok();
        let Some(region) = region.filter(|_| !trimmed.starts_with('+') && !trimmed.starts_with("00")) else {
            return trimmed.to_string();
        };
        if trimmed.is_empty() || trimmed.len() > 32 || trimmed.chars().any(char::is_control) {
            return trimmed.to_string();
        }
        match phonenumber::parse(Some(region), trimmed) {
            Ok(n) if phonenumber::is_valid(&n) => n.format().mode(phonenumber::Mode::E164).to_string(),
            _ => match calling_code(region.as_ref()) {
                Some(code) => format!("+{code} {trimmed}"),
                None => trimmed.to_string(),
            },
        }
    }

    /// The CLDR region of this number (`US` for +1 202 ...), when it has one.
    pub fn country(&self) -> Option<String> {
        let n = phonenumber::parse(None, &self.0).ok()?;
        n.country().id().map(|id| id.as_ref().to_string())
    }

    /// The store's decoder: the database only holds E.164 that `parse` wrote.
    pub(crate) fn from_stored(e164: String) -> PhoneNumber {
        PhoneNumber(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time-zone name known to the bundled time-zone database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(text: &str) -> Result<TimeZoneName, String> {
        let text = text.trim();
        // jiff also accepts POSIX TZ strings and fixed offsets; we want IANA names only.
        let looks_iana = !text.is_empty()
            && text.len() <= 64
            && (text.contains('/') || text == "UTC")
            && text.chars().all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
        if !looks_iana {
            return Err("use an IANA time-zone name such as Europe/Berlin".into());
        }
        match jiff::tz::TimeZone::get(text) {
            Ok(_) => Ok(TimeZoneName(text.to_string())),
            Err(_) => Err(format!(
                "unknown time zone '{text}'; use an IANA name such as Europe/Berlin"
            )),
        }
    }

    /// The store's decoder: the database only holds names `parse` accepted (and `zone`
    /// falls back to UTC should one ever leave the time-zone database).
    pub(crate) fn from_stored(name: String) -> TimeZoneName {
        TimeZoneName(name)
    }

    /// UTC, for what has no lock of its own.
    pub fn utc() -> TimeZoneName {
        TimeZoneName("UTC".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone itself. Stored names were valid when written; should the database change under
    /// us, UTC is the safe fallback for display (locks get their table from `offset_table`).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// A person's or a key's display name: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX: usize = 64;

    pub fn parse(text: &str) -> Result<Name, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.chars().count() > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        if text
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        {
            return Err("must not contain control characters".into());
        }
        Ok(Name(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's level on one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessLevel {
    Admin,
    Family,
    RecurringGuest,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Admin => "admin",
            AccessLevel::Family => "family",
            AccessLevel::RecurringGuest => "recurring_guest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccessLevel::Admin => "Admin",
            AccessLevel::Family => "Family",
            AccessLevel::RecurringGuest => "Recurring Guest",
        }
    }
}

impl TryFrom<&str> for AccessLevel {
    type Error = String;

    fn try_from(text: &str) -> Result<AccessLevel, String> {
        match text {
            "admin" => Ok(AccessLevel::Admin),
            "family" => Ok(AccessLevel::Family),
            "recurring_guest" => Ok(AccessLevel::RecurringGuest),
            other => Err(format!("'{other}' is not an access level")),
        }
    }
}

/// Where an invitation is: pending, then accepted, declined, revoked or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for InvitationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for InvitationStatus {
    type Error = String;

    fn try_from(text: &str) -> Result<InvitationStatus, String> {
        [
            InvitationStatus::Pending,
            InvitationStatus::Accepted,
            InvitationStatus::Declined,
            InvitationStatus::Revoked,
            InvitationStatus::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("'{text}' is not an invitation status"))
    }
}

/// A lock's root secret, decoded once where it is read. `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LockSecret(pub latchkey_guest_code::RootSecret);

impl LockSecret {
    /// As the database keeps it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.0)
    }
}

impl fmt::Debug for LockSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockSecret(..)")
    }
}

impl TryFrom<&str> for LockSecret {
    type Error = String;

    fn try_from(text: &str) -> Result<LockSecret, String> {
        hex::decode(text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(|b| LockSecret(latchkey_guest_code::RootSecret(b)))
            .ok_or_else(|| "a root secret is 32 bytes of hex".to_string())
    }
}

/// Day names in the order of the days mask: bit 0 is Monday.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One weekly window in local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyWindow {
    /// Bit 0 = Monday ... bit 6 = Sunday; the days on which the window starts.
    pub days: u8,
    /// Minute of the local day, 0..1440.
    pub from: u16,
    /// Minute of the local day, 0..1440; earlier than `from` means past midnight.
    pub to: u16,
}

impl WeeklyWindow {
    /// The days as `mon` .. `sun`, Monday first.
    pub fn day_names(&self) -> Vec<String> {
        DAY_NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.days & (1 << bit) != 0)
            .map(|(_, n)| n.to_string())
            .collect()
    }
}

/// A Recurring Guest's schedule, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub windows: Vec<WeeklyWindow>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

impl Schedule {
    /// At most this many windows per schedule (what the lock keeps per user).
    pub const MAX_WINDOWS: usize = 4;

    /// Parses the JSON form of `api.md`, reporting every problem under `field`.
    pub fn parse(wire: &latchkey_client::model::Schedule, field: &str, errors: &mut FieldErrors) -> Option<Schedule> {
        let before = errors.len();
        if wire.windows.is_empty() {
            errors.add(format!("{field}.windows"), "give at least one window");
        }
        if wire.windows.len() > Self::MAX_WINDOWS {
            errors.add(
                format!("{field}.windows"),
                format!("at most {} windows", Self::MAX_WINDOWS),
            );
        }
        let mut windows = Vec::new();
        for (i, w) in wire.windows.iter().enumerate() {
            let at = format!("{field}.windows[{i}]");
            let mut days = 0u8;
            if w.days.is_empty() {
                errors.add(format!("{at}.days"), "choose at least one day");
            }
            for d in &w.days {
                match DAY_NAMES.iter().position(|n| n.eq_ignore_ascii_case(d.trim())) {
                    Some(bit) => days |= 1 << bit,
                    None => errors.add(
                        format!("{at}.days"),
                        format!("'{}' is not a day; use mon..sun", clip(d)),
                    ),
                }
            }
            let from = parse_minute(&w.from, false);
            let to = parse_minute(&w.to, true);
            if from.is_none() {
                errors.add(format!("{at}.from"), "use HH:MM between 00:00 and 23:59");
            }
            if to.is_none() {
                errors.add(format!("{at}.to"), "use HH:MM between 00:00 and 24:00");
            }
            if let (Some(from), Some(to)) = (from, to) {
                if from == to {
                    errors.add(format!("{at}.to"), "must differ from 'from'");
                }
                windows.push(WeeklyWindow { days, from, to });
            }
        }
        let date = |text: &Option<String>, name: &str, errors: &mut FieldErrors| -> Option<Date> {
            let text = text.as_ref()?;
            match text.trim().parse::<Date>() {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.add(format!("{field}.{name}"), "use a date like 2027-01-31");
                    None
                }
            }
        };
        let valid_from = date(&wire.valid_from, "valid_from", errors);
        let valid_until = date(&wire.valid_until, "valid_until", errors);
        if let (Some(a), Some(b)) = (valid_from, valid_until)
            && b < a
        {
            errors.add(format!("{field}.valid_until"), "must not be before valid_from");
        }
        (errors.len() == before).then_some(Schedule {
            windows,
            valid_from,
            valid_until,
        })
    }

    /// The JSON form of `api.md`.
    pub fn to_wire(&self) -> latchkey_client::model::Schedule {
        latchkey_client::model::Schedule {
            windows: self
                .windows
                .iter()
                .map(|w| latchkey_client::model::Window {
                    days: w.day_names(),
                    from: format_minute(w.from),
                    to: format_minute(w.to),
                })
                .collect(),
            valid_from: self.valid_from.map(|d| d.to_string()),
            valid_until: self.valid_until.map(|d| d.to_string()),
        }
    }

    /// Whether the local date-time falls inside the schedule (the server's own reading, used
    /// to answer remote unlocks early; the lock decides for itself).
    pub fn allows(&self, local: jiff::civil::DateTime) -> bool {
        let date = local.date();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let weekday = date.weekday().to_monday_zero_offset() as u8;
        let in_range = |d: Date| self.valid_from.is_none_or(|f| d >= f) && self.valid_until.is_none_or(|u| d <= u);
        self.windows.iter().any(|w| {
            if w.from < w.to {
                w.days & (1 << weekday) != 0 && minute >= w.from && minute < w.to && in_range(date)
            } else {
                // Runs past midnight: the part after `from` belongs to today, the part before
                // `to` to the window that started yesterday.
                let yesterday_bit = (weekday + 6) % 7;
                (w.days & (1 << weekday) != 0 && minute >= w.from && in_range(date))
                    || (w.days & (1 << yesterday_bit) != 0 && minute < w.to && date.yesterday().is_ok_and(in_range))
            }
        })
    }

    /// When the schedule next lets its holder in, as the lock's wall-clock time: `Open(until)`
    /// while it does (until when, `None` for longer than a week ahead), `Next(at)` when it
    /// does not yet, or `Never` when no window lies ahead (the dates have passed). Reads
    /// `allows` at the windows' edges, so it agrees with it by construction.
    pub fn opening(&self, now: jiff::civil::DateTime) -> Opening {
        let today = now.date();
        let first = match self.valid_from {
            Some(f) if f > today => f,
            _ => today,
        };
        // Every window edge from the day before `first` to 8 days after it, in order.
        let mut edges: Vec<jiff::civil::DateTime> = Vec::new();
        for offset in -1..=8i64 {
            let Ok(day) = first.checked_add(jiff::Span::new().days(offset)) else {
                continue;
            };
            let midnight = day.to_datetime(jiff::civil::Time::midnight());
            for w in &self.windows {
                for m in [w.from, w.to] {
                    if let Ok(t) = midnight.checked_add(jiff::SignedDuration::from_mins(i64::from(m))) {
                        edges.push(t);
                    }
                }
                if w.to < w.from
                    && let Ok(t) = midnight.checked_add(jiff::SignedDuration::from_mins(1440 + i64::from(w.to)))
                {
                    edges.push(t);
                }
            }
        }
        edges.sort();
        edges.dedup();
        let mut ahead = edges.into_iter().filter(|t| *t > now);
        if self.allows(now) {
            Opening::Open(ahead.find(|t| !self.allows(*t)))
        } else {
            match ahead.find(|t| self.allows(*t)) {
                Some(t) => Opening::Next(t),
                None => Opening::Never,
            }
        }
    }
}

/// What `Schedule::opening` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Lets in now, until then (`None`: not within the next week).
    Open(Option<jiff::civil::DateTime>),
    /// Lets in from then.
    Next(jiff::civil::DateTime),
    /// No window ahead (the schedule's dates have passed, or none lies in the next week).
    Never,
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(16).collect()
}

/// `HH:MM` to minutes; `24:00` only where `allow_end` (the end of a window).
pub(crate) fn parse_minute(text: &str, allow_end: bool) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if allow_end && h == 24 && m == 0 {
        return Some(1440);
    }
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub(crate) fn format_minute(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A personal keypad PIN: 6 to 8 digits, not a trivial sequence.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(..)")
    }
}

impl Pin {
    pub fn parse(text: &str) -> Result<Pin, String> {
        let text = text.trim();
        if !text.chars().all(|c| c.is_ascii_digit()) {
            return Err("use digits only".into());
        }
        if !(6..=8).contains(&text.len()) {
            return Err("use 6 to 8 digits".into());
        }
        let d: Vec<i8> = text.bytes().map(|b| (b - b'0') as i8).collect();
        let all_same = d.iter().all(|&x| x == d[0]);
        let step = |s: i8| d.windows(2).all(|w| (w[1] - w[0]).rem_euclid(10) == s.rem_euclid(10));
        let repeats_pair = d.len().is_multiple_of(2) && d.chunks(2).all(|c| c == &d[..2]);
        if all_same || step(1) || step(-1) || repeats_pair {
            return Err("too easy to guess; avoid repeated digits and sequences".into());
        }
        Ok(Pin(text.to_string()))
    }

    /// The store's decoder: the database only holds PINs `parse` accepted.
    pub(crate) fn from_stored(text: String) -> Pin {
        Pin(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_client::model as wire;

    #[test]
    fn national_numbers_take_the_chosen_country() {
        for (text, country, want) in [
            ("0151 23456780", "DE", "+4915123456780"),
            ("(202) 555-0123", "US", "+12025550123"),
            ("06 12 34 56 78", "FR", "+33612345678"),
            // A number with its country code ignores the choice.
            ("+33 6 12 34 56 78", "DE", "+33 6 12 34 56 78"),
            ("0049 151 23456780", "US", "0049 151 23456780"),
            // No choice, or one we do not know: as typed.
            ("0151 23456780", "", "0151 23456780"),
            ("0151 23456780", "XX", "0151 23456780"),
        ] {
            assert_eq!(PhoneNumber::in_country(text, country), want, "{text} in {country}");
        }
        // What cannot be a number there still fails parsing, now with the country in front.
        let bad = PhoneNumber::in_country("12", "DE");
        assert_eq!(bad, "+49 12");
        assert!(PhoneNumber::parse(&bad).is_err());
        assert_eq!(
            PhoneNumber::parse("+12025550123").unwrap().country().as_deref(),
            Some("US")
        );
        let list = countries();
        assert!(list.len() > 200, "{} countries", list.len());
        assert!(list.iter().any(|(id, code)| id == "DE" && *code == 49));
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0), "sorted by region");
    }

    #[test]
    fn phone_numbers_become_e164() {
        for (input, want) in [
            ("+1 (202) 555-0123", "+12025550123"),
            ("+12025550123", "+12025550123"),
            ("0049 151 23456780", "+4915123456780"),
            ("+33 6 12 34 56 78", "+33612345678"),
        ] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_str(), want, "{input}");
        }
        for bad in [
            "",
            "not a phone",
            "202 555 0123",
            "+1 555",
            "+999 123456",
            "+1\n2025550123",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn time_zones_are_iana_names_only() {
        assert!(TimeZoneName::parse("Europe/Berlin").is_ok());
        assert!(TimeZoneName::parse("America/Argentina/Buenos_Aires").is_ok());
        assert!(TimeZoneName::parse("UTC").is_ok());
        for bad in [
            "Mars/Olympus",
            "",
            "+02:00",
            "EST5EDT,M3.2.0,M11.1.0",
            "../../etc/passwd",
        ] {
            assert!(TimeZoneName::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_refuse_control_characters_and_length() {
        assert!(Name::parse("Ana <b>").is_ok());
        assert!(Name::parse("  ").is_err());
        assert!(Name::parse("a\u{7}b").is_err());
        assert!(Name::parse("a\u{202E}b").is_err());
        assert!(Name::parse(&"x".repeat(65)).is_err());
        assert!(Name::parse(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn stored_levels_and_statuses_are_read_exactly() {
        for level in [AccessLevel::Admin, AccessLevel::Family, AccessLevel::RecurringGuest] {
            assert_eq!(AccessLevel::try_from(level.as_str()), Ok(level));
        }
        // An unknown level is an error, not a Recurring Guest.
        assert!(AccessLevel::try_from("owner").is_err());
        assert!(AccessLevel::try_from("").is_err());
        for status in ["pending", "accepted", "declined", "revoked", "expired"] {
            assert_eq!(InvitationStatus::try_from(status).unwrap().as_str(), status);
        }
        // An unknown status is an error, not Pending.
        assert!(InvitationStatus::try_from("archived").is_err());
        let secret = LockSecret::try_from("11".repeat(32).as_str()).unwrap();
        assert_eq!(secret.to_hex(), "11".repeat(32));
        assert_eq!(format!("{secret:?}"), "LockSecret(..)");
        assert!(LockSecret::try_from("11").is_err());
        assert!(LockSecret::try_from("zz".repeat(32).as_str()).is_err());
    }

    #[test]
    fn pins() {
        assert!(Pin::parse("482915").is_ok());
        assert!(Pin::parse("48291573").is_ok());
        for bad in [
            "12345",
            "123456789",
            "12a456",
            "111111",
            "123456",
            "654321",
            "890123",
            "121212",
        ] {
            assert!(Pin::parse(bad).is_err(), "{bad} accepted");
        }
    }

    fn sched(windows: Vec<(Vec<&str>, &str, &str)>) -> wire::Schedule {
        wire::Schedule {
            windows: windows
                .into_iter()
                .map(|(d, f, t)| wire::Window {
                    days: d.into_iter().map(String::from).collect(),
                    from: f.into(),
                    to: t.into(),
                })
                .collect(),
            valid_from: None,
            valid_until: None,
        }
    }

    #[test]
    fn schedule_errors_name_the_field() {
        let mut errors = FieldErrors::default();
        let s = sched(vec![(vec!["mon", "funday"], "25:00", "12:00")]);
        assert!(Schedule::parse(&s, "schedule", &mut errors).is_none());
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["schedule.windows[0].days", "schedule.windows[0].from"]);

        let mut errors = FieldErrors::default();
        assert!(Schedule::parse(&sched(vec![]), "schedule", &mut errors).is_none());
        assert_eq!(errors.0[0].field, "schedule.windows");

        let mut errors = FieldErrors::default();
        let mut s = sched(vec![(vec!["mon"], "09:00", "09:00")]);
        assert!(Schedule::parse(&s, "schedule", &mut errors).is_none());
        s.windows[0].to = "10:00".into();
        s.valid_from = Some("2027-06-01".into());
        s.valid_until = Some("2027-01-01".into());
        let mut errors = FieldErrors::default();
        assert!(Schedule::parse(&s, "schedule", &mut errors).is_none());
        assert_eq!(errors.0[0].field, "schedule.valid_until");
    }

    #[test]
    fn schedule_round_trips_and_reads_midnight_windows() {
        let mut errors = FieldErrors::default();
        let s = Schedule::parse(
            &sched(vec![(vec!["tue"], "09:00", "12:30"), (vec!["fri"], "22:00", "02:00")]),
            "schedule",
            &mut errors,
        )
        .unwrap();
        let mut again = FieldErrors::default();
        assert_eq!(Schedule::parse(&s.to_wire(), "schedule", &mut again).unwrap(), s);
        let at = |t: &str| s.allows(t.parse().unwrap());
        // 2027-01-05 is a Tuesday.
        assert!(at("2027-01-05T09:00"));
        assert!(at("2027-01-05T12:29"));
        assert!(!at("2027-01-05T12:30"));
        assert!(!at("2027-01-06T10:00"));
        // Friday 2027-01-08 22:00 to Saturday 02:00.
        assert!(at("2027-01-08T23:59"));
        assert!(at("2027-01-09T01:59"));
        assert!(!at("2027-01-09T02:00"));
        assert!(!at("2027-01-08T01:00"));
    }

    #[test]
    fn opening_says_when_a_schedule_next_lets_in() {
        let mut errors = FieldErrors::default();
        let mut wire = sched(vec![
            (vec!["mon", "tue"], "08:00", "12:00"),
            (vec!["fri"], "22:00", "02:00"),
        ]);
        wire.valid_until = Some("2027-01-20".into());
        let s = Schedule::parse(&wire, "schedule", &mut errors).unwrap();
        let dt = |t: &str| t.parse::<jiff::civil::DateTime>().unwrap();
        // 2027-01-04 is a Monday.
        for (now, want) in [
            // Before Monday's window: from 08:00 the same day.
            ("2027-01-04T07:59", Opening::Next(dt("2027-01-04T08:00"))),
            // Inside it: until 12:00.
            ("2027-01-04T08:00", Opening::Open(Some(dt("2027-01-04T12:00")))),
            // Monday after the window: Tuesday 08:00.
            ("2027-01-04T12:00", Opening::Next(dt("2027-01-05T08:00"))),
            // Wednesday: the Friday night window.
            ("2027-01-06T10:00", Opening::Next(dt("2027-01-08T22:00"))),
            // Inside the window past midnight: until Saturday 02:00.
            ("2027-01-09T01:00", Opening::Open(Some(dt("2027-01-09T02:00")))),
            // Saturday after it: the next Monday.
            ("2027-01-09T02:00", Opening::Next(dt("2027-01-11T08:00"))),
            // After the last valid date: never again.
            ("2027-01-21T09:00", Opening::Never),
        ] {
            assert_eq!(s.opening(dt(now)), want, "at {now}");
        }
        // A schedule that starts later opens on its first valid day's window.
        let mut later = sched(vec![(vec!["mon"], "09:00", "10:00")]);
        later.valid_from = Some("2027-03-01".into());
        let later = Schedule::parse(&later, "schedule", &mut errors).unwrap();
        assert_eq!(
            later.opening(dt("2027-01-04T09:30")),
            Opening::Next(dt("2027-03-01T09:00"))
        );
    }
}
