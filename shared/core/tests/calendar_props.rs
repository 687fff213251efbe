//! Properties of the allowed-hours calendar, checked against a naive reference: convert the
//! instant to local time with chrono-tz and look the wall time up in the spec's ranges.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use ritmo_core::calendar::{ExceptionSpec, Window, WindowSpec};

const ZONES: [&str; 8] = [
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Europe/London",
    "UTC",
];

/// Days with a daylight-saving change in 2025-2028, per zone of [`ZONES`] (none for the others).
fn transition_days(zone: &str) -> &'static [&'static str] {
    match zone {
        "America/New_York" => &[
            "2025-03-09",
            "2025-11-02",
            "2026-03-08",
            "2026-11-01",
            "2027-03-14",
            "2027-11-07",
            "2028-03-12",
            "2028-11-05",
        ],
        "Europe/London" => &[
            "2025-03-30",
            "2025-10-26",
            "2026-03-29",
            "2026-10-25",
            "2027-03-28",
            "2027-10-31",
            "2028-03-26",
            "2028-10-29",
        ],
        "Australia/Lord_Howe" => &[
            "2025-04-06",
            "2025-10-05",
            "2026-04-05",
            "2026-10-04",
            "2027-04-04",
            "2027-10-03",
            "2028-04-02",
            "2028-10-01",
        ],
        "Pacific/Chatham" => &[
            "2025-04-06",
            "2025-09-28",
            "2026-04-05",
            "2026-09-27",
            "2027-04-04",
            "2027-09-26",
            "2028-04-02",
            "2028-09-24",
        ],
        _ => &[],
    }
}

/// 2025-01-01T00:00:00Z and 2029-01-01T00:00:00Z.
const START: i64 = 1_735_689_600;
const END: i64 = 1_861_920_000;

/// Longest span the reference scans minute by minute.
const SCAN_CAP_MINUTES: i64 = 20 * 24 * 60;

type Ranges = Vec<(u16, u16)>;

#[derive(Debug, Clone)]
struct Case {
    zone: usize,
    use_contact_time_zone: bool,
    contact_zone: Option<usize>,
    days: [Ranges; 7],
    /// (days after the instant's UTC date, ranges)
    exceptions: Vec<(i64, Ranges)>,
    at: DateTime<Utc>,
}

struct Reference {
    tz: Tz,
    days: [Ranges; 7],
    exceptions: BTreeMap<NaiveDate, Ranges>,
}

impl Reference {
    fn allowed(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz).naive_local();
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let ranges = self
            .exceptions
            .get(&local.date())
            .unwrap_or(&self.days[local.weekday().num_days_from_monday() as usize]);
        ranges
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }

    /// `from` if allowed, else the first allowed whole minute after it, scanning at most
    /// [`SCAN_CAP_MINUTES`].
    fn first_allowed(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.allowed(from) {
            return Some(from);
        }
        let first_minute =
            DateTime::from_timestamp(from.timestamp().div_euclid(60) * 60 + 60, 0).unwrap();
        (0..SCAN_CAP_MINUTES)
            .map(|k| first_minute + TimeDelta::minutes(k))
            .find(|&t| self.allowed(t))
    }
}

