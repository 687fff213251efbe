//! Port traits: what the domain needs from the outside world, sized by capability. Adapters
//! (DynamoDB, EventBridge Scheduler, WhatsApp Cloud API, in-memory, outbox) implement them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::channels::model::{Bot, Channel, ParameterNames, TemplateInfo};
use crate::common::error::PortError;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;
use crate::enrollments::model::{Contact, SendError};
use crate::sequences::model::{ButtonParameter, Header};

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
    /// The send slot of the step's number taken for this generation, when it was planned in
    /// one: the sender sends in it without taking another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<chrono::DateTime<chrono::Utc>>,
    /// Set on the job that records a send Meta already accepted (the store refused the
    /// outcome write for capacity): the sender records it as sent and never sends again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<AcceptedSend>,
}

/// What Meta answered for a send whose outcome is still to be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSend {
    /// When Meta accepted it (the send's instant, which the next step counts from).
    pub at: DateTime<Utc>,
    /// The message's id (none for a chatbot start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The WhatsApp id Meta resolved the number to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
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
            slot: None,
            accepted: None,
        }
    }

    /// The job that records `accepted`, the send this job made, without sending again.
    pub fn recording(&self, accepted: AcceptedSend) -> Self {
        Self {
            slot: None,
            accepted: Some(accepted),
            ..self.clone()
        }
    }

    /// A schedule name that identifies this job, within 64 characters of `[0-9a-zA-Z-_.]`
    /// (for generations below 10,000); a recording job's ends in `.sent`.
    pub fn schedule_name(&self) -> String {
        let suffix = if self.accepted.is_some() { ".sent" } else { "" };
        format!(
            "{}.{}.{}{suffix}",
            self.enrollment_id, self.step_id, self.attempt
        )
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
    /// The WhatsApp id Meta resolved the number to (`contacts[].wa_id`), when it says.
    pub wa_id: Option<String>,
}

/// One template message to one contact, with its parameters rendered for that contact. The
/// adapter turns it into Cloud API's body (`messaging_product`, `to`, `template {name, language,
/// components}`, `biz_opaque_callback_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// The contact's number in E.164.
    pub to: Phone,
    pub name: String,
    pub language: String,
    /// The body's `{{1}}, {{2}}, ...` in order.
    pub body_parameters: Vec<String>,
    /// The header's parameter or media, when the template's header takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// The template's parameter names, when it uses named parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_names: Option<ParameterNames>,
    /// The buttons' parameters, rendered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonParameter>,
    /// Names the sequence, enrollment run and step (see [`callback_data`]); Meta echoes it in
    /// the message's statuses.
    pub callback_data: String,
}

/// What a chatbot step posts to the bot's webhook (signed with the bot's secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatbotStart {
    pub tenant: TenantId,
    pub sequence_id: Ulid,
    pub step_id: Ulid,
    pub enrollment_id: Ulid,
    pub channel_id: Ulid,
    pub contact: Contact,
}

/// `biz_opaque_callback_data` of a template send: it names sequence, enrollment run and step,
/// so a status finds its enrollment without another index.
pub fn callback_data(sequence_id: Ulid, enrollment_id: Ulid, step_id: Ulid) -> String {
    format!("{sequence_id}:{enrollment_id}:{step_id}")
}

/// The sequence, enrollment run and step a callback names.
pub fn parse_callback(raw: &str) -> Option<(Ulid, Ulid, Ulid)> {
    let mut parts = raw.split(':');
    let sequence = Ulid::from_string(parts.next()?).ok()?;
    let enrollment = Ulid::from_string(parts.next()?).ok()?;
    let step = Ulid::from_string(parts.next()?).ok()?;
    parts
        .next()
        .is_none()
        .then_some((sequence, enrollment, step))
}

/// Hands verified webhook notifications to a queue, so that the webhook answers Meta at once
/// and the notifications are applied apart: in batches, retried, then dead-lettered.
#[async_trait]
pub trait NotificationQueue: Send + Sync + 'static {
    /// The largest notification one message may carry (larger ones are split before).
    fn max_message_bytes(&self) -> usize;

    /// Queues every notification (each a JSON notification whose signature was checked), or
    /// fails: then Meta's delivery is refused and Meta delivers it again.
    async fn enqueue(&self, notifications: Vec<Vec<u8>>) -> Result<(), PortError>;
}

/// Sends WhatsApp messages and starts chatbots.
#[async_trait]
pub trait Messenger: Send + Sync + 'static {
    /// Sends the template from the channel's number.
    async fn send_template(
        &self,
        channel: &Channel,
        message: &TemplateMessage,
    ) -> Result<SendReceipt, SendError>;

    /// Posts the start to the bot's webhook, signed with its secret.
    async fn start_chatbot(&self, bot: &Bot, start: &ChatbotStart) -> Result<(), SendError>;

    /// The number's message templates.
    async fn templates(&self, channel: &Channel) -> Result<Vec<TemplateInfo>, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_round_trips() {
        let (a, b, c) = (Ulid::new(), Ulid::new(), Ulid::new());
        assert_eq!(parse_callback(&callback_data(a, b, c)), Some((a, b, c)));
        assert_eq!(parse_callback("x:y:z"), None);
        assert_eq!(
            parse_callback(&format!("{}:extra", callback_data(a, b, c))),
            None
        );
    }

    #[test]
    fn schedule_names_fit_eventbridge_rules() {
        let job = StepJob {
            tenant: TenantId::parse("t").unwrap(),
            sequence_id: Ulid::new(),
            enrollment_id: Ulid::new(),
            phone: "+5511987654321".into(),
            step_id: Ulid::new(),
            attempt: 9999,
            slot: None,
            accepted: None,
        };
        let recording = job.recording(AcceptedSend {
            at: Utc::now(),
            message_id: Some("wamid.1".into()),
            wa_id: None,
        });
        assert_ne!(job.schedule_name(), recording.schedule_name());
        for name in [job.schedule_name(), recording.schedule_name()] {
            assert!(name.len() <= 64, "{name}");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        }
    }

    #[test]
    fn a_job_without_a_recorded_send_reads_and_writes_as_before() {
        let json = serde_json::json!({"tenant": "t", "sequence_id": Ulid::nil(),
            "enrollment_id": Ulid::nil(), "phone": "+5511987654321", "step_id": Ulid::nil(),
            "attempt": 2});
        let job: StepJob = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(job.accepted, None);
        assert_eq!(serde_json::to_value(&job).unwrap(), json);
    }
}

/// What one delivery of a step came to, per number: for the sender's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMetric {
    pub channel_id: Ulid,
    /// `sent`, `throttled`, `retried`, `failed`, `unknown`, `deferred` or `paused`.
    pub outcome: &'static str,
    /// For a send: how long after its planned instant it went out.
    pub late_by: Option<chrono::TimeDelta>,
}

/// Where the sender reports each delivery's outcome (CloudWatch embedded metrics in the
/// stack; nowhere locally).
pub trait SendMetrics: Send + Sync + 'static {
    fn record(&self, metric: &StepMetric);
}

/// Reports nothing.
pub struct NoMetrics;

impl SendMetrics for NoMetrics {
    fn record(&self, _: &StepMetric) {}
}
