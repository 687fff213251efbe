//! Jobs as the API sees them: start (for the services whose work grows with the audience),
//! read, list, cancel, and the error file.

use std::sync::Arc;

use ulid::Ulid;

use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::ids::IdGen;
use crate::common::page::{Page, PageRequest};
use crate::common::store::{Expect, WriteError, WRITE_RETRIES};
use crate::common::tenant::TenantId;
use crate::enrollments::model::EnrollmentStatus;
use crate::jobs::model::{Job, JobKind, JobStatus, JobView};
use crate::jobs::store::{JobQueue, JobStore};

#[derive(Clone)]
pub struct JobService {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    jobs: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
}

fn write_error(error: WriteError) -> DomainError {
    match error {
        WriteError::Conflict => {
            DomainError::Conflict("the job changed concurrently; try again".into())
        }
        WriteError::Port(e) => e.into(),
    }
}

impl JobService {
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        jobs: Arc<dyn JobStore>,
        queue: Arc<dyn JobQueue>,
    ) -> Self {
        Self {
            clock,
            ids,
            jobs,
            queue,
        }
    }

    /// Stores a new `queued` job and hands it to the queue. A job the queue refuses is stored
    /// `failed` and the caller is told to try again.
    pub async fn start(
        &self,
        tenant: &TenantId,
        kind: JobKind,
        sequence_id: Ulid,
        filter: EnrollmentStatus,
    ) -> Result<Job, DomainError> {
        self.submit(self.new_job(tenant, kind, sequence_id, filter))
            .await
    }

    /// A new `queued` job, not stored yet (an import's parts are written under its id first).
    pub fn new_job(
        &self,
        tenant: &TenantId,
        kind: JobKind,
        sequence_id: Ulid,
        filter: EnrollmentStatus,
    ) -> Job {
        Job::new(
            tenant.clone(),
            self.ids.new_id(),
            kind,
            sequence_id,
            filter,
            self.clock.now(),
        )
    }

    /// Stores a new job and hands it to the queue (see [`Self::start`]).
    pub async fn submit(&self, mut job: Job) -> Result<Job, DomainError> {
        let now = self.clock.now();
        let tenant = job.tenant.clone();
        let (kind, sequence_id) = (job.kind, job.sequence_id);
        self.jobs
            .put_job(&job, Expect::Absent)
            .await
            .map_err(write_error)?;
        if let Err(error) = self.queue.submit(&tenant, job.id).await {
            tracing::error!(error = %error, tenant = %tenant, job_id = %job.id, "job queue refused a job");
            let expect = Expect::Version(job.version);
            job.version += 1;
            job.error = Some("the job could not be queued".into());
            job.finish(JobStatus::Failed, now);
            if let Err(error) = self.jobs.put_job(&job, expect).await {
                tracing::warn!(error = %error, job_id = %job.id, "could not mark an unqueued job failed");
            }
            return Err(DomainError::Unavailable(
                "the job could not be queued; try again".into(),
            ));
        }
        tracing::info!(tenant = %tenant, job_id = %job.id, sequence_id = %sequence_id, kind = ?kind, "job queued");
        Ok(job)
    }

    /// Stores a new job that waits for its file to be uploaded, and queues a check for when
    /// its link expires (the job fails then if no upload has completed).
    pub async fn submit_awaiting(&self, job: Job) -> Result<Job, DomainError> {
        let Some(expires_at) = job.upload_expires_at else {
            return self.submit(job).await;
        };
        self.jobs
            .put_job(&job, Expect::Absent)
            .await
            .map_err(write_error)?;
        let wait = (expires_at - self.clock.now()).to_std().unwrap_or_default();
        if let Err(error) = self
            .queue
            .submit_upload_check(&job.tenant, job.id, wait)
            .await
        {
            // The link still works; the job waits only for its upload (on a store a runner
            // reads at start-up, it is checked again there).
            tracing::warn!(error = %error, job_id = %job.id, "no expiry check queued for an upload");
        }
        tracing::info!(tenant = %job.tenant, job_id = %job.id, sequence_id = %job.sequence_id, kind = ?job.kind, "job awaiting its upload");
        Ok(job)
    }

    pub async fn job(&self, tenant: &TenantId, id: Ulid) -> Result<Job, DomainError> {
        self.jobs
            .get_job(tenant, id)
            .await?
            .ok_or(DomainError::NotFound("job"))
    }

    pub async fn list_jobs(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<JobView>, DomainError> {
        Ok(self.jobs.list_jobs(tenant, page).await?.map(JobView::from))
    }

    /// Cancels a job that has not finished: its runner stops at its next chunk (its next
    /// conditional write finds the job changed). A finished job is a conflict.
    pub async fn cancel(&self, tenant: &TenantId, id: Ulid) -> Result<JobView, DomainError> {
        for _ in 0..WRITE_RETRIES {
            let mut job = self.job(tenant, id).await?;
            if job.status.is_finished() {
                return Err(DomainError::Conflict(format!(
                    "the job is already {}",
                    job.status.as_str()
                )));
            }
            let expect = Expect::Version(job.version);
            let now = self.clock.now();
            job.version += 1;
            job.updated_at = now;
            job.finish(JobStatus::Cancelled, now);
            match self.jobs.put_job(&job, expect).await {
                Ok(()) => {
                    tracing::info!(tenant = %tenant, job_id = %id, "job cancelled");
                    return Ok(job.into());
                }
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Port(e)) => return Err(e.into()),
            }
        }
        Err(write_error(WriteError::Conflict))
    }
}
