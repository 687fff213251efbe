//! Allowed-hours calendar (see SPEC §2 `window`).
//!
//! A [`WindowSpec`] is the JSON shape a client sends; [`Window`] is its validated form. An instant
//! is allowed when its wall-clock time in the window's zone (or the contact's, when the window
//! says so and the contact has one) lies in one of the ranges of its local date: the date's
//! exception when there is one, else its weekday's ranges. Ranges are half-open.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Day keys of [`WindowSpec::days`], Monday first.
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const MINUTES_PER_DAY: u16 = 24 * 60;

/// The JSON shape of a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub time_zone: String,
    #[serde(default)]
    pub use_contact_time_zone: bool,
    #[serde(default)]
    pub days: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
}

/// One dated exception; `ranges: []` closes the whole date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionSpec {
    pub date: String,
    #[serde(default)]
    pub ranges: Vec<[String; 2]>,
}

/// Half-open minutes of a day.
type Span = (u16, u16);

/// A validated allowed-hours calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct Window {
    zone: Tz,
    use_contact_time_zone: bool,
    weekly: [Vec<Span>; 7],
    exceptions: BTreeMap<NaiveDate, Vec<Span>>,
}

/// The problems of an invalid [`WindowSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidWindow(pub Vec<FieldError>);

impl fmt::Display for InvalidWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for InvalidWindow {}

impl TryFrom<WindowSpec> for Window {
    type Error = InvalidWindow;

    fn try_from(spec: WindowSpec) -> Result<Self, Self::Error> {
        Window::from_spec(&spec).map_err(InvalidWindow)
    }
}

impl From<Window> for WindowSpec {
    fn from(window: Window) -> Self {
        window.to_spec()
    }
}

fn parse_minute(raw: &str, allow_24: bool) -> Option<u16> {
    if allow_24 && raw == "24:00" {
        return Some(MINUTES_PER_DAY);
    }
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn format_minute(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn parse_ranges(field: &str, ranges: &[[String; 2]], errors: &mut Vec<FieldError>) -> Vec<Span> {
    let mut spans = Vec::with_capacity(ranges.len());
    for (i, [start, end]) in ranges.iter().enumerate() {
        let (Some(s), Some(e)) = (parse_minute(start, false), parse_minute(end, true)) else {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "must be a pair of \"HH:MM\" times (\"24:00\" may end a range)",
            ));
            continue;
        };
        if s >= e {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "must start before it ends",
            ));
            continue;
        }
        spans.push((s, e));
    }
    spans.sort_unstable();
    spans
}

impl Window {
    pub fn from_spec(spec: &WindowSpec) -> Result<Window, Vec<FieldError>> {
        let mut errors = Vec::new();
        let zone = match spec.time_zone.parse::<Tz>() {
            Ok(zone) => zone,
            Err(_) => {
                errors.push(FieldError::new(
                    "time_zone",
                    "must be an IANA time zone such as America/Sao_Paulo",
                ));
                Tz::UTC
            }
        };
        let mut weekly: [Vec<Span>; 7] = Default::default();
        for (day, ranges) in &spec.days {
            match DAY_KEYS.iter().position(|k| k == day) {
                Some(index) => {
                    weekly[index] = parse_ranges(&format!("days.{day}"), ranges, &mut errors)
                }
                None => errors.push(FieldError::new(
                    format!("days.{day}"),
                    "must be one of mon, tue, wed, thu, fri, sat, sun",
                )),
            }
        }
        let mut exceptions = BTreeMap::new();
        for (i, exception) in spec.exceptions.iter().enumerate() {
            let ranges = parse_ranges(
                &format!("exceptions[{i}].ranges"),
                &exception.ranges,
                &mut errors,
            );
            match NaiveDate::parse_from_str(&exception.date, "%Y-%m-%d") {
                Ok(date) => {
                    if exceptions.insert(date, ranges).is_some() {
                        errors.push(FieldError::new(
                            format!("exceptions[{i}].date"),
                            "appears twice",
                        ));
                    }
                }
                Err(_) => errors.push(FieldError::new(
                    format!("exceptions[{i}].date"),
                    "must be a date YYYY-MM-DD",
                )),
            }
        }
        if errors.is_empty() {
            Ok(Window {
                zone,
                use_contact_time_zone: spec.use_contact_time_zone,
                weekly,
                exceptions,
            })
        } else {
            Err(errors)
        }
    }

