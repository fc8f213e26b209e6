//! Locks: pairing, reading, settings, unpairing.

use jiff::Timestamp;

use super::access::{self, AdminOf, Caller, MemberOf};
use super::device::{PairingError, PairingGrant};
use super::events::NewEvent;
use super::types::{AccessLevel, LockSecret, Name, TimeZoneName};
use super::{Domain, Error, FieldErrors, Result, ms};
use crate::store::{self, LockProfile, LockRow, NewMember};

pub const DEFAULT_WRONG_CODE_LIMIT: i64 = 5;
pub const DEFAULT_LOCKOUT_SECONDS: i64 = 60;

/// A change to a lock's profile or settings.
#[derive(Debug, Default, Clone)]
pub struct LockPatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub wrong_code_limit: Option<u32>,
    pub lockout_seconds: Option<u32>,
}

impl Domain {
    /// `POST /locks`: pairs the lock showing `setup_code`; the caller becomes its first Admin.
    pub async fn pair_lock(
        &self,
        caller: &Caller,
        setup_code: &str,
        name: &str,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<MemberOf> {
        let mut errors = FieldErrors::default();
        let name = errors.field("name", Name::parse(name));
        let tz = errors.field("time_zone", TimeZoneName::parse(time_zone));
        let setup_code: String = setup_code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if setup_code.is_empty() || setup_code.len() > 32 || !setup_code.bytes().all(|b| b.is_ascii_digit()) {
            errors.add("setup_code", "enter the digits of the setup code the lock shows");
        }
        errors.check()?;
        let (Some(name), Some(tz)) = (name, tz) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        let grant = PairingGrant {
            lock_id: self.new_id("lk"),
            root_secret: self.random::<32>(),
        };
        let device = self.gateway.pair(&setup_code, &grant).await.map_err(|e| match e {
            PairingError::NoAnswer => Error::invalid(
                "setup_code",
                "no unpaired lock answered with this setup code; check the code and that the lock is online",
            ),
            PairingError::TooManyAttempts { retry_after } => Error::RateLimited { retry_after },
            PairingError::Unavailable(m) => Error::Unavailable(m),
        })?;
        let mut tx = self.store.begin().await?;
        if store::lock_by_serial(&mut tx, &device.serial).await?.is_some() {
            tx.rollback().await?;
            // The lock took the id all the same: give it up now, so that the lock is told
            // Unpair when it presents itself (docs/design/pairing-convergence.md).
            let mut tx = self.store.begin().await?;
            store::abandon_pairing(&mut tx, &grant.lock_id, None).await?;
            tx.commit().await?;
            return Err(Error::Conflict(
                "this lock is already paired; an Admin must unpair it before it can be paired again".into(),
            ));
        }
        // Keeps the pairing the gateway recorded as pending, unless it was given up meanwhile
        // (the lock is then told Unpair, so keeping the row would pair one end only).
        if !store::keep_pairing(&mut tx, &grant.lock_id).await? {
            return Err(Error::invalid(
                "setup_code",
                "the lock did not finish pairing in time; it returns to pairing with a new setup code, try again with that",
            ));
        }
        let lock = LockRow {
            id: grant.lock_id.clone(),
            serial: device.serial.clone(),
            name: name.as_str().to_string(),
            time_zone: tz,
            wrong_code_limit: DEFAULT_WRONG_CODE_LIMIT,
            lockout_seconds: DEFAULT_LOCKOUT_SECONDS,
            device_key: device.device_key,
            root_secret: LockSecret(latchkey_guest_code::RootSecret(grant.root_secret)),
            server_epoch: 1,
            version: 1,
            acked_version: 0,
            event_seq: 0,
            command_seq: 0,
            online: true,
            bolt: None,
            last_seen_at: Some(ms(now)),
            next_user_id: 2,
            created_at: ms(now),
        };
        store::insert_lock(&mut tx, &lock).await?;
        let first_admin = NewMember {
            lock_id: &lock.id,
            account_id: caller.id(),
            user_id: 1,
            access_level: AccessLevel::Admin,
            schedule: None,
            changed_version: lock.version,
            added_at: ms(now),
            added_by: Some(caller.id()),
        };
        store::insert_member(&mut tx, &first_admin).await?;
        self.log(
            &mut tx,
            &lock.id,
            now,
            NewEvent::change("lock_paired", caller, format!("paired as \"{}\"", lock.name)),
        )
        .await?;
        tx.commit().await?;
        self.gateway.lock_changed(&lock.id);
        let mut c = self.store.read().await?;
        access::member_of(&mut c, caller, &lock.id).await
    }

    /// `GET /locks`: the caller's locks with the caller's level.
    pub async fn my_locks(&self, caller: &Caller) -> Result<Vec<(LockRow, AccessLevel)>> {
        let mut c = self.store.read().await?;
        Ok(store::locks_of_account(&mut c, caller.id()).await?)
    }

    /// `GET /locks/{id}`
    pub async fn lock(&self, caller: &Caller, lock_id: &str) -> Result<MemberOf> {
        let mut c = self.store.read().await?;
        access::member_of(&mut c, caller, lock_id).await
    }

    /// What the live pages watch (`web/live.rs`): a short text that changes whenever the lock's
    /// online state, bolt, sync state or activity log does. Members only; the newest event is
    /// part of it only for Admins (who may see the log).
    pub async fn lock_pulse(&self, caller: &Caller, lock_id: &str) -> Result<String> {
        let mut c = self.store.read().await?;
        let member = access::member_of(&mut c, caller, lock_id).await?;
        let l = &member.lock;
        let newest = if member.level() == super::types::AccessLevel::Admin {
            store::events(&mut c, lock_id, None, 1)
                .await?
                .first()
                .map(|e| e.id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(format!(
            "{}:{}:{}:{}:{}:{}",
            l.online,
            l.bolt.as_deref().unwrap_or("unknown"),
            l.version,
            l.acked_version,
            l.last_seen_at.unwrap_or(0) / 60_000,
            newest
        ))
    }

    /// The lock, for an Admin of it (the Admin-only pages); 403 for its other members.
    pub async fn lock_as_admin(&self, caller: &Caller, lock_id: &str) -> Result<AdminOf> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await
    }

    /// `PATCH /locks/{id}`
    pub async fn patch_lock(
        &self,
        caller: &Caller,
        lock_id: &str,
        patch: &LockPatch,
        now: Timestamp,
    ) -> Result<MemberOf> {
        let mut errors = FieldErrors::default();
        let name = patch.name.as_deref().and_then(|n| errors.field("name", Name::parse(n)));
        let tz = patch
            .time_zone
            .as_deref()
            .and_then(|t| errors.field("time_zone", TimeZoneName::parse(t)));
        if let Some(n) = patch.wrong_code_limit
            && !(3..=20).contains(&n)
        {
            errors.add("settings.wrong_code_limit", "must be between 3 and 20");
        }
        if let Some(s) = patch.lockout_seconds
            && !(10..=3600).contains(&s)
        {
            errors.add("settings.lockout_seconds", "must be between 10 and 3600");
        }
        errors.check()?;
        let mut change = self.edit_lock(caller, lock_id, now).await?;
        let lock = change.admin()?.lock().clone();
        let new_tz = tz.unwrap_or(lock.time_zone.clone());
        let new_limit = patch.wrong_code_limit.map(i64::from).unwrap_or(lock.wrong_code_limit);
        let new_lockout = patch.lockout_seconds.map(i64::from).unwrap_or(lock.lockout_seconds);
        let lock_must_learn =
            new_tz != lock.time_zone || new_limit != lock.wrong_code_limit || new_lockout != lock.lockout_seconds;
        if lock_must_learn {
            change.bump().await?;
        }
        let new_name = name
            .as_ref()
            .map(|n| n.as_str().to_string())
            .unwrap_or(lock.name.clone());
        let profile = LockProfile {
            name: &new_name,
            time_zone: &new_tz,
            wrong_code_limit: new_limit,
            lockout_seconds: new_lockout,
        };
        store::update_lock_profile(change.conn(), lock_id, &profile).await?;
        let mut changes = Vec::new();
        if new_name != lock.name {
            changes.push(format!("renamed to \"{new_name}\""));
        }
        if new_tz != lock.time_zone {
            changes.push(format!("time zone {}", new_tz.as_str()));
        }
        if new_limit != lock.wrong_code_limit || new_lockout != lock.lockout_seconds {
            changes.push(format!(
                "keypad lockout after {new_limit} wrong entries for {new_lockout} s"
            ));
        }
        if !changes.is_empty() {
            let event = change.event("lock_changed", changes.join("; "));
            change.log(event).await?;
        }
        let updated = access::member_of(change.conn(), caller, lock_id).await?;
        change.commit().await?;
        Ok(updated)
    }

    /// `DELETE /locks/{id}`: unpairs. The lock is told to forget its server now, and again
    /// whenever it presents itself later under this id (a lock that was offline): the id is
    /// kept as a tombstone (docs/design/pairing-convergence.md).
    pub async fn unpair_lock(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let admin = access::admin_of(&mut tx, caller, lock_id).await?;
        let lock = admin.lock().clone();
        store::delete_lock(&mut tx, lock_id).await?;
        let tombstone = store::Tombstone {
            lock_id: lock.id.clone(),
            serial: lock.serial.clone(),
            device_key: lock.device_key,
            root_secret: lock.root_secret,
            state: store::TombstoneState::Unpaired,
            // The first Unpair takes 2^63 + command_seq + 1 (gateway `unpaired`).
            unpair_seq: lock.command_seq.max(0),
            created_at: ms(now),
        };
        store::put_tombstone(&mut tx, &tombstone).await?;
        tx.commit().await?;
        self.gateway.unpaired(&lock).await;
        Ok(())
    }
}
