//! A transaction DynamoDB cancels for capacity, on the emulator: the emulator never throttles,
//! so an interceptor answers the first `TransactWriteItems` calls as DynamoDB does when it
//! cancels one (`TransactionCanceledException` with one reason per write), without the request
//! reaching a table. The store must try such a transaction again, never take it for a conflict,
//! and name any other reason. Needs the emulator (`RITMO_TEST_DYNAMODB_ENDPOINT`, set by
//! `infra/test.sh`; `#[ignore]`d without it).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::channels::model::Channel;
use ritmo_core::channels::store::ChannelStore;
use ritmo_core::common::retry::Backoff;
use ritmo_core::common::tenant::TenantId;
use ulid::Ulid;

/// Answers the next `cancels` transactions with a cancellation whose reasons are `codes` (the
/// request is turned into a harmless `ListTables` before it is sent), and counts every
/// transaction tried.
#[derive(Debug)]
struct Cancelling {
    codes: Vec<&'static str>,
    cancels: AtomicUsize,
    tried: AtomicUsize,
    faking: AtomicBool,
}

impl Cancelling {
    fn new(codes: Vec<&'static str>, cancels: usize) -> Arc<Self> {
        Arc::new(Self {
            codes,
            cancels: AtomicUsize::new(cancels),
            tried: AtomicUsize::new(0),
            faking: AtomicBool::new(false),
        })
    }

    fn tried(&self) -> usize {
        self.tried.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
struct Shared(Arc<Cancelling>);

impl Intercept for Shared {
    fn name(&self) -> &'static str {
        "cancel transactions"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request_mut();
        let transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"));
        if !transaction {
            return Ok(());
        }
        self.0.tried.fetch_add(1, Ordering::SeqCst);
        let cancel = self
            .0
            .cancels
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if cancel {
            let headers = request.headers_mut();
            headers.insert("x-amz-target", "DynamoDB_20120810.ListTables");
            headers.insert("content-length", "2");
            *request.body_mut() = "{}".into();
            self.0.faking.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if !self.0.faking.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let reasons: Vec<serde_json::Value> = self
            .0
            .codes
            .iter()
            .map(|code| serde_json::json!({"Code": code, "Message": code}))
            .collect();
        let body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        });
        let response = context.response_mut();
        *response.status_mut() = 400u16.try_into()?;
        response.headers_mut().remove("content-length");
        *response.body_mut() = body.to_string().into();
        Ok(())
    }
}

/// A store on a fresh table of the emulator whose transactions `cancelling` answers, trying a
/// cancelled one again with no wait.
async fn store(cancelling: &Arc<Cancelling>) -> DynamoStore {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(Shared(cancelling.clone()))
            .build(),
    );
    let store = DynamoStore::new(
        client,
        StoreConfig {
            table: format!("ritmo-throttle-{}", Ulid::new().to_string().to_lowercase()),
            cursor_key: CursorKey::random(),
        },
    )
    .with_transaction_backoff(Backoff::immediate(4));
    store.create_table_if_missing().await.unwrap();
    store
}

fn channel() -> Channel {
    common::channel(
        &TenantId::parse("acme").unwrap(),
        &format!("10{}", Ulid::new().random() % 1_000_000_000),
    )
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_transaction_cancelled_for_throttling_is_tried_again_and_commits() {
    let cancelling = Cancelling::new(vec!["None", "ThrottlingError"], 2);
    let store = store(&cancelling).await;
    let channel = channel();
    store.put_channel(&channel).await.unwrap();
    assert_eq!(cancelling.tried(), 3, "two cancelled, the third committed");
    let stored = store
        .get_channel(&channel.tenant, channel.id)
        .await
        .unwrap()
        .expect("the channel was written");
    assert_eq!(stored.phone_number_id, channel.phone_number_id);
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_transaction_throttled_past_its_tries_is_a_retryable_error_not_a_conflict() {
    let cancelling = Cancelling::new(vec!["ProvisionedThroughputExceeded", "None"], usize::MAX);
    let store = store(&cancelling).await;
    let channel = channel();
    let error = store.put_channel(&channel).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(cancelling.tried(), 4, "the store's tries, once each");
    assert!(store
        .get_channel(&channel.tenant, channel.id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_transaction_refused_for_another_reason_is_an_error_naming_it_never_retried() {
    let cancelling = Cancelling::new(vec!["None", "ValidationError"], usize::MAX);
    let store = store(&cancelling).await;
    let error = store.put_channel(&channel()).await.unwrap_err();
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("ValidationError"), "{error}");
    assert_eq!(cancelling.tried(), 1);
}

/// A new active run, which a write with its counters writes in a transaction (the enrollment
/// and its counter shard).
fn enrollment() -> ritmo_core::enrollments::model::Enrollment {
    common::enrollment(
        &TenantId::parse("acme").unwrap(),
        Ulid::new(),
        "+5511987654321",
    )
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn an_enrollment_write_throttled_past_its_tries_is_a_retryable_error_not_a_conflict() {
    use ritmo_core::common::store::{Expect, WriteError};
    use ritmo_core::enrollments::counters::Counts;
    use ritmo_core::enrollments::store::{EnrollmentStore, IndexWrites};
    let cancelling = Cancelling::new(vec!["None", "ThrottlingError"], usize::MAX);
    let store = store(&cancelling).await;
    let e = enrollment();
    let index = IndexWrites {
        counters: Counts::delta(None, &e),
        ..IndexWrites::default()
    };
    match store.write_enrollment(&e, Expect::Absent, &index).await {
        Err(WriteError::Port(error)) => assert!(error.is_retryable(), "{error}"),
        Err(WriteError::Conflict) => panic!("throttling was taken for a conflict"),
        Ok(()) => panic!("the write went through"),
    }
    assert_eq!(cancelling.tried(), 4);
    assert!(store
        .get_enrollment(&e.tenant, e.sequence_id, e.phone())
        .await
        .unwrap()
        .is_none());
}
