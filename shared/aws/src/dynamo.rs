//! The DynamoDB store: every storage port on one table (single-table design).
//!
//! Keys (see `docs/data-model.md`):
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` |
//! |---|---|---|---|
//! | channel | `T#<tenant>` | `CH#<id>` | |
//! | phone number id → channel | `PNID#<phone_number_id>` | `PNID` | |
//! | bot | `T#<tenant>` | `BOT#<id>` | |
//! | sequence | `T#<tenant>` | `SEQ#<id>` | |
//! | job (cursor, counts, kept failures) | `T#<tenant>` | `JOB#<id's complement, hex>` (newest first) | while queued or running: `JOBS#OPEN` / `<tenant>#<id>` |
//! | a part of an import's file (256 KiB of its bytes, with `ttl`) | `T#<tenant>#IMPORT#<job>` | `P#<index>` | |
//! | enrollment | `T#<tenant>#SEQ#<sequence>` | `E#<phone>` | `T#<tenant>#SEQ#<sequence>` / `<status>#<phone>`; while active and scheduled or sending, also `gsi2pk` / `gsi2sk` = `DUE#<P|C>#<shard>` / `<since>` (the sparse overdue index) |
//! | a sequence's statistics counters, one shard (`counters::COUNTER_SHARDS` per sequence, by run id) | `T#<tenant>#SEQ#<sequence>#STATS#<shard>` | `STATS` | |
//! | message (send, held statuses) | `T#<tenant>#MSG#<message id>` | `MSG` | |
//! | contact run | `T#<tenant>#C#<contact key>` | `SEQ#<sequence>` | |
//! | link (configuration, members' copies) | `L#<slug>` | `L` | |
//! | link rotation counter | `L#<slug>` | `C` | |
//! | link entry (per-tenant listing) | `T#<tenant>` | `LINK#<slug>` | |
//! | link clicks of a day, one kind (and member), one shard | `T#<tenant>#LINK#<link id>` | `D#<yyyy-mm-dd>#<H|B|X|M#member>#<shard>` | |
//! | a number's send-slot counter (about one second, with `ttl`) | `SLOTS#<channel>#<rate>` | `B#<bucket>` | |
//! | a number's send-slot frontier (with `ttl`) | `SLOTS#<channel>#<rate>` | `FRONTIER` | |
//!
//! Every item holds the domain struct as native DynamoDB attributes (`serde_dynamo`), so
//! conditions and updates name domain fields (`version`, `status`, `state.generation`)
//! directly. Invariants are condition expressions, never read-then-write.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use ritmo_core::channels::model::{Bot, Channel};
use ritmo_core::channels::store::{BotStore, ChannelStore};
use ritmo_core::common::page::{Page, PageRequest};
use ritmo_core::common::store::{Expect, WriteError};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::enrollments::model::StatusUpdate;
use ritmo_core::enrollments::model::{Enrollment, EnrollmentStatus, StepState};
use ritmo_core::enrollments::store::{
    ClaimOutcome, ContactRun, EnrollmentStore, IndexWrites, MessageRecord, StepClaim,
};
use ritmo_core::sequences::model::Sequence;
use ritmo_core::sequences::store::SequenceStore;
use ritmo_core::PortError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use ulid::Ulid;

use crate::config::StoreConfig;
use crate::cursor::{CursorKey, Position};

mod channels;
mod counters;
mod enrollments;
mod imports;
mod index;
mod jobs;
mod links;
mod sequences;
mod slots;
pub mod transact;

type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
/// The overdue index: only active runs with a planned or claimed step have its keys.
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
/// Partitions of the overdue index per kind, so that its writes spread: a send moves its run
/// from the planned to the claimed partition and back (about 4 index writes), so at 1,000
/// sends/s a partition value takes about 4,000 ÷ 32 = 125 writes/s, far below DynamoDB's 1,000
/// per partition. The reconciler queries every shard below this, so entries written under a
/// smaller count (8 before) are still found.
pub const DUE_SHARDS: u32 = 32;
/// The item's type, for people reading the table.
pub const KIND: &str = "kind";
/// Epoch seconds after which DynamoDB deletes the item (short-lived items only).
pub const TTL: &str = "ttl";

