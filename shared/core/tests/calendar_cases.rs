//! Named behaviours of the allowed-hours calendar.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ritmo_core::calendar::{InvalidWindow, Window, WindowSpec};
use serde_json::json;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window(value: serde_json::Value) -> Window {
    let spec: WindowSpec = serde_json::from_value(value).unwrap();
    Window::from_spec(&spec).unwrap_or_else(|errors| panic!("invalid window: {errors:?}"))
}

fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

fn sao_paulo_business_hours() -> Window {
    let day = json!([["09:00", "12:00"], ["13:00", "18:00"]]);
    window(json!({
        "time_zone": "America/Sao_Paulo",
        "days": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
        "exceptions": [{"date": "2026-12-25", "ranges": []}, {"date": "2026-11-21", "ranges": [["10:00", "14:00"]]}]
    }))
}

#[test]
fn new_york_spring_forward_gap_opens_at_first_real_instant() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z); 02:30 never happens.
    let w = window(json!({"time_zone": "America/New_York", "days": {"sun": [["02:30", "04:00"]]}}));
    let before = utc("2026-03-08T06:00:00Z"); // 01:00 EST
    assert_eq!(
        w.next_allowed(before, None),
        Some(utc("2026-03-08T07:00:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-03-08T06:59:59Z"), None)); // 01:59:59 EST
    assert!(w.is_allowed(utc("2026-03-08T07:00:00Z"), None)); // 03:00 EDT
    assert!(w.is_allowed(utc("2026-03-08T07:59:59Z"), None)); // 03:59:59 EDT
    assert!(!w.is_allowed(utc("2026-03-08T08:00:00Z"), None)); // 04:00 EDT
}

#[test]
fn new_york_range_entirely_inside_the_gap_never_opens_that_day() {
    let w = window(json!({"time_zone": "America/New_York", "days": {"sun": [["02:10", "02:50"]]}}));
    // Next Sunday, 2026-03-15 02:10 EDT = 06:10Z.
    assert_eq!(
        w.next_allowed(utc("2026-03-08T06:00:00Z"), None),
        Some(utc("2026-03-15T06:10:00Z"))
    );
}

