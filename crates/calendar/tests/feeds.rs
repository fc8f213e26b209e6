//! The export shapes of the big rental sites (feeds written by us, in `tests/feeds/`), read,
//! planned and checked to the minute.

use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;
use latchkey_calendar::*;

fn feed(name: &str) -> Feed {
    let path = format!("{}/tests/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    parse_feed(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn times() -> StayTimes {
    StayTimes::parse("15:00", "11:00").unwrap()
}

fn key<'p>(plan: &'p Plan, uid_prefix: &str) -> &'p PlannedKey {
    plan.keys
        .iter()
        .find(|k| k.uid.starts_with(uid_prefix))
        .unwrap_or_else(|| panic!("no key for {uid_prefix}: {plan:#?}"))
}

fn window(k: &PlannedKey) -> (String, String) {
    (k.window.start.to_string(), k.window.end.to_string())
}

#[test]
fn airbnb_all_day_reservations_blocks_and_dst_nights() {
    let f = feed("airbnb.ics");
    assert_eq!(f.events.len(), 5);
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let first = &f.events[0];
    assert_eq!(first.summary, "Reserved");
    assert_eq!(first.start, When::Date(date(2026, 3, 2)));
    assert_eq!(first.end, When::Date(date(2026, 3, 5)));
    // The folded description is read whole; the masked phone is not a number.
    assert!(
        first.description.contains("/details/HMABCDE123\nPhone Number"),
        "{:?}",
        first.description
    );
    assert_eq!(first.reservation_code.as_deref(), Some("HMABCDE123"));
    assert_eq!(first.guest_name, None);
    assert!(first.phones.is_empty(), "{:?}", first.phones);
    assert_eq!(f.events[2].kind, Kind::Block);

    let paris = tz("Europe/Paris");
    let p = plan(&f, times(), &paris, ts("2026-02-15T12:00:00Z"));
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.ended.len(), 1, "the January stay has ended");
    assert_eq!(p.keys.len(), 3);
    let a = key(&p, "1418fb94e984-0b1c");
    assert_eq!(a.label, "HMABCDE123");
    assert_eq!((a.first_day, a.last_day), (date(2026, 3, 2), date(2026, 3, 5)));
    // 15:00 and 11:00 Paris in winter (UTC+1).
    assert_eq!(
        window(a),
        ("2026-03-02T14:00:00Z".into(), "2026-03-05T10:00:00Z".into())
    );
    // Across the spring change (29 March): arrives at 15:00 CET, leaves at 11:00 CEST.
    let b = key(&p, "1418fb94e984-1c2d");
    assert_eq!(
        window(b),
        ("2026-03-27T14:00:00Z".into(), "2026-03-30T09:00:00Z".into())
    );
    // 12 nights across the autumn change (25 October): 15:00 CEST, 11:00 CET.
    let c = key(&p, "1418fb94e984-3e4f");
    assert_eq!(
        window(c),
        ("2026-10-20T13:00:00Z".into(), "2026-11-01T10:00:00Z".into())
    );
    assert_eq!(c.label, "HMKLMNO789");
}

#[test]
fn booking_com_closes_every_night_so_nothing_is_a_reservation() {
    let f = feed("booking.ics");
    assert_eq!(f.events.len(), 3);
    assert!(f.events.iter().all(|e| e.kind == Kind::Block));
    let p = plan(&f, times(), &tz("Europe/Paris"), ts("2026-02-15T12:00:00Z"));
    assert!(p.keys.is_empty());
    assert_eq!(p.blocks.len(), 3);
    assert_eq!(p.listed_upcoming(), 0);
}

