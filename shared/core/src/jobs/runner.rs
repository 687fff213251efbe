//! Runs a job one chunk at a time: from the cursor stored with the job, a few pages of
//! enrollments, each changed idempotently (ending a run that already ended, or re-planning a
//! step that is no longer held, changes nothing), then the cursor and counts written under the
//! job's version. A chunk that finds the job changed (cancelled, or advanced by another
//! instance running a redelivered chunk) stops without writing, so a chunk run twice is harmless.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ulid::Ulid;

use crate::common::clock::Clock;
use crate::common::error::{DomainError, PortError};
use crate::common::page::PageRequest;
use crate::common::phone::Phone;
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::enrollments::enroll::{EnrollResult, EnrollmentService, MAX_CONTACTS_PER_REQUEST};
use crate::enrollments::model::{Enrollment, EnrollmentStatus, ExitReason, StepState};
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::jobs::import::{
    parse_header, FileReader, FileSource, ImportFiles, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS,
    PART_BYTES,
};
use crate::jobs::model::ImportFile;
use crate::jobs::model::{Job, JobKind, JobStatus};
use crate::jobs::store::{JobQueue, JobStore};
use crate::jobs::upload::{FileUploads, UploadRead, UPLOAD_GRACE};
use crate::sequences::model::{Sequence, SequenceStatus};
use crate::sequences::store::SequenceStore;

/// Enrollments read per page of the walk; the cursor is stored after each page.
pub const PAGE: u32 = 200;
/// A chunk ends after this many enrollments...
pub const CHUNK_ENROLLMENTS: usize = 500;
/// ...or after this long, whichever comes first.
pub const CHUNK_TIME: Duration = Duration::from_secs(30);
/// Attempts at one enrollment's change before it counts as failed.
pub const ATTEMPTS: u32 = 3;
/// An import's chunk ends after this many rows (or [`CHUNK_TIME`]); its cursor is stored
/// after each batch of [`MAX_CONTACTS_PER_REQUEST`].
pub const CHUNK_ROWS: u64 = 5000;
/// Removals of a removal file's batch done at once.
const REMOVE_CONCURRENCY: usize = 16;

/// What a chunk left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// The walk goes on: the next chunk is to be queued.
    More,
    /// The job is finished (now or before).
    Finished,
    /// The job changed under this chunk (cancelled, or advanced elsewhere), or is gone: nothing
    /// more to do here.
    Dropped,
}

#[derive(Clone)]
pub struct JobRunner {
    clock: Arc<dyn Clock>,
    jobs: Arc<dyn JobStore>,
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    transitions: EnrollmentTransitions,
    queue: Arc<dyn JobQueue>,
    retry_pause: Duration,
    imports: Option<(EnrollmentService, Arc<dyn ImportFiles>)>,
    uploads: Option<Arc<dyn FileUploads>>,
    /// Rows an import takes at most ([`MAX_IMPORT_ROWS`]).
    max_rows: u64,
}

impl JobRunner {
    pub fn new(
        clock: Arc<dyn Clock>,
        jobs: Arc<dyn JobStore>,
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        transitions: EnrollmentTransitions,
        queue: Arc<dyn JobQueue>,
    ) -> Self {
        Self {
            clock,
            jobs,
            sequences,
            enrollments,
            transitions,
            queue,
            retry_pause: Duration::from_millis(50),
            imports: None,
            uploads: None,
            max_rows: MAX_IMPORT_ROWS,
        }
    }

    /// Runs imports too: their rows are enrolled through `enroller`, read from `files`.
    pub fn with_imports(
        mut self,
        enroller: EnrollmentService,
        files: Arc<dyn ImportFiles>,
    ) -> Self {
        self.imports = Some((enroller, files));
        self
    }

    /// Takes at most `max_rows` rows of an import's file instead of [`MAX_IMPORT_ROWS`] (a
    /// test's file need not have a million rows to reach the bound).
    pub fn with_max_rows(mut self, max_rows: u64) -> Self {
        self.max_rows = max_rows;
        self
    }

