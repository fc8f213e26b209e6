//! What the server does with and for locks: remote unlock (this file grows with the device
//! link: sync snapshots, acknowledgements, events).

use jiff::Timestamp;

use super::access::{self, Caller};
use super::types::{AccessLevel, Schedule, TimeZoneName};
use super::{Domain, Error, Result};
use crate::gateway::{UnlockError, UnlockOutcome};
use crate::store;

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
