//! Allowed-hours calendar (see SPEC §2 `window`).
//!
//! A [`WindowSpec`] is the JSON shape a client sends; [`Window`] is its validated, compact form:
//! per weekday a sorted list of half-open minute ranges, plus dated exceptions that replace the
//! weekly ranges on their date.
//!
//! An instant is allowed iff its wall-clock time in the evaluation zone, on its local date, lies in
//! one of that date's ranges. Daylight-saving transitions need no special rule under this
//! definition: wall times skipped by a spring-forward gap belong to no instant, so a range that
//! starts inside a gap opens at the first instant after it; wall times repeated by a fall-back
//! overlap belong to two instants, and both are allowed.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::common::error::FieldError;

/// Day keys of [`WindowSpec::days`], Monday first (the index is `num_days_from_monday`).
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const MINUTES_PER_DAY: u16 = 24 * 60;
const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// The JSON shape of a window:
///
/// ```json
/// {"time_zone": "America/Sao_Paulo", "use_contact_time_zone": false,
///  "days": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": [["09:00", "12:00"]]},
///  "exceptions": [{"date": "2026-12-25", "ranges": []}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "time_zone": "America/Sao_Paulo", "use_contact_time_zone": false,
    "days": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "tue": [["09:00", "18:00"]],
             "sat": [["09:00", "12:00"]]},
    "exceptions": [{"date": "2026-12-25", "ranges": []}]
})))]
pub struct WindowSpec {
    /// IANA zone the ranges are read in.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = TimeZoneName, example = "America/Sao_Paulo")
    )]
    pub time_zone: String,
    /// Read the ranges in the contact's zone instead, when the contact has one.
    #[serde(default)]
    pub use_contact_time_zone: bool,
    /// `mon`..`sun` → `[start, end)` pairs of `"HH:MM"`; `"24:00"` may end a range. A missing day
    /// is closed.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = week_schema))]
    pub days: BTreeMap<String, Vec<[String; 2]>>,
    /// Dates whose ranges replace the weekly ones.
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
}

/// The schema of a time zone field: one of the IANA zone names the server knows, spelled
/// exactly (the names [`is_time_zone`] accepts).
#[cfg(feature = "openapi")]
pub struct TimeZoneName;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TimeZoneName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // A pattern listing every name rather than an enum: client generators turn enum values
        // into identifiers, and `GMT+0`, `GMT-0` and `GMT0` would clash.
        let names: Vec<String> = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name().replace('+', "\\+"))
            .collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An IANA time zone name the server knows, spelled exactly, such as `America/Sao_Paulo`.",
            ))
            .pattern(Some(format!("^({})$", names.join("|"))))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TimeZoneName {
    fn name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
}

/// An IANA time zone name, spelled exactly (no surrounding space).
pub fn is_time_zone(name: &str) -> bool {
    name.parse::<Tz>().is_ok()
}

/// One dated exception of a [`WindowSpec`]; `ranges: []` closes the whole date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExceptionSpec {
    /// `YYYY-MM-DD`, a local date in the evaluation zone.
    #[cfg_attr(feature = "openapi", schema(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-25"))]
    pub date: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = ranges_schema))]
    pub ranges: Vec<[String; 2]>,
}

/// `["HH:MM", "HH:MM"]`: a half-open range of local times; `"24:00"` may end it.
#[cfg(feature = "openapi")]
fn range_schema() -> utoipa::openapi::ArrayBuilder {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    let start = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^([01][0-9]|2[0-3]):[0-5][0-9]$"));
    let end = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"));
    ArrayBuilder::new()
        .prefix_items([start, end])
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some(
            "A half-open range [start, end) of local times HH:MM; \"24:00\" may end it. A range \
             that does not end after it starts, or that overlaps another of the same day, is a 422.",
        ))
        .examples([serde_json::json!(["09:00", "18:00"])])
}

/// A list of ranges of one day (or one date).
#[cfg(feature = "openapi")]
fn ranges_schema() -> utoipa::openapi::ArrayBuilder {
    utoipa::openapi::ArrayBuilder::new().items(range_schema())
}

