//! Ritmo's AWS adapters: the DynamoDB store ([`DynamoStore`]), EventBridge Scheduler
//! ([`EventBridgeScheduler`]), the typed configuration of the Lambda functions ([`config`]),
//! and the production wiring they share (`deployment`).
//! All AWS knowledge lives here; the domain in `ritmo-core` knows none of it.

pub mod config;
pub mod cursor;
pub mod deployment;
pub mod dynamo;
pub mod local;
#[cfg(feature = "s3")]
pub mod s3_uploads;
pub mod scheduler;
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
pub use deployment::{
    enrollments_from_env, inbound_from_env, job_runner_from_env, link_admin_from_env,
    ports_from_env, redirect_from_env, DeploymentError, MessagingConfig,
};
pub use dynamo::DynamoStore;
pub use scheduler::EventBridgeScheduler;
