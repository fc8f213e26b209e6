//! The messages after pairing: server to lock ([`Down`]) and lock to server ([`Up`]).

use latchkey_lock_core::{ApplyError, Change, Reason, UserId};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError};
use crate::events::{Events, apply_error_code, apply_error_from_code, get_reason, reason_code};
use crate::sync::Sync;

/// A 16-byte random value.
pub type Nonce = [u8; 16];

// Message kinds. Down: 0x01..=0x3f, up: 0x81..=0xbf, pairing: 0x40.. (down) and 0xc0.. (up).
pub(crate) const K_SYNC: u8 = 0x01;
pub(crate) const K_TIME: u8 = 0x02;
pub(crate) const K_EVENTS_ACK: u8 = 0x03;
pub(crate) const K_UNLOCK: u8 = 0x04;
pub(crate) const K_UNPAIR: u8 = 0x05;
pub(crate) const K_LOCK: u8 = 0x06;
pub(crate) const K_HELLO: u8 = 0x81;
pub(crate) const K_SYNC_ACK: u8 = 0x82;
pub(crate) const K_EVENTS: u8 = 0x83;
pub(crate) const K_UNLOCK_RESULT: u8 = 0x84;
pub(crate) const K_BOLT: u8 = 0x85;

/// Trusted UTC time from the server, answering the lock's [`Hello`].
///
/// The lock applies it (lock-core `set_trusted_time`, or [`Time::to_change`] in a batch) only
/// when `echo` equals the nonce of the `Hello` it is waiting on and the answer came within a
/// few seconds by its own monotonic counter: a time message the broker held back would
/// otherwise set the clock into the past. [`Time::answers`] compares in constant time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    /// UTC Unix seconds.
    pub utc: i64,
    /// The nonce of the `Hello` this answers.
    pub echo: Nonce,
}

impl Time {
    /// Whether this answers the `Hello` that carried `nonce`.
    pub fn answers(&self, nonce: &Nonce) -> bool {
        use subtle::ConstantTimeEq;
        self.echo.ct_eq(nonce).into()
    }

    /// The lock-core change.
    pub fn to_change(&self) -> Change<'static> {
        Change::SetTime(self.utc)
    }
}

/// The server has stored every event up to `upto`: the lock may drop them (lock-core `ack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventsAck {
    /// Highest sequence number stored.
    pub upto: u64,
}

/// Open the door for a user, if that user's rights and schedule allow it now. The lock decides
/// (lock-core `decide(Input::Remote(user), now)`) and answers [`UnlockResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlock {
    /// The server's command id, echoed in the result.
    pub command: u64,
    /// Lock-local user id of the member who asked.
    pub user: UserId,
}

/// A message from the server to a lock.
// `Sync` holds its batch's offset table inline (no heap) so that lock-core changes can borrow
// it; one such value per message is fine.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Down<'a> {
    /// State changes to apply atomically.
    Sync(Sync<'a>),
    /// Trusted time.
    Time(Time),
    /// Events stored.
    EventsAck(EventsAck),
    /// A remote unlock command.
    Unlock(Unlock),
    /// The lock was removed from its owner's account: forget the pairing and show a new setup
    /// code.
    Unpair,
    /// A remote lock command: throw the bolt now (for a member the lock knows). Answered with
    /// [`UnlockResult`] (`Locked`), carried out once per command id like `Unlock`.
    Lock(Unlock),
}

/// The bolt's state, which the lock reports whenever it changes and after each `Hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bolt {
    /// Thrown (`true`) or drawn back.
    pub locked: bool,
}

/// The lock's greeting on (re)connect, and its request for the time. The server answers with
/// [`Time`] (echoing `nonce`), with a [`Sync`] from `applied_version` (or a snapshot), and with
/// an [`EventsAck`] when it already holds some of the lock's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Fresh random value the time answer must echo.
    pub nonce: Nonce,
    /// The version of the server's data the lock holds.
    pub applied_version: u64,
    /// The sequence number the lock's next event will get.
    pub next_event_seq: u64,
    /// Whether the lock trusts its clock.
    pub time_trusted: bool,
    /// The lock's clock (UTC Unix seconds), for the server's drift report.
    pub clock: i64,
}

/// What became of a sync batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    /// Applied and saved: the lock holds the acknowledged version.
    Applied,
    /// A delta whose `base` is not the version the lock holds: send a snapshot.
    BaseMismatch,
    /// Refused by the lock core, state unchanged.
    Rejected(ApplyError),
}

impl SyncStatus {
    /// The status for what lock-core's `apply` returned.
    pub fn from_apply(result: Result<(), ApplyError>) -> SyncStatus {
        match result {
            Ok(()) => SyncStatus::Applied,
            Err(e) => SyncStatus::Rejected(e),
        }
    }
}

/// The lock's answer to a [`Sync`]: the version it now holds (durably) and what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncAck {
    /// The version the lock holds.
    pub version: u64,
    /// What happened to the batch.
    pub status: SyncStatus,
}

/// What the lock did with a remote unlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// The lock opened.
    Unlocked,
    /// The lock refused (the member's rights or schedule, or time unknown...).
    Denied(Reason),
    /// The lock granted but could not open (it could not save a one-time use, or the bolt
    /// failed).
    Failed,
    /// The answer to a remote [`Down::Lock`]: the bolt is thrown.
    Locked,
}