/// How often a transaction whose condition failed (a concurrent change) is read and tried
/// again. Contention and throttling are retried inside `transact` itself.
const TRANSACTION_RETRIES: usize = 8;

/// Key construction: the only place that knows the key scheme.
pub mod keys {
    use ritmo_core::common::tenant::TenantId;
    use ulid::Ulid;

    pub fn tenant(tenant: &TenantId) -> String {
        format!("T#{tenant}")
    }

    pub fn channel(id: Ulid) -> String {
        format!("CH#{id}")
    }

    /// gsi1 partition of a WhatsApp Business account's channels.
    pub fn waba(waba_id: &str) -> String {
        format!("WABA#{waba_id}")
    }

    pub fn bot(id: Ulid) -> String {
        format!("BOT#{id}")
    }

    pub fn sequence(id: Ulid) -> String {
        format!("SEQ#{id}")
    }

    /// A job, under its tenant: the id's complement, so that a forward `Query` lists the
    /// newest first.
    pub fn job(id: Ulid) -> String {
        format!("JOB#{:032x}", u128::MAX - id.0)
    }

    /// The parts of an import's file.
    pub fn import_file(tenant: &TenantId, job_id: Ulid) -> String {
        format!("T#{tenant}#IMPORT#{job_id}")
    }

    /// One part of an import's file, by its index.
    pub fn import_part(index: u32) -> String {
        format!("P#{index:06}")
    }

    /// The gsi1 partition of every unfinished job (a runner starting up reads it).
    pub const OPEN_JOBS: &str = "JOBS#OPEN";

    /// A job's gsi1 sort key while it is unfinished.
    pub fn open_job(tenant: &TenantId, id: Ulid) -> String {
        format!("{tenant}#{id}")
    }

    /// The partition of one sequence's enrollments.
    pub fn enrollments(tenant: &TenantId, sequence_id: Ulid) -> String {
        format!("T#{tenant}#SEQ#{sequence_id}")
    }

    pub fn enrollment(phone: &str) -> String {
        format!("E#{phone}")
    }

    /// Where one phone's history entries are, under its sequence's enrollments partition.
    pub fn history_of(phone: &str) -> String {
        format!("H#{phone}#")
    }

    /// One history entry: by phone, then run, then step (ULIDs sort by time).
    pub fn history_entry(phone: &str, enrollment_id: Ulid, step_id: Ulid) -> String {
        format!("H#{phone}#{enrollment_id}#{step_id}")
    }

    /// One shard of a sequence's statistics counters: a partition of its own, so that the
    /// shards' writes spread.
    pub fn sequence_counters(tenant: &TenantId, sequence_id: Ulid, shard: u32) -> String {
        format!("T#{tenant}#SEQ#{sequence_id}#STATS#{shard}")
    }

    pub const COUNTERS_SK: &str = "STATS";

    /// The counter shard a run writes to: from the random part of its id.
    pub fn counter_shard(enrollment_id: Ulid, shards: u32) -> u32 {
        (enrollment_id.random() % u128::from(shards)) as u32
    }

    /// The overdue index's partition of a run: what it waits on, and a shard of its key.
    pub fn due_partition(pending: ritmo_core::enrollments::model::Pending, shard: u32) -> String {
        let kind = match pending {
            ritmo_core::enrollments::model::Pending::Planned => "P",
            ritmo_core::enrollments::model::Pending::Claimed => "C",
        };
        format!("DUE#{kind}#{shard}")
    }

    /// The run's shard of the overdue index (FNV-1a of its keys: stable across builds).
    pub fn due_shard(pk: &str, sk: &str) -> u32 {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in pk.bytes().chain(sk.bytes()) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        hash % super::DUE_SHARDS
    }

