//! The production wiring: configuration read once from the environment, one AWS config, and
//! for each function only the adapters and services it serves.

use std::sync::Arc;

use ritmo_core::common::clock::{Clock, SystemClock};
use ritmo_core::common::ids::UlidGen;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_core::enrollments::enroll::EnrollmentService;
use ritmo_core::enrollments::pricing::RateCard;
use ritmo_core::enrollments::stats::StatsService;
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::redirect::{LinkCache, Redirect};
use ritmo_core::links::StickyKey;
use ritmo_core::Ports;
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
    Secret(#[from] crate::secrets_manager::SecretReadError),
    #[error(transparent)]
    WhatsApp(#[from] ritmo_whatsapp::ClientError),
}

/// Reads the secrets the environment names by `<VAR>_ARN` from Secrets Manager and puts them in
/// front of the environment; every function's `main` calls it first, before any configuration
/// is read.
pub async fn resolve_secrets() -> Result<(), DeploymentError> {
    let named = crate::config::SECRET_VARIABLES
        .iter()
        .any(|var| std::env::var_os(format!("{var}_ARN")).is_some());
    if !named {
        return Ok(());
    }
    let aws = aws_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    let secrets =
        crate::secrets_manager::fetch_secrets(&client, &crate::config::Environment).await?;
    crate::config::install_secrets(secrets);
    Ok(())
}

/// The AWS configuration every function loads once at cold start.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The DynamoDB store (every store port) on the table of `RITMO_TABLE_NAME`; with
/// `RITMO_SECRETS_KEY_ID` (and the `kms` feature) it seals access tokens and bot secrets with
/// that KMS key (see [`crate::secrets`]).
pub fn dynamo_store(aws: &aws_config::SdkConfig) -> Result<Arc<DynamoStore>, DeploymentError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), StoreConfig::from_env()?);
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

