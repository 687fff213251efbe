//! Send slots on the table: a number's slot lattice (see `ritmo_core::delivery::pacing`) in
//! counter items of about one second each, so that every sender instance sharing the table
//! shares the number's rate.
//!
//! A counter item holds `n`: how many slots of its bucket, from the first, are taken or passed.
//! Taking a slot is one conditional `UpdateItem` that raises `n` by one, never starting before
//! the first slot that is not in the past (`floor`), never reaching past the horizon (`cap`).
//! When the condition fails, the item as it was (returned by the failed update) says why: the
//! bucket is full (the next one is tried) or `n` lags behind the present (it is raised to the
//! floor, on the condition that it is still what was read).
//!
//! A backlog fills buckets far ahead. So that a take does not walk every full bucket, each
//! instance remembers the runs of buckets it found full, and a frontier item per lattice holds
//! the latest run known full, `[s, e)`; whoever fills a bucket moves it on (conditionally, its
//! end only moves forward). A take skips the run it starts in and reads the frontier only when
//! the bucket it then tries is full: one request in the usual case, three when another instance
//! has moved on. Takes can start anywhere (a step planned for next week, a send now), so a run
//! says only that its own buckets are full, never the buckets before it.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use ritmo_core::delivery::pacing::{FullRuns, Lane, Lattice, SendSlots};
use ritmo_core::PortError;
use ulid::Ulid;

use super::{key, keys, sdk_error, DynamoStore, Item, KIND, TTL};

/// The counter attribute.
const N: &str = "n";
/// The frontier's attributes: its run of full buckets is `[s, b)`.
const FRONTIER: &str = "b";
const FRONTIER_START: &str = "s";
/// How many conditional updates one take may spend.
const MAX_UPDATES: usize = 64;
/// Counter items outlive their second by this long, then DynamoDB deletes them.
const KEEP_SECONDS: i64 = 3600;

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn counter(item: Option<&Item>) -> Option<i64> {
    match item?.get(N)? {
        AttributeValue::N(value) => value.parse().ok(),
        _ => None,
    }
}

/// What one conditional update of a bucket came to.
enum Update {
    /// `n` after the update.
    Taken(i64),
    /// The condition failed; `n` as it was (none when the item did not exist).
    Refused(Option<i64>),
}

impl DynamoStore {
    /// Raises the bucket's `n` by one from at least `floor`, if that stays under `cap`.
    async fn take_in_bucket(
        &self,
        pk: &str,
        bucket: i64,
        floor: i64,
        cap: i64,
        ttl: i64,
    ) -> Result<Update, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_string(), keys::slot_bucket(bucket))))
            .update_expression(
                "SET #n = if_not_exists(#n, :floor) + :one, #ttl = :ttl, #kind = :kind",
            )
            .condition_expression("attribute_not_exists(#n) OR (#n >= :floor AND #n < :cap)")
            .expression_attribute_names("#n", N)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_values(":floor", n(floor))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(cap))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":kind", AttributeValue::S("send-slots".into()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => counter(out.attributes.as_ref())
                .map(Update::Taken)
                .ok_or_else(|| PortError::new("DynamoDB UpdateItem (send slot) returned no count")),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Update::Refused(counter(refused.item())))
                }
                _ => Err(sdk_error("DynamoDB UpdateItem (send slot) failed")(error)),
            },
        }
    }

    /// Takes the floor's slot of a bucket whose counter is at or behind it (`n <= floor`, or no
    /// counter yet): `n` becomes `floor + 1`, the slots before the floor counted as passed.
    async fn take_floor(
        &self,
        pk: &str,
        bucket: i64,
        floor: i64,
        ttl: i64,
    ) -> Result<Update, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_string(), keys::slot_bucket(bucket))))
            .update_expression("SET #n = :taken, #ttl = :ttl, #kind = :kind")
            .condition_expression("attribute_not_exists(#n) OR #n <= :floor")
            .expression_attribute_names("#n", N)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_values(":taken", n(floor + 1))
            .expression_attribute_values(":floor", n(floor))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":kind", AttributeValue::S("send-slots".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Update::Taken(floor + 1)),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Update::Refused(counter(refused.item())))
                }
                _ => Err(sdk_error("DynamoDB UpdateItem (send slot) failed")(error)),
            },
        }
    }

    /// Raises a lagging `n` from `seen` to `floor + 1`: the floor's slot is then ours.
    async fn catch_up_bucket(
        &self,
        pk: &str,
        bucket: i64,
        seen: i64,
        floor: i64,
    ) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_string(), keys::slot_bucket(bucket))))
            .update_expression("SET #n = :taken")
            .condition_expression("#n = :seen")
            .expression_attribute_names("#n", N)
            .expression_attribute_values(":taken", n(floor + 1))
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(sdk_error("DynamoDB UpdateItem (send slot) failed")(error)),
        }
    }
}

/// What an instance remembers of a lattice (hints only: every take is still conditional).
#[derive(Debug, Default)]
pub struct LatticeHints {
    /// Runs of buckets found full.
    full: FullRuns,
    /// The last take found its bucket's counter behind the present (the number is not busy):
    /// the next take first tries to claim the first slot from the present on.
    idle: bool,
}

