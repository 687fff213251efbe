//! The sender function's handler: every one-shot schedule sends its step job to the step queue,
//! and Lambda's SQS event source mapping hands the queue's messages to the sender in batches.
//!
//! The records of a batch run concurrently (at most [`CONCURRENT_RECORDS`] at once). The
//! response names the records that failed (`batchItemFailures`, which needs
//! `ReportBatchItemFailures` on the event source mapping); SQS deletes the others and makes the
//! failed ones visible again after the queue's visibility timeout, and once a message has been
//! received `maxReceiveCount` times it moves to the step queue's dead-letter queue. A record
//! fails when a port fails (the store, Scheduler; the step job itself stays valid, so a later
//! delivery can run it) and when its body is not a step job (it will never be one; it goes
//! through its receives and ends in the dead-letter queue, where it can be inspected). Every
//! other outcome of a step (sent, stale, held, re-planned) is success.
//!
//! Running a delivered job twice is harmless: the sender's claim and generation checks make a
//! repeated step job a no-op (see `ritmo_core::delivery::sender`).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use ritmo_core::delivery::ports::{StepJob, StepRunner};
use ritmo_core::PortError;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Records of one batch that run at the same time, at most. The event source mapping's
/// `BatchSize` (10) keeps batches within it; a larger batch runs in waves.
pub const CONCURRENT_RECORDS: usize = 10;

