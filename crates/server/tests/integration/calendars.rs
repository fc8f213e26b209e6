//! Rental calendars (issue 17) end to end through the API, on SQLite and PostgreSQL, against a
//! local feed server: reservations become keys at check-in/check-out in the lock's zone (DST
//! nights in Europe/Paris and America/New_York, stays over 7 days, overlapping stays), moved
//! stays keep their code, cancelled ones are revoked, a feed that fails, does not parse, is too
//! large, times out or suddenly lists nothing changes nothing, `ETag` reads write nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use latchkey_client::model as m;

use crate::kit::{self, Backend, Harness, eventually, status};

/// What the feed server answers.
#[derive(Clone, Default)]
struct Feed {
    body: Arc<Mutex<String>>,
    status: Arc<Mutex<Option<StatusCode>>>,
    etag: Arc<Mutex<Option<String>>>,
    delay: Arc<Mutex<Option<Duration>>>,
    /// Bytes to answer instead of `body` (the 5 MB feed).
    big: Arc<Mutex<Option<usize>>>,
    hits: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

impl Feed {
    fn set(&self, events: &[Ev]) {
        *self.body.lock().unwrap() = ics(events);
    }
}

async fn answer(State(f): State<Feed>, headers: HeaderMap) -> Response {
    f.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *f.delay.lock().unwrap();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(s) = *f.status.lock().unwrap() {
        return s.into_response();
    }
    if let Some(n) = *f.big.lock().unwrap() {
        return ([(header::CONTENT_TYPE, "text/calendar")], "X".repeat(n)).into_response();
    }
    let etag = f.etag.lock().unwrap().clone();
    if let Some(tag) = &etag
        && headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str())
    {
        f.not_modified.fetch_add(1, Ordering::SeqCst);
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = f.body.lock().unwrap().clone();
    let mut resp = ([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response();
    if let Some(tag) = etag {
        resp.headers_mut().insert(header::ETAG, tag.parse().unwrap());
    }
    resp
}

async fn feed_server() -> (Feed, String) {
    let feed = Feed::default();
    let app = Router::new()
        .route("/listing.ics", get(answer))
        .with_state(feed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (feed, format!("http://{addr}/listing.ics"))
}

/// One event of a test feed: uid, first day, departure day (all-day, `DTEND` exclusive),
/// summary, description.
type Ev = (&'static str, &'static str, &'static str, &'static str, &'static str);

/// An Airbnb-shaped export.
fn ics(events: &[Ev]) -> String {
    let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n");
    for (uid, start, end, summary, desc) in events {
        out += &format!(
            "BEGIN:VEVENT\r\nDTSTAMP:20270101T000000Z\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{start}\r\n\
             DTEND;VALUE=DATE:{end}\r\nSUMMARY:{summary}\r\n"
        );
        if !desc.is_empty() {
            out += &format!("DESCRIPTION:{desc}\r\n");
        }
        out += "END:VEVENT\r\n";
    }
    out + "END:VCALENDAR\r\n"
}

fn new_calendar(url: &str, check_in: &str, check_out: &str) -> m::CreateCalendar {
    m::CreateCalendar {
        url: url.to_string(),
        name: Some("Listing 42".into()),
        check_in: check_in.into(),
        check_out: check_out.into(),
    }
}

/// The lock's calendar-made keys by UID (the newest key of each).
async fn keys(c: &latchkey_client::Client, lock: &str) -> std::collections::BTreeMap<String, m::GuestKey> {
    let mut out = std::collections::BTreeMap::new();
    let mut all = c.guest_keys(lock).await.unwrap();
    all.reverse(); // oldest first, so the newest of a UID wins
    for k in all {
        if let Some(s) = &k.source {
            out.insert(s.uid.clone(), k);
        }
    }
    out
}

fn utc(s: &str) -> Timestamp {
    s.parse::<Timestamp>().unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn reservations_become_keys(b: Backend) {
    let h = Harness::start(b).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    feed.set(&[
        (
            "res-A@example",
            "20270705",
            "20270708",
            "Reserved - Alice Martin",
            "Phone: +33 6 12 34 56 78\\nGuests: 2",
        ),
        (
            "res-B@example",
            "20270709",
            "20270711",
            "Reserved - Bruno Costa",
            "Guests: 1",
        ),
        ("blk-1@example", "20270712", "20270715", "Airbnb (Not available)", ""),
    ]);
    let cal = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    assert_eq!(cal.last_error, None, "{cal:?}");
    assert!(cal.last_synced_at.is_some());
    assert_eq!(cal.reservations.len(), 2, "{cal:?}");
    let ks = keys(&admin.client, &lock.id).await;
    assert_eq!(ks.len(), 2, "{ks:?}");
    assert!(!ks.contains_key("blk-1@example"));
    let a = &ks["res-A@example"];
    assert_eq!(a.name, "Alice Martin");
    assert_eq!(utc(&a.starts_at), utc("2027-07-05T13:00:00Z"));
    assert_eq!(utc(&a.ends_at), utc("2027-07-08T09:00:00Z"));
    assert_eq!(a.source.as_ref().unwrap().calendar_id, cal.id);
    assert_ne!(a.code, ks["res-B@example"].code);
    let sms = h.next_sms("+33612345678", 0).await;
    assert!(sms.body.contains(&a.code), "{}", sms.body);

    // Extend Alice (keeps her code), drop Bruno (revoked), add Chen.
    feed.set(&[
        (
            "res-A@example",
            "20270705",
            "20270709",
            "Reserved - Alice Martin",
            "Phone: +33 6 12 34 56 78",
        ),
        ("res-C@example", "20270710", "20270712", "Reserved - Chen Wei", ""),
    ]);
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.added, r.changed, r.cancelled, r.error.as_deref()), (1, 1, 1, None));
    let ks = keys(&admin.client, &lock.id).await;
    assert_eq!(ks["res-A@example"].code, a.code, "an extended stay keeps its code");
    assert_eq!(utc(&ks["res-A@example"].ends_at), utc("2027-07-09T09:00:00Z"));
    assert_eq!(ks["res-B@example"].status, m::GuestKeyStatus::Revoked);
    assert_eq!(ks["res-C@example"].status, m::GuestKeyStatus::Scheduled);
    assert_eq!(h.sms_to("+33612345678").len(), 1, "no second SMS when the code is kept");

    // Broken feeds change nothing and say why.
    let before = keys(&admin.client, &lock.id).await;
    let same = |k: &std::collections::BTreeMap<String, m::GuestKey>| {
        k.iter()
            .map(|(u, k)| (u.clone(), k.id.clone(), k.status, k.ends_at.clone()))
            .collect::<Vec<_>>()
    };
    *feed.status.lock().unwrap() = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("500"), "{r:?}");
    *feed.status.lock().unwrap() = None;
    *feed.body.lock().unwrap() = "<html>Please sign in</html>".into();
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert!(r.error.is_some(), "{r:?}");
    feed.set(&[]);
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("no reservations"), "{r:?}");
    assert_eq!(same(&keys(&admin.client, &lock.id).await), same(&before));
    let cals = admin.client.calendars(&lock.id).await.unwrap();
    assert!(cals[0].last_error.as_deref().unwrap().contains("no reservations"));
    let events = admin.client.events(&lock.id, None, None).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "calendar_failing"), "{events:?}");
    // The Admin is told by SMS, once for three failures within 10 minutes.
    let told = |sms: &[kit::Sms]| {
        sms.iter()
            .filter(|m| m.body.contains("cannot be read") && m.body.contains("Flat"))
            .count()
    };
    eventually("the Admin's calendar-failing SMS", || async {
        (told(&h.sms_to(&admin.phone)) >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(told(&h.sms_to(&admin.phone)), 1, "{:?}", h.sms_to(&admin.phone));

    // An explicit cancellation is believed.
    feed.set(&[
        ("res-A@example", "20270705", "20270709", "Reserved - Alice Martin", ""),
        ("res-C@example", "20270710", "20270712", "Reserved - Chen Wei", ""),
    ]);
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.added, r.changed, r.cancelled, r.error), (0, 0, 0, None));
    *feed.body.lock().unwrap() = ics(&[
        ("res-A@example", "20270705", "20270709", "Reserved - Alice Martin", ""),
        ("res-C@example", "20270710", "20270712", "Reserved - Chen Wei", ""),
    ])
    .replace(
        "SUMMARY:Reserved - Chen Wei",
        "SUMMARY:Reserved - Chen Wei\r\nSTATUS:CANCELLED",
    );
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.cancelled, r.error), (1, None));

    // A person's revocation is never undone by the calendar.
    let alice = keys(&admin.client, &lock.id).await["res-A@example"].clone();
    admin.client.revoke_guest_key(&lock.id, &alice.id).await.unwrap();
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.added, r.error), (0, None));

    // Deleting the calendar revokes its future keys.
    feed.set(&[("res-D@example", "20270801", "20270805", "Reserved - Dana", "")]);
    admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!(
        keys(&admin.client, &lock.id).await["res-D@example"].status,
        m::GuestKeyStatus::Scheduled
    );
    admin.client.delete_calendar(&lock.id, &cal.id).await.unwrap();
    assert!(admin.client.calendars(&lock.id).await.unwrap().is_empty());
    assert_eq!(
        keys(&admin.client, &lock.id).await["res-D@example"].status,
        m::GuestKeyStatus::Revoked
    );
    assert_eq!(status(admin.client.sync_calendar(&lock.id, &cal.id).await), 404);
    h.stop().await;
}

