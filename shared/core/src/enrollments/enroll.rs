//! Enrolling contacts (one by one or up to 1000 at once), reading and listing enrollments, and
//! removing a contact by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use ulid::Ulid;

use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::ids::IdGen;
use crate::common::page::{Page, PageRequest};
use crate::common::phone::Phone;
use crate::common::store::{Expect, WriteError, WRITE_RETRIES};
use crate::common::tenant::TenantId;
use crate::delivery::ports::Scheduler;
use crate::enrollments::counters::Counts;
use crate::enrollments::model::{
    Contact, ContactInput, Enrollment, EnrollmentStatus, ExitReason, StepState,
};
use crate::enrollments::store::{EnrollmentStore, IndexWrites};
use crate::enrollments::transitions::{expect_version, step_schedule, EnrollmentTransitions, Plan};
use crate::enrollments::views::EnrollmentView;
use crate::jobs::import::{ImportFiles, ImportUpload, PART_BYTES};
use crate::jobs::upload::{FileUploads, UploadStarted, UPLOAD_LINK_TTL};
use crate::jobs::{Job, JobKind, JobService};
use crate::sequences::model::{Sequence, SequenceStatus};
use crate::sequences::plan::due_at;
use crate::sequences::service::load_sequence;
use crate::sequences::store::SequenceStore;
use crate::sequences::template::{valid_attribute_name, Parameter};

pub const MAX_CONTACTS_PER_REQUEST: usize = 1000;
/// Enrollments written at once while a batch is processed.
const ENROLL_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnrollResult {
    Enrolled,
    AlreadyEnrolled,
    Rejected,
}

/// What became of one contact of an enrollment request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollOutcome {
    /// The E.164 phone, or the phone as given when it was rejected.
    pub phone: String,
    pub status: EnrollResult,
    /// When its next step goes out (`null` while the sequence is paused, or when rejected).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub next_send_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    #[cfg_attr(feature = "openapi", schema(required))]
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
        for raw in step.action.contact_texts() {
            let parameter = Parameter::parse(raw).map_err(|e| e.to_string())?;
            parameter.render(&contact).map_err(|e| e.to_string())?;
        }
    }
    Ok(CheckedContact { contact, tz })
}

/// Contacts can be enrolled while the sequence is active or paused and has steps.
fn takes_contacts(sequence: &Sequence) -> Result<(), DomainError> {
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
    Ok(())
}

/// Enrolls, reads, lists and removes contacts of a sequence.
#[derive(Clone)]
pub struct EnrollmentService {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    scheduler: Arc<dyn Scheduler>,
    transitions: EnrollmentTransitions,
    jobs: JobService,
    files: Option<Arc<dyn ImportFiles>>,
    uploads: Option<Arc<dyn FileUploads>>,
}