#[test]
fn vrbo_names_escapes_cancelled_and_a_long_stay() {
    let f = feed("vrbo.ics");
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let bruno = &f.events[0];
    assert_eq!(bruno.guest_name.as_deref(), Some("Bruno Costa"));
    assert_eq!(
        bruno.description,
        "Guests: 4, incl. 2 children; late arrival\nPhone: +351 912 345 678\nReservation ID: HA-7XK2P9"
    );
    assert_eq!(bruno.phones, ["+351 912 345 678"]);
    assert_eq!(bruno.reservation_code.as_deref(), Some("HA-7XK2P9"));
    assert_eq!(f.events[1].kind, Kind::Block);
    assert_eq!(f.events[2].status, Status::Cancelled);
    // A summary folded in the middle of a multi-byte name.
    assert_eq!(
        f.events[3].guest_name.as_deref(),
        Some("Émile Zoë Lefèvre-Durand de la Fontaine-Saint-Exupéry")
    );

    let p = plan(&f, times(), &tz("Europe/Lisbon"), ts("2026-02-15T12:00:00Z"));
    assert_eq!(p.cancelled, ["6d8f3c4e-1b0a-4f9e-d8c7-2a3b4c5d6e7f"]);
    assert_eq!(p.keys.len(), 2);
    // 15 nights, longer than a week: one window, Lisbon summer time (UTC+1) at both ends.
    let b = key(&p, "4b6d1a2c");
    assert_eq!(b.label, "Bruno Costa");
    assert_eq!(
        window(b),
        ("2026-04-04T14:00:00Z".into(), "2026-04-19T10:00:00Z".into())
    );
    assert_eq!(b.phones, ["+351 912 345 678"]);
}

#[test]
fn google_calendar_utc_times_own_days_and_new_york_dst() {
    let f = feed("google.ics");
    assert_eq!(f.name.as_deref(), Some("Beach house"));
    assert_eq!(f.events.len(), 3, "the recurring cleaning is not an event we use");
    assert_eq!(f.problems.len(), 1);
    assert!(f.problems[0].message.contains("recurring"), "{:?}", f.problems);
    let chen = &f.events[0];
    assert_eq!(chen.start, When::Instant(ts("2026-03-06T20:00:00Z")));
    assert_eq!(chen.guest_name.as_deref(), Some("Chen Wei"));
    assert_eq!(chen.phones, ["+1 212-555-0147"]);
    assert!(
        chen.description
            .contains("Arrives late, key code by text please. Parking: street; no")
    );

    let ny = tz("America/New_York");
    let p = plan(&f, times(), &ny, ts("2026-02-15T12:00:00Z"));
    assert_eq!(p.cancelled.len(), 1);
    // Timed event: its own days (6 and 10 March in New York), check-in and check-out times.
    // Across the spring change (8 March): 15:00 EST, 11:00 EDT.
    let c = key(&p, "0a1b2c3d");
    assert_eq!((c.first_day, c.last_day), (date(2026, 3, 6), date(2026, 3, 10)));
    assert_eq!(
        window(c),
        ("2026-03-06T20:00:00Z".into(), "2026-03-10T15:00:00Z".into())
    );
    // Across the autumn change (1 November): 15:00 EDT, 11:00 EST.
    let pr = key(&p, "1b2c3d4e");
    assert_eq!(
        window(pr),
        ("2026-10-30T19:00:00Z".into(), "2026-11-03T16:00:00Z".into())
    );
    assert_eq!(pr.phones, ["(646) 555-0199"]);
    // The recurring event's UID is "in the feed" (its key, if any, is left alone).
    assert!(p.skipped.iter().any(|s| s.uid.starts_with("3d4e5f6a")));
}

