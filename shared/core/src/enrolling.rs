//! Enrolling and removing contacts, per-contact history, and sequence statistics.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;

use crate::app::Ritmo;
use crate::channel::TemplateCategory;
use crate::enrollment::{
    Contact, Enrollment, EnrollmentStatus, ExitReason, HistoryEntry, MessageStatus, Outcome, Phone,
    StepState,
};
use crate::error::DomainError;
use crate::page::{Page, PageRequest};
use crate::plan::due_at;
use crate::ports::{Schedule, StepJob};
use crate::pricing::RateCard;
use crate::sequence::{Action, Sequence, SequenceStatus, Step};
use crate::sequences::WRITE_RETRIES;
use crate::store::{Expect, WriteError};
use crate::template::{valid_attribute_name, Parameter};
use crate::tenant::TenantId;

pub const MAX_CONTACTS_PER_REQUEST: usize = 1000;
/// Enrollments written at once while a batch is processed.
const ENROLL_CONCURRENCY: usize = 32;

/// One contact to enroll. An invalid contact is rejected on its own, in its result.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({
    "phone": "+5511987654321", "name": "Ana", "time_zone": "America/Manaus",
    "attributes": {"coupon": "X1"}
}))]
pub struct ContactInput {
    /// An international number (`+` and country code); normalised to E.164.
    #[schema(example = "+5511987654321")]
    pub phone: String,
    /// At most 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// IANA time zone of the contact, for windows that use it.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Up to 100 values (string, number or boolean) for `{{contact.attributes.<name>}}`; names
    /// are letters, digits, `_` or `-`.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, AttributeValue>)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A contact attribute's value (`null` ones are left out).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum AttributeValue {
    String(String),
    Number(f64),
    Boolean(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrollResult {
    Enrolled,
    AlreadyEnrolled,
    Rejected,
}

/// What became of one contact of an enrollment request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EnrollOutcome {
    /// The E.164 phone, or the phone as given when it was rejected.
    pub phone: String,
    pub status: EnrollResult,
    /// When its next step goes out (`null` while the sequence is paused, or when rejected).
    #[schema(required)]
    pub next_send_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    #[schema(required)]
    pub error: Option<String>,
}

impl EnrollOutcome {
    fn rejected(phone: &str, error: impl Into<String>) -> Self {
        Self {
            phone: phone.to_string(),
            status: EnrollResult::Rejected,
            next_send_at: None,
            error: Some(error.into()),
        }
    }
}

/// One step that went (or tried to go) to the contact.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryView {
    pub step_id: Ulid,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// WhatsApp's message id (`wamid...`).
    #[schema(required)]
    pub message_id: Option<String>,
    /// Delivery status from Meta's webhooks.
    #[schema(required)]
    pub status: Option<MessageStatus>,
    #[schema(required)]
    pub error: Option<String>,
}

