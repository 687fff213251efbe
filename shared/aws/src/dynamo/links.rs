//! Links on the single table (`docs/data-model.md`, "Links").
//!
//! - The link item `L#<slug>` / `L` is global (slugs are unique across tenants) and holds the
//!   tenant, the configuration as one map (`link`), the click counter (`counter`), a write
//!   version (`version`), and for a rotator a copy of each member's number, text and hours
//!   (`targets`, keyed by member slug), so that one `UpdateItem ADD counter` with
//!   `ReturnValues ALL_NEW` (a click) or one `GetItem` (a peek) returns everything a click needs.
//!   A `whatsapp` link that rotators use lists them in the string set `used_by`.
//! - The entry `T#<tenant>` / `LINK#<slug>` repeats the configuration in the tenant's partition,
//!   so a tenant's links are listed by a consistent `Query`, in slug order.
//! - Clicks are counted per link and UTC day in `T#<tenant>#LINK#<id>` / `D#<yyyy-mm-dd>`.
//!
//! Every write of configuration is a transaction conditional on the versions it read: a rotator
//! and the member links it copied from, the member links and the `used_by` sets naming the
//! rotators. A transaction that loses a race is read again and retried.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes,
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, NaiveDate, Utc};
use ritmo_core::calendar::Window;
use ritmo_core::common::page::{Page, PageRequest};
use ritmo_core::common::phone::Phone;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::input::LinkType;
use ritmo_core::links::{
    ClickKind, ClickRecord, DayClicks, Hours, Link, LinkKind, LinkRouting, LinkStore,
    LinkWriteError, Member, MemberTarget, Preview, Rotator, Routing, Slug, WhatsAppTarget,
    WhenClosed,
};
use ritmo_core::PortError;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{
    build_error, from_item, key, keys, s, sdk_error, value, DynamoStore, Item, Listing, KIND, PK,
    SK, TRANSACTION_RETRIES,
};

/// The configuration map.
const LINK: &str = "link";
/// A rotator's copies of its members' targets, by member slug.
const TARGETS: &str = "targets";
const COUNTER: &str = "counter";
const VERSION: &str = "version";
/// The rotators (slugs) that use a `whatsapp` link.
const USED_BY: &str = "used_by";
const TENANT: &str = "tenant";
/// A day item's per-member human clicks: one attribute `M#<member slug>` each.
const MEMBER_CLICKS_PREFIX: &str = "M#";
/// DynamoDB's limit of items in one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB's limit of requests in one `BatchWriteItem`.
const MAX_BATCH_WRITES: usize = 25;
/// The code of a cancellation reason whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// A link's configuration as stored (the `link` map and the tenant's listing entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    id: Ulid,
    tenant: TenantId,
    slug: String,
    #[serde(rename = "type")]
    kind: LinkType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Vec<MemberRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sticky: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sticky_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<Window>,
    when_closed: WhenClosed,
    #[serde(default)]
    preview: PreviewRecord,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MemberRecord {
    link: String,
    weight: u32,
    enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PreviewRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
}

/// A member's destination as copied into a rotator.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetRecord {
    phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<Window>,
}

/// The link item as read.
#[derive(Deserialize)]
struct LinkItem {
    link: LinkRecord,
    #[serde(default)]
    targets: HashMap<String, TargetRecord>,
    #[serde(default)]
    counter: u64,
    #[serde(default)]
    version: u64,
}

/// The tenant's listing entry as read.
#[derive(Deserialize)]
struct EntryItem {
    link: LinkRecord,
}

/// A link item with the `used_by` set (a string set, read apart from the rest).
struct Stored {
    item: LinkItem,
    used_by: Vec<Slug>,
}

