//! The link ports: admin changes as transactions of the writes in `writes`, and the
//! redirect's peek and click.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, ReturnValue, TransactWriteItem};
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
