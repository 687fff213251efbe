//! What a DynamoDB table answers on a bad day, injected by the counting proxy in front of the
//! emulator (which never throttles and never fails): a share of DynamoDB requests is answered,
//! instead of being forwarded, the way DynamoDB answers when it says "slow down" or fails —
//!
//! - a single-item request or a query: `ProvisionedThroughputExceededException` or
//!   `ThrottlingException` (400), which the SDK's retry strategy retries with backoff;
//! - a `TransactWriteItems` or `TransactGetItems`: `TransactionCanceledException` (400) with one
//!   cancellation reason per item, one of them `ThrottlingError` and the others `None`, as
//!   DynamoDB cancels a transaction one of whose items a partition throttled; the SDK does not
//!   retry it, the store must;
//! - any of them, at its own rate: `InternalServerError` (500), also before forwarding;
//!
//! and every request may be held up to a given latency first. Shapes as DynamoDB's JSON protocol
//! sends them (`__type`, `message`, `CancellationReasons`). The proxy counts what it injected.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::Rng;
use serde_json::{json, Value};

const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// How often, and how, DynamoDB requests fail. All shares are of DynamoDB requests, 0 to 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answered with a throttle instead of being forwarded.
    pub throttle: f64,
    /// Answered 500 `InternalServerError` instead of being forwarded.
    pub server_error: f64,
    /// Each request is held for a uniform random time up to this before it is forwarded.
    pub latency: Duration,
}

impl Faults {
    /// From `<PREFIX>_THROTTLES`, `<PREFIX>_SERVER_ERRORS` (shares) and `<PREFIX>_LATENCY_MS`;
    /// `None` when none is set.
    pub fn from_env(prefix: &str) -> Option<Self> {
        let read = |name: &str| -> Option<f64> {
            let value = std::env::var(format!("{prefix}_{name}")).ok()?;
            Some(
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{prefix}_{name} is not a number: {value}")),
            )
        };
        let (throttle, server_error, latency) =
            (read("THROTTLES"), read("SERVER_ERRORS"), read("LATENCY_MS"));
        if throttle.is_none() && server_error.is_none() && latency.is_none() {
            return None;
        }
        Some(Self {
            throttle: throttle.unwrap_or(0.0),
            server_error: server_error.unwrap_or(0.0),
            latency: Duration::from_secs_f64(latency.unwrap_or(0.0) / 1000.0),
        })
    }
}

/// What the proxy injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// `ProvisionedThroughputExceededException` or `ThrottlingException` on single-item
    /// requests and queries.
    pub throttles: usize,
    /// Transactions cancelled with a `ThrottlingError` reason.
    pub cancelled_transactions: usize,
    /// 500 `InternalServerError`.
    pub server_errors: usize,
}

#[derive(Default)]
pub(crate) struct Counters {
    throttles: AtomicUsize,
    cancelled_transactions: AtomicUsize,
    server_errors: AtomicUsize,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Injected {
        Injected {
            throttles: self.throttles.load(Ordering::Relaxed),
            cancelled_transactions: self.cancelled_transactions.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
        }
    }
}

/// The faults of one proxy and what it injected.
#[derive(Clone, Default)]
pub(crate) struct Injector {
    pub(crate) faults: Faults,
    pub(crate) counters: Arc<Counters>,
}

impl Injector {
    /// Waits the added latency, then answers `operation` (a DynamoDB operation, its request
    /// `body`) with a fault, or `None` to forward it.
    pub(crate) async fn answer(&self, operation: &str, body: &[u8]) -> Option<Response> {
        if !self.faults.latency.is_zero() {
            let wait = rand::rng().random_range(0.0..=self.faults.latency.as_secs_f64());
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let draw: f64 = rand::rng().random();
        if draw < self.faults.throttle {
            return Some(self.throttled(operation, body));
        }
        if draw < self.faults.throttle + self.faults.server_error {
            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
            return Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"__type": format!("{ERROR_PREFIX}InternalServerError"),
                       "message": "Internal server error"}),
            ));
        }
        None
    }

    fn throttled(&self, operation: &str, body: &[u8]) -> Response {
        if let "TransactWriteItems" | "TransactGetItems" = operation {
            self.counters
                .cancelled_transactions
                .fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::BAD_REQUEST, cancelled(body));
        }
        self.counters.throttles.fetch_add(1, Ordering::Relaxed);
        let (kind, message) = if rand::rng().random_bool(0.5) {
            (
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. \
                 Consider increasing your provisioning level with the UpdateTable API.",
            )
        } else {
            (
                "ThrottlingException",
                "Throughput exceeds the current capacity of your table or index. DynamoDB is \
                 automatically scaling your table or index so please try again shortly.",
            )
        };
        error(
            StatusCode::BAD_REQUEST,
            json!({"__type": format!("{ERROR_PREFIX}{kind}"), "message": message}),
        )
    }
}

/// A `TransactionCanceledException` for the transaction in `body`: one reason per item, the
/// throttled one at random, the others `None`.
fn cancelled(body: &[u8]) -> Value {
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|request| request["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    let throttled = rand::rng().random_range(0..items);
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            if i == throttled {
                json!({"Code": "ThrottlingError",
                       "Message": "Throughput exceeds the current capacity of your table or index."})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    json!({
        "__type": format!("{ERROR_PREFIX}TransactionCanceledException"),
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons,
    })
}

fn error(status: StatusCode, body: Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_transaction_has_one_reason_per_item_and_one_throttle() {
        let body = json!({"TransactItems": [{"Put": {}}, {"Update": {}}, {"Put": {}}]});
        let answer = cancelled(body.to_string().as_bytes());
        let reasons = answer["CancellationReasons"].as_array().unwrap();
        assert_eq!(reasons.len(), 3);
        let codes: Vec<&str> = reasons
            .iter()
            .map(|r| r["Code"].as_str().unwrap())
            .collect();
        assert_eq!(codes.iter().filter(|c| **c == "ThrottlingError").count(), 1);
        assert_eq!(codes.iter().filter(|c| **c == "None").count(), 2);
        assert_eq!(
            answer["__type"],
            "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
        );
    }

    #[tokio::test]
    async fn every_request_is_answered_by_a_fault_at_share_one_and_none_at_zero() {
        let always = Injector {
            faults: Faults {
                throttle: 1.0,
                ..Faults::default()
            },
            ..Injector::default()
        };
        for _ in 0..10 {
            let answer = always.answer("UpdateItem", b"{}").await.unwrap();
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        }
        let answer = always
            .answer("TransactWriteItems", br#"{"TransactItems": [{}]}"#)
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            always.counters.snapshot(),
            Injected {
                throttles: 10,
                cancelled_transactions: 1,
                server_errors: 0
            }
        );
        let never = Injector::default();
        assert!(never.answer("UpdateItem", b"{}").await.is_none());
        assert_eq!(never.counters.snapshot(), Injected::default());
    }
}
