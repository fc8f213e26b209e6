//! A Recurring Guest's schedule as the database keeps it: JSON in `members.schedule` and
//! `invitations.schedule`. It has its own type, not the API's model (`latchkey_client::model`),
//! so the API can change without changing what is stored. The JSON is what the API's model
//! wrote when both were the same (day names, `HH:MM`, dates), so existing rows read unchanged.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, StoreError};
use crate::domain::types::{DAY_NAMES, Schedule, WeeklyWindow, format_minute, parse_minute};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredSchedule {
    windows: Vec<StoredWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredWindow {
    /// `mon` .. `sun`.
    days: Vec<String>,
    /// `HH:MM`.
    from: String,
    /// `HH:MM`, `24:00` for the end of the day.
    to: String,
}

impl StoredSchedule {
    /// The JSON text of a schedule.
    pub(super) fn encode(s: &Schedule) -> String {
        let stored = StoredSchedule {
            windows: s
                .windows
                .iter()
                .map(|w| StoredWindow {
                    days: w.day_names(),
                    from: format_minute(w.from),
                    to: format_minute(w.to),
                })
                .collect(),
            valid_from: s.valid_from.map(|d| d.to_string()),
            valid_until: s.valid_until.map(|d| d.to_string()),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// A schedule from its JSON text.
    pub(super) fn decode(text: &str) -> std::result::Result<Schedule, String> {
        let stored: StoredSchedule = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut windows = Vec::with_capacity(stored.windows.len());
        for w in &stored.windows {
            let mut days = 0u8;
            for d in &w.days {
                let bit = DAY_NAMES
                    .iter()
                    .position(|n| n == d)
                    .ok_or_else(|| format!("'{d}' is not a day"))?;
                days |= 1 << bit;
            }
            let minute = |t: &str, end: bool| parse_minute(t, end).ok_or_else(|| format!("'{t}' is not a time"));
            windows.push(WeeklyWindow {
                days,
                from: minute(&w.from, false)?,
                to: minute(&w.to, true)?,
            });
        }
        let date = |d: &Option<String>| -> std::result::Result<Option<Date>, String> {
            d.as_deref()
                .map(|t| t.parse::<Date>().map_err(|_| format!("'{t}' is not a date")))
                .transpose()
        };
        Ok(Schedule {
            windows,
            valid_from: date(&stored.valid_from)?,
            valid_until: date(&stored.valid_until)?,
        })
    }
}

/// The `schedule` column of a row.
pub(super) fn schedule(r: &AnyRow) -> Result<Option<Schedule>> {
    let text: Option<String> = r.try_get("schedule")?;
    text.map(|t| StoredSchedule::decode(&t).map_err(|e| StoreError::Corrupt(format!("schedule: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_read_back_as_written_and_as_earlier_versions_wrote_them() {
        let s = Schedule {
            windows: vec![
                WeeklyWindow {
                    days: 0b000_0010,
                    from: 9 * 60,
                    to: 12 * 60 + 30,
                },
                WeeklyWindow {
                    days: 0b001_0000,
                    from: 22 * 60,
                    to: 2 * 60,
                },
            ],
            valid_from: Some("2027-01-01".parse().unwrap()),
            valid_until: None,
        };
        let text = StoredSchedule::encode(&s);
        assert_eq!(StoredSchedule::decode(&text).unwrap(), s);
        // What the API's model wrote before the stored form had a type of its own.
        let earlier = r#"{"windows":[{"days":["tue"],"from":"09:00","to":"12:30"},{"days":["fri"],"from":"22:00","to":"02:00"}],"valid_from":"2027-01-01"}"#;
        assert_eq!(text, earlier);
        assert_eq!(StoredSchedule::decode(earlier).unwrap(), s);
        assert!(StoredSchedule::decode(r#"{"windows":[{"days":["funday"],"from":"09:00","to":"10:00"}]}"#).is_err());
        assert!(StoredSchedule::decode("not json").is_err());
    }
}
