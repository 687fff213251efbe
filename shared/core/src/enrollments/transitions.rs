//! The enrollment transitions every context goes through: read-change-conditional-write with the
//! schedule it asks for created after the write, ending a run, re-planning a held step, and the
//! pure planning helpers the sender and the services share.
//!
//! A step planned for when it comes due (after a delay, at a window's opening, on a resume) is
//! spread over its number's planning lane (see `delivery::pacing`): steps that come due together
//! get instants at the number's rate instead of one crowded second, each still inside its window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::calendar::Window;
use crate::channels::store::ChannelStore;
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::retry::Backoff;
use crate::common::store::{Expect, WriteError, WRITE_RETRIES};
use crate::common::tenant::TenantId;
use crate::delivery::pacing::{Lane, Lattice, SendSlots, SLOT_LEAD};
use crate::delivery::ports::{Schedule, Scheduler, StepJob};
use crate::enrollments::counters::Counts;
use crate::enrollments::model::{
    Contact, Enrollment, EnrollmentStatus, ExitReason, HistoryEntry, StepState,
};
use crate::enrollments::store::{EnrollmentStore, IndexWrites, SentMessage};
use crate::sequences::model::{Sequence, Step};
use crate::sequences::plan::due_at;

/// The ports an enrollment transition touches: the store it writes and the scheduler whose
/// schedules it creates or deletes.
#[derive(Clone)]
pub struct EnrollmentTransitions {
    clock: Arc<dyn Clock>,
    enrollments: Arc<dyn EnrollmentStore>,
    scheduler: Arc<dyn Scheduler>,
    planner: Planner,
    /// How a write the store refused for capacity is tried again.
    write_backoff: Backoff,
}

/// How an enrollment write the store refused for capacity or contention (a retryable port
/// error, after the adapter's own retries) is tried again, the same write with the same
/// condition: 6 tries in all, full-jitter waits from 100 ms doubling up to 2 s (at most about
/// 3.1 s in all). A write that still fails is the caller's error, retryable. The sender's
/// outcome write after Meta accepted a message goes through here.
pub const WRITE_BACKOFF: Backoff = Backoff::new(
    std::time::Duration::from_millis(100),
    std::time::Duration::from_secs(2),
    6,
);

/// Which history entry of the run a change loads (see [`EnrollmentTransitions::mutate_entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPick {
    /// The entry of this step.
    Step(Ulid),
    /// The entry of the run's last message sent, if any.
    LastMessage,
}

/// Where a step is planned: its number and its allowed hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub channel: Ulid,
    pub window: Option<Window>,
}

impl Plan {
    pub fn for_step(step: &Step) -> Self {
        Self {
            channel: step.channel_id,
            window: step.window.clone(),
        }
    }
}

/// Spreads planned steps over their number's planning lane.
#[derive(Clone)]
pub struct Planner {
    clock: Arc<dyn Clock>,
    slots: Arc<dyn SendSlots>,
    channels: Arc<dyn ChannelStore>,
    /// Per number, its rate and when it was read: a rate change reaches planning within
    /// [`Planner::RATE_TTL`].
    rates: Arc<Mutex<HashMap<Ulid, RateRead>>>,
}

/// A number's rate and when it was read.
type RateRead = (u32, DateTime<Utc>);

impl Planner {
    pub const RATE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
    /// Window openings tried before a step keeps its unspread due time.
    const OPENINGS: usize = 4;

    pub fn new(
        clock: Arc<dyn Clock>,
        slots: Arc<dyn SendSlots>,
        channels: Arc<dyn ChannelStore>,
    ) -> Self {
        Self {
            clock,
            slots,
            channels,
            rates: Arc::default(),
        }
    }

    async fn rate(&self, tenant: &TenantId, channel: Ulid) -> Option<u32> {
        let now = self.clock.now();
        if let Some((rate, read)) = self.rates.lock().expect("rates").get(&channel) {
            if now - *read < Self::RATE_TTL {
                return Some(*rate);
            }
        }
        match self.channels.get_channel(tenant, channel).await {
            Ok(Some(found)) => {
                let rate = found.messages_per_second;
                self.rates
                    .lock()
                    .expect("rates")
                    .insert(channel, (rate, now));
                Some(rate)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(error = %error, channel_id = %channel, "channel rate unavailable; planning unspread");
                None
            }
        }
    }