async fn bad_input_and_access(b: Backend) {
    let h = Harness::start(b).await;
    let admin = h.user("Host").await;
    let other = h.user("Other").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    for (url, ci, co, field) in [
        ("ftp://example.com/x.ics", "15:00", "11:00", "url"),
        ("not a url", "15:00", "11:00", "url"),
        ("http://169.254.169.254/latest", "15:00", "11:00", "url"),
        ("http://example.com/x.ics", "3pm", "11:00", "check_in"),
        ("http://example.com/x.ics", "15:00", "25:00", "check_out"),
    ] {
        let r = admin.client.create_calendar(&lock.id, &new_calendar(url, ci, co)).await;
        assert_eq!(
            crate::kit::invalid_fields(r),
            vec![field.to_string()],
            "{url} {ci} {co}"
        );
    }
    let (_feed, url) = feed_server().await;
    assert_eq!(
        status(
            other
                .client
                .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
                .await
        ),
        404
    );
    assert_eq!(status(other.client.calendars(&lock.id).await), 404);
    h.stop().await;
}

async fn etag_reads_write_nothing(b: Backend) {
    let h = Harness::start(b).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    *feed.etag.lock().unwrap() = Some("\"v1\"".into());
    feed.set(&[("res-A@example", "20270705", "20270708", "Reserved - Alice", "")]);
    let cal = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    let changes = h.gateway.changes.load(Ordering::SeqCst);
    let events = admin.client.events(&lock.id, None, None).await.unwrap().len();
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.added, r.changed, r.cancelled, r.unchanged), (0, 0, 0, 1));
    assert_eq!(
        feed.not_modified.load(Ordering::SeqCst),
        1,
        "the second read was conditional"
    );
    // Without an ETag the unchanged body is read again, and still nothing is written.
    *feed.etag.lock().unwrap() = None;
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.added, r.changed, r.cancelled, r.unchanged), (0, 0, 0, 1));
    assert_eq!(
        h.gateway.changes.load(Ordering::SeqCst),
        changes,
        "the lock was not told anything"
    );
    assert_eq!(admin.client.events(&lock.id, None, None).await.unwrap().len(), events);
    assert_eq!(feed.hits.load(Ordering::SeqCst), 3);
    h.stop().await;
}