/// `days`: one list of ranges per weekday key; a missing day is closed.
#[cfg(feature = "openapi")]
fn week_schema() -> utoipa::openapi::ObjectBuilder {
    use utoipa::openapi::schema::AdditionalProperties;
    let mut week = utoipa::openapi::ObjectBuilder::new()
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some(
            "Ranges per weekday (mon..sun); a day left out is closed.",
        ));
    for day in DAY_KEYS {
        week = week.property(day, ranges_schema());
    }
    week
}

/// A half-open range of wall-clock minutes of a day: `start..end`, `0 <= start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    #[inline]
    fn contains(self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }
}

/// A validated allowed-hours calendar. Serialises as, and deserialises from, a [`WindowSpec`]
/// (deserialising validates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct Window {
    time_zone: Tz,
    use_contact_time_zone: bool,
    /// Sorted, non-overlapping ranges per weekday, Monday first.
    week: [Box<[Span]>; 7],
    /// Sorted by date, dates unique.
    exceptions: Box<[(NaiveDate, Box<[Span]>)]>,
}

/// A [`WindowSpec`] that failed validation, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidWindow(pub Vec<FieldError>);

impl fmt::Display for InvalidWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid window: ")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
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

impl Window {
    /// Validates `spec`, reporting every problem with its field path (`time_zone`, `days.mon[1]`,
    /// `days.funday`, `exceptions[0].date`, `exceptions[0].ranges[0]`).
    pub fn from_spec(spec: &WindowSpec) -> Result<Window, Vec<FieldError>> {
        Self::check(spec).map_err(|problems| problems.into_iter().map(|(e, _)| e).collect())
    }

