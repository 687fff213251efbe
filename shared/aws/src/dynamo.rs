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
//! | enrollment | `T#<tenant>#SEQ#<sequence>` | `E#<phone>` | `T#<tenant>#SEQ#<sequence>` / `<status>#<phone>` |
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
use ritmo_core::delivery::inbound::StatusUpdate;
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

mod index;
mod links;
mod slots;

type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
/// The item's type, for people reading the table.
pub const KIND: &str = "kind";
/// Epoch seconds after which DynamoDB deletes the item (short-lived items only).
pub const TTL: &str = "ttl";

/// How often a transaction that lost a race is tried again.
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

    /// The partition of one sequence's enrollments.
    pub fn enrollments(tenant: &TenantId, sequence_id: Ulid) -> String {
        format!("T#{tenant}#SEQ#{sequence_id}")
    }

    pub fn enrollment(phone: &str) -> String {
        format!("E#{phone}")
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
    /// A number's send-slot counters, per rate (a new rate starts a new lattice).
    pub fn send_slots(channel: Ulid, messages_per_second: u32) -> String {
        format!("SLOTS#{channel}#{messages_per_second}")
    }

    /// The number's first bucket that may not be full.
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
    /// Per number, the furthest send-slot bucket this instance has seen full (a hint only).
    slot_hints: std::sync::Arc<std::sync::Mutex<HashMap<String, i64>>>,
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

/// An SDK failure as a port error, with the SDK error kept as its source.
fn sdk_error<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> PortError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |error| PortError::with_source(context, error)
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

impl DynamoStore {
    pub fn new(client: Client, config: StoreConfig) -> Self {
        Self {
            client,
            table: config.table,
            cursors: config.cursor_key,
            slot_hints: Default::default(),
        }
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
                    .projection_type(ProjectionType::All)
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
            .key_schema(key_element(PK, KeyType::Hash)?)
            .key_schema(key_element(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi1)
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
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    /// Who owns a phone number id: (tenant, channel id).
    async fn phone_number_owner(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<(TenantId, Ulid)>, PortError> {
        #[derive(serde::Deserialize)]
        struct Pointer {
            tenant: TenantId,
            channel_id: Ulid,
        }
        let pointer: Option<Pointer> = self
            .get(
                keys::phone_number_id(phone_number_id),
                keys::PHONE_NUMBER_ID_SK.into(),
            )
            .await?;
        Ok(pointer.map(|p| (p.tenant, p.channel_id)))
    }

    fn pointer_put(&self, channel: &Channel) -> Result<TransactWriteItem, PortError> {
        let item = HashMap::from([
            (
                PK.to_string(),
                s(keys::phone_number_id(&channel.phone_number_id)),
            ),
            (SK.to_string(), s(keys::PHONE_NUMBER_ID_SK)),
            (KIND.to_string(), s("phone_number_id")),
            ("tenant".to_string(), s(channel.tenant.as_str())),
            ("channel_id".to_string(), s(channel.id.to_string())),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#tenant = :tenant AND #channel = :channel)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#channel", "channel_id")
            .expression_attribute_values(":tenant", s(channel.tenant.as_str()))
            .expression_attribute_values(":channel", s(channel.id.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn pointer_delete(&self, channel: &Channel) -> Result<TransactWriteItem, PortError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::phone_number_id(&channel.phone_number_id),
                keys::PHONE_NUMBER_ID_SK.into(),
            )))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#tenant = :tenant AND #channel = :channel)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#channel", "channel_id")
            .expression_attribute_values(":tenant", s(channel.tenant.as_str()))
            .expression_attribute_values(":channel", s(channel.id.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Runs a transaction; `Ok(false)` when a condition failed (the caller reads again).
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<bool, PortError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(sdk_error("DynamoDB TransactWriteItems failed")(error)),
        }
    }
}

#[async_trait]
impl ChannelStore for DynamoStore {
    /// Writes the channel and its phone-number-id pointer in one transaction, moving the pointer
    /// when the number changed. A number that another channel holds is refused.
    async fn put_channel(&self, channel: &Channel) -> Result<(), PortError> {
        let pk = keys::tenant(&channel.tenant);
        let sk = keys::channel(channel.id);
        for _ in 0..TRANSACTION_RETRIES {
            let current: Option<Channel> = self.get(pk.clone(), sk.clone()).await?;
            // The channel is also on gsi1 under its WhatsApp Business account, for template
            // status webhooks (which name the account, not a number).
            let item = to_item(
                channel,
                "channel",
                vec![
                    (PK, pk.clone()),
                    (SK, sk.clone()),
                    (GSI1PK, keys::waba(&channel.waba_id)),
                    (
                        GSI1SK,
                        format!(
                            "{}#{}",
                            keys::tenant(&channel.tenant),
                            keys::channel(channel.id)
                        ),
                    ),
                ],
            )?;
            let put = Put::builder().table_name(&self.table).set_item(Some(item));
            let put = match &current {
                None => put
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK),
                Some(old) => put
                    .condition_expression("#number = :number")
                    .expression_attribute_names("#number", "phone_number_id")
                    .expression_attribute_values(":number", s(old.phone_number_id.clone())),
            };
            let mut writes = vec![
                TransactWriteItem::builder()
                    .put(put.build().map_err(build_error)?)
                    .build(),
                self.pointer_put(channel)?,
            ];
            if let Some(old) = current.filter(|o| o.phone_number_id != channel.phone_number_id) {
                writes.push(self.pointer_delete(&old)?);
            }
            if self.transact(writes).await? {
                return Ok(());
            }
            match self.phone_number_owner(&channel.phone_number_id).await? {
                Some(owner) if owner != (channel.tenant.clone(), channel.id) => {
                    return Err(PortError::new(format!(
                        "phone_number_id {} belongs to another channel",
                        channel.phone_number_id
                    )))
                }
                _ => continue,
            }
        }
        Err(PortError::new("the channel kept changing concurrently"))
    }

    async fn get_channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, PortError> {
        self.get(keys::tenant(tenant), keys::channel(id)).await
    }

    async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, PortError> {
        self.list(
            Listing {
                pk: keys::tenant(tenant),
                prefix: "CH#".into(),
                on_gsi1: false,
            },
            page,
        )
        .await
    }

    async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        for _ in 0..TRANSACTION_RETRIES {
            let Some(current) = self.get_channel(tenant, id).await? else {
                return Ok(false);
            };
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::tenant(tenant), keys::channel(id))))
                .condition_expression("#number = :number")
                .expression_attribute_names("#number", "phone_number_id")
                .expression_attribute_values(":number", s(current.phone_number_id.clone()))
                .build()
                .map_err(build_error)?;
            let writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.pointer_delete(&current)?,
            ];
            if self.transact(writes).await? {
                return Ok(true);
            }
        }
        Err(PortError::new("the channel kept changing concurrently"))
    }

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>, PortError> {
        let mut channels = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(keys::waba(waba_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (channels of an account) failed"))?;
            for item in output.items.unwrap_or_default() {
                channels.push(from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(channels),
            }
        }
    }

    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Channel>, PortError> {
        let Some((tenant, id)) = self.phone_number_owner(phone_number_id).await? else {
            return Ok(None);
        };
        Ok(self
            .get_channel(&tenant, id)
            .await?
            .filter(|c| c.phone_number_id == phone_number_id))
    }
}

#[async_trait]
impl BotStore for DynamoStore {
    async fn put_bot(&self, bot: &Bot) -> Result<(), PortError> {
        self.put(to_item(
            bot,
            "bot",
            vec![(PK, keys::tenant(&bot.tenant)), (SK, keys::bot(bot.id))],
        )?)
        .await
    }

    async fn get_bot(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Bot>, PortError> {
        self.get(keys::tenant(tenant), keys::bot(id)).await
    }

    async fn list_bots(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Bot>, PortError> {
        self.list(
            Listing {
                pk: keys::tenant(tenant),
                prefix: "BOT#".into(),
                on_gsi1: false,
            },
            page,
        )
        .await
    }

    async fn delete_bot(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        self.delete(keys::tenant(tenant), keys::bot(id)).await
    }
}

#[async_trait]
impl SequenceStore for DynamoStore {
    async fn put_sequence(&self, sequence: &Sequence, expect: Expect) -> Result<(), WriteError> {
        let item = to_item(
            sequence,
            "sequence",
            vec![
                (PK, keys::tenant(&sequence.tenant)),
                (SK, keys::sequence(sequence.id)),
            ],
        )?;
        self.put_expecting(sequence, item, expect, Absent::NoItem)
            .await
    }

    async fn get_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Option<Sequence>, PortError> {
        self.get(keys::tenant(tenant), keys::sequence(id)).await
    }

    async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Sequence>, PortError> {
        self.list(
            Listing {
                pk: keys::tenant(tenant),
                prefix: "SEQ#".into(),
                on_gsi1: false,
            },
            page,
        )
        .await
    }
}

#[async_trait]
impl EnrollmentStore for DynamoStore {
    async fn get_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
    ) -> Result<Option<Enrollment>, PortError> {
        self.get(
            keys::enrollments(tenant, sequence_id),
            keys::enrollment(phone),
        )
        .await
    }

    async fn write_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<(), WriteError> {
        let pk = keys::enrollments(&enrollment.tenant, enrollment.sequence_id);
        let item = to_item(
            enrollment,
            "enrollment",
            vec![
                (PK, pk.clone()),
                (SK, keys::enrollment(enrollment.phone())),
                (GSI1PK, pk),
                (
                    GSI1SK,
                    keys::enrollment_by_status(enrollment.status.as_str(), enrollment.phone()),
                ),
            ],
        )?;
        if index.is_empty() {
            return self
                .put_expecting(enrollment, item, expect, Absent::NoActiveItem)
                .await;
        }
        self.write_indexed(enrollment, item, expect, index).await
    }

    async fn message(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, PortError> {
        self.read_message(tenant, message_id).await
    }

    async fn hold_status(
        &self,
        tenant: &TenantId,
        message_id: &str,
        status: &StatusUpdate,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, PortError> {
        self.hold(tenant, message_id, status, at).await
    }

    async fn contact_runs(
        &self,
        tenant: &TenantId,
        contact_key: &str,
    ) -> Result<Vec<ContactRun>, PortError> {
        self.runs_of_contact(tenant, contact_key).await
    }

    /// One conditional `UpdateItem`: the run must be active, on that step, scheduled at that
    /// generation; the state becomes `sending` and the version goes up by one.
    async fn claim_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        claim: &StepClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let sending = StepState::Sending {
            generation: claim.generation,
            since: claim.at,
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::enrollments(tenant, sequence_id),
                keys::enrollment(phone),
            )))
            .condition_expression(
                "#status = :active AND #id = :run AND #next = :step \
                 AND #state.#state = :scheduled AND #state.#generation = :generation",
            )
            .update_expression("SET #state = :sending, #version = #version + :one, #updated = :at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#next", "next_step_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#generation", "generation")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":active", s(EnrollmentStatus::Active.as_str()))
            .expression_attribute_values(":run", s(claim.enrollment_id.to_string()))
            .expression_attribute_values(":step", s(claim.step_id.to_string()))
            .expression_attribute_values(":scheduled", s("scheduled"))
            .expression_attribute_values(
                ":generation",
                AttributeValue::N(claim.generation.to_string()),
            )
            .expression_attribute_values(":sending", value(&sending)?)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":at", value(&claim.at)?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| PortError::new("DynamoDB UpdateItem returned no item"))?;
                Ok(ClaimOutcome::Claimed(Box::new(from_item(item)?)))
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(ClaimOutcome::NotClaimable)
            }
            Err(error) => Err(sdk_error("DynamoDB UpdateItem (step claim) failed")(error)),
        }
    }

    async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<Enrollment>, PortError> {
        let pk = keys::enrollments(tenant, sequence_id);
        let listing = match status {
            None => Listing {
                pk,
                prefix: "E#".into(),
                on_gsi1: false,
            },
            Some(status) => Listing {
                pk,
                prefix: keys::enrollment_by_status(status.as_str(), ""),
                on_gsi1: true,
            },
        };
        self.list(listing, page).await
    }
}