fn scheduler(
    aws: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<EventBridgeScheduler>, DeploymentError> {
    let config = SchedulerConfig::from_env()?;
    #[cfg(feature = "sqs")]
    let direct = config.step_queue_url.clone();
    let scheduler = EventBridgeScheduler::new(aws_sdk_scheduler::Client::new(aws), config, clock);
    #[cfg(feature = "sqs")]
    let scheduler = match direct {
        Some(url) => scheduler.with_direct_queue(aws_sdk_sqs::Client::new(aws), url),
        None => scheduler,
    };
    Ok(Arc::new(scheduler))
}

/// Every port, for the functions that send or manage sequences (`sequences-api`, `sender`):
/// the DynamoDB store, EventBridge Scheduler and the WhatsApp Cloud API client.
pub async fn ports_from_env() -> Result<Ports, DeploymentError> {
    let messaging = MessagingConfig::from_env()?;
    let aws = aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = dynamo_store(&aws)?;
    Ok(Ports {
        ids: Arc::new(UlidGen::new(clock.clone())),
        scheduler: scheduler(&aws, clock.clone())?,
        clock,
        channels: store.clone(),
        bots: store.clone(),
        sequences: store.clone(),
        enrollments: store.clone(),
        jobs: store.clone(),
        job_queue: job_queue(&aws),
        import_files: store.clone(),
        uploads: uploads(&aws),
        links: store.clone(),
        routing: store.clone(),
        slots: store,
        link_cache: Arc::new(LinkCache::new()),
        messenger: Arc::new(WhatsApp::new(messaging.whatsapp)?),
        rate_card: messaging.rate_card.map(Arc::new),
        metrics: Arc::new(ritmo_core::delivery::ports::NoMetrics),
        resolver: Arc::new(ritmo_core::common::net::SystemResolver),
        allow_private_bots: false,
    })
}

/// `enrollments-api`: enrolling, reading and removing contacts, and statistics (the store,
/// EventBridge Scheduler and the optional rate card; no WhatsApp client).
pub async fn enrollments_from_env() -> Result<(EnrollmentService, StatsService), DeploymentError> {
    let rate_card = MessagingConfig::from_env()?.rate_card.map(Arc::new);
    let aws = aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = dynamo_store(&aws)?;
    let ids = Arc::new(UlidGen::new(clock.clone()));
    let jobs = ritmo_core::jobs::JobService::new(
        clock.clone(),
        ids.clone(),
        store.clone(),
        job_queue(&aws),
    );
    let enrollments = EnrollmentService::new(
        clock.clone(),
        ids,
        store.clone(),
        store.clone(),
        scheduler(&aws, clock)?,
        store.clone(),
        store.clone(),
        jobs,
    )
    .with_imports(store.clone());
    let enrollments = match uploads(&aws) {
        Some(uploads) => enrollments.with_uploads(uploads),
        None => enrollments,
    };
    Ok((
        enrollments,
        StatsService::new(store.clone(), store, rate_card),
    ))
}

/// `webhook`: applying Meta's events (the store and EventBridge Scheduler, whose pending
/// schedules an ended enrollment deletes; no WhatsApp client).
pub async fn inbound_from_env() -> Result<InboundWebhooks, DeploymentError> {
    let aws = aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = dynamo_store(&aws)?;
    Ok(InboundWebhooks::new(
        clock.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        scheduler(&aws, clock)?,
        store,
    ))
}

/// `job-worker`: the job runner on the store, EventBridge Scheduler (an ended run's pending
/// schedule is deleted, a resumed or imported one planned), the import files in the table and
/// the job queue it sends the next chunk to.
pub async fn job_runner_from_env() -> Result<ritmo_core::jobs::JobRunner, DeploymentError> {
    let aws = aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = dynamo_store(&aws)?;
    let scheduler = scheduler(&aws, clock.clone())?;
    let queue = job_queue(&aws);
    let transitions = ritmo_core::enrollments::transitions::EnrollmentTransitions::new(
        clock.clone(),
        store.clone(),
        scheduler.clone(),
        store.clone(),
        store.clone(),
    );
    // Imports enroll their rows as the enrollment request does.
    let ids = Arc::new(UlidGen::new(clock.clone()));
    let enroller = EnrollmentService::new(
        clock.clone(),
        ids.clone(),
        store.clone(),
        store.clone(),
        scheduler,
        store.clone(),
        store.clone(),
        ritmo_core::jobs::JobService::new(clock.clone(), ids, store.clone(), queue.clone()),
    );
    let runner = ritmo_core::jobs::JobRunner::new(
        clock,
        store.clone(),
        store.clone(),
        store.clone(),
        transitions,
        queue,
    )
    .with_imports(enroller, store);
    Ok(match uploads(&aws) {
        Some(uploads) => runner.with_uploads(uploads),
        None => runner,
    })
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
fn job_queue(aws: &aws_config::SdkConfig) -> Arc<dyn ritmo_core::jobs::JobQueue> {
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
pub async fn notification_queue_from_env(
) -> Option<Arc<dyn ritmo_core::delivery::ports::NotificationQueue>> {
    let url = std::env::var("RITMO_NOTIFICATION_QUEUE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())?;
    let aws = aws_config().await;
    Some(Arc::new(crate::sqs::SqsNotificationQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        url,
    )))
}

/// `links-api`: the link admin on the store.
pub async fn link_admin_from_env() -> Result<LinkAdmin, DeploymentError> {
    let aws = aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The redirect runs in its own function: its cache there shows changes within CONFIG_TTL.
    Ok(LinkAdmin::new(
        clock.clone(),
        Arc::new(UlidGen::new(clock)),
        dynamo_store(&aws)?,
        Arc::new(LinkCache::new()),
    ))
}

/// `redirect`: the click decision on the store's routing port, nothing else.
pub async fn redirect_from_env(sticky_key: StickyKey) -> Result<Redirect, DeploymentError> {
    let aws = aws_config().await;
    Ok(Redirect::new(
        Arc::new(SystemClock),
        dynamo_store(&aws)?,
        sticky_key,
        Arc::new(LinkCache::new()),
    ))
}