    /// Runs imports whose file the client uploaded through a link, read from `uploads`.
    pub fn with_uploads(mut self, uploads: Arc<dyn FileUploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// The upload of a job's file completed (`bytes` long, stored as `tag`): its header is
    /// read and the job queued. Anything else (a header without `phone`, no rows, too large) fails
    /// the job saying why, and deletes the file. A completion for a job no longer waiting
    /// (told twice, or a second upload to the same link) changes nothing; for a finished job
    /// (cancelled, or expired) its file is deleted.
    pub async fn upload_complete(
        &self,
        tenant: &TenantId,
        id: Ulid,
        bytes: u64,
        tag: &str,
    ) -> Result<(), DomainError> {
        let uploads = self
            .uploads
            .clone()
            .ok_or_else(|| DomainError::Unavailable("this runner reads no uploads".into()))?;
        for _ in 0..crate::common::store::WRITE_RETRIES {
            let Some(mut job) = self.jobs.get_job(tenant, id).await? else {
                tracing::warn!(tenant = %tenant, job_id = %id, "an upload for no job; deleting it");
                uploads.delete(tenant, id).await?;
                return Ok(());
            };
            if job.status.is_finished() {
                tracing::info!(tenant = %tenant, job_id = %id, status = job.status.as_str(), "an upload for a finished job; deleting it");
                uploads.delete(tenant, id).await?;
                return Ok(());
            }
            if job.upload_expires_at.is_none() {
                tracing::info!(tenant = %tenant, job_id = %id, "an upload for a job that no longer waits for one; ignored");
                return Ok(());
            }
            let file = match self.read_upload(&*uploads, &job, bytes, tag).await {
                Ok(Some(file)) => Ok(file),
                Ok(None) => {
                    tracing::info!(tenant = %tenant, job_id = %id, "an upload whose file was replaced since; ignored (the later upload's completion follows)");
                    return Ok(());
                }
                Err(error) => Err(error),
            };
            job.upload_expires_at = None;
            let queue = match file {
                Ok(file) => {
                    job.file = Some(file);
                    true
                }
                // Reading failed: the completion is told again (SQS redelivers its event).
                Err(DomainError::Port(error)) => return Err(error.into()),
                Err(error) => {
                    job.error = Some(match &error {
                        DomainError::Invalid(errors) => errors
                            .iter()
                            .map(|e| e.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    });
                    job.finish(JobStatus::Failed, self.clock.now());
                    false
                }
            };
            if !self.save_and_keep(&mut job).await? {
                continue; // cancelled meanwhile: read it again
            }
            if queue {
                tracing::info!(tenant = %tenant, job_id = %id, bytes, "upload complete; job queued");
                self.queue.submit(tenant, id).await?;
            } else {
                tracing::info!(tenant = %tenant, job_id = %id, error = job.error.as_deref().unwrap_or_default(), "upload refused");
                uploads.delete(tenant, id).await?;
            }
            return Ok(());
        }
        Err(DomainError::Conflict(
            "the job changed concurrently; try again".into(),
        ))
    }

    /// The header of an uploaded file, read from its first part; `None` if the file the
    /// completion named was replaced by a later upload (whose own completion follows).
    async fn read_upload(
        &self,
        uploads: &dyn FileUploads,
        job: &Job,
        bytes: u64,
        tag: &str,
    ) -> Result<Option<ImportFile>, DomainError> {
        if bytes > MAX_IMPORT_BYTES {
            return Err(DomainError::invalid(
                "body",
                format!("the file is over {} MiB", MAX_IMPORT_BYTES >> 20),
            ));
        }
        let len = u64::from(PART_BYTES).min(bytes) as u32;
        let head = match uploads.read(&job.tenant, job.id, tag, 0, len).await? {
            UploadRead::Bytes(head) => head,
            UploadRead::Replaced => return Ok(None),
            // Not there when its completion is handled: the completion is told again.
            UploadRead::Missing => {
                return Err(PortError::new("the uploaded file is not there").into())
            }
        };
        let at_end = bytes <= u64::from(PART_BYTES);
        let (columns, delimiter, body_start) = parse_header(&head, at_end)?
            .ok_or_else(|| DomainError::invalid("body", "the header line is too long"))?;
        if bytes <= body_start {
            return Err(DomainError::invalid("body", "the file has no rows"));
        }
        Ok(Some(ImportFile {
            bytes,
            part_bytes: PART_BYTES,
            columns: columns.names,
            delimiter,
            body_start,
            upload_tag: Some(tag.to_string()),
        }))
    }

    /// The check of a job waiting for its upload (queued when its link was given): checked again
    /// later while an upload may still complete, failed once none can; nothing once its file
    /// has come (its chunks run from their own messages) or it is finished.
    pub async fn check_upload(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<ChunkOutcome, DomainError> {
        let Some(job) = self.jobs.get_job(tenant, id).await? else {
            return Ok(ChunkOutcome::Dropped);
        };
        match job.upload_expires_at {
            Some(expires_at) if !job.status.is_finished() => {
                self.check_awaiting(job, expires_at).await
            }
            _ => Ok(ChunkOutcome::Dropped),
        }
    }

    /// A job still waiting for its upload when its check comes: checked again later while an
    /// upload may still complete, failed once none can.
    async fn check_awaiting(
        &self,
        mut job: Job,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<ChunkOutcome, DomainError> {
        let now = self.clock.now();
        let deadline = expires_at + UPLOAD_GRACE;
        if now < deadline {
            let wait = (deadline - now).to_std().unwrap_or_default();
            self.queue
                .submit_upload_check(&job.tenant, job.id, wait)
                .await?;
            return Ok(ChunkOutcome::Dropped);
        }
        job.upload_expires_at = None;
        job.error = Some("no file was uploaded before the upload link expired".into());
        job.finish(JobStatus::Failed, now);
        self.save_final(job).await
    }

    /// Runs one chunk and, when the walk goes on, queues the next.
    pub async fn step(&self, tenant: &TenantId, id: Ulid) -> Result<ChunkOutcome, DomainError> {
        let outcome = self.run_chunk(tenant, id).await?;
        if outcome == ChunkOutcome::More {
            self.queue.submit(tenant, id).await?;
        }
        Ok(outcome)
    }

    /// Runs one chunk of the job from its stored cursor.
    pub async fn run_chunk(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<ChunkOutcome, DomainError> {
        let Some(mut job) = self.jobs.get_job(tenant, id).await? else {
            tracing::warn!(tenant = %tenant, job_id = %id, "job to run not found");
            return Ok(ChunkOutcome::Dropped);
        };
        if job.status.is_finished() {
            // Cancelled before this message came: a file it still holds goes now.
            self.delete_file_of(&job).await;
            return Ok(ChunkOutcome::Finished);
        }
        if let Some(expires_at) = job.upload_expires_at {
            return self.check_awaiting(job, expires_at).await;
        }
        if job.status == JobStatus::Queued {
            // Running from its first chunk on, visibly (and a cancel from now on is seen by
            // this chunk's first write).
            job.status = JobStatus::Running;
            if !self.save_and_keep(&mut job).await? {
                return Ok(ChunkOutcome::Dropped);
            }
        }
        let sequence = self.sequences.get_sequence(tenant, job.sequence_id).await?;
        let sequence = match sequence {
            Some(s)
                if job.kind == JobKind::ResumeSequence && s.status != SequenceStatus::Active =>
            {
                // Paused or archived again meanwhile: the later change decides.
                job.finish(JobStatus::Cancelled, self.clock.now());
                return self.save_final(job).await;
            }
            Some(s) => s,
            None => {
                job.error = Some("the sequence no longer exists".into());
                job.finish(JobStatus::Failed, self.clock.now());
                return self.save_final(job).await;
            }
        };
        if matches!(job.kind, JobKind::ImportContacts | JobKind::RemoveContacts) {
            return self.run_import(job).await;
        }
        let started = Instant::now();
        let mut handled = 0;
        let mut walked_again = false;
        loop {
            let page = PageRequest {
                limit: PAGE,
                cursor: job.cursor.clone(),
            };
            let batch = self
                .enrollments
                .list_enrollments(tenant, job.sequence_id, Some(job.filter), &page)
                .await?;
            if batch.items.is_empty() && job.cursor.is_some() && !walked_again {
                // A stored cursor that reads nothing (the store no longer honours it, e.g. its
                // key changed): walk again from the start, which the idempotent changes make
                // harmless, rather than end with enrollments left behind.
                tracing::warn!(tenant = %tenant, job_id = %id, "job cursor read nothing; walking again from the start");
                job.cursor = None;
                walked_again = true;
                continue;
            }
            for enrollment in &batch.items {
                job.total += 1;
                match self.apply(&job, &sequence, enrollment).await {
                    Ok(()) => job.done += 1,
                    Err(reason) => job.record_failure(enrollment.phone(), reason),
                }
            }
            handled += batch.items.len();
            job.cursor = batch.next_cursor;
            let finished = job.cursor.is_none();
            if finished {
                job.finish(JobStatus::Succeeded, self.clock.now());
            }
            let (done, failed) = (job.done, job.failed);
            if !self.save_and_keep(&mut job).await? {
                return Ok(ChunkOutcome::Dropped);
            }
            if finished {
                tracing::info!(tenant = %tenant, job_id = %id, done, failed, "job finished");
                return Ok(ChunkOutcome::Finished);
            }
            if handled >= CHUNK_ENROLLMENTS || started.elapsed() >= CHUNK_TIME {
                return Ok(ChunkOutcome::More);
            }
        }
    }

    /// One chunk of an import: batches of rows from the stored offset, each enrolled (a
    /// contact already active, e.g. a phone repeated in the file or a batch run again after a
    /// crash, changes nothing) and the offset and counts stored after it. Rows are counted
    /// `done` when enrolled or already enrolled, `failed` when rejected, so a chunk run again
    /// counts the same.
    async fn run_import(&self, mut job: Job) -> Result<ChunkOutcome, DomainError> {
        let (Some((enroller, files)), Some(file)) = (&self.imports, job.file.clone()) else {
            job.error = Some("this runner does not run imports".into());
            job.finish(JobStatus::Failed, self.clock.now());
            return self.save_final(job).await;
        };
        let tenant = job.tenant.clone();
        let source = match (&file.upload_tag, &self.uploads) {
            (None, _) => FileSource::Parts(&**files),
            (Some(_), Some(uploads)) => FileSource::Upload(&**uploads),
            (Some(_), None) => {
                job.error = Some("this runner does not read uploaded files".into());
                job.finish(JobStatus::Failed, self.clock.now());
                return self.save_final(job).await;
            }
        };
        let mut reader = FileReader::new(source, &tenant, job.id, &file);
        let started = Instant::now();
        let mut handled = 0;
        loop {
            let offset = job
                .cursor
                .as_deref()
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(file.body_start);
            let room = self.max_rows.saturating_sub(job.total);
            let read = if room == 0 {
                // As many rows as it takes: done, unless another row follows (blank lines and
                // a last line end are not rows).
                reader
                    .rows(offset, 1)
                    .await
                    .map(|(more, next)| (Vec::new(), if more.is_empty() { next } else { offset }))
            } else {
                let max = MAX_CONTACTS_PER_REQUEST.min(room as usize);
                reader.rows(offset, max).await
            };
            let (rows, next) = match read {
                Ok(read) => read,
                Err(DomainError::Port(error)) => return Err(DomainError::Port(error)),
                Err(error) => {
                    // The file can no longer be read (gone, or replaced under its link).
                    job.error = Some(match error {
                        DomainError::Conflict(reason) => reason,
                        other => other.to_string(),
                    });
                    job.finish(JobStatus::Failed, self.clock.now());
                    return self.finish_import(job).await;
                }
            };
            if rows.is_empty() {
                if next < file.bytes {
                    job.error = Some(format!(
                        "the file has more than {max} rows; the rows after row {max} were not imported",
                        max = self.max_rows
                    ));
                    job.finish(JobStatus::Failed, self.clock.now());
                } else {
                    job.finish(JobStatus::Succeeded, self.clock.now());
                }
                return self.finish_import(job).await;
            }
            let first_row = job.total + 1;
            job.total += rows.len() as u64;
            let mut contacts = Vec::with_capacity(rows.len());
            let mut numbers = Vec::with_capacity(rows.len());
            for (i, row) in rows.into_iter().enumerate() {
                match row {
                    Ok(contact) => {
                        contacts.push(contact);
                        numbers.push(first_row + i as u64);
                    }
                    Err((phone, reason)) => {
                        job.record_row_failure(first_row + i as u64, &phone, reason)
                    }
                }
            }
            handled += contacts.len() as u64 + 1;
            if !contacts.is_empty() {
                let phones: Vec<String> = contacts.iter().map(|c| c.phone.clone()).collect();
                let outcomes = match job.kind {
                    JobKind::RemoveContacts => Ok(self.remove_rows(&job, &phones).await),
                    _ => enroller
                        .enroll(&tenant, job.sequence_id, contacts)
                        .await
                        .map(|outcomes| {
                            outcomes
                                .into_iter()
                                .map(|o| match o.status {
                                    EnrollResult::Enrolled | EnrollResult::AlreadyEnrolled => {
                                        Ok(())
                                    }
                                    EnrollResult::Rejected => Err(o.error.unwrap_or_default()),
                                })
                                .collect::<Vec<_>>()
                        }),
                };
                match outcomes {
                    Ok(outcomes) => {
                        for ((outcome, row), phone) in outcomes.into_iter().zip(numbers).zip(phones)
                        {
                            match outcome {
                                Ok(()) => job.done += 1,
                                Err(reason) => job.record_row_failure(row, &phone, reason),
                            }
                        }
                    }
                    Err(DomainError::Port(error)) => return Err(DomainError::Port(error)),
                    Err(error) => {
                        // The sequence can no longer take contacts (archived, emptied, gone).
                        job.error = Some(error.to_string());
                        job.finish(JobStatus::Failed, self.clock.now());
                        return self.finish_import(job).await;
                    }
                }
            }
            job.cursor = Some(next.to_string());
            if !self.save_and_keep(&mut job).await? {
                // Cancelled under this chunk (no later message comes for it), or advanced by
                // another runner (which goes on with the file).
                if let Some(now) = self.jobs.get_job(&tenant, job.id).await? {
                    if now.status.is_finished() {
                        self.delete_file_of(&now).await;
                    }
                }
                return Ok(ChunkOutcome::Dropped);
            }
            if handled >= CHUNK_ROWS || started.elapsed() >= CHUNK_TIME {
                return Ok(ChunkOutcome::More);
            }
        }
    }

    /// Removes the contacts of a removal file's rows, as a removal by hand does: a contact whose
    /// run already ended counts as done (so a batch run again counts the same), one never
    /// enrolled in the sequence is a rejected row.
    async fn remove_rows(&self, job: &Job, phones: &[String]) -> Vec<Result<(), String>> {
        let mut running = tokio::task::JoinSet::new();
        let mut outcomes: Vec<Result<(), String>> = vec![Ok(()); phones.len()];
        for (index, raw) in phones.iter().enumerate() {
            let phone = match Phone::parse(raw) {
                Ok(phone) => phone.as_str().to_string(),
                Err(e) => {
                    outcomes[index] = Err(format!("phone {e}"));
                    continue;
                }
            };
            while running.len() >= REMOVE_CONCURRENCY {
                if let Some(Ok((i, outcome))) = running.join_next().await {
                    outcomes[i] = outcome;
                }
            }
            let (this, job) = (self.clone(), job.clone());
            running.spawn(async move {
                let mut last = String::new();
                for attempt in 1..=ATTEMPTS {
                    match this
                        .transitions
                        .end(&job.tenant, job.sequence_id, &phone, EnrollmentStatus::Removed, None)
                        .await
                    {
                        Ok(Some(_)) => return (index, Ok(())),
                        Ok(None) => {
                            return (index, Err("not enrolled in this sequence".to_string()))
                        }
                        Err(error) => {
                            tracing::warn!(error = %error, job_id = %job.id, attempt, "removal could not end an enrollment");
                            last = failure_reason(&error);
                            if attempt < ATTEMPTS {
                                tokio::time::sleep(this.retry_pause * attempt).await;
                            }
                        }
                    }
                }
                (index, Err(last))
            });
        }
        while let Some(done) = running.join_next().await {
            if let Ok((i, outcome)) = done {
                outcomes[i] = outcome;
            }
        }
        outcomes
    }

    /// Writes a finished import and deletes its file.
    async fn finish_import(&self, job: Job) -> Result<ChunkOutcome, DomainError> {
        let finished = job.clone();
        let outcome = self.save_final(job).await?;
        if outcome == ChunkOutcome::Finished {
            let (done, failed) = (finished.done, finished.failed);
            tracing::info!(tenant = %finished.tenant, job_id = %finished.id, done, failed, "import finished");
            self.delete_file_of(&finished).await;
        }
        Ok(outcome)
    }

    /// Deletes a finished import's file, if it has one (deleting it again changes nothing).
    async fn delete_file_of(&self, job: &Job) {
        let deleted = match (&job.file, &self.imports, &self.uploads) {
            (Some(file), Some((_, files)), _) if file.upload_tag.is_none() => {
                files.delete_file(&job.tenant, job.id, file.parts()).await
            }
            // An uploaded file, or a job cancelled while it waited for one.
            (Some(_), _, Some(uploads)) => uploads.delete(&job.tenant, job.id).await,
            (None, _, Some(uploads)) if job.upload_expires_at.is_some() => {
                uploads.delete(&job.tenant, job.id).await
            }
            _ => return,
        };
        if let Err(error) = deleted {
            tracing::warn!(error = %error, job_id = %job.id, "a finished import's file stays behind");
        }
    }

    /// Writes a finished job under its version.
    async fn save_final(&self, mut job: Job) -> Result<ChunkOutcome, DomainError> {
        Ok(if self.save_and_keep(&mut job).await? {
            ChunkOutcome::Finished
        } else {
            ChunkOutcome::Dropped
        })
    }

    /// Writes the job under its version; false when it changed meanwhile.
    async fn save_and_keep(&self, job: &mut Job) -> Result<bool, DomainError> {
        let expect = Expect::Version(job.version);
        job.version += 1;
        job.updated_at = self.clock.now();
        match self.jobs.put_job(job, expect).await {
            Ok(()) => Ok(true),
            Err(WriteError::Conflict) => {
                tracing::info!(tenant = %job.tenant, job_id = %job.id, "job changed under its chunk (cancelled or run elsewhere); stopping");
                Ok(false)
            }
            Err(WriteError::Port(e)) => Err(e.into()),
        }
    }

    /// One enrollment's change, tried [`ATTEMPTS`] times; the reason it failed for good.
    async fn apply(
        &self,
        job: &Job,
        sequence: &Sequence,
        enrollment: &Enrollment,
    ) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.change(job, sequence, enrollment).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(error = %error, tenant = %job.tenant, job_id = %job.id, attempt, "job could not change an enrollment");
                    last = failure_reason(&error);
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(self.retry_pause * attempt).await;
                    }
                }
            }
        }
        Err(last)
    }

