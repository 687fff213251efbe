//! Delivery statuses: found by message id (the message index), applied to the send's history
//! entry, and held when they arrive before the send was recorded (Meta can post `sent` or
//! `delivered` before the send's HTTP response reaches the sender). The sender applies the
//! held ones right after it records the send. Every application is idempotent and order-safe.

use std::sync::Arc;

use crate::common::error::DomainError;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;
use crate::delivery::ports::{parse_callback, Scheduler};
use crate::enrollments::model::{EnrollmentStatus, ExitReason, HistoryEntry, MessageStatus};
use crate::enrollments::model::{SendError, StatusUpdate};
use crate::enrollments::store::{EnrollmentStore, SendRef};
use crate::enrollments::transitions::{Change, EnrollmentTransitions, EntryPick};
use crate::sequences::transitions::SequenceTransitions;

/// What became of one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// Applied to its send (or already applied: statuses repeat).
    Applied,
    /// Its send is not recorded yet: kept, and applied when it is.
    Held,
    /// Not a message Ritmo sent.
    Unknown,
}

/// What a status does to a failed message's run.
enum Consequence {
    None,
    /// A per-contact failure: the run ended; delete its pending schedule.
    Ended(Option<String>),
    /// A template or account failure: pause the sequence with this reason.
    Pause(String),
}

/// The pure part: a status applied to the send's history entry (never back from `read`, a
/// failure kept), billing recorded. Returns whether the entry changed.
fn apply_to_entry(entry: &mut HistoryEntry, status: &StatusUpdate) -> bool {
    let before = entry.clone();
    let reported = status.status;
    match reported {
        MessageStatus::Delivered => entry.delivered = true,
        MessageStatus::Read => {
            entry.delivered = true;
            entry.read = true;
        }
        _ => {}
    }
    if status.billable {
        match status.category {
            // Priced as a template category: that is the category billed.
            Some(priced) => {
                if let Some(category) = priced.template_category() {
                    entry.billable = true;
                    entry.category = Some(category);
                }
            }
            None => entry.billable = true,
        }
    }
    if reported == MessageStatus::Failed {
        entry.status = Some(MessageStatus::Failed);
        if let Some(failure) = &status.failure {
            entry.error_code = Some(failure.code);
            entry.error = Some(format!("{}: {}", failure.code, failure.detail));
        }
    } else if entry.status != Some(MessageStatus::Failed) {
        entry.status = Some(
            entry
                .status
                .map_or(reported, |current| current.max(reported)),
        );
    }
    *entry != before
}

/// Applies statuses through the enrollment transitions.
#[derive(Clone)]
pub struct Statuses {
    enrollments: Arc<dyn EnrollmentStore>,
    scheduler: Arc<dyn Scheduler>,
    transitions: EnrollmentTransitions,
    state: SequenceTransitions,
}

impl Statuses {
    pub fn new(
        enrollments: Arc<dyn EnrollmentStore>,
        scheduler: Arc<dyn Scheduler>,
        transitions: EnrollmentTransitions,
        state: SequenceTransitions,
    ) -> Self {
        Self {
            enrollments,
            scheduler,
            transitions,
            state,
        }
    }