#[test]
fn new_york_fall_back_overlap_allows_both_occurrences() {
    // 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:00-02:00 happens twice.
    let w = window(json!({"time_zone": "America/New_York", "days": {"sun": [["01:00", "01:30"]]}}));
    assert!(w.is_allowed(utc("2026-11-01T05:10:00Z"), None)); // 01:10 EDT
    assert!(w.is_allowed(utc("2026-11-01T06:10:00Z"), None)); // 01:10 EST
    assert!(!w.is_allowed(utc("2026-11-01T05:45:00Z"), None)); // 01:45 EDT
    assert!(!w.is_allowed(utc("2026-11-01T06:30:00Z"), None)); // 01:30 EST

    assert_eq!(
        w.next_allowed(utc("2026-11-01T04:00:00Z"), None),
        Some(utc("2026-11-01T05:00:00Z"))
    );
    // Between the two occurrences the next opening is the second 01:00.
    assert_eq!(
        w.next_allowed(utc("2026-11-01T05:30:00Z"), None),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    assert_eq!(
        w.next_allowed(utc("2026-11-01T05:45:10Z"), None),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    // After the second occurrence, the next Sunday.
    assert_eq!(
        w.next_allowed(utc("2026-11-01T06:30:00Z"), None),
        Some(utc("2026-11-08T06:00:00Z"))
    );
}

#[test]
fn fall_back_jump_into_the_middle_of_a_range_opens_at_the_jump() {
    // Range 00:30-01:30: at 06:00Z the clock goes from 02:00 EDT back to 01:00 EST, inside it.
    let w = window(json!({"time_zone": "America/New_York", "days": {"sun": [["00:30", "01:30"]]}}));
    assert_eq!(
        w.next_allowed(utc("2026-11-01T05:45:00Z"), None),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-11-01T05:59:59Z"), None));
}

#[test]
fn sao_paulo_business_hours_cross_lunch_and_weekend() {
    let w = sao_paulo_business_hours();
    // Monday 2026-11-23, São Paulo is UTC-3 all year.
    assert!(w.is_allowed(utc("2026-11-23T12:00:00Z"), None)); // 09:00
    assert!(!w.is_allowed(utc("2026-11-23T11:59:59Z"), None)); // 08:59:59
    assert!(!w.is_allowed(utc("2026-11-23T15:30:00Z"), None)); // 12:30 lunch
    assert_eq!(
        w.next_allowed(utc("2026-11-23T15:30:00Z"), None),
        Some(utc("2026-11-23T16:00:00Z"))
    );
    // Friday 2026-11-27 18:30 → Monday 2026-11-30 09:00.
    assert_eq!(
        w.next_allowed(utc("2026-11-27T21:30:00Z"), None),
        Some(utc("2026-11-30T12:00:00Z"))
    );
}

#[test]
fn allowed_instant_is_returned_unchanged_with_its_fraction() {
    let w = sao_paulo_business_hours();
    let at = utc("2026-11-23T12:34:56.789Z");
    assert_eq!(w.next_allowed(at, None), Some(at));
}

#[test]
fn kolkata_half_hour_offset() {
    let w = window(json!({"time_zone": "Asia/Kolkata", "days": {"mon": [["09:00", "18:00"]]}}));
    // Monday 2026-06-01 08:30 IST = 03:00Z; opens 09:00 IST = 03:30Z.
    assert_eq!(
        w.next_allowed(utc("2026-06-01T03:00:00Z"), None),
        Some(utc("2026-06-01T03:30:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-06-01T03:29:59Z"), None));
    assert!(w.is_allowed(utc("2026-06-01T12:29:59Z"), None)); // 17:59:59
    assert!(!w.is_allowed(utc("2026-06-01T12:30:00Z"), None)); // 18:00
}

#[test]
fn kathmandu_quarter_hour_offset() {
    let w = window(json!({"time_zone": "Asia/Kathmandu", "days": {"mon": [["09:00", "18:00"]]}}));
    // 09:00 +05:45 = 03:15Z.
    assert_eq!(
        w.next_allowed(utc("2026-06-01T00:00:00Z"), None),
        Some(utc("2026-06-01T03:15:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-06-01T03:14:59Z"), None));
}

#[test]
fn lord_howe_half_hour_spring_forward() {
    // 2026-10-04: 02:00 LHST (+10:30, 15:30Z) jumps to 02:30 LHDT (+11).
    let w =
        window(json!({"time_zone": "Australia/Lord_Howe", "days": {"sun": [["02:00", "03:00"]]}}));
    assert!(!w.is_allowed(utc("2026-10-03T15:29:59Z"), None)); // 01:59:59 +10:30
    assert!(w.is_allowed(utc("2026-10-03T15:30:00Z"), None)); // 02:30 +11
    assert_eq!(
        w.next_allowed(utc("2026-10-03T15:00:00Z"), None),
        Some(utc("2026-10-03T15:30:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-10-03T16:00:00Z"), None)); // 03:00 +11

    // A range inside the skipped half hour opens at the end of the gap.
    let gap =
        window(json!({"time_zone": "Australia/Lord_Howe", "days": {"sun": [["02:10", "02:40"]]}}));
    assert_eq!(
        gap.next_allowed(utc("2026-10-03T15:00:00Z"), None),
        Some(utc("2026-10-03T15:30:00Z"))
    );
    assert!(!gap.is_allowed(utc("2026-10-03T15:40:00Z"), None)); // 02:40 +11
}

#[test]
fn lord_howe_half_hour_fall_back_repeats_the_half_hour() {
    // 2026-04-05: 02:00 LHDT (+11, 15:00Z) falls back to 01:30 LHST (+10:30).
    let w =
        window(json!({"time_zone": "Australia/Lord_Howe", "days": {"sun": [["01:30", "01:45"]]}}));
    assert!(w.is_allowed(utc("2026-04-04T14:30:00Z"), None)); // 01:30 +11
    assert!(w.is_allowed(utc("2026-04-04T15:00:00Z"), None)); // 01:30 +10:30
    assert_eq!(
        w.next_allowed(utc("2026-04-04T14:50:00Z"), None),
        Some(utc("2026-04-04T15:00:00Z"))
    );
}

#[test]
fn chatham_quarter_hour_offset_and_spring_forward() {
    // 2026-09-27: 02:45 +12:45 (14:00Z) jumps to 03:45 +13:45.
    let w = window(json!({"time_zone": "Pacific/Chatham", "days": {"sun": [["03:00", "04:00"]]}}));
    assert_eq!(
        w.next_allowed(utc("2026-09-26T13:00:00Z"), None),
        Some(utc("2026-09-26T14:00:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-09-26T13:59:59Z"), None));
    assert!(w.is_allowed(utc("2026-09-26T14:14:59Z"), None)); // 03:59:59 +13:45
    assert!(!w.is_allowed(utc("2026-09-26T14:15:00Z"), None)); // 04:00 +13:45
}

#[test]
fn exception_closes_the_requested_date_and_the_next_open_day_follows() {
    let w = sao_paulo_business_hours();
    // Friday 2026-12-25 10:00 is closed → Monday 2026-12-28 09:00.
    assert!(!w.is_allowed(utc("2026-12-25T13:00:00Z"), None));
    assert_eq!(
        w.next_allowed(utc("2026-12-25T13:00:00Z"), None),
        Some(utc("2026-12-28T12:00:00Z"))
    );
    // From Thursday evening the Friday holiday is skipped too.
    assert_eq!(
        w.next_allowed(utc("2026-12-24T21:00:00Z"), None),
        Some(utc("2026-12-28T12:00:00Z"))
    );
}

#[test]
fn exception_opens_a_normally_closed_day() {
    let w = sao_paulo_business_hours();
    // Saturday 2026-11-21 opens 10:00-14:00 local.
    assert_eq!(
        w.next_allowed(utc("2026-11-21T11:00:00Z"), None),
        Some(utc("2026-11-21T13:00:00Z"))
    );
    assert!(w.is_allowed(utc("2026-11-21T16:59:59Z"), None));
    // Friday evening → the Saturday exception, not Monday.
    assert_eq!(
        w.next_allowed(utc("2026-11-20T22:00:00Z"), None),
        Some(utc("2026-11-21T13:00:00Z"))
    );
    // After it closes → Monday.
    assert_eq!(
        w.next_allowed(utc("2026-11-21T17:00:00Z"), None),
        Some(utc("2026-11-23T12:00:00Z"))
    );
}

#[test]
fn exception_only_window_opens_on_its_dates_then_never() {
    let w = window(json!({
        "time_zone": "Europe/London",
        "exceptions": [{"date": "2027-06-01", "ranges": [["10:00", "11:00"]]}, {"date": "2026-12-24", "ranges": []}]
    }));
    // Months away and across the March change to BST: 10:00 BST = 09:00Z.
    assert_eq!(
        w.next_allowed(utc("2026-12-01T00:00:00Z"), None),
        Some(utc("2027-06-01T09:00:00Z"))
    );
    assert_eq!(w.next_allowed(utc("2027-06-01T10:00:00Z"), None), None);
}

#[test]
fn last_opening_in_the_repeated_hour_is_found_after_the_first_occurrence() {
    // Only 2026-11-01 01:00-01:30 opens; from 01:45 EDT the wall clock is past every range, yet
    // it falls back to 01:00 EST at 06:00Z.
    let w = window(json!({
        "time_zone": "America/New_York",
        "exceptions": [{"date": "2026-11-01", "ranges": [["01:00", "01:30"]]}]
    }));
    assert_eq!(
        w.next_allowed(utc("2026-11-01T05:45:00Z"), None),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    assert_eq!(w.next_allowed(utc("2026-11-01T06:30:00Z"), None), None);
}

#[test]
fn window_with_no_open_day_never_opens() {
    let w = window(json!({
        "time_zone": "America/Sao_Paulo",
        "days": {"mon": []},
        "exceptions": [{"date": "2026-12-25", "ranges": []}, {"date": "2025-01-01", "ranges": [["09:00", "10:00"]]}]
    }));
    assert_eq!(w.next_allowed(utc("2026-01-01T00:00:00Z"), None), None);
    assert!(!w.is_allowed(utc("2026-12-25T12:00:00Z"), None));
}

#[test]
fn range_ending_at_24_00_includes_the_last_second_only() {
    let w = window(json!({"time_zone": "UTC", "days": {"mon": [["22:00", "24:00"]]}}));
    // Monday 2026-11-23.
    assert!(w.is_allowed(utc("2026-11-23T23:59:59.999Z"), None));
    assert!(!w.is_allowed(utc("2026-11-24T00:00:00Z"), None));
    assert_eq!(
        w.next_allowed(utc("2026-11-24T00:00:00Z"), None),
        Some(utc("2026-11-30T22:00:00Z"))
    );
}

#[test]
fn range_ending_at_24_00_is_contiguous_with_a_next_day_starting_at_00_00() {
    let w = window(
        json!({"time_zone": "UTC", "days": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]}}),
    );
    assert!(w.is_allowed(utc("2026-11-24T00:00:00Z"), None));
    let at = utc("2026-11-23T23:59:30Z");
    assert_eq!(w.next_allowed(at, None), Some(at));
    assert_eq!(
        w.next_allowed(utc("2026-11-23T21:00:00Z"), None),
        Some(utc("2026-11-23T22:00:00Z"))
    );
    assert!(!w.is_allowed(utc("2026-11-24T02:00:00Z"), None));
}

#[test]
fn contact_time_zone_applies_only_when_enabled_and_known() {
    let day = json!([["09:00", "18:00"]]);
    let by_contact = window(
        json!({"time_zone": "America/Sao_Paulo", "use_contact_time_zone": true, "days": {"mon": day}}),
    );
    let fixed = window(json!({"time_zone": "America/Sao_Paulo", "days": {"mon": day}}));
    let kolkata = tz("Asia/Kolkata");
    assert!(by_contact.uses_contact_time_zone());
    assert_eq!(by_contact.zone_for(Some(kolkata)), kolkata);
    assert_eq!(by_contact.zone_for(None), tz("America/Sao_Paulo"));
    assert_eq!(fixed.zone_for(Some(kolkata)), tz("America/Sao_Paulo"));

    // Monday 2026-11-23 04:00Z: 09:30 in Kolkata, 01:00 in São Paulo.
    let at = utc("2026-11-23T04:00:00Z");
    assert!(by_contact.is_allowed(at, Some(kolkata)));
    assert!(!by_contact.is_allowed(at, None));
    assert!(!fixed.is_allowed(at, Some(kolkata)));
    assert_eq!(
        fixed.next_allowed(at, Some(kolkata)),
        Some(utc("2026-11-23T12:00:00Z"))
    );
}

#[test]
fn validation_errors_name_every_field() {
    let spec: WindowSpec = serde_json::from_value(json!({
        "time_zone": "Mars/Olympus_Mons",
        "days": {
            "mon": [["09:00", "12:00"], ["11:00", "13:00"]],
            "tue": [["18:00", "09:00"], ["9:00", "24:00"]],
            "wed": [["24:00", "24:00"]],
            "funday": [["09:00", "10:00"]]
        },
        "exceptions": [
            {"date": "2026-12-25", "ranges": []},
            {"date": "2026-02-30", "ranges": []},
            {"date": "2026-12-25", "ranges": [["10:00", "25:00"]]}
        ]
    }))
    .unwrap();
    let errors = Window::from_spec(&spec).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "time_zone",
        "days.mon[1]",
        "days.tue[0]",
        "days.tue[1]",
        "days.wed[0]",
        "days.funday",
        "exceptions[1].date",
        "exceptions[2].date",
        "exceptions[2].ranges[0]",
    ] {
        assert!(
            fields.contains(&expected),
            "missing {expected} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 9, "{errors:#?}");
    let zone = errors.iter().find(|e| e.field == "time_zone").unwrap();
    assert!(
        zone.message.contains("unknown time zone"),
        "{}",
        zone.message
    );
}

#[test]
fn touching_ranges_are_valid_and_stay_separate() {
    let w = window(
        json!({"time_zone": "UTC", "days": {"mon": [["12:00", "18:00"], ["09:00", "12:00"]]}}),
    );
    assert_eq!(
        w.to_spec().days["mon"],
        vec![
            ["09:00".to_string(), "12:00".to_string()],
            ["12:00".into(), "18:00".into()]
        ]
    );
}

#[test]
fn serde_round_trip_normalises() {
    let input = json!({
        "time_zone": "America/Sao_Paulo",
        "days": {"tue": [["13:00", "18:00"], ["09:00", "12:00"]], "sat": [], "sun": [["20:00", "24:00"]]},
        "exceptions": [{"date": "2026-12-31", "ranges": [["09:00", "12:00"]]}, {"date": "2026-12-25"}]
    });
    let w: Window = serde_json::from_value(input).unwrap();
    let out = serde_json::to_value(&w).unwrap();
    assert_eq!(
        out,
        json!({
            "time_zone": "America/Sao_Paulo",
            "use_contact_time_zone": false,
            "days": {"sun": [["20:00", "24:00"]], "tue": [["09:00", "12:00"], ["13:00", "18:00"]]},
            "exceptions": [{"date": "2026-12-25", "ranges": []}, {"date": "2026-12-31", "ranges": [["09:00", "12:00"]]}]
        })
    );
    let again: Window = serde_json::from_value(out).unwrap();
    assert_eq!(again, w);
    assert_eq!(Window::from_spec(&w.to_spec()), Ok(w));
}

#[test]
fn deserialising_an_invalid_window_reports_the_field() {
    let err = serde_json::from_value::<Window>(
        json!({"time_zone": "UTC", "days": {"mon": [["10:00", "09:00"]]}}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("days.mon[0]"), "{err}");

    let spec: WindowSpec = serde_json::from_value(json!({"time_zone": "Nowhere"})).unwrap();
    let invalid: InvalidWindow = Window::try_from(spec).unwrap_err();
    assert_eq!(invalid.0[0].field, "time_zone");
}
