//! The bounded event journal: sequence numbers, acknowledgement, and the overflow rule (keep
//! the newest security events in preference to routine ones, and count what was dropped).

use crate::model::{Credential, Method, Reason, Subject};
use crate::time::TimeCause;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The door was opened for `subject`.
    Granted {
        /// Keypad or remote.
        method: Method,
        /// Who.
        subject: Subject,
        /// With what.
        credential: Credential,
    },
    /// An entry or command was refused.
    Denied {
        /// Keypad or remote.
        method: Method,
        /// Why.
        reason: Reason,
        /// Who, when known (never the digits of an unknown entry).
        subject: Option<Subject>,
        /// How many identical refusals this event stands for (>= 1): repeated `LockedOut`
        /// refusals during one lockout are counted here rather than journaled one by one.
        repeat: u16,
    },
    /// The keypad is locked out until `until` (UTC Unix seconds).
    LockoutStarted {
        /// End of the lockout.
        until: i64,
        /// The doubling level of this lockout: it lasts `base * 2^(level-1)` seconds, capped.
        level: u8,
    },
    /// The lock stopped trusting its clock.
    TimeUntrusted {
        /// Why.
        cause: TimeCause,
    },
    /// The lock trusts its clock again.
    TimeTrusted {
        /// Why.
        cause: TimeCause,
    },
    /// A sync batch was applied; the host may acknowledge `version` to the server.
    SyncApplied {
        /// The server's version of the lock's data.
        version: u64,
    },
}

impl EventKind {
    /// Security events (denials, lockouts, time problems) are kept in preference to routine
    /// ones (grants, syncs, time restored) when the journal is full.
    #[inline]
    pub fn is_security(&self) -> bool {
        matches!(
            self,
            EventKind::Denied { .. } | EventKind::LockoutStarted { .. } | EventKind::TimeUntrusted { .. }
        )
    }
}

/// One journaled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Sequence number, strictly increasing from 1; gaps mean dropped events.
    pub seq: u64,
    /// UTC Unix seconds as the host passed them.
    pub time: i64,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    const EMPTY: Event = Event {
        seq: 0,
        time: 0,
        kind: EventKind::SyncApplied { version: 0 },
    };
}

/// Counters the host uploads with the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JournalStats {
    /// The sequence number the next event will get.
    pub next_seq: u64,
    /// Security events dropped because the journal was full (ever).
    pub dropped_security: u64,
    /// Routine events dropped because the journal was full (ever).
    pub dropped_routine: u64,
    /// Events held.
    pub len: usize,
}

