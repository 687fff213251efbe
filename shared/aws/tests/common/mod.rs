//! What the request-count tests share: a DynamoDB client that counts every request it sends.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Requests by operation (`x-amz-target`), each attempt counted.
#[derive(Debug, Default, Clone)]
pub struct Requests(Arc<Mutex<BTreeMap<String, usize>>>);

impl Requests {
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_string();
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

pub fn total(requests: &BTreeMap<String, usize>) -> usize {
    requests.values().sum()
}

pub fn writes(requests: &BTreeMap<String, usize>) -> usize {
    requests
        .iter()
        .filter(|(op, _)| {
            matches!(
                op.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            )
        })
        .map(|(_, n)| n)
        .sum()
}

/// A client of the emulator at `endpoint` whose requests `requests` counts.
pub async fn counted_client(endpoint: &str, requests: &Requests) -> aws_sdk_dynamodb::Client {
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(endpoint).await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    )
}