impl Stored {
    fn from_item(mut item: Item) -> Result<Self, PortError> {
        let mut used_by = match item.remove(USED_BY) {
            Some(AttributeValue::Ss(slugs)) => slugs
                .iter()
                .map(|raw| stored_slug(raw))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        used_by.sort();
        Ok(Self {
            item: from_item(item)?,
            used_by,
        })
    }

    fn record(&self) -> &LinkRecord {
        &self.item.link
    }

    fn is_whatsapp_of(&self, tenant: &TenantId) -> bool {
        &self.record().tenant == tenant && self.record().kind == LinkType::Whatsapp
    }

    /// What a rotator copies of this `whatsapp` link.
    fn target(&self) -> Option<TargetRecord> {
        let record = self.record();
        Some(TargetRecord {
            phone: record.phone.clone()?,
            text: record.text.clone(),
            hours: record.hours.clone(),
        })
    }

    fn member_slugs(&self) -> Vec<String> {
        self.record()
            .members
            .iter()
            .flatten()
            .map(|m| m.link.clone())
            .collect()
    }
}

/// A member link as a rotator's write read it.
struct Seen {
    slug: Slug,
    id: Ulid,
    version: u64,
}

fn corrupt(what: &str, slug: &str) -> PortError {
    PortError::new(format!("stored link {slug}: {what}"))
}

fn stored_slug(raw: &str) -> Result<Slug, PortError> {
    Slug::parse(raw).map_err(|_| corrupt("not a valid slug", raw))
}

fn stored_phone(raw: &str, slug: &str) -> Result<Phone, PortError> {
    Phone::from_e164(raw).ok_or_else(|| corrupt("not an E.164 phone number", slug))
}

fn record_of(link: &Link) -> LinkRecord {
    let (kind, phone, text, members, sticky, sticky_days) = match &link.kind {
        LinkKind::WhatsApp(target) => (
            LinkType::Whatsapp,
            Some(target.phone.as_str().to_string()),
            target.text.clone(),
            None,
            None,
            None,
        ),
        LinkKind::Rotator(rotator) => (
            LinkType::Rotator,
            None,
            None,
            Some(
                rotator
                    .members
                    .iter()
                    .map(|m| MemberRecord {
                        link: m.link.to_string(),
                        weight: m.weight,
                        enabled: m.enabled,
                    })
                    .collect(),
            ),
            Some(rotator.sticky),
            Some(rotator.sticky_days),
        ),
    };
    LinkRecord {
        id: link.id,
        tenant: link.tenant.clone(),
        slug: link.slug.to_string(),
        kind,
        phone,
        text,
        members,
        sticky,
        sticky_days,
        hours: link.hours.as_ref().map(|h| h.window().clone()),
        when_closed: link.when_closed.clone(),
        preview: PreviewRecord {
            title: link.preview.title.clone(),
            description: link.preview.description.clone(),
            image_url: link.preview.image_url.clone(),
        },
        created_at: link.created_at,
        updated_at: link.updated_at,
    }
}

fn link_of(record: LinkRecord) -> Result<Link, PortError> {
    let slug = stored_slug(&record.slug)?;
    let kind = match record.kind {
        LinkType::Whatsapp => {
            let phone = record
                .phone
                .as_deref()
                .ok_or_else(|| corrupt("a whatsapp link without a phone", &record.slug))?;
            LinkKind::WhatsApp(WhatsAppTarget::new(
                stored_phone(phone, &record.slug)?,
                record.text,
            ))
        }
        LinkType::Rotator => {
            let members = record
                .members
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    Ok(Member {
                        link: stored_slug(&m.link)?,
                        weight: m.weight,
                        enabled: m.enabled,
                    })
                })
                .collect::<Result<Vec<_>, PortError>>()?;
            if members.len() > ritmo_core::links::MAX_MEMBERS {
                return Err(corrupt("too many members", &record.slug));
            }
            LinkKind::Rotator(Rotator::new(
                members,
                record.sticky.unwrap_or(false),
                record.sticky_days.unwrap_or(1),
            ))
        }
    };
    Ok(Link {
        id: record.id,
        tenant: record.tenant,
        slug,
        kind,
        hours: record.hours.map(Hours::new),
        when_closed: record.when_closed,
        preview: Preview {
            title: record.preview.title,
            description: record.preview.description,
            image_url: record.preview.image_url,
        },
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// The redirect's view of a link item: the link, its members' copied targets in member order,
/// and the counter.
fn routing_of(item: LinkItem) -> Result<Routing, PortError> {
    let LinkItem {
        link,
        mut targets,
        counter,
        ..
    } = item;
    let link = link_of(link)?;
    let members = match &link.kind {
        LinkKind::WhatsApp(_) => Vec::new(),
        LinkKind::Rotator(rotator) => rotator
            .members
            .iter()
            .map(|member| {
                let target = targets
                    .remove(member.link.as_str())
                    .ok_or_else(|| corrupt("a member without its copy", link.slug.as_str()))?;
                Ok(MemberTarget {
                    target: WhatsAppTarget::new(
                        stored_phone(&target.phone, member.link.as_str())?,
                        target.text,
                    ),
                    hours: target.hours.map(Hours::new),
                })
            })
            .collect::<Result<Vec<_>, PortError>>()?,
    };
    Ok(Routing {
        link: Arc::new(link),
        members: members.into(),
        counter,
    })
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn link_key(slug: &str) -> Item {
    key(keys::link(slug), keys::LINK_SK.into())
}

fn entry_key(tenant: &TenantId, slug: &str) -> Item {
    key(keys::tenant(tenant), keys::link_entry(slug))
}

/// How a transaction ended.
enum Outcome {
    Committed,
    /// Cancelled, with one reason per write (in order).
    Cancelled(Vec<CancellationReason>),
}

/// Whether the write at `index` was cancelled because its condition failed.
fn condition_failed(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .and_then(CancellationReason::code)
        .is_some_and(|code| code == CONDITION_FAILED)
}

impl DynamoStore {
    /// One link item, read consistently.
    async fn read_link(&self, slug: &str) -> Result<Option<Stored>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(link_key(slug)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("DynamoDB GetItem (link) failed"))?;
        out.item.map(Stored::from_item).transpose()
    }

    /// Link items by slug (`BatchGetItem`, consistent), the missing ones left out.
    async fn read_links(
        &self,
        slugs: &BTreeSet<String>,
    ) -> Result<HashMap<String, Stored>, PortError> {
        let mut found = HashMap::new();
        let keys: Vec<Item> = slugs.iter().map(|slug| link_key(slug)).collect();
        for chunk in keys.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(sdk_error("DynamoDB BatchGetItem (links) failed"))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let stored = Stored::from_item(item)?;
                    found.insert(stored.record().slug.clone(), stored);
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        Ok(found)
    }

    async fn transact_links(&self, writes: Vec<TransactWriteItem>) -> Result<Outcome, PortError> {
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(PortError::new(format!(
                "this link change touches {} items, more than one DynamoDB transaction may \
                 ({MAX_TRANSACTION_ITEMS})",
                writes.len()
            )));
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(Outcome::Committed),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Ok(
                    Outcome::Cancelled(cancelled.cancellation_reasons().to_vec()),
                ),
                _ => Err(sdk_error("DynamoDB TransactWriteItems (links) failed")(
                    error,
                )),
            },
        }
    }

    /// The link item of a new link, counter 0.
    fn new_link_put(
        &self,
        record: &LinkRecord,
        targets: &HashMap<String, TargetRecord>,
    ) -> Result<TransactWriteItem, PortError> {
        let mut item = link_key(&record.slug);
        item.insert(KIND.into(), s("link"));
        item.insert(TENANT.into(), s(record.tenant.as_str()));
        item.insert(LINK.into(), value(record)?);
        if record.kind == LinkType::Rotator {
            item.insert(TARGETS.into(), value(targets)?);
        }
        item.insert(COUNTER.into(), number(0));
        item.insert(VERSION.into(), number(1));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The tenant's listing entry, written with every change of the link.
    fn entry_put(&self, record: &LinkRecord) -> Result<TransactWriteItem, PortError> {
        let mut item = entry_key(&record.tenant, &record.slug);
        item.insert(KIND.into(), s("link_entry"));
        item.insert(LINK.into(), value(record)?);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn entry_delete(&self, tenant: &TenantId, slug: &str) -> Result<TransactWriteItem, PortError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(entry_key(tenant, slug)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Replaces a link's configuration (and a rotator's copies), keeping its counter; only if it
    /// is still the tenant's link at the version read.
    fn link_update(
        &self,
        record: &LinkRecord,
        targets: Option<&HashMap<String, TargetRecord>>,
        version: u64,
    ) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(&record.slug)))
            .condition_expression("#tenant = :tenant AND #version = :version")
            .expression_attribute_names("#tenant", TENANT)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#link", LINK)
            .expression_attribute_values(":tenant", s(record.tenant.as_str()))
            .expression_attribute_values(":version", number(version))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":link", value(record)?);
        let update = match targets {
            Some(targets) => update
                .update_expression(
                    "SET #link = :link, #targets = :targets, #version = #version + :one",
                )
                .expression_attribute_names("#targets", TARGETS)
                .expression_attribute_values(":targets", value(targets)?),
            None => update.update_expression("SET #link = :link, #version = #version + :one"),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// Adds a rotator to a member's `used_by`, if the member is still the tenant's link at the
    /// version whose target the rotator copied.
    fn member_join(
        &self,
        member: &Seen,
        tenant: &TenantId,
        rotator: &str,
    ) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(member.slug.as_str())))
            .condition_expression("#tenant = :tenant AND #link.#id = :id AND #version = :version")
            .update_expression("ADD #used_by :rotator SET #version = #version + :one")
            .expression_attribute_names("#tenant", TENANT)
            .expression_attribute_names("#link", LINK)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#used_by", USED_BY)
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":id", s(member.id.to_string()))
            .expression_attribute_values(":version", number(member.version))
            .expression_attribute_values(":rotator", AttributeValue::Ss(vec![rotator.into()]))
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Removes a rotator from a member's `used_by`.
    fn member_leave(&self, member: &str, rotator: &str) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(member)))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("DELETE #used_by :rotator SET #version = #version + :one")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#used_by", USED_BY)
            .expression_attribute_values(":rotator", AttributeValue::Ss(vec![rotator.into()]))
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The member is still the link, at the version, that the rotator copied its target from.
    fn member_unchanged(&self, member: &Seen) -> Result<TransactWriteItem, PortError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(member.slug.as_str())))
            .condition_expression("#link.#id = :id AND #version = :version")
            .expression_attribute_names("#link", LINK)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":id", s(member.id.to_string()))
            .expression_attribute_values(":version", number(member.version))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Refreshes one rotator's copy of a member's target.
    fn rotator_refresh(
        &self,
        rotator: &str,
        member: &str,
        target: &TargetRecord,
    ) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(rotator)))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("SET #targets.#member = :target")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#targets", TARGETS)
            .expression_attribute_names("#member", member)
            .expression_attribute_values(":target", value(target)?)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A rotator's members as read: each must be a `whatsapp` link of the tenant. Answers the
    /// copies to store and the members' versions.
    fn check_members(
        link: &Link,
        found: &HashMap<String, Stored>,
    ) -> Result<(HashMap<String, TargetRecord>, Vec<Seen>), LinkWriteError> {
        let mut targets = HashMap::new();
        let mut versions = Vec::new();
        for member in link.rotator().map(|r| r.members.as_slice()).unwrap_or(&[]) {
            let Some((stored, target)) = found
                .get(member.link.as_str())
                .filter(|stored| stored.is_whatsapp_of(&link.tenant))
                .and_then(|stored| Some((stored, stored.target()?)))
            else {
                return Err(LinkWriteError::MemberMissing(member.link.clone()));
            };
            targets.insert(member.link.to_string(), target);
            versions.push(Seen {
                slug: member.link.clone(),
                id: stored.record().id,
                version: stored.item.version,
            });
        }
        Ok((targets, versions))
    }

    /// Deletes a deleted link's per-day statistics (`Query` of the keys, `BatchWriteItem`).
    async fn delete_clicks(&self, tenant: &TenantId, link_id: Ulid) -> Result<(), PortError> {
        let pk = keys::link_clicks(tenant, link_id);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (link clicks to delete) failed"))?;
            let deletes = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|item| {
                    let request = DeleteRequest::builder()
                        .set_key(Some(item))
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
                        .map_err(sdk_error("DynamoDB BatchWriteItem (link clicks) failed"))?;
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    if !pending.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(()),
            }
        }
    }
}

