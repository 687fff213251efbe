//! Ritmo's HTTP edge: axum routers shared by the Lambda functions (under `lambda_http::run`)
//! and the local server, bearer auth, and `application/problem+json` errors.

pub mod auth;
pub mod extract;
pub mod openapi;
pub mod problem;
pub mod routes;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::Router;
use ritmo_core::links::LinkSettings;
use ritmo_core::page::Page;
use ritmo_core::Ritmo;

pub use auth::{Auth, VerifiedClaims};
pub use problem::Problem;
pub use routes::webhook::WebhookSettings;

/// Largest accepted request body: a CSV of 1000 contacts with a few attributes fits easily.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub ritmo: Ritmo,
    pub auth: Auth,
    /// Sticky-cookie key and public base URL of the link routes.
    pub links: LinkSettings,
    /// Keys of Meta's webhooks.
    pub webhook: routes::webhook::WebhookSettings,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Lists answer `{"items": [...], "next_cursor": null|string}` with opaque cursors.
pub fn list_response<T>(page: Page<T>) -> axum::Json<Page<T>> {
    axum::Json(Page {
        items: page.items,
        next_cursor: page.next_cursor.as_deref().map(extract::encode_cursor),
    })
}

fn authenticated(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn_with_state(
        state.auth.clone(),
        auth::require_auth,
    ))
}

/// The admin routes of the `sequences-api` function: channels, bots, sequences, steps.
pub fn sequences_routes(state: &AppState) -> Router<AppState> {
    authenticated(
        routes::channels::router().merge(routes::sequences::router()),
        state,
    )
}

/// The admin routes of the `enrollments-api` function: contacts, history, stats.
pub fn enrollments_routes(state: &AppState) -> Router<AppState> {
    authenticated(routes::enrollments::router(), state)
}

/// The admin routes of the `links-api` function: links, rotators, their stats and QR codes.
pub fn links_routes(state: &AppState) -> Router<AppState> {
    authenticated(routes::links::router(), state)
}

/// The `webhook` function's routes: `GET|POST /webhooks/whatsapp`, public (signed by Meta).
pub fn webhook_routes() -> Router<AppState> {
    routes::webhook::router()
}

/// The public redirect of the `redirect` function: `GET|HEAD /{slug}`. Static routes (`/health`,
/// `/v1/...`, `/webhooks/...`, `/_dev/...`) take precedence over it when merged.
pub fn redirect_routes() -> Router<AppState> {
    routes::redirect::router()
}

/// Every admin route (`/v1/...`).
pub fn admin_routes(state: &AppState) -> Router<AppState> {
    sequences_routes(state)
        .merge(enrollments_routes(state))
        .merge(links_routes(state))
}

/// `GET /health`.
pub fn health<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/health", get(health_check))
}

/// Answers while the server runs.
#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "health",
    responses((status = 200, description = "The server is up.", body = openapi::Health))
)]
async fn health_check() -> axum::Json<openapi::Health> {
    axum::Json(openapi::Health { status: "ok" })
}

/// Adds what every served router needs: problem+json 404/405, the body limit, the state.
pub fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
