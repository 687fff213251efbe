//! Reads, the transaction, and the writes a link change is made of.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::input::LinkType;
use ritmo_core::links::{Link, LinkWriteError};
use ritmo_core::PortError;
use ulid::Ulid;

use crate::dynamo::{build_error, keys, s, sdk_error, value, DynamoStore, Item, KIND, PK, SK};

use super::records::*;

impl DynamoStore {
    /// One link item, read consistently.
    pub(super) async fn read_link(&self, slug: &str) -> Result<Option<Stored>, PortError> {
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
    pub(super) async fn read_links(
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

    /// The link item of a new link, counter 0.
    pub(super) fn new_link_put(
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
    pub(super) fn entry_put(&self, record: &LinkRecord) -> Result<TransactWriteItem, PortError> {
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

    pub(super) fn entry_delete(
        &self,
        tenant: &TenantId,
        slug: &str,
    ) -> Result<TransactWriteItem, PortError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(entry_key(tenant, slug)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Replaces a link's configuration (and a rotator's copies), keeping its counter; only if it
    /// is still the tenant's link at the version read.
    pub(super) fn link_update(
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
    pub(super) fn member_join(
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
    pub(super) fn member_leave(
        &self,
        member: &str,
        rotator: &str,
    ) -> Result<TransactWriteItem, PortError> {
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
    pub(super) fn member_unchanged(&self, member: &Seen) -> Result<TransactWriteItem, PortError> {
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
    pub(super) fn rotator_refresh(
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
    pub(super) fn check_members(
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
    pub(super) async fn delete_clicks(
        &self,
        tenant: &TenantId,
        link_id: Ulid,
    ) -> Result<(), PortError> {
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
            let keys = out.items.unwrap_or_default();
            self.batch_delete(keys, "DynamoDB BatchWriteItem (link clicks) failed")
                .await?;
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(()),
            }
        }
    }
}

pub(super) fn too_busy() -> LinkWriteError {
    LinkWriteError::Port(PortError::new("the link kept changing concurrently"))
}