    /// The overdue index's sort key: the instant to the nanosecond (exactly the enrollment's,
    /// which the reconciler compares it with), fixed width, so that text order is time order.
    pub fn due_sort(since: chrono::DateTime<chrono::Utc>) -> String {
        since.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    /// The enrollment's sort key on `gsi1`: by status, then phone.
    pub fn enrollment_by_status(status: &str, phone: &str) -> String {
        format!("{status}#{phone}")
    }

    /// A message id of the tenant: its send (message index) and held statuses.
    pub fn message(tenant: &TenantId, message_id: &str) -> String {
        format!("T#{tenant}#MSG#{message_id}")
    }

    pub const MESSAGE_SK: &str = "MSG";

    /// The partition of one contact's runs (contact index), by contact key (E.164).
    pub fn contact(tenant: &TenantId, contact_key: &str) -> String {
        format!("T#{tenant}#C#{contact_key}")
    }

    pub fn phone_number_id(phone_number_id: &str) -> String {
        format!("PNID#{phone_number_id}")
    }

    pub const PHONE_NUMBER_ID_SK: &str = "PNID";

    /// A link's item: global by slug (slugs are unique across tenants), holding its tenant.
    pub fn link(slug: &str) -> String {
        format!("L#{slug}")
    }

    pub const LINK_SK: &str = "L";
    /// The rotation counter's item, beside the link's configuration.
    pub const COUNTER_SK: &str = "C";

    /// The sort key of a link's entry in its tenant's partition (the per-tenant listing).
    pub fn link_entry(slug: &str) -> String {
        format!("LINK#{slug}")
    }

    pub const LINK_ENTRY_PREFIX: &str = "LINK#";

    /// The partition of one link's per-day click statistics.
    pub fn link_clicks(tenant: &TenantId, link_id: Ulid) -> String {
        format!("T#{tenant}#LINK#{link_id}")
    }

    /// A day's statistics item: `D#yyyy-mm-dd`, so that sort-key order is date order.
    /// A number's slot counters of one lane, per rate (a new rate starts a new lattice).
    pub fn send_slots(
        lane: ritmo_core::delivery::pacing::Lane,
        channel: Ulid,
        messages_per_second: u32,
    ) -> String {
        let lane = match lane {
            ritmo_core::delivery::pacing::Lane::Send => "SLOTS",
            ritmo_core::delivery::pacing::Lane::Plan => "PLAN",
        };
        format!("{lane}#{channel}#{messages_per_second}")
    }

    /// The lattice's latest run of full buckets.
    pub fn slot_frontier() -> String {
        "FRONTIER".to_string()
    }

    /// The counter of slots `[bucket × len, (bucket + 1) × len)`.
    pub fn slot_bucket(bucket: i64) -> String {
        format!("B#{bucket}")
    }

    pub fn link_day(day: chrono::NaiveDate) -> String {
        format!("D#{}", day.format("%Y-%m-%d"))
    }
}

/// Every Ritmo store port on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    cursors: CursorKey,
    /// Per slot lattice, what this instance has seen of it (hints only).
    slot_hints: std::sync::Arc<std::sync::Mutex<HashMap<String, slots::LatticeHints>>>,
    /// Seals access tokens and bot secrets in their items (`None`: stored as given).
    secrets: Option<std::sync::Arc<dyn crate::secrets::SecretCipher>>,
    /// How a transaction cancelled for contention or capacity is tried again.
    transaction_backoff: ritmo_core::common::retry::Backoff,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn mapping_error(error: impl std::error::Error + Send + Sync + 'static) -> PortError {
    PortError::with_source("could not map a DynamoDB item", error)
}

/// The domain value as attributes, plus keys and kind.
fn to_item<T: Serialize>(
    value: &T,
    kind: &str,
    keys: Vec<(&str, String)>,
) -> Result<Item, PortError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(mapping_error)?;
    item.insert(KIND.into(), s(kind));
    for (name, value) in keys {
        item.insert(name.into(), s(value));
    }
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, PortError> {
    serde_dynamo::from_item(item).map_err(mapping_error)
}

fn value<T: Serialize>(value: &T) -> Result<AttributeValue, PortError> {
    serde_dynamo::to_attribute_value(value).map_err(mapping_error)
}

fn string_attribute(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

/// An SDK failure as a port error, with the SDK error kept as its source; throttling that
/// outlasted the SDK's retries is a retryable one (see [`crate::sdk::port_error`]).
fn sdk_error<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> PortError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |error| crate::sdk::port_error(context, error)
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> PortError {
    PortError::with_source("could not build a DynamoDB request", error)
}

/// What `Expect::Absent` means for an item type.
#[derive(Clone, Copy)]
enum Absent {
    /// There is no item.
    NoItem,
    /// There is no item, or one that is not active (a contact enrolled again).
    NoActiveItem,
}

/// One page of a `Query`: a partition, a sort-key prefix, and the table or `gsi1`.
struct Listing {
    pk: String,
    prefix: String,
    on_gsi1: bool,
}

impl Listing {
    /// What a cursor is bound to: index, partition and prefix.
    fn scope(&self) -> String {
        let index = if self.on_gsi1 { GSI1 } else { "table" };
        format!("{index}|{}|{}", self.pk, self.prefix)
    }

    fn start_key(&self, position: Position) -> Option<Item> {
        if self.on_gsi1 {
            // Items on gsi1 share the table partition key (`gsi1pk` = `pk`).
            let index_sk = position
                .index_sk
                .filter(|sk| sk.starts_with(&self.prefix))?;
            Some(HashMap::from([
                (PK.to_string(), s(self.pk.clone())),
                (SK.to_string(), s(position.sk)),
                (GSI1PK.to_string(), s(self.pk.clone())),
                (GSI1SK.to_string(), s(index_sk)),
            ]))
        } else {
            position
                .sk
                .starts_with(&self.prefix)
                .then(|| key(self.pk.clone(), position.sk))
        }
    }

    fn position(&self, item: &Item) -> Option<Position> {
        Some(Position {
            sk: string_attribute(item, SK)?,
            index_sk: if self.on_gsi1 {
                Some(string_attribute(item, GSI1SK)?)
            } else {
                None
            },
        })
    }
}

/// The items `found` (by table key) behind the index entries `entries`, in the entries' order:
/// an entry whose item is gone, or whose item's `gsi1` keys are no longer the entry's, names
/// none.
fn current_items(entries: &[Item], mut found: HashMap<(String, String), Item>) -> Vec<Item> {
    entries
        .iter()
        .filter_map(|entry| {
            let key = (string_attribute(entry, PK)?, string_attribute(entry, SK)?);
            let item = found.remove(&key)?;
            let same = |name: &str| item.get(name) == entry.get(name);
            (same(GSI1PK) && same(GSI1SK)).then_some(item)
        })
        .collect()
}

/// DynamoDB's limit of requests in one `BatchWriteItem`.
const MAX_BATCH_WRITES: usize = 25;

/// DynamoDB's limit of keys in one `BatchGetItem`.
const MAX_BATCH_READS: usize = 100;

/// How many times keys a `BatchGetItem` left unprocessed are asked for again.
const BATCH_READ_TRIES: u32 = 5;

impl DynamoStore {
    /// Deletes the items `keys` name, [`MAX_BATCH_WRITES`] per `BatchWriteItem`, sending
    /// again what DynamoDB leaves unprocessed (deleting an absent item changes nothing).
    async fn batch_delete(&self, keys: Vec<Item>, context: &'static str) -> Result<(), PortError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let deletes = keys
            .into_iter()
            .map(|key| {
                let request = DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().delete_request(request).build())
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        for chunk in deletes.chunks(MAX_BATCH_WRITES) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(sdk_error(context))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        Ok(())
    }

    pub fn new(client: Client, config: StoreConfig) -> Self {
        Self {
            client,
            table: config.table,
            cursors: config.cursor_key,
            slot_hints: Default::default(),
            secrets: None,
            transaction_backoff: transact::TRANSACTION_BACKOFF,
        }
    }

    /// The same store, trying a transaction cancelled for contention or capacity again with
    /// `backoff` instead of [`transact::TRANSACTION_BACKOFF`] (tests: no wait).
    pub fn with_transaction_backoff(mut self, backoff: ritmo_core::common::retry::Backoff) -> Self {
        self.transaction_backoff = backoff;
        self
    }

    /// Seals channels' access tokens and bots' secrets with `cipher` (see [`crate::secrets`]).
    pub fn with_secrets(
        mut self,
        cipher: std::sync::Arc<dyn crate::secrets::SecretCipher>,
    ) -> Self {
        self.secrets = Some(cipher);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (keys, `gsi1`, on-demand billing) unless it exists, and waits until it
    /// is active. Answers whether it created it. Production tables come from `template.yaml`.
    pub async fn create_table_if_missing(&self) -> Result<bool, PortError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key_element = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let gsi1 = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key_element(GSI1PK, KeyType::Hash)?)
            .key_schema(key_element(GSI1SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        let gsi2 = GlobalSecondaryIndex::builder()
            .index_name(GSI2)
            .key_schema(key_element(GSI2PK, KeyType::Hash)?)
            .key_schema(key_element(GSI2SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(PK)?)
            .attribute_definitions(attribute(SK)?)
            .attribute_definitions(attribute(GSI1PK)?)
            .attribute_definitions(attribute(GSI1SK)?)
            .attribute_definitions(attribute(GSI2PK)?)
            .attribute_definitions(attribute(GSI2SK)?)
            .key_schema(key_element(PK, KeyType::Hash)?)
            .key_schema(key_element(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi1)
            .global_secondary_indexes(gsi2)
            .send()
            .await;
        let created = match created {
            Ok(_) => true,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                false
            }
            Err(error) => return Err(sdk_error("could not create the DynamoDB table")(error)),
        };
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(sdk_error("could not describe the DynamoDB table"))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(created);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(PortError::new(format!(
            "DynamoDB table {} did not become active",
            self.table
        )))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("DynamoDB GetItem failed"))?;
        out.item.map(from_item).transpose()
    }

    /// Puts an item unconditionally.
    async fn put(&self, item: Item) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_error("DynamoDB PutItem failed"))?;
        Ok(())
    }

    /// Deletes an item; answers whether there was one.
    async fn delete(&self, pk: String, sk: String) -> Result<bool, PortError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error("DynamoDB DeleteItem failed"))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Puts `written` if the stored item matches `expect`. A failed condition whose stored item
    /// is exactly `written` is success: an SDK retry of a write whose response was lost.
    async fn put_expecting<T>(
        &self,
        written: &T,
        item: Item,
        expect: Expect,
        absent: Absent,
    ) -> Result<(), WriteError>
    where
        T: DeserializeOwned + PartialEq,
    {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match (expect, absent) {
            (Expect::Absent, Absent::NoItem) => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            (Expect::Absent, Absent::NoActiveItem) => request
                .condition_expression("attribute_not_exists(#pk) OR #status <> :active")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s(EnrollmentStatus::Active.as_str())),
            (Expect::Version(version), _) => request
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                let Some(failed) = error
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed) => Some(failed),
                        _ => None,
                    })
                else {
                    return Err(WriteError::Port(sdk_error("DynamoDB PutItem failed")(error)));
                };
                let stored = failed.item().cloned().map(from_item::<T>).transpose()?;
                if stored.as_ref() == Some(written) {
                    Ok(())
                } else {
                    Err(WriteError::Conflict)
                }
            }
        }
    }

    /// The table's items behind `gsi1` entries (the index holds keys only), in the entries'
    /// order, read consistently with `BatchGetItem` ([`MAX_BATCH_READS`] at a time). An item
    /// gone since, or whose `gsi1` keys moved since (a run whose status changed), is left out:
    /// the index is eventually consistent, the table is not.
    async fn indexed_items(
        &self,
        entries: Vec<Item>,
        context: &'static str,
    ) -> Result<Vec<Item>, PortError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        for chunk in entries.chunks(MAX_BATCH_READS) {
            let mut wanted = KeysAndAttributes::builder().consistent_read(true);
            for entry in chunk {
                let (Some(pk), Some(sk)) =
                    (string_attribute(entry, PK), string_attribute(entry, SK))
                else {
                    return Err(PortError::new("a gsi1 entry without the table's keys"));
                };
                wanted = wanted.keys(key(pk, sk));
            }
            let mut request =
                HashMap::from([(self.table.clone(), wanted.build().map_err(build_error)?)]);
            let mut tries = 0;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(sdk_error("DynamoDB BatchGetItem (items of gsi1) failed"))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let (Some(pk), Some(sk)) =
                        (string_attribute(&item, PK), string_attribute(&item, SK))
                    {
                        found.insert((pk, sk), item);
                    }
                }
                match out.unprocessed_keys.filter(|rest| !rest.is_empty()) {
                    Some(rest) if tries < BATCH_READ_TRIES => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << tries)).await;
                        request = rest;
                    }
                    Some(_) => {
                        tracing::warn!(context, "BatchGetItem left keys unprocessed");
                        return Err(PortError::retryable(
                            "DynamoDB BatchGetItem (items of gsi1) left keys unprocessed",
                        ));
                    }
                    None => break,
                }
            }
        }
        Ok(current_items(&entries, found))
    }

    /// One page of `listing`, in sort-key order. A cursor that was not issued for this very
    /// listing (altered, or another tenant's) reads as the end of the list.
    async fn list<T: DeserializeOwned>(
        &self,
        listing: Listing,
        page: &PageRequest,
    ) -> Result<Page<T>, PortError> {
        let scope = listing.scope();
        let mut start = match &page.cursor {
            None => None,
            Some(cursor) => match self
                .cursors
                .decode(&scope, cursor)
                .and_then(|p| listing.start_key(p))
            {
                Some(start) => Some(start),
                None => {
                    tracing::warn!("refused a pagination cursor issued for another listing");
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let limit = page.limit as usize;
        // One item more than asked tells whether another page follows.
        let want = limit + 1;
        let (pk_name, sk_name) = if listing.on_gsi1 {
            (GSI1PK, GSI1SK)
        } else {
            (PK, SK)
        };
        let mut items: Vec<Item> = Vec::new();
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(listing.pk.clone()))
                .expression_attribute_values(":prefix", s(listing.prefix.clone()))
                .limit((want - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            query = if listing.on_gsi1 {
                query.index_name(GSI1)
            } else {
                query.consistent_read(true)
            };
            let out = query
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query failed"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if items.len() < want && !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items
                .last()
                .and_then(|item| listing.position(item))
                .map(|position| self.cursors.encode(&scope, &position))
        } else {
            None
        };
        if listing.on_gsi1 {
            items = self.indexed_items(items, "listing").await?;
        }
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sk: &str, status: &str) -> Item {
        HashMap::from([
            (PK.to_string(), s("T#acme#SEQ#1")),
            (SK.to_string(), s(sk)),
            (GSI1PK.to_string(), s("T#acme#SEQ#1")),
            (GSI1SK.to_string(), s(format!("{status}#{sk}"))),
        ])
    }

    fn stored(sk: &str, status: &str) -> ((String, String), Item) {
        let mut item = entry(sk, status);
        item.insert("status".into(), s(status));
        (("T#acme#SEQ#1".to_string(), sk.to_string()), item)
    }

    #[test]
    fn the_items_behind_index_entries_keep_the_entries_order() {
        let entries = [entry("E#2", "active"), entry("E#1", "active")];
        let found = HashMap::from([stored("E#1", "active"), stored("E#2", "active")]);
        let sks: Vec<_> = current_items(&entries, found)
            .iter()
            .map(|item| string_attribute(item, SK).unwrap())
            .collect();
        assert_eq!(sks, ["E#2", "E#1"]);
    }

    #[test]
    fn an_item_gone_or_moved_since_its_index_entry_was_read_is_left_out() {
        let entries = [
            entry("E#1", "active"),
            entry("E#2", "active"),
            entry("E#3", "active"),
        ];
        // E#2 ended meanwhile (its gsi1sk is `exited#…` now); E#3 was deleted.
        let found = HashMap::from([stored("E#1", "active"), stored("E#2", "exited")]);
        let items = current_items(&entries, found);
        assert_eq!(items.len(), 1);
        assert_eq!(string_attribute(&items[0], SK).as_deref(), Some("E#1"));
        assert_eq!(
            string_attribute(&items[0], "status").as_deref(),
            Some("active")
        );
    }

    #[test]
    fn an_item_the_index_holds_no_more_is_left_out() {
        // A job that finished drops its gsi1 keys (the open-jobs partition is sparse).
        let mut finished = stored("JOB#1", "open");
        finished.1.remove(GSI1PK);
        finished.1.remove(GSI1SK);
        let found = HashMap::from([finished]);
        assert!(current_items(&[entry("JOB#1", "open")], found).is_empty());
    }
}
