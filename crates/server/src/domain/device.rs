//! What the server does with and for locks, in both directions:
//! - the domain reaches locks through the `Gateway` trait, which `gateway` implements (pair,
//!   changed state, unlock, unpair);
//! - the gateway asks the domain through the `Devices` trait, which `Domain` implements: what a
//!   lock must hold (`LockState`, a full snapshot built from the database) and what to do with
//!   what a lock reported (its presence, the version it holds, its journal into the activity
//!   log).
//!
//! The gateway only encodes, sends, receives and decodes; every decision about a lock's state is
//! here.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use latchkey_lock_core::{
    Credential, DenyEntry, EventKind, GuestRecord, LocalDate, Method, OFFSET_CAPACITY, OffsetEntry, Subject, UserKind,
    Window,
};

use super::access::{self, Caller, display_name};
use super::sync_cache::{KeyRows, Rows, merge_rows, reaches_limit};
use super::types::{AccessLevel, LockSecret, Pin, Schedule};
use super::{Domain, Error, Result, ms};
use crate::store::{self, Conn, EventRow, HeldVersion, LockRow, Presence, ResyncClaim};

/// The offset table covers this much ahead (13 months and a bit).
const OFFSET_HORIZON_SECS: i64 = 400 * 86_400;

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
    /// The answer to a remote lock: the bolt is thrown.
    Locked,
    /// The lock refused, with its reason (e.g. `outside_schedule`).
    Denied(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockError {
    /// The lock did not answer in time.
    Timeout,
    /// The broker is down.
    Unavailable(String),
    /// The server knows the lock to be offline (its last will came, no `Hello` since).
    Offline {
        /// When it was last heard of (Unix ms).
        last_seen_at: Option<i64>,
    },
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

    /// Sends a signed, short-lived lock command (throw the bolt) for lock-local user
    /// `user_id` and waits for the lock's answer.
    async fn lock(
        &self,
        _lock: &LockRow,
        _user_id: u32,
        _command_seq: u64,
    ) -> std::result::Result<UnlockOutcome, UnlockError> {
        Err(UnlockError::Unavailable("this gateway cannot lock remotely".into()))
    }

    /// Tells a lock that it was unpaired.
    async fn unpaired(&self, lock: &LockRow);

    /// Whether the broker link is up (for `/readyz`).
    fn ready(&self) -> bool;
}

/// What the gateway asks of the domain about locks.
#[async_trait]
pub trait Devices: Send + Sync {
    /// A paired lock, for its keys and counters (`None`: no such lock).
    async fn paired_lock(&self, lock_id: &str) -> Result<Option<LockRow>>;

    /// What the lock must hold now, with the command number of the sync that carries it.
    ///
    /// The number is reserved first, in the transaction that reads the state: that takes the
    /// lock's `lock_link` row lock (PostgreSQL) or the database write lock (SQLite) until the
    /// commit, so the next reservation's reads come after this one's: across all instances a
    /// later command number never carries an older version. The same transaction holds other instances' resends of this lock off
    /// until `resend_after` (Unix ms). `None`: no such lock.
    async fn state_to_send(&self, lock_id: &str, now: Timestamp, resend_after: i64) -> Result<Option<SyncToSend>>;

    /// The lock did not hold the base of a delta, or refused a sync: its next sync is a full
    /// snapshot. Returns whether the newest sync this instance sent it was a delta (so that
    /// a refused snapshot is not simply sent again).
    fn sync_failed(&self, lock_id: &str) -> bool;

    /// The lock connected (`online`) or went away.
    async fn presence(&self, lock_id: &str, online: bool, now: Timestamp) -> Result<()>;

    /// The lock reported its bolt thrown (`locked`) or drawn back: it is online, with that.
    async fn bolt(&self, lock_id: &str, locked: bool, now: Timestamp) -> Result<()>;

    /// The lock said hello in its up message `up_seq`, holding `version`: it is online and
    /// holds that.
    async fn hello(&self, lock_id: &str, version: u64, up_seq: u64, now: Timestamp) -> Result<()>;

    /// The lock applied `version` (its up message `up_seq`). Returns whether it must be sent its
    /// current state again: the report is the newest and older than the current version (an
    /// older snapshot overtook a newer one).
    async fn applied(&self, lock_id: &str, version: u64, up_seq: u64, now: Timestamp) -> Result<bool>;

    /// The lock's journal: each event into the activity log (bookkeeping events left out),
    /// one-time guest keys it let in marked used. Returns the highest sequence number, which
    /// the lock may now forget (0: none).
    async fn journal(&self, lock_id: &str, events: &[latchkey_lock_core::Event], now: Timestamp) -> Result<u64>;
}

/// What a lock must hold at one version: a full snapshot, in the lock core's terms.
#[derive(Debug, Clone)]
pub struct LockState {
    /// The version this state is.
    pub version: i64,
    /// The version the lock last reported holding (the base of the sync).
    pub acked_version: i64,
    /// The lock's root secret: the link keys that seal this state derive from it (it is not
    /// part of what is sent).
    pub root_secret: LockSecret,
    pub settings: latchkey_lock_core::Settings,
    /// The guest-code issuer slots: the server's (slot 0) first, then the Admin devices'.
    pub issuers: Vec<IssuerSlot>,
    pub users: Vec<LockUser>,
    /// Guest-key records and deny entries, newest key first, within the lock's capacities.
    pub keys: Vec<KeyEntry>,
    /// UTC offsets of the lock's time zone from a day ago to about 13 months ahead.
    pub offsets: Vec<OffsetEntry>,
    /// End (exclusive, Unix s) of the period `offsets` covers.
    pub offsets_valid_until: i64,
}

/// What the gateway sends a lock: its state, under a command number, as a delta on `base` when
/// this instance still has the state the lock acknowledged, else as a full snapshot.
#[derive(Debug, Clone)]
pub struct SyncToSend {
    pub state: Arc<LockState>,
    pub seq: u64,
    /// The state the lock holds (its acknowledged version), as this instance sent it.
    pub base: Option<Arc<LockState>>,
}

/// One issuer slot of `LockState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerSlot {
    pub slot: u8,
    pub epoch: u32,
    pub enabled: bool,
}

