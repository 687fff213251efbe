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

/// The emulator's endpoint from `variable`, for a test that needs it. Such a test is marked
/// `#[ignore = "needs the AWS emulator: infra/test.sh runs it"]`: `cargo test` lists it as
/// ignored, and the test command runs it with `--include-ignored` once it has started the
/// emulator. Run without the variable, the test fails naming it: a test that needs the emulator
/// never passes without having run.
pub fn emulator_endpoint(variable: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{variable} is not set: this test needs the AWS emulator; infra/test.sh starts \
                 one and sets it"
            )
        })
}