impl DynamoStore {
    fn remember_full(&self, pk: &str, start: i64, end: i64) {
        self.slot_hints
            .lock()
            .expect("slot hints")
            .entry(pk.to_string())
            .or_default()
            .full
            .insert(start, end);
    }

    fn skip_known_full(&self, pk: &str, bucket: i64) -> i64 {
        self.slot_hints
            .lock()
            .expect("slot hints")
            .get(pk)
            .map_or(bucket, |hints| hints.full.skip(bucket))
    }

    fn idle(&self, pk: &str) -> bool {
        self.slot_hints
            .lock()
            .expect("slot hints")
            .get(pk)
            .is_some_and(|hints| hints.idle)
    }

    fn remember_idle(&self, pk: &str, idle: bool) {
        self.slot_hints
            .lock()
            .expect("slot hints")
            .entry(pk.to_string())
            .or_default()
            .idle = idle;
    }

    /// The lattice's frontier: the latest run of full buckets, `[s, e)` (none when unknown).
    async fn frontier(&self, pk: &str) -> Result<Option<(i64, i64)>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_string(), keys::slot_frontier())))
            .projection_expression("#s, #b")
            .expression_attribute_names("#s", FRONTIER_START)
            .expression_attribute_names("#b", FRONTIER)
            .send()
            .await
            .map_err(sdk_error("DynamoDB GetItem (send-slot frontier) failed"))?;
        let number = |name: &str| match out.item.as_ref().and_then(|item| item.get(name)) {
            Some(AttributeValue::N(value)) => value.parse::<i64>().ok(),
            _ => None,
        };
        Ok(number(FRONTIER).map(|end| (number(FRONTIER_START).unwrap_or(end), end)))
    }

    /// Makes `[start, end)` the frontier's run, when that moves its end forward.
    async fn raise_frontier(
        &self,
        pk: &str,
        start: i64,
        end: i64,
        ttl: i64,
    ) -> Result<(), PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_string(), keys::slot_frontier())))
            .update_expression("SET #s = :s, #b = :b, #ttl = :ttl, #kind = :kind")
            .condition_expression("attribute_not_exists(#b) OR #b < :b")
            .expression_attribute_names("#s", FRONTIER_START)
            .expression_attribute_names("#b", FRONTIER)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_values(":s", n(start))
            .expression_attribute_values(":b", n(end))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":kind", AttributeValue::S("send-slots".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(sdk_error("DynamoDB UpdateItem (send-slot frontier) failed")(error)),
        }
    }
}

#[async_trait]
impl SendSlots for DynamoStore {
    async fn take(
        &self,
        lane: Lane,
        channel: Ulid,
        messages_per_second: u32,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PortError> {
        let lattice = Lattice::new(messages_per_second);
        let per_bucket = lattice.bucket_len();
        let first = lattice.first_at_or_after(at);
        let pk = keys::send_slots(lane, channel, messages_per_second);
        let start = first.div_euclid(per_bucket);
        let mut bucket = self.skip_known_full(&pk, start);
        let mut frontier_read = false;
        // A number that is not busy: its counter lags behind the present, and one conditional
        // update claims the first slot from now on. Otherwise the counter is ahead (a backlog)
        // and the usual take follows.
        if bucket == start && self.idle(&pk) {
            let floor = first - start * per_bucket;
            let ttl = lattice.instant((start + 1) * per_bucket).timestamp() + KEEP_SECONDS;
            if floor < per_bucket {
                if let Update::Taken(_) = self.take_floor(&pk, start, floor, ttl).await? {
                    return Ok(lattice.instant(first));
                }
                self.remember_idle(&pk, false);
            }
        }
        for _ in 0..MAX_UPDATES {
            let base = bucket * per_bucket;
            let floor = (first - base).max(0);
            let ttl = lattice.instant(base + per_bucket).timestamp() + KEEP_SECONDS;
            match self
                .take_in_bucket(&pk, bucket, floor, per_bucket, ttl)
                .await?
            {
                Update::Taken(taken) => {
                    if taken == per_bucket {
                        self.raise_frontier(&pk, start, bucket + 1, ttl).await?;
                        self.remember_full(&pk, start, bucket + 1);
                    } else if bucket > start {
                        self.remember_full(&pk, start, bucket);
                    }
                    return Ok(lattice.instant(base + taken - 1));
                }
                Update::Refused(Some(seen)) if seen < floor => {
                    if self.catch_up_bucket(&pk, bucket, seen, floor).await? {
                        self.remember_idle(&pk, true);
                        return Ok(lattice.instant(base + floor));
                    }
                }
                Update::Refused(_) => {
                    bucket = self.skip_known_full(&pk, bucket + 1);
                    if !frontier_read {
                        frontier_read = true;
                        if let Some((s, e)) = self.frontier(&pk).await? {
                            if (s..e).contains(&bucket) {
                                bucket = e;
                            }
                        }
                    }
                    self.remember_full(&pk, start, bucket);
                }
            }
        }
        // Every bucket tried was full: a long backlog no run describes yet. Record what this
        // take walked, so that the next one starts after it.
        self.raise_frontier(
            &pk,
            start,
            bucket,
            lattice.instant(bucket * per_bucket).timestamp() + KEEP_SECONDS,
        )
        .await?;
        Err(PortError::new(format!(
            "no send slot for channel {channel} in {MAX_UPDATES} buckets; try again"
        )))
    }
}