    /// [`Window::from_spec`] with each problem marked `true` when it is well-formed but
    /// impossible (a range that ends before it starts, overlapping ranges, a date given twice),
    /// `false` when it is malformed (what the schema already refuses).
    pub fn check(spec: &WindowSpec) -> Result<Window, Vec<(FieldError, bool)>> {
        let mut errors: Vec<(FieldError, bool)> = Vec::new();

        let time_zone = match spec.time_zone.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push((
                    FieldError::new(
                        "time_zone",
                        format!(
                            "unknown time zone {:?}; expected an IANA name such as America/Sao_Paulo",
                            spec.time_zone
                        ),
                    ),
                    false,
                ));
                None
            }
        };

        let mut week: [Box<[Span]>; 7] = Default::default();
        for (key, ranges) in &spec.days {
            let prefix = format!("days.{key}");
            match DAY_KEYS.iter().position(|d| d == key) {
                Some(index) => {
                    let (spans, range_errors) = parse_ranges(ranges);
                    errors.extend(
                        range_errors
                            .into_iter()
                            .map(|(e, k)| (e.nested(&prefix), k)),
                    );
                    week[index] = spans.into_boxed_slice();
                }
                None => errors.push((
                    FieldError::new(
                        prefix,
                        format!(
                            "unknown day {key:?}; expected one of mon, tue, wed, thu, fri, sat, sun"
                        ),
                    ),
                    false,
                )),
            }
        }

        let mut exceptions: Vec<(NaiveDate, Box<[Span]>)> =
            Vec::with_capacity(spec.exceptions.len());
        let mut seen: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (i, exception) in spec.exceptions.iter().enumerate() {
            let prefix = format!("exceptions[{i}]");
            let (spans, range_errors) = parse_ranges(&exception.ranges);
            errors.extend(
                range_errors
                    .into_iter()
                    .map(|(e, k)| (e.nested("ranges").nested(&prefix), k)),
            );
            match parse_date(&exception.date) {
                Some(date) => match seen.entry(date) {
                    std::collections::btree_map::Entry::Occupied(first) => errors.push((
                        FieldError::new(
                            format!("{prefix}.date"),
                            format!(
                                "duplicate date {date}; already given in exceptions[{}]",
                                first.get()
                            ),
                        ),
                        true,
                    )),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(i);
                        exceptions.push((date, spans.into_boxed_slice()));
                    }
                },
                None => errors.push((
                    FieldError::new(
                        format!("{prefix}.date"),
                        format!("invalid date {:?}; expected YYYY-MM-DD", exception.date),
                    ),
                    false,
                )),
            }
        }

        match time_zone {
            Some(time_zone) if errors.is_empty() => {
                exceptions.sort_unstable_by_key(|(date, _)| *date);
                Ok(Window {
                    time_zone,
                    use_contact_time_zone: spec.use_contact_time_zone,
                    week,
                    exceptions: exceptions.into_boxed_slice(),
                })
            }
            _ => Err(errors),
        }
    }

    /// The normalised spec: closed days omitted, ranges and exceptions sorted.
    /// `Window::from_spec(&w.to_spec()) == Ok(w)`.
    pub fn to_spec(&self) -> WindowSpec {
        let days = DAY_KEYS
            .iter()
            .zip(self.week.iter())
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(key, spans)| (key.to_string(), format_ranges(spans)))
            .collect();
        let exceptions = self
            .exceptions
            .iter()
            .map(|(date, spans)| ExceptionSpec {
                date: date.format("%Y-%m-%d").to_string(),
                ranges: format_ranges(spans),
            })
            .collect();
        WindowSpec {
            time_zone: self.time_zone.name().to_string(),
            use_contact_time_zone: self.use_contact_time_zone,
            days,
            exceptions,
        }
    }

    /// The window's own zone.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Whether the ranges are read in the contact's zone when the contact has one.
    pub fn uses_contact_time_zone(&self) -> bool {
        self.use_contact_time_zone
    }

    /// The zone this window is evaluated in for a contact: the contact's when
    /// `use_contact_time_zone` and the contact has one, else the window's.
    #[inline]
    pub fn zone_for(&self, contact_tz: Option<Tz>) -> Tz {
        match contact_tz {
            Some(tz) if self.use_contact_time_zone => tz,
            _ => self.time_zone,
        }
    }

    /// Whether `at` falls inside the window (see the module docs).
    pub fn is_allowed(&self, at: DateTime<Utc>, contact_tz: Option<Tz>) -> bool {
        let tz = self.zone_for(contact_tz);
        match wall_time(&at, offset_seconds(tz, &at)) {
            Some(wall) => self.wall_allowed(wall),
            None => false,
        }
    }

    /// The earliest instant `>= from` that is allowed: `from` itself when it is allowed, otherwise
    /// the exact instant the window opens. `None` when the window never opens again.
    pub fn next_allowed(
        &self,
        from: DateTime<Utc>,
        contact_tz: Option<Tz>,
    ) -> Option<DateTime<Utc>> {
        let tz = self.zone_for(contact_tz);
        // Walk the timeline one constant-offset stretch at a time. Within a stretch the wall clock
        // is `instant + offset`, so the first allowed instant is where the wall clock reaches the
        // first allowed wall time; if the offset changes before then, resume at the change.
        let mut t = from;
        loop {
            let offset = offset_seconds(tz, &t);
            let wall = wall_time(&t, offset)?;
            let open = self.next_open_wall(wall);
            if open == Some(wall) {
                return Some(t);
            }
            let target = match open {
                Some(open) => {
                    let utc = open.checked_sub_signed(TimeDelta::seconds(offset.into()))?;
                    Some(Utc.from_utc_datetime(&utc))
                }
                None => None,
            };
            // With no allowed wall time ahead, only a backward jump of the clock (at most a few
            // hours, two days is ample) could still reach an allowed wall time.
            let limit = match target {
                Some(target) => target,
                None => t.checked_add_signed(TimeDelta::days(2))?,
            };
            match first_offset_change(tz, &t, &limit, offset) {
                Some(change) => t = change,
                None => return target,
            }
        }
    }

    /// The ranges in force on a local date.
    #[inline]
    fn spans_on(&self, date: NaiveDate) -> &[Span] {
        if !self.exceptions.is_empty() {
            if let Ok(i) = self.exceptions.binary_search_by_key(&date, |(d, _)| *d) {
                return &self.exceptions[i].1;
            }
        }
        &self.week[date.weekday().num_days_from_monday() as usize]
    }

    #[inline]
    fn wall_allowed(&self, wall: NaiveDateTime) -> bool {
        let minute = minute_of_day(&wall);
        self.spans_on(wall.date())
            .iter()
            .any(|s| s.contains(minute))
    }

    /// The earliest allowed wall time `>= wall`, ignoring the zone: `wall` itself when allowed,
    /// else the start of the next range.
    fn next_open_wall(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        let date = wall.date();
        let minute = minute_of_day(&wall);
        for span in self.spans_on(date) {
            if span.end > minute {
                return if span.start <= minute {
                    Some(wall)
                } else {
                    Some(at_minute(date, span.start))
                };
            }
        }

        if self.week.iter().all(|spans| spans.is_empty()) {
            // Only exceptions can open: the first later one with a range.
            let after = self.exceptions.partition_point(|(d, _)| *d <= date);
            return self.exceptions[after..]
                .iter()
                .find_map(|(d, spans)| spans.first().map(|span| at_minute(*d, span.start)));
        }

        // Some weekday opens, so within a week after the last exception something opens.
        let horizon = match self.exceptions.last() {
            Some((last, _)) if *last > date => *last,
            _ => date,
        }
        .checked_add_days(chrono::Days::new(7))?;
        let mut day = date;
        while day < horizon {
            day = day.succ_opt()?;
            if let Some(span) = self.spans_on(day).first() {
                return Some(at_minute(day, span.start));
            }
        }
        None
    }
}

