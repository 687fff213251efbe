//! What one send costs on DynamoDB, counted at the SDK as every attempt goes out: at most 4
//! requests per step sent once the instance has the sequence and the channel in its snapshot
//! cache (the step claim, the send slot, the outcome with its message index, the read of
//! statuses held for the message), and the next step planned without another.
//!
//! Needs `RITMO_TEST_DYNAMODB_ENDPOINT` (set by `infra/test.sh`); `#[ignore]`d without the
//! emulator.

mod common;

use common::{active_sequence, counted_client, send_world, store_on_new_table, total, Requests};
use ritmo_core::channels::model::TemplateCategory;
use ritmo_core::delivery::ports::StepRunner;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_send_costs_at_most_four_requests() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let requests = Requests::default();
    let (store, _) = store_on_new_table(counted_client(&endpoint, &requests).await, "sends").await;
    let w = send_world(&store, "boas_vindas", TemplateCategory::Utility, 1).await;
    let steps = [
        json!({"amount": 0, "unit": "minutes"}),
        json!({"amount": 1, "unit": "days"}),
    ]
    .map(|delay| {
        json!({"channel_id": w.channel_id,
            "action": {"type": "template", "name": "boas_vindas", "language": "pt_BR",
                       "parameters": ["{{contact.name|cliente}}"]},
            "delay": delay})
    });
    let (sequence, _) = active_sequence(&w.ports, &w.acme, "Boas-vindas", steps.into()).await;
    let contacts = 21;
    let enrolled = w
        .ports
        .enrollment_service()
        .enroll(
            &w.acme,
            sequence.id,
            (0..contacts)
                .map(|i| {
                    serde_json::from_value(json!({"phone": format!("+55119{:08}", 10_000_000 + i)}))
                        .unwrap()
                })
                .collect(),
        )
        .await
        .unwrap();
    assert!(enrolled.iter().all(|r| r.error.is_none()), "{enrolled:?}");

    // Each first step's job, delivered as its schedule would; the first warms the snapshot
    // cache (the sequence and the channel), the others are counted.
    let jobs: Vec<_> = w.scheduler.pending().into_iter().map(|s| s.input).collect();
    assert_eq!(jobs.len(), contacts);
    let sender = w.ports.sender();
    sender.run(jobs[0].clone()).await.unwrap();
    requests.take();
    for job in &jobs[1..] {
        sender.run(job.clone()).await.unwrap();
    }
    let counted = requests.take();
    let sends = contacts - 1;
    assert_eq!(
        w.outbox.entries().len(),
        contacts,
        "every first step went out"
    );
    println!("{sends} sends: {counted:?}");
    assert!(
        total(&counted) <= 4 * sends,
        "{} requests for {sends} sends: {counted:?}",
        total(&counted)
    );
    // The second steps are planned, a day later, one each.
    let second = w
        .scheduler
        .pending()
        .into_iter()
        .filter(|s| s.input.step_id != jobs[0].step_id)
        .count();
    assert_eq!(second, contacts);
}