fn format_time(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn to_strings(ranges: &Ranges) -> Vec<[String; 2]> {
    ranges
        .iter()
        .map(|&(s, e)| [format_time(s), format_time(e)])
        .collect()
}

impl Case {
    fn tz(&self) -> Tz {
        ZONES[self.zone].parse().unwrap()
    }

    fn contact_tz(&self) -> Option<Tz> {
        self.contact_zone.map(|i| ZONES[i].parse().unwrap())
    }

    fn exception_dates(&self) -> BTreeMap<NaiveDate, Ranges> {
        let base = self.at.date_naive();
        let mut dates = BTreeMap::new();
        for (delta, ranges) in &self.exceptions {
            dates
                .entry(base + TimeDelta::days(*delta))
                .or_insert_with(|| ranges.clone());
        }
        dates
    }

    fn spec(&self) -> WindowSpec {
        const KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        WindowSpec {
            time_zone: ZONES[self.zone].to_string(),
            use_contact_time_zone: self.use_contact_time_zone,
            days: KEYS
                .iter()
                .zip(&self.days)
                .filter(|(_, ranges)| !ranges.is_empty())
                .map(|(key, ranges)| (key.to_string(), to_strings(ranges)))
                .collect(),
            exceptions: self
                .exception_dates()
                .into_iter()
                .rev()
                .map(|(date, ranges)| ExceptionSpec {
                    date: date.to_string(),
                    ranges: to_strings(&ranges),
                })
                .collect(),
        }
    }

    fn window(&self) -> Window {
        Window::from_spec(&self.spec())
            .unwrap_or_else(|e| panic!("generated an invalid window: {e:?}"))
    }

    fn reference(&self) -> Reference {
        let tz = match self.contact_tz() {
            Some(contact) if self.use_contact_time_zone => contact,
            _ => self.tz(),
        };
        Reference {
            tz,
            days: self.days.clone(),
            exceptions: self.exception_dates(),
        }
    }
}

/// Minute boundaries, biased towards 00:00, 24:00 and the small hours when clocks change.
fn boundary() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => 0u16..=1440,
        1 => Just(0u16),
        1 => Just(1440u16),
        2 => 0u16..=240,
    ]
}

/// Sorted, non-overlapping ranges: consecutive pairs of distinct boundaries.
fn day_ranges(max_ranges: usize) -> impl Strategy<Value = Ranges> {
    prop::collection::btree_set(boundary(), 0..=2 * max_ranges).prop_map(|points| {
        let points: Vec<u16> = points.into_iter().collect();
        points
            .chunks_exact(2)
            .map(|pair| (pair[0], pair[1]))
            .collect()
    })
}

/// Instants in 2025-2028, half of them within a couple of days of one of `zone`'s clock changes.
fn instant(zone: &'static str) -> BoxedStrategy<DateTime<Utc>> {
    let days = transition_days(zone);
    let seconds = if days.is_empty() {
        (START..END).boxed()
    } else {
        let near_transition =
            (0..days.len(), -2 * 86_400i64..2 * 86_400).prop_map(move |(i, offset)| {
                let day: NaiveDate = days[i].parse().unwrap();
                day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() + offset
            });
        prop_oneof![START..END, near_transition].boxed()
    };
    let nanos = prop_oneof![Just(0u32), 0u32..1_000_000_000];
    let whole_minute = any::<bool>();
    (seconds, nanos, whole_minute)
        .prop_map(|(s, n, whole)| {
            if whole {
                DateTime::from_timestamp(s - s.rem_euclid(60), 0).unwrap()
            } else {
                DateTime::from_timestamp(s, n).unwrap()
            }
        })
        .boxed()
}

/// (zone, use_contact_time_zone, contact zone, instant), the instant drawn for the zone the window
/// is evaluated in.
fn zones_and_instant() -> impl Strategy<Value = (usize, bool, Option<usize>, DateTime<Utc>)> {
    (
        0..ZONES.len(),
        any::<bool>(),
        prop::option::of(0..ZONES.len()),
    )
        .prop_flat_map(|(zone, by_contact, contact)| {
            let evaluated = match contact {
                Some(c) if by_contact => c,
                _ => zone,
            };
            instant(ZONES[evaluated]).prop_map(move |at| (zone, by_contact, contact, at))
        })
}

fn exceptions(ranges: BoxedStrategy<Ranges>) -> impl Strategy<Value = Vec<(i64, Ranges)>> {
    prop::collection::vec((-1i64..10, ranges), 0..=3)
}

