//! What a lock can hold, honestly (`api.md` second round, "Lock capacity"; issue 16): the
//! counts a snapshot sent now would carry against the lock core's fixed capacities, and the
//! checks that refuse (409) a change the lock could not hold, so that nothing answered 201 is
//! ever left out of a snapshot.
//!
//! The counts are taken inside the change's transaction (`Domain::change_lock`), which holds
//! the lock row's write lock: two requests cannot both take the last place.

use jiff::Timestamp;
use latchkey_lock_core::{STANDARD_DENY, STANDARD_GUEST_KEYS, STANDARD_PINS, STANDARD_USERS};

use super::access::{self, Caller, MemberOf};
use super::{Domain, Error, Result};
use crate::store::{self, Conn};

/// One kind of thing a lock holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub used: u32,
    pub max: u32,
}

impl Use {
    fn new(used: i64, max: usize) -> Use {
        Use {
            used: u32::try_from(used.max(0)).unwrap_or(u32::MAX),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        }
    }

    fn full(&self) -> bool {
        self.used >= self.max
    }
}

/// What a lock holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockCapacity {
    /// Guest keys whose code is still valid (records on the lock).
    pub guest_keys: Use,
    /// Revoked keys whose code is still valid (deny entries on the lock).
    pub deny_entries: Use,
    /// Members (users on the lock).
    pub members: Use,
    /// Members' PINs (as many as users: a member count within its maximum keeps them within
    /// theirs).
    pub pins: Use,
}

/// Counts what lock `lock_id` holds at `now`.
pub async fn lock_capacity(c: &mut Conn, lock_id: &str, now: Timestamp) -> Result<LockCapacity> {
    let (records, denies) = store::count_guest_entries(c, lock_id, now.as_second()).await?;
    let (members, pins) = store::count_members(c, lock_id).await?;
    Ok(LockCapacity {
        guest_keys: Use::new(records, STANDARD_GUEST_KEYS),
        deny_entries: Use::new(denies, STANDARD_DENY),
        members: Use::new(members, STANDARD_USERS),
        pins: Use::new(pins, STANDARD_PINS),
    })
}

/// Refuses a new guest key when the lock holds as many as it can.
pub async fn check_room_for_guest_key(c: &mut Conn, lock_id: &str, now: Timestamp) -> Result<()> {
    let cap = lock_capacity(c, lock_id, now).await?;
    if cap.guest_keys.full() {
        return Err(Error::Conflict(format!(
            "the lock is full: it holds {} guest keys, its maximum; revoke a key it no longer needs, \
             or wait until one ends, then try again",
            cap.guest_keys.max
        )));
    }
    Ok(())
}

/// Refuses a revocation when the lock's deny list is full: a revoked code the lock did not
/// hold a deny entry for would still open (its code carries its own proof).
pub async fn check_room_for_deny_entry(c: &mut Conn, lock_id: &str, now: Timestamp) -> Result<()> {
    let cap = lock_capacity(c, lock_id, now).await?;
    if cap.deny_entries.full() {
        return Err(Error::Conflict(format!(
            "the lock's list of revoked codes is full ({} revoked codes still within their windows); \
             a revoked code leaves it when its window ends: try again then",
            cap.deny_entries.max
        )));
    }
    Ok(())
}

/// Refuses a new member when the lock holds as many users as it can.
pub async fn check_room_for_member(c: &mut Conn, lock_id: &str, now: Timestamp) -> Result<()> {
    let cap = lock_capacity(c, lock_id, now).await?;
    if cap.members.full() {
        return Err(Error::Conflict(format!(
            "the lock is full: it holds {} members, its maximum; remove a member first",
            cap.members.max
        )));
    }
    Ok(())
}

impl Domain {
    /// `GET /locks/{id}`: the lock, for a member, with what it holds.
    pub async fn lock_with_capacity(
        &self,
        caller: &Caller,
        lock_id: &str,
        now: Timestamp,
    ) -> Result<(MemberOf, LockCapacity)> {
        let mut c = self.store.read().await?;
        let me = access::member_of(&mut c, caller, lock_id).await?;
        let capacity = lock_capacity(&mut c, lock_id, now).await?;
        Ok((me, capacity))
    }
}
