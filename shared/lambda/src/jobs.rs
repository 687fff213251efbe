//! The job worker's handler: each job-queue message names a job whose next chunk is to run
//! (`{"tenant", "job_id"}`). The chunk runs from the cursor stored with the job, writes the
//! cursor and counts under the job's version, and queues the next chunk; a redelivered message
//! runs a chunk whose writes the version condition refuses, so it changes nothing counted.
//!
//! A message may also tell of an upload that completed (S3's "Object Created" event, through
//! EventBridge, read by the `uploads` function the worker is given): the job's file is checked
//! and the job queued.
//!
//! The response names the records that failed (`batchItemFailures`): a port failing (SQS makes
//! the message visible again, and after `maxReceiveCount` receives moves it to the job
//! dead-letter queue, with an alarm), or a body that is not a job message (it never will be).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use ritmo_core::jobs::store::JobMessage;
use ritmo_core::jobs::{JobRunner, UploadCompleted};

/// Reads an upload's completion from a message body that is not a job message.
pub type UploadReader = fn(&str) -> Option<UploadCompleted>;

/// Runs one chunk per record; the response names exactly the records that failed.
pub async fn handle(runner: &JobRunner, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    handle_with_uploads(runner, event, |_| None).await
}

/// [`handle`], and the completions of uploads `uploads` reads.
pub async fn handle_with_uploads(
    runner: &JobRunner,
    event: LambdaEvent<SqsEvent>,
    uploads: UploadReader,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let failure = match serde_json::from_str::<JobMessage>(&body) {
            Err(_) if uploads(&body).is_some() => {
                let done = uploads(&body).expect("read just above");
                match runner
                    .upload_complete(&done.tenant, done.job_id, done.bytes, &done.tag)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(message_id = %message_id, tenant = %done.tenant, job_id = %done.job_id, bytes = done.bytes, "upload completion handled");
                        None
                    }
                    Err(error) => Some(error.to_string()),
                }
            }
            Err(error) => Some(format!("the message is not a job message: {error}")),
            Ok(message) if message.upload_check => {
                match runner.check_upload(&message.tenant, message.job_id).await {
                    Ok(outcome) => {
                        tracing::info!(message_id = %message_id, tenant = %message.tenant, job_id = %message.job_id, outcome = ?outcome, "upload check run");
                        None
                    }
                    Err(error) => Some(error.to_string()),
                }
            }
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

/// Runs the job worker's Lambda handler on `runner`, reading upload completions with `uploads`.
pub async fn run(runner: JobRunner, uploads: UploadReader) -> Result<(), lambda_runtime::Error> {
    let runner = std::sync::Arc::new(runner);
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let runner = runner.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(handle_with_uploads(&runner, event, uploads).await)
        }
    }))
    .await
}