#[test]
fn property_manager_tzid_forms_overlaps_and_floating_times() {
    let f = feed("property-manager.ics");
    assert_eq!(f.name.as_deref(), Some("Rue des Lilas 7 – Apt 3"));
    assert_eq!(f.events.len(), 7, "{:#?}", f.problems);
    assert_eq!(f.problems.len(), 1);
    assert_eq!(f.problems[0].uid.as_deref(), Some("pm-1006@example-pm"));
    assert!(
        f.problems[0]
            .message
            .contains("\"Mars/Olympus_Mons\" is neither an IANA name"),
        "{}",
        f.problems[0].message
    );
    let alice = &f.events[0];
    assert_eq!(alice.start, When::Instant(ts("2026-03-27T15:00:00Z")));
    assert_eq!(alice.guest_name.as_deref(), Some("Alice Martin"));
    assert_eq!(alice.phones, ["+33 6 12 34 56 78"]);
    assert_eq!(alice.reservation_code.as_deref(), Some("HMABCDE123"));
    // Quoted IANA name, on the night of the spring change: 16:00 CEST.
    assert_eq!(f.events[1].start, When::Instant(ts("2026-03-29T14:00:00Z")));
    // Windows name.
    assert_eq!(f.events[2].start, When::Instant(ts("2026-04-01T13:00:00Z")));
    assert_eq!(f.events[2].guest_name.as_deref(), Some("Ines Duarte"));
    assert_eq!(f.events[2].phones, ["0033 6 98 76 54 32"]);
    // A VTIMEZONE with its own name and X-LIC-LOCATION.
    assert_eq!(f.events[3].start, When::Instant(ts("2026-04-10T13:00:00Z")));
    // Floating: the lock's time, resolved when planning.
    assert_eq!(f.events[4].start, When::Floating(date(2026, 4, 15).at(15, 0, 0, 0)));
    assert_eq!(f.events[5].kind, Kind::Block, "owner stay");
    // DURATION instead of DTEND.
    assert_eq!(f.events[6].end, When::Date(date(2026, 5, 6)));

    let paris = tz("Europe/Paris");
    let p = plan(&f, times(), &paris, ts("2026-02-15T12:00:00Z"));
    assert_eq!(p.keys.len(), 6);
    assert_eq!(p.blocks, ["pm-1007@example-pm"]);
    assert_eq!(p.skipped.len(), 1);
    // Overlapping stays each get their own key.
    let hugo = key(&p, "pm-1002");
    let ines = key(&p, "pm-1003");
    assert!(ines.window.start < hugo.window.end);
    assert_eq!(
        window(hugo),
        ("2026-03-29T13:00:00Z".into(), "2026-04-02T09:00:00Z".into())
    );
    assert_eq!(hugo.label, "Hugo Weber");
    let kemal = key(&p, "pm-1005");
    assert_eq!(
        window(kemal),
        ("2026-04-15T13:00:00Z".into(), "2026-04-18T09:00:00Z".into())
    );
    // Keys come sorted by start.
    assert!(p.keys.windows(2).all(|w| w[0].window.start <= w[1].window.start));
}

#[test]
fn check_in_or_out_inside_a_dst_gap_or_fold() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:spring\r\nDTSTART;VALUE=DATE:20260329\r\n\
               DTEND;VALUE=DATE:20260401\r\nSUMMARY:Reserved - Ann\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n\
               UID:autumn\r\nDTSTART;VALUE=DATE:20261022\r\nDTEND;VALUE=DATE:20261025\r\n\
               SUMMARY:Reserved - Bob\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let f = parse_feed(ics).unwrap();
    // A host who lets guests in at 02:30 and out at 02:30 (night arrivals).
    let t = StayTimes::parse("02:30", "02:30").unwrap();
    let p = plan(&f, t, &tz("Europe/Paris"), ts("2026-01-01T00:00:00Z"));
    // 02:30 on 29 March does not exist in Paris: the key starts when the gap ends (03:00 CEST).
    assert_eq!(key(&p, "spring").window.start.to_string(), "2026-03-29T01:00:00Z");
    // 02:30 on 25 October happens twice: the key ends at the first one (CEST).
    assert_eq!(key(&p, "autumn").window.end.to_string(), "2026-10-25T00:30:00Z");

    let ny = StayTimes::parse("02:15", "01:30").unwrap();
    let ics_ny = ics
        .replace("20260329", "20260308")
        .replace("20260401", "20260310")
        .replace("20261022", "20261029")
        .replace("20261025", "20261101");
    let p = plan(
        &parse_feed(&ics_ny).unwrap(),
        ny,
        &tz("America/New_York"),
        ts("2026-01-01T00:00:00Z"),
    );
    assert_eq!(key(&p, "spring").window.start.to_string(), "2026-03-08T07:00:00Z");
    assert_eq!(key(&p, "autumn").window.end.to_string(), "2026-11-01T05:30:00Z");
}

#[test]
fn a_stay_under_way_is_planned_and_one_that_ended_is_not() {
    let f = feed("airbnb.ics");
    let paris = tz("Europe/Paris");
    // During the 2-5 March stay, and right at its end.
    let p = plan(&f, times(), &paris, ts("2026-03-04T08:00:00Z"));
    assert!(p.keys.iter().any(|k| k.label == "HMABCDE123"));
    let p = plan(&f, times(), &paris, ts("2026-03-05T10:00:00Z"));
    assert!(!p.keys.iter().any(|k| k.label == "HMABCDE123"));
    assert_eq!(p.ended.len(), 2);
}

