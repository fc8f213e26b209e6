//! Guest keys (codes minted with the guest-code library, texted to the guest) and guest-code
//! issuers for Admin devices.

use jiff::{Timestamp, tz::TimeZone};
use latchkey_guest_code::{self as gc, Validity};

use super::access::{self, Caller};
use super::change::Need;
use super::events::NewEvent;
use super::idempotency::{self, Idem};
use super::types::{Name, PhoneNumber, TimeZoneName};
use super::{Domain, Error, FieldErrors, Result, ms, ts};
use crate::store::{self, GuestKeyRow, IssuerRow, LockRow};

/// The longest guest key. Keys up to `gc::MAX_HOURS` work offline from the code alone;
/// longer ones are held keys that the lock accepts once it has synced them.
pub const MAX_KEY_DAYS: i64 = 90;
/// Admin-device issuer slots (slot 0 is the server).
pub const DEVICE_SLOTS: std::ops::RangeInclusive<i64> = 1..=7;

/// What extending a key did: the key that now holds the window (a new one when the code
/// changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extended {
    pub key_id: String,
    pub code_changed: bool,
}

/// Whether a key's code is a held code (the lock's record decides its window), read from the
/// code itself; a code that does not check is treated as a window code.
fn code_is_held(lock: &LockRow, key: &GuestKeyRow) -> bool {
    let Ok(slot) = u8::try_from(key.slot) else { return false };
    let Ok(epoch) = u32::try_from(key.epoch) else {
        return false;
    };
    let mut issuers = [gc::IssuerState::EMPTY; gc::ISSUER_SLOTS];
    let Some(issuer) = issuers.get_mut(usize::from(slot)) else {
        return false;
    };
    *issuer = gc::IssuerState::active(epoch, lock.root_secret.0.issuer_key(slot, epoch));
    matches!(
        gc::check(key.code.as_bytes(), lock.id.as_bytes(), &issuers, key.starts_at / 1000),
        gc::Check::Genuine {
            validity: Validity::Held { .. },
            ..
        }
    )
}

/// Whether changing `key`'s end to `ends_at` (ms) keeps its code (see
/// `Domain::extend_guest_key`).
pub fn extend_keeps_code(lock: &LockRow, key: &GuestKeyRow, ends_at: i64) -> bool {
    code_is_held(lock, key) || ends_at <= key.code_ends_at
}

/// What `POST /locks/{id}/guest-keys` asks for, unparsed.
#[derive(Debug, Clone)]
pub struct GuestKeyRequest {
    pub name: String,
    pub phone: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub one_time: bool,
    pub precautions_accepted: bool,
    /// The client's idempotency key: the same request again answers with the first key.
    pub idempotency_key: Option<String>,
}

/// A guest key's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Scheduled,
    Active,
    Used,
    Expired,
    Revoked,
}

pub fn key_status(k: &GuestKeyRow, now: Timestamp) -> KeyStatus {
    let now = ms(now);
    if k.revoked_at.is_some() {
        KeyStatus::Revoked
    } else if k.one_time && k.used_at.is_some() {
        KeyStatus::Used
    } else if now < k.starts_at {
        KeyStatus::Scheduled
    } else if now >= k.ends_at {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    }
}

/// Parses an instant with an offset, or a local date-time at the lock (`2027-07-01T15:00`).
/// A local time skipped by a daylight-saving change is read as the instant after the gap; a
/// repeated one as its first occurrence.
pub fn parse_instant(text: &str, zone: &TimeZone) -> std::result::Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    match text.parse::<jiff::civil::DateTime>() {
        Ok(dt) => dt
            .to_zoned_datetime(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|_| "this local time does not exist at the lock".to_string()),
        Err(_) => Err("use an instant like 2027-07-01T15:00:00+02:00 or a local time like 2027-07-01T15:00".into()),
    }
}

/// How to enter a code, for the API answer and the SMS.
pub fn instructions(code: &str) -> String {
    format!("Type {code} on the lock's keypad, then press #.")
}

