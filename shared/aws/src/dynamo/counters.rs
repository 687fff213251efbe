//! A sequence's statistics counters: `COUNTER_SHARDS` items per sequence, each enrollment run
//! writing to the one its id picks, so that a sequence sending at a number's full rate spreads
//! its counter writes over several items. Each enrollment write adds its counter change to its
//! shard with `ADD`, inside the enrollment's own transaction; statistics read every shard with
//! one `BatchGetItem`.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::enrollments::counters::{Counter, Counts};
use ritmo_core::enrollments::model::Enrollment;
use ritmo_core::PortError;
use ulid::Ulid;

use super::{build_error, key, keys, s, sdk_error, DynamoStore, KIND, PK, SK};

/// Counter items per sequence.
pub const COUNTER_SHARDS: u32 = 16;
/// `BatchGetItem` calls made for one read while DynamoDB leaves keys unprocessed.
const BATCH_TRIES: usize = 5;

impl DynamoStore {
    /// The `ADD` of `counts` to the shard of the enrollment's run, for its transaction.
    pub(super) fn counters_update(
        &self,
        enrollment: &Enrollment,
        counts: &Counts,
    ) -> Result<TransactWriteItem, PortError> {
        let shard = keys::counter_shard(enrollment.id, COUNTER_SHARDS);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::sequence_counters(&enrollment.tenant, enrollment.sequence_id, shard),
                keys::COUNTERS_SK.into(),
            )))
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_values(":kind", s("sequence_counters"));
        let mut adds = Vec::with_capacity(counts.len());
        for (i, (counter, by)) in counts.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), counter.name())
                .expression_attribute_values(format!(":c{i}"), AttributeValue::N(by.to_string()));
        }
        let update = update
            .update_expression(format!("SET #kind = :kind ADD {}", adds.join(", ")))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every shard of the sequence's counters, summed: one `BatchGetItem` (again only for keys
    /// DynamoDB left unprocessed).
    pub(super) async fn read_counters(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<Counts, PortError> {
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        for shard in 0..COUNTER_SHARDS {
            wanted = wanted.keys(key(
                keys::sequence_counters(tenant, sequence_id, shard),
                keys::COUNTERS_SK.into(),
            ));
        }
        let mut request = std::collections::HashMap::from([(
            self.table.clone(),
            wanted.build().map_err(build_error)?,
        )]);
        let mut counts = Counts::default();
        for _ in 0..BATCH_TRIES {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(sdk_error(
                    "DynamoDB BatchGetItem (sequence counters) failed",
                ))?;
            let items = out
                .responses
                .as_ref()
                .and_then(|r| r.get(&self.table))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for item in items {
                for (name, value) in item {
                    if name == PK || name == SK || name == KIND {
                        continue;
                    }
                    let (Some(counter), AttributeValue::N(raw)) = (Counter::parse(name), value)
                    else {
                        tracing::warn!(attribute = %name, "a counter item holds an unknown attribute");
                        continue;
                    };
                    match raw.parse::<i64>() {
                        Ok(by) => counts.add(counter, by),
                        Err(_) => tracing::warn!(attribute = %name, "a counter is not an integer"),
                    }
                }
            }
            match out.unprocessed_keys.filter(|rest| !rest.is_empty()) {
                Some(rest) => request = rest,
                None => return Ok(counts),
            }
        }
        Err(PortError::new(
            "DynamoDB BatchGetItem (sequence counters) left keys unprocessed",
        ))
    }
}
