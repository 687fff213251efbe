//! `sequences-api`: channels, bots, sequences, steps and activation, behind the HTTP API's JWT authorizer. Wiring only.

use std::sync::Arc;

use ritmo_aws::{
    ClaimsConfig, DynamoStore, EventBridgeScheduler, MessengerNotConfigured, SchedulerConfig,
    StoreConfig,
};
use ritmo_core::clock::{Clock, SystemClock};
use ritmo_core::ids::UlidGen;
use ritmo_core::pacing::Pacer;
use ritmo_core::Ritmo;
use ritmo_http::Auth;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let store_config = StoreConfig::from_env()?;
    let scheduler_config = SchedulerConfig::from_env()?;
    let claims = ClaimsConfig::from_env()?;
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
    let auth =
        Auth::authorizer_context().with_claim_names(&claims.tenant_claim, &claims.role_claim);
    ritmo_lambda::serve(ritmo_lambda::apps::sequences_api(ritmo, auth)).await
}
