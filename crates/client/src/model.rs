//! The JSON bodies of the public HTTP API (`spec/api.md`), shared by the server (which derives
//! the OpenAPI description from them), this client, the CLI and the tests.
//!
//! Instants are RFC 3339 strings; schedules are in the lock's local wall-clock time.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// JSON Schemas of the text fields the server parses (`openapi` feature): the same rules as the
/// server's parsers (`domain/types.rs`), so that what a schema accepts the server accepts and
/// what it refuses the server refuses, and other people's tools can check input before sending
/// it. The server trims what it reads, so each pattern allows white space around the value.
#[cfg(feature = "openapi")]
pub mod schemas {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};

    /// White space as Rust's `str::trim` removes it (Unicode `White_Space`).
    macro_rules! ws {
        () => {
            r"[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
        };
    }
    /// A character of a name that is neither white space nor a control or bidi-override
    /// character.
    macro_rules! visible {
        () => {
            r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202A-\u202F\u205F\u2066-\u2069\u3000]"
        };
    }
    /// A character of a name: anything but control and bidi-override characters.
    macro_rules! inner {
        () => {
            r"[^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]"
        };
    }

    /// A display name: 1 to 64 characters once trimmed, no control or bidi-override characters.
    pub const NAME_PATTERN: &str = concat!(
        "^",
        ws!(),
        "*",
        visible!(),
        "(?:",
        inner!(),
        "{0,62}",
        visible!(),
        ")?",
        ws!(),
        "*$"
    );
    /// The same, or nothing but white space (an optional name left empty).
    pub const OPTIONAL_NAME_PATTERN: &str = concat!(
        "^",
        ws!(),
        "*(?:",
        visible!(),
        "(?:",
        inner!(),
        "{0,62}",
        visible!(),
        ")?)?",
        ws!(),
        "*$"
    );
    /// A phone number with its country code (`+` or `00`); whether the number exists in its
    /// country's numbering plan is for the server to say (422).
    pub const PHONE_PATTERN: &str = concat!("^", ws!(), r"*(?:\+|00)[^\x00-\x1F\x7F-\x9F]*$");
    /// A PIN: 6 to 8 digits (the server also refuses trivial ones and one another member has).
    pub const PIN_PATTERN: &str = concat!("^", ws!(), "*[0-9]{6,8}", ws!(), "*$");
    /// The 11 digits a lock shows, spaces and dashes allowed between them.
    pub const SETUP_CODE_PATTERN: &str = r"^[ -]*(?:[0-9][ -]*){11}$";
    /// `HH:MM` from 00:00 to 23:59.
    pub const TIME_PATTERN: &str = concat!("^", ws!(), "*(?:[01][0-9]|2[0-3]):[0-5][0-9]", ws!(), "*$");
    /// `HH:MM` from 00:00 to 24:00 (the end of a window).
    pub const END_TIME_PATTERN: &str = concat!("^", ws!(), "*(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)", ws!(), "*$");
    /// The 6 digits of a sign-in code.
    pub const CODE_PATTERN: &str = concat!("^", ws!(), "*[0-9]{6}", ws!(), "*$");
    /// The 12 digits of a guest code, white space allowed anywhere (the server removes it).
    pub const GUEST_CODE_PATTERN: &str = concat!("^", ws!(), "*(?:[0-9]", ws!(), "*){12}$");
    /// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
    pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[!-~]{1,255}$";
    /// The name of the component the server fills with the IANA time-zone names it knows.
    pub const TIME_ZONE_COMPONENT: &str = "TimeZoneName";
    /// Webhook event types.
    pub const EVENT_TYPES: &[&str] = &[
        "lock.unlocked",
        "lock.access_denied",
        "lock.lockout",
        "lock.online",
        "lock.offline",
        "guest_key.created",
        "guest_key.first_used",
        "guest_key.revoked",
        "member.added",
        "member.removed",
        "member.synced",
        "webhook.test",
    ];

    fn text(pattern: &str, description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description(Some(description))
    }

    fn nullable(schema: impl Into<RefOr<Schema>>) -> Schema {
        OneOfBuilder::new()
            .item(schema)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build()
            .into()
    }

    pub fn name() -> Schema {
        text(NAME_PATTERN, "1 to 64 characters, no control characters")
            .build()
            .into()
    }

    pub fn optional_name() -> Schema {
        nullable(text(
            OPTIONAL_NAME_PATTERN,
            "Up to 64 characters, no control characters; empty or left out for none",
        ))
    }

    /// The web app's language: `en`, `ko`, or null (the browser's).
    pub fn locale() -> Schema {
        nullable(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["en", "ko"]))
                .description(Some("The web app's language; null: the browser's (Accept-Language)"))
                .build(),
        )
    }

    pub fn patch_name() -> Schema {
        nullable(text(NAME_PATTERN, "1 to 64 characters, no control characters").build())
    }

    pub fn phone() -> Schema {
        text(
            PHONE_PATTERN,
            "A phone number with its country code, e.g. `+1 202 555 0123`",
        )
        .build()
        .into()
    }

    pub fn optional_phone() -> Schema {
        // Left out, `null` or empty: no SMS.
        let empty = text(concat!("^", ws!(), "*$"), "no phone number");
        OneOfBuilder::new()
            .item(text(PHONE_PATTERN, "A phone number with its country code"))
            .item(empty)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build()
            .into()
    }

    pub fn pin() -> Schema {
        text(PIN_PATTERN, "6 to 8 digits, unique on the lock, not a trivial sequence")
            .build()
            .into()
    }

    pub fn setup_code() -> Schema {
        text(
            SETUP_CODE_PATTERN,
            "The 11-digit setup code the lock shows while unpaired",
        )
        .build()
        .into()
    }

    pub fn from_time() -> Schema {
        text(TIME_PATTERN, "`HH:MM`, 00:00 to 23:59, lock-local").build().into()
    }

    pub fn to_time() -> Schema {
        text(END_TIME_PATTERN, "`HH:MM`, 00:00 to 24:00, lock-local")
            .build()
            .into()
    }

    pub fn code() -> Schema {
        text(CODE_PATTERN, "The 6-digit code from the SMS").build().into()
    }

    pub fn guest_code() -> Schema {
        text(GUEST_CODE_PATTERN, "The 12 digits of a guest code, spaces allowed")
            .build()
            .into()
    }

    /// Weekdays, at least one.
    pub fn days() -> Schema {
        let day = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]));
        ArrayBuilder::new().items(day).min_items(Some(1)).build().into()
    }

    /// Must be `true`.
    pub fn accepted() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .description(Some("Must be `true`: the Admin has read the precautions."))
            .build()
            .into()
    }

    pub fn time_zone() -> Ref {
        Ref::from_schema_name(TIME_ZONE_COMPONENT)
    }

    pub fn optional_time_zone() -> Schema {
        nullable(time_zone())
    }

    pub fn event_types() -> Schema {
        let item = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(EVENT_TYPES.iter().copied()));
        nullable(ArrayBuilder::new().items(item).min_items(Some(1)).build())
    }
}