/// A member as the lock holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockUser {
    /// The lock-local user number.
    pub id: u32,
    pub enabled: bool,
    pub kind: UserKind,
    pub pin: Option<Pin>,
}

/// A guest key as the lock holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEntry {
    /// A key the lock accepts.
    Record(GuestRecord),
    /// A revoked key's code, refused until its own window ends.
    Deny(DenyEntry),
}

impl Domain {
    /// `POST /locks/{id}/unlock`: any member within its own rights. The server refuses early
    /// what it can see is outside the member's schedule; the lock checks again by itself.
    pub async fn remote_unlock(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<()> {
        self.remote_command(caller, lock_id, Command::Unlock, now).await
    }

    /// `POST /locks/{id}/lock`: any member throws the bolt (locking is always within one's
    /// rights).
    pub async fn remote_lock(&self, caller: &Caller, lock_id: &str, now: Timestamp) -> Result<()> {
        self.remote_command(caller, lock_id, Command::Lock, now).await
    }

    async fn remote_command(&self, caller: &Caller, lock_id: &str, command: Command, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let me = access::member_of(&mut tx, caller, lock_id).await?;
        if command == Command::Unlock && me.level() == AccessLevel::RecurringGuest {
            let local = now.to_zoned_datetime(me.lock.time_zone.zone()).datetime();
            let allowed = me.member.schedule.as_ref().is_some_and(|s| s.allows(local));
            if !allowed {
                return Err(Error::Forbidden("outside your schedule".into()));
            }
        }
        let seq = store::next_command_seq(&mut tx, lock_id)
            .await?
            .ok_or(Error::NotFound("lock"))?;
        tx.commit().await?;
        let user_id = u32::try_from(me.member.user_id).map_err(|_| Error::Internal("user id out of range".into()))?;
        let answer = match command {
            Command::Unlock => self.gateway.unlock(&me.lock, user_id, seq as u64).await,
            Command::Lock => self.gateway.lock(&me.lock, user_id, seq as u64).await,
        };
        match answer {
            Ok(UnlockOutcome::Unlocked) if command == Command::Unlock => Ok(()),
            Ok(UnlockOutcome::Locked) if command == Command::Lock => Ok(()),
            Ok(UnlockOutcome::Unlocked | UnlockOutcome::Locked) => {
                Err(Error::Internal("the lock answered another command".into()))
            }
            Ok(UnlockOutcome::Denied(reason)) => Err(Error::Forbidden(format!("the lock refused: {reason}"))),
            Err(UnlockError::Timeout) => Err(Error::Timeout("the lock did not answer in time".into())),
            Err(UnlockError::Unavailable(m)) => Err(Error::Unavailable(m)),
            Err(UnlockError::Offline { last_seen_at }) => {
                let since = last_seen_at
                    .and_then(|t| Timestamp::from_millisecond(t).ok())
                    .map(|t| {
                        let local = super::guest_keys::local_time(t, &me.lock.time_zone);
                        format!(" (last seen {local}, {})", me.lock.time_zone.as_str())
                    })
                    .unwrap_or_default();
                let what = match command {
                    Command::Unlock => "opened",
                    Command::Lock => "locked",
                };
                Err(Error::Unavailable(format!(
                    "the lock is offline{since}, so it cannot be {what} remotely now; \
                     guest codes and PINs still work at the door"
                )))
            }
        }
    }
}

/// A remote command to a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Unlock,
    Lock,
}

