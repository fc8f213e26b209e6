//! A 500-reservation feed (Airbnb-shaped, folded descriptions, blocks between stays): read,
//! planned, and reconciled as on a first read (nothing held) and on a second read with nothing
//! changed. The server's whole first read (fetch, this, the database) has a budget of 2 s
//! (`docs/performance.md`, second round); this is the calendar crate's share.
//!
//! Run: `cargo bench -p latchkey-calendar`

use criterion::Criterion;
use jiff::tz::TimeZone;
use latchkey_calendar::*;
use std::hint::black_box;

fn feed_of(n: usize) -> String {
    let mut s = String::from(
        "BEGIN:VCALENDAR\r\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0.0//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n",
    );
    let first = jiff::civil::date(2026, 1, 1);
    for i in 0..n {
        let start = first.checked_add(jiff::Span::new().days(i as i64 * 3)).unwrap();
        let end = start.checked_add(jiff::Span::new().days(2)).unwrap();
        let (s8, e8) = (start.strftime("%Y%m%d"), end.strftime("%Y%m%d"));
        s += &format!(
            "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{e8}\r\nDTSTART;VALUE=DATE:{s8}\r\nUID:1418fb94e984-{i:032x}@airbnb.com\r\n\
             DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\r\n \
             tails/HM{i:08}\\nPhone Number (Last 4 Digits): {:04}\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n",
            i % 10_000
        );
        if i % 5 == 0 {
            s += &format!(
                "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{e8}\r\nDTSTART;VALUE=DATE:{e8}\r\nUID:blk-{i}@airbnb.com\r\nSUMMARY:Airbnb (Not available)\r\nEND:VEVENT\r\n"
            );
        }
    }
    s + "END:VCALENDAR\r\n"
}

fn main() {
    let text = feed_of(500);
    let zone = TimeZone::get("Europe/Paris").unwrap();
    let times = StayTimes::parse("15:00", "11:00").unwrap();
    let now: jiff::Timestamp = "2025-12-01T00:00:00Z".parse().unwrap();

    let feed = parse_feed(&text).unwrap();
    let p = plan(&feed, times, &zone, now);
    assert_eq!(p.keys.len(), 500);
    let held: Vec<ExistingKey> = p
        .keys
        .iter()
        .map(|k| ExistingKey {
            uid: k.uid.clone(),
            window: k.window,
            revoked: None,
            code: CodeKind::Synced,
        })
        .collect();

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("calendar_500");
    g.bench_function("parse", |b| b.iter(|| parse_feed(black_box(&text)).unwrap()));
    g.bench_function("plan", |b| b.iter(|| plan(black_box(&feed), times, &zone, now)));
    g.bench_function("parse_plan_reconcile_first_read", |b| {
        b.iter(|| {
            let f = parse_feed(black_box(&text)).unwrap();
            let p = plan(&f, times, &zone, now);
            reconcile(&[], &p, now, Safety::default()).unwrap()
        })
    });
    g.bench_function("parse_plan_reconcile_unchanged_read", |b| {
        b.iter(|| {
            let f = parse_feed(black_box(&text)).unwrap();
            let p = plan(&f, times, &zone, now);
            let r = reconcile(&held, &p, now, Safety::default()).unwrap();
            assert!(r.added.is_empty() && r.changed.is_empty());
            r
        })
    });
    g.finish();
    c.final_summary();
    println!("feed size: {} bytes, {} events", text.len(), feed.events.len());
}