/// A contact in a sequence. `history` is given when one enrollment is read.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "phone": "+5511987654321", "name": "Ana", "status": "active", "exit_reason": null,
    "enrolled_at": "2026-11-23T12:00:00Z", "next_step_id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VZ",
    "next_send_at": "2026-11-25T12:00:00Z", "history": []
}))]
pub struct EnrollmentView {
    pub phone: String,
    #[schema(required)]
    pub name: Option<String>,
    pub status: EnrollmentStatus,
    /// Why an `exited` enrollment ended.
    #[schema(required)]
    pub exit_reason: Option<ExitReason>,
    pub enrolled_at: DateTime<Utc>,
    #[schema(required)]
    pub next_step_id: Option<Ulid>,
    #[schema(required)]
    pub next_send_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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

/// One step's counts. A deleted step that had sends keeps its row, with `position: null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct StepStats {
    pub step_id: Ulid,
    #[schema(required)]
    pub position: Option<usize>,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub replied: u64,
    pub skipped: u64,
    pub unknown: u64,
    /// Billable sends by template category (`MARKETING`, `UTILITY`, `AUTHENTICATION`).
    #[schema(value_type = BTreeMap<String, u64>)]
    pub billable: BTreeMap<TemplateCategory, u64>,
    /// Billable messages priced with the operator's rate card (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<f64>,
    #[serde(skip)]
    cost_micros: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "enrollments": {"active": 12, "completed": 3, "removed": 1, "exited": 2},
    "exit_reasons": {"replied": 2},
    "steps": [{"step_id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VZ", "position": 0, "sent": 18, "delivered": 17,
               "read": 11, "failed": 0, "replied": 2, "skipped": 0, "unknown": 0,
               "billable": {"MARKETING": 18}}]
}))]
pub struct SequenceStats {
    /// Enrollments by status.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub enrollments: BTreeMap<&'static str, u64>,
    /// Exited enrollments by exit reason.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub exit_reasons: BTreeMap<&'static str, u64>,
    pub steps: Vec<StepStats>,
    /// Currency of `estimated_cost`, when a rate card is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// A contact checked on its own, before it meets the store.
struct CheckedContact {
    contact: Contact,
    tz: Option<Tz>,
}

fn check_contact(input: &ContactInput, sequence: &Sequence) -> Result<CheckedContact, String> {
    let phone = Phone::parse(&input.phone).map_err(|e| format!("phone {e}"))?;
    let name = match input.name.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > 200 => {
            return Err("name must be at most 200 characters".into())
        }
        Some("") | None => None,
        Some(n) => Some(n.to_string()),
    };
    let (time_zone, tz) = match input.time_zone.as_deref().map(str::trim) {
        None | Some("") => (None, None),
        Some(zone) => match zone.parse::<Tz>() {
            Ok(tz) => (Some(zone.to_string()), Some(tz)),
            Err(_) => return Err(format!("time_zone '{zone}' is not an IANA time zone")),
        },
    };
    if input.attributes.len() > 100 {
        return Err("at most 100 attributes".into());
    }
    let mut attributes = BTreeMap::new();
    for (key, value) in &input.attributes {
        if !valid_attribute_name(key) {
            return Err(format!(
                "attribute name '{key}' must be letters, digits, '_' or '-'"
            ));
        }
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(format!(
                    "attribute '{key}' must be a string, number or boolean"
                ))
            }
        };
        if value.chars().count() > 1024 {
            return Err(format!("attribute '{key}' must be at most 1024 characters"));
        }
        attributes.insert(key.clone(), value);
    }
    let contact = Contact {
        phone: phone.as_str().to_string(),
        name,
        time_zone,
        attributes,
    };
    // Every template variable of every step must resolve for this contact (or have a default).
    for step in &sequence.steps {
        if let Action::Template { parameters, .. } = &step.action {
            for raw in parameters {
                let parameter = Parameter::parse(raw).map_err(|e| e.to_string())?;
                parameter.render(&contact).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(CheckedContact { contact, tz })
}

impl Ritmo {
    /// Enrolls up to 1000 contacts; one result per contact, in order.
    pub async fn enroll(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        contacts: Vec<ContactInput>,
    ) -> Result<Vec<EnrollOutcome>, DomainError> {
        if contacts.is_empty() || contacts.len() > MAX_CONTACTS_PER_REQUEST {
            return Err(DomainError::invalid(
                "contacts",
                format!("give 1 to {MAX_CONTACTS_PER_REQUEST} contacts"),
            ));
        }
        let sequence = self.sequence(tenant, sequence_id).await?;
        match sequence.status {
            SequenceStatus::Active | SequenceStatus::Paused => {}
            other => {
                return Err(DomainError::Conflict(format!(
                "contacts can be enrolled only while the sequence is active or paused (it is {})",
                other.as_str()
            )))
            }
        }
        if sequence.steps.is_empty() {
            return Err(DomainError::Conflict("the sequence has no steps".into()));
        }
        let sequence = std::sync::Arc::new(sequence);
        let mut results: Vec<Option<EnrollOutcome>> = vec![None; contacts.len()];
        let mut running = tokio::task::JoinSet::new();
        for (index, input) in contacts.into_iter().enumerate() {
            while running.len() >= ENROLL_CONCURRENCY {
                if let Some(done) = running.join_next().await {
                    let (i, outcome) = done
                        .map_err(|e| crate::PortError::with_source("enrollment task failed", e))?;
                    results[i] = Some(outcome);
                }
            }
            let this = self.clone();
            let sequence = sequence.clone();
            running.spawn(async move { (index, this.enroll_one(&sequence, &input).await) });
        }
        while let Some(done) = running.join_next().await {
            let (i, outcome) =
                done.map_err(|e| crate::PortError::with_source("enrollment task failed", e))?;
            results[i] = Some(outcome);
        }
        Ok(results.into_iter().flatten().collect())
    }

    async fn enroll_one(&self, sequence: &Sequence, input: &ContactInput) -> EnrollOutcome {
        let checked = match check_contact(input, sequence) {
            Ok(c) => c,
            Err(error) => return EnrollOutcome::rejected(&input.phone, error),
        };
        match self.try_enroll(sequence, checked).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(error = %error, sequence_id = %sequence.id, "enrollment failed");
                EnrollOutcome::rejected(&input.phone, "could not be stored; try again")
            }
        }
    }

    async fn try_enroll(
        &self,
        sequence: &Sequence,
        checked: CheckedContact,
    ) -> Result<EnrollOutcome, DomainError> {
        let phone = checked.contact.phone.clone();
        let first = &sequence.steps[0];
        for _ in 0..WRITE_RETRIES {
            let existing = self
                .enrollments
                .get_enrollment(&sequence.tenant, sequence.id, &phone)
                .await?;
            if let Some(e) = existing.as_ref().filter(|e| e.is_active()) {
                return Ok(EnrollOutcome {
                    phone,
                    status: crate::enrolling::EnrollResult::AlreadyEnrolled,
                    next_send_at: e.next_send_at,
                    error: None,
                });
            }
            let now = self.clock.now();
            let Some(due) = due_at(now, first.delay, first.window.as_ref(), checked.tz) else {
                return Ok(EnrollOutcome::rejected(
                    &phone,
                    "the first step's allowed hours never open",
                ));
            };
            let expect = existing
                .as_ref()
                .map_or(Expect::Absent, |e| Expect::Version(e.version));
            let mut enrollment = Enrollment {
                tenant: sequence.tenant.clone(),
                sequence_id: sequence.id,
                id: self.ids.new_id(),
                contact: checked.contact.clone(),
                status: EnrollmentStatus::Active,
                exit_reason: None,
                enrolled_at: now,
                next_step_id: Some(first.id),
                next_send_at: None,
                state: StepState::Held { generation: 1 },
                retries: 0,
                last_step_id: None,
                last_sent_at: None,
                history: existing.map(|e| e.history).unwrap_or_default(),
                version: expect_version(expect) + 1,
                updated_at: now,
            };
            let schedule = if sequence.status == SequenceStatus::Active {
                enrollment.state = StepState::Scheduled {
                    generation: 1,
                    fire_at: due,
                };
                enrollment.next_send_at = Some(due);
                Some(step_schedule(&enrollment, first.id, 1, due))
            } else {
                None
            };
            // Stored first, scheduled second: the schedule can never fire before its enrollment
            // exists.
            match self.enrollments.put_enrollment(&enrollment, expect).await {
                Ok(()) => {}
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Port(e)) => return Err(e.into()),
            }
            if let Some(schedule) = schedule {
                if let Err(error) = self.scheduler.schedule(schedule).await {
                    // Not scheduled: end this run so that enrolling again starts over.
                    tracing::error!(error = %error, sequence_id = %sequence.id, "first step could not be scheduled");
                    let mut ended = enrollment.clone();
                    ended.end(EnrollmentStatus::Exited, Some(ExitReason::Failed));
                    ended.version += 1;
                    if let Err(undo) = self
                        .enrollments
                        .put_enrollment(&ended, Expect::Version(enrollment.version))
                        .await
                    {
                        tracing::error!(error = %undo, sequence_id = %sequence.id, "an unscheduled enrollment stays active");
                    }
                    return Ok(EnrollOutcome::rejected(
                        &phone,
                        "could not be scheduled; try again",
                    ));
                }
            }
            return Ok(EnrollOutcome {
                phone,
                status: EnrollResult::Enrolled,
                next_send_at: enrollment.next_send_at,
                error: None,
            });
        }
        Err(DomainError::Conflict(
            "the contact is being changed concurrently; try again".into(),
        ))
    }

    pub async fn enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        raw_phone: &str,
    ) -> Result<Enrollment, DomainError> {
        self.sequence(tenant, sequence_id).await?;
        let phone = Phone::parse(raw_phone).map_err(|_| DomainError::NotFound("enrollment"))?;
        self.enrollments
            .get_enrollment(tenant, sequence_id, phone.as_str())
            .await?
            .ok_or(DomainError::NotFound("enrollment"))
    }

    pub async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<EnrollmentView>, DomainError> {
        self.sequence(tenant, sequence_id).await?;
        Ok(self
            .enrollments
            .list_enrollments(tenant, sequence_id, status, page)
            .await?
            .map(|e| EnrollmentView::of(e, false)))
    }

    /// Removes the contact by hand: status `removed`, pending schedule deleted. Removing a
    /// contact that is no longer active changes nothing.
    pub async fn remove_contact(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        raw_phone: &str,
    ) -> Result<EnrollmentView, DomainError> {
        let enrollment = self.enrollment(tenant, sequence_id, raw_phone).await?;
        let ended = self
            .end_enrollment(
                tenant,
                sequence_id,
                enrollment.phone(),
                EnrollmentStatus::Removed,
                None,
            )
            .await?
            .unwrap_or(enrollment);
        Ok(EnrollmentView::of(ended, true))
    }

    /// Reads, changes and conditionally writes an enrollment, again on a concurrent change.
    /// A schedule the change asks for is created after the write, so it can never fire before
    /// the enrollment it belongs to is stored. If creating it fails, the error is returned and
    /// the enrollment stays as written: a repeated delivery of the job that led here creates
    /// the schedule again (see the sender). Returns the enrollment as stored and whether this
    /// call wrote it (None when there is none).
    pub(crate) async fn mutate_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        mut change: impl FnMut(&mut Enrollment) -> Change,
    ) -> Result<Option<(Enrollment, bool)>, DomainError> {
        for _ in 0..WRITE_RETRIES {
            let Some(mut enrollment) = self
                .enrollments
                .get_enrollment(tenant, sequence_id, phone)
                .await?
            else {
                return Ok(None);
            };
            let expect = Expect::Version(enrollment.version);
            let schedule = match change(&mut enrollment) {
                Change::Keep => return Ok(Some((enrollment, false))),
                Change::Write => None,
                Change::WriteAndSchedule(schedule) => Some(schedule),
            };
            enrollment.version += 1;
            enrollment.updated_at = self.clock.now();
            match self.enrollments.put_enrollment(&enrollment, expect).await {
                Ok(()) => {
                    if let Some(schedule) = schedule {
                        self.scheduler.schedule(schedule).await?;
                    }
                    return Ok(Some((enrollment, true)));
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
    pub(crate) async fn end_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        status: EnrollmentStatus,
        reason: Option<ExitReason>,
    ) -> Result<Option<Enrollment>, DomainError> {
        let mut pending = None;
        let result = self
            .mutate_enrollment(tenant, sequence_id, phone, |e| {
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
    pub(crate) async fn replan_held(
        &self,
        sequence: &Sequence,
        phone: &str,
    ) -> Result<(), DomainError> {
        let now = self.clock.now();
        self.mutate_enrollment(&sequence.tenant, sequence.id, phone, |e| {
            let StepState::Held { generation } = e.state else {
                return Change::Keep;
            };
            if !e.is_active() {
                return Change::Keep;
            }
            let next = e
                .next_step_id
                .and_then(|id| sequence.step(id))
                .or_else(|| sequence.step_after(e.last_step_id, &run_steps(e)));
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
            Change::WriteAndSchedule(schedule_next(e, step.id, generation + 1, due))
        })
        .await?;
        Ok(())
    }

    pub async fn sequence_stats(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<SequenceStats, DomainError> {
        let sequence = self.sequence(tenant, sequence_id).await?;
        let mut stats = SequenceStats::default();
        for status in ["active", "completed", "removed", "exited"] {
            stats.enrollments.insert(status, 0);
        }
        let mut steps: HashMap<Ulid, StepStats> = HashMap::new();
        let mut page = PageRequest::first(200);
        loop {
            let batch = self
                .enrollments
                .list_enrollments(tenant, sequence_id, None, &page)
                .await?;
            for e in &batch.items {
                *stats.enrollments.entry(e.status.as_str()).or_default() += 1;
                if let Some(reason) = e.exit_reason {
                    *stats.exit_reasons.entry(reason.as_str()).or_default() += 1;
                }
                for h in &e.history {
                    let s = steps.entry(h.step_id).or_insert_with(|| StepStats {
                        step_id: h.step_id,
                        ..Default::default()
                    });
                    match h.outcome {
                        Outcome::Sent => s.sent += 1,
                        Outcome::Failed => s.failed += 1,
                        Outcome::Skipped => s.skipped += 1,
                        Outcome::Unknown => s.unknown += 1,
                    }
                    if h.delivered || h.read {
                        s.delivered += 1;
                    }
                    if h.read {
                        s.read += 1;
                    }
                    if h.status == Some(MessageStatus::Failed) && h.outcome == Outcome::Sent {
                        s.failed += 1;
                    }
                    if h.replied {
                        s.replied += 1;
                    }
                    if h.billable {
                        let category = h.category.unwrap_or(TemplateCategory::Marketing);
                        *s.billable.entry(category).or_default() += 1;
                        if let Some(card) = &self.rate_card {
                            s.cost_micros +=
                                card.price_micros(category, &e.contact.phone).unwrap_or(0);
                        }
                    }
                }
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let mut ordered: Vec<StepStats> = sequence
            .steps
            .iter()
            .enumerate()
            .map(|(position, step)| StepStats {
                position: Some(position),
                ..steps.remove(&step.id).unwrap_or(StepStats {
                    step_id: step.id,
                    ..Default::default()
                })
            })
            .collect();
        let mut deleted: Vec<StepStats> = steps.into_values().collect();
        deleted.sort_by_key(|s| s.step_id);
        ordered.extend(deleted);
        if let Some(card) = &self.rate_card {
            stats.currency = Some(card.currency.clone());
            for step in &mut ordered {
                step.estimated_cost = Some(RateCard::to_amount(step.cost_micros));
            }
        }
        stats.steps = ordered;
        Ok(stats)
    }
}

fn expect_version(expect: Expect) -> u64 {
    match expect {
        Expect::Absent => 0,
        Expect::Version(v) => v,
    }
}

/// The steps this run has had (sent, failed or skipped).
pub(crate) fn run_steps(e: &Enrollment) -> Vec<Ulid> {
    e.history
        .iter()
        .filter(|h| h.at >= e.enrolled_at)
        .map(|h| h.step_id)
        .collect()
}

pub(crate) fn step_schedule(
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
pub(crate) fn schedule_next(
    e: &mut Enrollment,
    step_id: Ulid,
    generation: u32,
    fire_at: DateTime<Utc>,
) -> Schedule {
    e.next_step_id = Some(step_id);
    e.state = StepState::Scheduled {
        generation,
        fire_at,
    };
    e.next_send_at = Some(fire_at);
    step_schedule(e, step_id, generation, fire_at)
}

/// The first instant at or after `from` that the step's window allows.
pub(crate) fn first_allowed(
    step: &Step,
    from: DateTime<Utc>,
    contact: &Contact,
) -> Option<DateTime<Utc>> {
    match &step.window {
        Some(window) => window.next_allowed(from, contact.tz()),
        None => Some(from),
    }
}

/// What a change to an enrollment asks for.
pub(crate) enum Change {
    Keep,
    Write,
    WriteAndSchedule(Schedule),
}

/// The next step's due time, counted from `base` (SPEC §4).
pub(crate) fn plan_next(
    step: &Step,
    base: DateTime<Utc>,
    contact: &Contact,
) -> Option<DateTime<Utc>> {
    due_at(base, step.delay, step.window.as_ref(), contact.tz())
}

impl HistoryEntry {
    pub(crate) fn with_error(mut self, code: Option<i64>, error: impl Into<String>) -> Self {
        self.error_code = code;
        self.error = Some(error.into());
        self
    }
}