#[async_trait]
impl Devices for Domain {
    async fn paired_lock(&self, lock_id: &str) -> Result<Option<LockRow>> {
        let mut c = self.store.read().await?;
        Ok(store::lock_by_id(&mut c, lock_id).await?)
    }

    async fn state_to_send(&self, lock_id: &str, now: Timestamp, resend_after: i64) -> Result<Option<SyncToSend>> {
        let mut tx = self.store.begin().await?;
        let Some(seq) = store::next_command_seq(&mut tx, lock_id).await? else {
            return Ok(None);
        };
        let known = self.sync_cache.key_rows(lock_id);
        let Some((state, rows)) = lock_state(&mut tx, lock_id, now, known).await? else {
            return Ok(None);
        };
        // Another instance's resend loop leaves the lock alone for a while.
        store::claim_resync(&mut tx, lock_id, ResyncClaim::Always { until: resend_after }).await?;
        tx.commit().await?;
        let state = Arc::new(state);
        // A delta only moves a lock forward: the same version again goes whole.
        let base = if state.version > state.acked_version {
            self.sync_cache.sent_at(lock_id, state.acked_version)
        } else {
            None
        };
        self.sync_cache.record(lock_id, state.clone(), base.is_some(), rows);
        Ok(Some(SyncToSend {
            state,
            seq: seq as u64,
            base,
        }))
    }

    fn sync_failed(&self, lock_id: &str) -> bool {
        self.sync_cache.forget(lock_id)
    }

    async fn presence(&self, lock_id: &str, online: bool, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let changed = self.set_presence(&mut tx, lock_id, online, now).await?;
        tx.commit().await?;
        if changed {
            self.wake_webhooks();
        }
        Ok(())
    }

    async fn bolt(&self, lock_id: &str, locked: bool, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let presence = Presence {
            online: true,
            bolt: Some(if locked { "locked" } else { "unlocked" }),
            at: ms(now),
        };
        store::set_lock_presence(&mut tx, lock_id, &presence).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn hello(&self, lock_id: &str, version: u64, up_seq: u64, now: Timestamp) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let changed = self.set_presence(&mut tx, lock_id, true, now).await?;
        let held = HeldVersion {
            version: stored(version),
            up_seq: stored(up_seq),
        };
        store::record_acked_version(&mut tx, lock_id, held).await?;
        tx.commit().await?;
        if changed {
            self.wake_webhooks();
        }
        Ok(())
    }

