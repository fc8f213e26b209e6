//! Journal events on the wire, and the stable codes of lock-core's enums.

use latchkey_lock_core::{
    ApplyErrorKind, Credential, Event, EventKind, JournalStats, Method, Reason, Subject, TimeCause,
};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError};

/// Longest encoding of one event, in bytes (for sizing upload chunks).
pub const MAX_EVENT_LEN: usize = 48;

/// Most events one [`Events`] message carries.
pub const MAX_EVENTS: usize = 1024;

/// Stable wire code and `snake_case` name of a denial reason (the names are what the server
/// shows in the event log and in `UnlockOutcome::Denied`).
pub fn reason_code(r: Reason) -> u8 {
    match r {
        Reason::UnknownCredential => 0,
        Reason::Disabled => 1,
        Reason::OutsideSchedule => 2,
        Reason::NotYetValid => 3,
        Reason::Expired => 4,
        Reason::AlreadyUsed => 5,
        Reason::Revoked => 6,
        Reason::LockedOut => 7,
        Reason::TimeUnknown => 8,
        Reason::UsedTableFull => 9,
        Reason::NotSynced => 10,
    }
}

/// The reason with this wire code.
pub fn reason_from_code(c: u8) -> Option<Reason> {
    Some(match c {
        0 => Reason::UnknownCredential,
        1 => Reason::Disabled,
        2 => Reason::OutsideSchedule,
        3 => Reason::NotYetValid,
        4 => Reason::Expired,
        5 => Reason::AlreadyUsed,
        6 => Reason::Revoked,
        7 => Reason::LockedOut,
        8 => Reason::TimeUnknown,
        9 => Reason::UsedTableFull,
        10 => Reason::NotSynced,
        _ => return None,
    })
}

/// The `snake_case` name of a reason (`outside_schedule`...).
pub fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::UnknownCredential => "unknown_credential",
        Reason::Disabled => "disabled",
        Reason::OutsideSchedule => "outside_schedule",
        Reason::NotYetValid => "not_yet_valid",
        Reason::Expired => "expired",
        Reason::AlreadyUsed => "already_used",
        Reason::Revoked => "revoked",
        Reason::LockedOut => "locked_out",
        Reason::TimeUnknown => "time_unknown",
        Reason::UsedTableFull => "used_table_full",
        Reason::NotSynced => "not_synced",
    }
}

/// Stable wire code of a sync refusal.
pub fn apply_error_code(k: ApplyErrorKind) -> u8 {
    match k {
        ApplyErrorKind::StaleVersion => 0,
        ApplyErrorKind::ClearAllNotFirst => 1,
        ApplyErrorKind::InvalidUser => 2,
        ApplyErrorKind::InvalidGuestKey => 3,
        ApplyErrorKind::InvalidDenyEntry => 4,
        ApplyErrorKind::InvalidSettings => 5,
        ApplyErrorKind::InvalidOffsetTable => 6,
        ApplyErrorKind::InvalidIssuer => 7,
        ApplyErrorKind::EpochRegression => 8,
        ApplyErrorKind::UnknownUser => 9,
        ApplyErrorKind::PinInUse => 10,
        ApplyErrorKind::TooManyUsers => 11,
        ApplyErrorKind::TooManyPins => 12,
        ApplyErrorKind::TooManyGuestKeys => 13,
        ApplyErrorKind::TooManyDenyEntries => 14,
    }
}

/// The sync refusal with this wire code.
pub fn apply_error_from_code(c: u8) -> Option<ApplyErrorKind> {
    Some(match c {
        0 => ApplyErrorKind::StaleVersion,
        1 => ApplyErrorKind::ClearAllNotFirst,
        2 => ApplyErrorKind::InvalidUser,
        3 => ApplyErrorKind::InvalidGuestKey,
        4 => ApplyErrorKind::InvalidDenyEntry,
        5 => ApplyErrorKind::InvalidSettings,
        6 => ApplyErrorKind::InvalidOffsetTable,
        7 => ApplyErrorKind::InvalidIssuer,
        8 => ApplyErrorKind::EpochRegression,
        9 => ApplyErrorKind::UnknownUser,
        10 => ApplyErrorKind::PinInUse,
        11 => ApplyErrorKind::TooManyUsers,
        12 => ApplyErrorKind::TooManyPins,
        13 => ApplyErrorKind::TooManyGuestKeys,
        14 => ApplyErrorKind::TooManyDenyEntries,
        _ => return None,
    })
}