/// `POST /auth/otp`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OtpRequest {
    /// A phone number in any common notation with its country code, e.g. `+1 202 555 0123`.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::phone))]
    pub phone: String,
}

/// `POST /auth/session`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::phone))]
    pub phone: String,
    /// The 6-digit code from the SMS.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::code))]
    pub code: String,
}

/// The answer to a successful sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionCreated {
    /// Opaque bearer token; send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub account: Account,
}

/// An account (a person who signs in with a phone number).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Account {
    pub id: String,
    /// E.164.
    pub phone: String,
    pub name: String,
    pub created_at: String,
    /// The language the web app speaks to this account (`en`, `ko`); null: the browser's
    /// (`Accept-Language`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::locale))]
    pub locale: Option<String>,
}

/// `PATCH /me`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchMe {
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::name))]
    pub name: String,
    /// The web app's language: `en`, `ko`, or null for the browser's; left out: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::locale))]
    pub locale: Option<Option<String>>,
}

/// A field that may be null: `Some(None)` when it is null, `None` (by `default`) when absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A member's level on one lock.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    Admin,
    Family,
    RecurringGuest,
}

/// One weekly window in the lock's local time. A window whose `to` is earlier than its `from`
/// runs past midnight into the next day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Window {
    /// `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::days))]
    pub days: Vec<String>,
    /// `HH:MM`
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::from_time))]
    pub from: String,
    /// `HH:MM`
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::to_time))]
    pub to: String,
}

