//! `sequences-api`: channels, bots, sequences, steps, activation and jobs, behind the HTTP API's JWT
//! authorizer. Wiring only.

use ritmo_aws::ClaimsConfig;
use ritmo_http::console::{ConsoleConfig, OidcClient};
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
    let console = console_config(&claims);
    ritmo_lambda::serve(ritmo_lambda::apps::sequences_api(state, auth, console)).await
}

/// The console's sign-in: the stack's Cognito app client when it creates one
/// (`RITMO_CONSOLE_AUTHORIZE_URL`, `RITMO_CONSOLE_TOKEN_URL`, `RITMO_CONSOLE_CLIENT_ID`,
/// `RITMO_CONSOLE_LOGOUT_URL`; empty when it does not: a pasted token then).
fn console_config(claims: &ClaimsConfig) -> ConsoleConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let oidc = match (
        var("RITMO_CONSOLE_AUTHORIZE_URL"),
        var("RITMO_CONSOLE_TOKEN_URL"),
        var("RITMO_CONSOLE_CLIENT_ID"),
    ) {
        (Some(authorize_url), Some(token_url), Some(client_id)) => Some(OidcClient {
            authorize_url,
            token_url,
            client_id,
            logout_url: var("RITMO_CONSOLE_LOGOUT_URL"),
            scope: "openid email".into(),
        }),
        _ => None,
    };
    ConsoleConfig {
        oidc,
        tenant_claim: claims.tenant_claim.clone(),
        role_claim: claims.role_claim.clone(),
    }
}
