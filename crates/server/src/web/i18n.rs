//! The web app's words: one Fluent catalogue per language (`locales/{en,ko}/*.ftl`, embedded),
//! parsed once; the reader's language (the account's setting, else `Accept-Language`, else
//! English); and dates and times written the reader's way, with the hour cycle the browser's
//! own pickers use (en-US and ko: 12-hour; other English regions: 24-hour).
//! `docs/design/i18n.md` has the choices.

use std::fmt::Display;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use jiff::ZonedDateTime as Zoned;
use jiff::civil::{Date, Time, Weekday};
use unic_langid::LanguageIdentifier;

/// The languages the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// The BCP 47 tag (`<html lang>`, the stored setting).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    /// The stored setting's language (`en`, `ko`); anything else is none.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ko" => Some(Lang::Ko),
            _ => None,
        }
    }

    /// The catalogue's files, in order.
    fn sources(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::En => &[
                ("en/pages.ftl", include_str!("../../locales/en/pages.ftl")),
                ("en/js.ftl", include_str!("../../locales/en/js.ftl")),
            ],
            Lang::Ko => &[
                ("ko/pages.ftl", include_str!("../../locales/ko/pages.ftl")),
                ("ko/js.ftl", include_str!("../../locales/ko/js.ftl")),
            ],
        }
    }
}

/// Every language's bundle.
pub struct Catalog {
    en: FluentBundle<FluentResource>,
    ko: FluentBundle<FluentResource>,
    /// Each language's `js-*` messages as JSON, made once at load (every page embeds them).
    en_js: String,
    ko_js: String,
}

impl Catalog {
    /// Parses every file; a syntax error or a message defined twice is an error naming it.
    pub fn load() -> Result<Catalog, Vec<String>> {
        let mut problems = Vec::new();
        let mut bundle_of = |lang: Lang| {
            let id: LanguageIdentifier = lang.code().parse().expect("a constant language tag");
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // No Unicode isolation marks around placeables: they would end up in attributes
            // and in the texts the tests compare.
            bundle.set_use_isolating(false);
            for (name, text) in lang.sources() {
                match FluentResource::try_new(text.to_string()) {
                    Ok(res) => {
                        if let Err(errs) = bundle.add_resource(res) {
                            problems.extend(errs.iter().map(|e| format!("{name}: {e:?}")));
                        }
                    }
                    Err((_, errs)) => problems.extend(errs.iter().map(|e| format!("{name}: {e:?}"))),
                }
            }
            bundle
        };
        let en = bundle_of(Lang::En);
        let ko = bundle_of(Lang::Ko);
        if problems.is_empty() {
            let mut catalog = Catalog {
                en,
                ko,
                en_js: String::new(),
                ko_js: String::new(),
            };
            catalog.en_js = catalog.js_json(Lang::En);
            catalog.ko_js = catalog.js_json(Lang::Ko);
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::En => &self.en,
            Lang::Ko => &self.ko,
        }
    }

    /// The message `id` in `lang` (falling back to English, then to the id itself).
    pub fn format(&self, lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
        for l in [lang, Lang::En] {
            let bundle = self.bundle(l);
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, args, &mut errors);
                if !errors.is_empty() {
                    tracing::warn!(id, ?errors, "message formatted with errors");
                }
                return text.into_owned();
            }
        }
        tracing::warn!(id, "no such message");
        id.to_string()
    }

    /// Whether `lang` has the message `id`.
    pub fn has(&self, lang: Lang, id: &str) -> bool {
        self.bundle(lang).has_message(id)
    }

    /// The `js-*` messages of a language, as the JSON object the scripts read (`</` escaped, so
    /// that it cannot end the page's script element early; still the same JSON).
    pub fn js_messages(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en_js,
            Lang::Ko => &self.ko_js,
        }
    }

    fn js_json(&self, lang: Lang) -> String {
        let mut out = serde_json::Map::new();
        for id in message_ids(lang) {
            if id.starts_with("js-") {
                out.insert(id.clone(), serde_json::Value::String(self.format(lang, &id, None)));
            }
        }
        serde_json::Value::Object(out).to_string().replace("</", "<\\/")
    }
}