/// The answer to [`Unlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnlockResult {
    /// The command answered.
    pub command: u64,
    /// What happened.
    pub outcome: UnlockOutcome,
}

/// A message from a lock to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Up<'a> {
    /// Greeting and time request.
    Hello(Hello),
    /// Sync acknowledgement.
    SyncAck(SyncAck),
    /// Journaled events.
    Events(Events<'a>),
    /// Remote unlock (or lock) answer.
    UnlockResult(UnlockResult),
    /// The bolt's state changed (or the lock greets the server).
    Bolt(Bolt),
}

impl Down<'_> {
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Down::Sync(_) => K_SYNC,
            Down::Time(_) => K_TIME,
            Down::EventsAck(_) => K_EVENTS_ACK,
            Down::Unlock(_) => K_UNLOCK,
            Down::Unpair => K_UNPAIR,
            Down::Lock(_) => K_LOCK,
        }
    }

    pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self {
            Down::Sync(s) => s.encode(w),
            Down::Time(t) => {
                w.i64v(t.utc)?;
                w.put(&t.echo)
            }
            Down::EventsAck(a) => w.varint(a.upto),
            Down::Unlock(u) | Down::Lock(u) => {
                w.varint(u.command)?;
                w.varint(u64::from(u.user))
            }
            Down::Unpair => Ok(()),
        }
    }
}

impl<'a> Down<'a> {
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let m = match kind {
            K_SYNC => Down::Sync(Sync::decode(r)?),
            K_TIME => Down::Time(Time {
                utc: r.i64v()?,
                echo: r.array()?,
            }),
            K_EVENTS_ACK => Down::EventsAck(EventsAck { upto: r.varint()? }),
            K_UNLOCK => Down::Unlock(Unlock {
                command: r.varint()?,
                user: r.u32v()?,
            }),
            K_UNPAIR => Down::Unpair,
            K_LOCK => Down::Lock(Unlock {
                command: r.varint()?,
                user: r.u32v()?,
            }),
            k => return Err(DecodeError::UnknownKind(k)),
        };
        r.finish()?;
        Ok(m)
    }
}

impl Up<'_> {
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Up::Hello(_) => K_HELLO,
            Up::SyncAck(_) => K_SYNC_ACK,
            Up::Events(_) => K_EVENTS,
            Up::UnlockResult(_) => K_UNLOCK_RESULT,
            Up::Bolt(_) => K_BOLT,
        }
    }

    pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self {
            Up::Hello(h) => {
                w.put(&h.nonce)?;
                w.varint(h.applied_version)?;
                w.varint(h.next_event_seq)?;
                w.bool(h.time_trusted)?;
                w.i64v(h.clock)
            }
            Up::SyncAck(a) => {
                w.varint(a.version)?;
                match a.status {
                    SyncStatus::Applied => w.u8(0),
                    SyncStatus::BaseMismatch => w.u8(1),
                    SyncStatus::Rejected(e) => {
                        w.u8(2)?;
                        w.varint(e.index as u64)?;
                        w.u8(apply_error_code(e.kind))
                    }
                }
            }
            Up::Events(e) => e.encode(w),
            Up::UnlockResult(u) => {
                w.varint(u.command)?;
                match u.outcome {
                    UnlockOutcome::Unlocked => w.u8(0),
                    UnlockOutcome::Denied(r) => {
                        w.u8(1)?;
                        w.u8(reason_code(r))
                    }
                    UnlockOutcome::Failed => w.u8(2),
                    UnlockOutcome::Locked => w.u8(3),
                }
            }
            Up::Bolt(b) => w.u8(if b.locked { 0 } else { 1 }),
        }
    }
}

impl<'a> Up<'a> {
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let m = match kind {
            K_HELLO => Up::Hello(Hello {
                nonce: r.array()?,
                applied_version: r.varint()?,
                next_event_seq: r.varint()?,
                time_trusted: r.bool()?,
                clock: r.i64v()?,
            }),
            K_SYNC_ACK => {
                let version = r.varint()?;
                let status = match r.u8()? {
                    0 => SyncStatus::Applied,
                    1 => SyncStatus::BaseMismatch,
                    2 => {
                        let index = usize::try_from(r.varint()?).map_err(|_| DecodeError::OutOfRange)?;
                        let c = r.u8()?;
                        let kind = apply_error_from_code(c).ok_or(DecodeError::UnknownTag(c))?;
                        SyncStatus::Rejected(ApplyError { index, kind })
                    }
                    t => return Err(DecodeError::UnknownTag(t)),
                };
                Up::SyncAck(SyncAck { version, status })
            }
            K_EVENTS => Up::Events(Events::decode(r)?),
            K_UNLOCK_RESULT => {
                let command = r.varint()?;
                let outcome = match r.u8()? {
                    0 => UnlockOutcome::Unlocked,
                    1 => UnlockOutcome::Denied(get_reason(r)?),
                    2 => UnlockOutcome::Failed,
                    3 => UnlockOutcome::Locked,
                    t => return Err(DecodeError::UnknownTag(t)),
                };
                Up::UnlockResult(UnlockResult { command, outcome })
            }
            K_BOLT => Up::Bolt(Bolt {
                locked: match r.u8()? {
                    0 => true,
                    1 => false,
                    t => return Err(DecodeError::UnknownTag(t)),
                },
            }),
            k => return Err(DecodeError::UnknownKind(k)),
        };
        r.finish()?;
        Ok(m)
    }
}
