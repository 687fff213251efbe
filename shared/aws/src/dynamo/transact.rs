//! The one way the store runs a `TransactWriteItems`: within DynamoDB's item limit, with a
//! cancellation (a condition failed, or a conflict with another transaction) told apart from a
//! failure, and its reasons kept so the caller can tell which write's condition failed.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use ritmo_core::PortError;

use super::{sdk_error, DynamoStore};

/// DynamoDB's limit of items in one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// The code of a cancellation reason whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// The code of a cancellation reason whose item another transaction was writing.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// How a transaction ended.
pub enum Outcome {
    Committed,
    /// Cancelled, with one reason per write (in order): the caller reads again and retries, or
    /// reports which condition failed.
    Cancelled(Vec<CancellationReason>),
}

impl Outcome {
    pub fn committed(&self) -> bool {
        matches!(self, Outcome::Committed)
    }
}

/// Whether a write was cancelled because another transaction was writing its item.
pub fn transaction_conflict(reasons: &[CancellationReason]) -> bool {
    reasons
        .iter()
        .filter_map(CancellationReason::code)
        .any(|code| code == TRANSACTION_CONFLICT)
}

/// Whether the write at `index` was cancelled because its condition failed.
pub fn condition_failed(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .and_then(CancellationReason::code)
        .is_some_and(|code| code == CONDITION_FAILED)
}

impl DynamoStore {
    /// Runs `writes` as one transaction; `what` names it in errors.
    pub(crate) async fn transact(
        &self,
        what: &str,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Outcome, PortError> {
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(PortError::new(format!(
                "this {what} change touches {} items, more than one DynamoDB transaction may \
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
                _ => Err(sdk_error("DynamoDB TransactWriteItems failed")(error)),
            },
        }
    }
}
