//! `webhook`: Meta's webhook at `/webhooks/whatsapp` (public route, signed by Meta): the
//! verification handshake, then each signed notification handed to the notification queue
//! (`webhook-worker` applies it) and answered at once. Wiring only: config → adapters → app → run.

use ritmo_aws::deployment as aws;
use ritmo_http::WebhookSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let config = ritmo_aws::WebhookConfig::from_env()?;
    let settings = WebhookSettings {
        verify_token: Some(config.verify_token),
        app_secret: Some(config.app_secret),
    };
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let scheduler = aws::scheduler(&sdk, base.clock.clone())?;
    let state = ritmo_app::webhook(&base, scheduler, settings, aws::notification_queue(&sdk));
    ritmo_lambda::serve(ritmo_lambda::apps::webhook(state)).await
}
