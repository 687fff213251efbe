//! What a sequence's statistics cost on DynamoDB, counted at the SDK as every attempt goes out
//! (SPEC §4, `GET /v1/sequences/{id}/stats`): the same requests for 100 enrollments as for
//! 100,000 (the sequence's `GetItem` and one `BatchGetItem` of its counter shards). At 100 the
//! answer is the same as a recount of every enrollment; at 100,000 (a recount would page through
//! the whole audience on the emulator, minutes) it is the numbers the audience was built with.
//!
//! The first 100 enrollments are written as the services write them. The emulator serves one
//! request at a time, so the other 99,900 are copies of their stored items (keys, phone and id
//! changed), 25 to a `BatchWriteItem`, and their counter changes go with the last one's write,
//! summed: the table holds 100,000 enrollment items, and the counters count them.
//!
//! Needs `RITMO_TEST_DYNAMODB_ENDPOINT` (set by `infra/test.sh`); `#[ignore]`d without the
//! emulator.

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, TimeZone, Utc};
use common::{counted_client, store_on_new_table, total, Requests};
use ritmo_aws::DynamoStore;
use ritmo_core::channels::model::TemplateCategory;
use ritmo_core::common::page::PageRequest;
use ritmo_core::common::store::Expect;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::enrollments::counters::Counts;
use ritmo_core::enrollments::model::{
    Contact, Enrollment, EnrollmentStatus, ExitReason, HistoryEntry, MessageStatus, Outcome,
    StepState,
};
use ritmo_core::enrollments::stats::StatsService;
use ritmo_core::enrollments::store::{EnrollmentStore, IndexWrites};
use ritmo_core::sequences::model::{Sequence, SequenceStatus};
use ritmo_core::sequences::store::SequenceStore;
use ulid::Ulid;

/// A counted sequence, stored.
async fn sequence(store: &DynamoStore, tenant: &TenantId) -> Sequence {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let sequence = Sequence {
        tenant: tenant.clone(),
        id: Ulid::new(),
        name: "Promo".into(),
        status: SequenceStatus::Active,
        status_reason: None,
        time_zone: "America/Sao_Paulo".into(),
        exit_on_reply: true,
        steps: vec![],
        template_notices: vec![],
        created_at: at,
        updated_at: at,
        version: 1,
        counted: true,
    };
    store.put_sequence(&sequence, Expect::Absent).await.unwrap();
    sequence
}

/// Enrollments `from..to` of the sequence, written as the services write them (each with its
/// counter change): every fifth exited on a reply, the others active, each with the step
/// `step_id` sent, delivered and billable.
async fn enroll(
    store: &Arc<DynamoStore>,
    sequence: &Sequence,
    step_id: Ulid,
    range: std::ops::Range<usize>,
) {
    let at = sequence.created_at;
    let tenant = &sequence.tenant;
    let mut writes = tokio::task::JoinSet::new();
    for i in range {
        let store = store.clone();
        let mut e = Enrollment {
            tenant: tenant.clone(),
            sequence_id: sequence.id,
            id: Ulid::new(),
            contact: Contact {
                phone: format!("+55119{:08}", 10_000_000 + i),
                name: None,
                time_zone: None,
                attributes: Default::default(),
            },
            status: EnrollmentStatus::Active,
            exit_reason: None,
            enrolled_at: at,
            next_step_id: None,
            next_send_at: None,
            state: StepState::Held { generation: 1 },
            retries: 0,
            last_step_id: Some(step_id),
            last_sent_at: Some(at + TimeDelta::hours(1)),
            steps_done: vec![step_id],
            last_message_step_id: Some(step_id),
            history: vec![],
            wa_id: None,
            version: 1,
            updated_at: at,
        };
        let mut sent = HistoryEntry::new(step_id, at + TimeDelta::hours(1), Outcome::Sent);
        sent.message_id = Some(format!("wamid.{}", e.id));
        sent.status = Some(MessageStatus::Delivered);
        sent.delivered = true;
        sent.billable = true;
        sent.category = Some(TemplateCategory::Marketing);
        sent.replied = i % 5 == 0;
        e.history.push(sent);
        if i % 5 == 0 {
            e.end(EnrollmentStatus::Exited, Some(ExitReason::Replied));
        }
        writes.spawn(async move {
            let index = IndexWrites {
                counters: Counts::delta(None, &e),
                history: e.history.clone(),
                ..IndexWrites::default()
            };
            store
                .write_enrollment(&e, Expect::Absent, &index)
                .await
                .unwrap();
        });
        while writes.len() >= 16 {
            writes.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
}

/// Every string in `value` with `from` replaced by `to`, through maps and lists.
fn replaced(value: &AttributeValue, from: &[(String, String)]) -> AttributeValue {
    match value {
        AttributeValue::S(text) => AttributeValue::S(
            from.iter()
                .fold(text.clone(), |text, (old, new)| text.replace(old, new)),
        ),
        AttributeValue::M(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), replaced(v, from)))
                .collect(),
        ),
        AttributeValue::L(list) => {
            AttributeValue::L(list.iter().map(|v| replaced(v, from)).collect())
        }
        other => other.clone(),
    }
}

