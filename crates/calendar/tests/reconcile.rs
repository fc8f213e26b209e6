//! Reconciling a calendar's keys with a new read of its feed: the contract's scenario (extend,
//! cancel, add), codes kept or reissued, and the safety rule against feeds that suddenly drop
//! everything.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use latchkey_calendar::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-03-01T12:00:00Z";

/// A feed of all-day stays `(uid, first day, departure day, summary, status)`.
fn ics(events: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Rentals//EN\r\n");
    for (uid, start, end, summary, status) in events {
        s += &format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{start}\r\nDTEND;VALUE=DATE:{end}\r\nSUMMARY:{summary}\r\n"
        );
        if !status.is_empty() {
            s += &format!("STATUS:{status}\r\n");
        }
        s += "END:VEVENT\r\n";
    }
    s + "END:VCALENDAR\r\n"
}

fn plan_of(events: &[(&str, &str, &str, &str, &str)]) -> Plan {
    let feed = parse_feed(&ics(events)).unwrap();
    plan(
        &feed,
        StayTimes::parse("15:00", "11:00").unwrap(),
        &TimeZone::get("Europe/Paris").unwrap(),
        ts(NOW),
    )
}

/// What the server would hold after applying `r` to `existing` (keys revoked by the calendar
/// stay, with `RevokedBy::Calendar`).
fn apply(existing: &[ExistingKey], r: &Reconciliation, code: CodeKind) -> Vec<ExistingKey> {
    let mut out: Vec<ExistingKey> = existing.to_vec();
    for a in &r.added {
        out.retain(|e| e.uid != a.uid);
        out.push(ExistingKey {
            uid: a.uid.clone(),
            window: a.window,
            revoked: None,
            code,
        });
    }
    for c in &r.changed {
        out.iter_mut().find(|e| e.uid == c.key.uid).unwrap().window = c.key.window;
    }
    for c in &r.cancelled {
        out.iter_mut().find(|e| e.uid == c.uid).unwrap().revoked = Some(RevokedBy::Calendar);
    }
    out
}

fn uids<T>(v: &[T], f: impl Fn(&T) -> &str) -> Vec<String> {
    let mut u: Vec<String> = v.iter().map(|x| f(x).to_string()).collect();
    u.sort();
    u
}

#[test]
fn the_contract_scenario_extend_cancel_add() {
    let v1 = plan_of(&[
        ("res-A", "20260303", "20260306", "Reserved - Alice Martin", ""),
        ("res-B", "20260307", "20260309", "Reserved - Bruno Costa", ""),
        ("blk-1", "20260310", "20260313", "Not available", ""),
    ]);
    let first = reconcile(&[], &v1, ts(NOW), Safety::default()).unwrap();
    assert_eq!(uids(&first.added, |k| &k.uid), ["res-A", "res-B"]);
    let held = apply(&[], &first, CodeKind::Synced);

    // The same feed again: nothing to do.
    let again = reconcile(&held, &v1, ts(NOW), Safety::default()).unwrap();
    assert!(again.added.is_empty() && again.changed.is_empty() && again.cancelled.is_empty());
    assert_eq!(again.unchanged.len(), 2);

    // Alice extends by a night, Bruno disappears, Chen books.
    let v2 = plan_of(&[
        ("res-A", "20260303", "20260307", "Reserved - Alice Martin", ""),
        ("res-C", "20260308", "20260310", "Reserved - Chen Wei", ""),
    ]);
    let r = reconcile(&held, &v2, ts(NOW), Safety::default()).unwrap();
    assert_eq!(uids(&r.added, |k| &k.uid), ["res-C"]);
    assert_eq!(r.changed.len(), 1);
    assert_eq!(r.changed[0].key.uid, "res-A");
    assert_eq!(r.changed[0].code, CodeFate::Keep);
    assert_eq!(r.changed[0].from.end.to_string(), "2026-03-06T10:00:00Z");
    assert_eq!(r.changed[0].key.window.end.to_string(), "2026-03-07T10:00:00Z");
    assert_eq!(
        r.cancelled,
        [Cancelled {
            uid: "res-B".into(),
            reason: CancelReason::Removed
        }]
    );
    assert!(r.unchanged.is_empty());
}