/// Windows that open at least once a week.
fn open_case() -> impl Strategy<Value = Case> {
    let days = prop::array::uniform7(prop_oneof![1 => Just(Vec::new()), 1 => day_ranges(3)]);
    let forced = (0usize..7, boundary(), boundary()).prop_filter("distinct", |(_, a, b)| a != b);
    (
        zones_and_instant(),
        days,
        forced,
        exceptions(day_ranges(2).boxed()),
    )
        .prop_map(
            |(
                (zone, use_contact_time_zone, contact_zone, at),
                mut days,
                (day, a, b),
                exceptions,
            )| {
                if days.iter().all(Vec::is_empty) {
                    days[day] = vec![(a.min(b), a.max(b))];
                }
                Case {
                    zone,
                    use_contact_time_zone,
                    contact_zone,
                    days,
                    exceptions,
                    at,
                }
            },
        )
}

/// Windows whose every day and exception is closed.
fn closed_case() -> impl Strategy<Value = Case> {
    (zones_and_instant(), exceptions(Just(Vec::new()).boxed())).prop_map(
        |((zone, use_contact_time_zone, contact_zone, at), exceptions)| Case {
            zone,
            use_contact_time_zone,
            contact_zone,
            days: Default::default(),
            exceptions,
            at,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn is_allowed_matches_the_reference(case in open_case(), offsets in prop::collection::vec(-3 * 86_400i64..7 * 86_400, 16)) {
        let window = case.window();
        let reference = case.reference();
        let contact = case.contact_tz();
        for at in std::iter::once(case.at).chain(offsets.iter().map(|&s| case.at + TimeDelta::seconds(s))) {
            prop_assert_eq!(window.is_allowed(at, contact), reference.allowed(at), "at {}", at);
        }
    }

    #[test]
    fn round_trips_through_its_spec(case in open_case()) {
        let window = case.window();
        prop_assert_eq!(Window::from_spec(&window.to_spec()), Ok(window.clone()));
        let json = serde_json::to_string(&window).unwrap();
        prop_assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), window);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn next_allowed_is_the_first_allowed_instant(case in open_case()) {
        let window = case.window();
        let reference = case.reference();
        let from = case.at;
        let answer = window.next_allowed(from, case.contact_tz());
        let answer = answer.expect("a window open every week opens again");
        // (a) not before `from`; (b) allowed, by the window and by the reference.
        prop_assert!(answer >= from);
        prop_assert!(window.is_allowed(answer, case.contact_tz()));
        prop_assert!(reference.allowed(answer));
        // (c) the allowed set changes only on whole minutes, so `answer` is `from` or a whole
        // minute, and no earlier whole minute in [from, answer) is allowed.
        prop_assert!(answer == from || answer.timestamp_subsec_nanos() == 0 && answer.timestamp() % 60 == 0);
        prop_assert!(answer - from <= TimeDelta::minutes(SCAN_CAP_MINUTES));
        prop_assert_eq!(Some(answer), reference.first_allowed(from));
    }

    #[test]
    fn next_allowed_is_exact_at_range_edges(case in open_case()) {
        // Start exactly on, and just around, each boundary of the ranges of the instant's local date.
        let window = case.window();
        let reference = case.reference();
        let local = case.at.with_timezone(&reference.tz).date_naive();
        let ranges = reference
            .exceptions
            .get(&local)
            .unwrap_or(&reference.days[local.weekday().num_days_from_monday() as usize])
            .clone();
        for (start, end) in ranges {
            for minute in [start, end] {
                let Some(wall) = local.and_hms_opt(0, 0, 0) else { continue };
                let wall = wall + TimeDelta::minutes(minute.into());
                let Some(edge) = reference.tz.from_local_datetime(&wall).earliest() else { continue };
                let edge = edge.with_timezone(&Utc);
                for from in [edge - TimeDelta::seconds(1), edge, edge + TimeDelta::milliseconds(1500)] {
                    prop_assert_eq!(window.next_allowed(from, case.contact_tz()), reference.first_allowed(from), "from {}", from);
                }
            }
        }
    }

    #[test]
    fn never_open_windows_have_no_next_allowed(case in closed_case()) {
        let window = case.window();
        prop_assert_eq!(window.next_allowed(case.at, case.contact_tz()), None);
        prop_assert!(!window.is_allowed(case.at, case.contact_tz()));
    }
}