pub(crate) fn get_reason(r: &mut Reader<'_>) -> Result<Reason, DecodeError> {
    let c = r.u8()?;
    reason_from_code(c).ok_or(DecodeError::UnknownTag(c))
}

fn method_code(m: Method) -> u8 {
    match m {
        Method::Keypad => 0,
        Method::Remote => 1,
    }
}

fn get_method(r: &mut Reader<'_>) -> Result<Method, DecodeError> {
    match r.u8()? {
        0 => Ok(Method::Keypad),
        1 => Ok(Method::Remote),
        t => Err(DecodeError::UnknownTag(t)),
    }
}

fn credential_code(c: Credential) -> u8 {
    match c {
        Credential::Pin => 0,
        Credential::GuestCode => 1,
        Credential::Remote => 2,
    }
}

fn get_credential(r: &mut Reader<'_>) -> Result<Credential, DecodeError> {
    match r.u8()? {
        0 => Ok(Credential::Pin),
        1 => Ok(Credential::GuestCode),
        2 => Ok(Credential::Remote),
        t => Err(DecodeError::UnknownTag(t)),
    }
}

fn cause_code(c: TimeCause) -> u8 {
    match c {
        TimeCause::RtcLost => 0,
        TimeCause::Rollback => 1,
        TimeCause::ServerTime => 2,
        TimeCause::RtcSurvived => 3,
    }
}

fn get_cause(r: &mut Reader<'_>) -> Result<TimeCause, DecodeError> {
    match r.u8()? {
        0 => Ok(TimeCause::RtcLost),
        1 => Ok(TimeCause::Rollback),
        2 => Ok(TimeCause::ServerTime),
        3 => Ok(TimeCause::RtcSurvived),
        t => Err(DecodeError::UnknownTag(t)),
    }
}

fn put_subject(w: &mut Writer<'_>, s: &Subject) -> Result<(), EncodeError> {
    match s {
        Subject::User(id) => {
            w.u8(0)?;
            w.varint(u64::from(*id))
        }
        Subject::GuestKey { slot, code, key_id } => {
            w.u8(1)?;
            w.u8(*slot)?;
            w.varint(*code)?;
            match key_id {
                None => w.u8(0),
                Some(k) => {
                    w.u8(1)?;
                    w.varint(u64::from(*k))
                }
            }
        }
    }
}

fn get_subject(r: &mut Reader<'_>) -> Result<Subject, DecodeError> {
    match r.u8()? {
        0 => Ok(Subject::User(r.u32v()?)),
        1 => Ok(Subject::GuestKey {
            slot: r.u8()?,
            code: r.varint()?,
            key_id: if r.bool()? { Some(r.u32v()?) } else { None },
        }),
        t => Err(DecodeError::UnknownTag(t)),
    }
}

pub(crate) fn put_event(w: &mut Writer<'_>, e: &Event) -> Result<(), EncodeError> {
    w.varint(e.seq)?;
    w.i64v(e.time)?;
    match &e.kind {
        EventKind::Granted {
            method,
            subject,
            credential,
        } => {
            w.u8(0)?;
            w.u8(method_code(*method))?;
            put_subject(w, subject)?;
            w.u8(credential_code(*credential))
        }
        EventKind::Denied {
            method,
            reason,
            subject,
            repeat,
        } => {
            w.u8(1)?;
            w.u8(method_code(*method))?;
            w.u8(reason_code(*reason))?;
            match subject {
                None => w.u8(0)?,
                Some(s) => {
                    w.u8(1)?;
                    put_subject(w, s)?;
                }
            }
            w.varint(u64::from(*repeat))
        }
        EventKind::LockoutStarted { until, level } => {
            w.u8(2)?;
            w.i64v(*until)?;
            w.u8(*level)
        }
        EventKind::TimeUntrusted { cause } => {
            w.u8(3)?;
            w.u8(cause_code(*cause))
        }
        EventKind::TimeTrusted { cause } => {
            w.u8(4)?;
            w.u8(cause_code(*cause))
        }
        EventKind::SyncApplied { version } => {
            w.u8(5)?;
            w.varint(*version)
        }
    }
}

