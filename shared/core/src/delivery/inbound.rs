//! Meta's WhatsApp webhooks (SPEC §5): delivery statuses, inbound messages (replies),
//! marketing opt-outs and template status changes. Every event is idempotent and safe in any
//! order: Meta delivers at least once and does not order deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

use ulid::Ulid;

use crate::channels::model::{same_language, Channel, TemplateCategory};
use crate::channels::store::ChannelStore;
use crate::common::cache::TtlCache;
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::page::PageRequest;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;
use crate::delivery::ports::Scheduler;
use crate::delivery::sender::SNAPSHOT_TTL;
use crate::delivery::statuses::{StatusOutcome, Statuses};
use crate::enrollments::model::{Enrollment, EnrollmentStatus, ExitReason, Outcome, StatusUpdate};
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::enrollments::transitions::{Change, EntryPick};
use crate::sequences::model::{Action, Sequence, SequenceStatus, TemplateNotice};
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
    /// A message the contact `from` (WhatsApp id, digits) wrote to the number: a reply (text,
    /// media, location, contacts, a button or interactive reply, an order). System messages,
    /// reactions, deletions and edits are not replies and never become this event.
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
    /// Meta changed a template's category (`template_category_update`).
    TemplateCategory {
        waba_id: String,
        name: String,
        language: String,
        category: TemplateCategory,
    },
    /// An item this service does not act on, or could not read.
    Ignored,
}

/// What one notification changed, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookReport {
    pub statuses: usize,
    /// Statuses kept until their send is recorded.
    pub held: usize,
    pub replies: usize,
    pub opt_outs: usize,
    pub paused_sequences: usize,
    /// Sequences that got a template notice (flagged, paused, approved again, ...).
    pub noticed_sequences: usize,
    /// Steps whose template category changed.
    pub recategorised_steps: usize,
    pub ignored: usize,
}

/// Template events that pause the sequences using the template.
const PAUSING: [&str; 4] = ["PAUSED", "DISABLED", "REJECTED", "PENDING_DELETION"];
/// Template events shown on the sequence without pausing it: `FLAGGED` is a quality warning
/// (Meta still delivers the template); an approval after one of the others says the template
/// can be sent again (resume stays a one-click `POST /resume`).
const NOTICED: [&str; 3] = ["FLAGGED", "APPROVED", "REINSTATED"];

/// Applies Meta's webhook events to enrollments and sequences.
#[derive(Clone)]
pub struct InboundWebhooks {
    clock: Arc<dyn Clock>,
    channels: Arc<dyn ChannelStore>,
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    scheduler: Arc<dyn Scheduler>,
    transitions: EnrollmentTransitions,
    state: SequenceTransitions,
    statuses: Statuses,
    /// The channel of each phone number id as this instance last looked it up (none for a
    /// number no tenant has), for [`SNAPSHOT_TTL`]: every status of a busy number would
    /// otherwise read the number's owner and its channel again.
    numbers: TtlCache<String, Option<Channel>>,
}