async fn slow_and_huge_feeds_are_refused(b: Backend) {
    let h = Harness::start_with(b, |c| c.outbound_fetch_timeout = Duration::from_millis(700)).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    feed.set(&[("res-A@example", "20270705", "20270708", "Reserved - Alice", "")]);
    let cal = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    let before = keys(&admin.client, &lock.id).await;
    assert_eq!(before.len(), 1);

    *feed.delay.lock().unwrap() = Some(Duration::from_secs(3));
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("within"), "{r:?}");
    *feed.delay.lock().unwrap() = None;

    *feed.big.lock().unwrap() = Some(5_000_000);
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    let e = r.error.unwrap();
    assert!(e.contains("larger than the limit"), "{e}");
    let cals = admin.client.calendars(&lock.id).await.unwrap();
    assert_eq!(cals[0].last_error.as_deref(), Some(e.as_str()));
    let after = keys(&admin.client, &lock.id).await;
    assert_eq!(after["res-A@example"].status, before["res-A@example"].status);
    assert_eq!(after.len(), 1);
    h.stop().await;
}

/// DST nights, a stay over 7 days, overlapping stays, a check-in inside the spring gap.
async fn windows_in_the_locks_zone(b: Backend) {
    let h = Harness::start(b).await;
    h.clock.set("2027-03-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let paris = h.pair(&admin, "Paris flat", "Europe/Paris").await;
    let ny = h.pair(&admin, "NY loft", "America/New_York").await;
    let (pf, purl) = feed_server().await;
    pf.set(&[
        // Spring forward (28 March 2027): 15:00 CET in, 11:00 CEST out.
        ("spring@p", "20270327", "20270329", "Reserved - Spring", ""),
        // Fall back (31 October 2027): 15:00 CEST in, 11:00 CET out.
        ("autumn@p", "20271030", "20271101", "Reserved - Autumn", ""),
        // Ten nights, longer than an offline code can carry.
        ("long@p", "20270401", "20270411", "Reserved - Long Stay", ""),
        // Overlapping the long stay.
        ("overlap@p", "20270405", "20270407", "Reserved - Overlap", ""),
    ]);
    let pc = admin
        .client
        .create_calendar(&paris.id, &new_calendar(&purl, "15:00", "11:00"))
        .await
        .unwrap();
    assert_eq!(pc.last_error, None);
    let ks = keys(&admin.client, &paris.id).await;
    let window = |uid: &str| (utc(&ks[uid].starts_at), utc(&ks[uid].ends_at));
    assert_eq!(
        window("spring@p"),
        (utc("2027-03-27T14:00:00Z"), utc("2027-03-29T09:00:00Z"))
    );
    assert_eq!(
        window("autumn@p"),
        (utc("2027-10-30T13:00:00Z"), utc("2027-11-01T10:00:00Z"))
    );
    assert_eq!(
        window("long@p"),
        (utc("2027-04-01T13:00:00Z"), utc("2027-04-11T09:00:00Z"))
    );
    assert_eq!(
        window("overlap@p"),
        (utc("2027-04-05T13:00:00Z"), utc("2027-04-07T09:00:00Z"))
    );
    let codes: std::collections::HashSet<_> = ks.values().map(|k| k.code.clone()).collect();
    assert_eq!(codes.len(), 4, "two reservations never share a code");

    let (nf, nurl) = feed_server().await;
    nf.set(&[
        // Spring forward (14 March 2027) and fall back (7 November 2027).
        ("spring@n", "20270313", "20270315", "Reserved - Spring", ""),
        ("autumn@n", "20271106", "20271108", "Reserved - Autumn", ""),
    ]);
    admin
        .client
        .create_calendar(&ny.id, &new_calendar(&nurl, "15:00", "11:00"))
        .await
        .unwrap();
    let ks = keys(&admin.client, &ny.id).await;
    let window = |uid: &str| (utc(&ks[uid].starts_at), utc(&ks[uid].ends_at));
    assert_eq!(
        window("spring@n"),
        (utc("2027-03-13T20:00:00Z"), utc("2027-03-15T15:00:00Z"))
    );
    assert_eq!(
        window("autumn@n"),
        (utc("2027-11-06T19:00:00Z"), utc("2027-11-08T16:00:00Z"))
    );

    // A check-in time that does not exist on the spring night is the end of the gap.
    let (gf, gurl) = feed_server().await;
    gf.set(&[("gap@p", "20270328", "20270330", "Reserved - Night Owl", "")]);
    let gap = h.pair(&admin, "Paris studio", "Europe/Paris").await;
    admin
        .client
        .create_calendar(&gap.id, &new_calendar(&gurl, "02:30", "11:00"))
        .await
        .unwrap();
    let ks = keys(&admin.client, &gap.id).await;
    assert_eq!(utc(&ks["gap@p"].starts_at), utc("2027-03-28T01:00:00Z"));
    h.stop().await;
}

/// An Airbnb-shaped export of `n` reservations, two nights every three days from 2027-07-02,
/// with folded descriptions and a block after every fifth stay (the bench's shape).
fn big_feed(n: usize) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n");
    let first = jiff::civil::date(2027, 7, 2);
    for i in 0..n {
        let start = first.checked_add(jiff::Span::new().days(i as i64 * 3)).unwrap();
        let end = start.checked_add(jiff::Span::new().days(2)).unwrap();
        let (s8, e8) = (start.strftime("%Y%m%d"), end.strftime("%Y%m%d"));
        s += &format!(
            "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{e8}\r\nDTSTART;VALUE=DATE:{s8}\r\nUID:res-{i}@airbnb.com\r\n\
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

/// What a read could have written: the lock's version, every row of the calendar's keys (all
/// columns), the newest activity-log entry, the SMS sent.
async fn written(h: &Harness, admin: &kit::User, lock: &str, cal: &str) -> (i64, String, Option<String>, usize) {
    let d = &h.server.as_ref().unwrap().domain;
    let mut c = d.store.read().await.unwrap();
    let version = latchkey_server::store::lock_by_id(&mut c, lock)
        .await
        .unwrap()
        .unwrap()
        .version;
    let keys = latchkey_server::store::calendar_keys(&mut c, cal).await.unwrap();
    drop(c);
    let newest = admin
        .client
        .events(lock, Some(1), None)
        .await
        .unwrap()
        .first()
        .map(|e| e.id.clone());
    (version, format!("{keys:?}"), newest, h.outbox().len())
}

/// A 500-reservation feed (the spec's size) read a second time unchanged, without an `ETag`
/// (so fetched, parsed and reconciled again), writes nothing: no key row, no lock version, no
/// activity-log entry, no SMS, nothing told to the lock.
async fn an_unchanged_read_of_500_reservations_writes_nothing(b: Backend) {
    let h = Harness::start(b).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    *feed.body.lock().unwrap() = big_feed(500);
    let cal = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    assert_eq!((cal.reservations.len(), cal.last_error.as_deref()), (500, None));
    let codes: std::collections::HashSet<_> = keys(&admin.client, &lock.id)
        .await
        .values()
        .map(|k| k.code.clone())
        .collect();
    assert_eq!(codes.len(), 500, "two reservations never share a code");
    let before = written(&h, &admin, &lock.id, &cal.id).await;
    let changes = h.gateway.changes.load(Ordering::SeqCst);
    for _ in 0..2 {
        let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
        assert_eq!(
            (r.added, r.changed, r.cancelled, r.unchanged, r.error),
            (0, 0, 0, 500, None)
        );
        assert!(
            written(&h, &admin, &lock.id, &cal.id).await == before,
            "an unchanged read wrote something"
        );
    }
    assert_eq!(
        h.gateway.changes.load(Ordering::SeqCst),
        changes,
        "the lock was told a change"
    );
    assert_eq!(feed.hits.load(Ordering::SeqCst), 3);
    h.stop().await;
}

on_both_backends!(
    reservations_become_keys,
    bad_input_and_access,
    etag_reads_write_nothing,
    slow_and_huge_feeds_are_refused,
    windows_in_the_locks_zone,
    an_unchanged_read_of_500_reservations_writes_nothing,
    the_calendar_screen,
);

/// A calendar's revocations respect the lock's list of revoked codes like a person's (issue
/// 16): when it is full, a cancelled reservation's key is kept (and the next read tries
/// again) and deleting the calendar is refused with 409, changing nothing.
#[tokio::test]
async fn calendar_revocations_respect_the_deny_list() {
    let h = Harness::start(Backend::Sqlite).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    *feed.body.lock().unwrap() = big_feed(500);
    let cal = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    // A person revokes all but the last two, and keys of their own until the lock's list of
    // revoked codes is full.
    let ks = keys(&admin.client, &lock.id).await;
    let kept = ["res-498@airbnb.com", "res-499@airbnb.com"];
    for (uid, k) in &ks {
        if !kept.contains(&uid.as_str()) {
            admin.client.revoke_guest_key(&lock.id, &k.id).await.unwrap();
        }
    }
    let cap = admin.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    let denies = cap.revoked_codes.unwrap();
    assert_eq!(denies.used, 498, "{cap:?}");
    for i in 0..(denies.max - denies.used) {
        let k = admin
            .client
            .create_guest_key(
                &lock.id,
                &kit::guest_key(
                    &format!("Guest {i}"),
                    None,
                    &format!("2027-07-{:02}T15:00", 5 + i),
                    &format!("2027-07-{:02}T11:00", 7 + i),
                ),
            )
            .await
            .unwrap();
        admin.client.revoke_guest_key(&lock.id, &k.id).await.unwrap();
    }
    let cap = admin.client.lock(&lock.id).await.unwrap().capacity.unwrap();
    let denies = cap.revoked_codes.unwrap();
    assert_eq!(denies.used, denies.max, "{cap:?}");

    // Reservation 499 is cancelled: its key cannot be denied, so it is kept.
    *feed.body.lock().unwrap() = big_feed(500).replace(
        "UID:res-499@airbnb.com\r\nDESCRIPTION",
        "UID:res-499@airbnb.com\r\nSTATUS:CANCELLED\r\nDESCRIPTION",
    );
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.cancelled, r.error.as_deref()), (0, None), "{r:?}");
    let ks = keys(&admin.client, &lock.id).await;
    assert_eq!(ks["res-499@airbnb.com"].status, m::GuestKeyStatus::Scheduled);

    // Deleting the calendar would need two more deny entries: 409, nothing changed.
    let r = admin.client.delete_calendar(&lock.id, &cal.id).await;
    let text = format!("{r:?}");
    assert_eq!(status(r), 409, "{text}");
    assert!(text.contains("revoked codes is full"), "{text}");
    assert_eq!(admin.client.calendars(&lock.id).await.unwrap().len(), 1);
    assert_eq!(
        keys(&admin.client, &lock.id).await["res-498@airbnb.com"].status,
        m::GuestKeyStatus::Scheduled
    );

    // Once revoked codes' windows have ended there is room: the cancellation goes through.
    h.clock.set("2027-07-25T08:00:00Z".parse().unwrap());
    let r = admin.client.sync_calendar(&lock.id, &cal.id).await.unwrap();
    assert_eq!((r.cancelled, r.error.as_deref()), (1, None), "{r:?}");
    h.stop().await;
}

/// The same feed twice on one lock would give each reservation two keys: refused (409).
#[tokio::test]
async fn the_same_feed_twice_on_a_lock_is_refused() {
    let h = Harness::start(Backend::Sqlite).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let (feed, url) = feed_server().await;
    feed.set(&[("res-A@example", "20270705", "20270708", "Reserved - Alice", "")]);
    admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "15:00", "11:00"))
        .await
        .unwrap();
    let r = admin
        .client
        .create_calendar(&lock.id, &new_calendar(&url, "16:00", "10:00"))
        .await;
    let text = format!("{r:?}");
    assert_eq!(status(r), 409, "{text}");
    assert!(text.contains("already reads this calendar"), "{text}");
    assert_eq!(keys(&admin.client, &lock.id).await.len(), 1);
    h.stop().await;
}

