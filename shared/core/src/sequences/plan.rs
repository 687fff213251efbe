//! Step due-time planning (SPEC §4).

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::Window;
use crate::common::error::FieldError;

/// Unit of a step's [`Delay`]. A day is exactly 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DelayUnit {
    Minutes,
    Hours,
    Days,
}

impl DelayUnit {
    /// Minutes in one unit.
    pub const fn minutes(self) -> u32 {
        match self {
            DelayUnit::Minutes => 1,
            DelayUnit::Hours => 60,
            DelayUnit::Days => 24 * 60,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DelayUnit::Minutes => "minutes",
            DelayUnit::Hours => "hours",
            DelayUnit::Days => "days",
        }
    }
}

/// How long after its base a step comes due: `{"amount": 2, "unit": "days"}`, at most 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delay {
    pub amount: u32,
    pub unit: DelayUnit,
}

/// The schema says what [`Delay::validate`] accepts: one shape per unit, each with its own
/// maximum (365 days), named so that client generators give each a model.
#[cfg(feature = "openapi")]
const DELAY_SHAPES: [(&str, DelayUnit); 3] = [
    ("DelayInMinutes", DelayUnit::Minutes),
    ("DelayInHours", DelayUnit::Hours),
    ("DelayInDays", DelayUnit::Days),
];

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Delay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let shapes: Vec<_> = DELAY_SHAPES
            .iter()
            .map(|(name, _)| serde_json::json!({"$ref": format!("#/components/schemas/{name}")}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "description": "How long after its base a step comes due, at most 365 days (525 600 minutes, 8 760 hours); a day is 24 hours.",
            "oneOf": shapes,
            "example": {"amount": 2, "unit": "days"}
        }))
        .expect("a valid delay schema")
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Delay {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        for (name, unit) in DELAY_SHAPES {
            let shape = serde_json::json!({
                "type": "object", "required": ["amount", "unit"],
                "properties": {
                    "amount": {"type": "integer", "format": "int32", "minimum": 0,
                               "maximum": Delay::MAX_MINUTES / unit.minutes()},
                    "unit": {"type": "string", "enum": [unit.name()]}
                }
            });
            schemas.push((
                name.into(),
                serde_json::from_value(shape).expect("a valid delay schema"),
            ));
        }
    }
}

impl Delay {
    /// The longest delay allowed: 365 days, in minutes.
    pub const MAX_MINUTES: u32 = 365 * 24 * 60;

    /// No delay.
    pub const ZERO: Delay = Delay {
        amount: 0,
        unit: DelayUnit::Minutes,
    };

    /// Accepts delays up to 365 days (525 600 minutes, 8 760 hours); errors name `amount`.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let max = Self::MAX_MINUTES / self.unit.minutes();
        if self.amount > max {
            return Err(vec![FieldError::new(
                "amount",
                format!("must be at most {max} {} (365 days)", self.unit.name()),
            )]);
        }
        Ok(())
    }

    /// The delay as a duration; a day is exactly 24 hours.
    pub fn duration(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.amount) * i64::from(self.unit.minutes()))
    }
}

