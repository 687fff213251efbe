//! Ritmo's AWS adapters: the DynamoDB store ([`DynamoStore`]), EventBridge Scheduler
//! ([`EventBridgeScheduler`]), the typed configuration of the Lambda functions ([`config`]),
//! and the messenger of a deployment without a WhatsApp client ([`MessengerNotConfigured`]).
//! All AWS knowledge lives here; the domain in `ritmo-core` knows none of it.

pub mod config;
pub mod cursor;
pub mod dynamo;
pub mod local;
pub mod messenger;
pub mod scheduler;

pub use config::{ClaimsConfig, ConfigError, SchedulerConfig, StoreConfig, WebhookConfig};
pub use cursor::CursorKey;
pub use dynamo::DynamoStore;
pub use messenger::MessengerNotConfigured;
pub use scheduler::EventBridgeScheduler;
