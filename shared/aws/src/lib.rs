//! Ritmo's AWS adapters: the DynamoDB store ([`DynamoStore`]), EventBridge Scheduler
//! ([`EventBridgeScheduler`]), the typed configuration of the Lambda functions ([`config`]),
//! each adapter built from that configuration (`deployment`), and the SDK clients' retry and
//! timeouts ([`sdk`]).
//! All AWS knowledge lives here; the domain in `ritmo-core` knows none of it.

pub mod config;
pub mod cursor;
pub mod deployment;
pub mod dynamo;
pub mod local;
#[cfg(feature = "s3")]
pub mod s3_uploads;
pub mod scheduler;
pub mod sdk;
pub mod secrets;
pub mod secrets_manager;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "sqs")]
pub mod sqs_jobs;

pub use config::{
    ClaimsConfig, ConfigError, LinksApiConfig, RedirectConfig, SchedulerConfig, StoreConfig,
    WebhookConfig,
};
pub use cursor::CursorKey;
pub use deployment::DeploymentError;
pub use dynamo::DynamoStore;
pub use scheduler::EventBridgeScheduler;