/// The ids of a language's messages, in the files' order.
pub fn message_ids(lang: Lang) -> Vec<String> {
    lang.sources()
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_string()))
        .collect()
}

/// The catalogue, parsed on first use (the server touches it at start-up). A catalogue that
/// does not parse is caught by the tests; at run time the messages that did parse are used.
pub static CATALOG: LazyLock<Catalog> = LazyLock::new(|| match Catalog::load() {
    Ok(c) => c,
    Err(problems) => {
        tracing::error!(?problems, "the message catalogue has errors");
        let empty = |lang: Lang| {
            let id: LanguageIdentifier = lang.code().parse().expect("a constant language tag");
            FluentBundle::new_concurrent(vec![id])
        };
        Catalog {
            en: empty(Lang::En),
            ko: empty(Lang::Ko),
            en_js: "{}".into(),
            ko_js: "{}".into(),
        }
    }
});

/// The reader's language and clock: what a page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub lang: Lang,
    /// 12-hour times ("2:00 PM", "오후 2:00"), as the browser's pickers show them.
    pub h12: bool,
}

impl Default for Tr {
    fn default() -> Tr {
        Tr::new(Lang::En, None)
    }
}

/// English regions whose clocks (in CLDR, and so in the browser's pickers) are 12-hour.
const EN_12H_REGIONS: &[&str] = &["US", "CA", "AU", "NZ", "IN", "PH", "PK", "BD", "EG", "SA", "MY"];

impl Tr {
    /// `region`: the browser's region for this language (`US`, `GB`), if it said one.
    pub fn new(lang: Lang, region: Option<&str>) -> Tr {
        let h12 = match lang {
            Lang::Ko => true,
            Lang::En => region.is_none_or(|r| EN_12H_REGIONS.contains(&r.to_ascii_uppercase().as_str())),
        };
        Tr { lang, h12 }
    }

    /// The setting (`en`, `ko`, or none: the browser's) over `Accept-Language`, else English.
    pub fn negotiate(setting: Option<&str>, accept_language: &str) -> Tr {
        let wanted = browser_languages(accept_language);
        let region_for = |lang: Lang| wanted.iter().find(|(l, _)| *l == lang).and_then(|(_, r)| r.clone());
        if let Some(lang) = setting.and_then(Lang::from_code) {
            return Tr::new(lang, region_for(lang).as_deref());
        }
        match wanted.first() {
            Some((lang, region)) => Tr::new(*lang, region.as_deref()),
            None => Tr::new(Lang::En, None),
        }
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// A message with no variables.
    pub fn t(&self, id: &str) -> String {
        CATALOG.format(self.lang, id, None)
    }

    /// A message with variables.
    pub fn t_args(&self, id: &str, args: &[(&str, &dyn Display)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, FluentValue::from(v.to_string()));
        }
        CATALOG.format(self.lang, id, Some(&fa))
    }

    /// One string variable (for templates).
    pub fn t1(&self, id: &str, k: &str, v: impl Display) -> String {
        self.t_args(id, &[(k, &v)])
    }

    /// Two string variables (for templates).
    pub fn t2(&self, id: &str, k1: &str, v1: impl Display, k2: &str, v2: impl Display) -> String {
        self.t_args(id, &[(k1, &v1), (k2, &v2)])
    }

    /// A count (plural forms select on it).
    pub fn t_count(&self, id: &str, count: i64) -> String {
        let mut fa = FluentArgs::new();
        fa.set("count", FluentValue::from(count));
        CATALOG.format(self.lang, id, Some(&fa))
    }

