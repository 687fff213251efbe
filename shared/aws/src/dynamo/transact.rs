//! The one way the store runs a `TransactWriteItems`: within DynamoDB's item limit, with its
//! cancellation reasons classified in one place ([`classify`]):
//! - a failed condition is the only cancellation a caller sees ([`Outcome::Cancelled`], its
//!   reasons kept so the caller can tell which write's condition failed): the caller reads
//!   again, or reports the conflict;
//! - contention (another transaction on an item) and capacity (throttling, throughput and
//!   request limits) are retried here, the same transaction, with [`TRANSACTION_BACKOFF`];
//!   when those tries are spent the answer is a retryable [`PortError`], never a conflict;
//! - anything else (a validation error, an item collection over its size limit, a code this
//!   code does not know) is a [`PortError`] naming the code: no retry mends it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use ritmo_core::common::retry::Backoff;
use ritmo_core::PortError;

use super::{sdk_error, DynamoStore};

/// DynamoDB's limit of items in one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// How a transaction cancelled for contention or capacity is tried again (unless the store was
/// given another, [`DynamoStore::with_transaction_backoff`]): 8 tries in all, the
/// waits full-jitter exponential from 25 ms up to 1 s (at most about 2.6 s in all). A
/// transaction conflict is over once the other transaction commits (milliseconds); throttling
/// of a partition once its traffic spreads. The SDK does not retry a cancelled transaction
/// itself, whatever the reason.
pub const TRANSACTION_BACKOFF: Backoff = Backoff::new(
    std::time::Duration::from_millis(25),
    std::time::Duration::from_secs(1),
    8,
);

/// The code of a cancellation reason whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// What one cancellation reason says about its write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonClass {
    /// `None` (or no code): this write did not fail; another one cancelled the transaction.
    NoFailure,
    /// `ConditionalCheckFailed`: this write's condition is false. The only conflict.
    ConditionFailed,
    /// `TransactionConflict` (another transaction was writing the item), `ThrottlingError`,
    /// `ProvisionedThroughputExceeded`, `RequestLimitExceeded`: the same transaction may
    /// commit when tried again after a backoff.
    Retryable,
    /// Anything else (`ValidationError`, `ItemCollectionSizeLimitExceeded`, a code unknown
    /// here): no retry mends it.
    Refused,
}

/// The class of one cancellation reason's code.
pub fn classify_reason(code: Option<&str>) -> ReasonClass {
    match code {
        None | Some("None") => ReasonClass::NoFailure,
        Some(CONDITION_FAILED) => ReasonClass::ConditionFailed,
        Some(
            "TransactionConflict"
            | "ThrottlingError"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded",
        ) => ReasonClass::Retryable,
        Some(_) => ReasonClass::Refused,
    }
}

/// What a cancelled transaction's reasons come to, as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// At least one write's condition failed (and none was refused): the caller's conflict,
    /// even if another write also met contention or throttling (it would fail again as it is).
    ConditionFailed,
    /// No condition failed, no write was refused, and at least one met contention or
    /// capacity (`code`, the first such): the same transaction is tried again.
    Retryable { code: String },
    /// The write at `index` was refused with `code` (or, with no index, no reason named a
    /// failure at all): an error, never a conflict.
    Refused { index: Option<usize>, code: String },
}

/// Classifies a cancelled transaction by its reasons' codes, one per write in order. A
/// refused write outranks a failed condition, which outranks contention and capacity.
pub fn classify(codes: &[Option<&str>]) -> Cancellation {
    let classes: Vec<ReasonClass> = codes.iter().map(|code| classify_reason(*code)).collect();
    if let Some(index) = classes.iter().position(|c| *c == ReasonClass::Refused) {
        return Cancellation::Refused {
            index: Some(index),
            code: codes[index].unwrap_or_default().to_string(),
        };
    }
    if classes.contains(&ReasonClass::ConditionFailed) {
        return Cancellation::ConditionFailed;
    }
    match classes.iter().position(|c| *c == ReasonClass::Retryable) {
        Some(index) => Cancellation::Retryable {
            code: codes[index].unwrap_or_default().to_string(),
        },
        None => Cancellation::Refused {
            index: None,
            code: "no cancellation reason named a failure".to_string(),
        },
    }
}

