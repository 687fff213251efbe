//! Port traits: what the domain needs from the outside world, sized by capability. Adapters
//! (DynamoDB, EventBridge Scheduler, WhatsApp Cloud API, in-memory, outbox) implement them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::channels::model::{Bot, Channel, TemplateInfo};
use crate::common::error::PortError;
use crate::common::tenant::TenantId;

/// What a one-shot schedule hands to the sender: one step of one enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    pub tenant: TenantId,
    pub sequence_id: Ulid,
    pub enrollment_id: Ulid,
    pub phone: String,
    pub step_id: Ulid,
    #[serde(default)]
    pub attempt: u32,
}

impl StepJob {
    /// The job of `step_id` for this enrollment run, at `generation`.
    pub fn for_step(
        enrollment: &crate::enrollments::model::Enrollment,
        step_id: Ulid,
        generation: u32,
    ) -> Self {
        Self {
            tenant: enrollment.tenant.clone(),
            sequence_id: enrollment.sequence_id,
            enrollment_id: enrollment.id,
            phone: enrollment.contact.phone.clone(),
            step_id,
            attempt: generation,
        }
    }

    /// A schedule name that identifies this job, within 64 characters of `[0-9a-zA-Z-_.]`.
    pub fn schedule_name(&self) -> String {
        format!("{}.{}.{}", self.enrollment_id, self.step_id, self.attempt)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    pub fire_at: DateTime<Utc>,
    pub input: StepJob,
}

/// One-shot schedules that fire the sender.
#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// Creates (or replaces) the schedule of that name.
    async fn schedule(&self, schedule: Schedule) -> Result<(), PortError>;
    /// Deletes the schedule; a schedule that does not exist (already fired) is success.
    async fn cancel(&self, name: &str) -> Result<(), PortError>;
}

/// What a schedule fires: the sender.
#[async_trait]
pub trait StepRunner: Send + Sync + 'static {
    async fn run(&self, job: StepJob) -> Result<(), PortError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub message_id: String,
}

/// How a send failed, in the classes that decide what happens next (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Throttling, server errors, a connection that failed before any response: try again later.
    #[error("retryable error {code:?}: {detail}")]
    Retryable { code: Option<i64>, detail: String },
    /// This contact can never receive it: the enrollment ends.
    #[error("permanent error for this contact {code}: {detail}")]
    Contact { code: i64, detail: String },
    /// The template is broken (paused, missing, wrong parameters): the sequence pauses.
    #[error("template error {code}: {detail}")]
    Template { code: i64, detail: String },
    /// The sending account is blocked or restricted: the sequence pauses.
    #[error("account error {code}: {detail}")]
    Account { code: i64, detail: String },
    /// The request may have reached Meta (a timeout after sending): never resent.
    #[error("outcome unknown: {detail}")]
    Unknown { detail: String },
}

impl SendError {
    /// Classifies a Meta Graph API error code (SPEC §4).
    pub fn from_meta_code(code: i64, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match code {
            130429 | 131056 | 131000 | 131016 | 1 | 2 | 4 | 80007 | 613 => Self::Retryable {
                code: Some(code),
                detail,
            },
            132000 | 132001 | 132012 | 132015 | 132016 => Self::Template { code, detail },
            368 | 131031 | 131042 => Self::Account { code, detail },
            // 131026 undeliverable, 131050 opted out, 131049, 130472, 130497, and any other
            // error about this one request: the contact cannot get this message.
            _ => Self::Contact { code, detail },
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Retryable { code, .. } => *code,
            Self::Contact { code, .. }
            | Self::Template { code, .. }
            | Self::Account { code, .. } => Some(*code),
            Self::Unknown { .. } => None,
        }
    }
}

/// Sends WhatsApp messages and starts chatbots.
#[async_trait]
pub trait Messenger: Send + Sync + 'static {
    /// Posts `body` (the exact Cloud API JSON) to the channel's `/messages` endpoint.
    async fn send_template(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
    ) -> Result<SendReceipt, SendError>;

    /// Posts `body` to the bot's webhook, signed with its secret.
    async fn start_chatbot(&self, bot: &Bot, body: &serde_json::Value) -> Result<(), SendError>;

    /// The number's message templates.
    async fn templates(&self, channel: &Channel) -> Result<Vec<TemplateInfo>, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_codes_fall_into_the_spec_classes() {
        assert!(matches!(
            SendError::from_meta_code(130429, ""),
            SendError::Retryable { .. }
        ));
        assert!(matches!(
            SendError::from_meta_code(131026, ""),
            SendError::Contact { .. }
        ));
        assert!(matches!(
            SendError::from_meta_code(131050, ""),
            SendError::Contact { .. }
        ));
        assert!(matches!(
            SendError::from_meta_code(132001, ""),
            SendError::Template { .. }
        ));
        assert!(matches!(
            SendError::from_meta_code(368, ""),
            SendError::Account { .. }
        ));
    }

    #[test]
    fn schedule_names_fit_eventbridge_rules() {
        let job = StepJob {
            tenant: TenantId::parse("t").unwrap(),
            sequence_id: Ulid::new(),
            enrollment_id: Ulid::new(),
            phone: "+5511987654321".into(),
            step_id: Ulid::new(),
            attempt: 12,
        };
        let name = job.schedule_name();
        assert!(name.len() <= 64);
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }
}