    /// The `js-*` messages as JSON, for the page's `<script type="application/json">`.
    pub fn js_messages(&self) -> &'static str {
        CATALOG.js_messages(self.lang)
    }

    fn weekday_short(&self, d: Weekday) -> &'static str {
        let i = d.to_monday_zero_offset() as usize;
        match self.lang {
            Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i],
            Lang::Ko => ["월", "화", "수", "목", "금", "토", "일"][i],
        }
    }

    /// A message if the catalogue has it, else `fallback`.
    fn t_or(&self, id: &str, fallback: &str) -> String {
        if CATALOG.has(self.lang, id) {
            self.t(id)
        } else {
            fallback.to_string()
        }
    }

    /// What a "not found" names (`lock`, `guest key`).
    pub fn thing(&self, what: &str) -> String {
        self.t_or(&format!("thing-{}", what.replace(' ', "-")), what)
    }

    /// A message of the domain (a field error, a refusal): the catalogue's `dm-…` message
    /// for its English text when there is one (`docs/design/i18n.md`), else the text itself.
    pub fn domain_message(&self, message: &str) -> String {
        if self.lang == Lang::En {
            return message.to_string();
        }
        self.t_or(&format!("dm-{}", slug(message)), message)
    }

    /// An event's kind (`guest_key_created`) as a word.
    pub fn event_kind(&self, kind: &str) -> String {
        self.t_or(
            &format!("event-kind-{}", kind.replace('_', "-")),
            &kind.replace('_', " "),
        )
    }

    /// A wire word of an event (a method, a reason).
    pub fn event_word(&self, prefix: &str, word: &str) -> String {
        self.t_or(&format!("{prefix}-{}", word.replace('_', "-")), &word.replace('_', " "))
    }

    /// An access level's English label (as the domain writes it in event texts) in the reader's
    /// language.
    fn level_word(&self, label: &str) -> String {
        match label {
            "Admin" => self.t("level-admin"),
            "Family" => self.t("level-family"),
            "Recurring Guest" => self.t("level-recurring-guest"),
            other => other.to_string(),
        }
    }

    /// An event's description, stored in English by the domain, in the reader's language: the
    /// known shapes (`EVENT_TEXTS`) are translated with their parts, and the local times in it
    /// ("Mon 7 Dec 2026 15:00") are written the reader's way.
    pub fn event_detail(&self, detail: &str) -> String {
        if self.lang != Lang::En {
            for (pattern, id) in EVENT_TEXTS {
                if let Some(vars) = match_pattern(pattern, detail) {
                    let vars: Vec<(&str, String)> = vars
                        .into_iter()
                        .map(|(k, v)| {
                            let v = match k {
                                "level" | "from_level" => self.level_word(&v),
                                "why" => self.domain_message(&v),
                                _ => self.local_times(&v),
                            };
                            (k, v)
                        })
                        .collect();
                    let args: Vec<(&str, &dyn Display)> = vars.iter().map(|(k, v)| (*k, v as &dyn Display)).collect();
                    return self.t_args(id, &args);
                }
            }
            // Several changes in one entry ("renamed to …; time zone …"): each on its own.
            if detail.contains("; ") {
                return detail
                    .split("; ")
                    .map(|part| self.event_detail(part))
                    .collect::<Vec<_>>()
                    .join("; ");
            }
        }
        self.local_times(detail)
    }

    /// `text` with each "Mon 7 Dec 2026 15:00" (the domain's local times) the reader's way.
    pub fn local_times(&self, text: &str) -> String {
        let words: Vec<&str> = text.split(' ').collect();
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            if i + 5 <= words.len() {
                let five = words[i..i + 5].join(" ");
                let core = five.trim_end_matches([',', ';', '.', ')', ':']);
                if let Ok(dt) = jiff::civil::DateTime::strptime("%a %d %b %Y %H:%M", core) {
                    let date = dt.date();
                    let z = format!(
                        "{}{sep}{}",
                        self.date(date),
                        self.time(dt.time()),
                        sep = if self.lang == Lang::En && self.h12 { ", " } else { " " }
                    );
                    out.push(format!("{z}{}", &five[core.len()..]));
                    i += 5;
                    continue;
                }
            }
            out.push(words[i].to_string());
            i += 1;
        }
        out.join(" ")
    }

    /// A weekday by its wire name (`mon`…`sun`), short.
    pub fn day_name(&self, wire: &str) -> String {
        let d = match wire {
            "mon" => Weekday::Monday,
            "tue" => Weekday::Tuesday,
            "wed" => Weekday::Wednesday,
            "thu" => Weekday::Thursday,
            "fri" => Weekday::Friday,
            "sat" => Weekday::Saturday,
            "sun" => Weekday::Sunday,
            other => return other.to_string(),
        };
        self.weekday_short(d).to_string()
    }

    /// A date: "Sun, Dec 6, 2026" (en-US), "Sun 6 Dec 2026" (24-hour English),
    /// "2026년 12월 6일 (일)".
    pub fn date(&self, d: Date) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let wd = self.weekday_short(d.weekday());
        match (self.lang, self.h12) {
            (Lang::Ko, _) => format!("{}년 {}월 {}일 ({wd})", d.year(), d.month(), d.day()),
            (Lang::En, true) => format!("{wd}, {} {}, {}", MONTHS[d.month() as usize - 1], d.day(), d.year()),
            (Lang::En, false) => format!("{wd} {} {} {}", d.day(), MONTHS[d.month() as usize - 1], d.year()),
        }
    }

    /// A time of day: "2:00 PM", "14:00", "오후 2:00".
    pub fn time(&self, t: Time) -> String {
        if !self.h12 {
            return format!("{:02}:{:02}", t.hour(), t.minute());
        }
        let h = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        let pm = t.hour() >= 12;
        match self.lang {
            Lang::Ko => format!("{} {h}:{:02}", if pm { "오후" } else { "오전" }, t.minute()),
            Lang::En => format!("{h}:{:02} {}", t.minute(), if pm { "PM" } else { "AM" }),
        }
    }

    /// A wall-clock `HH:MM` (a schedule's), in the reader's hour cycle; anything else as is.
    pub fn hhmm(&self, text: &str) -> String {
        match text.parse::<Time>() {
            Ok(t) => self.time(t),
            Err(_) => text.to_string(),
        }
    }

    /// A date and time: "Sun, Dec 6, 2026, 2:00 PM", "Sun 6 Dec 2026 14:00",
    /// "2026년 12월 6일 (일) 오후 2:00".
    pub fn date_time(&self, z: &Zoned) -> String {
        let sep = if self.lang == Lang::En && self.h12 { ", " } else { " " };
        format!("{}{sep}{}", self.date(z.date()), self.time(z.time()))
    }

    /// An instant at a lock (its zone).
    pub fn at(&self, t: jiff::Timestamp, tz: &crate::domain::types::TimeZoneName) -> String {
        self.date_time(&t.to_zoned_datetime(tz.zone()))
    }
}

