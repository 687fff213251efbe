//! `sequences-api`: channels, bots, sequences, steps, activation and jobs, behind the HTTP API's
//! JWT authorizer, and the console's pages. Wiring only: config → adapters → app → run.

use std::sync::Arc;

use ritmo_aws::deployment as aws;
use ritmo_whatsapp::{dns::SystemResolver, WhatsApp, WhatsAppConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let claims = ritmo_aws::ClaimsConfig::from_env()?;
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let messenger = Arc::new(WhatsApp::new(WhatsAppConfig::from_env()?)?);
    let bots = Some(Arc::new(SystemResolver) as _);
    let state = ritmo_app::sequences_api(&base, messenger, aws::job_queue(&sdk), bots);
    let auth = ritmo_lambda::apps::authorizer(&claims.tenant_claim, &claims.role_claim);
    let console = ritmo_lambda::apps::console_from_env(&claims.tenant_claim, &claims.role_claim);
    ritmo_lambda::serve(ritmo_lambda::apps::sequences_api(state, auth, console)).await
}
