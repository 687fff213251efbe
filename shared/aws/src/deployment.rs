//! The AWS adapters of a Lambda function, each from typed configuration read once at cold
//! start: one `SdkConfig` per process, shared by every client built from it. Which adapters a
//! function uses, and the services built on them, is `ritmo-app`'s business.

use std::sync::Arc;

use ritmo_core::common::clock::Clock;
use ritmo_core::enrollments::pricing::RateCard;

use crate::config::{optional, ConfigError, Environment, SchedulerConfig, StoreConfig};
use crate::{DynamoStore, EventBridgeScheduler};

/// `RITMO_RATE_CARD` (optional): the rate card JSON for estimated costs in statistics.
pub fn rate_card_from_env() -> Result<Option<Arc<RateCard>>, ConfigError> {
    optional(&Environment, "RITMO_RATE_CARD")
        .map(|raw| {
            RateCard::from_json(&raw)
                .map(Arc::new)
                .map_err(|errors| ConfigError::Invalid {
                    var: "RITMO_RATE_CARD",
                    reason: errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                })
        })
        .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] crate::secrets_manager::SecretReadError),
}

/// The process's one AWS configuration, after the secrets the environment names by
/// `<VAR>_ARN` were read from Secrets Manager and put in front of the environment: every
/// function's `main` calls it first, before any configuration is read. Its timeouts and
/// default retry are [`crate::sdk`]'s; DynamoDB and Scheduler clients built from it take their
/// own retry from there too.
pub async fn load() -> Result<aws_config::SdkConfig, DeploymentError> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(crate::sdk::timeouts())
        .retry_config(crate::sdk::default_retry())
        .load()
        .await;
    let named = crate::config::SECRET_VARIABLES
        .iter()
        .any(|var| std::env::var_os(format!("{var}_ARN")).is_some());
    if named {
        let client = aws_sdk_secretsmanager::Client::new(&aws);
        let secrets = crate::secrets_manager::fetch_secrets(&client, &Environment).await?;
        crate::config::install_secrets(secrets);
    }
    Ok(aws)
}

/// The DynamoDB store (every store port) on the table of `RITMO_TABLE_NAME`; with
/// `RITMO_SECRETS_KEY_ID` (and the `kms` feature) it seals access tokens and bot secrets with
/// that KMS key (see [`crate::secrets`]).
pub fn dynamo_store(aws: &aws_config::SdkConfig) -> Result<Arc<DynamoStore>, DeploymentError> {
    let store = DynamoStore::new(crate::sdk::dynamodb_client(aws), StoreConfig::from_env()?);
    #[cfg(feature = "kms")]
    let store = match std::env::var("RITMO_SECRETS_KEY_ID")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        Some(key_id) => store.with_secrets(Arc::new(crate::secrets::KmsCipher::new(
            aws_sdk_kms::Client::new(aws),
            key_id,
        ))),
        None => store,
    };
    Ok(Arc::new(store))
}

/// EventBridge Scheduler on the configuration of `RITMO_SCHEDULER_*` (and the step queue for
/// near-term steps, with the `sqs` feature).
pub fn scheduler(
    aws: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<EventBridgeScheduler>, DeploymentError> {
    let config = SchedulerConfig::from_env()?;
    #[cfg(feature = "sqs")]
    let direct = config.step_queue_url.clone();
    let scheduler = EventBridgeScheduler::new(crate::sdk::scheduler_client(aws), config, clock);
    #[cfg(feature = "sqs")]
    let scheduler = match direct {
        Some(url) => scheduler.with_direct_queue(aws_sdk_sqs::Client::new(aws), url),
        None => scheduler,
    };
    Ok(Arc::new(scheduler))
}

/// The imports bucket of `RITMO_IMPORTS_BUCKET` (the stack sets it for `enrollments-api`, which
/// signs upload links, and `job-worker`, which reads and deletes the files); without it, or in
/// a build without S3, no upload link is given (503) and only files sent as the body are taken.
pub fn uploads(aws: &aws_config::SdkConfig) -> Option<Arc<dyn ritmo_core::jobs::FileUploads>> {
    #[cfg(feature = "s3")]
    if let Some(bucket) = std::env::var("RITMO_IMPORTS_BUCKET")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        // An emulator on a local endpoint has no bucket host names.
        let config = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL").is_some())
            .build();
        return Some(Arc::new(crate::s3_uploads::S3Uploads::new(
            aws_sdk_s3::Client::from_conf(config),
            bucket,
        )));
    }
    let _ = aws;
    None
}

/// The job queue of `RITMO_JOB_QUEUE_URL` (the stack sets it for the functions that start or
/// run jobs); without it, or in a build without SQS, a job cannot be started (503).
pub fn job_queue(aws: &aws_config::SdkConfig) -> Arc<dyn ritmo_core::jobs::JobQueue> {
    #[cfg(feature = "sqs")]
    if let Some(url) = std::env::var("RITMO_JOB_QUEUE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Arc::new(crate::sqs_jobs::SqsJobQueue::new(
            aws_sdk_sqs::Client::new(aws),
            url,
        ));
    }
    let _ = aws;
    Arc::new(ritmo_core::jobs::store::NoJobQueue)
}

/// `webhook`: the notification queue of `RITMO_NOTIFICATION_QUEUE_URL`, when it is set (the
/// stack sets it; without it the webhook applies notifications in the request).
#[cfg(feature = "sqs")]
pub fn notification_queue(
    aws: &aws_config::SdkConfig,
) -> Option<Arc<dyn ritmo_core::delivery::ports::NotificationQueue>> {
    let url = std::env::var("RITMO_NOTIFICATION_QUEUE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())?;
    Some(Arc::new(crate::sqs::SqsNotificationQueue::new(
        aws_sdk_sqs::Client::new(aws),
        url,
    )))
}
