//! The sender: what a one-shot schedule fires. It sends one step to one contact exactly once,
//! inside the allowed hours, and schedules the next step.
//!
//! The scheduler delivers at least once, so everything here is safe to run twice: a fired job
//! that no longer matches the enrollment (another generation, another run, already claimed) does
//! nothing, and the step is claimed with a conditional write before Meta is called.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use std::sync::Arc;

use crate::channels::model::Channel;
use crate::channels::store::{BotStore, ChannelStore};
use crate::common::cache::TtlCache;
use crate::common::clock::Clock;
use crate::common::error::{DomainError, PortError};
use crate::common::phone::Phone;
use crate::common::retry::Backoff;
use crate::common::tenant::TenantId;
use crate::delivery::pacing::{Lane, SendSlots, SLOT_GRACE, SLOT_MARGIN, SLOT_WAIT};
use crate::delivery::ports::{callback_data, ChatbotStart, StepJob, StepRunner, TemplateMessage};
use crate::delivery::ports::{AcceptedSend, Schedule};
use crate::delivery::ports::{Messenger, Scheduler, SendMetrics, StepMetric};
use crate::delivery::statuses::Statuses;
use crate::enrollments::model::{
    Enrollment, EnrollmentStatus, ExitReason, HistoryEntry, MessageStatus, Outcome, Pending,
    SendError, StepState,
};
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::store::{ClaimOutcome, OverdueRun, StepClaim};
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::enrollments::transitions::{
    first_allowed, plan_next, schedule_in_slot, schedule_next, Change, Plan,
};
use crate::sequences::model::{Action, Sequence, SequenceStatus, Step};
use crate::sequences::plan::due_at;
use crate::sequences::store::SequenceStore;
use crate::sequences::template::{render_all, render_buttons, render_header};
use crate::sequences::transitions::SequenceTransitions;
use ulid::Ulid;

/// Retries of a throttled or failed send, after the first try (SPEC §4).
pub const MAX_RETRIES: u32 = 5;
/// First retry delay; each further retry doubles it.
pub const RETRY_BASE: TimeDelta = TimeDelta::seconds(30);

/// What one firing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// The job no longer matches the enrollment (removed, ended, another generation, claimed).
    Stale,
    /// The sequence is paused: the step waits for resume.
    Held,
    /// Fired outside the allowed hours: planned again for the next opening.
    Replanned(DateTime<Utc>),
    /// The step was deleted: skipped, and the run went on.
    Skipped,
    Sent,
    /// A retryable error: tried again later.
    Retrying(DateTime<Utc>),
    /// The number was over a throughput limit: sent again then, no retry counted.
    Throttled(DateTime<Utc>),
    /// Given up after retries, or the contact cannot receive it.
    Failed,
    /// The request may have reached Meta; never resent.
    Unknown,
    /// The number's next free send slot was further away than [`SLOT_WAIT`]: the slot is taken
    /// and the step planned in it (the number's backlog, not the contact's: no retry counted).
    Deferred(DateTime<Utc>),
    /// A template or account error paused the sequence.
    PausedSequence,
    /// Meta accepted the message but the store kept refusing the outcome write for capacity:
    /// a job records it as sent at this instant (never sending again).
    RecordingLater(DateTime<Utc>),
}

/// What a send attempt came to, for the enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent {
        message_id: Option<String>,
        /// The WhatsApp id Meta resolved the number to.
        wa_id: Option<String>,
    },
    Failed(SendError),
    /// The step could not be prepared for this contact (a missing variable).
    NotSendable(String),
    /// Nothing was sent: the step goes out in this slot of its number, taken for it.
    Deferred(DateTime<Utc>),
}

#[async_trait]
impl StepRunner for Sender {
    async fn run(&self, job: StepJob) -> Result<(), PortError> {
        match self.fire(&job).await {
            Ok(fired) => {
                tracing::info!(
                    tenant = %job.tenant,
                    sequence_id = %job.sequence_id,
                    enrollment_id = %job.enrollment_id,
                    step_id = %job.step_id,
                    generation = job.attempt,
                    outcome = ?fired,
                    "step fired"
                );
                Ok(())
            }
            Err(DomainError::Port(error)) => Err(error),
            Err(error) => {
                tracing::warn!(error = %error, enrollment_id = %job.enrollment_id, "step not sent");
                Ok(())
            }
        }
    }
}

/// How long after the store refused an accepted send's outcome the job that records it runs.
pub const RECORD_LATER: TimeDelta = TimeDelta::seconds(30);

/// Longest wait before a throttled send is tried again.
pub const THROTTLE_CAP: TimeDelta = TimeDelta::seconds(300);

/// Meta's spam rate limit: a limit on the number, not the contact.
const SPAM_RATE_LIMIT: i64 = 131048;
/// How much longer a number waits after a spam rate limit than after a throughput answer.
pub const SPAM_BACKOFF: TimeDelta = TimeDelta::minutes(10);
/// How long a contact Meta limits for now (131049) waits before the step is tried again.
pub const CONTACT_LIMIT_WAIT: TimeDelta = TimeDelta::hours(24);
/// How many times such a step is tried again before it counts as failed.
pub const CONTACT_LIMIT_RETRIES: u32 = 3;

/// Holds the step: nothing can be planned for it (its window never opens again).
fn hold(e: &mut Enrollment, generation: u32) -> Change {
    e.state = StepState::Held { generation };
    e.next_send_at = None;
    Change::Write
}

/// Full-jitter backoff after a throttled send: uniform in `[1 s, min(cap, 2 s × 2^generation)]`,
/// drawn from the enrollment's id and the generation so that a throttled burst spreads out
/// rather than coming back at once.
fn throttle_backoff(enrollment_id: ulid::Ulid, generation: u32) -> TimeDelta {
    let ceiling = TimeDelta::seconds(2 << generation.min(8)).min(THROTTLE_CAP);
    let ceiling_ms = ceiling.num_milliseconds().max(1000) as u64;
    let mut x =
        (enrollment_id.random() as u64) ^ u64::from(generation).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64's finaliser: the id's random bits, well mixed with the generation.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    TimeDelta::milliseconds((1000 + x % (ceiling_ms - 999)) as i64)
}

/// The run holds the job's step as claimed by this job's generation.
fn claimed_by(e: &Enrollment, job: &StepJob) -> bool {
    e.is_active()
        && e.id == job.enrollment_id
        && e.next_step_id == Some(job.step_id)
        && matches!(e.state, StepState::Sending { generation, .. } if generation == job.attempt)
}

fn matches_job(e: &Enrollment, job: &StepJob) -> bool {
    e.is_active()
        && e.id == job.enrollment_id
        && e.next_step_id == Some(job.step_id)
        && matches!(e.state, StepState::Scheduled { generation, .. } if generation == job.attempt)
}

/// The sender: what a schedule fires.
#[derive(Clone)]
pub struct Sender {
    clock: Arc<dyn Clock>,
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    channels: Arc<dyn ChannelStore>,
    bots: Arc<dyn BotStore>,
    messenger: Arc<dyn Messenger>,
    scheduler: Arc<dyn Scheduler>,
    slots: Arc<dyn SendSlots>,
    transitions: EnrollmentTransitions,
    state: SequenceTransitions,
    statuses: Statuses,
    snapshots: Snapshots,
    metrics: Arc<dyn SendMetrics>,
}

/// How long the sender serves a sequence or a channel as it last read it.
pub const SNAPSHOT_TTL: TimeDelta = TimeDelta::seconds(5);

/// The sequences and channels this instance read recently.
#[derive(Clone)]
struct Snapshots {
    sequences: TtlCache<(TenantId, Ulid), Sequence>,
    channels: TtlCache<(TenantId, Ulid), Channel>,
}

