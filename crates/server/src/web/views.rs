//! Page templates and the plain view data they show.

use askama::Template;
use jiff::Timestamp;
use serde::Deserialize;

use super::i18n::Tr;
use crate::domain::FieldErrors;
use crate::domain::types::{AccessLevel, TimeZoneName};
use latchkey_client::model as m;

/// What the layout shows on every page.
pub struct Common {
    pub signed_in: bool,
    pub csrf: String,
    /// A confirmation of our own wording.
    pub notice: String,
    /// A problem that belongs to no single field.
    pub problem: String,
    /// The reader's language and clock.
    pub tr: Tr,
}

impl Common {
    pub fn t(&self, id: &str) -> String {
        self.tr.t(id)
    }

    pub fn t1(&self, id: &str, k: &str, v: impl std::fmt::Display) -> String {
        self.tr.t1(id, k, v)
    }

    pub fn t2(&self, id: &str, k1: &str, v1: impl std::fmt::Display, k2: &str, v2: impl std::fmt::Display) -> String {
        self.tr.t2(id, k1, v1, k2, v2)
    }

    /// `count` by reference or value (templates pass references).
    pub fn t_count(&self, id: &str, count: impl std::borrow::Borrow<i64>) -> String {
        self.tr.t_count(id, *count.borrow())
    }
}

/// Field errors, shown next to their fields.
#[derive(Default)]
pub struct FormErrors(Vec<(String, String)>);

impl FormErrors {
    pub fn add(&mut self, field: &str, message: &str) {
        self.0.push((field.to_string(), message.to_string()));
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    pub fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first message, for a page that shows one line.
    pub fn first(&self) -> &str {
        self.0.first().map(|(_, m)| m.as_str()).unwrap_or("")
    }
}

/// One option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: &str, label: &str, current: &str) -> Choice {
        Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: value == current,
        }
    }
}

impl FormErrors {
    /// The domain's field errors, in the reader's language.
    pub fn from_domain(fe: FieldErrors, tr: Tr) -> FormErrors {
        let mut out = FormErrors::default();
        for e in fe.0 {
            let mut message = tr.domain_message(&e.message);
            if let Some(first) = message.get(..1) {
                message = first.to_uppercase() + message.get(1..).unwrap_or("");
            }
            // Schedule errors of a one-window form are shown at the window's fields.
            let field = e
                .field
                .replace("schedule.windows", "schedule.windows[0]")
                .replace("[0][0]", "[0]");
            out.add(&field, &message);
        }
        out
    }
}

/// The wire name of an enum value (`snake_case`).
pub fn wire_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn level_label(l: m::AccessLevel, tr: Tr) -> String {
    tr.t(match l {
        m::AccessLevel::Admin => "level-admin",
        m::AccessLevel::Family => "level-family",
        m::AccessLevel::RecurringGuest => "level-recurring-guest",
    })
}

/// A domain access level's name in the reader's language.
pub fn level_name(l: AccessLevel, tr: Tr) -> String {
    tr.t(&format!("level-{}", l.as_str().replace('_', "-")))
}

/// `Mon, Wed, Fri 9:00 AM–12:30 PM; from Fri, Jan 1, 2027 until Wed, Jun 30, 2027`, in the
/// reader's language and hour cycle.
pub fn schedule_text(s: &m::Schedule, tr: Tr) -> String {
    let mut parts: Vec<String> = s
        .windows
        .iter()
        .map(|w| {
            let days: Vec<String> = w.days.iter().map(|d| tr.day_name(d)).collect();
            format!("{} {}–{}", days.join(", "), tr.hhmm(&w.from), tr.hhmm(&w.to))
        })
        .collect();
    let day = |d: &String| {
        d.parse::<jiff::civil::Date>()
            .map(|d| tr.date(d))
            .unwrap_or_else(|_| d.clone())
    };
    match (&s.valid_from, &s.valid_until) {
        (Some(a), Some(b)) => parts.push(tr.t2("schedule-from-until", "from", day(a), "until", day(b))),
        (Some(a), None) => parts.push(tr.t1("schedule-from-only", "from", day(a))),
        (None, Some(b)) => parts.push(tr.t1("schedule-until-only", "until", day(b))),
        (None, None) => {}
    }
    parts.join("; ")
}

// ------------------------------------------------------------------------------ view items

pub struct LockItem {
    pub id: String,
    pub name: String,
    pub level: String,
    pub online: bool,
}

pub struct MemberItem {
    pub account_id: String,
    pub name: String,
    pub phone: String,
    pub level: String,
    pub level_wire: String,
    pub schedule: String,
    pub wire_schedule: Option<m::Schedule>,
    pub has_pin: bool,
    pub synced: bool,
}