/// When a key works, said plainly: "Works now until …" for a key that has started, and
/// "Starts working …" for one that has not (a code typed before then is refused, the seed's
/// first complaint), in the lock's time zone.
pub fn window_sentence(start: Timestamp, end: Timestamp, now: Timestamp, tz: &TimeZoneName) -> String {
    if start > now {
        format!(
            "It starts working {} and works until {} ({}); before then the lock refuses it.",
            local_time(start, tz),
            local_time(end, tz),
            tz.as_str()
        )
    } else {
        format!("It works now, until {} ({}).", local_time(end, tz), tz.as_str())
    }
}

/// How many times a guest-key creation starts again when another creation took its code.
const CREATE_ATTEMPTS: u32 = 8;

/// The answer when another creation took the code every attempt minted.
const CODE_RACE: &str = "another guest key took this code just now; try again";

/// Whether `e` is a creation losing a race for a code.
fn is_code_race(e: &Error) -> bool {
    matches!(e, Error::Conflict(m) if m.as_str() == CODE_RACE)
}

/// Whether a unique violation is the live-code index (its name on PostgreSQL, its columns in
/// SQLite's message).
fn is_live_code(what: &str) -> bool {
    what.contains("guest_keys_live_code") || what.contains("guest_keys.code")
}

/// `2027-07-01 15:00 (Europe/Berlin)`-style local rendering.
pub fn local_time(t: Timestamp, tz: &TimeZoneName) -> String {
    t.to_zoned_datetime(tz.zone())
        .strftime("%a %-d %b %Y %H:%M")
        .to_string()
}