const AUDIENCE: usize = 100_000;
const WRITTEN: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn stats_cost_the_same_requests_for_100_and_100_000_enrollments() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let requests = Requests::default();
    let (store, table) =
        store_on_new_table(counted_client(&endpoint, &requests).await, "stats").await;
    let acme = TenantId::parse("acme").unwrap();
    let stats = StatsService::new(store.clone(), store.clone(), None);

    let sequence = sequence(&store, &acme).await;
    let step_id = Ulid::new();
    let check = |counted: &ritmo_core::enrollments::stats::SequenceStats, audience: usize| {
        assert_eq!(
            counted.enrollments["active"],
            audience as u64 * 4 / 5,
            "{audience}"
        );
        assert_eq!(counted.exit_reasons["replied"], audience as u64 / 5);
        assert_eq!(counted.steps[0].sent, audience as u64);
        assert_eq!(counted.steps[0].delivered, audience as u64);
        assert_eq!(
            counted.steps[0].billable[&TemplateCategory::Marketing],
            audience as u64
        );
    };

    enroll(&store, &sequence, step_id, 0..WRITTEN).await;
    requests.take();
    let counted = stats.sequence_stats(&acme, sequence.id).await.unwrap();
    let cost = requests.take();
    let recounted = stats.recounted_stats(&acme, sequence.id).await.unwrap();
    let recount_cost = requests.take();
    println!("{WRITTEN} enrollments: stats {cost:?}, a recount {recount_cost:?}");
    assert_eq!(counted, recounted, "{WRITTEN} enrollments");
    check(&counted, WRITTEN);
    assert!(
        total(&cost) <= 2,
        "{} requests for the stats of {WRITTEN} enrollments: {cost:?}",
        total(&cost)
    );

    // The stored items of an active enrollment and of one that exited on a reply, as
    // templates for the rest of the audience (every fifth exited, as `enroll` writes them).
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let raw = aws_sdk_dynamodb::Client::new(&sdk);
    let pk = format!("T#{acme}#SEQ#{}", sequence.id);
    let mut templates = Vec::new();
    for i in [0usize, 1] {
        let phone = format!("+55119{:08}", 10_000_000 + i);
        let item = raw
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(format!("E#{phone}")))
            .send()
            .await
            .unwrap()
            .item
            .expect("a stored enrollment");
        let mut enrollment = store
            .get_enrollment(&acme, sequence.id, &phone)
            .await
            .unwrap()
            .unwrap();
        // Its history entry, in an item of its own.
        let entry = store
            .list_history(&acme, sequence.id, Some(&phone), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .remove(0);
        let entry_item = raw
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key(
                "sk",
                AttributeValue::S(format!(
                    "H#{phone}#{}#{}",
                    entry.enrollment_id, entry.entry.step_id
                )),
            )
            .send()
            .await
            .unwrap()
            .item
            .expect("a stored history entry");
        enrollment.history.push(entry.entry);
        templates.push(([item, entry_item], phone, enrollment));
    }
    let mut counters = Counts::default();
    let mut batch = Vec::with_capacity(25);
    let mut pending = tokio::task::JoinSet::new();
    let flush = |batch: Vec<aws_sdk_dynamodb::types::WriteRequest>| {
        let raw = raw.clone();
        let table = table.clone();
        async move {
            let mut left = std::collections::HashMap::from([(table, batch)]);
            while !left.is_empty() {
                let out = raw
                    .batch_write_item()
                    .set_request_items(Some(left))
                    .send()
                    .await
                    .unwrap();
                left = out.unprocessed_items.unwrap_or_default();
                left.retain(|_, requests| !requests.is_empty());
            }
        }
    };
    for i in WRITTEN..AUDIENCE - 1 {
        let (item, phone, enrollment) = &templates[usize::from(i % 5 != 0)];
        let id = Ulid::new().to_string();
        let changes = [
            (phone.clone(), format!("+55119{:08}", 10_000_000 + i)),
            (enrollment.id.to_string(), id),
        ];
        counters.merge(&Counts::delta(None, enrollment));
        for item in item {
            let item = item
                .iter()
                .map(|(k, v)| (k.clone(), replaced(v, &changes)))
                .collect();
            batch.push(
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            );
        }
        if batch.len() >= 24 {
            pending.spawn(flush(std::mem::take(&mut batch)));
            while pending.len() >= 4 {
                pending.join_next().await.unwrap().unwrap();
            }
        }
    }
    if !batch.is_empty() {
        pending.spawn(flush(batch));
    }
    while let Some(done) = pending.join_next().await {
        done.unwrap();
    }
    // The last enrollment, written by the store with every copy's counter change.
    let (_, _, active) = &templates[1];
    let mut last = active.clone();
    last.id = Ulid::new();
    last.contact.phone = format!("+55119{:08}", 10_000_000 + AUDIENCE - 1);
    counters.merge(&Counts::delta(None, &last));
    store
        .write_enrollment(
            &last,
            Expect::Absent,
            &IndexWrites {
                counters,
                history: last.history.clone(),
                ..IndexWrites::default()
            },
        )
        .await
        .unwrap();
    let items = raw
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.item_count)
        .unwrap_or_default();
    assert!(
        items >= AUDIENCE as i64,
        "the table holds the audience: {items} items"
    );

    requests.take();
    let counted = stats.sequence_stats(&acme, sequence.id).await.unwrap();
    let large = requests.take();
    println!("{AUDIENCE} enrollments: stats {large:?}");
    check(&counted, AUDIENCE);
    assert_eq!(
        cost, large,
        "the stats of {WRITTEN} and of {AUDIENCE} enrollments cost different requests"
    );
    let copy = store
        .get_enrollment(&acme, sequence.id, "+5511910050005")
        .await
        .unwrap()
        .expect("a copied enrollment reads as one");
    assert_eq!(copy.status, EnrollmentStatus::Exited);
    let entries = store
        .list_history(
            &acme,
            sequence.id,
            Some("+5511910050005"),
            &PageRequest::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(
        entries.len(),
        1,
        "a copied enrollment has its history entry"
    );
    assert_eq!(entries[0].enrollment_id, copy.id);
    assert_eq!(
        entries[0].entry.message_id,
        Some(format!("wamid.{}", copy.id))
    );
}
