//! Who may do what: the access-control engine.
//!
//! Capabilities are values that prove a check was made. `Caller` proves a live session;
//! `MemberOf` that the caller is a member of a lock; `AdminOf` that the caller is an Admin of
//! it. Operations ask for the capability they need in their signature, so a handler that has
//! not passed the Admin check cannot even call an Admin operation. A lock the caller is not a
//! member of is "not found", never "forbidden", so nothing outside a caller's own locks is
//! even visible.

use super::types::{AccessLevel, PhoneNumber};
use super::{Error, Result};
use crate::store::{self, AccountRow, Conn, LockRow, MemberRow};

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountRow,
    /// The hash of the session token, so the session can be ended.
    pub(crate) token_hash: String,
}

impl Caller {
    pub fn id(&self) -> &str {
        &self.account.id
    }

    /// The name shown for this account in logs and messages.
    pub fn display_name(&self) -> String {
        display_name(&self.account.name, &self.account.phone)
    }
}

/// A name, or the phone number for accounts that have not set one.
pub fn display_name(name: &str, phone: &PhoneNumber) -> String {
    if name.is_empty() {
        phone.to_string()
    } else {
        name.to_string()
    }
}

/// The caller is a member of `lock`.
#[derive(Debug, Clone)]
pub struct MemberOf {
    pub caller: Caller,
    pub lock: LockRow,
    pub member: MemberRow,
}

impl MemberOf {
    pub fn level(&self) -> AccessLevel {
        self.member.access_level
    }

    /// Narrows to an Admin capability, or refuses with 403 (the caller can see the lock).
    pub fn admin(self) -> Result<AdminOf> {
        if self.level() == AccessLevel::Admin {
            Ok(AdminOf(self))
        } else {
            Err(Error::Forbidden("only an Admin of this lock may do this".into()))
        }
    }

    /// Whether the caller may act on member `account_id` of this lock as on themself or as
    /// its Admin (setting a PIN, leaving).
    pub fn is_self_or_admin(&self, account_id: &str) -> bool {
        self.caller.id() == account_id || self.level() == AccessLevel::Admin
    }
}

/// The caller is an Admin of `lock`.
#[derive(Debug, Clone)]
pub struct AdminOf(MemberOf);

impl AdminOf {
    pub fn lock(&self) -> &LockRow {
        &self.0.lock
    }

    pub fn caller(&self) -> &Caller {
        &self.0.caller
    }

    pub fn member(&self) -> &MemberOf {
        &self.0
    }
}

/// Checks membership: "not found" both for a lock that does not exist and for one the caller
/// is not a member of.
pub async fn member_of(c: &mut Conn, caller: &Caller, lock_id: &str) -> Result<MemberOf> {
    let Some((member, lock)) = store::member_and_lock(c, lock_id, caller.id()).await? else {
        return Err(Error::NotFound("lock"));
    };
    Ok(MemberOf {
        caller: caller.clone(),
        lock,
        member,
    })
}

/// Checks that the caller is an Admin of the lock.
pub async fn admin_of(c: &mut Conn, caller: &Caller, lock_id: &str) -> Result<AdminOf> {
    member_of(c, caller, lock_id).await?.admin()
}
