//! The ports of jobs: where they are kept, and how their chunks are handed to be run.

use async_trait::async_trait;
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::jobs::model::Job;

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Writes the job if the stored one matches `expect` (absent, or at that version).
    async fn put_job(&self, job: &Job, expect: Expect) -> Result<(), WriteError>;

    async fn get_job(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Job>, PortError>;

    /// The tenant's jobs, newest first.
    async fn list_jobs(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Job>, PortError>;

    /// Every job of every tenant still `queued` or `running` (a runner starting up picks them
    /// up), at most `limit`.
    async fn unfinished_jobs(&self, limit: usize) -> Result<Vec<(TenantId, Ulid)>, PortError>;
}

/// What a queue carries: the job whose next chunk is to run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobMessage {
    pub tenant: TenantId,
    pub job_id: Ulid,
    /// Not a chunk: the check of a job waiting for its upload ([`JobQueue::submit_upload_check`]),
    /// which changes nothing once the file has come.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upload_check: bool,
}

/// Hands a job (its next chunk) to be run, by some instance, at least once.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn submit(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError>;

    /// Hands the check of a job waiting for its upload (`JobRunner::check_upload`) to be run
    /// no sooner than `delay` from now (at most [`MAX_QUEUE_DELAY`]; a longer one is cut to it).
    async fn submit_upload_check(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        delay: std::time::Duration,
    ) -> Result<(), PortError>;
}

/// The longest delay a job can be queued with (SQS's `DelaySeconds` bound).
pub const MAX_QUEUE_DELAY: std::time::Duration = std::time::Duration::from_secs(900);

/// A queue for a process that runs no jobs and starts none (every submit fails).
pub struct NoJobQueue;

#[async_trait]
impl JobQueue for NoJobQueue {
    async fn submit(&self, _tenant: &TenantId, _job_id: Ulid) -> Result<(), PortError> {
        Err(PortError::new("this process has no job queue"))
    }

    async fn submit_upload_check(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        _delay: std::time::Duration,
    ) -> Result<(), PortError> {
        self.submit(tenant, job_id).await
    }
}
