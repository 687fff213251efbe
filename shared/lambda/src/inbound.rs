//! The webhook worker's handler: the webhook checks each notification's signature and queues
//! it (split into parts that fit a message), and Lambda's SQS event source mapping hands the
//! queue's messages to the worker in batches.
//!
//! Records are applied in order. The response names the records that failed
//! (`batchItemFailures`): SQS makes them visible again after the queue's visibility timeout,
//! and after `maxReceiveCount` receives moves them to the notification dead-letter queue, whose
//! alarm is in the stack. A record fails when a port fails (a later delivery may succeed) and
//! when its body is not JSON (it never will be; it ends in the dead-letter queue for
//! inspection). Applying a notification twice is harmless: statuses and replies are idempotent
//! per enrollment (see `ritmo_core::delivery::inbound`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_whatsapp::webhook::parse_notification;

/// Applies one batch of queued notifications; the response names exactly the records that
/// failed.
pub async fn handle(inbound: &InboundWebhooks, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        // SQS always sets messageId; without one the failure names the whole batch.
        let message_id = record.message_id.clone().unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let failure = match parse_notification(body.as_bytes()) {
            Err(error) => Some(format!("the message is not a JSON notification: {error}")),
            Ok(events) => match inbound.apply(events).await {
                Ok(report) => {
                    tracing::info!(
                        message_id = %message_id,
                        statuses = report.statuses,
                        replies = report.replies,
                        opt_outs = report.opt_outs,
                        paused_sequences = report.paused_sequences,
                        ignored = report.ignored,
                        "notification applied"
                    );
                    None
                }
                Err(error) => Some(error.to_string()),
            },
        };
        if let Some(reason) = failure {
            tracing::warn!(message_id = %message_id, reason = %reason, "notification not applied");
            response.add_failure(message_id);
        }
    }
    response
}

/// Runs the webhook worker's Lambda handler on `inbound`.
pub async fn run(inbound: InboundWebhooks) -> Result<(), lambda_runtime::Error> {
    let inbound = std::sync::Arc::new(inbound);
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let inbound = inbound.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle(&inbound, event).await) }
    }))
    .await
}