fn too_busy() -> LinkWriteError {
    LinkWriteError::Port(PortError::new("the link kept changing concurrently"))
}

#[async_trait]
impl LinkStore for DynamoStore {
    /// One transaction: the link item (`attribute_not_exists(#pk)`: slugs are unique across
    /// tenants), the tenant's listing entry, and for a rotator each member's `used_by` (the
    /// member must be the tenant's link at the version its copied target was read from).
    async fn create_link(&self, link: &Link) -> Result<(), LinkWriteError> {
        let record = record_of(link);
        let member_slugs: BTreeSet<String> = link
            .rotator()
            .map(|r| r.members.iter().map(|m| m.link.to_string()).collect())
            .unwrap_or_default();
        for _ in 0..TRANSACTION_RETRIES {
            let found = if member_slugs.is_empty() {
                HashMap::new()
            } else {
                self.read_links(&member_slugs).await?
            };
            let (targets, seen) = match Self::check_members(link, &found) {
                Ok(checked) => checked,
                Err(missing) => {
                    // A taken slug is the first answer, whatever the members.
                    if self.read_link(link.slug.as_str()).await?.is_some() {
                        return Err(LinkWriteError::SlugTaken);
                    }
                    return Err(missing);
                }
            };
            let mut writes = vec![
                self.new_link_put(&record, &targets)?,
                self.entry_put(&record)?,
            ];
            for member in &seen {
                writes.push(self.member_join(member, &link.tenant, link.slug.as_str())?);
            }
            match self.transact_links(writes).await? {
                Outcome::Committed => return Ok(()),
                Outcome::Cancelled(reasons) if condition_failed(&reasons, 0) => {
                    // The stored item is this very link when an SDK retry follows a write whose
                    // answer was lost.
                    let own = reasons[0]
                        .item()
                        .and_then(|item| match item.get(LINK) {
                            Some(AttributeValue::M(map)) => map.get("id").cloned(),
                            _ => None,
                        })
                        .is_some_and(|id| id == s(link.id.to_string()));
                    return if own {
                        Ok(())
                    } else {
                        Err(LinkWriteError::SlugTaken)
                    };
                }
                Outcome::Cancelled(_) => continue,
            }
        }
        Err(too_busy())
    }

