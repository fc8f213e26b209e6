//! The domain: every rule about who may do what, and every state change, in one place.
//!
//! It knows nothing of HTTP, SQL text or wire bytes: handlers call it with parsed input, it
//! calls the store inside one transaction per change and the gateway to reach locks. Time and
//! randomness are parameters (`now` on every call, `Entropy` in the struct) so tests control
//! them. Authorization is by capability: an operation that needs an Admin takes `&AdminOf`,
//! which only `access::admin_of` can make.

pub mod access;
pub mod auth;
pub mod calendars;
pub mod capacity;
pub mod change;
pub mod device;
pub mod events;
pub mod guest_keys;
pub mod idempotency;
pub mod invitations;
pub mod locks;
pub mod members;
pub mod notifications;
pub mod sync_cache;
pub mod types;
pub mod webhooks;

use std::sync::Arc;

use jiff::Timestamp;

use crate::store::{Store, StoreError};

pub use crate::env::{Clock, Entropy, OsEntropy, SystemClock};
pub use access::{AdminOf, Caller, MemberOf};
pub use device::Gateway;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Validation problems, collected so that a client learns of all of them at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err(Error::Invalid)` when anything was added.
    pub fn check(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }

    /// Parses one field, recording its error.
    pub fn field<T>(&mut self, field: &str, parsed: std::result::Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// Everything that can go wrong, each with one HTTP meaning (see `api::error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sign in first")]
    Unauthenticated,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("too many attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Error {
        let mut e = FieldErrors::default();
        e.add(field, message);
        Error::Invalid(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        if e.is_unavailable() {
            return Error::Unavailable("the database is unavailable; try again".into());
        }
        match e {
            StoreError::Unique(what) => Error::Conflict(format!("conflicts with existing data ({what})")),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::from(crate::store::map_err(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Settings the domain needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_url: String,
    pub otp_per_phone: u32,
    pub otp_per_client: u32,
    pub rate_window_seconds: u64,
    pub invitation_ttl_hours: u32,
    pub session_ttl_days: u32,
    pub unlock_timeout_ms: u64,
    /// Seconds between two reads of a rental calendar.
    pub calendar_interval_seconds: u64,
}

/// The domain engine.
#[derive(Clone)]
pub struct Domain {
    pub store: Store,
    pub entropy: Arc<dyn Entropy>,
    pub gateway: Arc<dyn Gateway>,
    pub settings: Arc<Settings>,
    /// Wakes the SMS worker when a message is queued.
    pub sms_wake: Arc<tokio::sync::Notify>,
    /// The one client for outgoing HTTP requests (webhooks, calendar feeds), with the
    /// address rules of `--allow-private-targets`.
    pub outbound: Arc<crate::outbound::Outbound>,
    /// Wakes the webhook delivery worker when deliveries are queued.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// What this instance last read and sent for each lock (delta syncs).
    pub sync_cache: Arc<sync_cache::SyncCache>,
}

impl Domain {
    /// `n` random bytes.
    pub fn random<const N: usize>(&self) -> [u8; N] {
        crate::env::random(self.entropy.as_ref())
    }

    /// A new opaque identifier such as `lk_5f0c...`.
    pub fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", hex::encode(self.random::<10>()))
    }

    /// An event id that sorts by time.
    pub fn event_id(&self, at_ms: i64) -> String {
        format!("{:013}{}", at_ms.max(0), hex::encode(self.random::<6>()))
    }

    /// The id of an event from a lock's journal: by time, then by the journal's sequence
    /// number (13 digits, then 12 hex digits as in `event_id`), so entries of one second keep
    /// the order in which the lock made them; random hex digits after them keep ids of two
    /// locks apart (the same lock's repeated upload is caught by its `(lock_id, seq)` index).
    pub fn journal_event_id(&self, at_ms: i64, seq: u64) -> String {
        format!(
            "{:013}{:012x}{}",
            at_ms.max(0),
            seq & 0xffff_ffff_ffff,
            hex::encode(self.random::<4>())
        )
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored instant.
pub fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The inverse of `ms`.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
