//! Meta's WhatsApp webhooks (SPEC §5): delivery statuses, inbound messages (replies),
//! marketing opt-outs and template status changes. Every event is idempotent and safe in any
//! order: Meta delivers at least once and does not order deliveries.

use std::collections::BTreeMap;

use ulid::Ulid;

use std::sync::Arc;

use crate::channels::model::{Channel, TemplateCategory};
use crate::channels::store::ChannelStore;
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::page::PageRequest;
use crate::delivery::ports::Scheduler;
use crate::delivery::ports::{parse_callback, SendError};
use crate::enrollments::model::{Enrollment, EnrollmentStatus, ExitReason, MessageStatus, Outcome};
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::transitions::Change;
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::sequences::model::{Action, Sequence, SequenceStatus};
use crate::sequences::store::SequenceStore;
use crate::sequences::transitions::SequenceTransitions;

/// One event of Meta's webhook, as the WhatsApp adapter read it from a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundEvent {
    /// A delivery status of a message sent from the number `phone_number_id`.
    Status {
        phone_number_id: String,
        status: StatusUpdate,
    },
    /// A message the contact `from` (WhatsApp id, digits) wrote to the number.
    Message {
        phone_number_id: String,
        from: String,
    },
    /// The contact `wa_id` asked the number to stop marketing messages.
    MarketingStop {
        phone_number_id: String,
        wa_id: String,
    },
    /// A template of a WhatsApp Business account changed status (`PAUSED`, `DISABLED`, ...).
    TemplateStatus {
        waba_id: String,
        name: String,
        language: String,
        event: String,
        reason: Option<String>,
    },
    /// An item this service does not act on, or could not read.
    Ignored,
}

/// A message's delivery status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// WhatsApp's message id (`wamid...`).
    pub message_id: String,
    pub status: MessageStatus,
    /// The WhatsApp id of the recipient (digits).
    pub recipient_id: String,
    /// The `biz_opaque_callback_data` of the send, when Meta echoes it.
    pub callback_data: Option<String>,
    pub billable: bool,
    pub category: Option<TemplateCategory>,
    /// Why a `failed` message failed.
    pub failure: Option<StatusFailure>,
}

/// A failure Meta reported for a message after it was accepted, classified like a send error.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusFailure {
    pub code: i64,
    pub detail: String,
    pub class: SendError,
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

    /// Applies the events of one webhook notification (already authenticated by its signature).
    pub async fn apply(&self, events: Vec<InboundEvent>) -> Result<WebhookReport, DomainError> {
        let mut report = WebhookReport::default();
        let mut channels: BTreeMap<String, Option<Channel>> = BTreeMap::new();
        for event in events {
            let phone_number_id = match &event {
                InboundEvent::Status {
                    phone_number_id, ..
                }
                | InboundEvent::Message {
                    phone_number_id, ..
                }
                | InboundEvent::MarketingStop {
                    phone_number_id, ..
                } => phone_number_id.clone(),
                InboundEvent::TemplateStatus {
                    waba_id,
                    name,
                    language,
                    event,
                    reason,
                } => {
                    self.handle_template_status(
                        waba_id,
                        name,
                        language,
                        event,
                        reason.as_deref(),
                        &mut report,
                    )
                    .await?;
                    continue;
                }
                InboundEvent::Ignored => {
                    report.ignored += 1;
                    continue;
                }
            };
            let channel = match channels.get(&phone_number_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .channels
                        .channel_by_phone_number_id(&phone_number_id)
                        .await?;
                    if found.is_none() {
                        tracing::warn!(phone_number_id = %phone_number_id, "webhook for a number no tenant has; ignored");
                    }
                    channels.insert(phone_number_id, found.clone());
                    found
                }
            };
            let Some(channel) = channel else {
                report.ignored += 1;
                continue;
            };
            match event {
                InboundEvent::Status { status, .. } => {
                    if self.apply_status(&channel, status).await? {
                        report.statuses += 1;
                    } else {
                        report.ignored += 1;
                    }
                }
                InboundEvent::Message { from, .. } => {
                    report.replies += self.apply_reply(&channel, &e164(&from)).await?;
                }
                InboundEvent::MarketingStop { wa_id, .. } => {
                    report.opt_outs += self.apply_marketing_stop(&channel, &e164(&wa_id)).await?;
                }
                InboundEvent::TemplateStatus { .. } | InboundEvent::Ignored => {}
            }
        }
        Ok(report)
    }

    /// A delivery status: the message's history entry moves forward (never back), billing is
    /// recorded, and a failure is classified like a send error.
    async fn apply_status(
        &self,
        channel: &Channel,
        status: StatusUpdate,
    ) -> Result<bool, DomainError> {
        let Some((sequence_id, enrollment_id, step_id)) =
            status.callback_data.as_deref().and_then(parse_callback)
        else {
            return Ok(false);
        };
        let phone = e164(&status.recipient_id);
        let reported = status.status;
        let failure = status.failure.map(|f| (f.code, f.class, f.detail));
        let billable = status.billable;
        let category = status.category;
        let mut found = false;
        let mut pause = None;
        let mut cancel = None;
        self.transitions
            .mutate(&channel.tenant, sequence_id, &phone, |e| {
                if e.id != enrollment_id {
                    return Change::Keep;
                }
                let Some(index) = e.history.iter().position(|h| {
                    h.step_id == step_id
                        && h.message_id.as_deref() == Some(status.message_id.as_str())
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
        template_name: &str,
        template_language: &str,
        event: &str,
        reason: Option<&str>,
        report: &mut WebhookReport,
    ) -> Result<(), DomainError> {
        let event = event.to_ascii_uppercase();
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
                                if *name == template_name
                                    && (template_language.is_empty() || *language == template_language))
                    });
                    if uses && sequence.status == SequenceStatus::Active {
                        let reason = format!(
                            "template {} ({}) is {}{}",
                            template_name,
                            template_language,
                            event,
                            reason
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