/// A Recurring Guest's schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Schedule {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 4))]
    #[serde(deserialize_with = "objects")]
    pub windows: Vec<Window>,
    /// First local date on which the schedule applies (`YYYY-MM-DD`), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Last local date on which the schedule applies, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// Whether the lock has acknowledged the current state of a member, key or lock.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Pending,
    Synced,
}

/// Keypad lockout settings of a lock.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LockSettings {
    /// Wrong keypad entries in a row before the keypad locks.
    pub wrong_code_limit: u32,
    /// Length of the first lockout; each further lockout doubles, up to one hour.
    pub lockout_seconds: u32,
}

/// `POST /locks`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateLock {
    /// The setup code the lock shows while unpaired.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::setup_code))]
    pub setup_code: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::name))]
    pub name: String,
    /// IANA time-zone name, e.g. `Europe/Berlin`.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::time_zone))]
    pub time_zone: String,
}

/// `PATCH /locks/{lock_id}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::patch_name))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::optional_time_zone))]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "object")]
    pub settings: Option<PatchSettings>,
}

/// Part of `PatchLock`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchSettings {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole_u32")]
    #[cfg_attr(feature = "openapi", schema(minimum = 3, maximum = 20))]
    pub wrong_code_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole_u32")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 3600))]
    pub lockout_seconds: Option<u32>,
}

/// A nested object that must be written as a JSON object: serde's derive would also take a
/// struct written as an array of its fields, which the API does not promise.
fn object<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).map(Some).map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected an object")),
    }
}

/// A list of objects, each written as a JSON object (see `object`).
fn objects<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| match v {
            v @ serde_json::Value::Object(_) => serde_json::from_value(v).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom("expected an object")),
        })
        .collect()
}

/// A whole number as JSON may write it, `56` or `56.0` (JSON Schema's `integer` is both).
fn whole_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => u32::try_from(u).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Some(f as u32),
        _ => None,
    };
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number from 0 to {}, not {n}", u32::MAX)))
}

/// A lock as one of its members sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Lock {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    /// Whether the lock is connected to the server now.
    pub online: bool,
    pub last_seen_at: Option<String>,
    pub my_access_level: AccessLevel,
    pub settings: LockSettings,
    /// `synced` when the lock has acknowledged everything the server holds for it.
    pub sync: SyncState,
    /// `locked` or `unlocked` as the lock last reported it while online; `unknown` while it is
    /// offline or has not said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bolt: Option<String>,
    /// What the lock itself can hold (`GET /locks/{lock_id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<LockCapacity>,
}

/// What a lock can hold, and how much of it is used. A request that would need more than the
/// lock holds is refused with 409.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LockCapacity {
    /// Guest keys whose code is still valid (the lock holds a record of each).
    pub guest_keys: CapacityUse,
    /// Members (each is a user on the lock, with an optional PIN).
    pub members: CapacityUse,
    /// Revoked guest keys whose code is still valid (the lock holds a deny entry for each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_codes: Option<CapacityUse>,
}

/// `used` of `max`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CapacityUse {
    pub used: u32,
    pub max: u32,
}

/// A member of a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Member {
    pub account_id: String,
    pub name: String,
    pub phone: String,
    pub access_level: AccessLevel,
    pub schedule: Option<Schedule>,
    pub has_pin: bool,
    pub sync: SyncState,
    pub added_at: String,
}

/// `PATCH /locks/{lock_id}/members/{account_id}`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchMember {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<AccessLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "object")]
    pub schedule: Option<Schedule>,
}

/// `PUT /locks/{lock_id}/members/{account_id}/pin`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPin {
    /// 6 to 8 digits, unique on the lock, not a trivial sequence.
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::pin))]
    pub pin: String,
}

/// `POST /locks/{lock_id}/invitations`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateInvitation {
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::phone))]
    pub phone: String,
    /// The invitee's name as the inviter knows it; shown until they say their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::optional_name))]
    pub name: Option<String>,
    pub access_level: AccessLevel,
    /// Required for `recurring_guest`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "object")]
    pub schedule: Option<Schedule>,
}

/// The state of an invitation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

/// An invitation to become a member of a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Invitation {
    pub id: String,
    pub lock_id: String,
    pub lock_name: String,
    pub phone: String,
    /// The invitee's name as the inviter gave it, if any.
    pub name: Option<String>,
    pub access_level: AccessLevel,
    pub schedule: Option<Schedule>,
    pub status: InvitationStatus,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
}

