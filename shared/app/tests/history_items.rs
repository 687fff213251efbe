//! History in its own items: a contact enrolled again and again in a sequence keeps an
//! enrollment item of the same size, while every run's history entry is kept, listed oldest
//! first, updated by its delivery status, and counted.
//!
//! Needs `RITMO_TEST_DYNAMODB_ENDPOINT` (set by `infra/test.sh`); `#[ignore]`d without the
//! emulator.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{
    active_sequence, counted_client, item_size, send_world, store_on_new_table, Requests, SendWorld,
};
use ritmo_core::channels::model::TemplateCategory;
use ritmo_core::delivery::inbound::InboundEvent;
use ritmo_core::delivery::ports::StepRunner;
use ritmo_core::enrollments::model::StatusUpdate;
use ritmo_core::enrollments::model::{EnrollmentStatus, MessageStatus, Outcome};
use ritmo_core::enrollments::store::EnrollmentStore;
use serde_json::json;

const PHONE: &str = "+5511987654321";
const RUNS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn runs_of_one_contact_keep_the_enrollment_item_small_and_every_entry_in_its_own() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let client = counted_client(&endpoint, &Requests::default()).await;
    let (store, table) = store_on_new_table(client.clone(), "history").await;
    let SendWorld {
        ports,
        outbox,
        scheduler,
        acme,
        channel_id,
    } = send_world(&store, "oferta", TemplateCategory::Marketing, 0).await;
    let (sequence, steps) = active_sequence(
        &ports,
        &acme,
        "Ofertas",
        vec![json!({"channel_id": channel_id,
            "action": {"type": "template", "name": "oferta", "language": "pt_BR"},
            "delay": {"amount": 0, "unit": "minutes"}})],
    )
    .await;
    let step_id = steps[0].id;

    let enrollment_key = || {
        std::collections::HashMap::from([
            (
                "pk".to_string(),
                AttributeValue::S(format!("T#acme#SEQ#{}", sequence.id)),
            ),
            ("sk".to_string(), AttributeValue::S(format!("E#{PHONE}"))),
        ])
    };
    let enrollments = ports.enrollment_service();
    let sender = ports.sender();
    let mut sizes = Vec::new();
    let mut runs = Vec::new();
    for run in 0..RUNS {
        let enrolled = enrollments
            .enroll(
                &acme,
                sequence.id,
                vec![serde_json::from_value(json!({"phone": PHONE})).unwrap()],
            )
            .await
            .unwrap();
        assert!(enrolled[0].error.is_none(), "run {run}: {enrolled:?}");
        let e = store
            .get_enrollment(&acme, sequence.id, PHONE)
            .await
            .unwrap()
            .unwrap();
        runs.push(e.id);
        let job = scheduler
            .pending()
            .into_iter()
            .map(|s| s.input)
            .find(|job| job.enrollment_id == e.id)
            .expect("the run's first step is scheduled");
        sender.run(job).await.unwrap();
        let done = store
            .get_enrollment(&acme, sequence.id, PHONE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status, EnrollmentStatus::Completed, "run {run}");
        assert!(
            done.history.is_empty(),
            "an enrollment read carries no history"
        );
        let item = client
            .get_item()
            .table_name(&table)
            .set_key(Some(enrollment_key()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert!(
            !item.contains_key("history"),
            "history on the enrollment item"
        );
        sizes.push(item_size(&item));
    }
    assert_eq!(outbox.entries().len(), RUNS, "one message per run");
    println!("enrollment item sizes by run: {sizes:?}");
    let (first, last) = (sizes[0], sizes[RUNS - 1]);
    assert!(
        last <= first + 16,
        "the enrollment item grew from {first} to {last} bytes over {RUNS} runs"
    );
    assert!(last < 1024, "{last} bytes");

    // The last message is delivered and read: its own entry changes, and the counters with it.
    let before = enrollments
        .enrollment(&acme, sequence.id, PHONE)
        .await
        .unwrap();
    let message_id = before.history.last().unwrap().message_id.clone().unwrap();
    let status = |s: MessageStatus| InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: message_id.clone(),
            status: s,
            recipient_id: "5511987654321".into(),
            callback_data: None,
            billable: true,
            category: None,
            failure: None,
        },
    };
    ports
        .inbound()
        .apply(vec![
            status(MessageStatus::Delivered),
            status(MessageStatus::Read),
        ])
        .await
        .unwrap();

    // One entry per run, oldest first, each in its own item.
    let e = enrollments
        .enrollment(&acme, sequence.id, PHONE)
        .await
        .unwrap();
    assert_eq!(e.history.len(), RUNS);
    assert!(e.history.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(e
        .history
        .iter()
        .all(|h| h.step_id == step_id && h.outcome == Outcome::Sent && h.message_id.is_some()));
    assert_eq!(
        e.history[RUNS - 1].message_id.as_deref(),
        Some(message_id.as_str())
    );
    assert_eq!(e.history[RUNS - 1].status, Some(MessageStatus::Read));
    assert!(e.history[..RUNS - 1]
        .iter()
        .all(|h| h.status == Some(MessageStatus::Sent)));
    for (run, id) in runs.iter().enumerate() {
        let entry = store
            .history_entry(&acme, sequence.id, PHONE, *id, step_id)
            .await
            .unwrap();
        assert!(entry.is_some(), "run {run} has no entry of its own");
    }
    let stats = ports.stats_service();
    let counted = stats.sequence_stats(&acme, sequence.id).await.unwrap();
    let recounted = stats.recounted_stats(&acme, sequence.id).await.unwrap();
    assert_eq!(counted, recounted);
    let steps = serde_json::to_value(&counted).unwrap()["steps"].clone();
    assert_eq!(steps[0]["sent"], RUNS, "{steps}");
    assert_eq!(steps[0]["delivered"], 1, "{steps}");
    assert_eq!(steps[0]["read"], 1, "{steps}");
}
