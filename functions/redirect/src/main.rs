//! `redirect`: the public redirect `GET|HEAD /{slug}`, served through its function URL behind
//! CloudFront. Wiring only: config → adapters → app → run.

use ritmo_aws::deployment as aws;
use ritmo_core::links::{PublicBase, StickyKey};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let config = ritmo_aws::RedirectConfig::from_env()?;
    let sticky_key = StickyKey::new(config.sticky_key.expose().as_bytes());
    let public = PublicBase::new(config.public_base_url.as_deref().unwrap_or(""));
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let state = ritmo_app::redirect(&base, sticky_key, public);
    ritmo_lambda::serve(ritmo_lambda::apps::redirect(state)).await
}
