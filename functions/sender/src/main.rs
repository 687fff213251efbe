//! `sender`: the target of every one-shot schedule. Sends one step to one contact and
//! schedules the next. Wiring only; the handler is `ritmo_lambda::sender::handle`.
//!
//! Until the WhatsApp Cloud API client is part of the build, the messenger is
//! `MessengerNotConfigured`: a due template or chatbot step is not sent, and its sequence
//! pauses with the reason in `status_reason`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use ritmo_aws::{
    DynamoStore, EventBridgeScheduler, MessengerNotConfigured, SchedulerConfig, StoreConfig,
};
use ritmo_core::clock::{Clock, SystemClock};
use ritmo_core::ids::UlidGen;
use ritmo_core::pacing::Pacer;
use ritmo_core::Ritmo;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let store_config = StoreConfig::from_env()?;
    let scheduler_config = SchedulerConfig::from_env()?;
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
    let ritmo = Ritmo {
        clock: clock.clone(),
        ids: Arc::new(UlidGen::new(clock)),
        channels: store.clone(),
        bots: store.clone(),
        sequences: store.clone(),
        enrollments: store,
        messenger: Arc::new(MessengerNotConfigured),
        scheduler,
        pacer: Arc::new(Pacer::new()),
    };
    let ritmo = &ritmo;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            ritmo_lambda::sender::handle(ritmo, event).await
        },
    ))
    .await
}
