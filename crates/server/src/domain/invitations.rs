//! Invitations by phone number: pending → accepted | declined | revoked | expired.

use jiff::Timestamp;

use super::access::{self, Caller};
use super::change::Need;
use super::events::NewEvent;
use super::idempotency::{self, Idem};
use super::members::level_and_schedule;
use super::types::{AccessLevel, InvitationStatus, Name, PhoneNumber};
use super::{Domain, Error, FieldErrors, Result, ms};
use crate::store::{self, InvitationRow, MemberRow, NewMember};

/// What `POST /locks/{id}/invitations` asks for, unparsed.
#[derive(Debug, Clone, Copy)]
pub struct InviteRequest<'a> {
    pub phone: &'a str,
    /// The invitee's name as the inviter knows it (optional).
    pub name: Option<&'a str>,
    pub level: AccessLevel,
    pub schedule: Option<&'a latchkey_client::model::Schedule>,
    pub idempotency_key: Option<&'a str>,
}

impl Domain {
    /// `POST /locks/{id}/invitations`: Admins only; texts the invitee a link. With an
    /// idempotency key, the same request again answers with the first invitation.
    pub async fn invite(
        &self,
        caller: &Caller,
        lock_id: &str,
        req: &InviteRequest<'_>,
        now: Timestamp,
    ) -> Result<InvitationRow> {
        let InviteRequest {
            phone,
            name,
            level,
            schedule,
            idempotency_key,
        } = *req;
        let mut errors = FieldErrors::default();
        let phone = errors.field("phone", PhoneNumber::parse(phone));
        let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => errors.field("name", Name::parse(n)).map(|n| n.as_str().to_string()),
            None => None,
        };
        let idem_key = match idempotency_key {
            Some(k) => errors.field("idempotency_key", idempotency::parse_key(k)),
            None => None,
        };
        let schedule_text = schedule
            .map(|s| serde_json::to_string(s).unwrap_or_default())
            .unwrap_or_default();
        let idem = Idem {
            key: idem_key.as_deref(),
            scope: format!("invitation:{lock_id}"),
            fingerprint: idempotency::fingerprint(&[
                phone.as_ref().map(|p| p.as_str()).unwrap_or(""),
                name.as_deref().unwrap_or(""),
                level.as_str(),
                &schedule_text,
            ]),
        };
        let schedule = level_and_schedule(level, schedule, &mut errors);
        let mut tx = self.store.begin().await?;
        let admin = access::admin_of(&mut tx, caller, lock_id).await?;
        errors.check()?;
        if let Some(id) = idem.replay(&mut tx, caller, now).await? {
            return store::invitation(&mut tx, &id)
                .await?
                .ok_or(Error::NotFound("invitation"));
        }
        let phone = phone.ok_or_else(|| Error::Internal("phone parsed without value".into()))?;
        store::expire_invitations(&mut tx, ms(now)).await?;
        if let Some(account) = store::account_by_phone(&mut tx, phone.as_str()).await?
            && store::member(&mut tx, lock_id, &account.id).await?.is_some()
        {
            return Err(Error::Conflict(
                "this phone number is already a member of the lock".into(),
            ));
        }
        let row = InvitationRow {
            id: self.new_id("inv"),
            lock_id: lock_id.to_string(),
            phone: phone.clone(),
            name: name.clone(),
            access_level: level,
            schedule,
            status: InvitationStatus::Pending,
            invited_by: caller.id().to_string(),
            created_at: ms(now),
            expires_at: ms(now) + self.settings.invitation_ttl_hours as i64 * 3_600_000,
            lock_name: admin.lock().name.clone(),
            invited_by_name: caller.display_name(),
        };
        match store::insert_invitation(&mut tx, &row).await {
            Ok(()) => {}
            Err(e) if e.unique_violation().is_some() => {
                return Err(Error::Conflict(
                    "this phone number already has a pending invitation".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let body = self.invitation_sms(caller, &admin.lock().name, level);
        self.queue_sms(&mut tx, phone.as_str(), &body, "invitation", now)
            .await?;
        idem.remember(&mut tx, caller, &row.id, now).await?;
        self.log(
            &mut tx,
            lock_id,
            now,
            NewEvent::change(
                "invitation_sent",
                caller,
                format!("invited {} as {}", invitee(name.as_deref(), &phone), level.label()),
            ),
        )
        .await?;
        tx.commit().await?;
        self.sms_wake.notify_one();
        Ok(row)
    }

    /// `GET /locks/{id}/invitations`, Admins only.
    pub async fn lock_invitations(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<Vec<InvitationRow>> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await?;
        let mut rows = store::lock_invitations(&mut c, lock_id).await?;
        for r in &mut rows {
            if r.status == InvitationStatus::Pending && r.expires_at <= ms(now) {
                r.status = InvitationStatus::Expired;
            }
        }
        Ok(rows)
    }

    /// `DELETE /locks/{id}/invitations/{inv}`: revokes a pending invitation.
    pub async fn revoke_invitation(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        access::admin_of(&mut tx, caller, lock_id).await?;
        let inv = store::invitation(&mut tx, id)
            .await?
            .filter(|i| i.lock_id == lock_id)
            .ok_or(Error::NotFound("invitation"))?;
        if !store::respond_invitation(&mut tx, id, InvitationStatus::Revoked, ms(now)).await? {
            return Err(Error::Conflict(format!("the invitation is already {}", inv.status)));
        }
        self.log(
            &mut tx,
            lock_id,
            now,
            NewEvent::change(
                "invitation_revoked",
                caller,
                format!("revoked the invitation of {}", invitee(inv.name.as_deref(), &inv.phone)),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Texts a pending invitation again (the invitee lost the SMS). Admins only.
    pub async fn resend_invitation(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let admin = access::admin_of(&mut tx, caller, lock_id).await?;
        let inv = store::invitation(&mut tx, id)
            .await?
            .filter(|i| i.lock_id == lock_id)
            .ok_or(Error::NotFound("invitation"))?;
        if inv.status != InvitationStatus::Pending || inv.expires_at <= ms(now) {
            let status = if inv.status == InvitationStatus::Pending {
                InvitationStatus::Expired
            } else {
                inv.status
            };
            return Err(Error::Conflict(format!(
                "the invitation is {status}; invite again instead"
            )));
        }
        let body = self.invitation_sms(caller, &admin.lock().name, inv.access_level);
        self.queue_sms(&mut tx, inv.phone.as_str(), &body, "invitation", now)
            .await?;
        self.log(
            &mut tx,
            lock_id,
            now,
            NewEvent::change(
                "invitation_resent",
                caller,
                format!(
                    "texted the invitation of {} again",
                    invitee(inv.name.as_deref(), &inv.phone)
                ),
            ),
        )
        .await?;
        tx.commit().await?;
        self.sms_wake.notify_one();
        Ok(())
    }

    fn invitation_sms(&self, caller: &Caller, lock_name: &str, level: AccessLevel) -> String {
        format!(
            "{} invited you to \"{}\" on Latchkey as {}. Sign in with this phone number to accept: {}/invitations",
            caller.display_name(),
            lock_name,
            level.label(),
            self.settings.public_url,
        )
    }

    /// `GET /invitations`: the caller's pending invitations, matched by phone number.
    pub async fn my_invitations(&self, caller: &Caller, now: Timestamp) -> Result<Vec<InvitationRow>> {
        let mut c = self.store.read().await?;
        Ok(store::pending_invitations_for_phone(&mut c, &caller.account.phone, ms(now)).await?)
    }

    /// The invitation if it is addressed to the caller; "not found" otherwise.
    async fn my_invitation(&self, c: &mut store::Conn, caller: &Caller, id: &str) -> Result<InvitationRow> {
        store::invitation(c, id)
            .await?
            .filter(|i| i.phone == caller.account.phone)
            .ok_or(Error::NotFound("invitation"))
    }

    /// `POST /invitations/{id}/accept`: the caller becomes a member with the invited level.
    pub async fn accept_invitation(&self, caller: &Caller, id: &str, now: Timestamp) -> Result<(MemberRow, i64)> {
        let inv = {
            let mut c = self.store.read().await?;
            self.my_invitation(&mut c, caller, id).await?
        };
        // Still pending is checked again, under the change, by `respond_invitation`.
        let mut change = self
            .change_lock(caller, &inv.lock_id, Need::Invitation, now)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound("invitation"),
                e => e,
            })?;
        let version = change.version()?;
        self.check_pending(&inv, now)?;
        if store::member(change.conn(), &inv.lock_id, caller.id()).await?.is_some() {
            return Err(Error::Conflict("you are already a member of this lock".into()));
        }
        if !store::respond_invitation(change.conn(), id, InvitationStatus::Accepted, ms(now)).await? {
            return Err(Error::Conflict("the invitation is no longer pending".into()));
        }
        super::capacity::check_room_for_member(change.conn(), &inv.lock_id, now).await?;
        let user_id = store::next_user_id(change.conn(), &inv.lock_id).await?;
        let member = NewMember {
            lock_id: &inv.lock_id,
            account_id: caller.id(),
            user_id,
            access_level: inv.access_level,
            schedule: inv.schedule.as_ref(),
            changed_version: version,
            added_at: ms(now),
            added_by: Some(&inv.invited_by),
        };
        store::insert_member(change.conn(), &member).await?;
        // Someone who has not said their name yet is called what the inviter called them.
        if caller.account.name.trim().is_empty()
            && let Some(name) = inv.name.as_deref().filter(|n| !n.is_empty())
        {
            store::set_account_name(change.conn(), caller.id(), name).await?;
        }
        let level = inv.access_level;
        let event = change
            .event("member_added", format!("accepted the invitation as {}", level.label()))
            .about_member(caller.id(), &caller.account.name, &caller.account.phone);
        change.log(event).await?;
        let member = store::member(change.conn(), &inv.lock_id, caller.id())
            .await?
            .ok_or(Error::NotFound("member"))?;
        let acked = store::lock_by_id(change.conn(), &inv.lock_id)
            .await?
            .map(|l| l.acked_version)
            .unwrap_or(0);
        change.commit().await?;
        Ok((member, acked))
    }

    /// `POST /invitations/{id}/decline`
    pub async fn decline_invitation(&self, caller: &Caller, id: &str, now: Timestamp) -> Result<InvitationRow> {
        let mut tx = self.store.begin().await?;
        let mut inv = self.my_invitation(&mut tx, caller, id).await?;
        self.check_pending(&inv, now)?;
        if !store::respond_invitation(&mut tx, id, InvitationStatus::Declined, ms(now)).await? {
            return Err(Error::Conflict("the invitation is no longer pending".into()));
        }
        self.log(
            &mut tx,
            &inv.lock_id,
            now,
            NewEvent::change("invitation_declined", caller, "declined the invitation"),
        )
        .await?;
        tx.commit().await?;
        inv.status = InvitationStatus::Declined;
        Ok(inv)
    }

    fn check_pending(&self, inv: &InvitationRow, now: Timestamp) -> Result<()> {
        if inv.status != InvitationStatus::Pending {
            return Err(Error::Conflict(format!("the invitation is already {}", inv.status)));
        }
        if inv.expires_at <= ms(now) {
            return Err(Error::Conflict("the invitation has expired; ask for a new one".into()));
        }
        Ok(())
    }
}

/// The invitee as the activity log names them: the name first, the number second.
fn invitee(name: Option<&str>, phone: &PhoneNumber) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("{n} ({phone})"),
        None => phone.to_string(),
    }
}
