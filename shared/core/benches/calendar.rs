//! Allowed-hours calendar queries on a typical window: São Paulo, Monday to Friday,
//! 09:00-12:00 and 13:00-18:00.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use ritmo_core::calendar::{Window, WindowSpec};

fn business_hours() -> Window {
    let day = serde_json::json!([["09:00", "12:00"], ["13:00", "18:00"]]);
    let spec: WindowSpec = serde_json::from_value(serde_json::json!({
        "time_zone": "America/Sao_Paulo",
        "days": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
        "exceptions": [{"date": "2026-12-25", "ranges": []}]
    }))
    .unwrap();
    Window::from_spec(&spec).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn calendar(c: &mut Criterion) {
    let window = business_hours();
    // Wednesday 2026-11-18 10:30 local.
    let allowed = utc("2026-11-18T13:30:00Z");
    // Friday 2026-11-20 19:00 local; opens Monday 09:00.
    let friday_evening = utc("2026-11-20T22:00:00Z");
    assert_eq!(
        window.next_allowed(friday_evening, None),
        Some(utc("2026-11-23T12:00:00Z"))
    );

    c.bench_function("next_allowed/allowed_instant", |b| {
        b.iter(|| window.next_allowed(black_box(allowed), black_box(None)))
    });
    c.bench_function("next_allowed/friday_evening_crosses_weekend", |b| {
        b.iter(|| window.next_allowed(black_box(friday_evening), black_box(None)))
    });
    c.bench_function("is_allowed", |b| {
        b.iter(|| window.is_allowed(black_box(allowed), black_box(None)))
    });
}

criterion_group!(benches, calendar);
criterion_main!(benches);
