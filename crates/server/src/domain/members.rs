//! Members of a lock: listing, changing level or schedule, removing, PINs.

use jiff::Timestamp;

use super::access::{self, Caller};
use super::auth::token_hash;
use super::change::Need;
use super::types::{AccessLevel, Pin, Schedule};
use super::{Domain, Error, FieldErrors, Result, ms};
use crate::store::{self, Conn, MemberAccess, MemberRow, Removal, Revocation};

/// PIN choices a caller may make on one lock per rate-limit window (`rate_window_seconds`,
/// 15 minutes by default), whatever their outcome.
pub const PIN_CHOICES_PER_WINDOW: u32 = 10;

/// A requested change of level and/or schedule, already parsed.
#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub access_level: Option<AccessLevel>,
    pub schedule: Option<latchkey_client::model::Schedule>,
}

/// A member as `Domain::visible_member` shows it.
#[derive(Debug, Clone)]
pub struct VisibleMember {
    pub member: MemberRow,
    /// The version the lock holds (whether it holds the member's current rights).
    pub acked_version: i64,
    /// Whether the caller is an Admin of the lock.
    pub viewer_is_admin: bool,
}

/// Parses a level and schedule pair: a Recurring Guest needs a schedule; others take none.
pub fn level_and_schedule(
    level: AccessLevel,
    schedule: Option<&latchkey_client::model::Schedule>,
    errors: &mut FieldErrors,
) -> Option<Schedule> {
    match (level, schedule) {
        (AccessLevel::RecurringGuest, None) => {
            errors.add("schedule", "a Recurring Guest needs a schedule");
            None
        }
        (AccessLevel::RecurringGuest, Some(s)) => Schedule::parse(s, "schedule", errors),
        (_, Some(_)) => {
            errors.add("schedule", "only a Recurring Guest has a schedule");
            None
        }
        (_, None) => None,
    }
}