    /// The instant a step due at `due` is planned for: the number's first free planning slot
    /// from then (or from now, when `due` has passed) that the window allows; `due` itself
    /// when no step is planned in its slot yet. When no slot can
    /// be had (the store failing, an unknown number), `due` itself: the sender still paces the
    /// send when it fires.
    pub async fn spread(
        &self,
        tenant: &TenantId,
        plan: &Plan,
        due: DateTime<Utc>,
        contact: &Contact,
    ) -> DateTime<Utc> {
        let Some(rate) = self.rate(tenant, plan.channel).await else {
            return due;
        };
        let mut at = due.max(self.clock.now());
        for _ in 0..Self::OPENINGS {
            let slot = match self.slots.take(Lane::Plan, plan.channel, rate, at).await {
                Ok(slot) => slot,
                Err(error) => {
                    tracing::warn!(error = %error, channel_id = %plan.channel, "no planning slot; planning unspread");
                    return due;
                }
            };
            let allowed = match &plan.window {
                Some(window) => window.next_allowed(slot, contact.tz()),
                None => Some(slot),
            };
            // A step that finds its number's lane free from `at` keeps `at` itself.
            let lattice = Lattice::new(rate);
            let uncrowded = slot == lattice.instant(lattice.first_at_or_after(at));
            match allowed {
                Some(allowed) if allowed == slot => return if uncrowded { at } else { slot },
                Some(opening) => at = opening,
                None => return due,
            }
        }
        due
    }
}

impl EnrollmentTransitions {
    pub fn new(
        clock: Arc<dyn Clock>,
        enrollments: Arc<dyn EnrollmentStore>,
        scheduler: Arc<dyn Scheduler>,
        channels: Arc<dyn ChannelStore>,
        slots: Arc<dyn SendSlots>,
    ) -> Self {
        Self {
            planner: Planner::new(clock.clone(), slots, channels),
            clock,
            enrollments,
            scheduler,
            write_backoff: WRITE_BACKOFF,
        }
    }

    /// The same transitions, retrying throttled writes with `backoff` (tests: no wait).
    pub fn with_write_backoff(mut self, backoff: Backoff) -> Self {
        self.write_backoff = backoff;
        self
    }

    /// Writes the changed enrollment, trying the same conditional write again while the
    /// store refuses it for capacity (see [`WRITE_BACKOFF`]).
    async fn write_retrying(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<bool, WriteError> {
        self.retrying_throttled(enrollment, || async move {
            if index.messages.is_empty() {
                self.enrollments
                    .write_enrollment(enrollment, expect, index)
                    .await
                    .map(|()| false)
            } else {
                self.enrollments
                    .write_enrollment_seeing_held(enrollment, expect, index)
                    .await
            }
        })
        .await
    }

    /// Writes one changed history entry of the run alone, with its counter change (see
    /// [`EnrollmentStore::write_entry`]), retried like [`Self::write_retrying`].
    async fn write_entry_retrying(
        &self,
        enrollment: &Enrollment,
        entry: &HistoryEntry,
        counters: &Counts,
    ) -> Result<(), WriteError> {
        self.retrying_throttled(enrollment, || {
            self.enrollments.write_entry(enrollment, entry, counters)
        })
        .await
    }

    /// Runs `write` again while the store refuses it for capacity (see [`WRITE_BACKOFF`]).
    async fn retrying_throttled<T, F>(
        &self,
        enrollment: &Enrollment,
        mut write: impl FnMut() -> F,
    ) -> Result<T, WriteError>
    where
        F: std::future::Future<Output = Result<T, WriteError>>,
    {
        let backoff = self.write_backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            let written = write().await;
            match written {
                Err(WriteError::Port(error))
                    if error.is_retryable() && backoff.allows_another(tried) =>
                {
                    tracing::warn!(
                        tenant = %enrollment.tenant,
                        sequence_id = %enrollment.sequence_id,
                        enrollment_id = %enrollment.id,
                        attempt = tried,
                        max_attempts = backoff.attempts,
                        error = %error,
                        "enrollment write throttled; trying it again"
                    );
                    backoff.wait(tried - 1).await;
                }
                Err(WriteError::Port(error)) if error.is_retryable() => {
                    tracing::warn!(
                        tenant = %enrollment.tenant,
                        sequence_id = %enrollment.sequence_id,
                        enrollment_id = %enrollment.id,
                        attempts = tried,
                        error = %error,
                        "enrollment write still throttled; giving up"
                    );
                    return Err(WriteError::Port(error));
                }
                other => return other,
            }
        }
    }

