//! `links-api`: links and rotators, their statistics and QR codes (`/v1/links...`), behind the
//! HTTP API's JWT authorizer. Wiring only: config → adapters → app → run.

use ritmo_aws::deployment as aws;
use ritmo_core::links::PublicBase;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let claims = ritmo_aws::ClaimsConfig::from_env()?;
    let config = ritmo_aws::LinksApiConfig::from_env()?;
    // The redirect runs in its own function: its cache there shows changes within CONFIG_TTL.
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let state = ritmo_app::links_api(&base, PublicBase::new(&config.public_base_url));
    let auth = ritmo_lambda::apps::authorizer(&claims.tenant_claim, &claims.role_claim);
    ritmo_lambda::serve(ritmo_lambda::apps::links_api(state, auth)).await
}