/// A FIFO of slot numbers.
#[derive(Clone)]
struct Ring<const N: usize> {
    slots: [u16; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    const fn new() -> Self {
        Ring {
            slots: [0; N],
            head: 0,
            len: 0,
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<u16> {
        if i >= self.len || N == 0 {
            return None;
        }
        self.slots.get((self.head + i) % N).copied()
    }

    #[inline]
    fn front(&self) -> Option<u16> {
        self.get(0)
    }

    #[inline]
    fn back(&self) -> Option<u16> {
        self.get(self.len.checked_sub(1)?)
    }

    fn pop_front(&mut self) -> Option<u16> {
        let s = self.front()?;
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(s)
    }

    #[inline]
    fn push_back(&mut self, s: u16) -> bool {
        if self.len >= N {
            return false;
        }
        match self.slots.get_mut((self.head + self.len) % N) {
            Some(x) => {
                *x = s;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

/// The journal: `N` event slots shared by a security queue and a routine queue.
#[derive(Clone)]
pub(crate) struct Journal<const N: usize> {
    events: [Event; N],
    security: Ring<N>,
    routine: Ring<N>,
    /// Free slots (a stack).
    free: heapless::Vec<u16, N>,
    pub(crate) next_seq: u64,
    pub(crate) dropped_security: u64,
    pub(crate) dropped_routine: u64,
}

impl<const N: usize> Journal<N> {
    pub(crate) fn new() -> Self {
        let mut free = heapless::Vec::new();
        for i in (0..N).rev() {
            let _ = free.push(i as u16);
        }
        Journal {
            events: [Event::EMPTY; N],
            security: Ring::new(),
            routine: Ring::new(),
            free,
            next_seq: 1,
            dropped_security: 0,
            dropped_routine: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.security.len + self.routine.len
    }

    fn event(&self, slot: u16) -> Option<&Event> {
        self.events.get(usize::from(slot))
    }

    fn release(&mut self, slot: u16) {
        if let Some(e) = self.events.get_mut(usize::from(slot)) {
            e.seq = 0;
            let _ = self.free.push(slot);
        }
    }

    /// Appends an event (assigning it the next sequence number), applying the overflow rule.
    ///
    /// Inlined so that the event is built straight into its slot rather than moved through a
    /// call; the bookkeeping (overflow rule, queues) is in [`Journal::take_slot`].
    #[inline(always)]
    pub(crate) fn push(&mut self, time: i64, kind: EventKind) {
        // Repeated LockedOut refusals: count them in the newest event when it is one.
        if let EventKind::Denied {
            reason: Reason::LockedOut,
            method,
            ..
        } = kind
            && self.coalesce_locked_out(method)
        {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert(Event { seq, time, kind });
    }

    /// Adds one to the `repeat` of the newest event when it is a `LockedOut` refusal by
    /// `method` (and nothing was journaled or dropped since).
    fn coalesce_locked_out(&mut self, method: Method) -> bool {
        if let Some(slot) = self.security.back()
            && let Some(e) = self.events.get_mut(usize::from(slot))
            && e.seq + 1 == self.next_seq
            && let EventKind::Denied {
                reason: Reason::LockedOut,
                method: m,
                repeat,
                ..
            } = &mut e.kind
            && *m == method
            && *repeat < u16::MAX
        {
            *repeat += 1;
            return true;
        }
        false
    }

    /// Inserts an event that already has its sequence number (also used by restore).
    #[inline(always)]
    pub(crate) fn insert(&mut self, event: Event) {
        if let Some(slot) = self.take_slot(event.kind.is_security())
            && let Some(e) = self.events.get_mut(slot)
        {
            *e = event;
        }
    }

    /// Applies the overflow rule for a new event of the given class, queues a free slot for
    /// it and returns the slot (`None`: the new event is dropped, and counted).
    fn take_slot(&mut self, security: bool) -> Option<usize> {
        if self.free.is_empty() {
            if let Some(slot) = self.routine.pop_front() {
                self.release(slot);
                self.dropped_routine += 1;
            } else if !security {
                self.dropped_routine += 1;
                return None;
            } else if let Some(slot) = self.security.pop_front() {
                self.release(slot);
                self.dropped_security += 1;
            } else {
                // N == 0: nothing can be kept.
                self.dropped_security += 1;
                return None;
            }
        }
        let slot = self.free.pop()?;
        let queue = if security {
            &mut self.security
        } else {
            &mut self.routine
        };
        queue.push_back(slot);
        Some(usize::from(slot))
    }

    /// Drops every event with `seq <= upto`.
    pub(crate) fn ack(&mut self, upto: u64) {
        for which in 0..2 {
            loop {
                let queue = if which == 0 { &self.security } else { &self.routine };
                let Some(slot) = queue.front() else { break };
                if self.event(slot).is_none_or(|e| e.seq > upto) {
                    break;
                }
                let queue = if which == 0 {
                    &mut self.security
                } else {
                    &mut self.routine
                };
                queue.pop_front();
                self.release(slot);
            }
        }
    }

    /// Events in sequence order.
    pub(crate) fn iter(&self) -> JournalIter<'_, N> {
        JournalIter {
            journal: self,
            s: 0,
            r: 0,
        }
    }

    pub(crate) fn stats(&self) -> JournalStats {
        JournalStats {
            next_seq: self.next_seq,
            dropped_security: self.dropped_security,
            dropped_routine: self.dropped_routine,
            len: self.len(),
        }
    }
}

/// Iterator over journaled events in sequence order.
pub struct JournalIter<'a, const N: usize> {
    journal: &'a Journal<N>,
    s: usize,
    r: usize,
}

impl<'a, const N: usize> Iterator for JournalIter<'a, N> {
    type Item = &'a Event;

    fn next(&mut self) -> Option<&'a Event> {
        let j = self.journal;
        let a = j.security.get(self.s).and_then(|s| j.event(s));
        let b = j.routine.get(self.r).and_then(|s| j.event(s));
        match (a, b) {
            (Some(x), Some(y)) if x.seq < y.seq => {
                self.s += 1;
                Some(x)
            }
            (Some(x), None) => {
                self.s += 1;
                Some(x)
            }
            (_, Some(y)) => {
                self.r += 1;
                Some(y)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(u: u32) -> EventKind {
        EventKind::Granted {
            method: Method::Remote,
            subject: Subject::User(u),
            credential: Credential::Remote,
        }
    }

    fn deny(r: Reason) -> EventKind {
        EventKind::Denied {
            method: Method::Keypad,
            reason: r,
            subject: None,
            repeat: 1,
        }
    }

    fn seqs<const N: usize>(j: &Journal<N>) -> std::vec::Vec<u64> {
        j.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn sequence_ack_and_order() {
        let mut j = Journal::<8>::new();
        j.push(1, grant(1));
        j.push(2, deny(Reason::Disabled));
        j.push(3, grant(2));
        assert_eq!(seqs(&j), [1, 2, 3]);
        j.ack(2);
        assert_eq!(seqs(&j), [3]);
        j.ack(0);
        assert_eq!(seqs(&j), [3]);
        j.ack(99);
        assert!(seqs(&j).is_empty());
        j.push(4, grant(3));
        assert_eq!(seqs(&j), [4]);
    }

    #[test]
    fn overflow_keeps_newest_security_and_counts() {
        let mut j = Journal::<4>::new();
        j.push(0, grant(1)); // 1 routine
        j.push(0, deny(Reason::Disabled)); // 2 security
        j.push(0, grant(2)); // 3 routine
        j.push(0, deny(Reason::Expired)); // 4 security
        j.push(0, deny(Reason::Revoked)); // 5: drops routine 1
        assert_eq!(seqs(&j), [2, 3, 4, 5]);
        assert_eq!(j.dropped_routine, 1);
        j.push(0, grant(3)); // 6: drops routine 3, keeps itself
        assert_eq!(seqs(&j), [2, 4, 5, 6]);
        j.push(0, deny(Reason::NotYetValid)); // 7: drops routine 6
        assert_eq!(seqs(&j), [2, 4, 5, 7]);
        assert_eq!(j.dropped_routine, 3);
        j.push(0, grant(4)); // 8: all security: the routine event itself is dropped
        assert_eq!(seqs(&j), [2, 4, 5, 7]);
        assert_eq!(j.dropped_routine, 4);
        j.push(0, deny(Reason::AlreadyUsed)); // 9: drops oldest security 2
        assert_eq!(seqs(&j), [4, 5, 7, 9]);
        assert_eq!(j.dropped_security, 1);
        // Every sequence number is either held, dropped (counted) or acknowledged.
        let s = j.stats();
        assert_eq!(s.next_seq - 1, s.len as u64 + s.dropped_routine + s.dropped_security);
    }

    #[test]
    fn lockout_refusals_coalesce() {
        let mut j = Journal::<4>::new();
        j.push(0, deny(Reason::LockedOut));
        j.push(1, deny(Reason::LockedOut));
        j.push(2, deny(Reason::LockedOut));
        assert_eq!(j.len(), 1);
        match j.iter().next().unwrap().kind {
            EventKind::Denied { repeat, .. } => assert_eq!(repeat, 3),
            _ => panic!(),
        }
        j.push(3, grant(1));
        j.push(4, deny(Reason::LockedOut));
        assert_eq!(seqs(&j), [1, 2, 3]);
    }

    #[test]
    fn zero_capacity_never_panics() {
        let mut j = Journal::<0>::new();
        j.push(0, grant(1));
        j.push(0, deny(Reason::Disabled));
        assert_eq!(j.len(), 0);
        assert_eq!(j.dropped_routine + j.dropped_security, 2);
        j.ack(5);
    }
}
