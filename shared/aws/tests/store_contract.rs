//! The store contract: one suite, run against the in-memory store (the reference semantics)
//! and against the DynamoDB store on a DynamoDB-compatible endpoint
//! (`RITMO_TEST_DYNAMODB_ENDPOINT`, set by `infra/test.sh`; the DynamoDB half is `#[ignore]`d
//! without the emulator).

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{at, channel, enrollment};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::adapters::memory::MemoryStore;
use ritmo_core::adapters::memory_links::MemoryLinkStore;
use ritmo_core::channels::model::{Bot, Channel};
use ritmo_core::channels::store::{BotStore, ChannelStore};
use ritmo_core::common::page::PageRequest;
use ritmo_core::common::secret::Secret;
use ritmo_core::common::store::{Expect, WriteError};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::delivery::pacing::{LocalSlots, SendSlots};
use ritmo_core::enrollments::counters::Counts;
use ritmo_core::enrollments::model::MessageStatus;
use ritmo_core::enrollments::model::{
    Enrollment, EnrollmentStatus, HistoryEntry, Outcome, StepState,
};
use ritmo_core::enrollments::model::{PricingCategory, StatusUpdate};
use ritmo_core::enrollments::store::{
    ClaimOutcome, ContactRun, EnrollmentStore, IndexWrites, SendRef, SentMessage, StepClaim,
};
use ritmo_core::jobs::JobStore;
use ritmo_core::links::{LinkRouting, LinkStore};
use ritmo_core::sequences::model::{
    Action, ButtonParameter, Header, Sequence, SequenceStatus, Step,
};
use ritmo_core::sequences::plan::{Delay, DelayUnit};
use ritmo_core::sequences::store::SequenceStore;
use ulid::Ulid;

/// Everything the contract exercises but links.
pub trait Store: ChannelStore + BotStore + SequenceStore + EnrollmentStore {}
impl<T: ChannelStore + BotStore + SequenceStore + EnrollmentStore> Store for T {}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// The link store's admin port and the redirect's routing port, as one adapter implements both.
trait Links: LinkStore + LinkRouting {}
impl<T: LinkStore + LinkRouting> Links for T {}

fn memory_links() -> Arc<dyn Links> {
    Arc::new(MemoryLinkStore::new())
}

/// A DynamoDB store on a fresh table at the emulator.
async fn dynamodb_store() -> Arc<DynamoStore> {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        StoreConfig {
            table: format!("ritmo-contract-{}", Ulid::new().to_string().to_lowercase()),
            cursor_key: CursorKey::random(),
        },
    );
    assert!(store
        .create_table_if_missing()
        .await
        .expect("table created"));
    Arc::new(store)
}

async fn dynamodb() -> Arc<dyn Store> {
    dynamodb_store().await
}

async fn dynamodb_links() -> Arc<dyn Links> {
    dynamodb_store().await
}

fn memory_jobs() -> Arc<dyn JobStore> {
    Arc::new(ritmo_core::adapters::MemoryJobStore::new())
}

async fn dynamodb_jobs() -> Arc<dyn JobStore> {
    dynamodb_store().await
}

/// Four senders' views of the numbers' slots: one in-process counter shared by all of them.
fn memory_slots() -> Vec<Arc<dyn SendSlots>> {
    let slots: Arc<dyn SendSlots> = Arc::new(LocalSlots::new(Arc::new(
        ritmo_core::common::clock::SystemClock,
    )));
    vec![slots; 4]
}

/// Four stores on one table, as four sender instances share it.
async fn dynamodb_slots() -> Vec<Arc<dyn SendSlots>> {
    let store = dynamodb_store().await;
    (0..4)
        .map(|_| Arc::new((*store).clone()) as Arc<dyn SendSlots>)
        .collect()
}

