//! The job queue on SQS: one message per chunk to run, `{"tenant", "job_id"}`. The job worker
//! runs the chunk and sends the next one; a redelivered message runs a chunk the job's version
//! condition makes harmless.

use async_trait::async_trait;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::store::{JobMessage, JobQueue, MAX_QUEUE_DELAY};
use ritmo_core::PortError;
use ulid::Ulid;

/// The queue at `queue_url`.
#[derive(Clone)]
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn submit(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError> {
        self.send(tenant, job_id, 0, false).await
    }

    async fn submit_upload_check(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        delay: std::time::Duration,
    ) -> Result<(), PortError> {
        let seconds = delay.min(MAX_QUEUE_DELAY).as_secs_f64().ceil() as i32;
        self.send(tenant, job_id, seconds, true).await
    }
}

impl SqsJobQueue {
    async fn send(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        delay_seconds: i32,
        upload_check: bool,
    ) -> Result<(), PortError> {
        let body = serde_json::to_string(&JobMessage {
            tenant: tenant.clone(),
            job_id,
            upload_check,
        })
        .map_err(|e| PortError::with_source("could not write a job message", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| PortError::with_source("the job queue refused the message", e))?;
        Ok(())
    }
}
