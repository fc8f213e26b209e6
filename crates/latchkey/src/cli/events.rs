//! `latchkey events LOCK [--follow]`: the activity log, oldest first.
//!
//! The API pages the log newest first (`limit`, and `before` an event id) and has no "after",
//! so `--follow` polls the newest page and prints the events it has not printed yet. Event ids
//! sort by the time of the event, and a lock that was offline uploads its journal late with
//! the times it happened, so a new event is not always newer than the last one printed. The
//! follower therefore remembers the ids it knows (at the start, the newest page of 100 or
//! `--limit`, of which it prints `--limit`), prints every unknown id on the newest page, and
//! reads further back only while a whole page is unknown. An event that arrives late is
//! printed when it arrives, in its place by id among the others of that poll, as long as it
//! is among the newest 100 by then; one older than that is only in `latchkey events`.

use std::collections::BTreeSet;
use std::time::Duration;

use latchkey_client::model::{Event, Lock};

use super::commands::{Ctx, api_fail, connect, emit, emit_json, resolve_lock};
use super::table::Table;
use super::times::{self, local_seconds};
use super::{EventsArgs, Fail, exit};

/// The page size of each poll.
const PAGE: u32 = 100;
/// At most this many pages back per poll, so a huge backlog cannot stall the follower.
const MAX_PAGES: usize = 20;
/// Ids kept to recognise events already printed (the newest ones; older ids are never on the
/// pages a poll reads once it has caught up).
const KEEP_IDS: usize = 4 * PAGE as usize * MAX_PAGES;

pub async fn run(args: EventsArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    // Following starts from a page of at least PAGE events, all of which count as known.
    let limit = if args.follow { args.limit.max(PAGE) } else { args.limit };
    let first = ctx
        .client
        .events_with_json(&lock.id, Some(limit), args.before.as_deref())
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if !args.follow {
        if ctx.json {
            return emit_json(&first.text);
        }
        if first.value.is_empty() {
            return emit(&format!("No events on {} yet.\n", super::table::clean(&lock.name)));
        }
        let mut t = table(&lock);
        for e in first.value.iter().rev() {
            t.row(row(e, &lock));
        }
        return emit(&t.render());
    }
    follow(&ctx, &lock, first.value, &args).await
}

fn table(lock: &Lock) -> Table {
    Table::new(&[
        &format!("AT ({})", lock.time_zone),
        "EVENT",
        "OUTCOME",
        "METHOD",
        "WHO",
        "DETAIL",
    ])
}

fn row(e: &Event, lock: &Lock) -> Vec<String> {
    let tz = times::zone(&lock.time_zone);
    let outcome = match (&e.outcome, &e.reason) {
        (Some(o), Some(r)) => format!("{o} ({r})"),
        (Some(o), None) => o.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => "-".into(),
    };
    let who = match (&e.actor, &e.by) {
        (Some(a), Some(b)) if b.name != a.name => format!("{} (by {})", a.name, b.name),
        (Some(a), _) => a.name.clone(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => "-".into(),
    };
    vec![
        local_seconds(&e.at, &tz),
        e.kind.clone(),
        outcome,
        e.method.clone().unwrap_or_else(|| "-".into()),
        if who.trim().is_empty() { "-".into() } else { who },
        e.detail.clone(),
    ]
}

/// Prints `first` (oldest first), then every event not printed before, every `interval`,
/// until Ctrl-C. Losing the server for a while is reported and waited out; a refusal (the
/// session ended, the caller is no longer an Admin) ends the command.
async fn follow(ctx: &Ctx, lock: &Lock, first: Vec<Event>, args: &EventsArgs) -> Result<(), Fail> {
    let shown = &first[..first.len().min(args.limit as usize)];
    let mut printer = Printer::new(lock, ctx.json, shown);
    let mut seen: BTreeSet<String> = first[shown.len()..].iter().map(|e| e.id.clone()).collect();
    printer.print(shown.iter().rev(), &mut seen)?;
    let interval = Duration::from_secs_f64(args.interval.clamp(0.2, 3600.0));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut unreachable = false;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        let polled = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            r = poll(ctx, &lock.id, &seen) => r,
        };
        match polled {
            Ok(mut new) => {
                if unreachable {
                    eprintln!("{} answers again.", ctx.server);
                    unreachable = false;
                }
                new.sort_by(|a, b| a.id.cmp(&b.id));
                printer.print(new.iter(), &mut seen)?;
                while seen.len() > KEEP_IDS {
                    seen.pop_first();
                }
            }
            Err(f) if f.code == exit::UNREACHABLE => {
                if !unreachable {
                    eprintln!("warning: {}; still trying (Ctrl-C to stop)", f.message);
                    unreachable = true;
                }
            }
            Err(f) => return Err(f),
        }
    }
}