impl InboundWebhooks {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: Arc<dyn Clock>,
        channels: Arc<dyn ChannelStore>,
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        scheduler: Arc<dyn Scheduler>,
        transitions: EnrollmentTransitions,
        state: SequenceTransitions,
        statuses: Statuses,
    ) -> Self {
        Self {
            numbers: TtlCache::new(clock.clone(), SNAPSHOT_TTL),
            statuses,
            transitions,
            state,
            clock,
            channels,
            sequences,
            enrollments,
            scheduler,
        }
    }

    /// The channel that has `phone_number_id`, as this instance read it less than
    /// [`SNAPSHOT_TTL`] ago, or from the store.
    async fn channel_of(&self, phone_number_id: &str) -> Result<Option<Channel>, DomainError> {
        if let Some(known) = self.numbers.get(&phone_number_id.to_string()) {
            return Ok(known);
        }
        let found = self
            .channels
            .channel_by_phone_number_id(phone_number_id)
            .await?;
        self.numbers.put(phone_number_id.to_string(), found.clone());
        Ok(found)
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
                InboundEvent::TemplateCategory {
                    waba_id,
                    name,
                    language,
                    category,
                } => {
                    report.recategorised_steps += self
                        .handle_category_update(waba_id, name, language, *category)
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
                    let found = self.channel_of(&phone_number_id).await?;
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
                    match self
                        .statuses
                        .apply(&channel.tenant, &status, self.clock.now())
                        .await?
                    {
                        StatusOutcome::Applied => report.statuses += 1,
                        StatusOutcome::Held => report.held += 1,
                        StatusOutcome::Unknown => report.ignored += 1,
                    }
                }
                InboundEvent::Message { from, .. } => {
                    report.replies += self.apply_reply(&channel, &from).await?;
                }
                InboundEvent::MarketingStop { wa_id, .. } => {
                    report.opt_outs += self.apply_marketing_stop(&channel, &wa_id).await?;
                }
                InboundEvent::TemplateStatus { .. }
                | InboundEvent::TemplateCategory { .. }
                | InboundEvent::Ignored => {}
            }
        }
        Ok(report)
    }

    /// The contact's runs, found through the contact index (by the WhatsApp id Meta reported,
    /// the Brazilian ninth digit reconciled), with their sequences.
    async fn runs_of(
        &self,
        channel: &Channel,
        wa_id: &str,
    ) -> Result<Vec<(Sequence, Enrollment)>, DomainError> {
        let Some(contact) = Phone::from_wa_id(wa_id) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for run in self
            .enrollments
            .contact_runs(&channel.tenant, &contact.contact_key())
            .await?
        {
            let Some(sequence) = self
                .sequences
                .get_sequence(&channel.tenant, run.sequence_id)
                .await?
            else {
                continue;
            };
            if sequence.status == SequenceStatus::Draft {
                continue;
            }
            if let Some(e) = self
                .enrollments
                .get_enrollment(&channel.tenant, run.sequence_id, &run.phone)
                .await?
            {
                found.push((sequence, e));
            }
        }
        Ok(found)
    }

    /// An inbound message: `replied` on the last step sent to the contact, and the end of the
    /// run in sequences that exit on reply.
    async fn apply_reply(&self, channel: &Channel, from: &str) -> Result<usize, DomainError> {
        let mut replies = 0;
        for (sequence, enrollment) in self.runs_of(channel, from).await? {
            let mut cancel = None;
            let result = self
                .transitions
                .mutate_entry(
                    &channel.tenant,
                    sequence.id,
                    enrollment.phone(),
                    EntryPick::LastMessage,
                    |e| {
                        cancel = None;
                        if e.id != enrollment.id {
                            return Change::Keep;
                        }
                        let last_sent = e.history.iter_mut().find(|h| h.outcome == Outcome::Sent);
                        let mut changed = false;
                        if let Some(entry) = last_sent {
                            if !entry.replied {
                                entry.replied = true;
                                changed = true;
                            }
                        }
                        if sequence.exit_on_reply && e.is_active() {
                            cancel = e.end_with_schedule(
                                EnrollmentStatus::Exited,
                                Some(ExitReason::Replied),
                            );
                            changed = true;
                        }
                        if changed {
                            Change::Write
                        } else {
                            Change::Keep
                        }
                    },
                )
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
        wa_id: &str,
    ) -> Result<usize, DomainError> {
        let mut ended = 0;
        for (sequence, enrollment) in self.runs_of(channel, wa_id).await? {
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
                        enrollment.phone(),
                        EnrollmentStatus::Exited,
                        Some(ExitReason::OptedOut),
                    )
                    .await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Every sequence of the tenants owning the account's channels, with the ids of those
    /// channels, page by page.
    async fn for_each_sequence_of_account(
        &self,
        waba_id: &str,
        mut each: impl FnMut(&TenantId, &[Ulid], &Sequence) -> bool,
    ) -> Result<Vec<(TenantId, Ulid)>, DomainError> {
        let channels = self.channels.channels_by_waba_id(waba_id).await?;
        let mut by_tenant: BTreeMap<_, Vec<Ulid>> = BTreeMap::new();
        for channel in channels {
            by_tenant
                .entry(channel.tenant.clone())
                .or_default()
                .push(channel.id);
        }
        let mut chosen = Vec::new();
        for (tenant, channel_ids) in by_tenant {
            let mut page = PageRequest::first(200);
            loop {
                let batch = self.sequences.list_sequences(&tenant, &page).await?;
                for sequence in &batch.items {
                    if each(&tenant, &channel_ids, sequence) {
                        chosen.push((tenant.clone(), sequence.id));
                    }
                }
                match batch.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        Ok(chosen)
    }

    /// A template's status changed. `PAUSED`, `DISABLED`, `REJECTED` (and `PENDING_DELETION`)
    /// pause every active sequence with a step using it on that account, with the reason;
    /// `FLAGGED` is only a notice on those sequences; a later `APPROVED` (or `REINSTATED`) is
    /// noted on the sequences that had a notice for the template, and they stay as they are.
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
        let pauses = PAUSING.contains(&event.as_str());
        if !pauses && !NOTICED.contains(&event.as_str()) {
            return Ok(());
        }
        let approval = matches!(event.as_str(), "APPROVED" | "REINSTATED");
        let reason = reason
            .filter(|r| !r.is_empty() && *r != "NONE")
            .map(str::to_string);
        let chosen = self
            .for_each_sequence_of_account(waba_id, |_, channel_ids, sequence| {
                let uses = sequence.steps.iter().any(|s| {
                    channel_ids.contains(&s.channel_id)
                        && uses_template(&s.action, template_name, template_language)
                });
                uses && sequence.status != SequenceStatus::Archived
                    && (!approval
                        || sequence
                            .template_notice(template_name, template_language)
                            .is_some())
            })
            .await?;
        let now = self.clock.now();
        for (tenant, sequence_id) in chosen {
            let notice = TemplateNotice {
                name: template_name.to_string(),
                language: template_language.to_string(),
                event: event.clone(),
                reason: reason.clone(),
                at: now,
            };
            let pause_reason = format!(
                "template {template_name} ({template_language}) is {event}{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            let result = self
                .state
                .mutate(&tenant, sequence_id, |s| {
                    let mut paused = false;
                    if pauses && s.status == SequenceStatus::Active {
                        s.status = SequenceStatus::Paused;
                        s.status_reason = Some(pause_reason.clone());
                        paused = true;
                    }
                    s.note_template(notice.clone());
                    Ok(paused)
                })
                .await;
            match result {
                Ok((_, paused)) => {
                    report.noticed_sequences += 1;
                    if paused {
                        report.paused_sequences += 1;
                        tracing::warn!(tenant = %tenant, sequence_id = %sequence_id, reason = %pause_reason, "sequence paused by Ritmo");
                    }
                }
                Err(DomainError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Meta changed a template's category: every step using it on that account takes the new
    /// category, which decides opt-outs and billing from then on.
    async fn handle_category_update(
        &self,
        waba_id: &str,
        template_name: &str,
        template_language: &str,
        category: TemplateCategory,
    ) -> Result<usize, DomainError> {
        let mut accounts: BTreeMap<TenantId, Vec<Ulid>> = BTreeMap::new();
        let chosen = self
            .for_each_sequence_of_account(waba_id, |tenant, channel_ids, sequence| {
                accounts.insert(tenant.clone(), channel_ids.to_vec());
                sequence.steps.iter().any(|s| {
                    channel_ids.contains(&s.channel_id)
                        && uses_template(&s.action, template_name, template_language)
                        && !matches!(&s.action, Action::Template { category: Some(c), .. } if *c == category)
                })
            })
            .await?;
        let mut changed = 0;
        for (tenant, sequence_id) in chosen {
            let channel_ids = accounts.get(&tenant).cloned().unwrap_or_default();
            match self
                .state
                .mutate(&tenant, sequence_id, |s| {
                    let mut n = 0;
                    for step in &mut s.steps {
                        if !channel_ids.contains(&step.channel_id)
                            || !uses_template(&step.action, template_name, template_language)
                        {
                            continue;
                        }
                        if let Action::Template { category: c, .. } = &mut step.action {
                            if *c != Some(category) {
                                *c = Some(category);
                                n += 1;
                            }
                        }
                    }
                    Ok(n)
                })
                .await
            {
                Ok((_, n)) => changed += n,
                Err(DomainError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        tracing::info!(waba_id = %waba_id, template = %template_name, category = category.as_str(), steps = changed, "template category updated");
        Ok(changed)
    }
}

/// Whether a step's action sends that template (an empty language: any language).
fn uses_template(action: &Action, template_name: &str, template_language: &str) -> bool {
    matches!(action, Action::Template { name, language, .. }
        if name == template_name
            && (template_language.is_empty() || same_language(language, template_language)))
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