    pub fn to_spec(&self) -> WindowSpec {
        let ranges = |spans: &[Span]| -> Vec<[String; 2]> {
            spans
                .iter()
                .map(|&(s, e)| [format_minute(s), format_minute(e)])
                .collect()
        };
        WindowSpec {
            time_zone: self.zone.name().to_string(),
            use_contact_time_zone: self.use_contact_time_zone,
            days: DAY_KEYS
                .iter()
                .zip(self.weekly.iter())
                .filter(|(_, spans)| !spans.is_empty())
                .map(|(key, spans)| (key.to_string(), ranges(spans)))
                .collect(),
            exceptions: self
                .exceptions
                .iter()
                .map(|(date, spans)| ExceptionSpec {
                    date: date.format("%Y-%m-%d").to_string(),
                    ranges: ranges(spans),
                })
                .collect(),
        }
    }

    fn zone_for(&self, contact_tz: Option<Tz>) -> Tz {
        match contact_tz {
            Some(tz) if self.use_contact_time_zone => tz,
            _ => self.zone,
        }
    }

    fn spans_on(&self, date: NaiveDate) -> &[Span] {
        self.exceptions.get(&date).map_or_else(
            || self.weekly[date.weekday().num_days_from_monday() as usize].as_slice(),
            Vec::as_slice,
        )
    }

    pub fn is_allowed(&self, at: DateTime<Utc>, contact_tz: Option<Tz>) -> bool {
        let local = at.with_timezone(&self.zone_for(contact_tz)).naive_local();
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.spans_on(local.date())
            .iter()
            .any(|&(s, e)| s <= minute && minute < e)
    }

    /// The first allowed instant at or after `from`, within about two years; `None` when the
    /// window never opens in that time.
    pub fn next_allowed(
        &self,
        from: DateTime<Utc>,
        contact_tz: Option<Tz>,
    ) -> Option<DateTime<Utc>> {
        if self.is_allowed(from, contact_tz) {
            return Some(from);
        }
        let zone = self.zone_for(contact_tz);
        let start_date = from.with_timezone(&zone).date_naive();
        for offset in 0..=800 {
            let date = start_date + TimeDelta::days(offset);
            for &(start, _) in self.spans_on(date) {
                let time =
                    NaiveTime::from_hms_opt(u32::from(start / 60), u32::from(start % 60), 0)?;
                let mut wall = date.and_time(time);
                // A start inside a daylight-saving gap opens at the first instant after it.
                let mut instant = None;
                for _ in 0..=180 {
                    if let Some(t) = zone.from_local_datetime(&wall).earliest() {
                        instant = Some(t.with_timezone(&Utc));
                        break;
                    }
                    wall += TimeDelta::minutes(1);
                }
                if let Some(t) = instant {
                    if t >= from && self.is_allowed(t, contact_tz) {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(json: &str) -> Window {
        Window::from_spec(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn ranges_are_half_open_in_the_window_zone() {
        let w =
            window(r#"{"time_zone": "America/Sao_Paulo", "days": {"mon": [["09:00", "18:00"]]}}"#);
        // 2030-01-07 is a Monday; São Paulo is UTC-3.
        let at = |h, m| Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).unwrap();
        assert!(!w.is_allowed(at(11, 59), None));
        assert!(w.is_allowed(at(12, 0), None));
        assert!(w.is_allowed(at(20, 59), None));
        assert!(!w.is_allowed(at(21, 0), None));
        assert_eq!(
            w.next_allowed(at(22, 0), None),
            Some(Utc.with_ymd_and_hms(2030, 1, 14, 12, 0, 0).unwrap())
        );
    }

    #[test]
    fn exceptions_replace_the_weekday() {
        let w = window(
            r#"{"time_zone": "UTC", "days": {"mon": [["00:00", "24:00"]]},
                "exceptions": [{"date": "2030-01-07", "ranges": []}]}"#,
        );
        assert!(!w.is_allowed(Utc.with_ymd_and_hms(2030, 1, 7, 10, 0, 0).unwrap(), None));
        assert!(w.is_allowed(Utc.with_ymd_and_hms(2030, 1, 14, 10, 0, 0).unwrap(), None));
    }

    #[test]
    fn invalid_specs_name_their_fields() {
        let spec: WindowSpec = serde_json::from_str(
            r#"{"time_zone": "Mars/Base", "days": {"xyz": [], "mon": [["10:00", "09:00"]]}}"#,
        )
        .unwrap();
        let fields: Vec<String> = Window::from_spec(&spec)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["time_zone", "days.mon[0]", "days.xyz"]);
    }
}
