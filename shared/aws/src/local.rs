//! SDK configuration for a DynamoDB- or Scheduler-compatible endpoint on this machine (an
//! emulator): no AWS account and no credentials needed.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// Region and credentials come from the usual `AWS_*` variables when set; otherwise a region
/// of `us-east-1` and dummy credentials, which an emulator accepts.
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment")
        }
        _ => Credentials::new("local", "local", None, None, "ritmo-local"),
    };
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(credentials)
        .load()
        .await
}
