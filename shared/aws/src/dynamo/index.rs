//! The enrollment indexes: message id → send (with the statuses held until the send is
//! recorded), and contact key → the contact's runs. Their items, and the write's change to the
//! sequence's counters, are written in the same `TransactWriteItems` as the enrollment write
//! that makes them true.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, TimeDelta, Utc};
use ritmo_core::common::store::{Expect, WriteError};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::enrollments::model::StatusUpdate;
use ritmo_core::enrollments::model::{Enrollment, EnrollmentStatus, MessageStatus};
use ritmo_core::enrollments::store::{ContactRun, IndexWrites, MessageRecord, SendRef};
use ritmo_core::PortError;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::transact::{condition_failed, Outcome};

/// How one try of an indexed enrollment write ended.
enum Indexed {
    Written,
    /// Only the message items' "no status held" conditions cancelled it.
    HeldStatuses,
}
use super::{
    build_error, from_item, key, keys, s, sdk_error, value, DynamoStore, Item, KIND, PK, SK, TTL,
};

/// The attribute of a message item holding its send.
const SEND: &str = "send";
/// How long a status whose send is never recorded (a message another system sent from the
/// number) is kept before DynamoDB deletes it.
const HELD_FOR: TimeDelta = TimeDelta::days(7);

/// Where a recorded send is, as the message item stores it.
#[derive(Serialize, Deserialize)]
struct SendItem {
    sequence_id: Ulid,
    phone: String,
    enrollment_id: Ulid,
    step_id: Ulid,
}

/// A contact-index item.
#[derive(Serialize, Deserialize)]
struct ContactItem {
    sequence_id: Ulid,
    phone: String,
}

/// The attribute of a held status: one per status, so a repeat replaces it.
fn held_attribute(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Sent => "held_sent",
        MessageStatus::Delivered => "held_delivered",
        MessageStatus::Read => "held_read",
        MessageStatus::Failed => "held_failed",
    }
}

const HELD: [MessageStatus; 4] = [
    MessageStatus::Sent,
    MessageStatus::Delivered,
    MessageStatus::Read,
    MessageStatus::Failed,
];

impl DynamoStore {
    /// The enrollment `Put` (conditional on `expect`), the index items and the `ADD` of the
    /// counter change to the run's counter shard, in one transaction: a lost condition adds
    /// nothing. A cancelled transaction whose stored enrollment is exactly this one is success
    /// (an SDK retry of a transaction that committed, whose counters were added then);
    /// otherwise it is a conflict. One that no condition cancelled (another transaction on a
    /// counter shard, throttling) is tried again by [`DynamoStore::transact`], and is a
    /// retryable port error, never a conflict, when its tries are spent. With `see_held`, each
    /// message item's update is conditional on holding no status, and a transaction that only
    /// those conditions cancelled runs again without them: the answer is then `true`.
    pub(super) async fn write_indexed(
        &self,
        enrollment: &Enrollment,
        item: Item,
        expect: Expect,
        index: &IndexWrites,
        see_held: bool,
    ) -> Result<bool, WriteError> {
        match self
            .write_indexed_once(enrollment, item.clone(), expect, index, see_held)
            .await?
        {
            Indexed::Written => Ok(false),
            Indexed::HeldStatuses if see_held => {
                match self
                    .write_indexed_once(enrollment, item, expect, index, false)
                    .await?
                {
                    Indexed::Written => Ok(true),
                    Indexed::HeldStatuses => Err(WriteError::Conflict),
                }
            }
            Indexed::HeldStatuses => Err(WriteError::Conflict),
        }
    }