impl Domain {
    /// `GET /locks/{id}/members`, Admins only.
    pub async fn members(&self, caller: &Caller, lock_id: &str) -> Result<(Vec<MemberRow>, i64)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let acked = admin.lock().acked_version;
        Ok((store::members(&mut c, lock_id).await?, acked))
    }

    /// `GET /locks/{id}/members` straight from the session token: one query checks the
    /// session and the Admin membership and reads the listing (`store::members_for_admin_session`).
    /// When it returns nothing, the usual path (`authenticate`, then `members`) says why: 401,
    /// 404 or 403, or, when the data changed in between, the listing itself.
    pub async fn members_for_token(&self, token: &str, lock_id: &str, now: Timestamp) -> Result<(Vec<MemberRow>, i64)> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let hash = token_hash(token);
        {
            let mut c = self.store.read().await?;
            if let Some(found) = store::members_for_admin_session(&mut c, &hash, lock_id, ms(now)).await? {
                return Ok(found);
            }
        }
        let caller = self.authenticate(token, now).await?;
        self.members(&caller, lock_id).await
    }

    /// Member `account_id` of the lock as the caller may see it: Admins see anyone of the
    /// lock, other members only themselves ("not found" for anyone else).
    pub async fn visible_member(&self, caller: &Caller, lock_id: &str, account_id: &str) -> Result<VisibleMember> {
        let mut c = self.store.read().await?;
        let me = access::member_of(&mut c, caller, lock_id).await?;
        let viewer_is_admin = me.level() == AccessLevel::Admin;
        let member = if account_id == caller.id() {
            me.member
        } else if viewer_is_admin {
            store::member(&mut c, lock_id, account_id)
                .await?
                .ok_or(Error::NotFound("member"))?
        } else {
            return Err(Error::NotFound("member"));
        };
        Ok(VisibleMember {
            member,
            acked_version: me.lock.acked_version,
            viewer_is_admin,
        })
    }

    /// `PATCH /locks/{id}/members/{account}`
    pub async fn patch_member(
        &self,
        caller: &Caller,
        lock_id: &str,
        account_id: &str,
        patch: &MemberPatch,
        now: Timestamp,
    ) -> Result<(MemberRow, i64)> {
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let version = change.version()?;
        let target = change.target_member(account_id).await?;
        let old_level = target.access_level;
        let level = patch.access_level.unwrap_or(old_level);
        let mut errors = FieldErrors::default();
        let schedule = match (&patch.schedule, level) {
            // Changing only the level away from Recurring Guest drops the schedule.
            (None, AccessLevel::RecurringGuest) if old_level == AccessLevel::RecurringGuest => target.schedule.clone(),
            (s, l) => level_and_schedule(l, s.as_ref(), &mut errors),
        };
        errors.check()?;
        if old_level == AccessLevel::Admin && level != AccessLevel::Admin {
            self.ensure_another_admin(change.conn(), lock_id).await?;
            self.revoke_issuers_of(change.conn(), lock_id, account_id, version, now)
                .await?;
        }
        let access = MemberAccess {
            access_level: level,
            schedule: schedule.as_ref(),
            changed_version: version,
        };
        store::update_member_access(change.conn(), lock_id, account_id, &access).await?;
        let detail = match (&schedule, level == old_level) {
            (Some(_), true) => "schedule changed".to_string(),
            _ => format!("access level {} → {}", old_level.label(), level.label()),
        };
        let event = change
            .event("member_changed", detail)
            .about_member(account_id, &target.name, &target.phone);
        change.log(event).await?;
        let updated = store::member(change.conn(), lock_id, account_id)
            .await?
            .ok_or(Error::NotFound("member"))?;
        let acked = store::lock_by_id(change.conn(), lock_id)
            .await?
            .map(|l| l.acked_version)
            .unwrap_or(0);
        change.commit().await?;
        Ok((updated, acked))
    }

    /// `DELETE /locks/{id}/members/{account}`: by an Admin, or by the member itself (leaving).
    /// The last Admin can be neither removed nor leave.
    pub async fn remove_member(&self, caller: &Caller, lock_id: &str, account_id: &str, now: Timestamp) -> Result<()> {
        let need = Need::self_or_admin(account_id, "only an Admin may remove other members");
        let mut change = self.change_lock(caller, lock_id, need, now).await?;
        let version = change.version()?;
        let target = change.target_member(account_id).await?;
        if target.access_level == AccessLevel::Admin {
            self.ensure_another_admin(change.conn(), lock_id).await?;
            self.revoke_issuers_of(change.conn(), lock_id, account_id, version, now)
                .await?;
        }
        let removal = Removal {
            user_id: target.user_id,
            version,
        };
        store::delete_member(change.conn(), lock_id, account_id, removal).await?;
        let (kind, detail) = if caller.id() == account_id {
            ("member_left", "left the lock".to_string())
        } else {
            ("member_removed", "removed".to_string())
        };
        let event = change
            .event(kind, detail)
            .about_member(account_id, &target.name, &target.phone);
        change.log(event).await?;
        change.commit().await
    }

    /// `PUT /locks/{id}/members/{account}/pin`: by the member itself or an Admin.
    pub async fn set_pin(
        &self,
        caller: &Caller,
        lock_id: &str,
        account_id: &str,
        pin: &str,
        now: Timestamp,
    ) -> Result<()> {
        let pin = Pin::parse(pin).map_err(|m| Error::invalid("pin", m))?;
        // Counted before anything is looked at, refused or not (docs/design/pin-choice.md).
        let bucket = format!("pin:{lock_id}:{}", caller.id());
        self.rate_limit(&bucket, PIN_CHOICES_PER_WINDOW, now).await?;
        let need = Need::self_or_admin(account_id, "only the member or an Admin may set this PIN");
        let mut change = self.change_lock(caller, lock_id, need, now).await?;
        let version = change.version()?;
        let target = change.target_member(account_id).await?;
        // PINs are unique on the lock, and the answer must not tell whether someone else has
        // this one: the chooser gets it either way, and a member who held it loses it and is
        // told (docs/design/pin-choice.md).
        let holder = store::pin_holder(change.conn(), lock_id, pin.as_str()).await?;
        let mut told = false;
        if let Some(other) = holder.filter(|h| h != account_id) {
            let loser = change.target_member(&other).await?;
            store::clear_member_pin(change.conn(), lock_id, &other, version).await?;
            let lock_name = change.lock().map(|l| l.name.clone()).unwrap_or_default();
            let body = format!(
                "Your keypad PIN for \"{lock_name}\" on Latchkey no longer works: another member chose the \
                 same PIN. Choose a new one: {}/locks/{lock_id}/members/{other}",
                self.settings.public_url
            );
            self.queue_sms(change.conn(), loser.phone.as_str(), &body, "pin_cleared", now)
                .await?;
            told = true;
            let event = change
                .event("pin_cleared", "keypad PIN cleared: another member chose the same PIN")
                .about_member(&other, &loser.name, &loser.phone);
            change.log(event).await?;
        }
        match store::set_member_pin(change.conn(), lock_id, account_id, &pin, version).await {
            Ok(()) => {}
            Err(e) if e.unique_violation().is_some() => {
                // Only a race with another change of the same PIN, which the lock's write lock
                // mostly rules out; the same answer whoever holds it.
                return Err(Error::Conflict("the PIN could not be set just now; try again".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let event = change
            .event("pin_set", "keypad PIN set")
            .about_member(account_id, &target.name, &target.phone);
        change.log(event).await?;
        change.commit().await?;
        if told {
            self.sms_wake.notify_one();
        }
        Ok(())
    }

    /// Refuses when the lock has only one Admin. Runs after the version bump, so two Admins
    /// removing each other at the same instant are serialised and the second one sees a
    /// single Admin left.
    async fn ensure_another_admin(&self, c: &mut Conn, lock_id: &str) -> Result<()> {
        if store::count_admins(c, lock_id).await? <= 1 {
            return Err(Error::Conflict(
                "a lock keeps at least one Admin: make someone else Admin first".into(),
            ));
        }
        Ok(())
    }

    /// Disables every guest-code issuer of an Admin who loses the Admin level, which kills
    /// every code their devices made.
    async fn revoke_issuers_of(
        &self,
        c: &mut Conn,
        lock_id: &str,
        account_id: &str,
        version: i64,
        now: Timestamp,
    ) -> Result<()> {
        for issuer in store::issuers(c, lock_id).await? {
            if issuer.account_id == account_id && issuer.revoked_at.is_none() {
                store::revoke_issuer(c, &issuer.id, Revocation { at: ms(now), version }).await?;
            }
        }
        Ok(())
    }
}
