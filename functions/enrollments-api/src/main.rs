//! `enrollments-api`: contacts enrolled and removed, imports, per-contact history, statistics,
//! behind the HTTP API's JWT authorizer. Wiring only: config → adapters → app → run.

use ritmo_aws::deployment as aws;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let claims = ritmo_aws::ClaimsConfig::from_env()?;
    let rate_card = aws::rate_card_from_env()?;
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let scheduler = aws::scheduler(&sdk, base.clock.clone())?;
    let (queue, uploads) = (aws::job_queue(&sdk), aws::uploads(&sdk));
    let state = ritmo_app::enrollments_api(&base, scheduler, queue, uploads, rate_card);
    let auth = ritmo_lambda::apps::authorizer(&claims.tenant_claim, &claims.role_claim);
    ritmo_lambda::serve(ritmo_lambda::apps::enrollments_api(state, auth)).await
}
