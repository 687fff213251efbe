//! What the API shows of an enrollment: the contact, its run and its history.

use chrono::{DateTime, Utc};
use serde::Serialize;
use ulid::Ulid;

use crate::enrollments::model::{Enrollment, EnrollmentStatus, ExitReason, MessageStatus, Outcome};

/// One step that went (or tried to go) to the contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryView {
    pub step_id: Ulid,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// WhatsApp's message id (`wamid...`).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub message_id: Option<String>,
    /// Delivery status from Meta's webhooks.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub status: Option<MessageStatus>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub error: Option<String>,
}

/// A contact in a sequence. `history` is given when one enrollment is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "phone": "+5511987654321", "name": "Ana", "status": "active", "exit_reason": null,
    "enrolled_at": "2026-11-23T12:00:00Z", "next_step_id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VZ",
    "next_send_at": "2026-11-25T12:00:00Z", "history": []
})))]
pub struct EnrollmentView {
    pub phone: String,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub name: Option<String>,
    pub status: EnrollmentStatus,
    /// Why an `exited` enrollment ended.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub exit_reason: Option<ExitReason>,
    pub enrolled_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub next_step_id: Option<Ulid>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub next_send_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub history: Option<Vec<HistoryView>>,
}

impl EnrollmentView {
    pub fn of(e: Enrollment, with_history: bool) -> Self {
        let history = with_history.then(|| {
            e.history
                .iter()
                .map(|h| HistoryView {
                    step_id: h.step_id,
                    at: h.at,
                    outcome: h.outcome,
                    message_id: h.message_id.clone(),
                    status: h.status,
                    error: h.error.clone(),
                })
                .collect()
        });
        Self {
            phone: e.contact.phone,
            name: e.contact.name,
            status: e.status,
            exit_reason: e.exit_reason,
            enrolled_at: e.enrolled_at,
            next_step_id: e.next_step_id,
            next_send_at: e.next_send_at,
            history,
        }
    }
}