    /// One transaction. A `whatsapp` link: its configuration (counter and `used_by` kept), its
    /// listing entry, and the copy in every rotator of its `used_by`. A rotator: its
    /// configuration and copies, its entry, and the members' `used_by` (joined, left, or checked
    /// unchanged since their copies were read).
    async fn replace_link(&self, link: &Link) -> Result<(), LinkWriteError> {
        let record = record_of(link);
        for _ in 0..TRANSACTION_RETRIES {
            let current = match self.read_link(link.slug.as_str()).await? {
                Some(current) if current.record().tenant == link.tenant => current,
                _ => return Err(LinkWriteError::NotFound),
            };
            let version = current.item.version;
            let mut writes = Vec::new();
            match &link.kind {
                LinkKind::WhatsApp(target) => {
                    writes.push(self.link_update(&record, None, version)?);
                    writes.push(self.entry_put(&record)?);
                    let copy = TargetRecord {
                        phone: target.phone.as_str().to_string(),
                        text: target.text.clone(),
                        hours: record.hours.clone(),
                    };
                    for rotator in &current.used_by {
                        writes.push(self.rotator_refresh(
                            rotator.as_str(),
                            link.slug.as_str(),
                            &copy,
                        )?);
                    }
                }
                LinkKind::Rotator(rotator) => {
                    let old: BTreeSet<String> = current.member_slugs().into_iter().collect();
                    let new: BTreeSet<String> =
                        rotator.members.iter().map(|m| m.link.to_string()).collect();
                    let found = self.read_links(&old.union(&new).cloned().collect()).await?;
                    let (targets, seen) = Self::check_members(link, &found)?;
                    writes.push(self.link_update(&record, Some(&targets), version)?);
                    writes.push(self.entry_put(&record)?);
                    for member in &seen {
                        writes.push(if old.contains(member.slug.as_str()) {
                            self.member_unchanged(member)?
                        } else {
                            self.member_join(member, &link.tenant, link.slug.as_str())?
                        });
                    }
                    for gone in old.difference(&new) {
                        if found.contains_key(gone) {
                            writes.push(self.member_leave(gone, link.slug.as_str())?);
                        }
                    }
                }
            }
            match self.transact_links(writes).await? {
                Outcome::Committed => return Ok(()),
                Outcome::Cancelled(_) => continue,
            }
        }
        Err(too_busy())
    }