/// How a transaction ended.
pub enum Outcome {
    Committed,
    /// A condition failed; one reason per write (in order): the caller reads again and retries,
    /// or reports which condition failed.
    Cancelled(Vec<CancellationReason>),
}

impl Outcome {
    pub fn committed(&self) -> bool {
        matches!(self, Outcome::Committed)
    }
}

/// Whether the write at `index` was cancelled because its condition failed.
pub fn condition_failed(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .and_then(CancellationReason::code)
        .is_some_and(|code| classify_reason(Some(code)) == ReasonClass::ConditionFailed)
}

impl DynamoStore {
    /// Runs `writes` as one transaction; `what` names it in errors and logs. A cancellation
    /// for contention or capacity is tried again here (see the module's comment).
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
        let backoff = self.transaction_backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await;
            let cancelled = match result {
                Ok(_) => return Ok(Outcome::Committed),
                Err(error) => match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    _ => return Err(sdk_error("DynamoDB TransactWriteItems failed")(error)),
                },
            };
            let codes: Vec<Option<&str>> = cancelled.iter().map(CancellationReason::code).collect();
            match classify(&codes) {
                Cancellation::ConditionFailed => return Ok(Outcome::Cancelled(cancelled)),
                Cancellation::Refused { index, code } => {
                    tracing::error!(transaction = what, write = ?index, code = %code, "DynamoDB refused a transaction");
                    return Err(PortError::new(format!(
                        "DynamoDB refused the {what} transaction: {code}{}",
                        index.map(|i| format!(" (write {i})")).unwrap_or_default()
                    )));
                }
                Cancellation::Retryable { code } if backoff.allows_another(tried) => {
                    tracing::warn!(
                        transaction = what,
                        code = %code,
                        attempt = tried,
                        max_attempts = backoff.attempts,
                        "DynamoDB transaction cancelled for contention or capacity; trying again"
                    );
                    backoff.wait(tried - 1).await;
                }
                Cancellation::Retryable { code } => {
                    tracing::warn!(
                        transaction = what,
                        code = %code,
                        attempts = tried,
                        "DynamoDB transaction still cancelled for contention or capacity; giving up"
                    );
                    return Err(PortError::retryable(format!(
                        "DynamoDB cancelled the {what} transaction {tried} times: {code}"
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(index: usize, code: &str) -> Cancellation {
        Cancellation::Refused {
            index: Some(index),
            code: code.to_string(),
        }
    }

    fn retryable(code: &str) -> Cancellation {
        Cancellation::Retryable {
            code: code.to_string(),
        }
    }

    #[test]
    fn none_is_no_failure_of_that_write() {
        assert_eq!(classify_reason(Some("None")), ReasonClass::NoFailure);
        assert_eq!(classify_reason(None), ReasonClass::NoFailure);
    }

    #[test]
    fn a_failed_condition_is_the_only_conflict() {
        assert_eq!(
            classify_reason(Some("ConditionalCheckFailed")),
            ReasonClass::ConditionFailed
        );
        assert_eq!(
            classify(&[Some("ConditionalCheckFailed")]),
            Cancellation::ConditionFailed
        );
        assert_eq!(
            classify(&[Some("None"), Some("ConditionalCheckFailed"), None]),
            Cancellation::ConditionFailed
        );
    }

    #[test]
    fn a_transaction_conflict_is_retried() {
        assert_eq!(
            classify_reason(Some("TransactionConflict")),
            ReasonClass::Retryable
        );
        assert_eq!(
            classify(&[Some("TransactionConflict")]),
            retryable("TransactionConflict")
        );
    }

    #[test]
    fn throttling_is_retried_never_a_conflict() {
        assert_eq!(
            classify_reason(Some("ThrottlingError")),
            ReasonClass::Retryable
        );
        assert_eq!(
            classify(&[Some("ThrottlingError")]),
            retryable("ThrottlingError")
        );
    }

    #[test]
    fn exceeded_provisioned_throughput_is_retried() {
        assert_eq!(
            classify_reason(Some("ProvisionedThroughputExceeded")),
            ReasonClass::Retryable
        );
        assert_eq!(
            classify(&[Some("ProvisionedThroughputExceeded")]),
            retryable("ProvisionedThroughputExceeded")
        );
    }

    #[test]
    fn an_exceeded_request_limit_is_retried() {
        assert_eq!(
            classify_reason(Some("RequestLimitExceeded")),
            ReasonClass::Retryable
        );
        assert_eq!(
            classify(&[Some("RequestLimitExceeded")]),
            retryable("RequestLimitExceeded")
        );
    }

    #[test]
    fn a_validation_error_is_an_error_naming_the_code() {
        assert_eq!(
            classify_reason(Some("ValidationError")),
            ReasonClass::Refused
        );
        assert_eq!(
            classify(&[Some("None"), Some("ValidationError")]),
            refused(1, "ValidationError")
        );
    }

    #[test]
    fn an_item_collection_over_its_size_limit_is_an_error() {
        assert_eq!(
            classify_reason(Some("ItemCollectionSizeLimitExceeded")),
            ReasonClass::Refused
        );
        assert_eq!(
            classify(&[Some("ItemCollectionSizeLimitExceeded")]),
            refused(0, "ItemCollectionSizeLimitExceeded")
        );
    }

    #[test]
    fn an_unknown_code_is_an_error_never_a_conflict() {
        assert_eq!(classify_reason(Some("SomethingNew")), ReasonClass::Refused);
        assert_eq!(
            classify(&[Some("SomethingNew"), None]),
            refused(0, "SomethingNew")
        );
    }

    #[test]
    fn a_throttled_write_beside_writes_that_did_not_fail_is_retried() {
        assert_eq!(
            classify(&[Some("None"), Some("ThrottlingError")]),
            retryable("ThrottlingError")
        );
        assert_eq!(
            classify(&[None, Some("None"), Some("ProvisionedThroughputExceeded")]),
            retryable("ProvisionedThroughputExceeded")
        );
    }

    #[test]
    fn a_failed_condition_beside_a_conflict_or_throttling_is_a_conflict() {
        assert_eq!(
            classify(&[Some("ConditionalCheckFailed"), Some("TransactionConflict")]),
            Cancellation::ConditionFailed
        );
        assert_eq!(
            classify(&[Some("ThrottlingError"), Some("ConditionalCheckFailed")]),
            Cancellation::ConditionFailed
        );
    }

    #[test]
    fn a_refused_write_outranks_a_failed_condition() {
        assert_eq!(
            classify(&[
                Some("ConditionalCheckFailed"),
                Some("TransactionConflict"),
                Some("ValidationError")
            ]),
            refused(2, "ValidationError")
        );
    }

    #[test]
    fn the_first_retryable_code_is_named() {
        assert_eq!(
            classify(&[Some("TransactionConflict"), Some("ThrottlingError")]),
            retryable("TransactionConflict")
        );
    }

    #[test]
    fn reasons_that_name_no_failure_are_an_error() {
        assert!(matches!(
            classify(&[Some("None"), None]),
            Cancellation::Refused { index: None, .. }
        ));
        assert!(matches!(
            classify(&[]),
            Cancellation::Refused { index: None, .. }
        ));
    }

    #[test]
    fn condition_failed_names_the_write_whose_condition_failed() {
        let reasons = vec![
            CancellationReason::builder().code("None").build(),
            CancellationReason::builder()
                .code("ConditionalCheckFailed")
                .build(),
        ];
        assert!(!condition_failed(&reasons, 0));
        assert!(condition_failed(&reasons, 1));
        assert!(!condition_failed(&reasons, 2));
    }

    #[test]
    fn the_transaction_backoff_is_bounded() {
        const { assert!(TRANSACTION_BACKOFF.attempts > 1) };
        let total: std::time::Duration = (0..TRANSACTION_BACKOFF.attempts - 1)
            .map(|retry| TRANSACTION_BACKOFF.ceiling(retry))
            .sum();
        assert!(total <= std::time::Duration::from_secs(3));
    }
}
