//! The in-process job queue: a tokio task runs the queued chunks one after another, and at
//! start-up the jobs a previous process left `queued` or `running` are queued again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use ulid::Ulid;

use ritmo_core::common::error::PortError;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::runner::JobRunner;
use ritmo_core::jobs::store::{JobQueue, JobStore};

/// Times a chunk that failed (the store not answering) is tried again before it is left for
/// the next start-up.
const CHUNK_ATTEMPTS: u32 = 10;
const CHUNK_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A queued chunk: the job and how often it failed.
type Queued = (TenantId, Ulid, u32);

#[derive(Default)]
pub struct LocalJobQueue {
    pending: Arc<Mutex<VecDeque<Queued>>>,
    wake: Arc<Notify>,
    runner: OnceLock<Arc<JobRunner>>,
}

impl LocalJobQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The runner of the queued chunks (set once, after the ports are built).
    pub fn set_runner(&self, runner: Arc<JobRunner>) {
        if self.runner.set(runner).is_err() {
            tracing::warn!("job runner already set");
        }
    }

    /// Runs queued chunks in a background task for as long as the process lives.
    pub fn start(self: &Arc<Self>) {
        let queue = self.clone();
        tokio::spawn(async move {
            loop {
                queue.run_until_idle().await;
                queue.wake.notified().await;
            }
        });
    }

    /// Runs every queued chunk, and the chunks they queue, until none is left.
    pub async fn run_until_idle(&self) {
        while self.run_next().await {}
    }

    /// Runs the chunk at the front of the queue, if any (answers whether one was there). A
    /// job's next chunk is queued behind every chunk queued before it: jobs take turns, one
    /// chunk each, whatever their sizes.
    pub async fn run_next(&self) -> bool {
        let next = self.pending.lock().expect("job queue").pop_front();
        let Some((tenant, id, failures)) = next else {
            return false;
        };
        let Some(runner) = self.runner.get() else {
            tracing::error!("job queued with no runner set");
            return false;
        };
        if let Err(error) = runner.step(&tenant, id).await {
            let failures = failures + 1;
            if failures >= CHUNK_ATTEMPTS {
                tracing::error!(error = %error, tenant = %tenant, job_id = %id, "job chunk failed; left for the next start-up");
            } else {
                tracing::warn!(error = %error, tenant = %tenant, job_id = %id, failures, "job chunk failed; trying again");
                tokio::time::sleep(CHUNK_RETRY_PAUSE).await;
                self.push((tenant, id, failures));
            }
        }
        true
    }

    /// Queues again the jobs the store holds unfinished (a process that stopped mid-walk).
    pub async fn resume_unfinished(&self, store: &dyn JobStore) -> Result<usize, PortError> {
        let jobs = store.unfinished_jobs(10_000).await?;
        let count = jobs.len();
        for (tenant, id) in jobs {
            tracing::info!(tenant = %tenant, job_id = %id, "resuming an unfinished job");
            self.push((tenant, id, 0));
        }
        Ok(count)
    }

    fn push(&self, queued: Queued) {
        self.pending.lock().expect("job queue").push_back(queued);
        self.wake.notify_one();
    }
}

#[async_trait]
impl JobQueue for LocalJobQueue {
    async fn submit(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError> {
        self.push((tenant.clone(), job_id, 0));
        Ok(())
    }

    async fn submit_upload_check(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        delay: std::time::Duration,
    ) -> Result<(), PortError> {
        let Some(runner) = self.runner.get().cloned() else {
            return Err(PortError::new("job queued with no runner set"));
        };
        let tenant = tenant.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay.min(ritmo_core::jobs::store::MAX_QUEUE_DELAY)).await;
            if let Err(error) = runner.check_upload(&tenant, job_id).await {
                tracing::warn!(error = %error, tenant = %tenant, job_id = %job_id, "upload check failed; the job is checked again at the next start-up");
            }
        });
        Ok(())
    }
}
