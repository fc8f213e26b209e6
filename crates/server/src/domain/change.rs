//! One place for "change a lock": the guard every operation that changes what a lock holds
//! runs in.
//!
//! `Domain::change_lock` opens the transaction, bumps the lock's version first and only then
//! checks what the caller must be (`Need`). The bump takes the lock row's write lock
//! (PostgreSQL) or the database write lock (SQLite `BEGIN IMMEDIATE`), so changes to one lock
//! are serialised: that is what keeps "every lock has an Admin" true when two Admins act at
//! once (ARCHITECTURE.md, "Invariants"). `LockChange::commit` commits and tells the gateway,
//! so the lock is sent its new state. Nothing else in the domain bumps a version.

use jiff::Timestamp;

use super::access::{self, AdminOf, Caller, MemberOf};
use super::events::NewEvent;
use super::{Domain, Error, Result, ms};
use crate::store::{self, Conn, LockRow, MemberRow, Revocation, Tx};

/// What the caller of a change must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// An Admin of the lock.
    Admin,
    /// The member `account_id` itself, or an Admin of the lock; `refusal` says why not to
    /// anyone else.
    SelfOrAdmin { account_id: &'a str, refusal: &'static str },
    /// Nothing of the lock: the caller holds a pending invitation to it (the operation checks
    /// that it is still pending in the change's transaction).
    Invitation,
}

impl<'a> Need<'a> {
    /// `Need::SelfOrAdmin`.
    pub fn self_or_admin(account_id: &'a str, refusal: &'static str) -> Need<'a> {
        Need::SelfOrAdmin { account_id, refusal }
    }
}

/// Who the caller turned out to be.
enum Who {
    Admin(AdminOf),
    Member(MemberOf),
    Invited,
}

/// A change of one lock in progress: one transaction, the version already bumped (or, for
/// `Domain::edit_lock`, bumped by `bump` once the change turns out to reach the lock).
/// Dropping it without `commit` rolls everything back.
pub struct LockChange<'d> {
    domain: &'d Domain,
    tx: Tx,
    lock_id: String,
    caller: Caller,
    who: Who,
    version: Option<i64>,
    now: Timestamp,
}

impl Domain {
    /// Starts a change of what lock `lock_id` holds on behalf of `caller`, who must be what
    /// `need` says: bumps the version first, then checks. "Not found" when the lock does not
    /// exist or the caller is not a member.
    pub async fn change_lock(
        &self,
        caller: &Caller,
        lock_id: &str,
        need: Need<'_>,
        now: Timestamp,
    ) -> Result<LockChange<'_>> {
        let mut tx = self.store.begin().await?;
        let version = store::bump_version(&mut tx, lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        let mut change = self.checked(tx, caller, lock_id, need, now).await?;
        change.version = Some(version);
        Ok(change)
    }

    /// Starts an Admin's change that may leave what the lock holds as it is (a rename):
    /// checks without bumping the version; `LockChange::bump` bumps it when the change turns
    /// out to reach the lock.
    pub async fn edit_lock(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<LockChange<'_>> {
        let tx = self.store.begin().await?;
        self.checked(tx, caller, lock_id, Need::Admin, now).await
    }

    /// A change whose caller passed `need` (the version not bumped yet).
    async fn checked(
        &self,
        mut tx: Tx,
        caller: &Caller,
        lock_id: &str,
        need: Need<'_>,
        now: Timestamp,
    ) -> Result<LockChange<'_>> {
        let who = match need {
            Need::Admin => Who::Admin(access::admin_of(&mut tx, caller, lock_id).await?),
            Need::SelfOrAdmin { account_id, refusal } => {
                let me = access::member_of(&mut tx, caller, lock_id).await?;
                if !me.is_self_or_admin(account_id) {
                    return Err(Error::Forbidden(refusal.into()));
                }
                Who::Member(me)
            }
            Need::Invitation => Who::Invited,
        };
        Ok(LockChange {
            domain: self,
            tx,
            lock_id: lock_id.to_string(),
            caller: caller.clone(),
            who,
            version: None,
            now,
        })
    }
}

impl LockChange<'_> {
    /// The transaction, for the operation's own reads and writes.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

    /// The lock's new version (what rows changed by this change record as `changed_version`).
    pub fn version(&self) -> Result<i64> {
        self.version
            .ok_or_else(|| Error::Internal("a lock change used its version before bumping it".into()))
    }

    /// A revocation by this change, now.
    pub fn revocation(&self) -> Result<Revocation> {
        Ok(Revocation {
            at: ms(self.now),
            version: self.version()?,
        })
    }

    /// The member `account_id` of the lock ("not found" when it is none).
    pub async fn target_member(&mut self, account_id: &str) -> Result<MemberRow> {
        store::member(&mut self.tx, &self.lock_id, account_id)
            .await?
            .ok_or(Error::NotFound("member"))
    }

    /// Bumps the version now, for a change made with `Domain::edit_lock` that reaches the lock.
    pub async fn bump(&mut self) -> Result<i64> {
        if let Some(v) = self.version {
            return Ok(v);
        }
        let v = store::bump_version(&mut self.tx, &self.lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        self.version = Some(v);
        Ok(v)
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's membership (`None` for `Need::Invitation`).
    pub fn member(&self) -> Option<&MemberOf> {
        match &self.who {
            Who::Admin(a) => Some(a.member()),
            Who::Member(m) => Some(m),
            Who::Invited => None,
        }
    }

    /// The lock as the check read it (`None` for `Need::Invitation`).
    pub fn lock(&self) -> Option<&LockRow> {
        self.member().map(|m| &m.lock)
    }

    /// The Admin capability, when `Need::Admin` was asked for.
    pub fn admin(&self) -> Result<&AdminOf> {
        match &self.who {
            Who::Admin(a) => Ok(a),
            _ => Err(Error::Internal("an Admin operation ran without the Admin check".into())),
        }
    }

    /// An activity-log entry about this change by its caller.
    pub fn event(&self, kind: &'static str, detail: impl Into<String>) -> NewEvent {
        NewEvent::change(kind, &self.caller, detail)
    }

    /// Writes an activity-log entry in the change's transaction.
    pub async fn log(&mut self, e: NewEvent) -> Result<()> {
        let (domain, now) = (self.domain, self.now);
        domain.log(&mut self.tx, &self.lock_id, now, e).await
    }

    /// Commits, then tells the gateway when the version was bumped, so the lock is sent what
    /// it must hold now.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        // The change may have queued webhook deliveries (`Domain::log`).
        self.domain.wake_webhooks();
        if self.version.is_some() {
            self.domain.gateway.lock_changed(&self.lock_id);
        }
        Ok(())
    }
}