/// Each case runs once per backend; `stores` cases get the channel, bot, sequence and
/// enrollment ports, `links` cases the link store.
macro_rules! contract {
    (
        stores: [$($name:ident),* $(,)?],
        links: [$($link:ident),* $(,)?],
        slots: [$($slot:ident),* $(,)?],
        jobs: [$($job:ident),* $(,)?] $(,)?
    ) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $job() {
                    super::suite::jobs::$job(super::memory_jobs()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::suite::$name(super::memory()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $link() {
                    super::suite::links::$link(super::memory_links()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $slot() {
                    super::suite::slots::$slot(super::memory_slots()).await;
                }
            )*
        }
        mod dynamodb_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs the AWS emulator: infra/test.sh runs it"]
                async fn $job() {
                    super::suite::jobs::$job(super::dynamodb_jobs().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs the AWS emulator: infra/test.sh runs it"]
                async fn $name() {
                    super::suite::$name(super::dynamodb().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs the AWS emulator: infra/test.sh runs it"]
                async fn $link() {
                    super::suite::links::$link(super::dynamodb_links().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs the AWS emulator: infra/test.sh runs it"]
                async fn $slot() {
                    super::suite::slots::$slot(super::dynamodb_slots().await).await;
                }
            )*
        }
    };
}

contract!(
    stores: [
        channels_are_stored_per_tenant_and_found_by_phone_number_id,
        a_phone_number_id_follows_its_channel_and_cannot_be_taken,
        bots_are_stored_per_tenant,
        sequence_writes_are_conditional_on_the_version,
        sequences_round_trip_with_steps_and_windows,
        enrolling_again_is_allowed_only_once_the_run_ended,
        history_entries_are_items_of_their_own_listed_by_phone_and_run,
        enrollment_writes_are_conditional_on_the_version,
        the_overdue_index_holds_active_runs_by_what_they_wait_on_and_since_when,
        a_step_is_claimed_once_under_fifty_concurrent_claims,
        a_claim_must_match_run_step_generation_and_state,
        another_tenants_ids_are_none_and_its_lists_empty,
        lists_page_with_cursors_without_gaps_or_repeats,
        a_tampered_or_foreign_cursor_never_reads_another_tenants_data,
        enrollments_list_by_status_in_phone_order,
        a_recorded_send_is_found_by_its_message_id_only_once_its_write_happened,
        a_status_held_before_its_send_is_kept_until_the_send_is_recorded,
        runs_are_found_by_contact_key_in_every_sequence_of_the_tenant,
        counters_change_exactly_with_the_enrollment_write_that_carries_them,
        a_history_entry_changes_only_from_the_revision_it_was_read_at,
        concurrent_writes_of_one_sequence_all_count,
    ],
    links: [
        links_round_trip_and_slugs_are_unique_across_tenants,
        rotator_members_must_be_whatsapp_links_of_the_tenant,
        replacing_a_member_refreshes_every_rotator_that_uses_it,
        replacing_a_rotator_keeps_its_counter_and_moves_its_members,
        a_link_in_use_is_not_deleted_and_names_its_rotators,
        another_tenant_never_sees_or_changes_a_link,
        links_list_in_slug_order_with_cursors,
        clicks_count_from_one_and_peeks_do_not_move_the_counter,
        two_hundred_concurrent_clicks_get_counters_1_to_200,
        clicks_are_counted_per_day_kind_and_member,
    ],
    slots: [
        concurrent_senders_share_a_numbers_slots_one_each_spaced_by_its_rate,
        a_counter_behind_the_present_starts_at_the_present,
        a_backlog_puts_later_takes_after_it_and_other_numbers_are_unaffected,
        planning_far_ahead_leaves_earlier_slots_and_the_send_lane_alone,
    ],
    jobs: [
        job_writes_are_conditional_on_the_version,
        jobs_list_newest_first_per_tenant_with_cursors,
        unfinished_jobs_of_every_tenant_are_found_and_finished_ones_are_not,
        an_import_job_keeps_its_file_and_its_rows_failures,
    ],
);

/// Import files: parts round-trip byte for byte (any bytes), per tenant and job, and deleting
/// a file leaves no part behind and other files alone.
async fn import_files_round_trip(files: Arc<dyn ritmo_core::jobs::ImportFiles>) {
    let job = ulid::Ulid::new();
    let other = ulid::Ulid::new();
    let acme = tenant("acme");
    let part: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
    files.put_part(&acme, job, 0, part.clone()).await.unwrap();
    files
        .put_part(&acme, job, 1, b"\xef\xbb\xbfphone\r\n".to_vec())
        .await
        .unwrap();
    files
        .put_part(&acme, other, 0, b"phone\n".to_vec())
        .await
        .unwrap();
    assert_eq!(files.get_part(&acme, job, 0).await.unwrap(), Some(part));
    assert_eq!(
        files.get_part(&acme, job, 1).await.unwrap().as_deref(),
        Some(&b"\xef\xbb\xbfphone\r\n"[..])
    );
    assert_eq!(files.get_part(&acme, job, 2).await.unwrap(), None);
    assert_eq!(
        files.get_part(&tenant("globex"), job, 0).await.unwrap(),
        None
    );
    files.delete_file(&acme, job, 2).await.unwrap();
    assert_eq!(files.get_part(&acme, job, 0).await.unwrap(), None);
    assert_eq!(files.get_part(&acme, job, 1).await.unwrap(), None);
    assert!(files.get_part(&acme, other, 0).await.unwrap().is_some());
    // Deleting parts that are gone (a second delete) is fine.
    files.delete_file(&acme, job, 40).await.unwrap();
}

#[tokio::test]
async fn import_files_in_memory() {
    import_files_round_trip(Arc::new(ritmo_core::adapters::MemoryImportFiles::new())).await;
}

#[tokio::test]
async fn import_files_in_a_directory() {
    let dir = std::env::temp_dir().join(format!("ritmo-contract-imports-{}", std::process::id()));
    import_files_round_trip(Arc::new(ritmo_memory::DirImportFiles::new(&dir).unwrap())).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn import_files_on_dynamodb() {
    import_files_round_trip(dynamodb_store().await).await;
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn bot(t: &TenantId) -> Bot {
    Bot {
        tenant: t.clone(),
        id: Ulid::new(),
        name: "Bot".into(),
        webhook_url: "https://bot.example.com/hook".into(),
        secret: Secret::new("0123456789abcdef"),
        created_at: at(0),
        updated_at: at(0),
    }
}

fn sequence(t: &TenantId) -> Sequence {
    Sequence {
        tenant: t.clone(),
        id: Ulid::new(),
        name: "Boas-vindas".into(),
        status: SequenceStatus::Active,
        status_reason: None,
        time_zone: "America/Sao_Paulo".into(),
        exit_on_reply: true,
        steps: vec![],
        template_notices: vec![],
        created_at: at(0),
        updated_at: at(0),
        version: 1,
        counted: true,
    }
}

fn phone(n: usize) -> String {
    format!("+55119876{n:05}")
}

mod suite {
    use super::*;

    pub async fn channels_are_stored_per_tenant_and_found_by_phone_number_id(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let c = channel(&acme, "1098765432");
        store.put_channel(&c).await.unwrap();
        assert_eq!(
            store.get_channel(&acme, c.id).await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(
            store
                .channel_by_phone_number_id("1098765432")
                .await
                .unwrap(),
            Some(c.clone())
        );
        assert_eq!(store.channel_by_phone_number_id("555").await.unwrap(), None);
        let renamed = Channel {
            name: "Loja 2".into(),
            ..c.clone()
        };
        store.put_channel(&renamed).await.unwrap();
        assert_eq!(
            store.get_channel(&acme, c.id).await.unwrap().unwrap().name,
            "Loja 2"
        );
        assert!(store.delete_channel(&acme, c.id).await.unwrap());
        assert!(!store.delete_channel(&acme, c.id).await.unwrap());
        assert_eq!(store.get_channel(&acme, c.id).await.unwrap(), None);
        assert_eq!(
            store
                .channel_by_phone_number_id("1098765432")
                .await
                .unwrap(),
            None
        );
    }

    pub async fn a_phone_number_id_follows_its_channel_and_cannot_be_taken(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let c = channel(&acme, "111");
        store.put_channel(&c).await.unwrap();
        let moved = Channel {
            phone_number_id: "222".into(),
            ..c.clone()
        };
        store.put_channel(&moved).await.unwrap();
        assert_eq!(store.channel_by_phone_number_id("111").await.unwrap(), None);
        assert_eq!(
            store.channel_by_phone_number_id("222").await.unwrap(),
            Some(moved.clone())
        );
        // The domain refuses a taken number before writing; a store that enforces it too must
        // never hand the number to the second channel.
        let thief = channel(&tenant("other"), "222");
        let refused = store.put_channel(&thief).await.is_err();
        let owner = store.channel_by_phone_number_id("222").await.unwrap();
        assert!(owner == Some(moved.clone()) || owner == Some(thief.clone()));
        if refused {
            assert_eq!(owner, Some(moved));
            assert!(store
                .get_channel(&thief.tenant, thief.id)
                .await
                .unwrap()
                .is_none());
        }
    }

    pub async fn bots_are_stored_per_tenant(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let b = bot(&acme);
        store.put_bot(&b).await.unwrap();
        assert_eq!(store.get_bot(&acme, b.id).await.unwrap(), Some(b.clone()));
        assert_eq!(store.get_bot(&tenant("other"), b.id).await.unwrap(), None);
        let page = store
            .list_bots(&acme, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(page.items, vec![b.clone()]);
        assert!(!store.delete_bot(&tenant("other"), b.id).await.unwrap());
        assert!(store.delete_bot(&acme, b.id).await.unwrap());
        assert_eq!(store.get_bot(&acme, b.id).await.unwrap(), None);
    }

    pub async fn sequence_writes_are_conditional_on_the_version(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let mut s = sequence(&acme);
        store.put_sequence(&s, Expect::Absent).await.unwrap();
        let other_create = Sequence {
            name: "another create".into(),
            ..s.clone()
        };
        assert!(matches!(
            store.put_sequence(&other_create, Expect::Absent).await,
            Err(WriteError::Conflict)
        ));
        s.name = "v2".into();
        s.version = 2;
        store.put_sequence(&s, Expect::Version(1)).await.unwrap();
        let stale = Sequence {
            name: "stale".into(),
            version: 2,
            ..s.clone()
        };
        assert!(matches!(
            store.put_sequence(&stale, Expect::Version(1)).await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(store.get_sequence(&acme, s.id).await.unwrap(), Some(s));
    }

    pub async fn sequences_round_trip_with_steps_and_windows(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let window = serde_json::from_value(serde_json::json!({
            "time_zone": "America/Sao_Paulo",
            "days": {"mon": [["09:00", "12:00"], ["13:00", "24:00"]]},
            "exceptions": [{"date": "2026-12-25", "ranges": []}]
        }))
        .unwrap();
        let mut s = sequence(&acme);
        s.status_reason = Some("template error".into());
        s.steps = vec![
            Step {
                id: Ulid::new(),
                channel_id: Ulid::new(),
                action: Action::Template {
                    name: "promo_nov".into(),
                    language: "pt_BR".into(),
                    parameters: vec!["{{contact.name}}".into(), String::new()],
                    header: Some(Header::Image {
                        link: Some("https://cdn.example.com/promo.jpg".into()),
                        media_id: None,
                    }),
                    buttons: vec![ButtonParameter::Url {
                        index: 0,
                        text: "{{contact.attributes.order}}".into(),
                    }],
                    parameter_names: Some(ritmo_core::channels::model::ParameterNames {
                        body: vec!["first_name".into(), "coupon".into()],
                        header: None,
                    }),
                    category: Some(ritmo_core::channels::model::TemplateCategory::Marketing),
                },
                delay: Delay {
                    amount: 2,
                    unit: DelayUnit::Days,
                },
                window: Some(window),
            },
            Step {
                id: Ulid::new(),
                channel_id: Ulid::new(),
                action: Action::Chatbot {
                    bot_id: Ulid::new(),
                },
                delay: Delay::ZERO,
                window: None,
            },
        ];
        store.put_sequence(&s, Expect::Absent).await.unwrap();
        assert_eq!(store.get_sequence(&acme, s.id).await.unwrap(), Some(s));
    }

    pub async fn enrolling_again_is_allowed_only_once_the_run_ended(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        let first = enrollment(&acme, sequence_id, &phone(1));
        store.put_enrollment(&first, Expect::Absent).await.unwrap();
        let again = enrollment(&acme, sequence_id, &phone(1));
        assert!(matches!(
            store.put_enrollment(&again, Expect::Absent).await,
            Err(WriteError::Conflict)
        ));
        let mut ended = first.clone();
        ended.end(EnrollmentStatus::Completed, None);
        ended.steps_done.push(Ulid::new());
        ended.version = 2;
        store
            .put_enrollment(&ended, Expect::Version(1))
            .await
            .unwrap();
        // Absent means "none active": a completed run may be replaced by a new one.
        let restart = again.clone();
        store
            .put_enrollment(&restart, Expect::Absent)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_enrollment(&acme, sequence_id, &phone(1))
                .await
                .unwrap(),
            Some(restart)
        );
    }

    pub async fn history_entries_are_items_of_their_own_listed_by_phone_and_run(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        // Two runs of one contact, one run of another, each with one entry written with it.
        let mut written = Vec::new();
        for (n, minute) in [(5usize, 0i64), (5, 100), (4, 50)] {
            let mut e = enrollment(&acme, sequence_id, &phone(n));
            e.id = Ulid::from_parts(1_700_000_000_000 + minute as u64, 1);
            let step_id = e.next_step_id.unwrap();
            let expect = match store
                .get_enrollment(&acme, sequence_id, &phone(n))
                .await
                .unwrap()
            {
                Some(mut stored) => {
                    stored.end(EnrollmentStatus::Completed, None);
                    stored.version += 1;
                    store
                        .put_enrollment(&stored, Expect::Version(stored.version - 1))
                        .await
                        .unwrap();
                    e.version = stored.version + 1;
                    Expect::Absent
                }
                None => Expect::Absent,
            };
            store.put_enrollment(&e, expect).await.unwrap();
            let mut entry = HistoryEntry::new(step_id, at(minute + 1), Outcome::Sent);
            entry.message_id = Some(format!("wamid.{n}.{minute}"));
            let mut next = e.clone();
            next.record(entry.clone());
            next.version += 1;
            let index = IndexWrites {
                history: next.history.clone(),
                ..IndexWrites::default()
            };
            store
                .write_enrollment(&next, Expect::Version(e.version), &index)
                .await
                .unwrap();
            written.push((phone(n), e.id, entry));
        }
        // The enrollment keeps what it plans from, not the entries.
        let stored = store
            .get_enrollment(&acme, sequence_id, &phone(5))
            .await
            .unwrap()
            .unwrap();
        assert!(stored.history.is_empty());
        assert_eq!(stored.steps_done.len(), 1);
        assert_eq!(
            stored.last_message_step_id,
            stored.steps_done.first().copied()
        );
        // Each entry is found by its run and step, and nowhere else.
        for (p, run, entry) in &written {
            assert_eq!(
                store
                    .history_entry(&acme, sequence_id, p, *run, entry.step_id)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(entry)
            );
            assert_eq!(
                store
                    .history_entry(&tenant("other"), sequence_id, p, *run, entry.step_id)
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(
                store
                    .history_entry(&acme, sequence_id, p, Ulid::new(), entry.step_id)
                    .await
                    .unwrap(),
                None
            );
        }
        // A changed entry replaces its item.
        let (p, run, entry) = &written[1];
        let mut stored = store
            .get_enrollment(&acme, sequence_id, p)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.id, *run);
        let mut read = entry.clone();
        read.status = Some(MessageStatus::Read);
        read.read = true;
        stored.history.push(read.clone());
        stored.version += 1;
        store
            .write_enrollment(
                &stored,
                Expect::Version(stored.version - 1),
                &IndexWrites {
                    history: vec![read.clone()],
                    ..IndexWrites::default()
                },
            )
            .await
            .unwrap();
        // One phone's entries, by run; every phone's, by phone then run; pages of one.
        let one_phone = store
            .list_history(&acme, sequence_id, Some(&phone(5)), &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(one_phone.next_cursor, None);
        let listed: Vec<_> = one_phone
            .items
            .iter()
            .map(|r| (r.phone.clone(), r.enrollment_id, r.entry.clone()))
            .collect();
        assert_eq!(
            listed,
            vec![written[0].clone(), (p.clone(), *run, read.clone())]
        );
        let mut page = PageRequest::first(1);
        let mut all = Vec::new();
        loop {
            let batch = store
                .list_history(&acme, sequence_id, None, &page)
                .await
                .unwrap();
            assert!(batch.items.len() <= 1);
            all.extend(batch.items.into_iter().map(|r| (r.phone, r.enrollment_id)));
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(
            all,
            vec![
                (phone(4), written[2].1),
                (phone(5), written[0].1),
                (phone(5), written[1].1)
            ]
        );
        // Enrollments still list as enrollments only.
        let enrollments = store
            .list_enrollments(&acme, sequence_id, None, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(enrollments.items.len(), 2);
        assert!(store
            .list_history(&tenant("other"), sequence_id, None, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty());
    }

    pub async fn enrollment_writes_are_conditional_on_the_version(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let mut e = enrollment(&acme, Ulid::new(), &phone(2));
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        e.version = 2;
        e.retries = 1;
        store.put_enrollment(&e, Expect::Version(1)).await.unwrap();
        let mut stale = e.clone();
        stale.retries = 5;
        stale.version = 2;
        assert!(matches!(
            store.put_enrollment(&stale, Expect::Version(1)).await,
            Err(WriteError::Conflict)
        ));
        assert!(matches!(
            store.put_enrollment(&stale, Expect::Version(7)).await,
            Err(WriteError::Conflict)
        ));
        let missing = enrollment(&acme, Ulid::new(), &phone(3));
        assert!(matches!(
            store.put_enrollment(&missing, Expect::Version(1)).await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(
            store
                .get_enrollment(&acme, e.sequence_id, &phone(2))
                .await
                .unwrap(),
            Some(e)
        );
    }

    /// An enrollment write with its counter change.
    fn counted(old: Option<&Enrollment>, new: &Enrollment) -> IndexWrites {
        IndexWrites {
            counters: Counts::delta(old, new),
            ..IndexWrites::default()
        }
    }

    pub async fn counters_change_exactly_with_the_enrollment_write_that_carries_them(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::default()
        );
        let e = enrollment(&acme, sequence_id, &phone(40));
        store
            .write_enrollment(&e, Expect::Absent, &counted(None, &e))
            .await
            .unwrap();
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&e)
        );
        // A send whose write loses its condition counts nothing; the same write with the right
        // version counts it once.
        let (next, index) = sent(&e, "wamid.C1");
        assert!(!index.counters.is_empty());
        assert!(matches!(
            store
                .write_enrollment_seeing_held(&next, Expect::Version(7), &index)
                .await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&e),
            "a write that lost its condition added to the counters"
        );
        store
            .write_enrollment_seeing_held(&next, Expect::Version(1), &index)
            .await
            .unwrap();
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&next)
        );
        // The same write again (a retry whose first try committed) adds nothing, whether the
        // store answers success (its stored item is this one) or a conflict.
        let _ = store
            .write_enrollment(&next, Expect::Version(1), &index)
            .await;
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&next),
            "a retried write counted twice"
        );
        // Ending the run on a stale version counts nothing; on the stored one it moves the
        // enrollment from active to removed.
        let mut removed = next.clone();
        removed.end(EnrollmentStatus::Removed, None);
        removed.version += 1;
        assert!(matches!(
            store
                .write_enrollment(
                    &removed,
                    Expect::Version(1),
                    &counted(Some(&next), &removed)
                )
                .await,
            Err(WriteError::Conflict)
        ));
        store
            .write_enrollment(
                &removed,
                Expect::Version(2),
                &counted(Some(&next), &removed),
            )
            .await
            .unwrap();
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&removed)
        );
        // A new run of the same contact (Expect::Absent over an ended one) replaces its counts;
        // enrolling while a run is active is refused and counts nothing.
        let mut again = removed.clone();
        again.id = Ulid::new();
        again.status = EnrollmentStatus::Active;
        again.version += 1;
        store
            .write_enrollment(&again, Expect::Absent, &counted(Some(&removed), &again))
            .await
            .unwrap();
        let mut twice = again.clone();
        twice.id = Ulid::new();
        twice.version += 1;
        assert!(matches!(
            store
                .write_enrollment(&twice, Expect::Absent, &counted(Some(&again), &twice))
                .await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            Counts::of(&again)
        );
        // Another sequence's and another tenant's counters are their own.
        assert_eq!(
            store.sequence_counters(&acme, Ulid::new()).await.unwrap(),
            Counts::default()
        );
        assert_eq!(
            store
                .sequence_counters(&tenant("other"), sequence_id)
                .await
                .unwrap(),
            Counts::default()
        );
    }

    pub async fn concurrent_writes_of_one_sequence_all_count(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        let runs: Vec<Enrollment> = (0..40)
            .map(|i| enrollment(&acme, sequence_id, &phone(100 + i)))
            .collect();
        let mut writes = tokio::task::JoinSet::new();
        for e in runs.clone() {
            let store = store.clone();
            writes.spawn(async move {
                store
                    .write_enrollment(&e, Expect::Absent, &counted(None, &e))
                    .await
                    .unwrap();
                let (next, index) = sent(&e, &format!("wamid.{}", e.id));
                store
                    .write_enrollment(&next, Expect::Version(1), &index)
                    .await
                    .unwrap();
                next
            });
        }
        let mut expected = Counts::default();
        while let Some(next) = writes.join_next().await {
            expected.merge(&Counts::of(&next.unwrap()));
        }
        assert_eq!(
            store.sequence_counters(&acme, sequence_id).await.unwrap(),
            expected
        );
    }

    fn claim_of(e: &Enrollment, at: DateTime<Utc>) -> StepClaim {
        StepClaim {
            enrollment_id: e.id,
            step_id: e.next_step_id.unwrap(),
            generation: e.state.generation(),
            at,
        }
    }

    pub async fn the_overdue_index_holds_active_runs_by_what_they_wait_on_and_since_when(
        store: Arc<dyn Store>,
    ) {
        use ritmo_core::enrollments::model::Pending;
        // Years before every other case's instants, so that only this case's runs are overdue.
        let base = at(-10_000_000);
        let t = tenant(&format!("due-{}", Ulid::new()));
        let sequence_id = Ulid::new();
        let scheduled = |n: usize, minutes: i64| {
            let mut e = enrollment(&t, sequence_id, &phone(n));
            e.state = StepState::Scheduled {
                generation: 1,
                fire_at: base + TimeDelta::minutes(minutes),
                slot: false,
            };
            e
        };
        let (e1, mut e2, e5) = (scheduled(1, 10), scheduled(2, 5), scheduled(5, 20));
        // An instant to the nanosecond comes back exactly: the reconciler compares it.
        let odd = base + TimeDelta::minutes(5) + TimeDelta::nanoseconds(123_456_789);
        e2.state = StepState::Scheduled {
            generation: 1,
            fire_at: odd,
            slot: false,
        };
        let mut held = scheduled(3, 1);
        held.state = StepState::Held { generation: 1 };
        let mut ended = scheduled(4, 1);
        ended.end(EnrollmentStatus::Completed, None);
        for e in [&e1, &e2, &held, &ended, &e5] {
            store.put_enrollment(e, Expect::Absent).await.unwrap();
        }
        let phones = |pending: Pending, minutes: i64, limit: usize| {
            let store = store.clone();
            async move {
                store
                    .overdue(pending, base + TimeDelta::minutes(minutes), limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|run| (run.phone, run.since))
                    .collect::<Vec<_>>()
            }
        };
        let m = |minutes: i64| base + TimeDelta::minutes(minutes);
        assert_eq!(
            phones(Pending::Planned, 15, 10).await,
            [(phone(2), odd), (phone(1), m(10))]
        );
        assert_eq!(phones(Pending::Planned, 100, 1).await, [(phone(2), odd)]);
        let found = store.overdue(Pending::Planned, m(6), 10).await.unwrap();
        assert_eq!(
            (found[0].tenant.clone(), found[0].sequence_id),
            (t.clone(), sequence_id)
        );

        // A claim moves the run to the claimed side, since the claim.
        let claimed = store
            .claim_step(&t, sequence_id, &phone(5), &claim_of(&e5, m(30)))
            .await
            .unwrap();
        assert!(matches!(claimed, ClaimOutcome::Claimed(_)));
        assert_eq!(
            phones(Pending::Planned, 100, 10).await,
            [(phone(2), odd), (phone(1), m(10))]
        );
        assert_eq!(phones(Pending::Claimed, 100, 10).await, [(phone(5), m(30))]);
        assert!(phones(Pending::Claimed, 30, 10).await.is_empty());

        // Ending a run takes it out.
        let mut done = e1.clone();
        done.end(EnrollmentStatus::Completed, None);
        done.version += 1;
        store
            .put_enrollment(&done, Expect::Version(e1.version))
            .await
            .unwrap();
        assert_eq!(phones(Pending::Planned, 100, 10).await, [(phone(2), odd)]);
    }

    pub async fn a_step_is_claimed_once_under_fifty_concurrent_claims(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let e = enrollment(&acme, Ulid::new(), &phone(4));
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        let mut claims = tokio::task::JoinSet::new();
        for i in 0..50 {
            let store = store.clone();
            let (tenant, sequence_id, phone) = (acme.clone(), e.sequence_id, phone(4));
            let claim = claim_of(&e, at(60) + TimeDelta::milliseconds(i));
            claims.spawn(async move {
                store
                    .claim_step(&tenant, sequence_id, &phone, &claim)
                    .await
                    .unwrap()
            });
        }
        let mut claimed = Vec::new();
        while let Some(outcome) = claims.join_next().await {
            if let ClaimOutcome::Claimed(e) = outcome.unwrap() {
                claimed.push(*e);
            }
        }
        assert_eq!(claimed.len(), 1, "exactly one claim wins");
        let won = &claimed[0];
        assert!(matches!(
            won.state,
            StepState::Sending { generation: 1, .. }
        ));
        assert_eq!(won.version, 2);
        let stored = store
            .get_enrollment(&acme, e.sequence_id, &phone(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored, won);
        assert_eq!(
            Enrollment {
                state: e.state.clone(),
                version: e.version,
                updated_at: e.updated_at,
                ..stored
            },
            e,
            "a claim changes only the state, the version and the update time"
        );
    }

    pub async fn a_claim_must_match_run_step_generation_and_state(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let e = enrollment(&acme, Ulid::new(), &phone(5));
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        let good = claim_of(&e, at(60));
        let not_claimable = |claim: StepClaim| {
            let store = store.clone();
            let (acme, sequence_id) = (acme.clone(), e.sequence_id);
            async move {
                matches!(
                    store
                        .claim_step(&acme, sequence_id, &phone(5), &claim)
                        .await
                        .unwrap(),
                    ClaimOutcome::NotClaimable
                )
            }
        };
        assert!(
            not_claimable(StepClaim {
                generation: 2,
                ..good.clone()
            })
            .await
        );
        assert!(
            not_claimable(StepClaim {
                step_id: Ulid::new(),
                ..good.clone()
            })
            .await
        );
        assert!(
            not_claimable(StepClaim {
                enrollment_id: Ulid::new(),
                ..good.clone()
            })
            .await
        );
        assert!(matches!(
            store
                .claim_step(&tenant("other"), e.sequence_id, &phone(5), &good)
                .await
                .unwrap(),
            ClaimOutcome::NotClaimable
        ));
        assert!(matches!(
            store
                .claim_step(&acme, e.sequence_id, &phone(99), &good)
                .await
                .unwrap(),
            ClaimOutcome::NotClaimable
        ));
        // Held (paused) and removed runs cannot be claimed.
        let mut held = e.clone();
        held.state = StepState::Held { generation: 1 };
        held.version = 2;
        store
            .put_enrollment(&held, Expect::Version(1))
            .await
            .unwrap();
        assert!(not_claimable(good.clone()).await);
        let mut removed = held.clone();
        removed.state = e.state.clone();
        removed.status = EnrollmentStatus::Removed;
        removed.version = 3;
        store
            .put_enrollment(&removed, Expect::Version(2))
            .await
            .unwrap();
        assert!(not_claimable(good.clone()).await);
        // Once it is scheduled and active again, the claim goes through, once.
        let mut back = removed.clone();
        back.status = EnrollmentStatus::Active;
        back.version = 4;
        store
            .put_enrollment(&back, Expect::Version(3))
            .await
            .unwrap();
        assert!(!not_claimable(good.clone()).await);
        assert!(not_claimable(good).await);
    }

    pub async fn another_tenants_ids_are_none_and_its_lists_empty(store: Arc<dyn Store>) {
        let (acme, other) = (tenant("acme"), tenant("other"));
        let c = channel(&acme, "333");
        let s = sequence(&acme);
        let e = enrollment(&acme, s.id, &phone(6));
        store.put_channel(&c).await.unwrap();
        store.put_sequence(&s, Expect::Absent).await.unwrap();
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        let page = PageRequest::first(50);
        assert_eq!(store.get_channel(&other, c.id).await.unwrap(), None);
        assert_eq!(store.get_sequence(&other, s.id).await.unwrap(), None);
        assert_eq!(
            store.get_enrollment(&other, s.id, &phone(6)).await.unwrap(),
            None
        );
        assert!(!store.delete_channel(&other, c.id).await.unwrap());
        assert!(store
            .list_channels(&other, &page)
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(store
            .list_sequences(&other, &page)
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(store
            .list_enrollments(&other, s.id, None, &page)
            .await
            .unwrap()
            .items
            .is_empty());
        // A tenant whose id extends another's shares no key prefix with it.
        let acme2 = tenant("acme2");
        assert!(store
            .list_channels(&acme2, &page)
            .await
            .unwrap()
            .items
            .is_empty());
        assert_eq!(
            store.list_channels(&acme, &page).await.unwrap().items,
            vec![c]
        );
    }

    pub async fn lists_page_with_cursors_without_gaps_or_repeats(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let mut ids = Vec::new();
        for _ in 0..7 {
            let s = sequence(&acme);
            ids.push(s.id);
            store.put_sequence(&s, Expect::Absent).await.unwrap();
        }
        ids.sort();
        let mut seen = Vec::new();
        let mut page = PageRequest::first(3);
        let mut pages = 0;
        loop {
            let batch = store.list_sequences(&acme, &page).await.unwrap();
            pages += 1;
            assert!(batch.items.len() <= 3);
            seen.extend(batch.items.iter().map(|s| s.id));
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, ids);
        assert_eq!(pages, 3);
        // A last page that is exactly full says there is no more.
        let six = store
            .list_sequences(&acme, &PageRequest::first(7))
            .await
            .unwrap();
        assert_eq!(six.items.len(), 7);
        assert_eq!(six.next_cursor, None);

        let sequence_id = Ulid::new();
        for n in [3, 1, 2] {
            let e = enrollment(&acme, sequence_id, &phone(n));
            store.put_enrollment(&e, Expect::Absent).await.unwrap();
        }
        let first = store
            .list_enrollments(&acme, sequence_id, None, &PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|e| e.phone().to_string())
                .collect::<Vec<_>>(),
            vec![phone(1), phone(2)]
        );
        let rest = store
            .list_enrollments(
                &acme,
                sequence_id,
                None,
                &PageRequest {
                    limit: 2,
                    cursor: first.next_cursor,
                },
            )
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].phone(), phone(3));
        assert_eq!(rest.next_cursor, None);
    }

    pub async fn a_tampered_or_foreign_cursor_never_reads_another_tenants_data(
        store: Arc<dyn Store>,
    ) {
        let (acme, other) = (tenant("acme"), tenant("other"));
        for t in [&acme, &other] {
            for _ in 0..3 {
                store
                    .put_sequence(&sequence(t), Expect::Absent)
                    .await
                    .unwrap();
            }
        }
        let page = store
            .list_sequences(&other, &PageRequest::first(1))
            .await
            .unwrap();
        let foreign = page.next_cursor.unwrap();
        let mut tampered = foreign.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for cursor in [
            foreign,
            tampered,
            "T#other".into(),
            "SEQ#".into(),
            "%%%".into(),
        ] {
            let result = store
                .list_sequences(
                    &acme,
                    &PageRequest {
                        limit: 50,
                        cursor: Some(cursor.clone()),
                    },
                )
                .await;
            if let Ok(page) = result {
                assert!(
                    page.items.iter().all(|s| s.tenant == acme),
                    "cursor {cursor:?} read another tenant's sequences"
                );
            }
        }
    }

    fn sent(e: &Enrollment, message_id: &str) -> (Enrollment, IndexWrites) {
        let mut next = e.clone();
        let step_id = e.next_step_id.unwrap();
        let mut entry = HistoryEntry::new(step_id, at(60), Outcome::Sent);
        entry.message_id = Some(message_id.into());
        entry.status = Some(MessageStatus::Sent);
        next.record(entry);
        next.version += 1;
        let index = IndexWrites {
            messages: vec![SentMessage {
                message_id: message_id.into(),
                step_id,
            }],
            contacts: vec![],
            counters: Counts::delta(Some(e), &next),
            history: next.history.clone(),
        };
        (next, index)
    }

    fn status(message_id: &str, status: MessageStatus) -> StatusUpdate {
        StatusUpdate {
            message_id: message_id.into(),
            status,
            recipient_id: "551187654321".into(),
            callback_data: None,
            billable: true,
            category: Some(PricingCategory::Marketing),
            failure: None,
        }
    }

    pub async fn a_history_entry_changes_only_from_the_revision_it_was_read_at(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        let e = enrollment(&acme, sequence_id, &phone(41));
        store
            .write_enrollment(&e, Expect::Absent, &counted(None, &e))
            .await
            .unwrap();
        let (next, index) = sent(&e, "wamid.R1");
        store
            .write_enrollment_seeing_held(&next, Expect::Version(e.version), &index)
            .await
            .unwrap();
        let step_id = next.history[0].step_id;
        let contact = phone(41);
        let entry = || store.history_entry(&acme, sequence_id, &contact, e.id, step_id);
        let counters = || store.sequence_counters(&acme, sequence_id);
        let recorded = entry().await.unwrap().unwrap();
        assert_eq!(recorded.rev, 0);
        let changed = |f: &dyn Fn(&mut HistoryEntry), rev: u32| {
            let mut h = recorded.clone();
            f(&mut h);
            h.rev = rev;
            let mut with = next.clone();
            with.history = vec![h.clone()];
            (h, Counts::delta(Some(&next), &with))
        };
        // Delivered, from revision 0: written alone with its count; the enrollment untouched.
        let (delivered, counted_delivery) = changed(&|h| h.delivered = true, 1);
        assert!(!counted_delivery.is_empty());
        store
            .write_entry(&next, &delivered, &counted_delivery)
            .await
            .unwrap();
        assert_eq!(entry().await.unwrap().as_ref(), Some(&delivered));
        let mut expected = Counts::of(&next);
        expected.merge(&counted_delivery);
        assert_eq!(counters().await.unwrap(), expected);
        assert_eq!(
            store
                .get_enrollment(&acme, sequence_id, &phone(41))
                .await
                .unwrap()
                .map(|stored| stored.version),
            Some(next.version)
        );
        // A writer that read revision 0 too loses, alone or with an enrollment write: nothing
        // is written and nothing counted.
        let (stale, counted_read) = changed(&|h| h.read = true, 1);
        assert!(matches!(
            store.write_entry(&next, &stale, &counted_read).await,
            Err(WriteError::Conflict)
        ));
        let mut ended = next.clone();
        ended.history = vec![stale.clone()];
        ended.end(EnrollmentStatus::Exited, None);
        ended.version += 1;
        let stale_index = IndexWrites {
            history: vec![stale.clone()],
            counters: Counts::delta(Some(&next), &ended),
            ..IndexWrites::default()
        };
        assert!(matches!(
            store
                .write_enrollment(&ended, Expect::Version(next.version), &stale_index)
                .await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(entry().await.unwrap().as_ref(), Some(&delivered));
        assert_eq!(counters().await.unwrap(), expected);
        let stored = store
            .get_enrollment(&acme, sequence_id, &phone(41))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.version, stored.status), (next.version, next.status));
        // From revision 1 the next change is written.
        let mut read = delivered.clone();
        read.read = true;
        read.rev = 2;
        store
            .write_entry(&next, &read, &Counts::default())
            .await
            .unwrap();
        assert_eq!(entry().await.unwrap().as_ref(), Some(&read));
        // An entry never recorded is not changed alone.
        let mut unrecorded = HistoryEntry::new(Ulid::new(), at(70), Outcome::Sent);
        unrecorded.rev = 1;
        assert!(matches!(
            store
                .write_entry(&next, &unrecorded, &Counts::default())
                .await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(
            store
                .history_entry(&acme, sequence_id, &phone(41), e.id, unrecorded.step_id)
                .await
                .unwrap(),
            None
        );
    }

    pub async fn a_recorded_send_is_found_by_its_message_id_only_once_its_write_happened(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let e = enrollment(&acme, Ulid::new(), &phone(30));
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        assert_eq!(store.message(&acme, "wamid.A").await.unwrap(), None);
        let (next, index) = sent(&e, "wamid.A");
        // A write that loses its condition indexes nothing.
        assert!(matches!(
            store
                .write_enrollment(&next, Expect::Version(7), &index)
                .await,
            Err(WriteError::Conflict)
        ));
        assert_eq!(store.message(&acme, "wamid.A").await.unwrap(), None);
        store
            .write_enrollment(&next, Expect::Version(1), &index)
            .await
            .unwrap();
        let record = store.message(&acme, "wamid.A").await.unwrap().unwrap();
        assert_eq!(
            record.send,
            Some(SendRef {
                sequence_id: e.sequence_id,
                phone: phone(30),
                enrollment_id: e.id,
                step_id: e.next_step_id.unwrap(),
            })
        );
        assert!(record.held.is_empty());
        // The enrollment as written, its history entry in an item of its own.
        let mut bare = next.clone();
        let entry = bare.history.pop().unwrap();
        assert_eq!(
            store
                .get_enrollment(&acme, e.sequence_id, &phone(30))
                .await
                .unwrap(),
            Some(bare)
        );
        assert_eq!(
            store
                .history_entry(&acme, e.sequence_id, &phone(30), e.id, entry.step_id)
                .await
                .unwrap(),
            Some(entry)
        );
        // Another tenant's message ids are its own.
        assert_eq!(
            store.message(&tenant("other"), "wamid.A").await.unwrap(),
            None
        );
        // Writing the same enrollment again (a retried write) succeeds.
        let (_, again) = sent(&e, "wamid.A");
        let mut replay = next.clone();
        replay.version += 1;
        store
            .write_enrollment(&replay, Expect::Version(2), &again)
            .await
            .unwrap();
    }

    pub async fn a_status_held_before_its_send_is_kept_until_the_send_is_recorded(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let e = enrollment(&acme, Ulid::new(), &phone(31));
        store.put_enrollment(&e, Expect::Absent).await.unwrap();
        let delivered = status("wamid.B", MessageStatus::Delivered);
        assert!(store
            .hold_status(&acme, "wamid.B", &delivered, at(61))
            .await
            .unwrap());
        // A repeat replaces the held one; another status is kept beside it.
        assert!(store
            .hold_status(&acme, "wamid.B", &delivered, at(62))
            .await
            .unwrap());
        let read = status("wamid.B", MessageStatus::Read);
        assert!(store
            .hold_status(&acme, "wamid.B", &read, at(62))
            .await
            .unwrap());
        let record = store.message(&acme, "wamid.B").await.unwrap().unwrap();
        assert_eq!(record.send, None);
        let mut held = record.held.clone();
        held.sort_by_key(|s| s.status);
        assert_eq!(held, vec![delivered.clone(), read.clone()]);
        let (next, index) = sent(&e, "wamid.B");
        assert!(
            store
                .write_enrollment_seeing_held(&next, Expect::Version(1), &index)
                .await
                .unwrap(),
            "the write tells that statuses are held for its message"
        );
        let record = store.message(&acme, "wamid.B").await.unwrap().unwrap();
        assert_eq!(record.send.map(|s| s.enrollment_id), Some(e.id));
        assert_eq!(record.held.len(), 2, "held statuses stay for the sender");
        // Once the send is recorded, nothing more is held: the caller applies it itself.
        assert!(!store
            .hold_status(
                &acme,
                "wamid.B",
                &status("wamid.B", MessageStatus::Failed),
                at(63)
            )
            .await
            .unwrap());
        assert_eq!(
            store
                .message(&acme, "wamid.B")
                .await
                .unwrap()
                .unwrap()
                .held
                .len(),
            2
        );
        assert_eq!(
            store.message(&tenant("other"), "wamid.B").await.unwrap(),
            None
        );
        // A send with nothing held says so, and is recorded all the same.
        let quiet = enrollment(&acme, Ulid::new(), &phone(32));
        store.put_enrollment(&quiet, Expect::Absent).await.unwrap();
        let (next, index) = sent(&quiet, "wamid.Q");
        assert!(!store
            .write_enrollment_seeing_held(&next, Expect::Version(1), &index)
            .await
            .unwrap());
        let record = store.message(&acme, "wamid.Q").await.unwrap().unwrap();
        assert_eq!(record.send.map(|s| s.enrollment_id), Some(quiet.id));
    }

    pub async fn runs_are_found_by_contact_key_in_every_sequence_of_the_tenant(
        store: Arc<dyn Store>,
    ) {
        let acme = tenant("acme");
        let key = "+5511987654321".to_string();
        let (first, second) = (Ulid::new(), Ulid::new());
        let a = enrollment(&acme, first, "+5511987654321");
        let b = enrollment(&acme, second, "+5511987654321");
        let indexed = IndexWrites {
            contacts: vec![key.clone()],
            ..IndexWrites::default()
        };
        store
            .write_enrollment(&a, Expect::Absent, &indexed)
            .await
            .unwrap();
        // A run that is not written is not indexed.
        let refused = enrollment(&acme, Ulid::new(), "+5511987654321");
        assert!(matches!(
            store
                .write_enrollment(&refused, Expect::Version(3), &indexed)
                .await,
            Err(WriteError::Conflict)
        ));
        store
            .write_enrollment(
                &b,
                Expect::Absent,
                &IndexWrites {
                    contacts: vec![key.clone(), "+5511900000000".into()],
                    ..IndexWrites::default()
                },
            )
            .await
            .unwrap();
        let mut runs = store.contact_runs(&acme, &key).await.unwrap();
        runs.sort_by_key(|r| r.sequence_id);
        let mut expected = vec![
            ContactRun {
                sequence_id: first,
                phone: "+5511987654321".into(),
            },
            ContactRun {
                sequence_id: second,
                phone: "+5511987654321".into(),
            },
        ];
        expected.sort_by_key(|r| r.sequence_id);
        assert_eq!(runs, expected);
        assert_eq!(
            store.contact_runs(&acme, "+5511900000000").await.unwrap(),
            vec![ContactRun {
                sequence_id: second,
                phone: "+5511987654321".into(),
            }]
        );
        // Indexing the same run again keeps one entry per sequence.
        let mut again = a.clone();
        again.version = 2;
        store
            .write_enrollment(&again, Expect::Version(1), &indexed)
            .await
            .unwrap();
        assert_eq!(store.contact_runs(&acme, &key).await.unwrap().len(), 2);
        assert!(store
            .contact_runs(&tenant("other"), &key)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .contact_runs(&acme, "+5511987654322")
            .await
            .unwrap()
            .is_empty());
    }

    pub async fn enrollments_list_by_status_in_phone_order(store: Arc<dyn Store>) {
        let acme = tenant("acme");
        let sequence_id = Ulid::new();
        for n in 0..9 {
            let mut e = enrollment(&acme, sequence_id, &phone(n));
            match n % 3 {
                0 => {}
                1 => e.end(EnrollmentStatus::Completed, None),
                _ => e.end(EnrollmentStatus::Removed, None),
            }
            store.put_enrollment(&e, Expect::Absent).await.unwrap();
        }
        // Ending a run moves it to its new status.
        let mut moved = store
            .get_enrollment(&acme, sequence_id, &phone(3))
            .await
            .unwrap()
            .unwrap();
        moved.end(EnrollmentStatus::Exited, None);
        moved.version += 1;
        store
            .put_enrollment(&moved, Expect::Version(moved.version - 1))
            .await
            .unwrap();
        let phones = |status: EnrollmentStatus, limit: u32| {
            let store = store.clone();
            let acme = acme.clone();
            async move {
                let mut page = PageRequest::first(limit);
                let mut out = Vec::new();
                loop {
                    let batch = store
                        .list_enrollments(&acme, sequence_id, Some(status), &page)
                        .await
                        .unwrap();
                    assert!(batch.items.iter().all(|e| e.status == status));
                    out.extend(batch.items.iter().map(|e| e.phone().to_string()));
                    match batch.next_cursor {
                        Some(cursor) => page.cursor = Some(cursor),
                        None => return out,
                    }
                }
            }
        };
        assert_eq!(
            phones(EnrollmentStatus::Active, 1).await,
            vec![phone(0), phone(6)]
        );
        assert_eq!(
            phones(EnrollmentStatus::Completed, 2).await,
            vec![phone(1), phone(4), phone(7)]
        );
        assert_eq!(
            phones(EnrollmentStatus::Removed, 50).await,
            vec![phone(2), phone(5), phone(8)]
        );
        assert_eq!(phones(EnrollmentStatus::Exited, 50).await, vec![phone(3)]);
        let all = store
            .list_enrollments(&acme, sequence_id, None, &PageRequest::first(50))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 9);
    }

    /// The link store's contract (SPEC §2 "Links", §3): the in-memory store's semantics.
    pub mod links {
        use super::*;
        use chrono::NaiveDate;
        use ritmo_core::calendar::{Window, WindowSpec};
        use ritmo_core::common::phone::Phone;
        use ritmo_core::links::{
            ClickKind, ClickRecord, Hours, Link, LinkKind, LinkView, LinkWriteError, Member,
            Preview, Rotator, Slug, WhatsAppTarget, WhenClosed,
        };

        fn slug(raw: &str) -> Slug {
            Slug::parse(raw).unwrap()
        }

        /// A human click as the redirect makes it: the counter advanced, the link read.
        async fn click(store: &dyn Links, raw: &str) -> ritmo_core::links::Routing {
            let counter = store.advance(&slug(raw)).await.unwrap().unwrap();
            let mut routing = store.peek(&slug(raw)).await.unwrap().unwrap();
            routing.counter = counter;
            routing
        }

        fn hours() -> Hours {
            let spec: WindowSpec = serde_json::from_value(serde_json::json!({
                "time_zone": "America/Sao_Paulo",
                "days": {"mon": [["09:00", "18:00"]], "sat": [["09:00", "12:00"]]},
                "exceptions": [{"date": "2026-12-25", "ranges": []}]
            }))
            .unwrap();
            Hours::new(Window::from_spec(&spec).unwrap())
        }

        fn link(t: &TenantId, s: &str, kind: LinkKind) -> Link {
            Link {
                id: Ulid::new(),
                tenant: t.clone(),
                slug: slug(s),
                kind,
                hours: None,
                when_closed: WhenClosed::default(),
                preview: Preview::default(),
                created_at: at(0),
                updated_at: at(0),
            }
        }

        fn whatsapp(t: &TenantId, s: &str, n: usize, text: Option<&str>) -> Link {
            link(
                t,
                s,
                LinkKind::WhatsApp(WhatsAppTarget::new(
                    Phone::parse(&phone(n)).unwrap(),
                    text.map(str::to_string),
                )),
            )
        }

        fn rotator(t: &TenantId, s: &str, members: &[(&str, u32)]) -> Link {
            let members = members
                .iter()
                .map(|(m, weight)| Member {
                    link: slug(m),
                    weight: *weight,
                    enabled: true,
                })
                .collect();
            let mut link = link(t, s, LinkKind::Rotator(Rotator::new(members, true, 7)));
            link.hours = Some(hours());
            link.when_closed = WhenClosed::Redirect {
                url: "https://example.com/closed".into(),
            };
            link.preview = Preview {
                title: Some("Minha Loja".into()),
                description: Some("Fale com a gente".into()),
                image_url: None,
            };
            link
        }

        /// The same link, changed: a later update time and the stored id.
        fn replaced(mut link: Link, stored: &Link) -> Link {
            link.id = stored.id;
            link.created_at = stored.created_at;
            link.updated_at = at(5);
            link
        }

        fn view(link: &Link) -> LinkView {
            LinkView::from(link)
        }

        fn locations(routing: &ritmo_core::links::Routing) -> Vec<String> {
            routing
                .members
                .iter()
                .map(|m| m.target.location().to_string())
                .collect()
        }

        pub async fn links_round_trip_and_slugs_are_unique_across_tenants(store: Arc<dyn Links>) {
            let (acme, other) = (tenant("acme"), tenant("other"));
            let mut ana = whatsapp(&acme, "ana", 1, Some("Olá & bem-vindo?\n🎉"));
            ana.hours = Some(hours());
            ana.preview.image_url = Some("https://example.com/a.png".into());
            store.create_link(&ana).await.unwrap();
            let got = store.get_link(&acme, &slug("ana")).await.unwrap().unwrap();
            assert_eq!(view(&got), view(&ana));
            assert_eq!(got.tenant, acme);

            for (t, n) in [(&other, 2), (&acme, 3)] {
                assert!(matches!(
                    store.create_link(&whatsapp(t, "ana", n, None)).await,
                    Err(LinkWriteError::SlugTaken)
                ));
            }
            store
                .create_link(&rotator(&acme, "mystore", &[("ana", 2)]))
                .await
                .unwrap();
            assert!(matches!(
                store
                    .create_link(&rotator(&other, "mystore", &[("ana", 1)]))
                    .await,
                Err(LinkWriteError::SlugTaken)
            ));
            let got = store
                .get_link(&acme, &slug("mystore"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                view(&got),
                view(&rotator(&acme, "mystore", &[("ana", 2)])).with_id(got.id)
            );
        }

        pub async fn rotator_members_must_be_whatsapp_links_of_the_tenant(store: Arc<dyn Links>) {
            let (acme, other) = (tenant("acme"), tenant("other"));
            store
                .create_link(&whatsapp(&acme, "ana", 1, None))
                .await
                .unwrap();
            store
                .create_link(&whatsapp(&other, "bia", 2, None))
                .await
                .unwrap();
            store
                .create_link(&rotator(&acme, "inner", &[("ana", 1)]))
                .await
                .unwrap();
            for missing in ["bia", "nobody", "inner"] {
                let result = store
                    .create_link(&rotator(&acme, "mystore", &[("ana", 1), (missing, 1)]))
                    .await;
                assert!(
                    matches!(&result, Err(LinkWriteError::MemberMissing(m)) if m.as_str() == missing),
                    "{missing}: {result:?}"
                );
            }
            assert!(store
                .get_link(&acme, &slug("mystore"))
                .await
                .unwrap()
                .is_none());
            // A refused rotator left no trace: ana may be deleted.
            store.delete_link(&acme, &slug("inner")).await.unwrap();
            store.delete_link(&acme, &slug("ana")).await.unwrap();
            // A taken slug is answered first.
            store
                .create_link(&whatsapp(&acme, "cai", 3, None))
                .await
                .unwrap();
            assert!(matches!(
                store
                    .create_link(&rotator(&acme, "cai", &[("nobody", 1)]))
                    .await,
                Err(LinkWriteError::SlugTaken)
            ));
        }

        pub async fn replacing_a_member_refreshes_every_rotator_that_uses_it(
            store: Arc<dyn Links>,
        ) {
            let acme = tenant("acme");
            store
                .create_link(&whatsapp(&acme, "ana", 1, Some("Oi")))
                .await
                .unwrap();
            store
                .create_link(&whatsapp(&acme, "bia", 2, None))
                .await
                .unwrap();
            for r in ["loja-a", "loja-b"] {
                store
                    .create_link(&rotator(&acme, r, &[("ana", 1), ("bia", 1)]))
                    .await
                    .unwrap();
                assert_eq!(store.advance(&slug(r)).await.unwrap().unwrap(), 1);
            }
            let stored = store.get_link(&acme, &slug("ana")).await.unwrap().unwrap();
            let mut ana = replaced(whatsapp(&acme, "ana", 9, Some("Olá!")), &stored);
            ana.hours = Some(hours());
            store.replace_link(&ana).await.unwrap();
            assert_eq!(
                view(&store.get_link(&acme, &slug("ana")).await.unwrap().unwrap()),
                view(&ana)
            );
            for r in ["loja-a", "loja-b"] {
                let routing = store.peek(&slug(r)).await.unwrap().unwrap();
                assert_eq!(routing.counter, 1, "{r}: the counter is kept");
                assert_eq!(
                    locations(&routing),
                    [
                        format!("https://wa.me/{}?text=Ol%C3%A1%21", &phone(9)[1..]),
                        format!("https://wa.me/{}", &phone(2)[1..]),
                    ]
                );
                assert!(routing.members[0].hours.is_some());
                assert!(routing.members[1].hours.is_none());
            }
            let routing = store.peek(&slug("ana")).await.unwrap().unwrap();
            assert!(routing.members.is_empty());
            assert_eq!(
                routing.link.whatsapp().unwrap().phone.as_str(),
                phone(9).as_str()
            );
        }

        pub async fn replacing_a_rotator_keeps_its_counter_and_moves_its_members(
            store: Arc<dyn Links>,
        ) {
            let acme = tenant("acme");
            for (s, n) in [("ana", 1), ("bia", 2), ("cai", 3)] {
                store
                    .create_link(&whatsapp(&acme, s, n, None))
                    .await
                    .unwrap();
            }
            let mystore = rotator(&acme, "mystore", &[("ana", 1), ("bia", 1)]);
            store.create_link(&mystore).await.unwrap();
            for expected in 1..=3 {
                let routing = click(&*store, "mystore").await;
                assert_eq!(routing.counter, expected);
            }
            let moved = replaced(
                rotator(&acme, "mystore", &[("cai", 3), ("bia", 1)]),
                &mystore,
            );
            store.replace_link(&moved).await.unwrap();
            let routing = click(&*store, "mystore").await;
            assert_eq!(routing.counter, 4);
            assert_eq!(view(&routing.link), view(&moved));
            assert_eq!(
                locations(&routing),
                [
                    format!("https://wa.me/{}", &phone(3)[1..]),
                    format!("https://wa.me/{}", &phone(2)[1..]),
                ]
            );
            // ana left the rotator, cai joined it.
            store.delete_link(&acme, &slug("ana")).await.unwrap();
            assert!(matches!(
                store.delete_link(&acme, &slug("cai")).await,
                Err(LinkWriteError::InUse(r)) if r == [slug("mystore")]
            ));
            // A member that no longer exists is refused on replace too.
            let broken = replaced(rotator(&acme, "mystore", &[("ana", 1)]), &mystore);
            assert!(matches!(
                store.replace_link(&broken).await,
                Err(LinkWriteError::MemberMissing(m)) if m.as_str() == "ana"
            ));
            assert!(matches!(
                store
                    .replace_link(&replaced(whatsapp(&acme, "nobody", 1, None), &mystore))
                    .await,
                Err(LinkWriteError::NotFound)
            ));
        }

        pub async fn a_link_in_use_is_not_deleted_and_names_its_rotators(store: Arc<dyn Links>) {
            let acme = tenant("acme");
            store
                .create_link(&whatsapp(&acme, "ana", 1, None))
                .await
                .unwrap();
            for r in ["zeta", "alfa"] {
                store
                    .create_link(&rotator(&acme, r, &[("ana", 1)]))
                    .await
                    .unwrap();
            }
            assert!(matches!(
                store.delete_link(&acme, &slug("ana")).await,
                Err(LinkWriteError::InUse(r)) if r == [slug("alfa"), slug("zeta")]
            ));
            store.delete_link(&acme, &slug("zeta")).await.unwrap();
            assert!(matches!(
                store.delete_link(&acme, &slug("ana")).await,
                Err(LinkWriteError::InUse(r)) if r == [slug("alfa")]
            ));
            store.delete_link(&acme, &slug("alfa")).await.unwrap();
            store.delete_link(&acme, &slug("ana")).await.unwrap();
            assert!(store.get_link(&acme, &slug("ana")).await.unwrap().is_none());
            assert!(store.peek(&slug("ana")).await.unwrap().is_none());
            assert!(store.peek(&slug("alfa")).await.unwrap().is_none());
            assert!(matches!(
                store.delete_link(&acme, &slug("ana")).await,
                Err(LinkWriteError::NotFound)
            ));
            // A deleted slug can be taken again, by anyone, and starts from 0.
            store
                .create_link(&whatsapp(&tenant("other"), "ana", 2, None))
                .await
                .unwrap();
            assert_eq!(store.advance(&slug("ana")).await.unwrap().unwrap(), 1);
            let listed = store
                .list_links(&acme, &PageRequest::first(50))
                .await
                .unwrap();
            assert!(listed.items.is_empty());
        }

        pub async fn another_tenant_never_sees_or_changes_a_link(store: Arc<dyn Links>) {
            let (acme, other) = (tenant("acme"), tenant("other"));
            let ana = whatsapp(&acme, "ana", 1, None);
            store.create_link(&ana).await.unwrap();
            store
                .create_link(&whatsapp(&other, "bia", 2, None))
                .await
                .unwrap();
            assert!(store
                .get_link(&other, &slug("ana"))
                .await
                .unwrap()
                .is_none());
            let listed = store
                .list_links(&other, &PageRequest::first(50))
                .await
                .unwrap();
            assert_eq!(
                listed
                    .items
                    .iter()
                    .map(|l| l.slug.as_str())
                    .collect::<Vec<_>>(),
                ["bia"]
            );
            let mut hijack = replaced(whatsapp(&other, "ana", 3, None), &ana);
            hijack.tenant = other.clone();
            assert!(matches!(
                store.replace_link(&hijack).await,
                Err(LinkWriteError::NotFound)
            ));
            assert!(matches!(
                store.delete_link(&other, &slug("ana")).await,
                Err(LinkWriteError::NotFound)
            ));
            assert!(matches!(
                store
                    .create_link(&rotator(&other, "loja", &[("ana", 1)]))
                    .await,
                Err(LinkWriteError::MemberMissing(_))
            ));
            store
                .record_click(&ClickRecord {
                    tenant: acme.clone(),
                    link_id: ana.id,
                    day: at(0).date_naive(),
                    kind: ClickKind::Bot,
                })
                .await
                .unwrap();
            let day = at(0).date_naive();
            assert!(store
                .link_clicks(&other, ana.id, day, day)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                view(&store.get_link(&acme, &slug("ana")).await.unwrap().unwrap()),
                view(&ana)
            );
        }

        pub async fn links_list_in_slug_order_with_cursors(store: Arc<dyn Links>) {
            let (acme, other) = (tenant("acme"), tenant("other"));
            let slugs = ["eva", "ana", "dora", "bia", "cai"];
            for (n, s) in slugs.iter().enumerate() {
                store
                    .create_link(&whatsapp(&acme, s, n, None))
                    .await
                    .unwrap();
            }
            store
                .create_link(&whatsapp(&other, "abe", 9, None))
                .await
                .unwrap();
            let mut seen = Vec::new();
            let mut page = PageRequest::first(2);
            loop {
                let batch = store.list_links(&acme, &page).await.unwrap();
                assert!(batch.items.len() <= 2);
                seen.extend(batch.items.iter().map(|l| l.slug.to_string()));
                match batch.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
            assert_eq!(seen, ["ana", "bia", "cai", "dora", "eva"]);
            // A cursor of another tenant's listing reads nothing of acme's.
            let foreign = store
                .list_links(&acme, &PageRequest::first(1))
                .await
                .unwrap()
                .next_cursor
                .unwrap();
            if let Ok(page) = store
                .list_links(
                    &other,
                    &PageRequest {
                        limit: 50,
                        cursor: Some(foreign),
                    },
                )
                .await
            {
                assert!(page.items.iter().all(|l| l.tenant == other));
            }
        }

        pub async fn clicks_count_from_one_and_peeks_do_not_move_the_counter(
            store: Arc<dyn Links>,
        ) {
            let acme = tenant("acme");
            assert!(store.peek(&slug("nobody")).await.unwrap().is_none());
            for (s, n) in [("ana", 1), ("bia", 2)] {
                store
                    .create_link(&whatsapp(&acme, s, n, Some("Oi")))
                    .await
                    .unwrap();
            }
            let mystore = rotator(&acme, "mystore", &[("bia", 2), ("ana", 1)]);
            store.create_link(&mystore).await.unwrap();
            assert_eq!(
                store.peek(&slug("mystore")).await.unwrap().unwrap().counter,
                0
            );
            for expected in 1..=3 {
                let routing = click(&*store, "mystore").await;
                assert_eq!(routing.counter, expected);
                assert_eq!(routing.link.id, mystore.id);
                assert_eq!(
                    locations(&routing),
                    [
                        format!("https://wa.me/{}?text=Oi", &phone(2)[1..]),
                        format!("https://wa.me/{}?text=Oi", &phone(1)[1..]),
                    ]
                );
            }
            let routing = store.peek(&slug("mystore")).await.unwrap().unwrap();
            assert_eq!(routing.counter, 3);
            assert_eq!(view(&routing.link), view(&mystore));
            // Each link has its own counter.
            assert_eq!(store.advance(&slug("ana")).await.unwrap().unwrap(), 1);
        }

        pub async fn two_hundred_concurrent_clicks_get_counters_1_to_200(store: Arc<dyn Links>) {
            let acme = tenant("acme");
            for (s, n) in [("ana", 1), ("bia", 2), ("cai", 3)] {
                store
                    .create_link(&whatsapp(&acme, s, n, None))
                    .await
                    .unwrap();
            }
            store
                .create_link(&rotator(
                    &acme,
                    "mystore",
                    &[("ana", 1), ("bia", 1), ("cai", 1)],
                ))
                .await
                .unwrap();
            let clicks: Vec<_> = (0..200)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let routing = click(&*store, "mystore").await;
                        assert_eq!(routing.members.len(), 3);
                        routing.counter
                    })
                })
                .collect();
            let mut counters = Vec::new();
            for click in clicks {
                counters.push(click.await.unwrap());
            }
            counters.sort_unstable();
            assert_eq!(counters, (1..=200).collect::<Vec<u64>>());
            assert_eq!(
                store.peek(&slug("mystore")).await.unwrap().unwrap().counter,
                200
            );
        }

        pub async fn clicks_are_counted_per_day_kind_and_member(store: Arc<dyn Links>) {
            let acme = tenant("acme");
            let link_id = Ulid::new();
            let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
            let record = |d: u32, kind: ClickKind| {
                let store = store.clone();
                let acme = acme.clone();
                async move {
                    store
                        .record_click(&ClickRecord {
                            tenant: acme,
                            link_id,
                            day: day(d),
                            kind,
                        })
                        .await
                        .unwrap()
                }
            };
            let human = |m: &str| ClickKind::Human {
                member: Some(slug(m)),
            };
            for _ in 0..3 {
                record(23, human("ana")).await;
            }
            record(23, human("bia")).await;
            record(23, ClickKind::Human { member: None }).await;
            record(23, ClickKind::Bot).await;
            record(21, ClickKind::Closed).await;
            record(21, ClickKind::Bot).await;
            record(25, human("bia")).await;
            record(30, ClickKind::Bot).await;

            let days = store
                .link_clicks(&acme, link_id, day(21), day(25))
                .await
                .unwrap();
            assert_eq!(
                days.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
                [day(21), day(23), day(25)]
            );
            let (_, d21) = &days[0];
            assert_eq!((d21.human, d21.bot, d21.closed), (0, 1, 1));
            assert!(d21.members.is_empty());
            let (_, d23) = &days[1];
            assert_eq!((d23.human, d23.bot, d23.closed), (5, 1, 0));
            assert_eq!(
                d23.members
                    .iter()
                    .map(|(m, c)| (m.as_str(), *c))
                    .collect::<Vec<_>>(),
                [("ana", 3), ("bia", 1)]
            );
            assert_eq!(days[2].1.members[&slug("bia")], 1);
            // One day, and the whole calendar.
            assert_eq!(
                store
                    .link_clicks(&acme, link_id, day(30), day(30))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert_eq!(
                store
                    .link_clicks(&acme, link_id, NaiveDate::MIN, NaiveDate::MAX)
                    .await
                    .unwrap()
                    .len(),
                4
            );
            assert!(store
                .link_clicks(&acme, Ulid::new(), day(1), day(30))
                .await
                .unwrap()
                .is_empty());
        }

        trait WithId {
            fn with_id(self, id: Ulid) -> Self;
        }

        impl WithId for LinkView {
            fn with_id(mut self, id: Ulid) -> Self {
                self.id = id;
                self
            }
        }
    }

    pub mod slots {
        use std::sync::Arc;

        use chrono::{DateTime, TimeDelta, Utc};
        use ritmo_core::delivery::pacing::{Lane, SendSlots};
        use ulid::Ulid;

        /// 16 senders over the instances take `each` slots at once; the instants, sorted.
        async fn take_concurrently(
            instances: &[Arc<dyn SendSlots>],
            channel: Ulid,
            each: usize,
            now: DateTime<Utc>,
        ) -> Vec<DateTime<Utc>> {
            let mut tasks = Vec::new();
            for instance in instances {
                for _ in 0..4 {
                    let instance = instance.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut taken = Vec::new();
                        for _ in 0..each {
                            taken.push(instance.take(Lane::Send, channel, 10, now).await.unwrap());
                        }
                        taken
                    }));
                }
            }
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
            all.sort();
            all
        }

        fn now() -> DateTime<Utc> {
            DateTime::from_timestamp_micros(1_790_000_000_040_000).unwrap()
        }

        pub async fn concurrent_senders_share_a_numbers_slots_one_each_spaced_by_its_rate(
            instances: Vec<Arc<dyn SendSlots>>,
        ) {
            let taken = take_concurrently(&instances, Ulid::new(), 25, now()).await;
            assert_eq!(taken.len(), 16 * 25);
            // 10/s with 10 % headroom: a slot every 110 ms from the first at or after now.
            assert!(taken[0] >= now() && taken[0] - now() < TimeDelta::milliseconds(110));
            for pair in taken.windows(2) {
                assert_eq!(pair[1] - pair[0], TimeDelta::milliseconds(110), "{taken:?}");
            }
        }

        pub async fn a_counter_behind_the_present_starts_at_the_present(
            instances: Vec<Arc<dyn SendSlots>>,
        ) {
            let channel = Ulid::new();
            let first = instances[0]
                .take(Lane::Send, channel, 10, now())
                .await
                .unwrap();
            assert!(first >= now());
            // 0.6 s later, in the same second's counter: the slots in between have passed.
            let later = now() + TimeDelta::milliseconds(600);
            let slot = instances[1]
                .take(Lane::Send, channel, 10, later)
                .await
                .unwrap();
            assert!(
                slot >= later && slot - later < TimeDelta::milliseconds(110),
                "{slot} vs {later}"
            );
            let next = instances[2]
                .take(Lane::Send, channel, 10, later)
                .await
                .unwrap();
            assert_eq!(next - slot, TimeDelta::milliseconds(110));
        }

        pub async fn a_backlog_puts_later_takes_after_it_and_other_numbers_are_unaffected(
            instances: Vec<Arc<dyn SendSlots>>,
        ) {
            let (busy, other) = (Ulid::new(), Ulid::new());
            let taken = take_concurrently(&instances, busy, 10, now()).await;
            let end = *taken.last().unwrap();
            assert!(
                end - now() > TimeDelta::seconds(17),
                "160 slots reach 17.6 s ahead"
            );
            let slot = instances[3]
                .take(Lane::Send, other, 10, now())
                .await
                .unwrap();
            assert!(slot - now() < TimeDelta::milliseconds(110));
            let later = now() + TimeDelta::seconds(2);
            let slot = instances[1]
                .take(Lane::Send, busy, 10, later)
                .await
                .unwrap();
            assert_eq!(slot - end, TimeDelta::milliseconds(110));
        }

        pub async fn planning_far_ahead_leaves_earlier_slots_and_the_send_lane_alone(
            instances: Vec<Arc<dyn SendSlots>>,
        ) {
            let channel = Ulid::new();
            let tomorrow = now() + TimeDelta::days(1);
            let mut planned = Vec::new();
            for i in 0..40 {
                let instance = &instances[i % instances.len()];
                planned.push(
                    instance
                        .take(Lane::Plan, channel, 10, tomorrow)
                        .await
                        .unwrap(),
                );
            }
            planned.sort();
            planned.dedup();
            assert_eq!(planned.len(), 40, "one instant each");
            assert_eq!(
                *planned.last().unwrap() - planned[0],
                TimeDelta::milliseconds(110 * 39)
            );
            for instance in &instances {
                let soon = instance.take(Lane::Plan, channel, 10, now()).await.unwrap();
                assert!(soon - now() < TimeDelta::seconds(1), "{soon} vs {}", now());
            }
            let send = instances[0]
                .take(Lane::Send, channel, 10, tomorrow)
                .await
                .unwrap();
            assert!(send - tomorrow < TimeDelta::milliseconds(110), "{send}");
            let next = instances[1]
                .take(Lane::Plan, channel, 10, tomorrow)
                .await
                .unwrap();
            assert_eq!(next - planned[0], TimeDelta::milliseconds(110 * 40));
        }
    }

    pub mod jobs {
        use std::sync::Arc;

        use ritmo_core::common::page::PageRequest;
        use ritmo_core::common::store::{Expect, WriteError};
        use ritmo_core::enrollments::model::EnrollmentStatus;
        use ritmo_core::jobs::model::{Job, JobKind, JobStatus};
        use ritmo_core::jobs::JobStore;
        use ulid::Ulid;

        use super::super::{at, tenant};

        fn job(t: &str) -> Job {
            Job::new(
                tenant(t),
                Ulid::new(),
                JobKind::ArchiveSequence,
                Ulid::new(),
                EnrollmentStatus::Active,
                at(0),
            )
        }

        pub async fn an_import_job_keeps_its_file_and_its_rows_failures(store: Arc<dyn JobStore>) {
            let mut j = Job::new(
                tenant("acme"),
                Ulid::new(),
                JobKind::ImportContacts,
                Ulid::new(),
                EnrollmentStatus::Active,
                at(0),
            );
            j.file = Some(ritmo_core::jobs::ImportFile {
                bytes: 3_000_000,
                part_bytes: 262_144,
                columns: vec!["phone".into(), "name".into(), "cupom".into()],
                delimiter: b';',
                body_start: 21,
                upload_tag: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
            });
            j.upload_expires_at = Some(at(900));
            j.cursor = Some("1048576".into());
            j.record_row_failure(7, "12345", "phone is not a phone number".into());
            store.put_job(&j, Expect::Absent).await.unwrap();
            let read = store.get_job(&j.tenant, j.id).await.unwrap().unwrap();
            assert_eq!(read, j);
            assert_eq!(
                read.errors_csv(),
                "row,phone,reason\n7,12345,phone is not a phone number\n"
            );
        }

        pub async fn job_writes_are_conditional_on_the_version(store: Arc<dyn JobStore>) {
            let mut j = job("acme");
            store.put_job(&j, Expect::Absent).await.unwrap();
            let mut other = j.clone();
            other.total = 1;
            assert!(matches!(
                store.put_job(&other, Expect::Absent).await,
                Err(WriteError::Conflict)
            ));
            let read = store.get_job(&j.tenant, j.id).await.unwrap().unwrap();
            assert_eq!(read, j);
            // The runner's cursor and counts, under the version it read.
            let expect = Expect::Version(j.version);
            j.version += 1;
            j.status = JobStatus::Running;
            j.cursor = Some("after-200".into());
            j.total = 200;
            j.done = 199;
            j.record_failure(
                "+5511987654321",
                "the store or the scheduler did not answer".into(),
            );
            store.put_job(&j, expect).await.unwrap();
            // A second writer that read the same version loses (a cancel, or a redelivered chunk).
            let mut stale = read.clone();
            stale.version += 1;
            stale.finish(JobStatus::Cancelled, at(1));
            assert!(matches!(
                store.put_job(&stale, Expect::Version(read.version)).await,
                Err(WriteError::Conflict)
            ));
            assert_eq!(store.get_job(&j.tenant, j.id).await.unwrap().unwrap(), j);
            assert!(store
                .get_job(&tenant("globex"), j.id)
                .await
                .unwrap()
                .is_none());
        }

        pub async fn jobs_list_newest_first_per_tenant_with_cursors(store: Arc<dyn JobStore>) {
            let mut ids = Vec::new();
            for _ in 0..5 {
                let j = job("acme");
                store.put_job(&j, Expect::Absent).await.unwrap();
                ids.push(j.id);
                // ULIDs of one millisecond are not ordered by creation.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            store.put_job(&job("globex"), Expect::Absent).await.unwrap();
            ids.reverse();
            let mut listed = Vec::new();
            let mut page = PageRequest::first(2);
            loop {
                let batch = store.list_jobs(&tenant("acme"), &page).await.unwrap();
                assert!(batch.items.len() <= 2);
                listed.extend(batch.items.iter().map(|j| j.id));
                match batch.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(listed, ids);
        }

        pub async fn unfinished_jobs_of_every_tenant_are_found_and_finished_ones_are_not(
            store: Arc<dyn JobStore>,
        ) {
            let queued = job("acme");
            let mut running = job("globex");
            running.status = JobStatus::Running;
            let mut finished = job("acme");
            store.put_job(&queued, Expect::Absent).await.unwrap();
            store.put_job(&running, Expect::Absent).await.unwrap();
            store.put_job(&finished, Expect::Absent).await.unwrap();
            let expect = Expect::Version(finished.version);
            finished.version += 1;
            finished.finish(JobStatus::Succeeded, at(1));
            store.put_job(&finished, expect).await.unwrap();
            let mut found = store.unfinished_jobs(100).await.unwrap();
            found.sort();
            let mut want = vec![
                (queued.tenant.clone(), queued.id),
                (running.tenant.clone(), running.id),
            ];
            want.sort();
            assert_eq!(found, want);
        }
    }
}
