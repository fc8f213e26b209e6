//! Rental calendars: a holiday-rental listing's iCalendar (RFC 5545) feed read into
//! reservations, reservations planned as guest-key windows in the lock's time zone, and the
//! plan reconciled with the keys the server already has.
//!
//! Pure: no I/O and no clock. The server fetches the feed (`latchkey_server::outbound`), passes
//! `now` and the lock's zone, and applies the [`Reconciliation`] in one transaction.
//!
//! ```
//! use latchkey_calendar::{parse_feed, plan, reconcile, Safety, StayTimes};
//! let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a@example\r\n\
//!            DTSTART;VALUE=DATE:20260302\r\nDTEND;VALUE=DATE:20260305\r\n\
//!            SUMMARY:Reserved - Alice Martin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
//! let feed = parse_feed(ics).unwrap();
//! let zone = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
//! let now: jiff::Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
//! let plan = plan(&feed, StayTimes::parse("15:00", "11:00").unwrap(), &zone, now);
//! assert_eq!(plan.keys[0].label, "Alice Martin");
//! assert_eq!(plan.keys[0].window.start.to_string(), "2026-03-02T14:00:00Z");
//! assert_eq!(plan.keys[0].window.end.to_string(), "2026-03-05T10:00:00Z");
//! let todo = reconcile(&[], &plan, now, Safety::default()).unwrap();
//! assert_eq!(todo.added.len(), 1);
//! ```

pub mod feed;
pub mod plan;
pub mod reconcile;
pub mod text;
pub mod zones;

pub use feed::{EventProblem, Feed, FeedError, Kind, Reservation, Status, When, parse_feed, parse_feed_bytes};
pub use plan::{Plan, PlannedKey, Skipped, StayTimes, TimeError, Window, plan};
pub use reconcile::{
    CancelReason, Cancelled, Changed, CodeFate, CodeKind, ExistingKey, Reconciliation, RevokedBy, Safety, Suspicious,
    reconcile,
};
