//! What a reservation's text says: whether it is a block, the guest's name, the reservation
//! code and phone-number candidates. The rules are written down in
//! `docs/design/rental-calendars.md`; the examples in the tests are the shapes the big sites
//! export.

/// Lower-case words of `s` (runs of letters and digits), for matching phrases.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

fn contains_phrase(words: &[String], phrase: &[&str]) -> bool {
    !phrase.is_empty()
        && words
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

fn starts_with_phrase(words: &[String], phrase: &[&str]) -> bool {
    words.len() >= phrase.len() && words.iter().zip(phrase).all(|(a, b)| a == b)
}

/// Whether an event is a block (the host or the site closed the dates) rather than a stay.
///
/// The rule, on the summary's words (case and punctuation ignored):
/// - it contains "not available" or "unavailable" (Airbnb "Airbnb (Not available)", Booking.com
///   "CLOSED - Not available", many channel managers), or
/// - it starts with "blocked", "block", "closed", "owner block", "owner stay", "owner hold" or
///   "maintenance" (VRBO "Blocked", owner blocks in property-manager feeds).
///
/// A word that merely appears later ("Reserved - Tom Block") does not make a block.
pub fn is_block(summary: &str) -> bool {
    let w = words(summary);
    if contains_phrase(&w, &["not", "available"]) || w.iter().any(|x| x == "unavailable") {
        return true;
    }
    const STARTS: &[&[&str]] = &[
        &["blocked"],
        &["block"],
        &["closed"],
        &["owner", "block"],
        &["owner", "stay"],
        &["owner", "hold"],
        &["maintenance"],
    ];
    STARTS.iter().any(|p| starts_with_phrase(&w, p))
}

/// Summaries that name no one: the site's word for "booked".
fn is_generic(summary: &str) -> bool {
    let w = words(summary);
    let joined = w.join(" ");
    matches!(
        joined.as_str(),
        "" | "reserved"
            | "reservation"
            | "booked"
            | "booking"
            | "confirmed"
            | "busy"
            | "stay"
            | "airbnb"
            | "vrbo"
            | "homeaway"
            | "expedia"
            | "booking com"
            | "airbnb reserved"
            | "airbnb reservation"
            | "vrbo reservation"
            | "reserved airbnb"
    )
}

/// Words that start a "Reserved - Alice Martin" summary.
const RESERVED_PREFIXES: &[&str] = &["reserved", "reservation", "booked", "booking", "confirmed"];

/// Names of the booking sites that channel managers append ("Alice Martin - Booking.com").
const CHANNELS: &[&str] = &[
    "airbnb",
    "booking.com",
    "booking",
    "vrbo",
    "homeaway",
    "expedia",
    "direct",
    "tripadvisor",
];

/// One line, no control characters, spaces collapsed, at most 100 characters.
pub(crate) fn clean_one_line(s: &str) -> String {
    let collapsed = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    collapsed.chars().take(100).collect()
}

/// `(CODE)` at the end of a summary: 6 to 14 letters and digits with at least one digit and no
/// lower-case letter (`Alice Martin (HMABCDE123)`). Returns the text before it and the code.
fn trailing_code(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_end();
    let inner = s.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let code = &inner[open + 1..];
    let looks_like_code = (6..=14).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && code.chars().any(|c| c.is_ascii_digit());
    looks_like_code.then(|| (inner[..open].trim_end(), code))
}

/// Drop a trailing " - Airbnb" / " (Booking.com)" channel name.
fn strip_channel(s: &str) -> &str {
    let t = s.trim_end();
    for ch in CHANNELS {
        for (open, close) in [(" - ", ""), (" – ", ""), (" | ", ""), (" (", ")")] {
            let lower = t.to_lowercase();
            let suffix = format!("{open}{ch}{close}");
            if lower.ends_with(&suffix) && t.len() >= suffix.len() {
                // `to_lowercase` keeps byte lengths for the ASCII suffixes we compare.
                if let Some(head) = t.get(..t.len() - suffix.len()) {
                    return head.trim_end();
                }
            }
        }
    }
    t
}

/// The guest's name, when the feed has one.
///
/// In order: a summary shaped "Reserved - Alice Martin" (also "Reservation:", "Booked –",
/// VRBO and channel-manager variants); a description line "Guest name:", "Guest:" or "Name:";
/// otherwise the summary itself when it names something (a host's own calendar, "Alice
/// Martin"), never a generic one ("Reserved", "Airbnb") or a block. A trailing "(HMABCDE123)"
/// or " - Booking.com" is not part of the name.
pub fn guest_name(summary: &str, description: &str) -> Option<String> {
    let summary = summary.trim();
    if is_block(summary) {
        return None;
    }
    let w = words(summary);
    if let Some(first) = w.first()
        && RESERVED_PREFIXES.contains(&first.as_str())
    {
        // The text after the prefix word and a separator.
        let lower = summary.to_lowercase();
        let after = lower
            .find(first.as_str())
            .map(|i| &summary[i + first.len()..])
            .unwrap_or("");
        let rest =
            after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | ':' | '|' | ','));
        if rest.len() < after.len() && !rest.is_empty() {
            let rest = trailing_code(rest).map(|(head, _)| head).unwrap_or(rest);
            let name = clean_one_line(strip_channel(rest));
            if !name.is_empty() && !is_generic(&name) {
                return Some(name);
            }
        }
    }
    for line in description.lines() {
        if let Some((label, value)) = line.split_once(':') {
            let lw = words(label);
            let labelled = matches!(
                lw.join(" ").as_str(),
                "guest name" | "guest" | "name" | "guest full name" | "lead guest" | "primary guest"
            );
            let name = clean_one_line(value);
            if labelled && !name.is_empty() {
                return Some(name);
            }
        }
    }
    if is_generic(summary) || RESERVED_PREFIXES.contains(&w.first().map(String::as_str).unwrap_or("")) {
        return None;
    }
    let head = trailing_code(summary).map(|(head, _)| head).unwrap_or(summary);
    let name = clean_one_line(strip_channel(head));
    (!name.is_empty() && !is_generic(&name)).then_some(name)
}

