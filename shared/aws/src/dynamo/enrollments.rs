//! Enrollments: version-conditioned writes (a single `PutItem`, or one `TransactWriteItems` when
//! the write also indexes or counts something), the one-`UpdateItem` step claim, listings by
//! status, the sequence's counters, and the sparse overdue index (`gsi2`, keys only) the
//! reconciler reads.

use ritmo_core::enrollments::counters::Counts;
use ritmo_core::enrollments::model::{HistoryEntry, Pending};
use ritmo_core::enrollments::store::{OverdueRun, RunEntry};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::transact::Outcome;
use super::*;

fn due_partition_of(pending: Pending, pk: &str, sk: &str) -> String {
    keys::due_partition(pending, keys::due_shard(pk, sk))
}

/// The enrollment's item: the run, its keys, its `gsi1` listing keys and, while it waits on
/// something, its overdue-index keys.
fn enrollment_item(enrollment: &Enrollment) -> Result<Item, PortError> {
    let pk = keys::enrollments(&enrollment.tenant, enrollment.sequence_id);
    let sk = keys::enrollment(enrollment.phone());
    let mut attributes = vec![
        (PK, pk.clone()),
        (SK, sk.clone()),
        (GSI1PK, pk.clone()),
        (
            GSI1SK,
            keys::enrollment_by_status(enrollment.status.as_str(), enrollment.phone()),
        ),
    ];
    if let Some((pending, since)) = enrollment.pending() {
        attributes.push((GSI2PK, due_partition_of(pending, &pk, &sk)));
        attributes.push((GSI2SK, keys::due_sort(since)));
    }
    to_item(enrollment, "enrollment", attributes)
}

/// One history entry's item: the entry with the phone and run it belongs to, in the sequence's
/// enrollments partition, so that the enrollment item stays the same size however many runs
/// and steps the contact has had.
#[derive(Serialize, serde::Deserialize)]
pub(super) struct HistoryItem {
    phone: String,
    enrollment_id: Ulid,
    entry: HistoryEntry,
}

/// The items of the history entries `entries` of `enrollment`'s run.
pub(super) fn history_items(
    enrollment: &Enrollment,
    entries: &[HistoryEntry],
) -> Result<Vec<Item>, PortError> {
    let pk = keys::enrollments(&enrollment.tenant, enrollment.sequence_id);
    entries
        .iter()
        .map(|entry| {
            let sk = keys::history_entry(enrollment.phone(), enrollment.id, entry.step_id);
            let item = HistoryItem {
                phone: enrollment.phone().to_string(),
                enrollment_id: enrollment.id,
                entry: entry.clone(),
            };
            to_item(&item, "history", vec![(PK, pk.clone()), (SK, sk)])
        })
        .collect()
}

/// The condition under which a history entry's item is written (none for a new entry): a
/// change of a stored entry only while that one is still at the revision before it (a
/// revision 0 stores none).
pub(super) struct EntryCondition {
    pub expression: &'static str,
    pub revision: Option<AttributeValue>,
}

impl EntryCondition {
    fn names() -> HashMap<String, String> {
        [("#pk", PK), ("#entry", "entry"), ("#rev", "rev")]
            .into_iter()
            .map(|(name, attribute)| (name.to_string(), attribute.to_string()))
            .collect()
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        self.revision
            .clone()
            .map(|revision| HashMap::from([(":rev".to_string(), revision)]))
    }
}

pub(super) fn entry_condition(entry: &HistoryEntry) -> Option<EntryCondition> {
    match entry.rev {
        0 => None,
        1 => Some(EntryCondition {
            expression: "attribute_exists(#pk) AND attribute_not_exists(#entry.#rev)",
            revision: None,
        }),
        rev => Some(EntryCondition {
            expression: "attribute_exists(#pk) AND #entry.#rev = :rev",
            revision: Some(AttributeValue::N((rev - 1).to_string())),
        }),
    }
}

/// The `Put` of a history entry's item, for a transaction, conditional as
/// [`entry_condition`] says.
pub(super) fn entry_put(
    table: &str,
    item: Item,
    entry: &HistoryEntry,
) -> Result<aws_sdk_dynamodb::types::Put, PortError> {
    let condition = entry_condition(entry);
    aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.as_ref().map(|c| c.expression.to_string()))
        .set_expression_attribute_names(condition.as_ref().map(|_| EntryCondition::names()))
        .set_expression_attribute_values(condition.as_ref().and_then(EntryCondition::values))
        .build()
        .map_err(build_error)
}

/// The enrollment as its item holds it: without the history entries it carries.
fn bare(enrollment: &Enrollment) -> std::borrow::Cow<'_, Enrollment> {
    if enrollment.history.is_empty() {
        std::borrow::Cow::Borrowed(enrollment)
    } else {
        let mut bare = enrollment.clone();
        bare.history.clear();
        std::borrow::Cow::Owned(bare)
    }
}