    /// Refused with `InUse` while `used_by` names a rotator. Otherwise one transaction: the
    /// link item (at the version read, so no rotator joined since), its listing entry, and for
    /// a rotator its name out of each member's `used_by`. Then its statistics are deleted.
    async fn delete_link(&self, tenant: &TenantId, slug: &Slug) -> Result<(), LinkWriteError> {
        for _ in 0..TRANSACTION_RETRIES {
            let current = match self.read_link(slug.as_str()).await? {
                Some(current) if &current.record().tenant == tenant => current,
                _ => return Err(LinkWriteError::NotFound),
            };
            if !current.used_by.is_empty() {
                return Err(LinkWriteError::InUse(current.used_by));
            }
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(link_key(slug.as_str())))
                .condition_expression("#tenant = :tenant AND #version = :version")
                .expression_attribute_names("#tenant", TENANT)
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":tenant", s(tenant.as_str()))
                .expression_attribute_values(":version", number(current.item.version))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.entry_delete(tenant, slug.as_str())?,
            ];
            let members: BTreeSet<String> = current.member_slugs().into_iter().collect();
            if !members.is_empty() {
                let found = self.read_links(&members).await?;
                for member in members.iter().filter(|m| found.contains_key(*m)) {
                    writes.push(self.member_leave(member, slug.as_str())?);
                }
            }
            match self.transact_links(writes).await? {
                Outcome::Committed => {
                    self.delete_clicks(tenant, current.record().id).await?;
                    return Ok(());
                }
                Outcome::Cancelled(_) => continue,
            }
        }
        Err(too_busy())
    }

    async fn get_link(
        &self,
        tenant: &TenantId,
        slug: &Slug,
    ) -> Result<Option<Arc<Link>>, PortError> {
        match self.read_link(slug.as_str()).await? {
            Some(stored) if &stored.record().tenant == tenant => {
                Ok(Some(Arc::new(link_of(stored.item.link)?)))
            }
            _ => Ok(None),
        }
    }

    /// A consistent `Query` of the tenant's listing entries (`begins_with(sk, LINK#)`).
    async fn list_links(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Arc<Link>>, PortError> {
        let page: Page<EntryItem> = self
            .list(
                Listing {
                    pk: keys::tenant(tenant),
                    prefix: keys::LINK_ENTRY_PREFIX.into(),
                    on_gsi1: false,
                },
                page,
            )
            .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|entry| link_of(entry.link).map(Arc::new))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    /// A consistent `Query` of the link's day items, `sk BETWEEN D#from AND D#to`.
    async fn link_clicks(
        &self,
        tenant: &TenantId,
        link_id: Ulid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, DayClicks)>, PortError> {
        // Day keys sort as dates for four-digit years, the only ones a click can have.
        let first = NaiveDate::from_ymd_opt(0, 1, 1).expect("a valid date");
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");
        let (from, to) = (from.max(first), to.min(last));
        if from > to {
            return Ok(Vec::new());
        }
        let mut days = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(keys::link_clicks(tenant, link_id)))
                .expression_attribute_values(":from", s(keys::link_day(from)))
                .expression_attribute_values(":to", s(keys::link_day(to)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (link clicks) failed"))?;
            for item in out.items.unwrap_or_default() {
                days.push(day_clicks(item)?);
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(days),
            }
        }
    }
}