/// One instance reads feeds at a time: the lease goes to the first holder until it runs out.
#[tokio::test]
async fn one_reader_at_a_time() {
    let h = Harness::start(Backend::Sqlite).await;
    let d = &h.server.as_ref().unwrap().domain;
    let now = h.now();
    assert!(d.take_reader_lease("a", now, 60_000).await.unwrap());
    assert!(!d.take_reader_lease("b", now, 60_000).await.unwrap());
    assert!(
        d.take_reader_lease("a", now, 60_000).await.unwrap(),
        "the holder renews"
    );
    let later = now.checked_add(jiff::SignedDuration::from_secs(61)).unwrap();
    assert!(
        d.take_reader_lease("b", later, 60_000).await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(!d.take_reader_lease("a", later, 60_000).await.unwrap());
    h.stop().await;
}

/// A page of the web app with the session's cookies, redirects kept as answers.
async fn web(h: &Harness, token: &str, path: &str, form: Option<&[(&str, &str)]>) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}{path}", h.base);
    let req = match form {
        Some(f) => client.post(url).form(f),
        None => client.get(url),
    };
    let r = req
        .header("cookie", format!("latchkey_session={token}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, r.text().await.unwrap(), location)
}

/// The "Rental calendars" screen without a browser: Admins only (a Family member 403, a
/// stranger 404), forms need their CSRF token,
/// field errors by the field, names from feeds and people shown as text, "Read now" and a
/// removal that needs its confirmation (`browser.rs` goes through it in Chromium).
async fn the_calendar_screen(b: Backend) {
    let h = Harness::start(b).await;
    h.clock.set("2027-07-01T08:00:00Z".parse().unwrap());
    let admin = h.user("Host").await;
    let token = admin.client.token().unwrap().to_string();
    let lock = h.pair(&admin, "Flat", "Europe/Paris").await;
    let family = h.user("Fay").await;
    h.add_member(&admin, &lock.id, &family, m::AccessLevel::Family, None)
        .await;
    let (feed, url) = feed_server().await;
    feed.set(&[
        ("res-A@example", "20270705", "20270708", "Reserved - <b>Alice</b>", ""),
        ("blk-1@example", "20270712", "20270715", "Airbnb (Not available)", ""),
    ]);
    let path = format!("/locks/{}/calendars", lock.id);
    let csrf = crate::web_pages::page_csrf(&h, &token).await;

    // The lock's screen links to it for Admins only; others are told it does not exist.
    let (_, lock_page, _) = web(&h, &token, &format!("/locks/{}", lock.id), None).await;
    assert!(
        lock_page.contains(&format!("href=\"{path}\"")),
        "no link on the lock's screen"
    );
    let fay = family.client.token().unwrap().to_string();
    let (_, fay_lock, _) = web(&h, &fay, &format!("/locks/{}", lock.id), None).await;
    assert!(!fay_lock.contains(&path), "a Family member sees the calendars link");
    // A member who is not an Admin is refused, as by the API (403); a stranger is not told
    // the lock exists (404).
    assert_eq!(web(&h, &fay, &path, None).await.0, 403);
    let stranger = h.user("Stan").await;
    let stan = stranger.client.token().unwrap().to_string();
    assert_eq!(web(&h, &stan, &path, None).await.0, 404);

    let (status, body, _) = web(&h, &token, &path, None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("value=\"15:00\"") && body.contains("value=\"11:00\""),
        "default times"
    );
    assert!(body.contains("read every 15 minutes"), "the reading interval: {body}");

    // Without the CSRF token: refused. A bad URL: 422 by its field, nothing added.
    let add = [
        ("url", url.as_str()),
        ("name", "<i>Beach</i>"),
        ("check_in", "15:00"),
        ("check_out", "11:00"),
    ];
    assert_eq!(web(&h, &token, &path, Some(&add)).await.0, 403);
    let bad = [
        ("csrf", csrf.as_str()),
        ("url", "ftp://x"),
        ("check_in", "15:00"),
        ("check_out", "11:00"),
    ];
    let (status, body, _) = web(&h, &token, &path, Some(&bad)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("field-error") && body.contains("value=\"ftp://x\""),
        "{body}"
    );
    assert!(admin.client.calendars(&lock.id).await.unwrap().is_empty());

    // Added and read at once; the page lists the reservation as text.
    let mut with_csrf = vec![("csrf", csrf.as_str())];
    with_csrf.extend(add);
    let (status, _, location) = web(&h, &token, &path, Some(&with_csrf)).await;
    assert_eq!(
        (status, location.as_str()),
        (
            303,
            &*format!("{path}?done=added&added=1&changed=0&cancelled=0&unchanged=0&skipped=0")
        )
    );
    let (_, body, _) = web(&h, &token, &location, None).await;
    assert!(body.contains("Calendar added and read: 1 new"), "{body}");
    assert!(
        body.contains("Beach") && !body.contains("<i>Beach"),
        "the name is escaped"
    );
    assert!(
        body.contains("Alice") && !body.contains("<b>Alice"),
        "the guest is escaped"
    );
    assert!(!body.contains("Not available"), "a block is no reservation");
    assert!(body.contains("scheduled"), "the key's status: {body}");
    let cal = admin.client.calendars(&lock.id).await.unwrap().remove(0);

    // The same feed again: the form says why.
    let (status, body, _) = web(&h, &token, &path, Some(&with_csrf)).await;
    assert_eq!(status, 422);
    assert!(body.contains("already reads this calendar"), "{body}");

    // A failing read is shown on the page; nothing changed.
    *feed.status.lock().unwrap() = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let button = [("csrf", csrf.as_str())];
    let (status, _, location) = web(&h, &token, &format!("{path}/{}/sync", cal.id), Some(&button)).await;
    assert_eq!((status, location.as_str()), (303, &*format!("{path}?done=failed")));
    let (_, body, _) = web(&h, &token, &location, None).await;
    assert!(
        body.contains("Last read failed, nothing was changed") && body.contains("500"),
        "{body}"
    );
    *feed.status.lock().unwrap() = None;
    let (_, _, location) = web(&h, &token, &format!("{path}/{}/sync", cal.id), Some(&button)).await;
    assert!(
        location.contains("done=read&added=0&changed=0&cancelled=0&unchanged=1"),
        "{location}"
    );

    // Removing needs the box ticked; then the key is revoked.
    let (status, body, _) = web(&h, &token, &format!("{path}/{}/remove", cal.id), Some(&button)).await;
    assert_eq!(status, 422);
    assert!(body.contains("Tick the box to confirm"), "{body}");
    assert_eq!(admin.client.calendars(&lock.id).await.unwrap().len(), 1);
    let confirmed = [("csrf", csrf.as_str()), ("confirm", "on")];
    let (status, _, location) = web(&h, &token, &format!("{path}/{}/remove", cal.id), Some(&confirmed)).await;
    assert_eq!(
        (status, location.as_str()),
        (303, &*format!("{path}?done=removed&revoked=1"))
    );
    assert!(admin.client.calendars(&lock.id).await.unwrap().is_empty());
    assert_eq!(
        keys(&admin.client, &lock.id).await["res-A@example"].status,
        m::GuestKeyStatus::Revoked
    );
    h.stop().await;
}
