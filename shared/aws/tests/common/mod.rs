//! The fixtures the DynamoDB store's test suites share.

#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ritmo_core::channels::model::Channel;
use ritmo_core::common::secret::Secret;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::enrollments::model::{Contact, Enrollment, EnrollmentStatus, StepState};
use ulid::Ulid;

/// `minutes` after 2026-11-23 12:00 UTC.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

/// A channel of `t` on `phone_number_id`, at 80 messages a second.
pub fn channel(t: &TenantId, phone_number_id: &str) -> Channel {
    Channel {
        tenant: t.clone(),
        id: Ulid::new(),
        name: "Loja".into(),
        phone_number_id: phone_number_id.into(),
        waba_id: "2098765432".into(),
        display_phone: "+55 11 4000-0000".into(),
        access_token: Secret::new("EAAG-test"),
        messages_per_second: 80,
        created_at: at(0),
        updated_at: at(0),
    }
}

/// A new active run of Ana (`phone`, America/Manaus, coupon `X1`), its first step scheduled an
/// hour after enrollment.
pub fn enrollment(t: &TenantId, sequence_id: Ulid, phone: &str) -> Enrollment {
    Enrollment {
        tenant: t.clone(),
        sequence_id,
        id: Ulid::new(),
        contact: Contact {
            phone: phone.into(),
            name: Some("Ana".into()),
            time_zone: Some("America/Manaus".into()),
            attributes: [("coupon".to_string(), "X1".to_string())].into(),
        },
        status: EnrollmentStatus::Active,
        exit_reason: None,
        enrolled_at: at(0),
        next_step_id: Some(Ulid::new()),
        next_send_at: Some(at(60)),
        state: StepState::Scheduled {
            generation: 1,
            fire_at: at(60),
            slot: false,
        },
        retries: 0,
        last_step_id: None,
        last_sent_at: None,
        steps_done: vec![],
        last_message_step_id: None,
        history: vec![],
        wa_id: None,
        version: 1,
        updated_at: at(0),
    }
}
