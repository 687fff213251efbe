//! The webhook's notification queue on an SQS-compatible endpoint (the emulator
//! `infra/test.sh` starts, at `RITMO_TEST_DYNAMODB_ENDPOINT`, which serves SQS too;
//! `#[ignore]`d without it): a notification of Meta's 3 MB size, split as the webhook splits it,
//! is queued whole and reads back as the same events.

use ritmo_aws::sqs::{SqsNotificationQueue, MAX_MESSAGE_BYTES};
use ritmo_core::delivery::ports::NotificationQueue;
use ritmo_whatsapp::webhook::{parse_notification, split_notification};
use serde_json::json;

fn notification(statuses: usize) -> Vec<u8> {
    let statuses: Vec<serde_json::Value> = (0..statuses)
        .map(|i| json!({"id": format!("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ{i:08}"), "status": "delivered",
            "timestamp": "1750263773", "recipient_id": "5511987654321",
            "biz_opaque_callback_data": "01JDQ8Z5C3M4N5P6Q7R8S9T0VY:01JDQ8Z5C3M4N5P6Q7R8S9T0VW:01JDQ8Z5C3M4N5P6Q7R8S9T0VX",
            "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "marketing"}},
            "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}}))
        .collect();
    serde_json::to_vec(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "2098765432", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1098765432"},
        "statuses": statuses}}]}]}),
    )
    .unwrap()
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_three_megabyte_notification_is_queued_in_parts_that_read_back_as_the_same_events() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("ritmo-notifications-{}", ulid::Ulid::new());
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let body = notification(7_000);
    assert!(body.len() > 2_800_000, "{} bytes", body.len());
    let queue = SqsNotificationQueue::new(client.clone(), &url);
    let parts = split_notification(&body, queue.max_message_bytes()).unwrap();
    assert!(parts.iter().all(|p| p.len() <= MAX_MESSAGE_BYTES));
    let count = parts.len();
    queue.enqueue(parts).await.unwrap();

    let mut received = Vec::new();
    while received.len() < count {
        let output = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = output.messages();
        assert!(
            !messages.is_empty(),
            "{} of {count} parts received",
            received.len()
        );
        for message in messages {
            received.push(message.body().unwrap().to_string());
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(received.len(), count);
    let mut events: Vec<String> = received
        .iter()
        .flat_map(|part| parse_notification(part.as_bytes()).unwrap())
        .map(|e| format!("{e:?}"))
        .collect();
    let mut expected: Vec<String> = parse_notification(&body)
        .unwrap()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    events.sort();
    expected.sort();
    assert_eq!(events.len(), 7_000);
    assert_eq!(events, expected, "every status exactly once");
    client.delete_queue().queue_url(&url).send().await.unwrap();
}
