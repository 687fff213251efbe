//! The job worker's handler: each job-queue message names a job whose next chunk is to run
//! (`{"tenant", "job_id"}`). The chunk runs from the cursor stored with the job, writes the
//! cursor and counts under the job's version, and queues the next chunk; a redelivered message
//! runs a chunk whose writes the version condition refuses, so it changes nothing counted.
//!
//! The response names the records that failed (`batchItemFailures`): a port failing (SQS makes
//! the message visible again, and after `maxReceiveCount` receives moves it to the job
//! dead-letter queue, with an alarm), or a body that is not a job message (it never will be).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use ritmo_core::jobs::store::JobMessage;
use ritmo_core::jobs::JobRunner;

/// Runs one chunk per record; the response names exactly the records that failed.
pub async fn handle(runner: &JobRunner, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let failure = match serde_json::from_str::<JobMessage>(&body) {
            Err(error) => Some(format!("the message is not a job message: {error}")),
            Ok(message) => match runner.step(&message.tenant, message.job_id).await {
                Ok(outcome) => {
                    tracing::info!(message_id = %message_id, tenant = %message.tenant, job_id = %message.job_id, outcome = ?outcome, "job chunk run");
                    None
                }
                Err(error) => Some(error.to_string()),
            },
        };
        if let Some(reason) = failure {
            tracing::warn!(message_id = %message_id, reason = %reason, "job chunk not run");
            response.add_failure(message_id);
        }
    }
    response
}