/// `POST /locks/{lock_id}/guest-keys`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateGuestKey {
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::name))]
    pub name: String,
    /// When given, the code is texted to this number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::optional_phone))]
    pub phone: Option<String>,
    /// An instant with an offset, or a local date-time at the lock (`2027-07-01T15:00`).
    pub starts_at: String,
    /// Same forms as `starts_at`.
    pub ends_at: String,
    #[serde(default)]
    pub one_time: bool,
    /// Must be `true`: the Admin has read the precautions.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::accepted, required = true))]
    pub precautions_accepted: bool,
}

/// `PATCH /locks/{lock_id}/guest-keys/{id}`: a new end for the key's window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchGuestKey {
    /// The new end, later than the current one: an instant with an offset, or a local
    /// date-time at the lock (`2027-07-03T11:00`).
    pub ends_at: String,
}

/// `POST /locks/{lock_id}/issuers/{issuer_id}/keys`: a guest key a device minted offline with
/// the issuer's file, to be listed, logged and revocable like the server's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordOfflineKey {
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::name))]
    pub name: String,
    /// The 12-digit code the device made (spaces allowed).
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::guest_code))]
    pub code: String,
    /// The window the device minted the code for: an instant with an offset, or a local
    /// date-time at the lock.
    pub starts_at: String,
    /// Same forms as `starts_at`.
    pub ends_at: String,
    #[serde(default)]
    pub one_time: bool,
}

/// The state of a guest key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GuestKeyStatus {
    Scheduled,
    Active,
    Used,
    Expired,
    Revoked,
}

/// Where the guest-key SMS is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SmsState {
    /// No phone number was given.
    None,
    /// Queued for delivery.
    Queued,
    /// Handed to the SMS provider.
    Sent,
    /// Delivery keeps failing; the server retries with backoff.
    Failing,
}

/// A guest key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GuestKey {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    /// The digits to type on the keypad, followed by `#`.
    pub code: String,
    /// In the lock's offset at that instant.
    pub starts_at: String,
    pub ends_at: String,
    pub one_time: bool,
    pub status: GuestKeyStatus,
    pub sms: SmsState,
    /// Whether the lock holds this key's record (exact window, name in its log).
    pub sync: SyncState,
    /// How to use the code.
    pub instructions: String,
    /// The rental calendar reservation this key was made from (keys made by hand have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<KeySource>,
}

/// Where a guest key came from: a reservation in a rental calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KeySource {
    pub calendar_id: String,
    /// The reservation's `UID` in the feed.
    pub uid: String,
}

/// `POST /locks/{lock_id}/calendars`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateCalendar {
    /// The listing's iCalendar export (`http` or `https`).
    pub url: String,
    /// A name for the listing; the URL's host when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::optional_name))]
    pub name: Option<String>,
    /// Check-in time, lock-local, `"15:00"`.
    pub check_in: String,
    /// Check-out time, lock-local, `"11:00"`.
    pub check_out: String,
}

/// A rental calendar of a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Calendar {
    pub id: String,
    pub url: String,
    pub name: String,
    pub check_in: String,
    pub check_out: String,
    /// The last read that worked (RFC 3339, UTC).
    pub last_synced_at: Option<String>,
    /// Why the last read changed nothing (unreachable, not a calendar, suspiciously empty);
    /// `null` when it worked.
    pub last_error: Option<String>,
    /// The reservations that have keys, upcoming and past, soonest first.
    pub reservations: Vec<CalendarReservation>,
}

/// A reservation of a rental calendar and its guest key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CalendarReservation {
    pub uid: String,
    /// The key's name (the guest's name, else the reservation code).
    pub name: String,
    /// Check-in and check-out, in the lock's offset at that instant.
    pub starts_at: String,
    pub ends_at: String,
    pub key_id: String,
    pub status: GuestKeyStatus,
}

/// What one read of a calendar did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CalendarSync {
    pub added: usize,
    pub changed: usize,
    pub cancelled: usize,
    pub unchanged: usize,
    /// Set when the feed could not be read, did not parse or looked broken: nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /locks/{lock_id}/issuers`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateIssuer {
    /// A label for the device, e.g. "Ana's phone".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::optional_name))]
    pub label: Option<String>,
}

/// A guest-code issuer for one Admin device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Issuer {
    pub issuer_id: String,
    /// The issuer file (JSON text) that `latchkey guest-code mint --issuer-file` reads.
    pub file: String,
}