impl Sender {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: Arc<dyn Clock>,
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        channels: Arc<dyn ChannelStore>,
        bots: Arc<dyn BotStore>,
        messenger: Arc<dyn Messenger>,
        scheduler: Arc<dyn Scheduler>,
        slots: Arc<dyn SendSlots>,
        transitions: EnrollmentTransitions,
        state: SequenceTransitions,
        statuses: Statuses,
        metrics: Arc<dyn SendMetrics>,
    ) -> Self {
        Self {
            metrics,
            snapshots: Snapshots {
                sequences: TtlCache::new(clock.clone(), SNAPSHOT_TTL),
                channels: TtlCache::new(clock.clone(), SNAPSHOT_TTL),
            },
            statuses,
            transitions,
            state,
            clock,
            sequences,
            enrollments,
            channels,
            bots,
            messenger,
            scheduler,
            slots,
        }
    }

    fn report(&self, step: &Step, fired: &Fired, planned: Option<DateTime<Utc>>) {
        let outcome = match fired {
            Fired::Sent => "sent",
            Fired::Throttled(_) => "throttled",
            Fired::Retrying(_) => "retried",
            Fired::Failed => "failed",
            Fired::Unknown => "unknown",
            Fired::Deferred(_) => "deferred",
            Fired::PausedSequence => "paused",
            // Reported as sent by the job that records it.
            Fired::RecordingLater(_) => return,
            Fired::Stale | Fired::Held | Fired::Replanned(_) | Fired::Skipped => return,
        };
        self.metrics.record(&StepMetric {
            channel_id: step.channel_id,
            outcome,
            late_by: planned
                .filter(|_| *fired == Fired::Sent)
                .map(|planned| (self.clock.now() - planned).max(TimeDelta::zero())),
        });
    }

    /// The same sender, retrying an outcome write the store refuses for capacity with
    /// `backoff` instead of [`crate::enrollments::transitions::WRITE_BACKOFF`] (tests: no wait).
    pub fn with_outcome_backoff(mut self, backoff: Backoff) -> Self {
        self.transitions = self.transitions.with_write_backoff(backoff);
        self
    }

    /// Handles one delivery of a schedule: the step is claimed first (one conditional write that
    /// also proves the job current), then sent, then its outcome recorded on the enrollment the
    /// claim returned. A job carrying an accepted send only records it.
    pub async fn fire(&self, job: &StepJob) -> Result<Fired, DomainError> {
        if let Some(accepted) = &job.accepted {
            return self.record_accepted(job, accepted).await;
        }
        let Some(mut sequence) = self.sequence(&job.tenant, job.sequence_id).await? else {
            return Ok(Fired::Stale);
        };
        if sequence.status != SequenceStatus::Active {
            // Only "active" is served from the snapshot: holding or ending a run on a pause
            // already lifted (a resume re-plans only the runs held before it) would strand it.
            self.snapshots
                .sequences
                .forget(&(job.tenant.clone(), job.sequence_id));
            let Some(fresh) = self.sequence(&job.tenant, job.sequence_id).await? else {
                return Ok(Fired::Stale);
            };
            sequence = fresh;
        }
        match sequence.status {
            SequenceStatus::Active => {}
            SequenceStatus::Archived => {
                self.transitions
                    .end(
                        &job.tenant,
                        job.sequence_id,
                        &job.phone,
                        EnrollmentStatus::Exited,
                        Some(ExitReason::SequenceArchived),
                    )
                    .await?;
                return Ok(Fired::Stale);
            }
            SequenceStatus::Paused | SequenceStatus::Draft => {
                let held = self
                    .transitions
                    .mutate(&job.tenant, job.sequence_id, &job.phone, |e| {
                        if !matches_job(e, job) {
                            return Change::Keep;
                        }
                        e.state = StepState::Held {
                            generation: job.attempt,
                        };
                        e.next_send_at = None;
                        Change::Write
                    })
                    .await?;
                return Ok(if matches!(held, Some((_, true))) {
                    Fired::Held
                } else {
                    Fired::Stale
                });
            }
        }
        let now = self.clock.now();
        let Some(step) = sequence.step(job.step_id) else {
            return self.skip_deleted_step(&sequence, job, now).await;
        };
        let claim = StepClaim {
            enrollment_id: job.enrollment_id,
            step_id: job.step_id,
            generation: job.attempt,
            at: now,
        };
        let enrollment = match self
            .enrollments
            .claim_step(&job.tenant, job.sequence_id, &job.phone, &claim)
            .await?
        {
            ClaimOutcome::Claimed(e) => *e,
            ClaimOutcome::NotClaimable => {
                if let Some(e) = self
                    .enrollments
                    .get_enrollment(&job.tenant, job.sequence_id, &job.phone)
                    .await?
                {
                    self.reassert_successor(&e, job).await?;
                }
                return Ok(Fired::Stale);
            }
        };
        if let Some(window) = &step.window {
            if !window.is_allowed(now, enrollment.contact.tz()) {
                return self.replan_late(job, step, now).await;
            }
        }
        let planned = enrollment.next_send_at;
        let attempt = match self.attempt(&sequence, step, &enrollment, job.slot).await {
            Ok(Attempt::Deferred(slot)) => {
                self.release_claim(job, slot, step, true).await?;
                self.report(step, &Fired::Deferred(slot), None);
                return Ok(Fired::Deferred(slot));
            }
            Ok(attempt) => attempt,
            Err(error) => {
                // Nothing went out: give the step back so it is tried again.
                self.release_claim(job, now + RETRY_BASE, step, false)
                    .await?;
                return Err(error);
            }
        };
        let fired = self
            .record_or_hand_over(&sequence, step, job, attempt, enrollment)
            .await?;
        self.report(step, &fired, planned);
        Ok(fired)
    }

    /// Records the attempt ([`Self::record`]). When the store still refuses the write for
    /// capacity after its retries ([`crate::enrollments::transitions::WRITE_BACKOFF`]) and
    /// Meta accepted the message, the outcome is not lost: a job carrying Meta's answer (the
    /// message id) records it [`RECORD_LATER`] from now, and the step stays claimed meanwhile,
    /// so nothing sends it again. Any other error is the caller's.
    async fn record_or_hand_over(
        &self,
        sequence: &Sequence,
        step: &Step,
        job: &StepJob,
        attempt: Attempt,
        known: Enrollment,
    ) -> Result<Fired, DomainError> {
        let sent_at = match &job.accepted {
            Some(accepted) => accepted.at,
            None => self.clock.now(),
        };
        let error = match self
            .record(sequence, step, job, attempt.clone(), known, sent_at)
            .await
        {
            Err(error) if error.is_retryable() => error,
            other => return other,
        };
        let Attempt::Sent { message_id, wa_id } = attempt else {
            return Err(error);
        };
        let at = self.clock.now() + RECORD_LATER;
        let recording = job.recording(AcceptedSend {
            at: sent_at,
            message_id,
            wa_id,
        });
        self.scheduler
            .schedule(Schedule {
                name: recording.schedule_name(),
                fire_at: at,
                input: recording,
            })
            .await?;
        tracing::warn!(
            tenant = %job.tenant,
            sequence_id = %job.sequence_id,
            enrollment_id = %job.enrollment_id,
            step_id = %job.step_id,
            generation = job.attempt,
            error = %error,
            record_at = %at,
            "the store refused the outcome of an accepted send; a job records it later"
        );
        Ok(Fired::RecordingLater(at))
    }

    /// A job carrying a send Meta accepted: recorded as sent on the run as it is stored now
    /// ([`decide_outcome`] records it only on the run still claiming that generation of the
    /// step, or one removed or ended meanwhile), never sent again.
    async fn record_accepted(
        &self,
        job: &StepJob,
        accepted: &AcceptedSend,
    ) -> Result<Fired, DomainError> {
        let Some(sequence) = self
            .sequences
            .get_sequence(&job.tenant, job.sequence_id)
            .await?
        else {
            return Ok(Fired::Stale);
        };
        let Some(step) = sequence.step(job.step_id) else {
            // The reconciler records the claim of a deleted step as `unknown`.
            tracing::warn!(enrollment_id = %job.enrollment_id, step_id = %job.step_id, "the step of an accepted send was deleted before its outcome was recorded");
            return Ok(Fired::Stale);
        };
        let Some(enrollment) = self
            .enrollments
            .get_enrollment(&job.tenant, job.sequence_id, &job.phone)
            .await?
        else {
            return Ok(Fired::Stale);
        };
        let attempt = Attempt::Sent {
            message_id: accepted.message_id.clone(),
            wa_id: accepted.wa_id.clone(),
        };
        let fired = self
            .record_or_hand_over(&sequence, step, job, attempt, enrollment)
            .await?;
        self.report(step, &fired, None);
        Ok(fired)
    }

    /// The sequence as this instance read it less than [`SNAPSHOT_TTL`] ago. An edit (a pause,
    /// new content) reaches the sender within that bound; the claim guards everything else.
    async fn sequence(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Sequence>, DomainError> {
        let key = (tenant.clone(), id);
        if let Some(sequence) = self.snapshots.sequences.get(&key) {
            return Ok(Some(sequence));
        }
        let sequence = self.sequences.get_sequence(tenant, id).await?;
        if let Some(sequence) = &sequence {
            self.snapshots.sequences.put(key, sequence.clone());
        }
        Ok(sequence)
    }

    /// The channel as this instance read it less than [`SNAPSHOT_TTL`] ago.
    async fn channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, DomainError> {
        let key = (tenant.clone(), id);
        if let Some(channel) = self.snapshots.channels.get(&key) {
            return Ok(Some(channel));
        }
        let channel = self.channels.get_channel(tenant, id).await?;
        if let Some(channel) = &channel {
            self.snapshots.channels.put(key, channel.clone());
        }
        Ok(channel)
    }

    /// A repeated delivery of a job that was already handled: if the schedule that handling
    /// asked for could not be created at the time (the enrollment points at it, one generation
    /// on), create it now. Creating a schedule that exists is harmless.
    async fn reassert_successor(&self, e: &Enrollment, job: &StepJob) -> Result<(), DomainError> {
        if let (
            true,
            StepState::Scheduled {
                generation,
                fire_at,
                ..
            },
            Some(step_id),
        ) = (
            e.is_active() && e.id == job.enrollment_id,
            &e.state,
            e.next_step_id,
        ) {
            if *generation == job.attempt + 1 {
                self.scheduler
                    .schedule(crate::enrollments::transitions::step_schedule(
                        e,
                        step_id,
                        *generation,
                        *fire_at,
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends the step (template or chatbot) once.
    async fn attempt(
        &self,
        sequence: &Sequence,
        step: &Step,
        e: &Enrollment,
        reserved: Option<DateTime<Utc>>,
    ) -> Result<Attempt, DomainError> {
        match &step.action {
            Action::Template {
                name,
                language,
                parameters,
                header,
                buttons,
                parameter_names,
                ..
            } => {
                let Some(channel) = self.channel(&sequence.tenant, step.channel_id).await? else {
                    return Ok(Attempt::Failed(SendError::Account {
                        code: 0,
                        detail: format!("channel {} no longer exists", step.channel_id),
                    }));
                };
                let rendered = render_all(parameters, &e.contact).and_then(|texts| {
                    let header = header
                        .as_ref()
                        .map(|h| render_header(h, &e.contact))
                        .transpose()?;
                    Ok((texts, header, render_buttons(buttons, &e.contact)?))
                });
                let (texts, header, buttons) = match rendered {
                    Ok(rendered) => rendered,
                    Err(missing) => return Ok(Attempt::NotSendable(missing.to_string())),
                };
                let message = TemplateMessage {
                    to: Phone::from_stored(e.contact.phone.clone()),
                    name: name.clone(),
                    language: language.clone(),
                    body_parameters: texts,
                    header,
                    buttons,
                    parameter_names: parameter_names.clone(),
                    callback_data: callback_data(sequence.id, e.id, step.id),
                };
                if let Some(later) = self.wait_for_slot(&channel, reserved).await? {
                    return Ok(Attempt::Deferred(later));
                }
                Ok(
                    match self.messenger.send_template(&channel, &message).await {
                        Ok(receipt) => Attempt::Sent {
                            message_id: Some(receipt.message_id),
                            wa_id: receipt.wa_id,
                        },
                        Err(error) => Attempt::Failed(error),
                    },
                )
            }
            Action::Chatbot { bot_id } => {
                let Some(bot) = self.bots.get_bot(&sequence.tenant, *bot_id).await? else {
                    return Ok(Attempt::Failed(SendError::Account {
                        code: 0,
                        detail: format!("bot {bot_id} no longer exists"),
                    }));
                };
                let start = ChatbotStart {
                    tenant: sequence.tenant.clone(),
                    sequence_id: sequence.id,
                    step_id: step.id,
                    enrollment_id: e.id,
                    channel_id: step.channel_id,
                    contact: e.contact.clone(),
                };
                Ok(match self.messenger.start_chatbot(&bot, &start).await {
                    Ok(()) => Attempt::Sent {
                        message_id: None,
                        wa_id: None,
                    },
                    Err(error) => Attempt::Failed(error),
                })
            }
        }
    }

    /// Waits for the number's send slot: the one this generation was planned in, if it fired
    /// in time, or the next free one. A slot further away than [`SLOT_WAIT`] is answered
    /// instead: the step is planned in it. A sender that wakes later than [`SLOT_GRACE`] after
    /// its slot (a starved CPU) takes another rather than crowd the next one.
    async fn wait_for_slot(
        &self,
        channel: &crate::channels::model::Channel,
        reserved: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, DomainError> {
        let mut slot = reserved.filter(|slot| self.clock.now() <= *slot + SLOT_GRACE);
        for _ in 0..3 {
            let now = self.clock.now();
            let at = match slot {
                Some(at) => at,
                None => {
                    self.slots
                        .take(
                            Lane::Send,
                            channel.id,
                            channel.messages_per_second,
                            now + SLOT_MARGIN,
                        )
                        .await?
                }
            };
            if at - now > SLOT_WAIT {
                return Ok(Some(at));
            }
            if let Ok(wait) = (at - self.clock.now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            if self.clock.now() - at <= SLOT_GRACE {
                return Ok(None);
            }
            slot = None;
        }
        Ok(None)
    }

    /// Records what the attempt at `now` came to, and plans what comes next:
    /// [`decide_outcome`] on the enrollment as the claim returned it, and again on the stored
    /// one after each concurrent change. What the firing did is the last decision's, the one
    /// that was written (or kept).
    async fn record(
        &self,
        sequence: &Sequence,
        step: &Step,
        job: &StepJob,
        attempt: Attempt,
        claimed: Enrollment,
        now: DateTime<Utc>,
    ) -> Result<Fired, DomainError> {
        let mut last = (Fired::Stale, None);
        let (stored, held) = self
            .transitions
            .mutate_from(claimed, |e| {
                let decision = decide_outcome(e, sequence, step, job, &attempt, now);
                if let Some(decided) = decision.enrollment {
                    *e = decided;
                }
                last = (decision.fired, decision.pause);
                decision.change
            })
            .await?;
        let (fired, pause_reason) = last;
        if let Some((e, true)) = &stored {
            warn_if_never_opens(e, step.id);
        }
        if let Some(reason) = pause_reason {
            self.state
                .pause_with_reason(&job.tenant, job.sequence_id, Some(reason))
                .await?;
            // This instance's next steps of the sequence see the pause at once.
            self.snapshots
                .sequences
                .forget(&(job.tenant.clone(), job.sequence_id));
        }
        // Statuses Meta posted before this send was recorded were held: apply them now.
        if let (
            true,
            Fired::Sent,
            Attempt::Sent {
                message_id: Some(message_id),
                ..
            },
        ) = (held, &fired, &attempt)
        {
            let applied = self.statuses.apply_held(&job.tenant, message_id).await?;
            if applied > 0 {
                tracing::info!(message_id = %message_id, applied, "held statuses applied");
            }
        }
        Ok(fired)
    }

    /// A run whose planned step is overdue (its schedule, or the queued job, was lost, expired
    /// or dead-lettered): planned again, now, under a new generation, so that whatever of the
    /// old schedule still fires is stale. Only if the run still waits on that very plan.
    pub async fn refire(&self, run: &OverdueRun) -> Result<bool, DomainError> {
        let now = self.clock.now();
        let result = self
            .transitions
            .mutate(&run.tenant, run.sequence_id, &run.phone, |e| {
                match (e.pending(), e.state.clone(), e.next_step_id) {
                    (
                        Some((Pending::Planned, since)),
                        StepState::Scheduled { generation, .. },
                        Some(step_id),
                    ) if since == run.since => {
                        Change::WriteAndSchedule(schedule_next(e, step_id, generation + 1, now))
                    }
                    _ => Change::Keep,
                }
            })
            .await?;
        Ok(matches!(result, Some((_, true))))
    }

    /// A run whose step was claimed and never got an outcome (its sender died between the
    /// claim and the record): the request may have reached Meta, so the step is recorded as
    /// `unknown`, never sent again, and the run goes on. Only if the claim is still that one.
    pub async fn expire_claim(&self, run: &OverdueRun) -> Result<bool, DomainError> {
        let Some(enrollment) = self
            .enrollments
            .get_enrollment(&run.tenant, run.sequence_id, &run.phone)
            .await?
        else {
            return Ok(false);
        };
        let (Some((Pending::Claimed, since)), Some(step_id)) =
            (enrollment.pending(), enrollment.next_step_id)
        else {
            return Ok(false);
        };
        if since != run.since {
            return Ok(false);
        }
        let Some(sequence) = self
            .sequences
            .get_sequence(&run.tenant, run.sequence_id)
            .await?
        else {
            return Ok(false);
        };
        let job = StepJob::for_step(&enrollment, step_id, enrollment.state.generation());
        let detail =
            format!("no outcome recorded within the claim timeout of the claim at {since}");
        match sequence.step(step_id) {
            Some(step) => {
                let fired = self
                    .record(
                        &sequence,
                        step,
                        &job,
                        Attempt::Failed(SendError::Unknown { detail }),
                        enrollment.clone(),
                        self.clock.now(),
                    )
                    .await?;
                self.report(step, &fired, None);
                Ok(fired == Fired::Unknown)
            }
            None => {
                // The step was deleted meanwhile: record the unknown outcome, then go on.
                let now = self.clock.now();
                let mut expired = false;
                self.transitions
                    .mutate(&run.tenant, run.sequence_id, &run.phone, |e| {
                        let claimed = matches!(e.state, StepState::Sending { generation, since: at } if generation == job.attempt && at == since);
                        if !e.is_active() || e.id != job.enrollment_id || !claimed {
                            return Change::Keep;
                        }
                        expired = true;
                        let mut entry = HistoryEntry::new(step_id, now, Outcome::Unknown);
                        entry = entry.with_error(None, detail.clone());
                        e.record(entry);
                        let done = e.steps_done.clone();
                        let next = sequence
                            .step_after(e.last_step_id, &done)
                            .filter(|s| !done.contains(&s.id));
                        let base = e.last_sent_at.unwrap_or(e.enrolled_at);
                        let change = plan_or_complete(e, next, base, job.attempt, None);
                        warn_if_never_opens(e, step_id);
                        change
                    })
                    .await?;
                Ok(expired)
            }
        }
    }

    /// Gives the claimed step back to the schedule, nothing having been sent (an
    /// infrastructure error, or a send slot further away than [`SLOT_WAIT`]): due at `at`, or
    /// at the window's next opening. With `in_slot`, `at` is a send slot taken for the step,
    /// kept when the window allows that very instant (elsewhere the step takes a slot again).
    async fn release_claim(
        &self,
        job: &StepJob,
        at: DateTime<Utc>,
        step: &Step,
        in_slot: bool,
    ) -> Result<(), DomainError> {
        self.transitions.mutate(&job.tenant, job.sequence_id, &job.phone, |e| {
            let ours = e.is_active()
                && e.id == job.enrollment_id
                && matches!(e.state, StepState::Sending { generation, .. } if generation == job.attempt);
            if !ours {
                return Change::Keep;
            }
            let generation = job.attempt + 1;
            match first_allowed(step, at, &e.contact) {
                Some(next) if in_slot && next == at => {
                    Change::WriteAndSchedule(schedule_in_slot(e, step.id, generation, at))
                }
                Some(next) if next == at => {
                    Change::WriteAndSchedule(schedule_next(e, step.id, generation, next))
                }
                Some(next) => Change::WriteAndPlan(
                    schedule_next(e, step.id, generation, next),
                    Plan::for_step(step),
                ),
                None => Change::Keep,
            }
        })
        .await?;
        Ok(())
    }

    /// Fired outside the step's window (a late firing): plan it again for the next opening.
    async fn replan_late(
        &self,
        job: &StepJob,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Fired, DomainError> {
        let mut at = None;
        self.transitions
            .mutate(&job.tenant, job.sequence_id, &job.phone, |e| {
                if !matches_job(e, job) && !claimed_by(e, job) {
                    return Change::Keep;
                }
                match first_allowed(step, now, &e.contact) {
                    Some(next) => {
                        at = Some(next);
                        Change::WriteAndPlan(
                            schedule_next(e, step.id, job.attempt + 1, next),
                            Plan::for_step(step),
                        )
                    }
                    None => {
                        e.state = StepState::Held {
                            generation: job.attempt,
                        };
                        e.next_send_at = None;
                        Change::Write
                    }
                }
            })
            .await?;
        Ok(at.map_or(Fired::Held, Fired::Replanned))
    }

    /// The scheduled step was deleted: record it as skipped and go on with the next one.
    async fn skip_deleted_step(
        &self,
        sequence: &Sequence,
        job: &StepJob,
        now: DateTime<Utc>,
    ) -> Result<Fired, DomainError> {
        let mut skipped = false;
        self.transitions
            .mutate(&job.tenant, job.sequence_id, &job.phone, |e| {
                if !matches_job(e, job) {
                    return Change::Keep;
                }
                skipped = true;
                e.record(HistoryEntry::new(job.step_id, now, Outcome::Skipped));
                let done = e.steps_done.clone();
                let next = sequence
                    .step_after(e.last_step_id, &done)
                    .filter(|s| !done.contains(&s.id));
                let base = e.last_sent_at.unwrap_or(e.enrolled_at);
                let change = plan_or_complete(e, next, base, job.attempt, None);
                warn_if_never_opens(e, job.step_id);
                change
            })
            .await?;
        Ok(if skipped {
            Fired::Skipped
        } else {
            Fired::Stale
        })
    }
}

/// What recording a send attempt comes to.
#[derive(Debug)]
pub struct Decision {
    /// The enrollment as the outcome leaves it; `None` when it stays as it is (`change` is
    /// [`Change::Keep`]).
    pub enrollment: Option<Enrollment>,
    pub change: Change,
    pub fired: Fired,
    /// Why the sequence pauses, when the attempt's error pauses it.
    pub pause: Option<String>,
}

impl Decision {
    fn keep() -> Self {
        Self {
            enrollment: None,
            change: Change::Keep,
            fired: Fired::Stale,
            pause: None,
        }
    }

    fn write(enrollment: Enrollment, change: Change, fired: Fired) -> Self {
        Self {
            enrollment: Some(enrollment),
            change,
            fired,
            pause: None,
        }
    }
}

/// What the attempt of `job` at `now` comes to for `enrollment`, the run whose step `job`
/// claimed: the history entry it records, what is planned next, and what the firing did.
///
/// Only a run still sending this generation of the step, or one that was removed or ended
/// while the message was on its way, is changed; any other (another run, a later generation)
/// is kept as it is and the firing was stale.
pub fn decide_outcome(
    enrollment: &Enrollment,
    sequence: &Sequence,
    step: &Step,
    job: &StepJob,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Decision {
    let sending = matches!(enrollment.state, StepState::Sending { generation, .. } if generation == job.attempt);
    if enrollment.id != job.enrollment_id || (enrollment.is_active() && !sending) {
        return Decision::keep();
    }
    let mut e = enrollment.clone();
    let mut entry = HistoryEntry::new(step.id, now, Outcome::Sent);
    entry.category = match &step.action {
        Action::Template { category, .. } => *category,
        Action::Chatbot { .. } => None,
    };
    if !e.is_active() {
        // Removed or ended while the message was on its way: keep the record, plan nothing.
        let fired = match attempt {
            Attempt::Sent { message_id, wa_id } => {
                record_sent(&mut e, entry, message_id.as_deref(), wa_id.as_deref());
                Fired::Sent
            }
            Attempt::Failed(SendError::Unknown { detail }) => {
                record_error(&mut e, entry, Outcome::Unknown, None, detail.clone());
                Fired::Unknown
            }
            _ => return Decision::keep(),
        };
        return Decision::write(e, Change::Write, fired);
    }
    let mut pause = None;
    let (change, fired) = match attempt {
        // Handled before recording: nothing was sent.
        Attempt::Deferred(_) => return Decision::keep(),
        Attempt::Sent { message_id, wa_id } => {
            record_sent(&mut e, entry, message_id.as_deref(), wa_id.as_deref());
            (
                advance(sequence, &mut e, step, now, job.attempt),
                Fired::Sent,
            )
        }
        Attempt::NotSendable(reason) => {
            record_error(&mut e, entry, Outcome::Failed, None, reason.clone());
            (
                advance(sequence, &mut e, step, now, job.attempt),
                Fired::Failed,
            )
        }
        Attempt::Failed(SendError::Unknown { detail }) => {
            record_error(&mut e, entry, Outcome::Unknown, None, detail.clone());
            (
                advance(sequence, &mut e, step, now, job.attempt),
                Fired::Unknown,
            )
        }
        Attempt::Failed(SendError::Throttled { code, .. }) => {
            let mut backoff = throttle_backoff(e.id, job.attempt);
            if *code == Some(SPAM_RATE_LIMIT) {
                backoff += SPAM_BACKOFF;
            }
            match first_allowed(step, now + backoff, &e.contact) {
                Some(at) => (
                    Change::WriteAndSchedule(schedule_next(&mut e, step.id, job.attempt + 1, at)),
                    Fired::Throttled(at),
                ),
                None => (hold(&mut e, job.attempt), Fired::Stale),
            }
        }
        Attempt::Failed(SendError::ContactLimit { code, detail }) => {
            e.retries += 1;
            let retry_at = (e.retries <= CONTACT_LIMIT_RETRIES)
                .then(|| first_allowed(step, now + CONTACT_LIMIT_WAIT, &e.contact))
                .flatten();
            match retry_at {
                Some(at) => (
                    Change::WriteAndPlan(
                        schedule_next(&mut e, step.id, job.attempt + 1, at),
                        Plan::for_step(step),
                    ),
                    Fired::Retrying(at),
                ),
                None => {
                    let text = error_text(Some(*code), detail);
                    record_error(&mut e, entry, Outcome::Failed, Some(*code), text);
                    (
                        advance(sequence, &mut e, step, now, job.attempt),
                        Fired::Failed,
                    )
                }
            }
        }
        Attempt::Failed(SendError::Retryable { code, detail }) => {
            e.retries += 1;
            let retry_at = (e.retries <= MAX_RETRIES)
                .then(|| {
                    let wait = RETRY_BASE * 2i32.pow(e.retries - 1);
                    first_allowed(step, now + wait, &e.contact)
                })
                .flatten();
            match retry_at {
                Some(at) => (
                    Change::WriteAndSchedule(schedule_next(&mut e, step.id, job.attempt + 1, at)),
                    Fired::Retrying(at),
                ),
                None => {
                    let text = error_text(*code, detail);
                    record_error(&mut e, entry, Outcome::Failed, *code, text);
                    (
                        advance(sequence, &mut e, step, now, job.attempt),
                        Fired::Failed,
                    )
                }
            }
        }
        Attempt::Failed(SendError::Contact { code, detail }) => {
            let text = error_text(Some(*code), detail);
            record_error(&mut e, entry, Outcome::Failed, Some(*code), text);
            e.end(
                EnrollmentStatus::Exited,
                Some(ExitReason::for_meta_code(*code)),
            );
            (Change::Write, Fired::Failed)
        }
        Attempt::Failed(
            error @ (SendError::Template { code, detail } | SendError::Account { code, detail }),
        ) => {
            let kind = if matches!(error, SendError::Template { .. }) {
                "template"
            } else {
                "account"
            };
            let what = match &step.action {
                Action::Template { name, language, .. } => format!(" ({name}, {language})"),
                Action::Chatbot { .. } => String::new(),
            };
            pause = Some(format!(
                "{kind} error{what}: {}",
                error_text(Some(*code), detail)
            ));
            (hold(&mut e, job.attempt), Fired::PausedSequence)
        }
    };
    Decision {
        pause,
        ..Decision::write(e, change, fired)
    }
}

/// Records a message sent: its id, its first status, and the WhatsApp id Meta resolved the
/// number to.
fn record_sent(
    e: &mut Enrollment,
    mut entry: HistoryEntry,
    message_id: Option<&str>,
    wa_id: Option<&str>,
) {
    learn_wa_id(e, wa_id);
    entry.message_id = message_id.map(str::to_string);
    entry.status = message_id.map(|_| MessageStatus::Sent);
    e.record(entry);
}

/// Records a step that did not go out as sent, with why.
fn record_error(
    e: &mut Enrollment,
    mut entry: HistoryEntry,
    outcome: Outcome,
    code: Option<i64>,
    text: String,
) {
    entry.outcome = outcome;
    e.record(entry.with_error(code, text));
}

/// After a step is done with (sent, failed for good, unknown): the next step, counted from now.
fn advance(
    sequence: &Sequence,
    e: &mut Enrollment,
    step: &Step,
    at: DateTime<Utc>,
    generation: u32,
) -> Change {
    e.last_step_id = Some(step.id);
    e.last_sent_at = Some(at);
    e.retries = 0;
    if !e.is_active() {
        return Change::Write;
    }
    let next = sequence.step_after(Some(step.id), &[]);
    plan_or_complete(e, next, at, generation, Some(step.channel_id))
}

/// Plans the next step from `base` (or completes the run). A step due exactly `delay` after a
/// send on its own number is already spread: those sends went out on the number's send slots,
/// at most its rate per second, so its instant is kept as it is. Any other (a window moved it,
/// another number, no send before it) takes its instant on the number's planning lane.
fn plan_or_complete(
    e: &mut Enrollment,
    next: Option<&Step>,
    base: DateTime<Utc>,
    generation: u32,
    sent_on: Option<Ulid>,
) -> Change {
    match next {
        None => {
            e.end(EnrollmentStatus::Completed, None);
            Change::Write
        }
        Some(next) => match plan_next(next, base, &e.contact) {
            Some(due)
                if sent_on == Some(next.channel_id)
                    && Some(due) == due_at(base, next.delay, None, e.contact.tz()) =>
            {
                Change::WriteAndSchedule(schedule_next(e, next.id, generation + 1, due))
            }
            Some(due) => Change::WriteAndPlan(
                schedule_next(e, next.id, generation + 1, due),
                Plan::for_step(next),
            ),
            None => {
                // Logged by the caller: see `warn_if_never_opens`.
                e.next_step_id = Some(next.id);
                e.state = StepState::Held {
                    generation: generation + 1,
                };
                e.next_send_at = None;
                Change::Write
            }
        },
    }
}

/// Logs a run [`plan_or_complete`] held because its next step's allowed hours never open: an
/// active run held on a step other than `done`, the one it was done with.
fn warn_if_never_opens(e: &Enrollment, done: Ulid) {
    if let (true, StepState::Held { .. }, Some(next)) = (e.is_active(), &e.state, e.next_step_id) {
        if next != done {
            tracing::warn!(enrollment_id = %e.id, step_id = %next, "the step's allowed hours never open; holding");
        }
    }
}

/// Keeps the WhatsApp id Meta reported for the contact when it is not the phone itself.
fn learn_wa_id(e: &mut Enrollment, wa_id: Option<&str>) {
    let Some(wa_id) = wa_id.filter(|w| !w.is_empty()) else {
        return;
    };
    let digits = wa_id.trim_start_matches('+');
    if digits != e.contact.phone.trim_start_matches('+') {
        e.wa_id = Some(digits.to_string());
    }
}

fn error_text(code: Option<i64>, detail: &str) -> String {
    match code {
        Some(code) => format!("{code}: {detail}"),
        None => detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_backoff_is_jittered_bounded_and_grows_with_the_generation() {
        let ids: Vec<ulid::Ulid> = (0..200u128)
            .map(|i| ulid::Ulid::from(i.wrapping_mul(0x1234_5678_9abc_def1_0fed_cba9_8765_4321)))
            .collect();
        let mut previous_ceiling = TimeDelta::zero();
        for generation in [1, 3, 12] {
            let waits: Vec<_> = ids
                .iter()
                .map(|id| throttle_backoff(*id, generation))
                .collect();
            let ceiling = TimeDelta::seconds(2 << generation.min(8)).min(THROTTLE_CAP);
            assert!(ceiling > previous_ceiling);
            previous_ceiling = ceiling;
            assert!(waits
                .iter()
                .all(|w| *w >= TimeDelta::seconds(1) && *w <= ceiling));
            let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
            assert!(
                distinct.len() > 100,
                "generation {generation}: {} distinct",
                distinct.len()
            );
        }
    }
}

/// [`decide_outcome`], case by case.
#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::calendar::Window;
    use crate::channels::model::TemplateCategory;
    use crate::delivery::ports::Schedule;
    use crate::enrollments::model::Contact;
    use crate::sequences::plan::{Delay, DelayUnit};
    use chrono::TimeZone;

    const GENERATION: u32 = 3;

    fn now() -> DateTime<Utc> {
        // 2030-01-07 is a Monday.
        Utc.with_ymd_and_hms(2030, 1, 7, 10, 0, 0).unwrap()
    }

    fn closed_for_good() -> Window {
        Window::from_spec(&serde_json::from_str(r#"{"time_zone": "UTC", "days": {}}"#).unwrap())
            .unwrap()
    }

    fn template_step(n: u128, channel: u128, window: Option<Window>) -> Step {
        Step {
            id: Ulid::from(n),
            channel_id: Ulid::from(channel),
            action: Action::Template {
                name: "promo".into(),
                language: "pt_BR".into(),
                parameters: Vec::new(),
                header: None,
                buttons: Vec::new(),
                parameter_names: None,
                category: Some(TemplateCategory::Marketing),
            },
            delay: Delay {
                amount: 1,
                unit: DelayUnit::Days,
            },
            window,
        }
    }

    fn sequence(steps: Vec<Step>) -> Sequence {
        Sequence {
            tenant: TenantId::parse("t").unwrap(),
            id: Ulid::from(1),
            name: "Boas-vindas".into(),
            status: SequenceStatus::Active,
            status_reason: None,
            time_zone: "UTC".into(),
            exit_on_reply: true,
            steps,
            template_notices: Vec::new(),
            created_at: now(),
            updated_at: now(),
            version: 1,
            counted: true,
        }
    }

    /// Two steps on the same number, a day apart.
    fn two_steps() -> Sequence {
        sequence(vec![template_step(10, 7, None), template_step(11, 7, None)])
    }

    /// The run as the claim of the sequence's first step left it.
    fn sending(sequence: &Sequence) -> Enrollment {
        let contact = Contact {
            phone: "+5511987654321".into(),
            name: Some("Ana".into()),
            time_zone: None,
            attributes: Default::default(),
        };
        let first = sequence.steps[0].id;
        let enrolled_at = now() - TimeDelta::hours(1);
        Enrollment {
            next_send_at: Some(now()),
            state: StepState::Sending {
                generation: GENERATION,
                since: now(),
            },
            version: 4,
            updated_at: now(),
            ..Enrollment::started(
                sequence.tenant.clone(),
                sequence.id,
                Ulid::from(99),
                contact,
                first,
                enrolled_at,
            )
        }
    }

    /// [`sending`] after `retries` retries of the step.
    fn sending_after(sequence: &Sequence, retries: u32) -> Enrollment {
        let mut e = sending(sequence);
        e.retries = retries;
        e
    }

    /// The job of the sequence's first step at [`GENERATION`], for the run `e`.
    fn job(sequence: &Sequence, e: &Enrollment) -> StepJob {
        StepJob::for_step(e, sequence.steps[0].id, GENERATION)
    }

    /// The decision on `attempt` at the sequence's first step, delivered to the run `e` as `job`.
    fn decide_job(
        sequence: &Sequence,
        e: &Enrollment,
        job: &StepJob,
        attempt: &Attempt,
    ) -> Decision {
        decide_outcome(e, sequence, &sequence.steps[0], job, attempt, now())
    }

    fn decide(sequence: &Sequence, e: &Enrollment, attempt: Attempt) -> Decision {
        decide_job(sequence, e, &job(sequence, e), &attempt)
    }

    fn written(decision: &Decision) -> &Enrollment {
        decision
            .enrollment
            .as_ref()
            .expect("the decision writes the run")
    }

    fn sent(message_id: &str) -> Attempt {
        Attempt::Sent {
            message_id: Some(message_id.into()),
            wa_id: None,
        }
    }

    fn failed(error: SendError) -> Attempt {
        Attempt::Failed(error)
    }

    fn throttled(code: i64) -> Attempt {
        failed(SendError::Throttled {
            code: Some(code),
            detail: "rate".into(),
        })
    }

    fn retryable() -> Attempt {
        failed(SendError::Retryable {
            code: Some(131000),
            detail: "something went wrong".into(),
        })
    }

    fn contact_limit() -> Attempt {
        failed(SendError::ContactLimit {
            code: 131049,
            detail: "healthy ecosystem".into(),
        })
    }

    fn unknown() -> Attempt {
        failed(SendError::Unknown {
            detail: "timed out after sending".into(),
        })
    }

    /// The schedule of the step the decision plans, when it asks for one.
    fn scheduled(change: &Change) -> Option<&Schedule> {
        match change {
            Change::WriteAndSchedule(schedule) | Change::WriteAndPlan(schedule, _) => {
                Some(schedule)
            }
            Change::Keep | Change::Write => None,
        }
    }

    /// What a schedule fires: its step, at which generation, and when.
    fn fires(schedule: &Schedule) -> (Ulid, u32, DateTime<Utc>) {
        (
            schedule.input.step_id,
            schedule.input.attempt,
            schedule.fire_at,
        )
    }

    /// Asserts that `schedule` fires the sequence's first step again, at the next generation, at `at`.
    fn assert_again_at(sequence: &Sequence, schedule: &Schedule, at: DateTime<Utc>) {
        assert_eq!(fires(schedule), (sequence.steps[0].id, GENERATION + 1, at));
    }

    /// Asserts that the run went on to the second step, planned a day after `now`.
    fn assert_went_on(sequence: &Sequence, decision: &Decision) {
        let e = written(decision);
        assert_eq!(e.last_step_id, Some(sequence.steps[0].id));
        assert_eq!(e.last_sent_at, Some(now()));
        assert_eq!(e.retries, 0);
        assert_eq!(e.next_step_id, Some(sequence.steps[1].id));
        assert_eq!(
            scheduled(&decision.change).map(fires),
            Some((
                sequence.steps[1].id,
                GENERATION + 1,
                now() + TimeDelta::days(1)
            ))
        );
    }

    /// Asserts that the decision failed the first step with `code` and `error`, and the run went
    /// on to the second.
    fn assert_failed_and_went_on(
        sequence: &Sequence,
        decision: &Decision,
        code: Option<i64>,
        error: &str,
    ) {
        assert_eq!(decision.fired, Fired::Failed);
        assert_went_on(sequence, decision);
        let entry = only_entry(written(decision));
        assert_eq!(entry.outcome, Outcome::Failed);
        assert_eq!(entry.error_code, code);
        assert_eq!(entry.error.as_deref(), Some(error));
    }

    fn only_entry(e: &Enrollment) -> &HistoryEntry {
        assert_eq!(e.history.len(), 1, "{:?}", e.history);
        &e.history[0]
    }

    /// The run a decision on the claimed first step writes alone, after the send failed with
    /// `error`: checked to fire as `fired` and to pause the sequence with `pause`.
    fn written_after_error(
        sequence: &Sequence,
        error: SendError,
        fired: Fired,
        pause: Option<&str>,
    ) -> Enrollment {
        let decision = decide(sequence, &sending(sequence), failed(error));
        assert_eq!(decision.fired, fired);
        assert_eq!(decision.change, Change::Write);
        assert_eq!(decision.pause.as_deref(), pause);
        written(&decision).clone()
    }

    /// The run waits, held before the step it was sending, for its sequence to resume.
    fn assert_held_before_first(sequence: &Sequence, e: &Enrollment) {
        assert!(e.is_active());
        assert_eq!(
            e.state,
            StepState::Held {
                generation: GENERATION
            }
        );
        assert_eq!(e.next_send_at, None);
        assert_eq!(e.next_step_id, Some(sequence.steps[0].id));
    }

    /// The run `decision` writes, checked to fire as `fired` and to end the run as `status`,
    /// with nothing planned after it.
    fn ended(decision: &Decision, fired: Fired, status: EnrollmentStatus) -> &Enrollment {
        assert_eq!(decision.fired, fired);
        assert_eq!(decision.change, Change::Write);
        let e = written(decision);
        assert_eq!(e.status, status);
        assert_eq!(e.state, StepState::Idle);
        assert_eq!(e.next_step_id, None);
        e
    }

    fn assert_kept(decision: &Decision) {
        assert_eq!(decision.change, Change::Keep);
        assert_eq!(decision.enrollment, None);
        assert_eq!(decision.fired, Fired::Stale);
        assert_eq!(decision.pause, None);
    }

    #[test]
    fn a_sent_step_is_recorded_and_the_next_one_planned_on_the_numbers_own_pace() {
        let sequence = two_steps();
        let decision = decide(
            &sequence,
            &sending(&sequence),
            Attempt::Sent {
                message_id: Some("wamid.A".into()),
                wa_id: Some("551187654321".into()),
            },
        );
        assert_eq!(decision.fired, Fired::Sent);
        assert_eq!(decision.pause, None);
        assert!(matches!(decision.change, Change::WriteAndSchedule(_)));
        assert_went_on(&sequence, &decision);
        let e = written(&decision);
        assert_eq!(e.wa_id.as_deref(), Some("551187654321"));
        assert_eq!(e.last_message_step_id, Some(sequence.steps[0].id));
        assert_eq!(e.steps_done, [sequence.steps[0].id]);
        assert_eq!(
            e.state,
            StepState::Scheduled {
                generation: GENERATION + 1,
                fire_at: now() + TimeDelta::days(1),
                slot: false
            }
        );
        let entry = only_entry(e);
        assert_eq!(entry.outcome, Outcome::Sent);
        assert_eq!(entry.message_id.as_deref(), Some("wamid.A"));
        assert_eq!(entry.status, Some(MessageStatus::Sent));
        assert_eq!(entry.category, Some(TemplateCategory::Marketing));
        assert_eq!(entry.at, now());
    }

    #[test]
    fn a_next_step_on_another_number_is_spread_over_that_numbers_planning_lane() {
        let sequence = sequence(vec![template_step(10, 7, None), template_step(11, 8, None)]);
        let decision = decide(&sequence, &sending(&sequence), sent("wamid.A"));
        assert_eq!(decision.fired, Fired::Sent);
        match &decision.change {
            Change::WriteAndPlan(_, plan) => assert_eq!(*plan, Plan::for_step(&sequence.steps[1])),
            other => panic!("planned as {other:?}"),
        }
        assert_went_on(&sequence, &decision);
    }

    #[test]
    fn sending_the_last_step_completes_the_run() {
        let sequence = sequence(vec![template_step(10, 7, None)]);
        let decision = decide(&sequence, &sending(&sequence), sent("wamid.A"));
        let e = ended(&decision, Fired::Sent, EnrollmentStatus::Completed);
        assert_eq!(only_entry(e).outcome, Outcome::Sent);
    }

    #[test]
    fn a_next_step_whose_window_never_opens_is_held() {
        let sequence = sequence(vec![
            template_step(10, 7, None),
            template_step(11, 7, Some(closed_for_good())),
        ]);
        let decision = decide(&sequence, &sending(&sequence), sent("wamid.A"));
        assert_eq!(decision.fired, Fired::Sent);
        assert_eq!(decision.change, Change::Write);
        let e = written(&decision);
        assert!(e.is_active());
        assert_eq!(e.next_step_id, Some(sequence.steps[1].id));
        assert_eq!(
            e.state,
            StepState::Held {
                generation: GENERATION + 1
            }
        );
        assert_eq!(e.next_send_at, None);
    }

    #[test]
    fn throttled_send_is_rescheduled_without_counting_a_retry() {
        let sequence = two_steps();
        let decision = decide(&sequence, &sending_after(&sequence, 2), throttled(130429));
        let Fired::Throttled(at) = decision.fired else {
            panic!("fired {:?}", decision.fired);
        };
        assert!(at >= now() + TimeDelta::seconds(1) && at <= now() + THROTTLE_CAP);
        let Change::WriteAndSchedule(schedule) = &decision.change else {
            panic!("changed as {:?}", decision.change);
        };
        assert_again_at(&sequence, schedule, at);
        let e = written(&decision);
        assert_eq!(e.retries, 2);
        assert!(e.history.is_empty());
        assert_eq!(e.next_step_id, Some(sequence.steps[0].id));
    }

    #[test]
    fn a_spam_rate_limit_waits_ten_minutes_longer_than_a_throughput_answer() {
        let sequence = two_steps();
        let claimed = sending(&sequence);
        let due = |code| match decide(&sequence, &claimed, throttled(code)).fired {
            Fired::Throttled(at) => at,
            other => panic!("fired {other:?}"),
        };
        assert_eq!(due(SPAM_RATE_LIMIT) - due(130429), SPAM_BACKOFF);
    }

    #[test]
    fn a_throttled_step_whose_window_never_opens_again_is_held() {
        let sequence = sequence(vec![template_step(10, 7, Some(closed_for_good()))]);
        let decision = decide(&sequence, &sending(&sequence), throttled(130429));
        assert_eq!(decision.change, Change::Write);
        assert_eq!(decision.fired, Fired::Stale);
        assert_held_before_first(&sequence, written(&decision));
    }

    #[test]
    fn a_contact_at_its_marketing_limit_is_tried_again_a_day_later_while_retries_last() {
        let sequence = two_steps();
        for retries in [0, CONTACT_LIMIT_RETRIES - 1] {
            let decision = decide(
                &sequence,
                &sending_after(&sequence, retries),
                contact_limit(),
            );
            let at = now() + CONTACT_LIMIT_WAIT;
            assert_eq!(decision.fired, Fired::Retrying(at), "after {retries}");
            match &decision.change {
                Change::WriteAndPlan(schedule, plan) => {
                    assert_again_at(&sequence, schedule, at);
                    assert_eq!(*plan, Plan::for_step(&sequence.steps[0]));
                }
                other => panic!("changed as {other:?}"),
            }
            let e = written(&decision);
            assert_eq!(e.retries, retries + 1);
            assert!(e.history.is_empty());
        }
    }

    #[test]
    fn a_contact_at_its_marketing_limit_fails_the_step_once_its_retries_are_spent() {
        let sequence = two_steps();
        let claimed = sending_after(&sequence, CONTACT_LIMIT_RETRIES);
        let decision = decide(&sequence, &claimed, contact_limit());
        assert_failed_and_went_on(
            &sequence,
            &decision,
            Some(131049),
            "131049: healthy ecosystem",
        );
    }

    #[test]
    fn a_retryable_error_is_tried_again_after_a_doubling_wait() {
        let sequence = two_steps();
        let decision = decide(
            &sequence,
            &sending_after(&sequence, MAX_RETRIES - 1),
            retryable(),
        );
        let at = now() + RETRY_BASE * 2i32.pow(MAX_RETRIES - 1);
        assert_eq!(decision.fired, Fired::Retrying(at));
        let Change::WriteAndSchedule(schedule) = &decision.change else {
            panic!("changed as {:?}", decision.change);
        };
        assert_again_at(&sequence, schedule, at);
        let e = written(&decision);
        assert_eq!(e.retries, MAX_RETRIES);
        assert!(e.history.is_empty());
    }

    #[test]
    fn a_retryable_error_fails_the_step_and_the_run_goes_on_after_the_last_retry() {
        let sequence = two_steps();
        let decision = decide(
            &sequence,
            &sending_after(&sequence, MAX_RETRIES),
            retryable(),
        );
        assert_failed_and_went_on(
            &sequence,
            &decision,
            Some(131000),
            "131000: something went wrong",
        );
    }

    #[test]
    fn an_undeliverable_contact_exits_the_run() {
        let sequence = two_steps();
        let error = SendError::Contact {
            code: 131026,
            detail: "message undeliverable".into(),
        };
        let e = written_after_error(&sequence, error, Fired::Failed, None);
        assert_eq!(e.status, EnrollmentStatus::Exited);
        assert_eq!(e.exit_reason, Some(ExitReason::Undeliverable));
        assert_eq!(e.state, StepState::Idle);
        assert_eq!(e.next_step_id, None);
        let entry = only_entry(&e);
        assert_eq!(entry.outcome, Outcome::Failed);
        assert_eq!(entry.error_code, Some(131026));
    }

    #[test]
    fn a_template_or_account_error_holds_the_step_and_pauses_the_sequence() {
        let template = two_steps();
        let mut chatbot = two_steps();
        chatbot.steps[0].action = Action::Chatbot {
            bot_id: Ulid::from(5),
        };
        let cases = [
            (
                template,
                SendError::Template {
                    code: 132001,
                    detail: "template does not exist".into(),
                },
                "template error (promo, pt_BR): 132001: template does not exist",
            ),
            (
                chatbot,
                SendError::Account {
                    code: 131031,
                    detail: "account locked".into(),
                },
                "account error: 131031: account locked",
            ),
        ];
        for (sequence, error, pause) in cases {
            let e = written_after_error(&sequence, error, Fired::PausedSequence, Some(pause));
            assert_held_before_first(&sequence, &e);
            assert!(e.history.is_empty());
        }
    }

    #[test]
    fn an_unknown_outcome_is_recorded_never_resent_and_the_run_goes_on() {
        let sequence = two_steps();
        let decision = decide(&sequence, &sending(&sequence), unknown());
        assert_eq!(decision.fired, Fired::Unknown);
        assert_went_on(&sequence, &decision);
        let entry = only_entry(written(&decision));
        assert_eq!(entry.outcome, Outcome::Unknown);
        assert_eq!(entry.error.as_deref(), Some("timed out after sending"));
        assert_eq!(entry.message_id, None);
    }

    #[test]
    fn a_step_that_cannot_be_prepared_for_the_contact_fails_and_the_run_goes_on() {
        let sequence = two_steps();
        let attempt = Attempt::NotSendable("missing contact.attributes.coupon".into());
        let decision = decide(&sequence, &sending(&sequence), attempt);
        assert_failed_and_went_on(
            &sequence,
            &decision,
            None,
            "missing contact.attributes.coupon",
        );
    }

    #[test]
    fn a_deferred_attempt_changes_nothing() {
        let sequence = two_steps();
        let attempt = Attempt::Deferred(now() + TimeDelta::minutes(5));
        assert_kept(&decide(&sequence, &sending(&sequence), attempt));
    }

    /// The run as it is once the contact was removed while its message was on its way.
    fn removed(sequence: &Sequence) -> Enrollment {
        let mut e = sending(sequence);
        e.end(EnrollmentStatus::Removed, None);
        e
    }

    #[test]
    fn a_message_sent_after_the_contact_was_removed_is_recorded_and_nothing_planned() {
        let sequence = two_steps();
        let decision = decide(&sequence, &removed(&sequence), sent("wamid.A"));
        let e = ended(&decision, Fired::Sent, EnrollmentStatus::Removed);
        assert_eq!(e.last_step_id, None);
        let entry = only_entry(e);
        assert_eq!(entry.outcome, Outcome::Sent);
        assert_eq!(entry.message_id.as_deref(), Some("wamid.A"));
    }

    #[test]
    fn an_unknown_outcome_after_the_contact_was_removed_is_recorded() {
        let sequence = two_steps();
        let decision = decide(&sequence, &removed(&sequence), unknown());
        let e = ended(&decision, Fired::Unknown, EnrollmentStatus::Removed);
        assert_eq!(only_entry(e).outcome, Outcome::Unknown);
    }

    #[test]
    fn any_other_outcome_after_the_contact_was_removed_changes_nothing() {
        let sequence = two_steps();
        let attempts = [
            throttled(130429),
            retryable(),
            contact_limit(),
            failed(SendError::Contact {
                code: 131026,
                detail: "undeliverable".into(),
            }),
            failed(SendError::Template {
                code: 132001,
                detail: "missing".into(),
            }),
            failed(SendError::Account {
                code: 131031,
                detail: "locked".into(),
            }),
            Attempt::NotSendable("missing".into()),
            Attempt::Deferred(now()),
        ];
        for attempt in attempts {
            let decision = decide(&sequence, &removed(&sequence), attempt.clone());
            assert_eq!(decision.change, Change::Keep, "{attempt:?}");
            assert_eq!(decision.fired, Fired::Stale, "{attempt:?}");
            assert_eq!(decision.pause, None, "{attempt:?}");
        }
    }

    #[test]
    fn a_repeated_delivery_of_an_older_generation_changes_nothing() {
        let sequence = two_steps();
        let mut later = sending(&sequence);
        later.state = StepState::Sending {
            generation: GENERATION + 1,
            since: now(),
        };
        let attempt = sent("wamid.A");
        let stale_job = StepJob::for_step(&later, sequence.steps[0].id, GENERATION);
        assert_kept(&decide_job(&sequence, &later, &stale_job, &attempt));
    }

    #[test]
    fn a_delivery_for_a_step_not_claimed_changes_nothing() {
        let sequence = two_steps();
        let mut scheduled = sending(&sequence);
        scheduled.state = StepState::Scheduled {
            generation: GENERATION,
            fire_at: now(),
            slot: false,
        };
        assert_kept(&decide(&sequence, &scheduled, sent("wamid.A")));
    }

    #[test]
    fn a_delivery_for_another_run_of_the_contact_changes_nothing() {
        let sequence = two_steps();
        let claimed = sending(&sequence);
        let mut other_run = job(&sequence, &claimed);
        other_run.enrollment_id = Ulid::from(98);
        let attempt = sent("wamid.A");
        for e in [claimed.clone(), removed(&sequence)] {
            assert_kept(&decide_job(&sequence, &e, &other_run, &attempt));
        }
    }
}
