//! The production wiring every function shares: configuration read once from the environment,
//! one AWS config, the DynamoDB store (every store port, links included), EventBridge Scheduler
//! and the WhatsApp Cloud API client.

use std::sync::Arc;

use ritmo_core::clock::{Clock, SystemClock};
use ritmo_core::ids::UlidGen;
use ritmo_core::pacing::Pacer;
use ritmo_core::pricing::RateCard;
use ritmo_core::Ritmo;
use ritmo_whatsapp::{WhatsApp, WhatsAppConfig};

use crate::config::{optional, ConfigError, Environment, SchedulerConfig, Source, StoreConfig};
use crate::{DynamoStore, EventBridgeScheduler};

/// The Graph API the WhatsApp client talks to: `RITMO_GRAPH_BASE_URL` (default
/// `https://graph.facebook.com`) and `RITMO_GRAPH_VERSION` (default the client's).
/// `RITMO_RATE_CARD` (optional) is the rate card JSON for estimated costs.
#[derive(Debug, Clone)]
pub struct MessagingConfig {
    pub whatsapp: WhatsAppConfig,
    pub rate_card: Option<RateCard>,
}

impl MessagingConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let mut whatsapp = WhatsAppConfig::default();
        if let Some(base) = optional(source, "RITMO_GRAPH_BASE_URL") {
            if !base.starts_with("https://") && !base.starts_with("http://") {
                return Err(ConfigError::Invalid {
                    var: "RITMO_GRAPH_BASE_URL",
                    reason: "must be an http(s) URL".into(),
                });
            }
            whatsapp.base_url = base;
        }
        if let Some(version) = optional(source, "RITMO_GRAPH_VERSION") {
            whatsapp.version = version;
        }
        let rate_card = optional(source, "RITMO_RATE_CARD")
            .map(|raw| {
                RateCard::from_json(&raw).map_err(|errors| ConfigError::Invalid {
                    var: "RITMO_RATE_CARD",
                    reason: errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                })
            })
            .transpose()?;
        Ok(Self {
            whatsapp,
            rate_card,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    WhatsApp(#[from] ritmo_whatsapp::ClientError),
}

/// Everything a function needs, built once at cold start.
pub async fn ritmo_from_env() -> Result<Ritmo, DeploymentError> {
    let store_config = StoreConfig::from_env()?;
    let scheduler_config = SchedulerConfig::from_env()?;
    let messaging = MessagingConfig::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        store_config,
    ));
    let scheduler = Arc::new(EventBridgeScheduler::new(
        aws_sdk_scheduler::Client::new(&aws),
        scheduler_config,
        clock.clone(),
    ));
    Ok(Ritmo {
        clock: clock.clone(),
        ids: Arc::new(UlidGen::new(clock)),
        channels: store.clone(),
        bots: store.clone(),
        sequences: store.clone(),
        enrollments: store.clone(),
        links: store,
        messenger: Arc::new(WhatsApp::new(messaging.whatsapp)?),
        scheduler,
        pacer: Arc::new(Pacer::new()),
        rate_card: messaging.rate_card.map(Arc::new),
    })
}