/// The lock's answer to a remote unlock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnlockResult {
    /// `unlocked`
    pub outcome: String,
}

/// Who an event is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Actor {
    /// `member`, `guest_key`, `issuer` or `unknown`.
    pub kind: String,
    pub id: Option<String>,
    pub name: String,
}

/// One entry of a lock's activity log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Event {
    pub id: String,
    pub at: String,
    /// e.g. `access`, `lockout`, `member_added`, `guest_key_created`.
    pub kind: String,
    /// `granted` or `denied` for access attempts.
    pub outcome: Option<String>,
    /// `keypad`, `remote` or `app`.
    pub method: Option<String>,
    pub actor: Option<Actor>,
    /// Why access was denied, e.g. `outside_schedule`.
    pub reason: Option<String>,
    /// The account that made a change, for changes made through the server.
    pub by: Option<Actor>,
    /// Human-readable summary.
    pub detail: String,
}

/// `POST /locks/{lock_id}/webhooks`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An `http` or `https` URL; only public addresses unless the server runs with
    /// `--allow-private-targets`.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000, min_length = 1))]
    pub url: String,
    /// Event types to send (leave out for all): `lock.unlocked`, `lock.access_denied`,
    /// `lock.lockout`, `lock.online`, `lock.offline`, `guest_key.created`,
    /// `guest_key.first_used`, `guest_key.revoked`, `member.added`, `member.removed`,
    /// `member.synced`, `webhook.test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schemas::event_types))]
    pub events: Option<Vec<String>>,
}

/// A webhook. `secret` only in the answer to its creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
}

/// One delivery of one event to one webhook. Deliveries of one webhook are independent: each
/// is retried on its own schedule, so a receiver may get them out of order (order by the
/// body's `timestamp`; drop duplicates by `webhook-id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Delivery {
    /// The `webhook-id` header, the same on every attempt.
    pub id: String,
    /// The activity-log event it reports, when there is one.
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    /// `delivered`, `retrying` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

/// The caller's notification choices on a lock (SMS).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Notifications {
    /// The first use of a guest key: the guest has arrived.
    pub guest_arrived: bool,
    /// The keypad locked itself after too many wrong codes.
    pub lockout: bool,
    /// The lock has been offline for more than 10 minutes.
    pub offline: bool,
    /// A rental calendar of the lock cannot be read.
    pub calendar_failing: bool,
}

/// `PUT /locks/{lock_id}/notifications`; a field left out keeps its value.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutNotifications {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_arrived: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_failing: Option<bool>,
}

/// One field error of a validation problem.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An `application/problem+json` body (RFC 9457).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_whole_numbers_written_either_way() {
        let p: PatchSettings = serde_json::from_str(r#"{"wrong_code_limit": 5, "lockout_seconds": 56.0}"#).unwrap();
        assert_eq!((p.wrong_code_limit, p.lockout_seconds), (Some(5), Some(56)));
        for bad in [
            r#"{"lockout_seconds": 56.5}"#,
            r#"{"lockout_seconds": -1}"#,
            r#"{"lockout_seconds": 1e10}"#,
        ] {
            assert!(serde_json::from_str::<PatchSettings>(bad).is_err(), "{bad}");
        }
        let p: PatchSettings = serde_json::from_str(r#"{"lockout_seconds": null}"#).unwrap();
        assert_eq!(p.lockout_seconds, None);
    }

    #[test]
    fn nested_objects_must_be_written_as_objects() {
        assert!(serde_json::from_str::<PatchLock>(r#"{"settings": [null, null]}"#).is_err());
        assert!(
            serde_json::from_str::<PatchLock>(r#"{"settings": {}}"#)
                .unwrap()
                .settings
                .is_some()
        );
        assert!(
            serde_json::from_str::<PatchLock>(r#"{"settings": null}"#)
                .unwrap()
                .settings
                .is_none()
        );
        assert!(serde_json::from_str::<Schedule>(r#"{"windows": [["mon"], "08:00", "09:00"]}"#).is_err());
        let s: Schedule =
            serde_json::from_str(r#"{"windows": [{"days": ["mon"], "from": "08:00", "to": "09:00"}]}"#).unwrap();
        assert_eq!(s.windows.len(), 1);
        assert!(serde_json::from_str::<PatchMember>(r#"{"schedule": [[]]}"#).is_err());
    }
}