/// The events on the newest page that are not in `seen`, and on the pages before it while a
/// whole page is new.
async fn poll(ctx: &Ctx, lock_id: &str, seen: &BTreeSet<String>) -> Result<Vec<Event>, Fail> {
    let mut new = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ctx
            .client
            .events(lock_id, Some(PAGE), before.as_deref())
            .await
            .map_err(|e| api_fail(e, &ctx.server))?;
        let full = page.len() == PAGE as usize;
        before = page.last().map(|e| e.id.clone());
        let (known, fresh): (Vec<Event>, Vec<Event>) = page.into_iter().partition(|e| seen.contains(&e.id));
        new.extend(fresh);
        if !known.is_empty() || !full {
            break;
        }
    }
    Ok(new)
}

/// Prints followed events: JSON Lines (each event as the model the server writes), or table
/// rows under one header, aligned to the widths of the first page (a wider cell later pushes
/// the rest of its line along).
struct Printer {
    lock: Lock,
    json: bool,
    widths: Vec<usize>,
    header_printed: bool,
}

impl Printer {
    fn new(lock: &Lock, json: bool, first: &[Event]) -> Printer {
        let mut t = table(lock);
        for e in first {
            t.row(row(e, lock));
        }
        // Room for the usual kinds, outcomes, methods and names even when the first page is short.
        let mut widths = t.widths();
        for (i, min) in [(1, 18), (2, 8), (3, 6), (4, 12)] {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(min);
            }
        }
        Printer {
            lock: lock.clone(),
            json,
            widths,
            header_printed: false,
        }
    }

    /// Prints the events of `events` not in `seen`, and adds them to it.
    fn print<'a>(&mut self, events: impl Iterator<Item = &'a Event>, seen: &mut BTreeSet<String>) -> Result<(), Fail> {
        let mut out = String::new();
        let mut t = table(&self.lock);
        if !self.json && !self.header_printed {
            out.push_str(&t.render_header(&self.widths));
            self.header_printed = true;
        }
        for e in events {
            if !seen.insert(e.id.clone()) {
                continue;
            }
            if self.json {
                // The model the server itself serialises; it cannot fail to serialise.
                out.push_str(&serde_json::to_string(e).unwrap_or_default());
                out.push('\n');
            } else {
                t.row(row(e, &self.lock));
            }
        }
        if !self.json {
            out.push_str(&t.render_rows(&self.widths));
        }
        if out.is_empty() {
            return Ok(());
        }
        emit(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_client::model::{AccessLevel, Actor, LockSettings, SyncState};

    fn lock() -> Lock {
        Lock {
            id: "lk_1".into(),
            name: "Front door".into(),
            time_zone: "Europe/Berlin".into(),
            online: true,
            last_seen_at: None,
            my_access_level: AccessLevel::Admin,
            settings: LockSettings {
                wrong_code_limit: 5,
                lockout_seconds: 60,
            },
            sync: SyncState::Synced,
            bolt: None,
            capacity: None,
        }
    }

    #[test]
    fn a_row_shows_local_time_outcome_and_who() {
        let e = Event {
            id: "1".into(),
            at: "2027-07-01T13:00:05Z".into(),
            kind: "access".into(),
            outcome: Some("denied".into()),
            method: Some("keypad".into()),
            actor: Some(Actor {
                kind: "guest_key".into(),
                id: Some("gk_1".into()),
                name: "Bob".into(),
            }),
            reason: Some("outside_schedule".into()),
            by: None,
            detail: "guest key Bob".into(),
        };
        assert_eq!(
            row(&e, &lock()),
            vec![
                "2027-07-01 15:00:05",
                "access",
                "denied (outside_schedule)",
                "keypad",
                "Bob",
                "guest key Bob"
            ]
        );
        let change = Event {
            outcome: None,
            method: None,
            reason: None,
            kind: "guest_key_created".into(),
            by: Some(Actor {
                kind: "member".into(),
                id: Some("acc_1".into()),
                name: "Ana".into(),
            }),
            ..e
        };
        let r = row(&change, &lock());
        assert_eq!(r[2], "-");
        assert_eq!(r[4], "Bob (by Ana)");
    }
}
