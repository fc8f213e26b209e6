//! Whatever a feed holds, reading, planning and reconciling it never panics: random text,
//! the sample feeds mutated at random, and events built from random field values.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use latchkey_calendar::*;
use proptest::prelude::*;

const FEEDS: &[&str] = &[
    include_str!("feeds/airbnb.ics"),
    include_str!("feeds/booking.ics"),
    include_str!("feeds/vrbo.ics"),
    include_str!("feeds/google.ics"),
    include_str!("feeds/property-manager.ics"),
];

/// Everything downstream of the text, with the zones that have DST and one that does not.
fn run_all(text: &str, now_secs: i64) {
    let Ok(feed) = parse_feed(text) else { return };
    let now = Timestamp::from_second(now_secs).unwrap();
    for zone in ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"] {
        let zone = TimeZone::get(zone).unwrap();
        for (i, o) in [("15:00", "11:00"), ("00:00", "23:59"), ("02:30", "02:30")] {
            let p = plan(&feed, StayTimes::parse(i, o).unwrap(), &zone, now);
            for k in &p.keys {
                assert!(k.window.start < k.window.end, "{k:?}");
                assert!(k.window.end > now);
            }
            let existing: Vec<ExistingKey> = p
                .keys
                .iter()
                .enumerate()
                .map(|(n, k)| ExistingKey {
                    uid: if n % 3 == 0 {
                        format!("{}-gone", k.uid)
                    } else {
                        k.uid.clone()
                    },
                    window: k.window,
                    revoked: None,
                    code: if n % 2 == 0 {
                        CodeKind::Synced
                    } else {
                        CodeKind::Offline
                    },
                })
                .collect();
            let _ = reconcile(&existing, &p, now, Safety::default());
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), "(\\PC|[\r\n \t:;=,\"\\\\]){0,12}").prop_map(|(at, text)| Mutation::Insert { at, text }),
        (
            any::<usize>(),
            Just("\r\n BEGIN:VEVENT\r\nEND:VEVENT\r\n:;\\".to_string())
        )
            .prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, m: &Mutation) -> String {
    match m {
        Mutation::Delete { at, len } => {
            let a = boundary(&s, *at);
            let b = boundary(&s, a + len);
            s.replace_range(a..b.max(a), "");
        }
        Mutation::Insert { at, text } => {
            let a = boundary(&s, *at);
            s.insert_str(a, text);
        }
        Mutation::DuplicateLine { at } => {
            let lines: Vec<&str> = s.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let i = at % lines.len();
                let mut out = String::new();
                for (n, l) in lines.iter().enumerate() {
                    out.push_str(l);
                    if n == i {
                        out.push_str(l);
                    }
                }
                s = out;
            }
        }
        Mutation::Truncate { at } => {
            let a = boundary(&s, *at);
            s.truncate(a);
        }
    }
    s
}

fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9TZz:;=+\\-PDWHMS]{0,20}",
        "(19|20|99|00)[0-9]{2}(0[0-9]|1[0-3])[0-3][0-9](T[0-2][0-9][0-6][0-9][0-6][0-9]Z?)?",
        "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}", now in 0i64..4_102_444_800) {
        run_all(&text, now);
        run_all(&format!("BEGIN:VCALENDAR\r\n{text}\r\nEND:VCALENDAR\r\n"), now);
    }

    #[test]
    fn mutated_sample_feeds_never_panic(
        which in 0..FEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
        now in 1_700_000_000i64..1_900_000_000,
    ) {
        let text = mutations.iter().fold(FEEDS[which].to_string(), apply);
        run_all(&text, now);
    }

    #[test]
    fn events_with_random_fields_never_panic(
        dtstart in field_value(),
        dtend in field_value(),
        duration in field_value(),
        tzid in prop_oneof!["\\PC{0,20}", Just("Europe/Paris".to_string()), Just("Romance Standard Time".to_string())],
        value_date in any::<bool>(),
        summary in "\\PC{0,60}",
        description in "(\\PC|\\\\n|\\\\,|Phone: \\+?[0-9 ()\\-]{0,20}){0,20}",
        now in 1_700_000_000i64..1_900_000_000,
    ) {
        let v = if value_date { ";VALUE=DATE" } else { "" };
        let text = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART{v};TZID={tzid}:{dtstart}\r\n\
             DTEND{v}:{dtend}\r\nDURATION:{duration}\r\nSUMMARY:{summary}\r\n\
             DESCRIPTION:{description}\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:w\r\n\
             DTSTART:{dtstart}\r\nDURATION:{duration}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        run_all(&text, now);
    }
}

#[test]
fn huge_values_and_many_events_are_fine() {
    let long = "x".repeat(2_000_000);
    let text = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:{long}\r\nDTSTART;VALUE=DATE:20260302\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let f = parse_feed(&text).unwrap();
    assert_eq!(f.events.len(), 1);
    assert!(f.events[0].guest_name.as_ref().unwrap().chars().count() <= 100);
}
