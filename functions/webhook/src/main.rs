//! `webhook`: Meta's webhook at `/webhooks/whatsapp` (public route). Wiring only.
//!
//! This build answers the verification handshake and checks every delivery's signature; it
//! does not process deliveries yet (a signed `POST` answers 501, see
//! `ritmo_http::routes::webhook`).

use ritmo_aws::WebhookConfig;
use ritmo_http::routes::webhook::WebhookSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let config = WebhookConfig::from_env()?;
    let settings = WebhookSettings {
        verify_token: config.verify_token,
        app_secret: config.app_secret,
    };
    ritmo_lambda::serve(ritmo_lambda::apps::webhook(settings)).await
}