/// Why one record of a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordFailed {
    /// The body is not a step job; retrying cannot change that.
    #[error("the message is not a step job: {0}")]
    NotAStepJob(#[source] serde_json::Error),
    /// A port failed: a later delivery may succeed.
    #[error("the step could not be run: {0}")]
    Port(#[from] PortError),
    /// The record's task ended without an outcome (it panicked).
    #[error("the step's task ended abnormally")]
    Aborted,
}

/// Runs one batch of step-queue messages; the response names exactly the records that failed.
pub async fn handle(runner: Arc<dyn StepRunner>, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut running = JoinSet::new();
    let mut ids = HashMap::new();
    for record in event.payload.records {
        if running.len() >= CONCURRENT_RECORDS {
            if let Some(done) = running.join_next_with_id().await {
                note_outcome(&mut response, &mut ids, done);
            }
        }
        // SQS always sets messageId. Without one, the failure is reported with an empty
        // identifier, which Lambda takes as a failure of the whole batch: nothing is lost.
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!(
            "step_job",
            message_id = %message_id,
            receive_count = receive_count(&record),
            schedule = tracing::field::Empty,
        );
        let task = running.spawn(run_record(runner.clone(), record).instrument(span));
        ids.insert(task.id(), message_id);
    }
    while let Some(done) = running.join_next_with_id().await {
        note_outcome(&mut response, &mut ids, done);
    }
    response
}

type Outcome = Result<(tokio::task::Id, Result<(), RecordFailed>), tokio::task::JoinError>;

fn note_outcome(
    response: &mut SqsBatchResponse,
    ids: &mut HashMap<tokio::task::Id, String>,
    done: Outcome,
) {
    let (id, outcome) = match done {
        Ok((id, outcome)) => (id, outcome),
        Err(error) => {
            tracing::error!(error = %error, "a step job's task ended without an outcome");
            (error.id(), Err(RecordFailed::Aborted))
        }
    };
    let message_id = ids.remove(&id).unwrap_or_default();
    if outcome.is_err() {
        response.add_failure(message_id);
    }
}

/// How many times SQS has handed this message out, this delivery included.
fn receive_count(record: &SqsMessage) -> Option<u32> {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
}

/// Runs the step job one record carries. The log lines never carry the body: it holds a
/// contact's phone number.
async fn run_record(runner: Arc<dyn StepRunner>, record: SqsMessage) -> Result<(), RecordFailed> {
    let body = record.body.as_deref().unwrap_or_default();
    let job: StepJob = serde_json::from_str(body).map_err(|error| {
        // The error's text may quote part of the body: only its position and class are logged.
        tracing::error!(
            body_len = body.len(),
            category = ?error.classify(),
            line = error.line(),
            column = error.column(),
            "the message is not a step job; it stays on the queue until it is dead-lettered"
        );
        RecordFailed::NotAStepJob(error)
    })?;
    let name = job.schedule_name();
    tracing::Span::current().record("schedule", name.as_str());
    runner.run(job).await.map_err(|error| {
        tracing::error!(
            error = %error,
            cause = ?std::error::Error::source(&error).map(|s| s.to_string()),
            "step failed; the message will be received again after the visibility timeout"
        );
        RecordFailed::Port(error)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Sends nothing: fails the jobs of the phones it is told to, records what it ran and how
    /// many jobs were running at once.
    #[derive(Default)]
    struct FakeRunner {
        failing_phones: Vec<String>,
        ran: Mutex<Vec<StepJob>>,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    #[async_trait]
    impl StepRunner for FakeRunner {
        async fn run(&self, job: StepJob) -> Result<(), PortError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            let fails = self.failing_phones.contains(&job.phone);
            self.ran.lock().unwrap().push(job);
            if fails {
                Err(PortError::new("store unreachable"))
            } else {
                Ok(())
            }
        }
    }

    fn job(phone: &str) -> String {
        serde_json::json!({
            "tenant": "acme",
            "sequence_id": "01JD8Z3Q5R6S7T8V9W0X1Y2Z3A",
            "enrollment_id": "01JD8Z4A1B2C3D4E5F6G7H8J9K",
            "phone": phone,
            "step_id": "01JD8Z3R0S1T2V3W4X5Y6Z7A8B",
            "attempt": 1
        })
        .to_string()
    }

    /// A batch as the event source mapping delivers it: (messageId, body) per record.
    fn batch(records: &[(&str, String)]) -> LambdaEvent<SqsEvent> {
        let records: Vec<_> = records
            .iter()
            .map(|(id, body)| {
                serde_json::json!({
                    "messageId": id,
                    "receiptHandle": format!("handle-{id}"),
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:sa-east-1:123456789012:ritmo-steps",
                    "awsRegion": "sa-east-1"
                })
            })
            .collect();
        let event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        LambdaEvent::new(event, lambda_runtime::Context::default())
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        let mut ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_mixed_batch_reports_exactly_the_port_failures_and_the_malformed_bodies() {
        let runner = Arc::new(FakeRunner {
            failing_phones: vec!["+5511900000002".into()],
            ..FakeRunner::default()
        });
        let response = handle(
            runner.clone(),
            batch(&[
                ("m-ok-1", job("+5511900000001")),
                ("m-port", job("+5511900000002")),
                ("m-malformed", r#"{"hello": "world"}"#.into()),
                ("m-not-json", "at(2026-11-24T09:00:00)".into()),
                ("m-ok-2", job("+5511900000003")),
            ]),
        )
        .await;
        assert_eq!(
            failed_ids(&response),
            ["m-malformed", "m-not-json", "m-port"]
        );
        assert_eq!(
            runner.ran.lock().unwrap().len(),
            3,
            "every step job ran; the malformed bodies reached no runner"
        );
    }

    #[tokio::test]
    async fn an_all_ok_batch_reports_no_failure() {
        let runner = Arc::new(FakeRunner::default());
        let records: Vec<_> = (0..10)
            .map(|i| (format!("m-{i}"), job(&format!("+55119000000{i:02}"))))
            .collect();
        let records: Vec<_> = records
            .iter()
            .map(|(id, body)| (id.as_str(), body.clone()))
            .collect();
        let response = handle(runner.clone(), batch(&records)).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(runner.ran.lock().unwrap().len(), 10);
        assert_eq!(
            runner.most_at_once.load(Ordering::SeqCst),
            10,
            "the records of a batch run at the same time"
        );
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_bound_runs_every_record_within_the_bound() {
        let runner = Arc::new(FakeRunner {
            failing_phones: vec!["+5511900000017".into()],
            ..FakeRunner::default()
        });
        let records: Vec<_> = (0..25)
            .map(|i| (format!("m-{i}"), job(&format!("+55119000000{i:02}"))))
            .collect();
        let records: Vec<_> = records
            .iter()
            .map(|(id, body)| (id.as_str(), body.clone()))
            .collect();
        let response = handle(runner.clone(), batch(&records)).await;
        assert_eq!(failed_ids(&response), ["m-17"]);
        assert_eq!(runner.ran.lock().unwrap().len(), 25);
        assert_eq!(
            runner.most_at_once.load(Ordering::SeqCst),
            CONCURRENT_RECORDS
        );
    }

    /// Panics on every job.
    struct Panicking;

    #[async_trait]
    impl StepRunner for Panicking {
        async fn run(&self, _: StepJob) -> Result<(), PortError> {
            panic!("a bug");
        }
    }

    #[tokio::test]
    async fn a_record_whose_task_panics_is_reported_and_the_others_are_not_lost() {
        let response = handle(
            Arc::new(Panicking),
            batch(&[
                ("m-1", job("+5511900000001")),
                ("m-2", job("+5511900000002")),
            ]),
        )
        .await;
        assert_eq!(failed_ids(&response), ["m-1", "m-2"]);
    }

    #[test]
    fn the_receive_count_comes_from_the_record_attributes() {
        let event = batch(&[("m-1", job("+5511900000001"))]);
        assert_eq!(receive_count(&event.payload.records[0]), Some(1));
    }
}

/// What the sender function is invoked with: a batch of the step queue (its event source
/// mapping), or the reconciler's pass (a recurring schedule whose input is
/// `{"reconcile": {}}`, see `template.yaml`).
#[derive(Debug)]
pub enum Invocation {
    StepJobs(SqsEvent),
    Reconcile,
}

impl Invocation {
    pub fn of(payload: serde_json::Value) -> Result<Self, InvocationError> {
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(Self::StepJobs)
                .map_err(InvocationError::NotAnSqsEvent);
        }
        if payload.get("reconcile").is_some() {
            return Ok(Self::Reconcile);
        }
        Err(InvocationError::Unknown)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("the event has Records but is not an SQS event: {0}")]
    NotAnSqsEvent(#[source] serde_json::Error),
    #[error("the event is neither a step-queue batch nor a reconciler pass")]
    Unknown,
    #[error("the reconciler pass failed: {0}")]
    Reconcile(#[source] ritmo_core::DomainError),
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match error {
            InvocationError::NotAnSqsEvent(_) => "Ritmo.NotAnSqsEvent",
            InvocationError::Unknown => "Ritmo.UnknownInvocation",
            InvocationError::Reconcile(_) => "Ritmo.ReconcileFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// One invocation of the sender function.
pub async fn dispatch(
    runner: Arc<dyn StepRunner>,
    reconciler: &ritmo_core::delivery::reconcile::Reconciler,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, InvocationError> {
    let (payload, context) = event.into_parts();
    match Invocation::of(payload)? {
        Invocation::StepJobs(batch) => {
            let response = handle(runner, LambdaEvent::new(batch, context)).await;
            Ok(serde_json::to_value(response).unwrap_or_default())
        }
        Invocation::Reconcile => {
            let done = reconciler.run().await.map_err(|error| {
                tracing::error!(error = %error, "reconciler pass failed");
                InvocationError::Reconcile(error)
            })?;
            Ok(serde_json::to_value(done).unwrap_or_default())
        }
    }
}

/// Runs the sender's Lambda handler: step jobs to `sender`, reconcile passes to `reconciler`.
pub async fn run(
    sender: ritmo_core::delivery::sender::Sender,
    reconciler: ritmo_core::delivery::reconcile::Reconciler,
) -> Result<(), lambda_runtime::Error> {
    let sender: Arc<dyn StepRunner> = Arc::new(sender);
    let reconciler = Arc::new(reconciler);
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let (sender, reconciler) = (sender.clone(), reconciler.clone());
        async move { dispatch(sender, &reconciler, event).await }
    }))
    .await
}
