//! Time: local calendar dates, the UTC offset table pushed by the server, and the clock state
//! (last known good time, trusted or not).

use heapless::Vec;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// Capacity of the offset table (entries).
pub const OFFSET_CAPACITY: usize = 32;

/// Largest UTC offset accepted, in seconds (±18 hours, as RFC 9557 / jiff allow).
pub const MAX_OFFSET_SECS: i32 = 18 * 3600;

/// A local calendar date, stored as days since 1970-01-01 (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDate(pub i32);

impl LocalDate {
    /// Builds a date from year (1..=9999), month (1..=12) and day; `None` when it does not exist.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Self> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(LocalDate(days_from_civil(year, month, day)))
    }

    /// Year, month (1..=12) and day (1..=31) of this date.
    pub fn ymd(self) -> (i32, u8, u8) {
        civil_from_days(self.0)
    }

    /// Day of the week, Matter numbering: 0 = Sunday .. 6 = Saturday.
    #[inline]
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (4).
        (i64::from(self.0) + 4).rem_euclid(7) as u8
    }

    /// The day before.
    #[inline]
    pub fn pred(self) -> Self {
        LocalDate(self.0.saturating_sub(1))
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u8, d: u8) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i32::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i32::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u8, u8) {
    let z = i64::from(z) + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = if m <= 2 { y + 1 } else { y };
    (y as i32, m, d)
}

/// One entry of the offset table: from the UTC instant `start` (Unix seconds) on, local time is
/// UTC + `offset` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetEntry {
    /// UTC instant (Unix seconds) at which this offset starts to apply.
    pub start: i64,
    /// Offset from UTC in seconds (e.g. -18000 for UTC-05:00).
    pub offset: i32,
}

/// The UTC offset table: entries sorted by strictly increasing `start`, plus the instant up to
/// which the server vouches for it. Local time is unknown before the first entry and from
/// `valid_until` on (see `docs/lock-core.md`, "Time").
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OffsetTable {
    pub(crate) entries: Vec<OffsetEntry, OFFSET_CAPACITY>,
    pub(crate) valid_until: i64,
}

/// Why an offset table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetTableError {
    /// More than [`OFFSET_CAPACITY`] entries.
    TooLong,
    /// Starts not strictly increasing, an offset beyond ±18 h, or `valid_until` not after the
    /// first start.
    Invalid,
}

impl OffsetTable {
    /// Builds a table from entries sorted by strictly increasing start, valid until
    /// `valid_until` (exclusive, UTC Unix seconds).
    pub fn new(entries: &[OffsetEntry], valid_until: i64) -> Result<Self, OffsetTableError> {
        validate_offsets(entries, valid_until)?;
        let entries = Vec::from_slice(entries).map_err(|_| OffsetTableError::TooLong)?;
        Ok(OffsetTable { entries, valid_until })
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[OffsetEntry] {
        &self.entries
    }

    /// The instant (exclusive) up to which the table is vouched for.
    pub fn valid_until(&self) -> i64 {
        self.valid_until
    }

    /// Local wall-clock seconds (UTC + offset) for `utc`, or `None` when the table does not
    /// cover `utc`.
    #[inline]
    pub fn local(&self, utc: i64) -> Option<i64> {
        if utc >= self.valid_until {
            return None;
        }
        let idx = self.entries.partition_point(|e| e.start <= utc);
        let entry = self.entries.get(idx.checked_sub(1)?)?;
        utc.checked_add(i64::from(entry.offset))
    }
}

pub(crate) fn validate_offsets(entries: &[OffsetEntry], valid_until: i64) -> Result<(), OffsetTableError> {
    if entries.len() > OFFSET_CAPACITY {
        return Err(OffsetTableError::TooLong);
    }
    let mut prev: Option<i64> = None;
    for e in entries {
        if e.offset.unsigned_abs() > MAX_OFFSET_SECS.unsigned_abs() {
            return Err(OffsetTableError::Invalid);
        }
        if prev.is_some_and(|p| e.start <= p) {
            return Err(OffsetTableError::Invalid);
        }
        prev = Some(e.start);
    }
    match entries.first() {
        Some(first) if valid_until <= first.start => Err(OffsetTableError::Invalid),
        _ => Ok(()),
    }
}

/// Whether the lock believes its clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeState {
    /// The clock is believed: set by the server since the last power loss, and never earlier
    /// than the last known good time.
    Trusted,
    /// The clock is not believed: time-bounded credentials are denied with
    /// [`crate::Reason::TimeUnknown`].
    Untrusted,
}

