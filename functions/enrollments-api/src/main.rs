//! `enrollments-api`: contacts enrolled and removed, per-contact history, statistics, behind
//! the HTTP API's JWT authorizer. Wiring only.

use ritmo_aws::ClaimsConfig;
use ritmo_http::{Auth, EnrollmentsState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let claims = ClaimsConfig::from_env()?;
    let (enrollments, stats) = ritmo_aws::enrollments_from_env().await?;
    let auth =
        Auth::authorizer_context().with_claim_names(&claims.tenant_claim, &claims.role_claim);
    let state = EnrollmentsState { enrollments, stats };
    ritmo_lambda::serve(ritmo_lambda::apps::enrollments_api(state, auth)).await
}