    async fn applied(&self, lock_id: &str, version: u64, up_seq: u64, now: Timestamp) -> Result<bool> {
        let version = stored(version);
        let mut tx = self.store.begin().await?;
        let before = store::lock_by_id(&mut tx, lock_id).await?.map(|l| l.acked_version);
        let held = HeldVersion {
            version,
            up_seq: stored(up_seq),
        };
        let recorded = store::record_acked_version(&mut tx, lock_id, held).await?;
        let current = store::lock_by_id(&mut tx, lock_id).await?.map(|l| l.version);
        let mut queued = false;
        if recorded && let Some(before) = before.filter(|b| *b < version) {
            // `member.synced` for each member whose rights the lock now holds.
            let hooks = store::webhooks_of_lock(&mut tx, lock_id).await?;
            if hooks.iter().any(|h| h.wants("member.synced")) {
                for (account_id, name, phone) in
                    store::members_changed_between(&mut tx, lock_id, before, version).await?
                {
                    let name = if name.is_empty() { phone } else { name };
                    let data = serde_json::json!({
                        "lock_id": lock_id,
                        "actor": {"kind": "member", "id": account_id, "name": name},
                        "version": version,
                    });
                    let ev = super::webhooks::Outgoing {
                        ty: "member.synced",
                        event_id: None,
                        at: now,
                        data: &data,
                    };
                    self.queue_webhooks(&mut tx, lock_id, ev, now).await?;
                    queued = true;
                }
            }
        }
        tx.commit().await?;
        if queued {
            self.wake_webhooks();
        }
        Ok(recorded && current.is_some_and(|v| version < v))
    }

    async fn journal(&self, lock_id: &str, events: &[latchkey_lock_core::Event], now: Timestamp) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let mut upto = 0u64;
        let mut queued = false;
        for ev in events {
            upto = upto.max(ev.seq);
            if let Some((row, first_use)) = self.event_row(&mut tx, lock_id, ev).await?
                && store::insert_event(&mut tx, &row).await?
            {
                // What follows the event goes in its transaction: the webhook outbox, and
                // the notifications for people.
                self.queue_event_webhooks(&mut tx, &row, first_use, now).await?;
                self.notify_event(&mut tx, &row, first_use, now).await?;
                queued = true;
            }
        }
        if upto > 0 {
            store::set_event_seq(&mut tx, lock_id, stored(upto)).await?;
        }
        tx.commit().await?;
        if queued {
            self.wake_webhooks();
            self.sms_wake.notify_one();
        }
        Ok(upto)
    }
}

impl Domain {
    /// Records a lock's presence; when it changes, queues `lock.online` or `lock.offline`
    /// (in the same transaction). True when it changed.
    async fn set_presence(&self, c: &mut Conn, lock_id: &str, online: bool, now: Timestamp) -> Result<bool> {
        let was = store::lock_by_id(c, lock_id).await?.map(|l| l.online);
        let presence = Presence {
            online,
            bolt: None,
            at: ms(now),
        };
        store::set_lock_presence(c, lock_id, &presence).await?;
        if was.is_none_or(|w| w == online) {
            return Ok(false);
        }
        let ty = if online { "lock.online" } else { "lock.offline" };
        let data = serde_json::json!({"lock_id": lock_id, "online": online, "at": now.to_string()});
        let ev = super::webhooks::Outgoing {
            ty,
            event_id: None,
            at: now,
            data: &data,
        };
        self.queue_webhooks(c, lock_id, ev, now).await?;
        Ok(true)
    }
}