impl EnrollmentService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        scheduler: Arc<dyn Scheduler>,
        transitions: EnrollmentTransitions,
        jobs: JobService,
    ) -> Self {
        Self {
            clock,
            ids,
            sequences,
            enrollments,
            scheduler,
            transitions,
            jobs,
            files: None,
            uploads: None,
        }
    }

    /// Takes imports: their files are kept in `files` while their jobs run.
    pub fn with_imports(mut self, files: Arc<dyn ImportFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// Gives upload links: a file the client uploads itself is kept in `uploads`.
    pub fn with_uploads(mut self, uploads: Arc<dyn FileUploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// Starts an import (or a removal by file, with `kind`) whose file the client uploads
    /// through the link answered; the job waits for it, `queued`.
    pub async fn begin_upload(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        kind: JobKind,
    ) -> Result<UploadStarted, DomainError> {
        let uploads = self.uploads.clone().ok_or_else(|| {
            DomainError::Unavailable("this deployment gives no upload links".into())
        })?;
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        if kind == JobKind::ImportContacts {
            takes_contacts(&sequence)?;
        }
        let mut job = self
            .jobs
            .new_job(tenant, kind, sequence_id, EnrollmentStatus::Active);
        let expires_at = self.clock.now() + UPLOAD_LINK_TTL;
        job.upload_expires_at = Some(expires_at);
        let upload_url = uploads.upload_url(tenant, job.id, expires_at).await?;
        let job = self.jobs.submit_awaiting(job).await?;
        Ok(UploadStarted {
            job_id: job.id,
            upload_url,
            upload_expires_at: expires_at,
        })
    }

    /// Starts an import into a sequence that can take contacts: the caller pushes the file's
    /// bytes as they arrive, then finishes the upload, which queues its job.
    pub async fn begin_import(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<ImportUpload, DomainError> {
        self.begin_file(tenant, sequence_id, JobKind::ImportContacts)
            .await
    }

    /// Starts a removal by file: the contacts of its `phone` column are removed as
    /// [`Self::remove_contact`] removes one, by a background job.
    pub async fn begin_removal(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<ImportUpload, DomainError> {
        self.begin_file(tenant, sequence_id, JobKind::RemoveContacts)
            .await
    }

    /// The upload of a file job's file, once the sequence exists (and, for an import, can take
    /// contacts).
    async fn begin_file(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        kind: JobKind,
    ) -> Result<ImportUpload, DomainError> {
        let files = self
            .files
            .clone()
            .ok_or_else(|| DomainError::Unavailable("this deployment takes no files".into()))?;
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        if kind == JobKind::ImportContacts {
            takes_contacts(&sequence)?;
        }
        Ok(ImportUpload::new(
            files,
            self.jobs.clone(),
            tenant,
            kind,
            sequence_id,
            PART_BYTES,
        ))
    }

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
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        takes_contacts(&sequence)?;
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
                    status: EnrollResult::AlreadyEnrolled,
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
                wa_id: existing.as_ref().and_then(|e| e.wa_id.clone()),
                version: expect_version(expect) + 1,
                ..Enrollment::started(
                    sequence.tenant.clone(),
                    sequence.id,
                    self.ids.new_id(),
                    checked.contact.clone(),
                    first.id,
                    now,
                )
            };
            let schedule = if sequence.status == SequenceStatus::Active {
                let due = self
                    .transitions
                    .planner()
                    .spread(
                        &sequence.tenant,
                        &Plan::for_step(first),
                        due,
                        &enrollment.contact,
                    )
                    .await;
                enrollment.state = StepState::Scheduled {
                    generation: 1,
                    fire_at: due,
                    slot: false,
                };
                enrollment.next_send_at = Some(due);
                Some(step_schedule(&enrollment, first.id, 1, due))
            } else {
                None
            };
            // Stored first, scheduled second: the schedule can never fire before its enrollment
            // exists.
            // A new run is indexed under its contact, so an inbound message finds it.
            // Its counts replace the ended run's in the sequence's counters.
            let index = IndexWrites {
                contacts: enrollment.contact_keys(),
                counters: Counts::delta(existing.as_ref(), &enrollment),
                ..IndexWrites::default()
            };
            match self
                .enrollments
                .write_enrollment(&enrollment, expect, &index)
                .await
            {
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
                    let counters = IndexWrites {
                        counters: Counts::delta(Some(&enrollment), &ended),
                        ..IndexWrites::default()
                    };
                    if let Err(undo) = self
                        .enrollments
                        .write_enrollment(&ended, Expect::Version(enrollment.version), &counters)
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
        load_sequence(&*self.sequences, tenant, sequence_id).await?;
        let phone = Phone::parse(raw_phone).map_err(|_| DomainError::NotFound("enrollment"))?;
        let enrollment = self
            .enrollments
            .get_enrollment(tenant, sequence_id, phone.as_str())
            .await?
            .ok_or(DomainError::NotFound("enrollment"))?;
        self.with_history(enrollment).await
    }

    /// The enrollment with its whole history, every run's, oldest first: read from the
    /// history's own items, one page at a time.
    async fn with_history(&self, mut enrollment: Enrollment) -> Result<Enrollment, DomainError> {
        let mut page = PageRequest::first(200);
        let mut history = Vec::new();
        loop {
            let batch = self
                .enrollments
                .list_history(
                    &enrollment.tenant,
                    enrollment.sequence_id,
                    Some(enrollment.phone()),
                    &page,
                )
                .await?;
            history.extend(batch.items.into_iter().map(|run| run.entry));
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        history.sort_by_key(|h| h.at);
        enrollment.history = history;
        Ok(enrollment)
    }

    pub async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<EnrollmentView>, DomainError> {
        load_sequence(&*self.sequences, tenant, sequence_id).await?;
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
            .transitions
            .end(
                tenant,
                sequence_id,
                enrollment.phone(),
                EnrollmentStatus::Removed,
                None,
            )
            .await?
            .unwrap_or(enrollment);
        Ok(EnrollmentView::of(self.with_history(ended).await?, true))
    }

    /// Removes every enrollment of `status` as a background job (each as
    /// [`Self::remove_contact`] removes one: only active runs change).
    pub async fn remove_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: EnrollmentStatus,
    ) -> Result<Job, DomainError> {
        load_sequence(&*self.sequences, tenant, sequence_id).await?;
        self.jobs
            .start(tenant, JobKind::RemoveEnrollments, sequence_id, status)
            .await
    }
}