impl MemberItem {
    pub fn new(w: &m::Member, tr: Tr) -> MemberItem {
        MemberItem {
            account_id: w.account_id.clone(),
            name: w.name.clone(),
            phone: w.phone.clone(),
            level: level_label(w.access_level, tr),
            level_wire: wire_str(&w.access_level),
            schedule: w.schedule.as_ref().map(|s| schedule_text(s, tr)).unwrap_or_default(),
            wire_schedule: w.schedule.clone(),
            has_pin: w.has_pin,
            synced: w.sync == m::SyncState::Synced,
        }
    }
}

pub struct InvitationItem {
    pub id: String,
    /// The invitee's name as the inviter gave it (may be empty).
    pub name: String,
    pub phone: String,
    pub lock_name: String,
    pub invited_by: String,
    pub level: String,
    pub schedule: String,
    pub expires: String,
}

impl InvitationItem {
    pub fn new(i: &m::Invitation, tz: &TimeZoneName, tr: Tr) -> InvitationItem {
        let expires = i
            .expires_at
            .parse::<Timestamp>()
            .map(|t| tr.at(t, tz))
            .unwrap_or_else(|_| i.expires_at.clone());
        InvitationItem {
            id: i.id.clone(),
            name: i.name.clone().unwrap_or_default(),
            phone: i.phone.clone(),
            lock_name: i.lock_name.clone(),
            invited_by: i.invited_by.clone(),
            level: level_label(i.access_level, tr),
            schedule: i.schedule.as_ref().map(|s| schedule_text(s, tr)).unwrap_or_default(),
            expires,
        }
    }
}

pub struct KeyItem {
    pub id: String,
    pub name: String,
    pub status: String,
    /// "starts Mon 7 Dec 2026 15:00" for a key that does not work yet, else empty.
    pub starts: String,
    pub live: bool,
    pub window: String,
    pub one_time: bool,
}

pub struct EventItem {
    pub at: String,
    pub what: String,
    pub class: &'static str,
    pub text: String,
}

impl EventItem {
    pub fn new(e: &m::Event, at_ms: i64, tz: &TimeZoneName, tr: Tr) -> EventItem {
        let at = Timestamp::from_millisecond(at_ms)
            .map(|t| tr.at(t, tz))
            .unwrap_or_else(|_| e.at.clone());
        let (what, class) = match e.outcome.as_deref() {
            Some("granted") => (tr.t("event-opened"), "ok"),
            Some("denied") => (tr.t("event-denied"), "bad"),
            _ => (tr.event_kind(&e.kind), ""),
        };
        let mut text = local_instants(&tr.event_detail(&e.detail), tz, tr);
        if let Some(actor) = &e.actor {
            // An actor with no id is one the domain named itself ("guest code": a code no key
            // has), in English.
            let name = if actor.id.is_none() {
                tr.event_detail(&actor.name)
            } else {
                actor.name.clone()
            };
            if !text.contains(&name) {
                text = if text.is_empty() {
                    name
                } else {
                    format!("{name} {text}")
                };
            }
        }
        if let Some(method) = &e.method {
            text.push_str(&format!(" · {}", tr.event_word("event-method", method)));
        }
        if let Some(reason) = &e.reason {
            text.push_str(&format!(" · {}", tr.event_word("event-reason", reason)));
        }
        if let Some(by) = &e.by {
            text.push_str(&format!(" · {}", tr.t1("event-by", "name", &by.name)));
        }
        EventItem {
            at,
            what,
            class,
            text: text.trim().to_string(),
        }
    }
}

