//! `sequences-api`: channels, bots, sequences, steps, activation and jobs, behind the HTTP API's JWT
//! authorizer. Wiring only.

use ritmo_aws::ClaimsConfig;
use ritmo_http::{Auth, SequencesState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let claims = ClaimsConfig::from_env()?;
    let ports = ritmo_aws::ports_from_env().await?;
    let auth =
        Auth::authorizer_context().with_claim_names(&claims.tenant_claim, &claims.role_claim);
    let state = SequencesState {
        channels: ports.channel_service(),
        sequences: ports.sequence_service(),
        jobs: ports.job_service(),
    };
    ritmo_lambda::serve(ritmo_lambda::apps::sequences_api(state, auth)).await
}