#[test]
fn an_offline_code_must_be_reissued_when_its_window_moves() {
    let v1 = plan_of(&[("res-A", "20260303", "20260306", "Reserved", "")]);
    let held = apply(
        &[],
        &reconcile(&[], &v1, ts(NOW), Safety::default()).unwrap(),
        CodeKind::Offline,
    );
    let v2 = plan_of(&[("res-A", "20260304", "20260306", "Reserved", "")]);
    let r = reconcile(&held, &v2, ts(NOW), Safety::default()).unwrap();
    assert_eq!(r.changed[0].code, CodeFate::Reissue);
}

#[test]
fn cancelled_blocked_and_shortened_into_the_past() {
    let v1 = plan_of(&[
        ("a", "20260303", "20260306", "Reserved", ""),
        ("b", "20260307", "20260309", "Reserved", ""),
        ("c", "20260227", "20260304", "Reserved", ""),
    ]);
    let held = apply(
        &[],
        &reconcile(&[], &v1, ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    let v2 = plan_of(&[
        ("a", "20260303", "20260306", "Reserved", "CANCELLED"),
        ("b", "20260307", "20260309", "Not available", ""),
        // Stay under way, shortened to have left this morning (before NOW).
        ("c", "20260227", "20260301", "Reserved", ""),
    ]);
    let r = reconcile(&held, &v2, ts(NOW), Safety::default()).unwrap();
    let mut got: Vec<(String, CancelReason)> = r.cancelled.iter().map(|c| (c.uid.clone(), c.reason)).collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        [
            ("a".into(), CancelReason::Cancelled),
            ("b".into(), CancelReason::NowBlock),
            ("c".into(), CancelReason::NowEnded)
        ]
    );
}

#[test]
fn past_stays_that_drop_off_the_feed_are_not_cancelled() {
    let past = ExistingKey {
        uid: "old".into(),
        window: Window {
            start: ts("2026-02-01T14:00:00Z"),
            end: ts("2026-02-04T10:00:00Z"),
        },
        revoked: None,
        code: CodeKind::Synced,
    };
    let v = plan_of(&[("new", "20260303", "20260306", "Reserved", "")]);
    let r = reconcile(std::slice::from_ref(&past), &v, ts(NOW), Safety::default()).unwrap();
    assert!(r.cancelled.is_empty());
    assert_eq!(r.added.len(), 1);
    // Even a feed that now lists nothing at all is fine when every key has ended.
    let empty = plan_of(&[]);
    let r = reconcile(&[past], &empty, ts(NOW), Safety::default()).unwrap();
    assert_eq!(r, Reconciliation::default());
}

#[test]
fn a_key_revoked_by_a_person_stays_revoked_one_revoked_by_the_calendar_comes_back() {
    let v = plan_of(&[
        ("by-person", "20260303", "20260306", "Reserved", ""),
        ("by-calendar", "20260307", "20260309", "Reserved", ""),
    ]);
    let held = apply(
        &[],
        &reconcile(&[], &v, ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    let held: Vec<ExistingKey> = held
        .into_iter()
        .map(|mut e| {
            e.revoked = Some(if e.uid == "by-person" {
                RevokedBy::Person
            } else {
                RevokedBy::Calendar
            });
            e
        })
        .collect();
    let r = reconcile(&held, &v, ts(NOW), Safety::default()).unwrap();
    assert_eq!(uids(&r.added, |k| &k.uid), ["by-calendar"]);
    assert!(r.changed.is_empty() && r.cancelled.is_empty() && r.unchanged.is_empty());
}

#[test]
fn events_the_feed_lists_but_we_cannot_read_keep_their_keys() {
    let v1 = plan_of(&[("a", "20260303", "20260306", "Reserved", "")]);
    let held = apply(
        &[],
        &reconcile(&[], &v1, ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    let feed = parse_feed(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Nowhere/Land:20260303T150000\r\n\
         DTEND;TZID=Nowhere/Land:20260306T110000\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    assert_eq!(feed.problems.len(), 1);
    let v2 = plan(
        &feed,
        StayTimes::parse("15:00", "11:00").unwrap(),
        &TimeZone::get("Europe/Paris").unwrap(),
        ts(NOW),
    );
    let r = reconcile(&held, &v2, ts(NOW), Safety::default()).unwrap();
    assert_eq!(r, Reconciliation::default());
}

fn many(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            let start = jiff::civil::date(2026, 3, 2)
                .checked_add(jiff::Span::new().days(3 * i as i64))
                .unwrap();
            let end = start.checked_add(jiff::Span::new().days(2)).unwrap();
            (
                format!("r{i}"),
                start.strftime("%Y%m%d").to_string(),
                end.strftime("%Y%m%d").to_string(),
            )
        })
        .collect()
}

fn plan_many(list: &[(String, String, String)], skip: impl Fn(usize) -> bool) -> Plan {
    let events: Vec<(&str, &str, &str, &str, &str)> = list
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip(*i))
        .map(|(_, (u, s, e))| (u.as_str(), s.as_str(), e.as_str(), "Reserved", ""))
        .collect();
    plan_of(&events)
}

#[test]
fn a_feed_that_suddenly_lists_nothing_changes_nothing() {
    let list = many(2);
    let held = apply(
        &[],
        &reconcile(&[], &plan_many(&list, |_| false), ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    // No events at all.
    let err = reconcile(&held, &plan_of(&[]), ts(NOW), Safety::default()).unwrap_err();
    assert_eq!(err, Suspicious::Empty { active: 2 });
    assert!(err.to_string().contains("suddenly lists no reservations"), "{err}");
    // Only blocks: still no reservation listed.
    let blocks = plan_of(&[("blk", "20260310", "20260320", "Airbnb (Not available)", "")]);
    assert_eq!(
        reconcile(&held, &blocks, ts(NOW), Safety::default()).unwrap_err(),
        Suspicious::Empty { active: 2 }
    );
    // Only a stay that is over: still no upcoming reservation listed.
    let past = plan_of(&[("old", "20260201", "20260204", "Reserved", "")]);
    assert_eq!(past.ended.len(), 1);
    assert_eq!(
        reconcile(&held, &past, ts(NOW), Safety::default()).unwrap_err(),
        Suspicious::Empty { active: 2 }
    );
    // Explicit cancellations of every stay are believed.
    let cancelled = plan_of(&[
        ("r0", "20260302", "20260304", "Reserved", "CANCELLED"),
        ("r1", "20260305", "20260307", "Reserved", "CANCELLED"),
    ]);
    let r = reconcile(&held, &cancelled, ts(NOW), Safety::default()).unwrap();
    assert_eq!(r.cancelled.len(), 2);
}

#[test]
fn dropping_more_than_half_of_at_least_three_upcoming_stays_changes_nothing() {
    let list = many(6);
    let held = apply(
        &[],
        &reconcile(&[], &plan_many(&list, |_| false), ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    // 3 of 6 dropped: exactly half, allowed.
    let r = reconcile(&held, &plan_many(&list, |i| i < 3), ts(NOW), Safety::default()).unwrap();
    assert_eq!(r.cancelled.len(), 3);
    // 4 of 6: refused.
    let err = reconcile(&held, &plan_many(&list, |i| i < 4), ts(NOW), Safety::default()).unwrap_err();
    assert_eq!(err, Suspicious::MassDrop { dropped: 4, active: 6 });
    assert!(err.to_string().contains("dropped 4 of the 6"), "{err}");
    // 2 of 3: more than half but fewer than three: a host's ordinary cancellations.
    let three = many(3);
    let held3 = apply(
        &[],
        &reconcile(&[], &plan_many(&three, |_| false), ts(NOW), Safety::default()).unwrap(),
        CodeKind::Synced,
    );
    let r = reconcile(&held3, &plan_many(&three, |i| i < 2), ts(NOW), Safety::default()).unwrap();
    assert_eq!(r.cancelled.len(), 2);
    // A stricter operator setting.
    let strict = Safety {
        min_dropped: 1,
        max_dropped_percent: 25,
    };
    assert!(reconcile(&held3, &plan_many(&three, |i| i < 1), ts(NOW), strict).is_err());
}
