//! What a sequence's statistics cost on DynamoDB, counted at the SDK as every attempt goes out
//! (SPEC §4, `GET /v1/sequences/{id}/stats`): the same requests for 100 enrollments as for
//! 300 (the sequence's `GetItem` and one `BatchGetItem` of its counter shards), with the same
//! answer as a recount of every enrollment.
//!
//! Needs `RITMO_TEST_DYNAMODB_ENDPOINT` (set by `infra/test.sh`); skipped with a message
//! otherwise, and failing instead under `CI`.

mod common;

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use common::{counted_client, total, Requests};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::channels::model::TemplateCategory;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_cost_the_same_requests_for_100_and_300_enrollments() {
    let Ok(endpoint) = std::env::var("RITMO_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "RITMO_TEST_DYNAMODB_ENDPOINT must be set under CI"
        );
        eprintln!("skipped: RITMO_TEST_DYNAMODB_ENDPOINT is not set");
        return;
    };
    let requests = Requests::default();
    let store = Arc::new(DynamoStore::new(
        counted_client(&endpoint, &requests).await,
        StoreConfig {
            table: format!("ritmo-stats-{}", Ulid::new().to_string().to_lowercase()),
            cursor_key: CursorKey::random(),
        },
    ));
    store.create_table_if_missing().await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let stats = StatsService::new(store.clone(), store.clone(), None);

    let sequence = sequence(&store, &acme).await;
    let step_id = Ulid::new();
    let mut costs = Vec::new();
    let mut enrolled = 0;
    for audience in [100, 300] {
        enroll(&store, &sequence, step_id, enrolled..audience).await;
        enrolled = audience;
        requests.take();
        let counted = stats.sequence_stats(&acme, sequence.id).await.unwrap();
        let cost = requests.take();
        let recounted = stats.recounted_stats(&acme, sequence.id).await.unwrap();
        let recount_cost = requests.take();
        println!(
            "{audience} enrollments: stats {cost:?}, a recount of the enrollments {recount_cost:?}"
        );
        assert_eq!(counted, recounted, "{audience} enrollments");
        assert_eq!(counted.enrollments["active"], audience as u64 * 4 / 5);
        assert_eq!(counted.exit_reasons["replied"], audience as u64 / 5);
        assert_eq!(counted.steps[0].sent, audience as u64);
        assert_eq!(
            counted.steps[0].billable[&TemplateCategory::Marketing],
            audience as u64
        );
        assert!(
            total(&cost) <= 2,
            "{} requests for the stats of {audience} enrollments: {cost:?}",
            total(&cost)
        );
        costs.push(cost);
    }
    assert_eq!(
        costs[0], costs[1],
        "the stats of 100 and of 300 enrollments cost different requests"
    );
}