    pub fn planner(&self) -> &Planner {
        &self.planner
    }

    /// Reads, changes and conditionally writes an enrollment, again on a concurrent change.
    /// A schedule the change asks for is created after the write, so it can never fire before
    /// the enrollment it belongs to is stored. If creating it fails, the error is returned and
    /// the enrollment stays as written: a repeated delivery of the job that led here creates
    /// the schedule again (see the sender). Returns the enrollment as stored and whether this
    /// call wrote it (None when there is none).
    pub async fn mutate(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        change: impl FnMut(&mut Enrollment) -> Change,
    ) -> Result<Option<(Enrollment, bool)>, DomainError> {
        Ok(self
            .mutate_known(tenant, sequence_id, phone, None, None, change)
            .await?
            .0)
    }

    /// [`Self::mutate`] with the history entry `entry` picks loaded into the enrollment's
    /// `history` before the change sees it (read after the enrollment, so the write's version
    /// condition covers it): the change updates it, and the write stores it with its counts.
    pub async fn mutate_entry(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        entry: EntryPick,
        change: impl FnMut(&mut Enrollment) -> Change,
    ) -> Result<Option<(Enrollment, bool)>, DomainError> {
        Ok(self
            .mutate_known(tenant, sequence_id, phone, None, Some(entry), change)
            .await?
            .0)
    }

    /// [`Self::mutate`] starting from `known`, the enrollment as a conditional write just
    /// returned it (the sender's claim): no read unless another writer changed it meanwhile.
    /// Also answers whether a message id the write indexed has statuses held for it.
    pub async fn mutate_from(
        &self,
        known: Enrollment,
        change: impl FnMut(&mut Enrollment) -> Change,
    ) -> Result<(Option<(Enrollment, bool)>, bool), DomainError> {
        let (tenant, sequence_id, phone) = (
            known.tenant.clone(),
            known.sequence_id,
            known.contact.phone.clone(),
        );
        self.mutate_known(&tenant, sequence_id, &phone, Some(known), None, change)
            .await
    }

