//! The webhook's notification queue on SQS: verified notifications are sent with
//! `SendMessageBatch`, at most 10 messages and [`MAX_BATCH_BYTES`] a batch, and every entry SQS
//! reports as failed is sent again before the webhook answers.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use ritmo_core::delivery::ports::NotificationQueue;
use ritmo_core::PortError;

/// The largest notification one message carries. SQS takes messages of up to 256 KiB
/// everywhere (1 MiB where the larger limit is available); larger notifications are split.
pub const MAX_MESSAGE_BYTES: usize = 200_000;
/// The most one `SendMessageBatch` carries (the batch limit is the message limit).
pub const MAX_BATCH_BYTES: usize = 250_000;
/// Sends of the entries SQS refused, before the webhook gives up and Meta delivers again.
const ATTEMPTS: usize = 3;

/// The queue at `queue_url`.
#[derive(Clone)]
pub struct SqsNotificationQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsNotificationQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends one batch; answers the entries SQS refused.
    async fn send_batch(
        &self,
        batch: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, PortError> {
        let entries = batch
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| PortError::with_source("invalid queue entry", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PortError::with_source("the notification queue refused the batch", e))?;
        let failed: Vec<(String, String)> = output
            .failed()
            .iter()
            .filter_map(|f| {
                tracing::warn!(
                    id = f.id(),
                    code = f.code(),
                    sender_fault = f.sender_fault(),
                    "queue entry refused"
                );
                batch.iter().find(|(id, _)| id == f.id()).cloned()
            })
            .collect();
        Ok(failed)
    }
}

/// Groups messages into batches of at most 10 and [`MAX_BATCH_BYTES`].
fn batches(messages: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let mut batches: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for message in messages {
        let len = message.1.len();
        match batches.last_mut() {
            Some(batch) if batch.len() < 10 && size + len <= MAX_BATCH_BYTES => {
                size += len;
                batch.push(message);
            }
            _ => {
                size = len;
                batches.push(vec![message]);
            }
        }
    }
    batches
}

#[async_trait]
impl NotificationQueue for SqsNotificationQueue {
    fn max_message_bytes(&self) -> usize {
        MAX_MESSAGE_BYTES
    }

    async fn enqueue(&self, notifications: Vec<Vec<u8>>) -> Result<(), PortError> {
        let mut pending = notifications
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                String::from_utf8(bytes)
                    .map(|body| (i.to_string(), body))
                    .map_err(|e| PortError::with_source("a notification is not UTF-8", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for _ in 0..ATTEMPTS {
            let mut refused = Vec::new();
            for batch in batches(pending) {
                refused.extend(self.send_batch(batch).await?);
            }
            if refused.is_empty() {
                return Ok(());
            }
            pending = refused;
        }
        Err(PortError::new(format!(
            "the notification queue refused {} message(s) {ATTEMPTS} times",
            pending.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_ten_messages_and_the_byte_limit() {
        let small: Vec<(String, String)> =
            (0..25).map(|i| (i.to_string(), "x".repeat(100))).collect();
        let sizes: Vec<usize> = batches(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large: Vec<(String, String)> = (0..3)
            .map(|i| (i.to_string(), "x".repeat(MAX_MESSAGE_BYTES)))
            .collect();
        let sizes: Vec<usize> = batches(large).iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 1]);
    }
}