/// The reservation code, when the feed has one: the last segment of an Airbnb reservation URL
/// (`…/hosting/reservations/details/HMABCDE123`), a description line labelled "Reservation
/// code", "Confirmation code", "Booking ID", "Reservation number" and the like, or a trailing
/// "(HMABCDE123)" in the summary.
pub fn reservation_code(summary: &str, description: &str) -> Option<String> {
    for marker in [
        "/reservations/details/",
        "/reservation/itinerary?code=",
        "/reservations/",
    ] {
        if let Some(i) = description.find(marker) {
            let code: String = description[i + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if code.len() >= 4 {
                return Some(code);
            }
        }
    }
    for line in description.lines() {
        if let Some((label, value)) = line.split_once(':') {
            let lw = words(label);
            let subject = lw
                .iter()
                .any(|x| matches!(x.as_str(), "reservation" | "confirmation" | "booking"));
            let what = lw
                .iter()
                .any(|x| matches!(x.as_str(), "code" | "id" | "number" | "no" | "ref" | "reference"));
            if subject && what {
                let code: String = value
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if !code.is_empty() {
                    return Some(code);
                }
            }
        }
    }
    trailing_code(summary).map(|(_, code)| code.to_string())
}

/// Phone-number candidates in the event's text, as written (the server normalizes them).
///
/// - A line labelled "Phone", "Tel", "Telephone", "Mobile", "Cell", "WhatsApp" (any case, any
///   extra words such as "Phone number") gives the number after the colon.
/// - A label that says the number is partial ("Phone Number (Last 4 Digits): 1234") gives
///   nothing, and a candidate needs at least 7 digits anyway.
/// - Anywhere in the text, a number written with a leading `+` and 8 to 15 digits counts too.
///
/// Duplicates (the same digits) are listed once, in the order they appear.
pub fn phone_candidates(texts: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let push = |raw: &str, found: &mut Vec<String>| {
        let raw = raw.trim().trim_end_matches(['.', '-', '/']).trim();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            return;
        }
        let known = found
            .iter()
            .any(|f| f.chars().filter(char::is_ascii_digit).collect::<String>() == digits);
        if !known {
            found.push(raw.to_string());
        }
    };
    for text in texts {
        for line in text.lines() {
            if let Some((label, value)) = line.split_once(':') {
                let lw = words(label);
                let phone_label = lw.iter().any(|x| {
                    matches!(
                        x.as_str(),
                        "phone" | "tel" | "telephone" | "téléphone" | "mobile" | "cell" | "whatsapp"
                    )
                });
                let partial = lw
                    .iter()
                    .any(|x| matches!(x.as_str(), "last" | "digits" | "partial" | "masked" | "ending"));
                if phone_label
                    && !partial
                    && let Some(run) = phone_run(value)
                {
                    push(run, &mut found);
                }
            }
        }
        // `+` numbers anywhere.
        let mut rest = *text;
        while let Some(i) = rest.find('+') {
            let after = &rest[i..];
            if after[1..].starts_with(|c: char| c.is_ascii_digit())
                && let Some(run) = phone_run(after)
            {
                let digits = run.chars().filter(char::is_ascii_digit).count();
                if digits >= 8 {
                    push(run, &mut found);
                }
                rest = &after[run.len().max(1)..];
                continue;
            }
            rest = &after[1..];
        }
    }
    found
}

