//! The router each HTTP function serves. `main.rs` builds the services and hands them here;
//! the handler tests build the same routers from the same functions.

use axum::Router;
use ritmo_http::console::{ConsoleConfig, OidcClient};
use ritmo_http::{Auth, EnrollmentsState, LinksState, RedirectState, SequencesState, WebhookState};

/// `sequences-api`: channels, bots, sequences, steps, activation; and the admin console's page
/// (`/console`, no authorizer: it holds no data and calls this API with the user's token).
pub fn sequences_api(state: SequencesState, auth: Auth, console: ConsoleConfig) -> Router {
    ritmo_http::finish(
        ritmo_http::sequences_routes(&auth, state)
            .merge(ritmo_http::health())
            .merge(ritmo_http::console::routes(console)),
    )
}

/// `enrollments-api`: contacts, history, stats.
pub fn enrollments_api(state: EnrollmentsState, auth: Auth) -> Router {
    ritmo_http::finish(ritmo_http::enrollments_routes(&auth, state).merge(ritmo_http::health()))
}

/// `webhook`: Meta's verification handshake and signed notifications (no bearer auth: the
/// signature is the authentication).
pub fn webhook(state: WebhookState) -> Router {
    ritmo_http::finish(ritmo_http::webhook_routes(state).merge(ritmo_http::health()))
}

/// `links-api`: links and rotators, their statistics and QR codes (`/v1/links...`).
/// `state.public` is where the redirect is published, for links' URLs and QR codes.
pub fn links_api(state: LinksState, auth: Auth) -> Router {
    ritmo_http::finish(ritmo_http::links_routes(&auth, state).merge(ritmo_http::health()))
}

/// `redirect`: the public `GET|HEAD /{slug}` (no bearer auth), behind CloudFront.
pub fn redirect(state: RedirectState) -> Router {
    ritmo_core::links::bots::warm_up();
    ritmo_http::finish(ritmo_http::health().merge(ritmo_http::redirect_routes(state)))
}

/// The admin functions' auth: the claims API Gateway's JWT authorizer verified, under the
/// configured claim names.
pub fn authorizer(tenant_claim: &str, role_claim: &str) -> Auth {
    Auth::authorizer_context().with_claim_names(tenant_claim, role_claim)
}

/// The console's sign-in: the stack's Cognito app client when it creates one
/// (`RITMO_CONSOLE_AUTHORIZE_URL`, `RITMO_CONSOLE_TOKEN_URL`, `RITMO_CONSOLE_CLIENT_ID`,
/// `RITMO_CONSOLE_LOGOUT_URL`; empty when it does not: a pasted token then).
pub fn console_from_env(tenant_claim: &str, role_claim: &str) -> ConsoleConfig {
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
        tenant_claim: tenant_claim.to_string(),
        role_claim: role_claim.to_string(),
    }
}
