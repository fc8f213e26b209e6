//! Reconciling: what the server has for a calendar, and what the feed now asks for.

use crate::plan::{Plan, PlannedKey, Window};
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};

/// How a key's code relates to its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// A record the lock holds (synced with the lock's state): the server can tell the lock a
    /// new window and the guest keeps the code.
    Synced,
    /// An offline code: the window is inside the code's MAC, so a new window needs a new code.
    Offline,
}

/// Who revoked a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// A sync of this calendar (the reservation was cancelled or disappeared). If the
    /// reservation comes back, it gets a new key.
    Calendar,
    /// A person. The calendar never brings such a key back.
    Person,
}

/// A key the server already made from this calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingKey {
    pub uid: String,
    pub window: Window,
    pub revoked: Option<RevokedBy>,
    pub code: CodeKind,
}

/// What happens to a key's code when its window changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFate {
    /// The same code, the lock is told the new window.
    Keep,
    /// A new code: the guest must be sent it, and the activity log says why.
    Reissue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub key: PlannedKey,
    pub from: Window,
    pub code: CodeFate,
}

/// Why a key is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// `STATUS:CANCELLED` in the feed.
    Cancelled,
    /// The UID is no longer in the feed.
    Removed,
    /// The UID is now a block ("Not available").
    NowBlock,
    /// The reservation was shortened so that it is already over.
    NowEnded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub uid: String,
    pub reason: CancelReason,
}

/// What to do. Each UID of the feed and of the existing keys is in at most one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// New keys to make (including a reservation that came back after the calendar had
    /// revoked its key).
    pub added: Vec<PlannedKey>,
    /// Existing active keys whose window moved or was extended or shortened.
    pub changed: Vec<Changed>,
    /// Existing active keys, not yet ended, to revoke.
    pub cancelled: Vec<Cancelled>,
    /// Existing keys the feed confirms as they are (the planned key is given, so the server
    /// can act on a phone number that appeared since).
    pub unchanged: Vec<PlannedKey>,
}

/// The safety thresholds. A feed that would revoke at once at least `min_dropped` keys and
/// more than `max_dropped_percent` of the keys not yet ended (by disappearance, not by an
/// explicit `STATUS:CANCELLED`), or that lists no reservation at all while some keys are not
/// yet ended, changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Safety {
    pub min_dropped: usize,
    pub max_dropped_percent: usize,
}

impl Default for Safety {
    /// At least 3 keys and more than half of them.
    fn default() -> Self {
        Safety {
            min_dropped: 3,
            max_dropped_percent: 50,
        }
    }
}

/// A feed that looks broken rather than changed. Nothing is done; the message is for a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Suspicious {
    #[error(
        "the calendar feed suddenly lists no reservations, while {active} upcoming reservation(s) have keys; nothing was changed. If the reservations really were cancelled, revoke their keys by hand"
    )]
    Empty { active: usize },
    #[error(
        "the calendar feed suddenly dropped {dropped} of the {active} upcoming reservations that have keys; nothing was changed. If they really were cancelled, revoke their keys by hand"
    )]
    MassDrop { dropped: usize, active: usize },
}

/// Compare `existing` keys with `plan` at `now`.
///
/// Rules:
/// - A planned UID with no key, or whose key the calendar revoked: **added**.
/// - A planned UID whose active key has another window: **changed** (the code is kept for a
///   [`CodeKind::Synced`] key and reissued for an offline one); same window: **unchanged**.
/// - A key a person revoked stays revoked (**unchanged** is not reported for it either).
/// - An active key that has not ended (its window's end is after `now`) is **cancelled** when
///   its UID is listed as cancelled, is now a block, has been shortened into the past, or is
///   gone from the feed. A key that has ended is never touched: past stays drop off feeds.
/// - UIDs the feed lists but could not use (an event problem, an empty window) leave their
///   keys alone.
/// - [`Safety`]: a feed that lists no upcoming reservation at all (no event, only blocks, only
///   past stays) while keys are active and not ended, or that drops too many at once, is an
///   error and nothing is done.
pub fn reconcile(
    existing: &[ExistingKey],
    plan: &Plan,
    now: Timestamp,
    safety: Safety,
) -> Result<Reconciliation, Suspicious> {
    let by_uid: HashMap<&str, &ExistingKey> = existing.iter().map(|e| (e.uid.as_str(), e)).collect();
    let cancelled: HashSet<&str> = plan.cancelled.iter().map(String::as_str).collect();
    let blocks: HashSet<&str> = plan.blocks.iter().map(String::as_str).collect();
    let ended: HashSet<&str> = plan.ended.iter().map(String::as_str).collect();
    let skipped: HashSet<&str> = plan.skipped.iter().map(|s| s.uid.as_str()).collect();
    let planned: HashSet<&str> = plan.keys.iter().map(|k| k.uid.as_str()).collect();

    let mut out = Reconciliation::default();
    for key in &plan.keys {
        match by_uid.get(key.uid.as_str()) {
            None
            | Some(ExistingKey {
                revoked: Some(RevokedBy::Calendar),
                ..
            }) => out.added.push(key.clone()),
            Some(ExistingKey {
                revoked: Some(RevokedBy::Person),
                ..
            }) => {}
            Some(e) if e.window == key.window => out.unchanged.push(key.clone()),
            Some(e) => out.changed.push(Changed {
                key: key.clone(),
                from: e.window,
                code: match e.code {
                    CodeKind::Synced => CodeFate::Keep,
                    CodeKind::Offline => CodeFate::Reissue,
                },
            }),
        }
    }

    let mut active = 0usize;
    let mut dropped = 0usize;
    for e in existing {
        if e.revoked.is_some() || e.window.end <= now {
            continue;
        }
        active += 1;
        let uid = e.uid.as_str();
        if planned.contains(uid) || skipped.contains(uid) {
            continue;
        }
        let reason = if cancelled.contains(uid) {
            CancelReason::Cancelled
        } else if blocks.contains(uid) {
            CancelReason::NowBlock
        } else if ended.contains(uid) {
            CancelReason::NowEnded
        } else {
            dropped += 1;
            CancelReason::Removed
        };
        out.cancelled.push(Cancelled {
            uid: e.uid.clone(),
            reason,
        });
    }

    if dropped > 0 && plan.listed_upcoming() == 0 {
        return Err(Suspicious::Empty { active });
    }
    if dropped >= safety.min_dropped.max(1) && dropped * 100 > active * safety.max_dropped_percent {
        return Err(Suspicious::MassDrop { dropped, active });
    }
    Ok(out)
}