#[test]
fn same_day_event_gives_no_window_and_says_so() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:day-use\r\nDTSTART:20260310T090000Z\r\n\
               DTEND:20260310T170000Z\r\nSUMMARY:Day visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = plan(
        &parse_feed(ics).unwrap(),
        times(),
        &tz("Europe/Paris"),
        ts("2026-01-01T00:00:00Z"),
    );
    assert!(p.keys.is_empty());
    assert_eq!(p.skipped.len(), 1);
    assert!(
        p.skipped[0].message.contains("no time at the door"),
        "{}",
        p.skipped[0].message
    );
}

#[test]
fn folding_escapes_and_line_endings() {
    // Folded right after a space (a reader that trims physical lines loses it), with a tab,
    // LF-only line endings, a byte-order mark, lower-case names, escaped commas, semicolons,
    // newlines and backslashes.
    let ics = "\u{feff}BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:fold-1\nDTSTART;VALUE=DATE:20260302\n\
               DTEND;VALUE=DATE:20260305\nSUMMARY:Reserved - Alice \n Martin\n\
               DESCRIPTION:Line one\\, with comma\\; semicolon\\nLine two \\\\ back\n\tslash\n\
               location:Rue A\\, 3\nEND:VEVENT\nEND:VCALENDAR\n";
    let f = parse_feed(ics).unwrap();
    let e = &f.events[0];
    assert_eq!(e.summary, "Reserved - Alice Martin");
    assert_eq!(e.guest_name.as_deref(), Some("Alice Martin"));
    assert_eq!(e.description, "Line one, with comma; semicolon\nLine two \\ backslash");
}

#[test]
fn events_without_uid_or_start_or_with_bad_dates_are_problems_not_failures() {
    let ics = "BEGIN:VCALENDAR\r\n\
               BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260302\r\nSUMMARY:Reserved - No Uid\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:no-start\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:bad-date\r\nDTSTART;VALUE=DATE:20260231\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:bad-time\r\nDTSTART:20260301T250000Z\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:ok\r\nDTSTART;VALUE=DATE:20260302\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:ok\r\nDTSTART;VALUE=DATE:20260402\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
               END:VCALENDAR\r\n";
    let f = parse_feed(ics).unwrap();
    assert_eq!(f.events.len(), 1);
    // A one-day all-day event without DTEND lasts one day (RFC 5545 3.6.1).
    assert_eq!(f.events[0].end, When::Date(date(2026, 3, 3)));
    let msgs: Vec<&str> = f.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(msgs.len(), 5, "{msgs:#?}");
    assert!(msgs[0].contains("no UID"));
    assert!(msgs[1].contains("no DTSTART"));
    assert!(msgs[2].contains("\"20260231\" is not an iCalendar date"));
    assert!(msgs[3].contains("20260301T250000Z"));
    assert!(msgs[4].contains("more than once"));
}

#[test]
fn malformed_feeds_are_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "the calendar feed is empty"),
        ("   \r\n", "the calendar feed is empty"),
        (
            "this is not a calendar",
            "does not serve an iCalendar feed (it starts with \"this is not a calendar\")",
        ),
        (
            "<!DOCTYPE html><html><body>Sign in</body></html>",
            "it starts with \"<!DOCTYPE html>",
        ),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n", "cut short"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VCALENDAR\r\n",
            "not valid iCalendar: line",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis line has no colon\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "not valid iCalendar",
        ),
    ];
    for (input, want) in cases {
        let err = parse_feed(input).unwrap_err().to_string();
        assert!(err.contains(want), "{input:?}: {err}");
    }
    // Nesting that would exhaust the parser's stack is refused before parsing.
    let deep = format!(
        "BEGIN:VCALENDAR\r\n{}{}END:VCALENDAR\r\n",
        "BEGIN:X\r\n".repeat(100_000),
        "END:X\r\n".repeat(100_000)
    );
    assert_eq!(parse_feed(&deep), Err(FeedError::TooDeep { max: 8 }));
}

#[test]
fn an_empty_calendar_parses_to_nothing() {
    let f = parse_feed("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n").unwrap();
    assert!(f.events.is_empty() && f.problems.is_empty());
}
