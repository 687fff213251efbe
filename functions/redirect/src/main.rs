//! `redirect`: the public redirect `GET|HEAD /{slug}`, served through its function URL behind
//! CloudFront. Wiring only.

use ritmo_aws::RedirectConfig;
use ritmo_core::links::{PublicBase, StickyKey};
use ritmo_http::RedirectState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let config = RedirectConfig::from_env()?;
    let sticky_key = StickyKey::new(config.sticky_key.expose().as_bytes());
    let state = RedirectState {
        redirect: ritmo_aws::redirect_from_env(sticky_key).await?,
        public: PublicBase::new(config.public_base_url.as_deref().unwrap_or("")),
    };
    ritmo_lambda::serve(ritmo_lambda::apps::redirect(state)).await
}
