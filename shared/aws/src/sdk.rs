//! The AWS SDK's retry and timeout settings, in one place: the process's one `SdkConfig` carries
//! the timeouts and the default retry, and the DynamoDB and Scheduler clients are built from it
//! with their own retry. Also how an SDK failure becomes a [`PortError`]: a refusal for capacity
//! (throttling, a request limit) that outlasted the SDK's retries is marked retryable, never
//! taken for a conflict or a plain failure.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use ritmo_core::{PortError, PortErrorKind};

/// One try of any AWS call may take this long. Every call Ritmo makes is a small request that
/// DynamoDB, Scheduler, SQS or KMS answers in milliseconds; a try still unanswered after 4 s
/// is a stuck connection, and the retry goes to another. Well under a Lambda's timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// A call, all its tries and backoffs included, may take this long: a function (a sender
/// holding a claim, an API request) gives up on a call and answers, rather than hanging
/// until its Lambda timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to an AWS endpoint may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Tries of a call to any service but DynamoDB and Scheduler (the SDK's standard mode).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Tries of a DynamoDB call (standard mode, exponential backoff with jitter): throttling of a
/// hot partition or of an on-demand table scaling up passes within a few hundred milliseconds,
/// so DynamoDB gets more, shorter retries than the SDK's default 3 from 1 s (the AWS SDKs'
/// long-standing DynamoDB default is 10 tries from 25–50 ms).
pub const DYNAMODB_MAX_ATTEMPTS: u32 = 10;
/// The ceiling of the first DynamoDB retry's wait; each further one doubles it.
pub const DYNAMODB_INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// No DynamoDB retry waits longer than this.
pub const DYNAMODB_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Tries of an EventBridge Scheduler call. Scheduler's API has a per-account request rate
/// (CreateSchedule in particular) that a burst of enrollments reaches: the adaptive mode also
/// slows this client's own request rate while it is throttled, rather than only retrying.
pub const SCHEDULER_MAX_ATTEMPTS: u32 = 5;

/// The timeouts every client of the process runs with.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry of every client with no retry of its own.
pub fn default_retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS)
}

/// DynamoDB's retry: standard mode, [`DYNAMODB_MAX_ATTEMPTS`] tries.
pub fn dynamodb_retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(DYNAMODB_MAX_ATTEMPTS)
        .with_initial_backoff(DYNAMODB_INITIAL_BACKOFF)
        .with_max_backoff(DYNAMODB_MAX_BACKOFF)
}

/// Scheduler's retry: adaptive mode, [`SCHEDULER_MAX_ATTEMPTS`] tries.
pub fn scheduler_retry() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(SCHEDULER_MAX_ATTEMPTS)
}

/// A DynamoDB client from the process's configuration, with DynamoDB's retry.
pub fn dynamodb_client(aws: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(aws)
        .retry_config(dynamodb_retry())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Scheduler client from the process's configuration, with Scheduler's retry.
pub fn scheduler_client(aws: &SdkConfig) -> aws_sdk_scheduler::Client {
    let config = aws_sdk_scheduler::config::Builder::from(aws)
        .retry_config(scheduler_retry())
        .build();
    aws_sdk_scheduler::Client::from_conf(config)
}

/// The error codes of a service refusing for capacity: DynamoDB's throughput and request
/// limits, and the throttling answer every AWS service may give.
const THROTTLING_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequestsException",
];

/// Whether an AWS error code says the service refused for capacity.
pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// What kind of port error an SDK failure is: retryable when the service refused for capacity
/// (the SDK's own retries were spent), a plain failure otherwise.
pub fn error_kind<E, R>(error: &SdkError<E, R>) -> PortErrorKind
where
    E: ProvideErrorMetadata,
{
    match error.code() {
        Some(code) if is_throttling_code(code) => PortErrorKind::Retryable,
        _ => PortErrorKind::Failed,
    }
}

/// An SDK failure as a port error, with the SDK error kept as its source and a refusal for
/// capacity marked retryable (logged with its code: the SDK's retries did not absorb it).
pub fn port_error<E, R>(context: &'static str, error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = error_kind(&error);
    if kind == PortErrorKind::Retryable {
        tracing::warn!(
            operation = context,
            code = error.code().unwrap_or_default(),
            "AWS throttled the call after the SDK's retries"
        );
    }
    PortError::with_source(context, error).of_kind(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn throttling_codes_are_told_from_other_codes() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ] {
            assert!(is_throttling_code(code), "{code}");
        }
        for code in [
            "ConditionalCheckFailedException",
            "TransactionCanceledException",
            "ValidationException",
            "ResourceNotFoundException",
            "",
        ] {
            assert!(!is_throttling_code(code), "{code}");
        }
    }

    #[test]
    fn dynamodb_retries_in_standard_mode_with_more_shorter_tries() {
        let retry = dynamodb_retry();
        assert_eq!(retry.mode(), RetryMode::Standard);
        assert_eq!(retry.max_attempts(), DYNAMODB_MAX_ATTEMPTS);
        assert!((8..=10).contains(&retry.max_attempts()));
        assert_eq!(retry.initial_backoff(), DYNAMODB_INITIAL_BACKOFF);
    }

    #[test]
    fn scheduler_retries_in_adaptive_mode() {
        assert_eq!(scheduler_retry().mode(), RetryMode::Adaptive);
    }

    #[test]
    fn every_call_has_an_attempt_and_an_operation_timeout() {
        let timeouts = timeouts();
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
    }
}
