//! The link ports: admin changes as transactions of the writes in `writes`, and the
//! redirect's peek and click.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, ReturnValue, TransactWriteItem,
};
use chrono::NaiveDate;
use ritmo_core::common::page::{Page, PageRequest};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::{
    ClickKind, ClickRecord, DayClicks, Link, LinkKind, LinkRouting, LinkStore, LinkWriteError,
    Routing, Slug,
};
use ritmo_core::PortError;
use ulid::Ulid;

use crate::dynamo::{
    build_error, from_item, key, keys, s, sdk_error, DynamoStore, Item, Listing, KIND, PK, SK,
    TRANSACTION_RETRIES,
};

use super::records::*;
use super::writes::*;
use crate::dynamo::transact::{condition_failed, Outcome};

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
            match self.transact("link", writes).await? {
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
            match self.transact("link", writes).await? {
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
            let counter = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(counter_key(slug.as_str())))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().delete(counter).build(),
                self.entry_delete(tenant, slug.as_str())?,
            ];
            let members: BTreeSet<String> = current.member_slugs().into_iter().collect();
            if !members.is_empty() {
                let found = self.read_links(&members).await?;
                for member in members.iter().filter(|m| found.contains_key(*m)) {
                    writes.push(self.member_leave(member, slug.as_str())?);
                }
            }
            match self.transact("link", writes).await? {
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
        let mut days = std::collections::BTreeMap::new();
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
                // `~` sorts after every kind and shard suffix of the last day.
                .expression_attribute_values(":to", s(format!("{}#~", keys::link_day(to))))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (link clicks) failed"))?;
            for item in out.items.unwrap_or_default() {
                add_day_clicks(&mut days, item)?;
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(days.into_iter().collect()),
            }
        }
    }
}

#[async_trait]
impl LinkRouting for DynamoStore {
    /// One consistent `BatchGetItem` of the link's configuration and its rotation counter.
    async fn peek(&self, slug: &Slug) -> Result<Option<Routing>, PortError> {
        let keys = KeysAndAttributes::builder()
            .keys(link_key(slug.as_str()))
            .keys(counter_key(slug.as_str()))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let mut request = Some(keys);
        let (mut link, mut counter) = (None, None);
        while let Some(keys) = request.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(sdk_error("DynamoDB BatchGetItem (link) failed"))?;
            for mut item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                match item.get(SK) {
                    Some(AttributeValue::S(sk)) if sk == keys::COUNTER_SK => {
                        counter = item.get(COUNTER).and_then(|n| match n {
                            AttributeValue::N(n) => n.parse::<u64>().ok(),
                            _ => None,
                        });
                    }
                    _ => {
                        item.remove(USED_BY);
                        link = Some(item);
                    }
                }
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
        }
        let Some(item) = link else {
            return Ok(None);
        };
        let mut routing = routing_of(from_item(item)?)?;
        // Links written before the counter had its own item kept it in the link item.
        if let Some(counter) = counter {
            routing.counter = counter;
        }
        Ok(Some(routing))
    }

    /// One `UpdateItem ADD #counter :one` on the counter item (a few bytes), `UPDATED_NEW`.
    async fn advance(&self, slug: &Slug) -> Result<Option<u64>, PortError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(slug.as_str())))
            .update_expression("ADD #counter :one")
            .expression_attribute_names("#counter", COUNTER)
            .expression_attribute_values(":one", number(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_error("DynamoDB UpdateItem (rotation counter) failed"))?;
        match out.attributes.as_ref().and_then(|a| a.get(COUNTER)) {
            Some(AttributeValue::N(n)) => Ok(n.parse().ok()),
            _ => Err(PortError::new("DynamoDB UpdateItem returned no counter")),
        }
    }

    /// One `UpdateItem ADD #n :one` on a small item of the day: one per kind (per member for
    /// a rotator's human clicks), in [`CLICK_SHARDS`] shards so that no item takes more than a
    /// fraction of a busy link's clicks.
    async fn record_click(&self, click: &ClickRecord) -> Result<(), PortError> {
        let shard = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
            % CLICK_SHARDS;
        let what = match &click.kind {
            ClickKind::Human {
                member: Some(member),
            } => format!("{MEMBER_CLICKS_PREFIX}{member}"),
            ClickKind::Human { member: None } => "H".to_string(),
            ClickKind::Bot => "B".to_string(),
            ClickKind::Closed => "X".to_string(),
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::link_clicks(&click.tenant, click.link_id),
                format!("{}#{what}#{shard}", keys::link_day(click.day)),
            )))
            .update_expression("SET #kind = :kind ADD #n :one")
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#n", CLICKS)
            .expression_attribute_values(":kind", s("link_clicks"))
            .expression_attribute_values(":one", number(1))
            .send()
            .await
            .map_err(sdk_error(
                "DynamoDB UpdateItem (link click statistics) failed",
            ))?;
        Ok(())
    }
}

/// Shards of each day's click counters.
const CLICK_SHARDS: u32 = 4;
/// A click counter item's count.
const CLICKS: &str = "n";

/// Adds a day's click item to `days`: `D#<day>#<kind>#<shard>` with its count `n`, or an item
/// written before clicks had items of their own (`D#<day>` with `human`, `bot`, `closed` and
/// `M#<member>` counts).
fn add_day_clicks(
    days: &mut std::collections::BTreeMap<NaiveDate, DayClicks>,
    item: Item,
) -> Result<(), PortError> {
    let malformed = || PortError::new("a link statistics item is malformed");
    let count = |value: Option<&AttributeValue>| match value {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| malformed()),
        _ => Err(malformed()),
    };
    let Some(AttributeValue::S(sk)) = item.get(SK) else {
        return Err(malformed());
    };
    let rest = sk.strip_prefix("D#").ok_or_else(malformed)?;
    let (day, what) = rest
        .split_once('#')
        .map_or((rest, None), |(d, w)| (d, Some(w)));
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| malformed())?;
    let clicks = days.entry(day).or_default();
    let Some(what) = what else {
        for (name, value) in &item {
            match name.as_str() {
                "human" => clicks.human += count(Some(value))?,
                "bot" => clicks.bot += count(Some(value))?,
                "closed" => clicks.closed += count(Some(value))?,
                other => {
                    if let Some(member) = other.strip_prefix(MEMBER_CLICKS_PREFIX) {
                        *clicks.members.entry(stored_slug(member)?).or_default() +=
                            count(Some(value))?;
                    }
                }
            }
        }
        return Ok(());
    };
    let kind = what
        .rsplit_once('#')
        .map(|(kind, _shard)| kind)
        .ok_or_else(malformed)?;
    let n = count(item.get(CLICKS))?;
    match kind {
        "H" => clicks.human += n,
        "B" => clicks.bot += n,
        "X" => clicks.closed += n,
        member => {
            let member = member
                .strip_prefix(MEMBER_CLICKS_PREFIX)
                .ok_or_else(malformed)?;
            clicks.human += n;
            *clicks.members.entry(stored_slug(member)?).or_default() += n;
        }
    }
    Ok(())
}