    async fn change(
        &self,
        job: &Job,
        sequence: &Sequence,
        enrollment: &Enrollment,
    ) -> Result<(), DomainError> {
        let phone = enrollment.phone();
        match job.kind {
            JobKind::ArchiveSequence => {
                self.transitions
                    .end(
                        &job.tenant,
                        job.sequence_id,
                        phone,
                        EnrollmentStatus::Exited,
                        Some(ExitReason::SequenceArchived),
                    )
                    .await?;
            }
            JobKind::RemoveEnrollments => {
                self.transitions
                    .end(
                        &job.tenant,
                        job.sequence_id,
                        phone,
                        EnrollmentStatus::Removed,
                        None,
                    )
                    .await?;
            }
            JobKind::ResumeSequence => {
                if matches!(enrollment.state, StepState::Held { .. }) {
                    self.transitions.replan_held(sequence, phone).await?;
                }
            }
            // Imports and removals by file walk their file, not enrollments (`run_import`).
            JobKind::ImportContacts | JobKind::RemoveContacts => {}
        }
        Ok(())
    }
}

/// What the error file says of a failed change: the caller's terms, never an adapter's text.
fn failure_reason(error: &DomainError) -> String {
    match error {
        DomainError::Port(_) => "the store or the scheduler did not answer".into(),
        DomainError::Conflict(_) => "the enrollment kept changing concurrently".into(),
        other => other.to_string(),
    }
}