    async fn mutate_known(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        mut known: Option<Enrollment>,
        entry: Option<EntryPick>,
        mut change: impl FnMut(&mut Enrollment) -> Change,
    ) -> Result<(Option<(Enrollment, bool)>, bool), DomainError> {
        for _ in 0..WRITE_RETRIES {
            let read = match known.take() {
                Some(enrollment) => Some(enrollment),
                None => {
                    self.enrollments
                        .get_enrollment(tenant, sequence_id, phone)
                        .await?
                }
            };
            let Some(mut enrollment) = read else {
                return Ok((None, false));
            };
            let step = match entry {
                Some(EntryPick::Step(step_id)) => Some(step_id),
                Some(EntryPick::LastMessage) => enrollment.last_message_step_id,
                None => None,
            };
            if let Some(step_id) = step {
                let loaded = self
                    .enrollments
                    .history_entry(tenant, sequence_id, phone, enrollment.id, step_id)
                    .await?;
                enrollment.history.extend(loaded);
            }
            let expect = Expect::Version(enrollment.version);
            let stored = enrollment.clone();
            let known: Vec<Option<String>> = enrollment
                .history
                .iter()
                .map(|h| h.message_id.clone())
                .collect();
            let wa_id = enrollment.wa_id.clone();
            let schedule = match change(&mut enrollment) {
                Change::Keep => return Ok((Some((enrollment, false)), false)),
                Change::Write => None,
                Change::WriteAndSchedule(schedule) => Some(schedule),
                Change::WriteAndPlan(mut schedule, plan) => {
                    let at = self
                        .planner
                        .spread(tenant, &plan, schedule.fire_at, &enrollment.contact)
                        .await;
                    replan_at(&mut enrollment, &mut schedule, at);
                    Some(schedule)
                }
            };
            // A stored entry the change changed moves to its next revision: the write is
            // conditional on the one it was read at.
            for h in &mut enrollment.history {
                if let Some(before) = stored.history.iter().find(|b| b.step_id == h.step_id) {
                    if before != h {
                        h.rev = before.rev + 1;
                    }
                }
            }
            if schedule.is_none() {
                if let Some(entry) = only_entry_changed(&stored, &enrollment) {
                    let counters = Counts::delta(Some(&stored), &enrollment);
                    match self
                        .write_entry_retrying(&enrollment, entry, &counters)
                        .await
                    {
                        Ok(()) => return Ok((Some((enrollment, true)), false)),
                        Err(WriteError::Conflict) => continue,
                        Err(WriteError::Port(e)) => return Err(e.into()),
                    }
                }
            }
            enrollment.version += 1;
            enrollment.updated_at = self.clock.now();
            // Message ids this change records, a WhatsApp id it learned, and what it changes in
            // the sequence's counters go with the same write.
            let index = IndexWrites {
                counters: Counts::delta(Some(&stored), &enrollment),
                messages: enrollment
                    .history
                    .iter()
                    .filter_map(|h| {
                        let id = h.message_id.as_ref()?;
                        (!known.contains(&h.message_id)).then(|| SentMessage {
                            message_id: id.clone(),
                            step_id: h.step_id,
                        })
                    })
                    .collect(),
                contacts: if enrollment.wa_id != wa_id {
                    enrollment.contact_keys()
                } else {
                    Vec::new()
                },
                history: enrollment
                    .history
                    .iter()
                    .filter(|h| !stored.history.contains(h))
                    .cloned()
                    .collect(),
            };
            match self.write_retrying(&enrollment, expect, &index).await {
                Ok(held) => {
                    if let Some(schedule) = schedule {
                        self.scheduler.schedule(schedule).await?;
                    }
                    return Ok((Some((enrollment, true)), held));
                }
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Port(e)) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict(
            "the enrollment is being changed concurrently; try again".into(),
        ))
    }

    /// Ends an active enrollment and deletes its pending schedule.
    pub async fn end(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        status: EnrollmentStatus,
        reason: Option<ExitReason>,
    ) -> Result<Option<Enrollment>, DomainError> {
        let mut pending = None;
        let result = self
            .mutate(tenant, sequence_id, phone, |e| {
                if !e.is_active() {
                    return Change::Keep;
                }
                pending = match (e.state.clone(), e.next_step_id) {
                    (StepState::Scheduled { generation, .. }, Some(step_id)) => {
                        Some(StepJob::for_step(e, step_id, generation).schedule_name())
                    }
                    _ => None,
                };
                e.end(status, reason);
                Change::Write
            })
            .await?;
        if let Some((_, true)) = &result {
            if let Some(name) = pending {
                self.scheduler.cancel(&name).await?;
            }
            tracing::info!(tenant = %tenant, sequence_id = %sequence_id, status = status.as_str(), "enrollment ended");
        }
        Ok(result.map(|(e, _)| e))
    }

    /// Schedules a held step for the first allowed instant from now (or its own due time, when
    /// that is later).
    pub async fn replan_held(&self, sequence: &Sequence, phone: &str) -> Result<(), DomainError> {
        let now = self.clock.now();
        self.mutate(&sequence.tenant, sequence.id, phone, |e| {
            let StepState::Held { generation } = e.state else {
                return Change::Keep;
            };
            if !e.is_active() {
                return Change::Keep;
            }
            let next = e
                .next_step_id
                .and_then(|id| sequence.step(id))
                .or_else(|| sequence.step_after(e.last_step_id, &e.steps_done));
            let Some(step) = next else {
                e.end(EnrollmentStatus::Completed, None);
                return Change::Write;
            };
            let base = e.last_sent_at.unwrap_or(e.enrolled_at);
            let Some(due) = plan_next(step, base, &e.contact)
                .and_then(|due| first_allowed(step, due.max(now), &e.contact))
            else {
                return Change::Keep;
            };
            Change::WriteAndPlan(
                schedule_next(e, step.id, generation + 1, due),
                Plan::for_step(step),
            )
        })
        .await?;
        Ok(())
    }
}

