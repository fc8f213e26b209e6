//! What the server does with and for locks: how the domain reaches them (the `Gateway` trait,
//! which `gateway` implements) and remote unlock.

use async_trait::async_trait;
use jiff::Timestamp;

use super::access::{self, Caller};
use super::types::{AccessLevel, Schedule, TimeZoneName};
use super::{Domain, Error, Result};
use crate::store::{self, LockRow};

/// What the server hands a lock when it pairs.
#[derive(Clone)]
pub struct PairingGrant {
    pub lock_id: String,
    pub root_secret: [u8; 32],
}

/// What the lock proves and tells about itself when it pairs.
#[derive(Debug, Clone)]
pub struct PairedDevice {
    pub serial: String,
    /// The lock's Ed25519 public key.
    pub device_key: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError {
    /// No unpaired lock completed the exchange with this setup code.
    NoAnswer,
    /// The lock refuses further attempts for a while.
    TooManyAttempts { retry_after: u64 },
    /// The broker is down.
    Unavailable(String),
}

/// The lock's answer to a remote unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockOutcome {
    Unlocked,
    /// The lock refused, with its reason (e.g. `outside_schedule`).
    Denied(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockError {
    /// The lock did not answer in time.
    Timeout,
    /// The broker is down.
    Unavailable(String),
}

#[async_trait]
pub trait Gateway: Send + Sync {
    /// Runs the pairing exchange with the unpaired lock showing `setup_code`.
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> std::result::Result<PairedDevice, PairingError>;

    /// Something the lock must hold changed: send it the new state if it is connected (and
    /// keep trying until it acknowledges).
    fn lock_changed(&self, lock_id: &str);

    /// Sends a signed, short-lived unlock command for lock-local user `user_id` and waits
    /// for the lock's answer.
    async fn unlock(
        &self,
        lock: &LockRow,
        user_id: u32,
        command_seq: u64,
    ) -> std::result::Result<UnlockOutcome, UnlockError>;

    /// Tells a lock that it was unpaired.
    async fn unpaired(&self, lock: &LockRow);

    /// Whether the broker link is up (for `/readyz`).
    fn ready(&self) -> bool;
}

impl Domain {
    /// `POST /locks/{id}/unlock`: any member within its own rights. The server refuses early
    /// what it can see is outside the member's schedule; the lock checks again by itself.
    pub async fn remote_unlock(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let me = access::member_of(&mut tx, caller, lock_id).await?;
        if me.level() == AccessLevel::RecurringGuest {
            let tz = TimeZoneName::from_stored(me.lock.time_zone.clone());
            let local = now.to_zoned_datetime(tz.zone()).datetime();
            let allowed = me
                .member
                .schedule
                .as_deref()
                .and_then(Schedule::from_stored)
                .is_some_and(|s| s.allows(local));
            if !allowed {
                return Err(Error::Forbidden("outside your schedule".into()));
            }
        }
        let seq = store::next_command_seq(&mut tx, lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        tx.commit().await?;
        let user_id = u32::try_from(me.member.user_id).map_err(|_| Error::Internal("user id out of range".into()))?;
        match self.gateway.unlock(&me.lock, user_id, seq as u64).await {
            Ok(UnlockOutcome::Unlocked) => Ok(()),
            Ok(UnlockOutcome::Denied(reason)) => Err(Error::Forbidden(format!("the lock refused: {reason}"))),
            Err(UnlockError::Timeout) => Err(Error::Timeout("the lock did not answer in time".into())),
            Err(UnlockError::Unavailable(m)) => Err(Error::Unavailable(m)),
        }
    }
}