/// `GET /static/messages/{en,ko}.json`: a language's `js-*` messages, for the offline page
/// (which the service worker serves with no server, so nothing is embedded in it).
pub async fn js_messages_file(axum::extract::Path(file): axum::extract::Path<String>) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    match file.strip_suffix(".json").and_then(Lang::from_code) {
        Some(lang) => (
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            CATALOG.js_messages(lang),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The event descriptions the domain writes (`src/domain`), with their parts named; the
/// Korean catalogue has a message for each. The first that matches wins.
const EVENT_TEXTS: &[(&str, &str)] = &[
    (
        "guest key \"{name}\" (one-time) {from} – {to}, made offline on \"{device}\"",
        "ev-key-created-once-offline",
    ),
    (
        "guest key \"{name}\"  {from} – {to}, made offline on \"{device}\"",
        "ev-key-created-offline",
    ),
    ("guest key \"{name}\" (one-time) {from} – {to}", "ev-key-created-once"),
    ("guest key \"{name}\"  {from} – {to}", "ev-key-created"),
    (
        "guest key \"{name}\" {from} – {to} from calendar \"{calendar}\" (a new code)",
        "ev-key-from-calendar-new-code",
    ),
    (
        "guest key \"{name}\" {from} – {to} from calendar \"{calendar}\"",
        "ev-key-from-calendar",
    ),
    (
        "guest key \"{name}\" moved with its reservation from {from} to {to}; same code",
        "ev-key-moved",
    ),
    ("guest-code issuer for \"{device}\" (slot {slot})", "ev-issuer-created"),
    ("deleted guest-code issuer \"{device}\"", "ev-issuer-revoked"),
    (
        "guest key \"{name}\" now ends {to} (was {from}); same code",
        "ev-key-extended",
    ),
    (
        "guest key \"{name}\" now ends {to} (was {from}); a new code, the old one is revoked",
        "ev-key-extended-new-code",
    ),
    (
        "revoked guest key \"{name}\": its calendar \"{calendar}\" was deleted",
        "ev-key-revoked-calendar-deleted",
    ),
    (
        "calendar \"{name}\" deleted; {count} upcoming guest key(s) revoked",
        "ev-calendar-deleted",
    ),
    ("renamed to \"{name}\"", "ev-lock-renamed"),
    ("time zone {zone}", "ev-lock-time-zone"),
    (
        "keypad lockout after {limit} wrong entries for {seconds} s",
        "ev-lock-lockout",
    ),
    ("revoked guest key \"{name}\": {why}", "ev-key-revoked-why"),
    ("revoked guest key \"{name}\"", "ev-key-revoked"),
    ("replaced guest key \"{name}\": {why}", "ev-key-replaced-why"),
    ("texted guest key \"{name}\" again", "ev-key-resent"),
    ("invited {who} as {level}", "ev-invited"),
    ("revoked the invitation of {who}", "ev-invitation-revoked"),
    ("texted the invitation of {who} again", "ev-invitation-resent"),
    ("accepted the invitation as {level}", "ev-accepted"),
    ("declined the invitation", "ev-declined"),
    ("paired as \"{name}\"", "ev-paired"),
    ("schedule changed", "ev-schedule-changed"),
    ("access level {from_level} → {level}", "ev-level-changed"),
    ("left the lock", "ev-left"),
    ("removed", "ev-removed"),
    (
        "keypad PIN cleared: another member chose the same PIN",
        "ev-pin-cleared",
    ),
    ("keypad PIN set", "ev-pin-set"),
    (
        "calendar \"{name}\" added (check-in {in}, check-out {out})",
        "ev-calendar-added",
    ),
    (
        "calendar \"{name}\" could not be read; nothing was changed",
        "ev-calendar-failing",
    ),
    ("PIN", "ev-pin"),
    ("guest code", "ev-guest-code"),
    ("remote unlock", "ev-remote-unlock"),
    ("{count} times in a row", "ev-times-in-a-row"),
    ("keypad locked until {until}", "ev-keypad-locked"),
];

/// The named parts of `text` if it has the shape of `pattern` (`{name}` parts, literal rest).
fn match_pattern<'a>(pattern: &'a str, text: &str) -> Option<Vec<(&'a str, String)>> {
    // Literals and names, alternating: literal, name, literal, …, literal.
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        literals.push(&rest[..open]);
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest);
    let mut at = text.strip_prefix(literals[0])?;
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1];
        let end = if next.is_empty() {
            if i + 1 == names.len() { at.len() } else { return None }
        } else if i + 2 == literals.len() {
            // The last literal ends the text.
            if !at.ends_with(next) {
                return None;
            }
            at.len() - next.len()
        } else {
            at.find(next)?
        };
        let value = &at[..end];
        if value.is_empty() {
            return None;
        }
        out.push((*name, value.to_string()));
        at = &at[end + next.len()..];
    }
    at.is_empty().then_some(out)
}

