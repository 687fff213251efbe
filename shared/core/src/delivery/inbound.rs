//! Meta's WhatsApp webhooks (SPEC §5): delivery statuses, inbound messages (replies),
//! marketing opt-outs and template status changes. Every event is idempotent and safe in any
//! order: Meta delivers at least once and does not order deliveries.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use ulid::Ulid;

use std::sync::Arc;

use crate::channels::model::{Channel, TemplateCategory};
use crate::channels::store::ChannelStore;
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::page::PageRequest;
use crate::delivery::ports::Scheduler;
use crate::delivery::ports::SendError;
use crate::enrollments::model::{Enrollment, EnrollmentStatus, ExitReason, MessageStatus, Outcome};
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::transitions::Change;
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::sequences::model::{Action, Sequence, SequenceStatus};
use crate::sequences::store::SequenceStore;
use crate::sequences::transitions::SequenceTransitions;

/// `biz_opaque_callback_data` of a template send: it names sequence, enrollment run and step,
/// so a status finds its enrollment without another index.
pub fn callback_data(sequence_id: Ulid, enrollment_id: Ulid, step_id: Ulid) -> String {
    format!("{sequence_id}:{enrollment_id}:{step_id}")
}

fn parse_callback(raw: &str) -> Option<(Ulid, Ulid, Ulid)> {
    let mut parts = raw.split(':');
    let sequence = Ulid::from_string(parts.next()?).ok()?;
    let enrollment = Ulid::from_string(parts.next()?).ok()?;
    let step = Ulid::from_string(parts.next()?).ok()?;
    parts
        .next()
        .is_none()
        .then_some((sequence, enrollment, step))
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body, in constant time.
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    if hex.len() != 64 {
        return false;
    }
    let mut expected = [0u8; 32];
    for (i, byte) in expected.iter_mut().enumerate() {
        match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(b) => *byte = b,
            Err(_) => return false,
        }
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

// ----- Meta's payload -----

#[derive(Debug, Deserialize)]
pub struct Notification {
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The WhatsApp Business account id.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub changes: Vec<ChangeNotice>,
}

#[derive(Debug, Deserialize)]
pub struct ChangeNotice {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
struct MessagesValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    statuses: Vec<StatusEvent>,
    #[serde(default)]
    messages: Vec<InboundMessage>,
    #[serde(default)]
    user_preferences: Vec<UserPreference>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct StatusEvent {
    id: String,
    status: String,
    #[serde(default)]
    recipient_id: String,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pricing: Option<Pricing>,
    #[serde(default)]
    errors: Vec<MetaErrorItem>,
}

#[derive(Debug, Deserialize)]
struct Pricing {
    #[serde(default)]
    billable: Option<bool>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MetaErrorItem {
    code: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InboundMessage {
    from: String,
}

#[derive(Debug, Deserialize)]
struct UserPreference {
    wa_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct TemplateStatusValue {
    #[serde(default)]
    event: String,
    #[serde(default)]
    message_template_name: String,
    #[serde(default)]
    message_template_language: String,
    #[serde(default)]
    reason: Option<String>,
}

/// What one notification changed, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookReport {
    pub statuses: usize,
    pub replies: usize,
    pub opt_outs: usize,
    pub paused_sequences: usize,
    pub ignored: usize,
}

fn e164(digits: &str) -> String {
    if digits.starts_with('+') {
        digits.to_string()
    } else {
        format!("+{digits}")
    }
}

/// Applies Meta's webhook events to enrollments and sequences.
#[derive(Clone)]
pub struct InboundWebhooks {
    channels: Arc<dyn ChannelStore>,
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    scheduler: Arc<dyn Scheduler>,
    transitions: EnrollmentTransitions,
    state: SequenceTransitions,
}

impl InboundWebhooks {
    pub fn new(
        clock: Arc<dyn Clock>,
        channels: Arc<dyn ChannelStore>,
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        scheduler: Arc<dyn Scheduler>,
    ) -> Self {
        Self {
            transitions: EnrollmentTransitions::new(
                clock.clone(),
                enrollments.clone(),
                scheduler.clone(),
            ),
            state: SequenceTransitions::new(clock, sequences.clone()),
            channels,
            sequences,
            enrollments,
            scheduler,
        }
    }

    /// Applies one webhook notification (already authenticated by its signature).
    pub async fn handle_notification(
        &self,
        notification: Notification,
    ) -> Result<WebhookReport, DomainError> {
        let mut report = WebhookReport::default();
        for entry in notification.entry {
            for change in entry.changes {
                match change.field.as_str() {
                    "messages" | "user_preferences" => {
                        let value: MessagesValue =
                            serde_json::from_value(change.value).unwrap_or_default();
                        self.handle_messages(value, &mut report).await?;
                    }
                    "message_template_status_update" => {
                        let value: TemplateStatusValue = match serde_json::from_value(change.value)
                        {
                            Ok(value) => value,
                            Err(_) => {
                                report.ignored += 1;
                                continue;
                            }
                        };
                        self.handle_template_status(&entry.id, value, &mut report)
                            .await?;
                    }
                    other => {
                        tracing::debug!(field = other, "webhook field not used");
                        report.ignored += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    async fn handle_messages(
        &self,
        value: MessagesValue,
        report: &mut WebhookReport,
    ) -> Result<(), DomainError> {
        let Some(metadata) = value.metadata else {
            report.ignored += 1;
            return Ok(());
        };
        let Some(channel) = self
            .channels
            .channel_by_phone_number_id(&metadata.phone_number_id)
            .await?
        else {
            tracing::warn!(phone_number_id = %metadata.phone_number_id, "webhook for a number no tenant has; ignored");
            report.ignored +=
                value.statuses.len() + value.messages.len() + value.user_preferences.len();
            return Ok(());
        };
        for status in value.statuses {
            if self.apply_status(&channel, status).await? {
                report.statuses += 1;
            } else {
                report.ignored += 1;
            }
        }
        for message in value.messages {
            report.replies += self.apply_reply(&channel, &e164(&message.from)).await?;
        }
        for preference in value.user_preferences {
            if preference.category == "marketing_messages"
                && preference.value.eq_ignore_ascii_case("stop")
            {
                report.opt_outs += self
                    .apply_marketing_stop(&channel, &e164(&preference.wa_id))
                    .await?;
            }
        }
        Ok(())
    }

    /// A delivery status: the message's history entry moves forward (never back), billing is
    /// recorded, and a failure is classified like a send error.
    async fn apply_status(
        &self,
        channel: &Channel,
        status: StatusEvent,
    ) -> Result<bool, DomainError> {
        let Some((sequence_id, enrollment_id, step_id)) = status
            .biz_opaque_callback_data
            .as_deref()
            .and_then(parse_callback)
        else {
            return Ok(false);
        };
        let phone = e164(&status.recipient_id);
        let reported = match status.status.as_str() {
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "read" => MessageStatus::Read,
            "failed" => MessageStatus::Failed,
            _ => return Ok(false),
        };
        let failure = status.errors.first().map(|e| {
            let detail = e
                .message
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| e.title.clone());
            (
                e.code,
                SendError::from_meta_code(e.code, detail.clone()),
                detail,
            )
        });
        let billable = status
            .pricing
            .as_ref()
            .and_then(|p| p.billable)
            .unwrap_or(false);
        let category = status
            .pricing
            .as_ref()
            .and_then(|p| p.category.as_deref())
            .and_then(TemplateCategory::parse);
        let mut found = false;
        let mut pause = None;
        let mut cancel = None;
        self.transitions
            .mutate(&channel.tenant, sequence_id, &phone, |e| {
                if e.id != enrollment_id {
                    return Change::Keep;
                }
                let Some(index) = e.history.iter().position(|h| {
                    h.step_id == step_id && h.message_id.as_deref() == Some(status.id.as_str())
                }) else {
                    return Change::Keep;
                };
                found = true;
                let entry = &mut e.history[index];
                let before = entry.clone();
                match reported {
                    MessageStatus::Delivered => entry.delivered = true,
                    MessageStatus::Read => {
                        entry.delivered = true;
                        entry.read = true;
                    }
                    _ => {}
                }
                if billable {
                    entry.billable = true;
                    if category.is_some() {
                        entry.category = category;
                    }
                }
                if reported == MessageStatus::Failed {
                    entry.status = Some(MessageStatus::Failed);
                    if let Some((code, _, detail)) = &failure {
                        entry.error_code = Some(*code);
                        entry.error = Some(format!("{code}: {detail}"));
                    }
                } else if entry.status != Some(MessageStatus::Failed) {
                    entry.status = Some(
                        entry
                            .status
                            .map_or(reported, |current| current.max(reported)),
                    );
                }
                let changed = *entry != before;
                let newly_failed = reported == MessageStatus::Failed
                    && before.status != Some(MessageStatus::Failed);
                // A failure reported later ends or pauses like a failed send.
                if newly_failed {
                    match &failure {
                        Some((code, SendError::Contact { .. }, _)) if e.is_active() => {
                            cancel = e.end_with_schedule(
                                EnrollmentStatus::Exited,
                                Some(ExitReason::for_meta_code(*code)),
                            );
                        }
                        Some((
                            _,
                            error @ (SendError::Template { .. } | SendError::Account { .. }),
                            detail,
                        )) => {
                            pause = Some(format!("{}: {detail}", error.code().unwrap_or_default()));
                        }
                        _ => {}
                    }
                }
                if changed {
                    Change::Write
                } else {
                    Change::Keep
                }
            })
            .await?;
        if let Some(name) = cancel {
            self.scheduler.cancel(&name).await?;
        }
        if let Some(reason) = pause {
            let reason = Some(format!("message failed: {reason}"));
            match self
                .state
                .pause_with_reason(&channel.tenant, sequence_id, reason)
                .await
            {
                // Already archived, or still a draft: nothing to pause.
                Ok(_) | Err(DomainError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(found)
    }

    /// The contact's enrollments in every sequence of the tenant.
    async fn enrollments_of(
        &self,
        channel: &Channel,
        phone: &str,
    ) -> Result<Vec<(Sequence, Enrollment)>, DomainError> {
        let mut found = Vec::new();
        let mut page = PageRequest::first(200);
        loop {
            let batch = self
                .sequences
                .list_sequences(&channel.tenant, &page)
                .await?;
            for sequence in batch.items {
                if sequence.status == SequenceStatus::Draft {
                    continue;
                }
                if let Some(e) = self
                    .enrollments
                    .get_enrollment(&channel.tenant, sequence.id, phone)
                    .await?
                {
                    found.push((sequence, e));
                }
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(found),
            }
        }
    }

    /// An inbound message: `replied` on the last step sent to the contact, and the end of the
    /// run in sequences that exit on reply.
    async fn apply_reply(&self, channel: &Channel, phone: &str) -> Result<usize, DomainError> {
        let mut replies = 0;
        for (sequence, enrollment) in self.enrollments_of(channel, phone).await? {
            let mut cancel = None;
            let result = self
                .transitions
                .mutate(&channel.tenant, sequence.id, phone, |e| {
                    if e.id != enrollment.id {
                        return Change::Keep;
                    }
                    let run_start = e.enrolled_at;
                    let last_sent = e
                        .history
                        .iter_mut()
                        .rev()
                        .find(|h| h.at >= run_start && h.outcome == Outcome::Sent);
                    let mut changed = false;
                    if let Some(entry) = last_sent {
                        if !entry.replied {
                            entry.replied = true;
                            changed = true;
                        }
                    }
                    if sequence.exit_on_reply && e.is_active() {
                        cancel = e
                            .end_with_schedule(EnrollmentStatus::Exited, Some(ExitReason::Replied));
                        changed = true;
                    }
                    if changed {
                        Change::Write
                    } else {
                        Change::Keep
                    }
                })
                .await?;
            if let Some((_, true)) = result {
                replies += 1;
                if let Some(name) = cancel {
                    self.scheduler.cancel(&name).await?;
                }
            }
        }
        Ok(replies)
    }

    /// A marketing stop: runs whose next step is a marketing template end (`opted_out`).
    async fn apply_marketing_stop(
        &self,
        channel: &Channel,
        phone: &str,
    ) -> Result<usize, DomainError> {
        let mut ended = 0;
        for (sequence, enrollment) in self.enrollments_of(channel, phone).await? {
            let next_is_marketing = enrollment
                .next_step_id
                .and_then(|id| sequence.step(id))
                .is_some_and(|s| {
                    matches!(
                        s.action,
                        Action::Template {
                            category: Some(TemplateCategory::Marketing),
                            ..
                        }
                    )
                });
            if enrollment.is_active() && next_is_marketing {
                self.transitions
                    .end(
                        &channel.tenant,
                        sequence.id,
                        phone,
                        EnrollmentStatus::Exited,
                        Some(ExitReason::OptedOut),
                    )
                    .await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// A template paused, disabled or rejected: every active sequence with a step using it on
    /// that account pauses, with the reason visible.
    async fn handle_template_status(
        &self,
        waba_id: &str,
        value: TemplateStatusValue,
        report: &mut WebhookReport,
    ) -> Result<(), DomainError> {
        let event = value.event.to_ascii_uppercase();
        if !matches!(
            event.as_str(),
            "PAUSED" | "DISABLED" | "REJECTED" | "PENDING_DELETION" | "FLAGGED"
        ) {
            return Ok(());
        }
        let channels = self.channels.channels_by_waba_id(waba_id).await?;
        let mut by_tenant: BTreeMap<_, Vec<Ulid>> = BTreeMap::new();
        for channel in channels {
            by_tenant
                .entry(channel.tenant.clone())
                .or_default()
                .push(channel.id);
        }
        for (tenant, channel_ids) in by_tenant {
            let mut page = PageRequest::first(200);
            loop {
                let batch = self.sequences.list_sequences(&tenant, &page).await?;
                for sequence in &batch.items {
                    let uses = sequence.steps.iter().any(|s| {
                        channel_ids.contains(&s.channel_id)
                            && matches!(&s.action, Action::Template { name, language, .. }
                                if *name == value.message_template_name
                                    && (value.message_template_language.is_empty() || *language == value.message_template_language))
                    });
                    if uses && sequence.status == SequenceStatus::Active {
                        let reason = format!(
                            "template {} ({}) is {}{}",
                            value.message_template_name,
                            value.message_template_language,
                            event,
                            value
                                .reason
                                .as_deref()
                                .filter(|r| !r.is_empty() && *r != "NONE")
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        );
                        match self
                            .state
                            .pause_with_reason(&tenant, sequence.id, Some(reason))
                            .await
                        {
                            Ok(_) => report.paused_sequences += 1,
                            Err(DomainError::Conflict(_)) => {}
                            Err(error) => return Err(error),
                        }
                    }
                }
                match batch.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

impl Enrollment {
    /// Ends the run and returns the name of the schedule that was pending, to delete it.
    pub(crate) fn end_with_schedule(
        &mut self,
        status: EnrollmentStatus,
        reason: Option<ExitReason>,
    ) -> Option<String> {
        let pending = match (&self.state, self.next_step_id) {
            (crate::enrollments::model::StepState::Scheduled { generation, .. }, Some(step_id)) => {
                Some(
                    crate::delivery::ports::StepJob::for_step(self, step_id, *generation)
                        .schedule_name(),
                )
            }
            _ => None,
        };
        self.end(status, reason);
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let header = format!("sha256={hex}");
        assert!(verify_signature(b"app-secret", body, Some(&header)));
        assert!(!verify_signature(b"other-secret", body, Some(&header)));
        assert!(!verify_signature(b"app-secret", b"{}", Some(&header)));
        assert!(!verify_signature(b"app-secret", body, None));
        assert!(!verify_signature(b"app-secret", body, Some("sha256=zz")));
        assert!(!verify_signature(b"app-secret", body, Some(&hex)));
    }

    #[test]
    fn callback_data_round_trips() {
        let (a, b, c) = (Ulid::new(), Ulid::new(), Ulid::new());
        assert_eq!(parse_callback(&callback_data(a, b, c)), Some((a, b, c)));
        assert_eq!(parse_callback("x:y:z"), None);
        assert_eq!(parse_callback(&format!("{a}:{b}")), None);
    }
}