#[async_trait]
impl LinkRouting for DynamoStore {
    /// One consistent `GetItem` of the link item.
    async fn peek(&self, slug: &Slug) -> Result<Option<Routing>, PortError> {
        self.read_link(slug.as_str())
            .await?
            .map(|stored| routing_of(stored.item))
            .transpose()
    }

    /// One `UpdateItem ADD #counter :one` (`attribute_exists(#pk)`), `ReturnValues ALL_NEW`.
    async fn click(&self, slug: &Slug) -> Result<Option<Routing>, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(link_key(slug.as_str())))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("ADD #counter :one")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#counter", COUNTER)
            .expression_attribute_values(":one", number(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let mut item = out
                    .attributes
                    .ok_or_else(|| PortError::new("DynamoDB UpdateItem returned no item"))?;
                item.remove(USED_BY);
                Ok(Some(routing_of(from_item(item)?)?))
            }
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(sdk_error("DynamoDB UpdateItem (click) failed")(error)),
        }
    }

    /// One `UpdateItem ADD` on the day's item (created by the first click of the day).
    async fn record_click(&self, click: &ClickRecord) -> Result<(), PortError> {
        let (counter, member) = match &click.kind {
            ClickKind::Human { member } => ("human", member.as_ref()),
            ClickKind::Bot => ("bot", None),
            ClickKind::Closed => ("closed", None),
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::link_clicks(&click.tenant, click.link_id),
                keys::link_day(click.day),
            )))
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#count", counter)
            .expression_attribute_values(":kind", s("link_clicks"))
            .expression_attribute_values(":one", number(1));
        let request = match member {
            Some(member) => request
                .update_expression("SET #kind = :kind ADD #count :one, #member :one")
                .expression_attribute_names("#member", format!("{MEMBER_CLICKS_PREFIX}{member}")),
            None => request.update_expression("SET #kind = :kind ADD #count :one"),
        };
        request.send().await.map_err(sdk_error(
            "DynamoDB UpdateItem (link click statistics) failed",
        ))?;
        Ok(())
    }
}

/// A day item as [`DayClicks`].
fn day_clicks(item: Item) -> Result<(NaiveDate, DayClicks), PortError> {
    let malformed = || PortError::new("a link statistics item is malformed");
    let count = |value: &AttributeValue| match value {
        AttributeValue::N(n) => n.parse::<u64>().map_err(|_| malformed()),
        _ => Err(malformed()),
    };
    let day = match item.get(SK) {
        Some(AttributeValue::S(sk)) => sk
            .strip_prefix("D#")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(malformed)?,
        _ => return Err(malformed()),
    };
    let mut clicks = DayClicks::default();
    for (name, value) in &item {
        match name.as_str() {
            "human" => clicks.human = count(value)?,
            "bot" => clicks.bot = count(value)?,
            "closed" => clicks.closed = count(value)?,
            other => {
                if let Some(member) = other.strip_prefix(MEMBER_CLICKS_PREFIX) {
                    clicks.members.insert(stored_slug(member)?, count(value)?);
                }
            }
        }
    }
    Ok((day, clicks))
}