/// A message's key: its words, lower case, joined by dashes (`must not be empty` ->
/// `must-not-be-empty`), at most 60 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The languages of an `Accept-Language` header that the app speaks, best first, each with the
/// region the browser gave it (`ko-KR,ko;q=0.9,en;q=0.8` -> ko (KR), en).
pub fn browser_languages(header: &str) -> Vec<(Lang, Option<String>)> {
    let mut tags: Vec<(f32, usize, Lang, Option<String>)> = Vec::new();
    for (i, part) in header.split(',').enumerate().take(32) {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or("").trim();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if q <= 0.0 || tag.is_empty() {
            continue;
        }
        let Ok(id) = tag.parse::<LanguageIdentifier>() else {
            continue;
        };
        let Some(lang) = Lang::from_code(id.language.as_str()) else {
            continue;
        };
        let region = id.region.map(|r| r.as_str().to_string());
        tags.push((q, i, lang, region));
    }
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, l, r)| (l, r)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_catalogue_parses() {
        if let Err(problems) = Catalog::load() {
            panic!("catalogue errors: {problems:#?}");
        }
    }

    /// The `$variables` of each message of a language.
    fn variables(lang: Lang) -> Vec<(String, BTreeSet<String>)> {
        let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
        for (_, text) in lang.sources() {
            for line in text.lines() {
                if line.starts_with(|c: char| c.is_ascii_lowercase())
                    && let Some((id, _)) = line.split_once(" =")
                {
                    out.push((id.trim().to_string(), BTreeSet::new()));
                }
                if line.trim_start().starts_with('#') {
                    continue;
                }
                if let Some((_, vars)) = out.last_mut() {
                    let mut rest = line;
                    while let Some(i) = rest.find('$') {
                        rest = &rest[i + 1..];
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                            .collect();
                        vars.insert(name);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_message_is_in_both_languages_with_the_same_variables() {
        let en = variables(Lang::En);
        let ko = variables(Lang::Ko);
        let en_ids: BTreeSet<_> = en.iter().map(|(id, _)| id.clone()).collect();
        let ko_ids: BTreeSet<_> = ko.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(en_ids.len(), en.len(), "an id is defined twice in English");
        assert_eq!(ko_ids.len(), ko.len(), "an id is defined twice in Korean");
        let only_en: Vec<_> = en_ids.difference(&ko_ids).collect();
        let only_ko: Vec<_> = ko_ids.difference(&en_ids).collect();
        assert!(only_en.is_empty(), "missing in Korean: {only_en:?}");
        assert!(only_ko.is_empty(), "missing in English: {only_ko:?}");
        for (id, vars) in &en {
            let k = &ko.iter().find(|(i, _)| i == id).expect("checked above").1;
            assert_eq!(vars, k, "variables of {id} differ");
        }
        assert!(en.len() > 100, "the catalogue looks empty: {}", en.len());
    }

    /// Every id the sources use (`t("id"`, `t1("id"`, `t_args("id"`, `msg("js-…"`) exists.
    #[test]
    fn every_id_used_exists() {
        let ids: BTreeSet<String> = message_ids(Lang::En).into_iter().collect();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut files = Vec::new();
        for dir in ["templates", "src/web", "static"] {
            for entry in std::fs::read_dir(format!("{root}{dir}")).expect("a source folder") {
                let path = entry.expect("an entry").path();
                // This module's own examples are not uses.
                if path.is_file() && !path.ends_with("i18n.rs") {
                    files.push(path);
                }
            }
        }
        let mut used = 0;
        let mut missing = Vec::new();
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for call in [
                "t(\"",
                "t1(\"",
                "t2(\"",
                "t_args(\"",
                "t_count(\"",
                "msg(\"",
                "data-msg=\"",
                "data-msg-label=\"",
            ] {
                let mut rest = text.as_str();
                while let Some(i) = rest.find(call) {
                    let before = rest[..i].chars().next_back();
                    rest = &rest[i + call.len()..];
                    if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                        continue;
                    }
                    // `.t("` / ` t("`, not the end of another name (`format!("` has no `t(`).
                    let id: String = rest.chars().take_while(|c| *c != '"').collect();
                    if id.is_empty() || id.contains(char::is_whitespace) {
                        continue;
                    }
                    used += 1;
                    if !ids.contains(&id) {
                        missing.push(format!("{}: {id}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "ids used but not in the catalogue: {missing:#?}");
        assert!(used > 100, "the scan found too few uses: {used}");
    }

    #[test]
    fn accept_language_negotiation() {
        assert_eq!(Tr::negotiate(None, "ko-KR,ko;q=0.9,en;q=0.8").lang, Lang::Ko);
        assert_eq!(Tr::negotiate(None, "fr-FR").lang, Lang::En);
        assert_eq!(Tr::negotiate(None, "").lang, Lang::En);
        assert_eq!(Tr::negotiate(None, "fr-FR,ko;q=0.5,en;q=0.4").lang, Lang::Ko);
        assert_eq!(Tr::negotiate(None, "en;q=0.5,ko;q=0.8").lang, Lang::Ko);
        assert_eq!(Tr::negotiate(None, "ko;q=0,en").lang, Lang::En);
        // The setting wins over the browser.
        assert_eq!(Tr::negotiate(Some("en"), "ko-KR,ko;q=0.9").lang, Lang::En);
        assert_eq!(Tr::negotiate(Some("ko"), "en-US").lang, Lang::Ko);
        // An unknown setting is the browser's.
        assert_eq!(Tr::negotiate(Some("xx"), "ko").lang, Lang::Ko);
        // The hour cycle follows the browser's region.
        assert!(Tr::negotiate(None, "en-US,en;q=0.9").h12);
        assert!(!Tr::negotiate(None, "en-GB,en;q=0.9").h12);
        assert!(!Tr::negotiate(Some("en"), "ko-KR,en-GB;q=0.5").h12);
        // Garbage is not a language.
        assert_eq!(Tr::negotiate(None, ";;;,=,q=1,ko-!!").lang, Lang::En);
    }

    #[test]
    fn dates_and_times_per_locale() {
        let z: Zoned = "2026-12-06T14:00:00[Europe/Berlin]".parse().expect("a date");
        let us = Tr::negotiate(None, "en-US");
        let gb = Tr::negotiate(None, "en-GB");
        let ko = Tr::negotiate(None, "ko-KR");
        assert_eq!(us.date_time(&z), "Sun, Dec 6, 2026, 2:00 PM");
        assert_eq!(gb.date_time(&z), "Sun 6 Dec 2026 14:00");
        assert_eq!(ko.date_time(&z), "2026년 12월 6일 (일) 오후 2:00");
        let morning: Time = "00:05".parse().expect("a time");
        assert_eq!(us.time(morning), "12:05 AM");
        assert_eq!(ko.time(morning), "오전 12:05");
        assert_eq!(gb.time(morning), "00:05");
        assert_eq!(us.hhmm("12:30"), "12:30 PM");
        assert_eq!(ko.day_name("sun"), "일");
    }

    #[test]
    fn event_texts_are_translated_with_their_parts() {
        let ko = Tr::new(Lang::Ko, Some("KR"));
        let us = Tr::new(Lang::En, Some("US"));
        let d = "guest key \"Ana\" (one-time) Mon 7 Dec 2026 15:00 – Tue 8 Dec 2026 11:00";
        assert_eq!(
            us.event_detail(d),
            "guest key \"Ana\" (one-time) Mon, Dec 7, 2026, 3:00 PM – Tue, Dec 8, 2026, 11:00 AM"
        );
        let k = ko.event_detail(d);
        assert!(k.contains("Ana") && k.contains("2026년 12월 7일 (월) 오후 3:00"), "{k}");
        assert!(!k.contains("guest key"), "{k}");
        assert_eq!(
            ko.event_detail("invited Bo as Recurring Guest"),
            ko.t2("ev-invited", "who", "Bo", "level", ko.t("level-recurring-guest"))
        );
        // Every pattern has its message.
        for (_, id) in EVENT_TEXTS {
            assert!(CATALOG.has(Lang::Ko, id), "{id}");
        }
        // Several changes in one entry, each translated.
        assert_eq!(
            ko.event_detail("renamed to \"Haus\"; time zone Asia/Seoul"),
            format!(
                "{}; {}",
                ko.t1("ev-lock-renamed", "name", "Haus"),
                ko.t1("ev-lock-time-zone", "zone", "Asia/Seoul")
            )
        );
        // Unknown shapes stay as they are.
        assert_eq!(ko.event_detail("something new"), "something new");
        assert_eq!(match_pattern("a {x} b", "a  b"), None);
    }

    #[test]
    fn domain_messages_by_their_key() {
        let ko = Tr::new(Lang::Ko, None);
        assert_eq!(slug("must not be empty"), "must-not-be-empty");
        assert_ne!(ko.domain_message("must not be empty"), "must not be empty");
        assert_eq!(Tr::default().domain_message("must not be empty"), "must not be empty");
        assert_eq!(ko.domain_message("a message nobody wrote"), "a message nobody wrote");
    }

    #[test]
    fn messages_take_their_variables_and_plurals() {
        let en = Tr::new(Lang::En, None);
        let ko = Tr::new(Lang::Ko, None);
        assert_eq!(
            en.t_count("locks-invitations-waiting", 1),
            "You have 1 invitation waiting."
        );
        assert_eq!(
            en.t_count("locks-invitations-waiting", 2),
            "You have 2 invitations waiting."
        );
        assert!(ko.t_count("locks-invitations-waiting", 2).contains('2'));
        assert!(ko.js_messages().starts_with('{'));
        assert!(!en.t("nav-sign-out").is_empty());
    }
}
