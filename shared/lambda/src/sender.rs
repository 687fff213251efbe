//! The sender function's handler: EventBridge Scheduler invokes it with the step job as the
//! event payload. A failure of a port is returned as an error, so Lambda's asynchronous retries
//! and then the schedule's dead-letter queue get the job; every other outcome (sent, stale,
//! held, re-planned) is success.

use lambda_runtime::{Diagnostic, LambdaEvent};
use ritmo_core::delivery::ports::{StepJob, StepRunner};
use ritmo_core::PortError;

#[derive(Debug, thiserror::Error)]
pub enum StepFailed {
    #[error("the event is not a step job: {0}")]
    NotAStepJob(#[source] serde_json::Error),
    #[error("the step could not be run: {0}")]
    Port(#[from] PortError),
}

impl From<StepFailed> for Diagnostic {
    fn from(error: StepFailed) -> Self {
        let error_type = match error {
            StepFailed::NotAStepJob(_) => "Ritmo.NotAStepJob",
            StepFailed::Port(_) => "Ritmo.PortError",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// Runs one delivery of a schedule.
pub async fn handle(
    runner: &dyn StepRunner,
    event: LambdaEvent<serde_json::Value>,
) -> Result<(), StepFailed> {
    let job: StepJob = serde_json::from_value(event.payload).map_err(|error| {
        tracing::error!(request_id = %event.context.request_id, error = %error, "not a step job");
        StepFailed::NotAStepJob(error)
    })?;
    let name = job.schedule_name();
    runner.run(job).await.map_err(|error| {
        tracing::error!(
            request_id = %event.context.request_id,
            schedule = %name,
            error = %error,
            cause = ?std::error::Error::source(&error).map(|s| s.to_string()),
            "step failed; the delivery will be retried"
        );
        StepFailed::Port(error)
    })
}