/// Moves a planned schedule, and the enrollment's record of it, to `at`.
/// The one stored history entry a change changed, when it changed nothing else of the run (a
/// delivery status): that entry alone is written, not the enrollment.
fn only_entry_changed<'a>(
    stored: &Enrollment,
    changed: &'a Enrollment,
) -> Option<&'a HistoryEntry> {
    let mut entries = changed
        .history
        .iter()
        .filter(|h| !stored.history.contains(h));
    let entry = entries.next().filter(|h| h.rev > 0)?;
    if entries.next().is_some() || changed.history.len() != stored.history.len() {
        return None;
    }
    let bare = |e: &Enrollment| Enrollment {
        history: Vec::new(),
        ..e.clone()
    };
    (bare(stored) == bare(changed)).then_some(entry)
}

fn replan_at(e: &mut Enrollment, schedule: &mut Schedule, at: DateTime<Utc>) {
    if let StepState::Scheduled { fire_at, .. } = &mut e.state {
        *fire_at = at;
    }
    e.next_send_at = Some(at);
    schedule.fire_at = at;
}

pub fn expect_version(expect: Expect) -> u64 {
    match expect {
        Expect::Absent => 0,
        Expect::Version(v) => v,
    }
}

pub fn step_schedule(
    e: &Enrollment,
    step_id: Ulid,
    generation: u32,
    fire_at: DateTime<Utc>,
) -> Schedule {
    let input = StepJob::for_step(e, step_id, generation);
    Schedule {
        name: input.schedule_name(),
        fire_at,
        input,
    }
}

/// Points the enrollment at `step_id`, due at `fire_at`, and returns the schedule to create.
pub fn schedule_next(
    e: &mut Enrollment,
    step_id: Ulid,
    generation: u32,
    fire_at: DateTime<Utc>,
) -> Schedule {
    e.next_step_id = Some(step_id);
    e.state = StepState::Scheduled {
        generation,
        fire_at,
        slot: false,
    };
    e.next_send_at = Some(fire_at);
    step_schedule(e, step_id, generation, fire_at)
}

/// [`schedule_next`] at a send slot of the number, taken for this generation. The schedule fires
/// [`SLOT_LEAD`] early, so that the sender has read and claimed the step when the slot comes.
pub fn schedule_in_slot(
    e: &mut Enrollment,
    step_id: Ulid,
    generation: u32,
    slot: DateTime<Utc>,
) -> Schedule {
    let mut schedule = schedule_next(e, step_id, generation, slot);
    if let StepState::Scheduled { slot, .. } = &mut e.state {
        *slot = true;
    }
    schedule.fire_at = slot - SLOT_LEAD;
    schedule.input.slot = Some(slot);
    schedule
}

/// The first instant at or after `from` that the step's window allows.
pub fn first_allowed(step: &Step, from: DateTime<Utc>, contact: &Contact) -> Option<DateTime<Utc>> {
    match &step.window {
        Some(window) => window.next_allowed(from, contact.tz()),
        None => Some(from),
    }
}

/// What a change to an enrollment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Keep,
    Write,
    WriteAndSchedule(Schedule),
    /// A schedule planned for when its step comes due, spread over the number's planning lane
    /// before the write (see [`Planner::spread`]).
    WriteAndPlan(Schedule, Plan),
}

/// The next step's due time, counted from `base` (SPEC §4).
pub fn plan_next(step: &Step, base: DateTime<Utc>, contact: &Contact) -> Option<DateTime<Utc>> {
    due_at(base, step.delay, step.window.as_ref(), contact.tz())
}

impl HistoryEntry {
    pub(crate) fn with_error(mut self, code: Option<i64>, error: impl Into<String>) -> Self {
        self.error_code = code;
        self.error = Some(error.into());
        self
    }
}