impl Domain {
    /// `POST /locks/{id}/guest-keys`: Admins only.
    ///
    /// The lock row is taken only at the end (`LockChange::bump` just before the insert and the
    /// commit), so creations on one lock overlap until then (issue 19). The inserting
    /// statement, under the row lock, reads the key number and checks again what was checked
    /// without it (Admin, room on the lock, a code never issued); when another creation took
    /// the code meanwhile, the creation starts again (at most `CREATE_ATTEMPTS` times) and
    /// mints another. The live-code unique index stays as the last word.
    pub async fn create_guest_key(
        &self,
        caller: &Caller,
        lock_id: &str,
        req: &GuestKeyRequest,
        now: Timestamp,
    ) -> Result<GuestKeyRow> {
        let mut attempt = 1;
        loop {
            match self.create_guest_key_once(caller, lock_id, req, now).await {
                Err(e) if attempt < CREATE_ATTEMPTS && is_code_race(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    async fn create_guest_key_once(
        &self,
        caller: &Caller,
        lock_id: &str,
        req: &GuestKeyRequest,
        now: Timestamp,
    ) -> Result<GuestKeyRow> {
        let idem_key = match req.idempotency_key.as_deref() {
            Some(k) => Some(idempotency::parse_key(k).map_err(|m| Error::invalid("idempotency_key", m))?),
            None => None,
        };
        let idem = Idem {
            key: idem_key.as_deref(),
            scope: format!("guest_key:{lock_id}"),
            fingerprint: idempotency::fingerprint(&[
                &req.name,
                req.phone.as_deref().unwrap_or(""),
                &req.starts_at,
                &req.ends_at,
                if req.one_time { "once" } else { "" },
            ]),
        };
        // Checked without the lock row; checked again under it by the insert (see above).
        let mut change = self.edit_lock(caller, lock_id, now).await?;
        // The same request again: the first key (the change rolls back, nothing is made).
        if let Some(id) = idem.replay(change.conn(), caller, now).await? {
            return store::guest_key(change.conn(), lock_id, &id)
                .await?
                .ok_or(Error::NotFound("guest key"));
        }
        let lock = change.admin()?.lock().clone();
        let tz = lock.time_zone.clone();
        let zone = tz.zone();

        let mut errors = FieldErrors::default();
        let name = errors.field("name", Name::parse(&req.name));
        let phone = match req.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => errors.field("phone", PhoneNumber::parse(p)),
            None => None,
        };
        let start = errors.field("starts_at", parse_instant(&req.starts_at, &zone));
        let end = errors.field("ends_at", parse_instant(&req.ends_at, &zone));
        if !req.precautions_accepted {
            errors.add(
                "precautions_accepted",
                "confirm the precautions before creating a guest key",
            );
        }
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                errors.add("ends_at", "must be after starts_at");
            } else if end <= now {
                errors.add("ends_at", "is in the past");
            } else if ms(end) - ms(start) > MAX_KEY_DAYS * 86_400_000 {
                errors.add("ends_at", format!("a guest key lasts at most {MAX_KEY_DAYS} days"));
            } else if ms(start) > ms(now) + 366 * 86_400_000 {
                errors.add("starts_at", "must be within a year from now");
            }
        }
        errors.check()?;
        let (Some(name), Some(start), Some(end)) = (name, start, end) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        // Never answer 201 for a key the lock could not hold (issue 16).
        super::capacity::check_room_for_guest_key(change.conn(), lock_id, now).await?;

        let epoch = lock.server_epoch;
        let key = lock.root_secret.0.issuer_key(0, epoch as u32);
        let (code, code_ends_at, key_no) = self
            .mint_unique(change.conn(), &lock, &key, epoch as u32, start, end, req.one_time)
            .await?;
        let mut row = GuestKeyRow {
            id: self.new_id("gk"),
            lock_id: lock_id.to_string(),
            // Read again under the lock row, by the insert below.
            key_no,
            name: name.as_str().to_string(),
            phone: phone.as_ref().map(|p| p.to_string()),
            code: code.clone(),
            slot: 0,
            epoch,
            starts_at: ms(start),
            ends_at: ms(end),
            code_ends_at,
            one_time: req.one_time,
            revoked_at: None,
            used_at: None,
            changed_version: 0,
            sms_id: None,
            created_by: caller.id().to_string(),
            created_at: ms(now),
        };
        if let Some(phone) = &phone {
            let body = format!(
                "{} sent you a guest key for \"{}\". {}{} {}",
                caller.display_name(),
                lock.name,
                instructions(&code),
                if req.one_time { " It works once." } else { "" },
                window_sentence(start, end, now, &tz),
            );
            row.sms_id = Some(
                self.queue_sms(change.conn(), phone.as_str(), &body, "guest_key", now)
                    .await?,
            );
        }
        idem.remember(change.conn(), caller, &row.id, now).await?;
        let detail = format!(
            "guest key \"{}\" {} {} – {}",
            row.name,
            if row.one_time { "(one-time)" } else { "" },
            local_time(start, &tz),
            local_time(end, &tz)
        );
        let event = change.event("guest_key_created", detail).about_key(&row.id, &row.name);
        change.log(event).await?;
        // From here to the commit the lock row is held: the bump, one insert that checks again.
        row.changed_version = change.bump().await?;
        let max = i64::try_from(latchkey_lock_core::STANDARD_GUEST_KEYS).unwrap_or(i64::MAX);
        let inserted = match store::insert_guest_key_checked(change.conn(), &row, caller.id(), now.as_second(), max)
            .await
        {
            Err(e) if e.unique_violation().is_some_and(is_live_code) => return Err(Error::Conflict(CODE_RACE.into())),
            other => other?,
        };
        match inserted {
            Some(n) => row.key_no = n,
            None => {
                // The caller stopped being an Admin, the lock filled up, or another creation
                // took the code, meanwhile: say which (the last one starts again).
                access::admin_of(change.conn(), caller, lock_id).await?;
                super::capacity::check_room_for_guest_key(change.conn(), lock_id, now).await?;
                if store::code_ever_issued(change.conn(), lock_id, &row.code).await? {
                    return Err(Error::Conflict(CODE_RACE.into()));
                }
                return Err(Error::Internal("a guest key's insert matched nothing".into()));
            }
        }
        change.commit().await?;
        if row.sms_id.is_some() {
            self.sms_wake.notify_one();
        }
        Ok(row)
    }

    /// Mints a code no live key of this lock has. A window code covers the Admin's window
    /// rounded out to whole hours; when that code is taken, the window is widened by an hour
    /// at either end (never more than an hour beyond what the Admin chose), and failing that,
    /// or for windows longer than an offline code can carry, a held code (which the lock
    /// accepts once it has synced the key) is used. Returns the code, the end of its own
    /// validity in milliseconds and the new key's number (read by the first lookup: one query
    /// instead of two while the lock's version is held).
    #[allow(clippy::too_many_arguments)]
    async fn mint_unique(
        &self,
        c: &mut store::Conn,
        lock: &LockRow,
        key: &gc::IssuerKey,
        epoch: u32,
        start: Timestamp,
        end: Timestamp,
        one_time: bool,
    ) -> Result<(String, i64, i64)> {
        let mut next_key_no = None;
        let (code, ends_at) = self
            .first_free_code(c, lock, key, epoch, start, end, one_time, &mut next_key_no)
            .await?;
        let key_no = match next_key_no {
            Some(n) => n,
            None => store::next_key_no(c, &lock.id).await?,
        };
        Ok((code, ends_at, key_no))
    }

    /// `mint_unique`'s search; `next_key_no` is filled by the first lookup.
    #[allow(clippy::too_many_arguments)]
    async fn first_free_code(
        &self,
        c: &mut store::Conn,
        lock: &LockRow,
        key: &gc::IssuerKey,
        epoch: u32,
        start: Timestamp,
        end: Timestamp,
        one_time: bool,
        next_key_no: &mut Option<i64>,
    ) -> Result<(String, i64)> {
        let start_s = start.as_second();
        let end_s = end.as_second();
        let start_hour = start_s.div_euclid(3600);
        let end_hour = (end_s + 3599).div_euclid(3600);
        for (ds, de) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (s, e) = (start_hour - ds, end_hour + de);
            let hours = e - s;
            if start_s - s * 3600 > 3600 || e * 3600 - end_s > 3600 || hours < 1 || hours > gc::MAX_HOURS as i64 {
                continue;
            }
            let validity = Validity::Window {
                start_hour: s as u32,
                hours: hours as u16,
            };
            let code = mint_text(key, &lock.id, epoch, validity, one_time)?;
            if !code_taken(c, &lock.id, &code, next_key_no).await? {
                return Ok((code, e * 3_600_000));
            }
        }
        // Held codes: the first serial never used on this lock (in order, never reused, so a
        // revoked held code's deny entry can never catch a new key).
        for serial in 0..gc::RESIDUES {
            let code = mint_text(key, &lock.id, epoch, Validity::Held { serial }, one_time)?;
            if !code_taken(c, &lock.id, &code, next_key_no).await? {
                return Ok((code, ms(end)));
            }
        }
        Err(Error::Conflict(
            "could not make a distinct code for this window; try again".into(),
        ))
    }

