//! The store contract: one suite, run against the in-memory store (the reference semantics)
//! and against the DynamoDB store on a DynamoDB-compatible endpoint
//! (`RITMO_TEST_DYNAMODB_ENDPOINT`, set by `infra/test.sh`; without it the DynamoDB half is
//! skipped with a message).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::channel::{Bot, Channel};
use ritmo_core::enrollment::{
    Contact, Enrollment, EnrollmentStatus, HistoryEntry, Outcome, StepState,
};
use ritmo_core::memory::MemoryStore;
use ritmo_core::page::PageRequest;
use ritmo_core::plan::{Delay, DelayUnit};
use ritmo_core::secret::Secret;
use ritmo_core::sequence::{Action, Sequence, SequenceStatus, Step};
use ritmo_core::store::{
    BotStore, ChannelStore, ClaimOutcome, EnrollmentStore, Expect, SequenceStore, StepClaim,
    WriteError,
};
use ritmo_core::tenant::TenantId;
use ulid::Ulid;

/// Everything the contract exercises.
pub trait Store: ChannelStore + BotStore + SequenceStore + EnrollmentStore {}
impl<T: ChannelStore + BotStore + SequenceStore + EnrollmentStore> Store for T {}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A DynamoDB store on a fresh table, or `None` (test skipped) without an endpoint.
async fn dynamodb() -> Option<Arc<dyn Store>> {
    let Ok(endpoint) = std::env::var("RITMO_TEST_DYNAMODB_ENDPOINT") else {
        eprintln!(
            "skipped: RITMO_TEST_DYNAMODB_ENDPOINT is not set (infra/test.sh sets it and starts a local DynamoDB-compatible endpoint)"
        );
        return None;
    };
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
    Some(Arc::new(store))
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::suite::$name(super::memory()).await;
                }
            )*
        }
        mod dynamodb_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(store) = super::dynamodb().await {
                        super::suite::$name(store).await;
                    }
                }
            )*
        }
    };
}

contract!(
    channels_are_stored_per_tenant_and_found_by_phone_number_id,
    a_phone_number_id_follows_its_channel_and_cannot_be_taken,
    bots_are_stored_per_tenant,
    sequence_writes_are_conditional_on_the_version,
    sequences_round_trip_with_steps_and_windows,
    enrolling_again_is_allowed_only_once_the_run_ended,
    enrollment_writes_are_conditional_on_the_version,
    a_step_is_claimed_once_under_fifty_concurrent_claims,
    a_claim_must_match_run_step_generation_and_state,
    another_tenants_ids_are_none_and_its_lists_empty,
    lists_page_with_cursors_without_gaps_or_repeats,
    a_tampered_or_foreign_cursor_never_reads_another_tenants_data,
    enrollments_list_by_status_in_phone_order,
);

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn channel(t: &TenantId, phone_number_id: &str) -> Channel {
    Channel {
        tenant: t.clone(),
        id: Ulid::new(),
        name: "Loja".into(),
        phone_number_id: phone_number_id.into(),
        waba_id: "2098765432".into(),
        display_phone: "+55 11 4000-0000".into(),
        access_token: Secret::new("EAAG-test"),
        messages_per_second: 80,
        created_at: at(0),
        updated_at: at(0),
    }
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
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    }
}

fn enrollment(t: &TenantId, sequence_id: Ulid, phone: &str) -> Enrollment {
    Enrollment {
        tenant: t.clone(),
        sequence_id,
        id: Ulid::new(),
        contact: Contact {
            phone: phone.into(),
            name: Some("Ana".into()),
            time_zone: Some("America/Manaus".into()),
            attributes: [("coupon".to_string(), "X1".to_string())].into(),
        },
        status: EnrollmentStatus::Active,
        exit_reason: None,
        enrolled_at: at(0),
        next_step_id: Some(Ulid::new()),
        next_send_at: Some(at(60)),
        state: StepState::Scheduled {
            generation: 1,
            fire_at: at(60),
        },
        retries: 0,
        last_step_id: None,
        last_sent_at: None,
        history: vec![],
        version: 1,
        updated_at: at(0),
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
                    category: Some(ritmo_core::channel::TemplateCategory::Marketing),
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
        ended
            .history
            .push(HistoryEntry::new(Ulid::new(), at(5), Outcome::Sent));
        ended.version = 2;
        store
            .put_enrollment(&ended, Expect::Version(1))
            .await
            .unwrap();
        // Absent means "none active": a completed run may be replaced by a new one.
        let mut restart = again.clone();
        restart.history = ended.history.clone();
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

    fn claim_of(e: &Enrollment, at: DateTime<Utc>) -> StepClaim {
        StepClaim {
            enrollment_id: e.id,
            step_id: e.next_step_id.unwrap(),
            generation: e.state.generation(),
            at,
        }
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
}