    async fn write_indexed_once(
        &self,
        enrollment: &Enrollment,
        item: Item,
        expect: Expect,
        index: &IndexWrites,
        see_held: bool,
    ) -> Result<Indexed, WriteError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let put = match expect {
            Expect::Absent => put
                .condition_expression("attribute_not_exists(#pk) OR #status <> :active")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s(EnrollmentStatus::Active.as_str())),
            Expect::Version(version) => put
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        let mut writes = vec![TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build()];
        for message in &index.messages {
            let send = SendItem {
                sequence_id: enrollment.sequence_id,
                phone: enrollment.phone().to_string(),
                enrollment_id: enrollment.id,
                step_id: message.step_id,
            };
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    keys::message(&enrollment.tenant, &message.message_id),
                    keys::MESSAGE_SK.into(),
                )))
                .update_expression("SET #kind = :kind, #send = :send REMOVE #ttl")
                .expression_attribute_names("#kind", KIND)
                .expression_attribute_names("#send", SEND)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":kind", s("message"))
                .expression_attribute_values(":send", value(&send)?);
            if see_held {
                let mut none_held = Vec::new();
                for (i, status) in HELD.iter().enumerate() {
                    let name = format!("#held{i}");
                    none_held.push(format!("attribute_not_exists({name})"));
                    update = update.expression_attribute_names(name, held_attribute(*status));
                }
                update = update.condition_expression(none_held.join(" AND "));
            }
            let update = update.build().map_err(build_error)?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        for contact in &index.contacts {
            let mut item: Item = serde_dynamo::to_item(ContactItem {
                sequence_id: enrollment.sequence_id,
                phone: enrollment.phone().to_string(),
            })
            .map_err(super::mapping_error)?;
            item.insert(PK.into(), s(keys::contact(&enrollment.tenant, contact)));
            item.insert(SK.into(), s(keys::sequence(enrollment.sequence_id)));
            item.insert(KIND.into(), s("contact_run"));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        let items = super::enrollments::history_items(enrollment, &index.history)?;
        for (item, entry) in items.into_iter().zip(&index.history) {
            let put = super::enrollments::entry_put(&self.table, item, entry)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        if !index.counters.is_empty() {
            writes.push(self.counters_update(enrollment, &index.counters)?);
        }
        let messages = index.messages.len();
        match self.transact("enrollment", writes).await? {
            Outcome::Committed => Ok(Indexed::Written),
            Outcome::Cancelled(reasons)
                if see_held
                    && !condition_failed(&reasons, 0)
                    && (1..=messages).any(|i| condition_failed(&reasons, i)) =>
            {
                Ok(Indexed::HeldStatuses)
            }
            Outcome::Cancelled(reasons) => {
                let stored = reasons
                    .first()
                    .and_then(|reason| reason.item())
                    .filter(|item| !item.is_empty())
                    .cloned()
                    .map(from_item::<Enrollment>)
                    .transpose()?;
                if stored.as_ref() == Some(enrollment) {
                    Ok(Indexed::Written)
                } else {
                    Err(WriteError::Conflict)
                }
            }
        }
    }

    pub(super) async fn read_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::message(tenant, message_id),
                keys::MESSAGE_SK.into(),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("DynamoDB GetItem (message) failed"))?;
        let Some(mut item) = out.item.filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let send = item
            .remove(SEND)
            .map(serde_dynamo::from_attribute_value::<_, SendItem>)
            .transpose()
            .map_err(super::mapping_error)?
            .map(|send| SendRef {
                sequence_id: send.sequence_id,
                phone: send.phone,
                enrollment_id: send.enrollment_id,
                step_id: send.step_id,
            });
        let mut held = Vec::new();
        for status in HELD {
            if let Some(v) = item.remove(held_attribute(status)) {
                held.push(
                    serde_dynamo::from_attribute_value::<_, StatusUpdate>(v)
                        .map_err(super::mapping_error)?,
                );
            }
        }
        Ok(Some(MessageRecord { send, held }))
    }

    /// One conditional `UpdateItem`: the status is kept only while the item has no send.
    pub(super) async fn hold(
        &self,
        tenant: &TenantId,
        message_id: &str,
        status: &StatusUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let expires = (at + HELD_FOR).timestamp();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::message(tenant, message_id),
                keys::MESSAGE_SK.into(),
            )))
            .condition_expression("attribute_not_exists(#send)")
            .update_expression("SET #kind = :kind, #held = :status, #ttl = :ttl")
            .expression_attribute_names("#send", SEND)
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#held", held_attribute(status.status))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":kind", s("message"))
            .expression_attribute_values(":status", value(status)?)
            .expression_attribute_values(":ttl", AttributeValue::N(expires.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(sdk_error("DynamoDB UpdateItem (held status) failed")(error)),
        }
    }

    pub(super) async fn runs_of_contact(
        &self,
        tenant: &TenantId,
        contact_key: &str,
    ) -> Result<Vec<ContactRun>, PortError> {
        let mut runs = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(keys::contact(tenant, contact_key)))
                .expression_attribute_values(":prefix", s("SEQ#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (contact index) failed"))?;
            for item in out.items.unwrap_or_default() {
                let run: ContactItem = from_item(item)?;
                runs.push(ContactRun {
                    sequence_id: run.sequence_id,
                    phone: run.phone,
                });
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(runs),
            }
        }
    }
}