    /// `GET /locks/{id}/guest-keys`
    pub async fn guest_keys(&self, caller: &Caller, lock_id: &str) -> Result<(Vec<GuestKeyRow>, LockRow)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        Ok((store::guest_keys(&mut c, lock_id).await?, admin.lock().clone()))
    }

    /// `GET /locks/{id}/guest-keys/{key}`
    pub async fn guest_key(&self, caller: &Caller, lock_id: &str, id: &str) -> Result<(GuestKeyRow, LockRow)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let key = store::guest_key(&mut c, lock_id, id)
            .await?
            .ok_or(Error::NotFound("guest key"))?;
        Ok((key, admin.lock().clone()))
    }

    /// Where a guest key's SMS is.
    pub async fn sms_state(&self, sms_id: Option<&str>) -> Result<Option<store::SmsRow>> {
        let Some(id) = sms_id else { return Ok(None) };
        let mut c = self.store.read().await?;
        Ok(store::sms_by_id(&mut c, id).await?)
    }

    /// `DELETE /locks/{id}/guest-keys/{key}`: the lock learns a deny entry on its next sync.
    pub async fn revoke_guest_key(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<()> {
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let revocation = change.revocation()?;
        let key = store::guest_key(change.conn(), lock_id, id)
            .await?
            .ok_or(Error::NotFound("guest key"))?;
        // A revoked code needs a deny entry on the lock until its window ends.
        if key.revoked_at.is_none() && key.code_ends_at > ms(now) {
            super::capacity::check_room_for_deny_entry(change.conn(), lock_id, now).await?;
        }
        if !store::revoke_guest_key(change.conn(), lock_id, id, revocation).await? {
            return Err(Error::Conflict("the guest key is already revoked".into()));
        }
        let event = change
            .event("guest_key_revoked", format!("revoked guest key \"{}\"", key.name))
            .about_key(&key.id, &key.name);
        change.log(event).await?;
        change.commit().await
    }

    /// Changes when a live guest key ends (`ends_at`: an instant or a local time at the lock).
    /// The code stays when the lock can be told the new end: a held code (the lock's record
    /// decides), or a window code whose own window already covers the new end. Otherwise the
    /// window is inside the code's MAC, so the key is replaced: the old code is revoked and a
    /// new key (same name and phone, a new code, texted again) takes its place. Admins only.
    pub async fn extend_guest_key(
        &self,
        caller: &Caller,
        lock_id: &str,
        id: &str,
        ends_at: &str,
        idempotency_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Extended> {
        let idem_key = match idempotency_key {
            Some(k) => Some(idempotency::parse_key(k).map_err(|m| Error::invalid("idempotency_key", m))?),
            None => None,
        };
        let idem = Idem {
            key: idem_key.as_deref(),
            scope: format!("guest_key_end:{lock_id}:{id}"),
            fingerprint: idempotency::fingerprint(&[ends_at]),
        };
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        // The same request again (a retry after a lost answer): what the first one made, even
        // when it replaced the key, whose old id now names a revoked key (the change rolls back).
        if let Some(key_id) = idem.replay(change.conn(), caller, now).await? {
            return Ok(Extended {
                code_changed: key_id != id,
                key_id,
            });
        }
        let version = change.version()?;
        let lock = change.admin()?.lock().clone();
        let tz = lock.time_zone.clone();
        let key = store::guest_key(change.conn(), lock_id, id)
            .await?
            .ok_or(Error::NotFound("guest key"))?;
        match key_status(&key, now) {
            KeyStatus::Revoked => return Err(Error::Conflict("the guest key is revoked".into())),
            KeyStatus::Used => return Err(Error::Conflict("the one-time guest key was already used".into())),
            _ => {}
        }
        let end = parse_instant(ends_at, &tz.zone()).map_err(|m| Error::invalid("ends_at", m))?;
        let start = ts(key.starts_at);
        if end <= start {
            return Err(Error::invalid("ends_at", "must be after the key's start"));
        }
        if end <= now {
            return Err(Error::invalid("ends_at", "is in the past"));
        }
        if ms(end) - key.starts_at > MAX_KEY_DAYS * 86_400_000 {
            return Err(Error::invalid(
                "ends_at",
                format!("a guest key lasts at most {MAX_KEY_DAYS} days from its start"),
            ));
        }
        let from = local_time(ts(key.ends_at), &tz);
        let to = local_time(end, &tz);
        let held = code_is_held(&lock, &key);
        if extend_keeps_code(&lock, &key, ms(end)) {
            let code_ends_at = if held { ms(end) } else { key.code_ends_at };
            store::move_guest_key(change.conn(), &key.id, key.starts_at, ms(end), code_ends_at, version).await?;
            let event = change
                .event(
                    "guest_key_changed",
                    format!("guest key \"{}\" now ends {to} (was {from}); same code", key.name),
                )
                .about_key(&key.id, &key.name);
            change.log(event).await?;
            idem.remember(change.conn(), caller, &key.id, now).await?;
            change.commit().await?;
            return Ok(Extended {
                key_id: key.id,
                code_changed: false,
            });
        }
        // A new code: the old one is denied at the lock until its own window ends.
        let revocation = change.revocation()?;
        if key.code_ends_at > ms(now) {
            super::capacity::check_room_for_deny_entry(change.conn(), lock_id, now).await?;
        }
        store::revoke_guest_key(change.conn(), lock_id, &key.id, revocation).await?;
        let epoch = lock.server_epoch;
        let issuer = lock.root_secret.0.issuer_key(0, epoch as u32);
        let (code, code_ends_at, key_no) = self
            .mint_unique(change.conn(), &lock, &issuer, epoch as u32, start, end, key.one_time)
            .await?;
        let mut row = GuestKeyRow {
            id: self.new_id("gk"),
            key_no,
            code: code.clone(),
            epoch,
            ends_at: ms(end),
            code_ends_at,
            revoked_at: None,
            used_at: None,
            changed_version: version,
            sms_id: None,
            created_by: caller.id().to_string(),
            created_at: ms(now),
            ..key.clone()
        };
        if let Some(phone) = &row.phone {
            let body = format!(
                "Your guest key for \"{}\" was extended, so its code changed. {} {}",
                lock.name,
                instructions(&code),
                window_sentence(start, end, now, &tz),
            );
            row.sms_id = Some(self.queue_sms(change.conn(), phone, &body, "guest_key", now).await?);
        }
        store::insert_guest_key(change.conn(), &row).await?;
        let event = change
            .event(
                "guest_key_changed",
                format!(
                    "guest key \"{}\" now ends {to} (was {from}); a new code, the old one is revoked",
                    key.name
                ),
            )
            .about_key(&row.id, &row.name);
        change.log(event).await?;
        idem.remember(change.conn(), caller, &row.id, now).await?;
        change.commit().await?;
        if row.sms_id.is_some() {
            self.sms_wake.notify_one();
        }
        Ok(Extended {
            key_id: row.id,
            code_changed: true,
        })
    }

    /// Texts a live guest key's code to its phone again (a guest who lost the SMS). Admins
    /// only; the lock is not changed.
    pub async fn resend_guest_key(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let admin = access::admin_of(&mut tx, caller, lock_id).await?;
        let lock = admin.lock().clone();
        let key = store::guest_key(&mut tx, lock_id, id)
            .await?
            .ok_or(Error::NotFound("guest key"))?;
        if !matches!(key_status(&key, now), KeyStatus::Scheduled | KeyStatus::Active) {
            return Err(Error::Conflict(
                "the guest key no longer works; nothing to resend".into(),
            ));
        }
        let Some(phone) = key.phone.clone() else {
            return Err(Error::Conflict(
                "this guest key has no phone number; share the code instead".into(),
            ));
        };
        let body = format!(
            "{} sent you your guest key for \"{}\" again. {}{} {}",
            caller.display_name(),
            lock.name,
            instructions(&key.code),
            if key.one_time { " It works once." } else { "" },
            window_sentence(ts(key.starts_at), ts(key.ends_at), now, &lock.time_zone),
        );
        let sms_id = self.queue_sms(&mut tx, &phone, &body, "guest_key", now).await?;
        store::set_guest_key_phone(&mut tx, &key.id, &phone, &sms_id).await?;
        let event = NewEvent::change(
            "guest_key_resent",
            caller,
            format!("texted guest key \"{}\" again", key.name),
        )
        .about_key(&key.id, &key.name);
        self.log(&mut tx, lock_id, now, event).await?;
        tx.commit().await?;
        self.sms_wake.notify_one();
        Ok(())
    }

    /// `POST /locks/{id}/issuers`: a guest-code issuer for one Admin device; returns the row
    /// and the issuer file.
    pub async fn create_issuer(
        &self,
        caller: &Caller,
        lock_id: &str,
        label: Option<&str>,
        now: Timestamp,
    ) -> Result<(IssuerRow, String)> {
        let label = match label.map(str::trim).filter(|l| !l.is_empty()) {
            Some(l) => Name::parse(l)
                .map_err(|m| Error::invalid("label", m))?
                .as_str()
                .to_string(),
            None => format!("{}'s device", caller.display_name()),
        };
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let version = change.version()?;
        let lock = change.admin()?.lock().clone();
        let existing = store::issuers(change.conn(), lock_id).await?;
        let slot = DEVICE_SLOTS
            .clone()
            .find(|s| !existing.iter().any(|i| i.slot == *s && i.revoked_at.is_none()))
            .ok_or_else(|| Error::Conflict("this lock already has 7 device issuers; delete one first".into()))?;
        let epoch = existing
            .iter()
            .filter(|i| i.slot == slot)
            .map(|i| i.epoch)
            .max()
            .unwrap_or(0)
            + 1;
        let row = IssuerRow {
            id: self.new_id("iss"),
            lock_id: lock_id.to_string(),
            slot,
            epoch,
            account_id: caller.id().to_string(),
            label: label.clone(),
            created_at: ms(now),
            revoked_at: None,
            changed_version: version,
        };
        store::insert_issuer(change.conn(), &row).await?;
        let key = lock.root_secret.0.issuer_key(slot as u8, epoch as u32);
        let file = issuer_file(&row, &key);
        let event = change.event(
            "issuer_created",
            format!("guest-code issuer for \"{label}\" (slot {slot})"),
        );
        change.log(event).await?;
        change.commit().await?;
        Ok((row, file))
    }

    /// `DELETE /locks/{id}/issuers/{issuer}`: kills every code the issuer made once the lock
    /// syncs.
    pub async fn delete_issuer(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<()> {
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let revocation = change.revocation()?;
        let issuer = store::issuer_by_id(change.conn(), lock_id, id)
            .await?
            .ok_or(Error::NotFound("issuer"))?;
        if !store::revoke_issuer(change.conn(), id, revocation).await? {
            return Err(Error::Conflict("the issuer is already deleted".into()));
        }
        // The keys it made (recorded from the device) are revoked with it; the lock needs no
        // deny entry for them (`store::REVOKED_NEEDS_DENY`).
        store::revoke_issuer_keys(change.conn(), lock_id, issuer.slot, issuer.epoch, revocation).await?;
        let event = change.event(
            "issuer_revoked",
            format!("deleted guest-code issuer \"{}\"", issuer.label),
        );
        change.log(event).await?;
        change.commit().await
    }
}

/// What `POST /locks/{id}/offline-keys/{issuer}/keys` reports: a guest key an Admin device
/// minted with its issuer file while the server could not be reached, unparsed.
#[derive(Debug, Clone)]
pub struct OfflineKeyRequest {
    pub name: String,
    pub code: String,
    /// The window the Admin chose (instants; the code covers it rounded out to whole hours,
    /// widened by at most an hour at either end).
    pub starts_at: String,
    pub ends_at: String,
    pub one_time: bool,
}

impl Domain {
    /// The lock's guest-code issuers (Admin devices), newest first: Admins only.
    pub async fn issuers(&self, caller: &Caller, lock_id: &str) -> Result<(Vec<IssuerRow>, LockRow)> {
        let mut c = self.store.read().await?;
        let admin = access::admin_of(&mut c, caller, lock_id).await?;
        let mut rows = store::issuers(&mut c, lock_id).await?;
        rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok((rows, admin.lock().clone()))
    }

    /// Records a guest key that an Admin device minted offline with `issuer_id`'s file, so it
    /// is listed, logged and revocable like the server's own. The server re-mints the code
    /// from the lock's root secret to check that the issuer made it for this window; the same
    /// code again (a device retrying) answers with the key already recorded.
    pub async fn record_offline_key(
        &self,
        caller: &Caller,
        lock_id: &str,
        issuer_id: &str,
        req: &OfflineKeyRequest,
        now: Timestamp,
    ) -> Result<GuestKeyRow> {
        let mut change = self.change_lock(caller, lock_id, Need::Admin, now).await?;
        let version = change.version()?;
        let lock = change.admin()?.lock().clone();
        let issuer = store::issuer_by_id(change.conn(), lock_id, issuer_id)
            .await?
            .ok_or(Error::NotFound("issuer"))?;
        let tz = lock.time_zone.clone();
        let zone = tz.zone();
        let mut errors = FieldErrors::default();
        let name = errors.field("name", Name::parse(&req.name));
        let code: String = req.code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != gc::CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            errors.add("code", "a guest code has 12 digits");
        }
        let start = errors.field("starts_at", parse_instant(&req.starts_at, &zone));
        let end = errors.field("ends_at", parse_instant(&req.ends_at, &zone));
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            errors.add("ends_at", "must be after starts_at");
        }
        errors.check()?;
        let (Some(name), Some(start), Some(end)) = (name, start, end) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        // The same code again: the device did not hear the first answer.
        if let Some(existing) = store::guest_key_by_code(change.conn(), lock_id, &code).await? {
            if existing.slot == issuer.slot && existing.epoch == issuer.epoch {
                return Ok(existing);
            }
            return Err(Error::Conflict(
                "this lock already has a guest key with this code".into(),
            ));
        }
        if issuer.revoked_at.is_some() {
            return Err(Error::Conflict(
                "this device's issuer was revoked: the lock no longer accepts the codes it made".into(),
            ));
        }
        let key = lock.root_secret.0.issuer_key(issuer.slot as u8, issuer.epoch as u32);
        let code_ends_at = offline_code_window(&key, &lock.id, &issuer, start, end, req.one_time, &code)
            .ok_or_else(|| Error::invalid("code", "this device's issuer did not make this code for this window"))?;
        super::capacity::check_room_for_guest_key(change.conn(), lock_id, now).await?;
        let key_no = store::next_key_no(change.conn(), lock_id).await?;
        let row = GuestKeyRow {
            id: self.new_id("gk"),
            lock_id: lock_id.to_string(),
            key_no,
            name: name.as_str().to_string(),
            phone: None,
            code,
            slot: issuer.slot,
            epoch: issuer.epoch,
            starts_at: ms(start),
            ends_at: ms(end),
            code_ends_at,
            one_time: req.one_time,
            revoked_at: None,
            used_at: None,
            changed_version: version,
            sms_id: None,
            created_by: caller.id().to_string(),
            created_at: ms(now),
        };
        store::insert_guest_key(change.conn(), &row).await?;
        let detail = format!(
            "guest key \"{}\" {} {} – {}, made offline on \"{}\"",
            row.name,
            if row.one_time { "(one-time)" } else { "" },
            local_time(start, &tz),
            local_time(end, &tz),
            issuer.label
        );
        let event = change.event("guest_key_created", detail).about_key(&row.id, &row.name);
        change.log(event).await?;
        change.commit().await?;
        Ok(row)
    }
}

