//! Decisions allocate nothing: a counting global allocator, armed only on this thread around
//! the calls under test.
#![allow(unsafe_code)]

mod common;

use common::*;
use latchkey_guest_code::{Validity, mint};
use latchkey_lock_core::{Change, Decision, Input, Key, Reason, StandardLock, UserKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

#[test]
fn the_counter_counts() {
    let (_, n) = counted(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(n, 1);
}

#[test]
fn decisions_allocate_nothing() {
    let now = T0;
    let mut lock = Box::new(StandardLock::new(LOCK_ID, ROOT).unwrap());
    let (entries, until) = offsets_for("Europe/London", now - 86_400, now + 400 * 86_400);
    let mut changes = vec![
        Change::SetTime(now),
        Change::SetOffsetTable {
            entries: &entries,
            valid_until: until,
        },
        Change::SetIssuer {
            slot: 1,
            epoch: 3,
            enabled: true,
        },
    ];
    for id in 0..1000u32 {
        let kind = match id % 3 {
            0 => UserKind::Unrestricted,
            1 => UserKind::ScheduleRestricted(schedule(&[(0x7f, 0, 1440)])),
            _ => UserKind::Disposable,
        };
        changes.push(Change::UpsertUser(user(id, kind, Some(&format!("{:07}", id * 97)))));
    }
    lock.apply(1, &changes, now).unwrap();
    let key = ROOT.issuer_key(1, 3);
    let code = mint(
        &key,
        LOCK_ID,
        1,
        3,
        Validity::Window {
            start_hour: (now / 3600) as u32,
            hours: 5,
        },
        true,
    )
    .unwrap();
    let reusable = mint(
        &key,
        LOCK_ID,
        1,
        3,
        Validity::Window {
            start_hour: (now / 3600) as u32,
            hours: 5,
        },
        false,
    )
    .unwrap();
    let pin0 = format!("{:07}", 3 * 97);
    let digits: Vec<u8> = pin0.bytes().map(|b| b - b'0').collect();

    let (grants, n) = counted(|| {
        let mut grants = 0;
        for i in 0..200 {
            let t = now + i;
            // PIN by key presses.
            for &d in &digits {
                lock.press(Key::Digit(d), t);
            }
            grants += usize::from(lock.press(Key::Confirm, t).unwrap().is_grant());
            // PIN, scheduled and disposable users, and wrong entries.
            grants += usize::from(lock.decide(Input::Keypad(b"0000097"), t).is_grant());
            grants += usize::from(lock.decide(Input::Keypad(b"0000194"), t).is_grant());
            // Guest codes: one-time and reusable.
            grants += usize::from(lock.decide(Input::Keypad(&code.0), t).is_grant());
            grants += usize::from(lock.decide(Input::Keypad(&reusable.0), t).is_grant());
            // Remote.
            grants += usize::from(lock.decide(Input::Remote(3), t).is_grant());
            grants += usize::from(lock.decide(Input::Remote(4), t).is_grant());
            // Acknowledging events.
            lock.ack(lock.journal_stats().next_seq - 10);
        }
        grants
    });
    assert_eq!(n, 0, "allocations on the decision path");
    // 200 x (press PIN, PIN 97, reusable code, remote 3, remote 4) + once each for the
    // disposable PIN 194 and the one-time code.
    assert_eq!(grants, 200 * 5 + 2);
    // Wrong entries (a short one, a forged code), the lockouts they start, the refusals during
    // them and the decay that time brings (a correct entry no longer resets the count, so
    // these run apart from the grants above).
    let start = now + 200;
    let (locked_out, n) = counted(|| {
        let mut locked_out = 0;
        for i in 0..400 {
            let t = start + i * 97;
            for entry in [&b"1234"[..], b"000000000000", b"0000097"] {
                if lock.decide(Input::Keypad(entry), t) == Decision::Deny(Reason::LockedOut) {
                    locked_out += 1;
                }
            }
            lock.ack(lock.journal_stats().next_seq - 10);
        }
        locked_out
    });
    assert_eq!(n, 0, "allocations on the wrong-entry path");
    assert!(locked_out > 0, "the loop reached lockouts");
    assert!(lock.lockout_status(start + 400 * 97).level > 0);
    let later = start + 30 * 86_400;
    let (status, n) = counted(|| (lock.decide(Input::Remote(3), later), lock.lockout_status(later)));
    assert_eq!(n, 0);
    assert_eq!(status.1.level, 0, "a month later the doubling is gone");
    // Saving into a caller's buffer allocates nothing either.
    let mut buf = vec![0u8; StandardLock::MAX_ENCODED_LEN];
    let (r, n) = counted(|| lock.save(&mut buf));
    assert!(r.is_ok());
    assert_eq!(n, 0);
}
