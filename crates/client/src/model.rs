//! The JSON bodies of the public HTTP API (`spec/api.md`), shared by the server (which derives
//! the OpenAPI description from them), this client, the CLI and the tests.
//!
//! Instants are RFC 3339 strings; schedules are in the lock's local wall-clock time.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /auth/otp`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OtpRequest {
    /// A phone number in any common notation with its country code, e.g. `+1 202 555 0123`.
    pub phone: String,
}

/// `POST /auth/session`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionRequest {
    pub phone: String,
    /// The 6-digit code from the SMS.
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
}

/// `PATCH /me`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchMe {
    pub name: String,
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
    pub days: Vec<String>,
    /// `HH:MM`
    pub from: String,
    /// `HH:MM`
    pub to: String,
}

/// A Recurring Guest's schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Schedule {
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
    pub setup_code: String,
    pub name: String,
    /// IANA time-zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

/// `PATCH /locks/{lock_id}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<PatchSettings>,
}

/// Part of `PatchLock`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrong_code_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_seconds: Option<u32>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// `PUT /locks/{lock_id}/members/{account_id}/pin`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPin {
    /// 6 to 8 digits, unique on the lock, not a trivial sequence.
    pub pin: String,
}

/// `POST /locks/{lock_id}/invitations`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateInvitation {
    pub phone: String,
    /// The invitee's name as the inviter knows it; shown until they say their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub access_level: AccessLevel,
    /// Required for `recurring_guest`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub name: String,
    /// When given, the code is texted to this number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// An instant with an offset, or a local date-time at the lock (`2027-07-01T15:00`).
    pub starts_at: String,
    /// Same forms as `starts_at`.
    pub ends_at: String,
    #[serde(default)]
    pub one_time: bool,
    /// Must be `true`: the Admin has read the precautions.
    #[serde(default)]
    pub precautions_accepted: bool,
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