/// When a step comes due: `base` (the enrollment time for the first step, the previous step's
/// actual send time otherwise) plus `delay`, moved forward to the first instant the window allows
/// (no window means any time). `None` when the window never opens again.
pub fn due_at(
    base: DateTime<Utc>,
    delay: Delay,
    window: Option<&Window>,
    contact_tz: Option<Tz>,
) -> Option<DateTime<Utc>> {
    let earliest = base.checked_add_signed(delay.duration())?;
    match window {
        Some(window) => window.next_allowed(earliest, contact_tz),
        None => Some(earliest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WindowSpec;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn weekdays_nine_to_six(use_contact_time_zone: bool) -> Window {
        let spec: WindowSpec = serde_json::from_value(serde_json::json!({
            "time_zone": "America/Sao_Paulo",
            "use_contact_time_zone": use_contact_time_zone,
            "days": {
                "mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
                "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]
            }
        }))
        .unwrap();
        Window::from_spec(&spec).unwrap()
    }

    fn days(amount: u32) -> Delay {
        Delay {
            amount,
            unit: DelayUnit::Days,
        }
    }

    fn hours(amount: u32) -> Delay {
        Delay {
            amount,
            unit: DelayUnit::Hours,
        }
    }

    #[test]
    fn spec_scenario_sao_paulo_weekdays() {
        let window = weekdays_nine_to_six(false);
        // Enrolled Friday 2026-11-20 17:50 in São Paulo (UTC-3).
        let enrolled = utc("2026-11-20T20:50:00Z");

        let step1 = due_at(enrolled, Delay::ZERO, Some(&window), None).unwrap();
        assert_eq!(step1, utc("2026-11-20T20:50:00Z"));

        // A day after the send is Saturday 17:50: moved to Monday 09:00 local.
        let step2 = due_at(step1, days(1), Some(&window), None).unwrap();
        assert_eq!(step2, utc("2026-11-23T12:00:00Z"));

        let step3 = due_at(step2, hours(2), Some(&window), None).unwrap();
        assert_eq!(step3, utc("2026-11-23T14:00:00Z"));
    }

    #[test]
    fn contact_time_zone_is_used_when_the_window_asks_for_it() {
        let window = weekdays_nine_to_six(true);
        let manaus: Tz = "America/Manaus".parse().unwrap();
        let enrolled = utc("2026-11-20T20:50:00Z"); // Friday 16:50 in Manaus (UTC-4)

        let step1 = due_at(enrolled, Delay::ZERO, Some(&window), Some(manaus)).unwrap();
        assert_eq!(step1, enrolled);

        // Friday 21:55Z is 17:55 in Manaus (open) but 18:55 in São Paulo (closed).
        let late = utc("2026-11-20T21:55:00Z");
        assert_eq!(
            due_at(late, Delay::ZERO, Some(&window), Some(manaus)),
            Some(late)
        );

        // Saturday → Monday 09:00 Manaus = 13:00Z.
        let step2 = due_at(step1, days(1), Some(&window), Some(manaus)).unwrap();
        assert_eq!(step2, utc("2026-11-23T13:00:00Z"));

        // A contact without a zone falls back to the window's zone.
        assert_eq!(
            due_at(step1, days(1), Some(&window), None),
            Some(utc("2026-11-23T12:00:00Z"))
        );
        assert_eq!(
            due_at(late, Delay::ZERO, Some(&window), None),
            Some(utc("2026-11-23T12:00:00Z"))
        );
    }

    #[test]
    fn contact_time_zone_is_ignored_unless_the_window_asks_for_it() {
        let window = weekdays_nine_to_six(false);
        let manaus: Tz = "America/Manaus".parse().unwrap();
        let late = utc("2026-11-20T21:55:00Z");
        assert_eq!(
            due_at(late, Delay::ZERO, Some(&window), Some(manaus)),
            Some(utc("2026-11-23T12:00:00Z"))
        );
    }

    #[test]
    fn no_window_means_any_time() {
        let base = utc("2026-11-21T03:17:42.5Z");
        let delay = Delay {
            amount: 90,
            unit: DelayUnit::Minutes,
        };
        assert_eq!(
            due_at(base, delay, None, None),
            Some(utc("2026-11-21T04:47:42.5Z"))
        );
    }

    #[test]
    fn never_open_window_has_no_due_time() {
        let spec = WindowSpec {
            time_zone: "UTC".into(),
            use_contact_time_zone: false,
            days: Default::default(),
            exceptions: vec![],
        };
        let window = Window::from_spec(&spec).unwrap();
        assert_eq!(
            due_at(
                utc("2026-01-01T00:00:00Z"),
                Delay::ZERO,
                Some(&window),
                None
            ),
            None
        );
    }

    #[test]
    fn a_day_is_exactly_24_hours_even_across_daylight_saving() {
        // New York springs forward on 2026-03-08; a one-day delay is still 24 h.
        let base = utc("2026-03-07T15:00:00Z");
        assert_eq!(
            due_at(base, days(1), None, None),
            Some(utc("2026-03-08T15:00:00Z"))
        );
        assert_eq!(days(1).duration(), TimeDelta::hours(24));
        assert_eq!(hours(3).duration(), TimeDelta::minutes(180));
    }

    #[test]
    fn delay_is_limited_to_365_days() {
        assert_eq!(days(365).validate(), Ok(()));
        assert_eq!(hours(8760).validate(), Ok(()));
        assert_eq!(
            Delay {
                amount: 525_600,
                unit: DelayUnit::Minutes
            }
            .validate(),
            Ok(())
        );
        for too_long in [
            days(366),
            hours(8761),
            Delay {
                amount: 525_601,
                unit: DelayUnit::Minutes,
            },
            days(u32::MAX),
        ] {
            let errors = too_long.validate().unwrap_err();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "amount");
        }
    }

    #[test]
    fn delay_json_shape() {
        let delay: Delay = serde_json::from_str(r#"{"amount": 2, "unit": "days"}"#).unwrap();
        assert_eq!(delay, days(2));
        assert_eq!(
            serde_json::to_value(hours(5)).unwrap(),
            serde_json::json!({"amount": 5, "unit": "hours"})
        );
        assert!(serde_json::from_str::<Delay>(r#"{"amount": 2, "unit": "weeks"}"#).is_err());
        assert!(serde_json::from_str::<Delay>(r#"{"amount": -1, "unit": "days"}"#).is_err());
    }
}
