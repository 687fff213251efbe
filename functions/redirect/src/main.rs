//! `redirect`: the public redirect `GET|HEAD /{slug}`, served through its function URL behind
//! CloudFront. Wiring only.

use ritmo_aws::RedirectConfig;
use ritmo_core::links::{LinkSettings, StickyKey};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let config = RedirectConfig::from_env()?;
    let ritmo = ritmo_aws::ritmo_from_env().await?;
    let settings = LinkSettings::new(
        StickyKey::new(config.sticky_key.expose().as_bytes()),
        config.public_base_url.as_deref().unwrap_or(""),
    );
    ritmo_lambda::serve(ritmo_lambda::apps::redirect(ritmo, settings)).await
}