    /// A status of one of the tenant's messages, found by its message id.
    pub async fn apply(
        &self,
        tenant: &TenantId,
        status: &StatusUpdate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<StatusOutcome, DomainError> {
        let record = self.enrollments.message(tenant, &status.message_id).await?;
        if let Some(send) = record.and_then(|r| r.send) {
            return self.apply_to_send(tenant, &send, status).await;
        }
        let callback = status.callback_data.as_deref().and_then(parse_callback);
        // A send recorded before the message index existed: the callback names the run, the
        // recipient (with or without the ninth digit) its phone.
        if let (Some((sequence_id, enrollment_id, step_id)), Some(recipient)) =
            (callback, Phone::from_wa_id(&status.recipient_id))
        {
            for phone in recipient.equivalents() {
                let Some(e) = self
                    .enrollments
                    .get_enrollment(tenant, sequence_id, phone.as_str())
                    .await?
                else {
                    continue;
                };
                let recorded = e.id == enrollment_id
                    && self
                        .enrollments
                        .history_entry(tenant, sequence_id, phone.as_str(), enrollment_id, step_id)
                        .await?
                        .is_some_and(|h| {
                            h.message_id.as_deref() == Some(status.message_id.as_str())
                        });
                if recorded {
                    let send = SendRef {
                        sequence_id,
                        phone: phone.as_str().to_string(),
                        enrollment_id,
                        step_id,
                    };
                    return self.apply_to_send(tenant, &send, status).await;
                }
            }
        }
        // Not recorded (yet). Ritmo's sends carry its callback data on sent, delivered and read;
        // Meta's `failed` carries none. Statuses of other messages of the number (an
        // attendant's) are not kept.
        let ours = callback.is_some()
            || (status.callback_data.is_none() && status.status == MessageStatus::Failed);
        if !ours {
            return Ok(StatusOutcome::Unknown);
        }
        if self
            .enrollments
            .hold_status(tenant, &status.message_id, status, now)
            .await?
        {
            tracing::info!(tenant = %tenant, message_id = %status.message_id, "status held until its send is recorded");
            return Ok(StatusOutcome::Held);
        }
        // The send was recorded in between.
        match self
            .enrollments
            .message(tenant, &status.message_id)
            .await?
            .and_then(|r| r.send)
        {
            Some(send) => self.apply_to_send(tenant, &send, status).await,
            None => Ok(StatusOutcome::Unknown),
        }
    }

    /// Right after a send was recorded: the statuses that arrived before it.
    pub async fn apply_held(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<usize, DomainError> {
        let Some(record) = self.enrollments.message(tenant, message_id).await? else {
            return Ok(0);
        };
        let Some(send) = record.send else {
            return Ok(0);
        };
        let mut applied = 0;
        for status in &record.held {
            if self.apply_to_send(tenant, &send, status).await? == StatusOutcome::Applied {
                applied += 1;
            }
        }
        Ok(applied)
    }

    async fn apply_to_send(
        &self,
        tenant: &TenantId,
        send: &SendRef,
        status: &StatusUpdate,
    ) -> Result<StatusOutcome, DomainError> {
        let mut found = false;
        let mut consequence = Consequence::None;
        self.transitions
            .mutate_entry(
                tenant,
                send.sequence_id,
                &send.phone,
                EntryPick::Step(send.step_id),
                |e| {
                    consequence = Consequence::None;
                    if e.id != send.enrollment_id {
                        return Change::Keep;
                    }
                    let Some(index) = e.history.iter().position(|h| {
                        h.step_id == send.step_id
                            && h.message_id.as_deref() == Some(status.message_id.as_str())
                    }) else {
                        return Change::Keep;
                    };
                    found = true;
                    let was_failed = e.history[index].status == Some(MessageStatus::Failed);
                    let changed = apply_to_entry(&mut e.history[index], status);
                    // A failure reported later ends or pauses like a failed send.
                    if status.status == MessageStatus::Failed && !was_failed {
                        if let Some(failure) = &status.failure {
                            match &failure.class {
                                SendError::Contact { .. } if e.is_active() => {
                                    consequence = Consequence::Ended(e.end_with_schedule(
                                        EnrollmentStatus::Exited,
                                        Some(ExitReason::for_meta_code(failure.code)),
                                    ));
                                }
                                error
                                @ (SendError::Template { .. } | SendError::Account { .. }) => {
                                    consequence = Consequence::Pause(format!(
                                        "{}: {}",
                                        error.code().unwrap_or_default(),
                                        failure.detail
                                    ));
                                }
                                _ => {}
                            }
                        }
                    }
                    if changed {
                        Change::Write
                    } else {
                        Change::Keep
                    }
                },
            )
            .await?;
        match consequence {
            Consequence::Ended(Some(name)) => self.scheduler.cancel(&name).await?,
            Consequence::Pause(reason) => {
                let reason = Some(format!("message failed: {reason}"));
                match self
                    .state
                    .pause_with_reason(tenant, send.sequence_id, reason)
                    .await
                {
                    // Already archived, or still a draft: nothing to pause.
                    Ok(_) | Err(DomainError::Conflict(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            Consequence::Ended(None) | Consequence::None => {}
        }
        Ok(if found {
            StatusOutcome::Applied
        } else {
            StatusOutcome::Unknown
        })
    }
}