/// Why time became untrusted or trusted (journaled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeCause {
    /// Power-on after the real-time clock lost its time.
    RtcLost,
    /// The host clock reads earlier than the last known good time.
    Rollback,
    /// The server set the time (authenticated message).
    ServerTime,
    /// Power-on with a surviving real-time clock not earlier than the last known good time.
    RtcSurvived,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clock {
    /// Last known good time (UTC seconds): never believe a clock earlier than this.
    pub floor: i64,
    pub trusted: bool,
    /// Floor at the last save, to decide when the floor alone makes the state worth saving.
    pub saved_floor: i64,
}

impl Clock {
    pub const fn new() -> Self {
        Clock {
            floor: 0,
            trusted: false,
            saved_floor: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekday() {
        for (y, m, d, days, wd) in [
            (1970, 1, 1, 0, 4),
            (2000, 2, 29, 11_016, 2),
            (2024, 3, 10, 19_792, 0),
            (1969, 12, 31, -1, 3),
        ] {
            let date = LocalDate::from_ymd(y, m, d).unwrap();
            assert_eq!(date.0, days, "{y}-{m}-{d}");
            assert_eq!(date.ymd(), (y, m, d));
            assert_eq!(date.weekday(), wd);
        }
        assert!(LocalDate::from_ymd(2023, 2, 29).is_none());
        assert!(LocalDate::from_ymd(2023, 13, 1).is_none());
        assert!(LocalDate::from_ymd(0, 1, 1).is_none());
        for z in (-719_162..2_932_897).step_by(3) {
            let (y, m, d) = LocalDate(z).ymd();
            assert_eq!(LocalDate::from_ymd(y, m, d), Some(LocalDate(z)));
        }
    }

    #[test]
    fn offset_table_lookup_and_bounds() {
        let t = OffsetTable::new(
            &[
                OffsetEntry {
                    start: 100,
                    offset: 3600,
                },
                OffsetEntry {
                    start: 200,
                    offset: 7200,
                },
            ],
            300,
        )
        .unwrap();
        assert_eq!(t.local(99), None, "before the first entry");
        assert_eq!(t.local(100), Some(3700));
        assert_eq!(t.local(199), Some(3799));
        assert_eq!(t.local(200), Some(7400));
        assert_eq!(t.local(299), Some(7499));
        assert_eq!(t.local(300), None, "past the end");
        let bad = |e: &[OffsetEntry], v| OffsetTable::new(e, v).unwrap_err();
        let e = |start, offset| OffsetEntry { start, offset };
        assert_eq!(bad(&[e(5, 0), e(5, 0)], 10), OffsetTableError::Invalid);
        assert_eq!(bad(&[e(5, 0), e(4, 0)], 10), OffsetTableError::Invalid);
        assert_eq!(bad(&[e(5, 18 * 3600 + 1)], 10), OffsetTableError::Invalid);
        assert_eq!(bad(&[e(5, 0)], 5), OffsetTableError::Invalid);
        let many: [OffsetEntry; 33] = core::array::from_fn(|i| e(i as i64, 0));
        assert_eq!(bad(&many, 100), OffsetTableError::TooLong);
        assert_eq!(OffsetTable::default().local(0), None, "an empty table knows nothing");
    }
}