/// The phone-shaped run at the start of `value` (after leading spaces): a `+` or digit, then
/// digits, spaces, dots, dashes, slashes and parentheses.
fn phone_run(value: &str) -> Option<&str> {
    let v = value.trim_start();
    let start = v.find(|c: char| c.is_ascii_digit() || c == '+' || c == '(')?;
    // Only spaces may come before the number on a labelled line (no "Last 4: …").
    if !v[..start].trim().is_empty() {
        return None;
    }
    let body = &v[start..];
    let end = body
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '/' | '(' | ')') || (*c == '+' && *i == 0))
        })
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    let run = body[..end].trim_end();
    (!run.is_empty()).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        for s in [
            "Not available",
            "Airbnb (Not available)",
            "CLOSED - Not available",
            "Blocked",
            "BLOCKED - owner",
            "Owner block",
            "Owner stay: family",
            "Unavailable",
            "closed",
            "Maintenance",
        ] {
            assert!(is_block(s), "{s} is a block");
        }
        for s in [
            "Reserved",
            "Reserved - Tom Block",
            "Reserved - Alice Martin",
            "Alice Martin",
            "Closedown Party",
            "",
        ] {
            assert!(!is_block(s), "{s} is not a block");
        }
    }

    #[test]
    fn names() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("Reserved - Alice Martin", "", Some("Alice Martin")),
            ("Reserved: Bruno Costa", "", Some("Bruno Costa")),
            ("Reservation – Chen Wei", "", Some("Chen Wei")),
            ("RESERVED - Dana O'Neil (HMABCDE123)", "", Some("Dana O'Neil")),
            (
                "Reserved",
                "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDE123",
                None,
            ),
            ("Airbnb (Not available)", "", None),
            ("Reserved", "Guest name: Eve Adams\nGuests: 2", Some("Eve Adams")),
            ("Alice Martin - Booking.com", "", Some("Alice Martin")),
            ("Frank Li (HM12345678)", "", Some("Frank Li")),
            ("Booked", "", None),
            ("Reserved -", "", None),
            ("Reserved - Airbnb", "", None),
            ("Reserved - \u{7}Gina\tPark  ", "", Some("Gina Park")),
        ];
        for (summary, description, want) in cases {
            assert_eq!(
                guest_name(summary, description).as_deref(),
                *want,
                "{summary:?} / {description:?}"
            );
        }
    }

    #[test]
    fn codes() {
        let airbnb = "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDE123\nPhone Number (Last 4 Digits): 1234";
        assert_eq!(reservation_code("Reserved", airbnb).as_deref(), Some("HMABCDE123"));
        assert_eq!(
            reservation_code("Reserved", "Booking ID: 4012345678\nGuests: 2").as_deref(),
            Some("4012345678")
        );
        assert_eq!(
            reservation_code("Reserved", "Confirmation code: HA-7XK2P9").as_deref(),
            Some("HA-7XK2P9")
        );
        assert_eq!(
            reservation_code("Frank Li (HM12345678)", "").as_deref(),
            Some("HM12345678")
        );
        assert_eq!(reservation_code("Reserved", "Guests: 2"), None);
    }

    #[test]
    fn phones() {
        let p = |t: &str| phone_candidates(&[t]);
        assert_eq!(p("Phone: +33 6 12 34 56 78\nGuests: 2"), ["+33 6 12 34 56 78"]);
        assert!(p("Phone Number (Last 4 Digits): 1234").is_empty());
        assert!(p("Phone (last 4): 5678").is_empty());
        assert_eq!(p("Mobile phone: (555) 010-0199"), ["(555) 010-0199"]);
        assert_eq!(p("Tel: 06 12 34 56 78."), ["06 12 34 56 78"]);
        assert_eq!(p("Call the guest on +1 212-555-0147 before noon"), ["+1 212-555-0147"]);
        // Labelled and unlabelled mention of one number: listed once.
        assert_eq!(p("Phone: +44 7700 900123\nor +447700900123"), ["+44 7700 900123"]);
        // Not numbers: prices, guests, dates, "hotel".
        assert!(p("Guests: 2\nTotal: 1234.50 EUR\nHotel: 12345678").is_empty());
        assert!(p("+3 guests").is_empty());
        assert!(p("Phone: unknown").is_empty());
    }
}