/// `text` with every RFC 3339 instant in it ("keypad locked until 2026-12-05T14:07:11Z")
/// written as the lock's local time, as everywhere else on the pages.
pub fn local_instants(text: &str, tz: &TimeZoneName, tr: Tr) -> String {
    text.split(' ')
        .map(|word| {
            // A word may end with punctuation ("…14:07:11Z;").
            let core = word.trim_end_matches([',', ';', '.', ')']);
            match core.parse::<Timestamp>() {
                Ok(t) if core.contains('T') => format!("{}{}", tr.at(t, tz), &word[core.len()..]),
                _ => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------- forms

/// The Add Family Member form and the member's access form: a level and a one-window
/// schedule editor (days, from, to, optional dates). The API takes up to four windows; the
/// web form edits the first.
#[derive(Deserialize, Default)]
pub struct MemberForm {
    #[serde(default)]
    pub phone: String,
    /// The invitee's name (invitations only).
    #[serde(default)]
    pub name: String,
    /// The form's idempotency key (invitations only): the same submission twice invites once.
    #[serde(default)]
    pub idem: String,
    /// The country a national phone number is read in (a CLDR region such as `DE`).
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub access_level: String,
    #[serde(default)]
    pub day_mon: Option<String>,
    #[serde(default)]
    pub day_tue: Option<String>,
    #[serde(default)]
    pub day_wed: Option<String>,
    #[serde(default)]
    pub day_thu: Option<String>,
    #[serde(default)]
    pub day_fri: Option<String>,
    #[serde(default)]
    pub day_sat: Option<String>,
    #[serde(default)]
    pub day_sun: Option<String>,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub valid_from: String,
    #[serde(default)]
    pub valid_until: String,
}

impl MemberForm {
    fn day_flags(&self) -> [(&'static str, &'static str, bool); 7] {
        [
            ("mon", "Mon", self.day_mon.is_some()),
            ("tue", "Tue", self.day_tue.is_some()),
            ("wed", "Wed", self.day_wed.is_some()),
            ("thu", "Thu", self.day_thu.is_some()),
            ("fri", "Fri", self.day_fri.is_some()),
            ("sat", "Sat", self.day_sat.is_some()),
            ("sun", "Sun", self.day_sun.is_some()),
        ]
    }

    pub fn days(&self) -> Vec<(&'static str, &'static str, bool)> {
        self.day_flags().to_vec()
    }

    pub fn level(&self) -> Option<AccessLevel> {
        match self.access_level.as_str() {
            "admin" => Some(AccessLevel::Admin),
            "family" => Some(AccessLevel::Family),
            "recurring_guest" => Some(AccessLevel::RecurringGuest),
            _ => None,
        }
    }

    /// The schedule, for a Recurring Guest only.
    pub fn schedule(&self) -> Option<m::Schedule> {
        if self.level() != Some(AccessLevel::RecurringGuest) {
            return None;
        }
        let days = self
            .day_flags()
            .iter()
            .filter(|d| d.2)
            .map(|d| d.0.to_string())
            .collect();
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Some(m::Schedule {
            windows: vec![m::Window {
                days,
                from: self.from.trim().to_string(),
                to: self.to.trim().to_string(),
            }],
            valid_from: opt(&self.valid_from),
            valid_until: opt(&self.valid_until),
        })
    }

    pub fn from_member(mi: &MemberItem) -> MemberForm {
        let mut f = MemberForm {
            access_level: mi.level_wire.clone(),
            from: "09:00".into(),
            to: "17:00".into(),
            ..Default::default()
        };
        if let Some(s) = &mi.wire_schedule {
            if let Some(w) = s.windows.first() {
                f.from = w.from.clone();
                f.to = w.to.clone();
                for d in &w.days {
                    let on = Some("on".to_string());
                    match d.as_str() {
                        "mon" => f.day_mon = on,
                        "tue" => f.day_tue = on,
                        "wed" => f.day_wed = on,
                        "thu" => f.day_thu = on,
                        "fri" => f.day_fri = on,
                        "sat" => f.day_sat = on,
                        "sun" => f.day_sun = on,
                        _ => {}
                    }
                }
            }
            f.valid_from = s.valid_from.clone().unwrap_or_default();
            f.valid_until = s.valid_until.clone().unwrap_or_default();
        }
        f
    }
}

#[derive(Deserialize, Default)]
pub struct GuestKeyForm {
    #[serde(default)]
    pub name: String,
    /// The form's idempotency key: the same submission twice (a double tap, a reload of the
    /// POST) makes one key.
    #[serde(default)]
    pub idem: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub one_time: Option<String>,
    #[serde(default)]
    pub precautions_accepted: Option<String>,
}

// -------------------------------------------------------------------------------- templates

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub c: Common,
    pub code_step: bool,
    pub phone: String,
    pub country: String,
    /// Where to go once signed in (a path of this site, or empty).
    pub next: String,
    pub errors: FormErrors,
}

impl SignInPage {
    /// The first step again, keeping where to go after signing in.
    pub fn start_again(&self) -> String {
        if self.next.is_empty() {
            "/".into()
        } else {
            format!("/?next={}", super::sign_in::url_encode(&self.next))
        }
    }
}

#[derive(Template)]
#[template(path = "locks.html")]
pub struct LocksPage {
    pub c: Common,
    pub locks: Vec<LockItem>,
    pub invitations: usize,
    pub form: super::locks::PairForm,
    pub errors: FormErrors,
}

/// The bolt's state as the lock reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bolt {
    Locked,
    Unlocked,
}

impl Bolt {
    /// `locked` / `unlocked` as on the wire; anything else is not known.
    pub fn from_wire(v: Option<&str>) -> Option<Bolt> {
        match v {
            Some("locked") => Some(Bolt::Locked),
            Some("unlocked") => Some(Bolt::Unlocked),
            _ => None,
        }
    }
}

impl LocksPage {
    /// The IANA zones to pick from (`Area/City` names, sorted).
    pub fn time_zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = jiff::tz::db()
            .available()
            .map(|n| n.to_string())
            .filter(|n| n.contains('/') && !n.starts_with("Etc/") && !n.starts_with("SystemV/"))
            .collect();
        zones.sort();
        zones
    }
}

#[derive(Template)]
#[template(path = "lock.html")]
pub struct LockPage {
    pub c: Common,
    pub lock: m::Lock,
    /// `None`: not known (the lock has not said, or is offline).
    pub bolt: Option<Bolt>,
    /// When the lock was last heard from ("5 min ago"), empty if never.
    pub last_seen: String,
    /// What the lock holds, one line.
    pub capacity: String,
    pub level_label: String,
    pub is_admin: bool,
    pub my_id: String,
    /// The latest events (Admins only; empty for others).
    pub events: Vec<EventItem>,
    /// For a Recurring Guest: when the schedule lets them in ("You can open from Mon 08:00").
    pub opening: String,
    /// Whether the caller's rights let them open now (a Recurring Guest within the schedule).
    pub can_unlock: bool,
}

impl LockPage {
    pub fn bolt_class(&self) -> &'static str {
        match self.bolt {
            Some(Bolt::Locked) => "locked",
            Some(Bolt::Unlocked) => "unlocked",
            None => "unknown",
        }
    }

    pub fn bolt_text(&self) -> String {
        self.c.t(match self.bolt {
            Some(Bolt::Locked) => "bolt-locked",
            Some(Bolt::Unlocked) => "bolt-unlocked",
            None if self.lock.online => "bolt-not-reported",
            None => "bolt-unknown-offline",
        })
    }
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub c: Common,
    pub lock_id: String,
    pub lock_name: String,
    pub members: Vec<MemberItem>,
    pub invitations: Vec<InvitationItem>,
    pub keys: Vec<KeyItem>,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub c: Common,
    pub lock_id: String,
}

