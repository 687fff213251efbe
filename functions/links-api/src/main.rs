//! `links-api`: links and rotators, their statistics and QR codes (`/v1/links...`), behind the
//! HTTP API's JWT authorizer. Wiring only.

use ritmo_aws::{ClaimsConfig, LinksApiConfig};
use ritmo_core::links::PublicBase;
use ritmo_http::{Auth, LinksState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let claims = ClaimsConfig::from_env()?;
    let config = LinksApiConfig::from_env()?;
    let admin = ritmo_aws::link_admin_from_env().await?;
    let auth =
        Auth::authorizer_context().with_claim_names(&claims.tenant_claim, &claims.role_claim);
    let state = LinksState {
        admin,
        public: PublicBase::new(&config.public_base_url),
    };
    ritmo_lambda::serve(ritmo_lambda::apps::links_api(state, auth)).await
}