/// The run an overdue-index entry (table keys and index keys) names.
fn overdue_run(item: &Item) -> Option<OverdueRun> {
    let pk = string_attribute(item, PK)?;
    let sk = string_attribute(item, SK)?;
    let since = string_attribute(item, GSI2SK)?;
    let (tenant, sequence_id) = pk.strip_prefix("T#")?.rsplit_once("#SEQ#")?;
    Some(OverdueRun {
        tenant: TenantId::parse(tenant).ok()?,
        sequence_id: sequence_id.parse().ok()?,
        phone: sk.strip_prefix("E#")?.to_string(),
        since: chrono::DateTime::parse_from_rfc3339(&since).ok()?.to_utc(),
    })
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
        let enrollment = bare(enrollment);
        let item = enrollment_item(&enrollment)?;
        if index.is_empty() {
            return self
                .put_expecting(&*enrollment, item, expect, Absent::NoActiveItem)
                .await;
        }
        self.write_indexed(&enrollment, item, expect, index, false)
            .await
            .map(|_| ())
    }

    /// The message items' updates in the transaction are conditional on holding no status: a
    /// held one cancels it, and it runs again without that condition. No read either way.
    async fn write_enrollment_seeing_held(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<bool, WriteError> {
        let enrollment = bare(enrollment);
        let item = enrollment_item(&enrollment)?;
        self.write_indexed(&enrollment, item, expect, index, true)
            .await
    }

    /// One conditional `PutItem` of the entry's item, or, when the change counts something, a
    /// transaction of that `Put` and the counter shard's `ADD`.
    async fn write_entry(
        &self,
        enrollment: &Enrollment,
        entry: &HistoryEntry,
        counters: &Counts,
    ) -> Result<(), WriteError> {
        let Some(condition) = entry_condition(entry) else {
            return Err(WriteError::Port(PortError::new(
                "a history entry written alone must change a stored one (revision above 0)",
            )));
        };
        let mut items = history_items(enrollment, std::slice::from_ref(entry))?;
        let item = items.remove(0);
        if !counters.is_empty() {
            let writes = vec![
                TransactWriteItem::builder()
                    .put(entry_put(&self.table, item, entry)?)
                    .build(),
                self.counters_update(enrollment, counters)?,
            ];
            return match self.transact("history entry", writes).await? {
                Outcome::Committed => Ok(()),
                Outcome::Cancelled(_) => Err(WriteError::Conflict),
            };
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(Some(EntryCondition::names()))
            .set_expression_attribute_values(condition.values());
        match put.send().await {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(WriteError::Conflict)
            }
            Err(error) => Err(WriteError::Port(sdk_error(
                "DynamoDB PutItem (history entry) failed",
            )(error))),
        }
    }

    async fn history_entry(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        enrollment_id: Ulid,
        step_id: Ulid,
    ) -> Result<Option<HistoryEntry>, PortError> {
        let item: Option<HistoryItem> = self
            .get(
                keys::enrollments(tenant, sequence_id),
                keys::history_entry(phone, enrollment_id, step_id),
            )
            .await?;
        Ok(item.map(|item| item.entry))
    }

    /// One `Query` per page of the sequence's history items (one phone's: its key prefix).
    async fn list_history(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RunEntry>, PortError> {
        let listing = Listing {
            pk: keys::enrollments(tenant, sequence_id),
            prefix: phone.map_or_else(|| "H#".to_string(), keys::history_of),
            on_gsi1: false,
        };
        let items: Page<HistoryItem> = self.list(listing, page).await?;
        Ok(items.map(|item| RunEntry {
            phone: item.phone,
            enrollment_id: item.enrollment_id,
            entry: item.entry,
        }))
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
    async fn sequence_counters(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<Counts, PortError> {
        self.read_counters(tenant, sequence_id).await
    }

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
        let (pk, sk) = (
            keys::enrollments(tenant, sequence_id),
            keys::enrollment(phone),
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk.clone())))
            .condition_expression(
                "#status = :active AND #id = :run AND #next = :step \
                 AND #state.#state = :scheduled AND #state.#generation = :generation",
            )
            .update_expression(
                "SET #state = :sending, #version = #version + :one, #updated = :at, \
                 #duepk = :duepk, #duesk = :duesk",
            )
            .expression_attribute_names("#duepk", GSI2PK)
            .expression_attribute_names("#duesk", GSI2SK)
            .expression_attribute_values(":duepk", s(due_partition_of(Pending::Claimed, &pk, &sk)))
            .expression_attribute_values(":duesk", s(keys::due_sort(claim.at)))
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

    /// One `Query` per shard of the kind's partitions (`gsi2sk < :before`, earliest first),
    /// merged by time.
    async fn overdue(
        &self,
        pending: Pending,
        before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<OverdueRun>, PortError> {
        let limit = limit.clamp(1, 1000);
        let mut runs = Vec::new();
        for shard in 0..DUE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#pk", GSI2PK)
                .expression_attribute_names("#sk", GSI2SK)
                .expression_attribute_values(":pk", s(keys::due_partition(pending, shard)))
                .expression_attribute_values(":before", s(keys::due_sort(before)))
                .limit(i32::try_from(limit).unwrap_or(1000))
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (overdue index) failed"))?;
            for item in out.items() {
                match overdue_run(item) {
                    Some(run) => runs.push(run),
                    None => tracing::warn!("an overdue-index entry names no enrollment"),
                }
            }
        }
        runs.sort_by_key(|run| run.since);
        runs.truncate(limit);
        Ok(runs)
    }
}