#[derive(Template)]
#[template(path = "invite_member.html")]
pub struct InviteMemberPage {
    pub c: Common,
    pub lock_id: String,
    pub form: MemberForm,
    pub days: Vec<(&'static str, &'static str, bool)>,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "guest_key_new.html")]
pub struct GuestKeyNewPage {
    pub c: Common,
    pub lock_id: String,
    pub time_zone: String,
    pub form: GuestKeyForm,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "guest_key.html")]
pub struct GuestKeyPage {
    pub c: Common,
    pub lock_id: String,
    pub key_id: String,
    pub name: String,
    pub code_spaced: String,
    pub instructions: String,
    pub window: String,
    /// When it works, said plainly (empty once it no longer works).
    pub when: String,
    pub status: String,
    pub scheduled: bool,
    pub live: bool,
    /// Its end can be changed (not revoked, not a used one-time key).
    pub extendable: bool,
    pub one_time: bool,
    pub sms: String,
    pub has_phone: bool,
    /// What sharing the code sends (Web Share API), and the `sms:` link with it.
    pub share_text: String,
    pub sms_href: String,
    /// "first used Mon 7 Dec 2026 15:02" or "not used yet".
    pub first_use: String,
    /// What changing the end does to the code.
    pub code_note: String,
    /// The end field's value (`datetime-local`, the lock's zone).
    pub ends_input: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Common,
    pub heading: String,
    pub text: String,
    pub next: String,
    pub next_label: String,
}

#[derive(Template)]
#[template(path = "invitations.html")]
pub struct InvitationsPage {
    pub c: Common,
    pub invitations: Vec<InvitationItem>,
}

#[derive(Template)]
#[template(path = "member.html")]
pub struct MemberPage {
    pub c: Common,
    pub lock_id: String,
    pub member: MemberItem,
    pub is_admin: bool,
    pub is_self: bool,
    pub form: MemberForm,
    pub days: Vec<(&'static str, &'static str, bool)>,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "activity.html")]
pub struct ActivityPage {
    pub c: Common,
    pub lock_id: String,
    pub lock_name: String,
    pub time_zone: String,
    pub events: Vec<EventItem>,
    /// The query of the next page (the filters and the cursor), empty on the last page.
    pub older: String,
    /// The filters: a person or key, a kind, a day (`YYYY-MM-DD` at the lock).
    pub people: Vec<Choice>,
    pub kinds: Vec<Choice>,
    pub day: String,
    pub filtered: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub c: Common,
    /// The first sign-in: asks the name before anything else.
    pub first: bool,
    pub name: String,
    pub phone: String,
    pub next: String,
    /// The language setting: `en`, `ko`, or empty (the browser's).
    pub locale: String,
    pub errors: FormErrors,
}