/// A number from a lock as the database keeps it (BIGINT).
fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A full snapshot of what the lock must hold, read from the database (`None`: no such lock),
/// with the guest-key rows it was made from when they can be kept for the next read (see
/// `sync_cache`). With `KeyRows::Since`, only the keys changed since that version are read.
async fn lock_state(
    c: &mut Conn,
    lock_id: &str,
    now: Timestamp,
    known: KeyRows,
) -> Result<Option<(LockState, Option<Rows>)>> {
    let Some(lock) = store::lock_by_id(c, lock_id).await? else {
        return Ok(None);
    };
    let now_s = now.as_second();
    let members = store::members(c, lock_id).await?;
    let issuers = store::issuers(c, lock_id).await?;
    // Only the keys the loop below can use: it stops at the lock's capacities, so reading more
    // would make every sync cost grow with every key the lock ever had.
    // (One more, to notice one left out.)
    let limit = latchkey_lock_core::STANDARD_GUEST_KEYS.max(latchkey_lock_core::STANDARD_DENY) as i64 + 1;
    let merged = match known {
        KeyRows::Since { version, rows } => {
            let changed = store::guest_keys_changed_since(c, lock_id, version).await?;
            merge_rows(&rows, changed, &issuers, now_s, limit)
        }
        KeyRows::Full => None,
    };
    let (keys, keep) = match merged {
        Some(keys) => (keys, true),
        None => {
            let keys: Vec<_> = store::sync_guest_keys(c, lock_id, now_s, limit)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect();
            let keep = !reaches_limit(&keys, limit);
            (keys, keep)
        }
    };
    let base = latchkey_lock_core::Settings::DEFAULT;
    let lockout_base = u32::try_from(lock.lockout_seconds.max(1)).unwrap_or(u32::MAX);
    let settings = latchkey_lock_core::Settings {
        lockout_attempts: u8::try_from(lock.wrong_code_limit.clamp(1, 255)).unwrap_or(5),
        lockout_base_secs: lockout_base,
        lockout_max_secs: base.lockout_max_secs.max(lockout_base),
        ..base
    };
    let mut slots = vec![IssuerSlot {
        slot: 0,
        epoch: u32::try_from(lock.server_epoch).unwrap_or(0),
        enabled: true,
    }];
    // The newest epoch of each Admin issuer slot.
    let mut newest: HashMap<i64, &store::IssuerRow> = HashMap::new();
    for i in &issuers {
        if (1..8).contains(&i.slot) && newest.get(&i.slot).is_none_or(|o| o.epoch < i.epoch) {
            newest.insert(i.slot, i);
        }
    }
    let mut devices: Vec<_> = newest.into_values().collect();
    devices.sort_by_key(|i| i.slot);
    slots.extend(devices.into_iter().map(|i| IssuerSlot {
        slot: i.slot as u8,
        epoch: u32::try_from(i.epoch).unwrap_or(0),
        enabled: i.revoked_at.is_none(),
    }));
    let mut users = Vec::with_capacity(members.len());
    for m in &members {
        let Ok(id) = u32::try_from(m.user_id) else { continue };
        let kind = match m.access_level {
            AccessLevel::Admin | AccessLevel::Family => UserKind::Unrestricted,
            AccessLevel::RecurringGuest => match m.schedule.as_ref().and_then(lock_schedule) {
                Some(s) => UserKind::ScheduleRestricted(s),
                None => continue,
            },
        };
        users.push(LockUser {
            id,
            enabled: true,
            kind,
            pin: m.pin.clone(),
        });
    }
    let mut entries = Vec::new();
    let mut records = 0;
    let mut denies = 0;
    let mut left_out = 0;
    for k in &keys {
        let Ok(code) = k
            .code
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u64>()
        else {
            continue;
        };
        let code_end = k.code_ends_at / 1000;
        if code_end <= now_s {
            continue;
        }
        if k.revoked_at.is_some() {
            if denies < latchkey_lock_core::STANDARD_DENY {
                denies += 1;
                entries.push(KeyEntry::Deny(DenyEntry {
                    code,
                    expires: code_end,
                }));
            } else {
                left_out += 1;
            }
        } else if !(k.one_time && k.used_at.is_some()) {
            let (from, until) = (k.starts_at / 1000, k.ends_at / 1000);
            if from < until && records >= latchkey_lock_core::STANDARD_GUEST_KEYS {
                left_out += 1;
            } else if from < until {
                records += 1;
                entries.push(KeyEntry::Record(GuestRecord {
                    code,
                    key_id: u32::try_from(k.key_no).unwrap_or(0),
                    from,
                    until,
                    one_time: k.one_time,
                }));
            }
        }
    }
    if left_out > 0 {
        // `domain::capacity` refuses what would not fit, so this is a database filled before
        // those checks (or by hand): say so rather than drop in silence.
        tracing::error!(
            "lock {lock_id}: {left_out} guest keys or revoked codes beyond the lock's capacity are not in its snapshot"
        );
    }
    let tz = lock.time_zone.zone();
    let (offsets, offsets_valid_until) = offset_table(&tz, now_s);
    let state = LockState {
        version: lock.version,
        acked_version: lock.acked_version,
        root_secret: lock.root_secret,
        settings,
        issuers: slots,
        users,
        keys: entries,
        offsets,
        offsets_valid_until,
    };
    Ok(Some((state, keep.then(|| Arc::new(keys)))))
}