/// The end (milliseconds) of the window code `code` covers, when `issuer` minted it for the
/// window `start`..`end`: the window rounded out to whole hours, or widened by an hour at the
/// end, the start or both (what a device does when the plain window's code was taken, as the
/// server does in `mint_unique`).
fn offline_code_window(
    key: &gc::IssuerKey,
    lock_id: &str,
    issuer: &IssuerRow,
    start: Timestamp,
    end: Timestamp,
    one_time: bool,
    code: &str,
) -> Option<i64> {
    let (start_s, end_s) = (start.as_second(), end.as_second());
    let start_hour = start_s.div_euclid(3600);
    let end_hour = (end_s + 3599).div_euclid(3600);
    for (ds, de) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let (s, e) = (start_hour - ds, end_hour + de);
        let hours = e - s;
        if hours < 1 || hours > gc::MAX_HOURS as i64 || s < 0 || s > i64::from(u32::MAX) {
            continue;
        }
        let validity = Validity::Window {
            start_hour: s as u32,
            hours: hours as u16,
        };
        let Ok(minted) = gc::mint(
            key,
            lock_id.as_bytes(),
            issuer.slot as u8,
            issuer.epoch as u32,
            validity,
            one_time,
        ) else {
            continue;
        };
        if minted.0.as_slice() == code.as_bytes() {
            return Some(e * 3_600_000);
        }
    }
    None
}