pub(crate) fn get_event(r: &mut Reader<'_>) -> Result<Event, DecodeError> {
    let seq = r.varint()?;
    let time = r.i64v()?;
    let kind = match r.u8()? {
        0 => EventKind::Granted {
            method: get_method(r)?,
            subject: get_subject(r)?,
            credential: get_credential(r)?,
        },
        1 => EventKind::Denied {
            method: get_method(r)?,
            reason: get_reason(r)?,
            subject: if r.bool()? { Some(get_subject(r)?) } else { None },
            repeat: r.u16v()?,
        },
        2 => EventKind::LockoutStarted {
            until: r.i64v()?,
            level: r.u8()?,
        },
        3 => EventKind::TimeUntrusted { cause: get_cause(r)? },
        4 => EventKind::TimeTrusted { cause: get_cause(r)? },
        5 => EventKind::SyncApplied { version: r.varint()? },
        t => return Err(DecodeError::UnknownTag(t)),
    };
    Ok(Event { seq, time, kind })
}

/// The journal counters the lock uploads with its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventStats {
    /// The sequence number the next event will get.
    pub next_seq: u64,
    /// Security events dropped because the journal was full (ever).
    pub dropped_security: u64,
    /// Routine events dropped because the journal was full (ever).
    pub dropped_routine: u64,
}

impl From<JournalStats> for EventStats {
    fn from(s: JournalStats) -> Self {
        EventStats {
            next_seq: s.next_seq,
            dropped_security: s.dropped_security,
            dropped_routine: s.dropped_routine,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum EventList<'a> {
    Slice(&'a [Event]),
    Wire { bytes: &'a [u8], count: usize },
}

/// A batch of journaled events, in sequence order, with the journal counters. The server
/// stores each event once (by sequence number) and answers [`crate::EventsAck`] with the
/// highest sequence number it has stored durably.
#[derive(Clone, Copy, Debug)]
pub struct Events<'a> {
    /// Journal counters.
    pub stats: EventStats,
    events: EventList<'a>,
}

impl<'a> Events<'a> {
    /// A batch to encode (at most [`MAX_EVENTS`]; see [`MAX_EVENT_LEN`] to size chunks).
    pub fn new(stats: EventStats, events: &'a [Event]) -> Self {
        Events {
            stats,
            events: EventList::Slice(events),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        match self.events {
            EventList::Slice(s) => s.len(),
            EventList::Wire { count, .. } => count,
        }
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events.
    pub fn iter(&self) -> EventIter<'a> {
        match self.events {
            EventList::Slice(s) => EventIter {
                slice: Some(s),
                reader: Reader::new(&[]),
                left: s.len(),
            },
            EventList::Wire { bytes, count } => EventIter {
                slice: None,
                reader: Reader::new(bytes),
                left: count,
            },
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.varint(self.stats.next_seq)?;
        w.varint(self.stats.dropped_security)?;
        w.varint(self.stats.dropped_routine)?;
        if self.len() > MAX_EVENTS {
            return Err(EncodeError::Invalid);
        }
        w.varint(self.len() as u64)?;
        for e in self.iter() {
            put_event(w, &e)?;
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let stats = EventStats {
            next_seq: r.varint()?,
            dropped_security: r.varint()?,
            dropped_routine: r.varint()?,
        };
        let count = usize::try_from(r.varint()?).map_err(|_| DecodeError::OutOfRange)?;
        if count > MAX_EVENTS {
            return Err(DecodeError::OutOfRange);
        }
        let bytes = r.rest();
        let mut check = Reader::new(bytes);
        for _ in 0..count {
            get_event(&mut check)?;
        }
        check.finish()?;
        Ok(Events {
            stats,
            events: EventList::Wire { bytes, count },
        })
    }
}

impl PartialEq for Events<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.stats == other.stats && self.iter().eq(other.iter())
    }
}

impl Eq for Events<'_> {}

/// Iterator over the events of an [`Events`] message.
#[derive(Clone, Debug)]
pub struct EventIter<'a> {
    slice: Option<&'a [Event]>,
    reader: Reader<'a>,
    left: usize,
}

impl Iterator for EventIter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if let Some(s) = self.slice {
            let (first, rest) = s.split_first()?;
            self.slice = Some(rest);
            return Some(*first);
        }
        match get_event(&mut self.reader) {
            Ok(e) => Some(e),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