impl Domain {
    /// Maps one journal event to an activity-log row (`None` for bookkeeping events), marking
    /// a guest key the lock let in as used; with whether that was the key's first use (the
    /// guest has arrived).
    async fn event_row(
        &self,
        c: &mut Conn,
        lock_id: &str,
        ev: &latchkey_lock_core::Event,
    ) -> Result<Option<(EventRow, bool)>> {
        let at = ev.time.saturating_mul(1000);
        let mut row = EventRow {
            // Ordered by the lock's own sequence within a second (the journal's clock has
            // whole seconds).
            id: self.journal_event_id(at, ev.seq),
            lock_id: lock_id.to_string(),
            seq: i64::try_from(ev.seq).ok(),
            at,
            ..Default::default()
        };
        let method = |m: Method| match m {
            Method::Keypad => "keypad",
            Method::Remote => "remote",
        };
        let mut first_use = false;
        let subject = match &ev.kind {
            EventKind::Granted {
                method: m,
                subject,
                credential,
            } => {
                row.kind = "access".into();
                row.outcome = Some("granted".into());
                row.method = Some(method(*m).into());
                row.detail = match credential {
                    Credential::Pin => "PIN",
                    Credential::GuestCode => "guest code",
                    Credential::Remote => "remote unlock",
                }
                .into();
                Some(*subject)
            }
            EventKind::Denied {
                method: m,
                reason,
                subject,
                repeat,
            } => {
                row.kind = "access".into();
                row.outcome = Some("denied".into());
                row.method = Some(method(*m).into());
                row.reason = Some(latchkey_protocol::reason_name(*reason).into());
                if *repeat > 1 {
                    row.detail = format!("{repeat} times in a row");
                }
                *subject
            }
            EventKind::LockoutStarted { until, .. } => {
                row.kind = "lockout".into();
                row.method = Some("keypad".into());
                row.detail = format!(
                    "keypad locked until {}",
                    Timestamp::from_second(*until)
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                );
                None
            }
            EventKind::TimeUntrusted { cause } => {
                row.kind = "lock_time_lost".into();
                row.detail = format!("{cause:?}");
                None
            }
            EventKind::TimeTrusted { .. } | EventKind::SyncApplied { .. } => {
                // Bookkeeping: acknowledged, not shown.
                return Ok(None);
            }
        };
        match subject {
            Some(Subject::User(id)) => {
                row.actor_kind = Some("member".into());
                if let Some(m) = store::member_by_user_id(c, lock_id, i64::from(id)).await? {
                    row.actor_id = Some(m.account_id.clone());
                    row.actor_name = Some(display_name(&m.name, &m.phone));
                } else {
                    row.actor_name = Some(format!("former member #{id}"));
                }
            }
            Some(Subject::GuestKey { code, key_id, .. }) => {
                let granted = row.outcome.as_deref() == Some("granted");
                let key = match key_id {
                    Some(no) => {
                        if granted {
                            first_use = store::mark_guest_key_used(c, lock_id, i64::from(no), at).await?;
                            // A used one-time key leaves the lock's snapshot without a version bump.
                            self.sync_cache.forget_rows(lock_id);
                        }
                        store::guest_key_by_no(c, lock_id, i64::from(no)).await?
                    }
                    None => {
                        let text = format!("{code:012}");
                        if granted {
                            self.sync_cache.forget_rows(lock_id);
                            let (key, first) = store::mark_guest_key_used_by_code(c, lock_id, &text, at).await?;
                            first_use = first && key.is_some();
                            key
                        } else {
                            // A refused code (revoked, expired, not yet valid) still names
                            // its key, so an Admin sees whose code was tried.
                            store::guest_key_by_code(c, lock_id, &text).await?
                        }
                    }
                };
                row.actor_kind = Some("guest_key".into());
                match key {
                    Some(k) => {
                        row.actor_id = Some(k.id.clone());
                        row.actor_name = Some(k.name.clone());
                    }
                    None => row.actor_name = Some("guest code".into()),
                }
            }
            None => {}
        }
        Ok(Some((row, first_use)))
    }
}