/// The total UTC offset in force at `at`, in seconds.
#[inline]
fn offset_seconds(tz: Tz, at: &DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

#[inline]
fn offset_at_timestamp(tz: Tz, timestamp: i64, fallback: i32) -> i32 {
    match DateTime::from_timestamp(timestamp, 0) {
        Some(at) => offset_seconds(tz, &at),
        None => fallback,
    }
}

#[inline]
fn wall_time(at: &DateTime<Utc>, offset: i32) -> Option<NaiveDateTime> {
    at.naive_utc()
        .checked_add_signed(TimeDelta::seconds(offset.into()))
}

/// The first instant in `(from, until]` whose offset differs from `offset` (the offset at
/// `from`), or `None` when the offset holds throughout.
///
/// Probes once a day and bisects to the second inside the day that changed. This relies on no zone
/// leaving an offset and returning to it within a single day; in the tz database, offset changes
/// since 1970 are always at least six days apart.
fn first_offset_change(
    tz: Tz,
    from: &DateTime<Utc>,
    until: &DateTime<Utc>,
    offset: i32,
) -> Option<DateTime<Utc>> {
    let end = until.timestamp();
    let mut lo = from.timestamp();
    while lo < end {
        let hi = end.min(lo.saturating_add(SECONDS_PER_DAY));
        if offset_at_timestamp(tz, hi, offset) != offset {
            // Invariant: the offset at `lo` is `offset`, the offset at `hi` is not.
            let mut lo = lo;
            let mut hi = hi;
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at_timestamp(tz, mid, offset) == offset {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return DateTime::from_timestamp(hi, 0);
        }
        lo = hi;
    }
    None
}

#[inline]
fn minute_of_day(wall: &NaiveDateTime) -> u16 {
    (wall.hour() * 60 + wall.minute()) as u16
}

#[inline]
fn at_minute(date: NaiveDate, minute: u16) -> NaiveDateTime {
    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(u32::from(minute) * 60, 0)
        .expect("a range starts before 24:00");
    date.and_time(time)
}

/// Parses `HH:MM` (`00:00`..=`23:59`), and `24:00` when `allow_end_of_day`.
fn parse_time(text: &str, allow_end_of_day: bool) -> Option<u16> {
    if allow_end_of_day && text == "24:00" {
        return Some(MINUTES_PER_DAY);
    }
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hours = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
    let minutes = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

fn format_time(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn format_ranges(spans: &[Span]) -> Vec<[String; 2]> {
    spans
        .iter()
        .map(|s| [format_time(s.start), format_time(s.end)])
        .collect()
}

/// Parses a strict `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// Parses one day's ranges. Errors are named `[i]` (relative to the list) so the caller can nest
/// them under its own path.
fn parse_ranges(ranges: &[[String; 2]]) -> (Vec<Span>, Vec<(FieldError, bool)>) {
    let mut errors = Vec::new();
    let mut spans: Vec<(Span, usize)> = Vec::with_capacity(ranges.len());
    for (i, [start, end]) in ranges.iter().enumerate() {
        let field = format!("[{i}]");
        let parsed_start = parse_time(start, false);
        let parsed_end = parse_time(end, true);
        if parsed_start.is_none() {
            errors.push((
                FieldError::new(
                    field.clone(),
                    format!("invalid start {start:?}; expected HH:MM between 00:00 and 23:59"),
                ),
                false,
            ));
        }
        if parsed_end.is_none() {
            errors.push((
                FieldError::new(
                    field.clone(),
                    format!("invalid end {end:?}; expected HH:MM between 00:00 and 24:00"),
                ),
                false,
            ));
        }
        if let (Some(s), Some(e)) = (parsed_start, parsed_end) {
            if s < e {
                spans.push((Span { start: s, end: e }, i));
            } else {
                errors.push((
                    FieldError::new(field, format!("start {start} must be before end {end}")),
                    true,
                ));
            }
        }
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((earlier, earlier_index), (later, later_index)) = (pair[0], pair[1]);
        if later.start < earlier.end {
            errors.push((
                FieldError::new(
                    format!("[{later_index}]"),
                    format!(
                        "{}-{} overlaps [{earlier_index}] {}-{}",
                        format_time(later.start),
                        format_time(later.end),
                        format_time(earlier.start),
                        format_time(earlier.end)
                    ),
                ),
                true,
            ));
        }
    }
    (spans.into_iter().map(|(span, _)| span).collect(), errors)
}

#[cfg(test)]
mod tests {

    #[test]
    fn impossible_ranges_are_told_apart_from_malformed_ones() {
        let spec: WindowSpec = serde_json::from_value(serde_json::json!({
            "time_zone": "UTC",
            "days": {"mon": [["24:00", "24:00"], ["10:00", "09:00"], ["08:00", "12:00"], ["11:00", "13:00"]]},
            "exceptions": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]
        }))
        .unwrap();
        let problems: Vec<(String, bool)> = Window::check(&spec)
            .unwrap_err()
            .into_iter()
            .map(|(e, impossible)| (e.field, impossible))
            .collect();
        assert_eq!(
            problems,
            [
                ("days.mon[0]".to_string(), false),
                ("days.mon[1]".to_string(), true),
                ("days.mon[3]".to_string(), true),
                ("exceptions[1].date".to_string(), true),
            ]
        );
    }

    #[test]
    fn time_zones_are_iana_names_spelled_exactly() {
        assert!(is_time_zone("America/Sao_Paulo"));
        assert!(is_time_zone("UTC"));
        for name in [" UTC", "UTC ", "utc", "", "Nowhere/City"] {
            assert!(!is_time_zone(name), "{name:?}");
        }
    }

    use super::*;

    #[test]
    fn parses_times_strictly() {
        assert_eq!(parse_time("00:00", false), Some(0));
        assert_eq!(parse_time("23:59", false), Some(1439));
        assert_eq!(parse_time("24:00", false), None);
        assert_eq!(parse_time("24:00", true), Some(1440));
        for bad in [
            "9:00", "09:0", "24:01", "12:60", "25:00", "ab:cd", "09-00", " 09:00", "+9:00",
        ] {
            assert_eq!(parse_time(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn parses_dates_strictly() {
        assert_eq!(
            parse_date("2026-12-25"),
            NaiveDate::from_ymd_opt(2026, 12, 25)
        );
        for bad in [
            "2026-2-05",
            "2026-02-30",
            "26-02-05",
            "2026/02/05",
            "2026-02-0a",
            "2026-13-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn touching_ranges_are_not_overlapping() {
        let ranges = [
            ["12:00".to_string(), "18:00".to_string()],
            ["09:00".to_string(), "12:00".to_string()],
        ];
        let (spans, errors) = parse_ranges(&ranges);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            spans,
            vec![
                Span {
                    start: 540,
                    end: 720
                },
                Span {
                    start: 720,
                    end: 1080
                }
            ]
        );
    }
}