/// Whether the lock ever had a key with `code`; the first call of a creation also reads the
/// next key number.
async fn code_taken(c: &mut store::Conn, lock_id: &str, code: &str, next_key_no: &mut Option<i64>) -> Result<bool> {
    if next_key_no.is_some() {
        return Ok(store::code_ever_issued(c, lock_id, code).await?);
    }
    let (issued, n) = store::code_issued_and_next_key_no(c, lock_id, code).await?;
    *next_key_no = Some(n);
    Ok(issued)
}

pub(super) fn mint_text(
    key: &gc::IssuerKey,
    lock_id: &str,
    epoch: u32,
    validity: Validity,
    one_time: bool,
) -> Result<String> {
    let code = gc::mint(key, lock_id.as_bytes(), 0, epoch, validity, one_time)
        .map_err(|e| Error::Internal(format!("minting failed: {e:?}")))?;
    Ok(String::from_utf8_lossy(&code.0).into_owned())
}

/// The issuer file an Admin device keeps (format in `docs/guest-codes.md`).
pub fn issuer_file(row: &IssuerRow, key: &gc::IssuerKey) -> String {
    serde_json::json!({
        "format": "latchkey-issuer/1",
        "issuer_id": row.id,
        "lock_id": row.lock_id,
        "slot": row.slot,
        "epoch": row.epoch,
        "key": hex::encode(key.0),
    })
    .to_string()
}

/// Renders an instant in the lock's offset at that instant (RFC 3339).
pub fn at_lock(ms_value: i64, tz: &TimeZoneName) -> String {
    ts(ms_value)
        .to_zoned_datetime(tz.zone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