/// The server's schedule (days bit 0 = Monday) as lock-core's (bit 0 = Sunday).
fn lock_schedule(s: &Schedule) -> Option<latchkey_lock_core::Schedule> {
    let mut windows = heapless::Vec::new();
    for w in &s.windows {
        let days = ((w.days << 1) & 0x7e) | ((w.days >> 6) & 1);
        windows
            .push(Window {
                days,
                from: w.from,
                to: w.to,
            })
            .ok()?;
    }
    let date = |d: jiff::civil::Date| LocalDate::from_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8);
    let dates = match (s.valid_from, s.valid_until) {
        (None, None) => None,
        (from, until) => Some((
            from.map_or_else(|| LocalDate::from_ymd(1970, 1, 1), date)?,
            until.map_or_else(|| LocalDate::from_ymd(2199, 12, 31), date)?,
        )),
    };
    Some(latchkey_lock_core::Schedule { windows, dates })
}

/// UTC offsets of `tz` from a day ago to about 13 months ahead.
pub(crate) fn offset_table(tz: &jiff::tz::TimeZone, now: i64) -> (Vec<OffsetEntry>, i64) {
    let start = now - 86_400;
    let horizon = now + OFFSET_HORIZON_SECS;
    let Ok(start_ts) = Timestamp::from_second(start) else {
        return (vec![OffsetEntry { start, offset: 0 }], horizon);
    };
    let mut entries = vec![OffsetEntry {
        start,
        offset: tz.to_offset(start_ts).seconds(),
    }];
    let mut valid_until = horizon;
    for t in tz.following(start_ts) {
        let at = t.timestamp().as_second();
        if at >= horizon {
            break;
        }
        let offset = t.offset().seconds();
        if entries.last().is_some_and(|e| e.offset == offset || e.start >= at) {
            continue;
        }
        if entries.len() == OFFSET_CAPACITY {
            valid_until = at;
            break;
        }
        entries.push(OffsetEntry { start: at, offset });
    }
    (entries, valid_until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::WeeklyWindow;

    #[test]
    fn days_move_from_monday_first_to_sunday_first() {
        let s = Schedule {
            windows: vec![
                WeeklyWindow {
                    days: 0b000_0001, // Monday
                    from: 9 * 60,
                    to: 17 * 60,
                },
                WeeklyWindow {
                    days: 0b100_0000, // Sunday
                    from: 22 * 60,
                    to: 60,
                },
            ],
            valid_from: None,
            valid_until: None,
        };
        let l = lock_schedule(&s).unwrap();
        assert_eq!(l.windows[0].days, 0b000_0010, "Monday is bit 1 on the lock");
        assert_eq!(l.windows[1].days, 0b000_0001, "Sunday is bit 0 on the lock");
        assert_eq!(l.windows[1].to, 60);
        assert!(l.dates.is_none());
    }

    #[test]
    fn offset_table_covers_thirteen_months_with_dst() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let now = 1_800_000_000; // January 2027
        let (entries, until) = offset_table(&tz, now);
        assert!(until >= now + 396 * 86_400, "13 months ahead");
        assert!(entries.len() >= 3, "{entries:?}");
        assert_eq!(entries[0].offset, 3600);
        assert!(entries.iter().any(|e| e.offset == 7200));
        assert!(latchkey_lock_core::OffsetTable::new(&entries, until).is_ok());
    }
}
