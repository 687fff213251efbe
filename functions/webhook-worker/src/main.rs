//! `webhook-worker`: consumes the notification queue the webhook fills, applying statuses,
//! replies, opt-outs and template events. Wiring only: config → adapters → app → run
//! (`ritmo_lambda::inbound::handle`).

use ritmo_aws::deployment as aws;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let scheduler = aws::scheduler(&sdk, base.clock.clone())?;
    ritmo_lambda::inbound::run(ritmo_app::webhook_worker(&base, scheduler)).await
}
