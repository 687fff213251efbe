//! `webhook`: Meta's webhook at `/webhooks/whatsapp` (public route, signed by Meta): the
//! verification handshake, then each signed notification handed to the notification queue
//! (`webhook-worker` applies it) and answered at once. Wiring only.

use ritmo_aws::WebhookConfig;
use ritmo_http::{WebhookSettings, WebhookState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let config = WebhookConfig::from_env()?;
    let state = WebhookState {
        inbound: ritmo_aws::inbound_from_env().await?,
        settings: WebhookSettings {
            verify_token: Some(config.verify_token),
            app_secret: Some(config.app_secret),
        },
        queue: ritmo_aws::deployment::notification_queue_from_env().await,
    };
    ritmo_lambda::serve(ritmo_lambda::apps::webhook(state)).await
}
