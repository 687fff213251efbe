//! Ritmo's HTTP edge: axum routers shared by the Lambda functions (under `lambda_http::run`)
//! and the local server, bearer auth, and `application/problem+json` errors.

pub mod auth;
pub mod console;
pub mod extract;
pub mod openapi;
mod pages;
pub mod problem;
pub mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use ritmo_core::channels::service::ChannelService;
use ritmo_core::common::page::Page;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_core::delivery::ports::NotificationQueue;
use ritmo_core::enrollments::enroll::EnrollmentService;
use ritmo_core::enrollments::stats::StatsService;
use ritmo_core::jobs::JobService;
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::redirect::Redirect;
use ritmo_core::links::PublicBase;
use ritmo_core::sequences::service::SequenceService;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Auth, VerifiedClaims};
pub use problem::Problem;
pub use routes::webhook::WebhookSettings;

/// Largest accepted request body: a CSV of 1000 contacts with a few attributes fits easily.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest webhook delivery accepted: Meta documents notification payloads of up to 3 MB.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What the `sequences-api` routes use: channels, bots, sequences and steps.
#[derive(Clone)]
pub struct SequencesState {
    pub channels: ChannelService,
    pub sequences: SequenceService,
    pub jobs: JobService,
}

/// What the `enrollments-api` routes use: contacts, history and statistics.
#[derive(Clone)]
pub struct EnrollmentsState {
    pub enrollments: EnrollmentService,
    pub stats: StatsService,
}

/// What the `links-api` routes use: the link admin and where the redirect is published.
#[derive(Clone)]
pub struct LinksState {
    pub admin: LinkAdmin,
    pub public: PublicBase,
}

/// What the public redirect uses: the click decision and where it is published (`og:url`).
#[derive(Clone)]
pub struct RedirectState {
    pub redirect: Redirect,
    pub public: PublicBase,
}

/// What the webhook routes use: the event processing and Meta's keys.
#[derive(Clone)]
pub struct WebhookState {
    pub inbound: InboundWebhooks,
    pub settings: WebhookSettings,
    /// Where verified notifications go to be applied apart; `None` applies them in the request.
    pub queue: Option<Arc<dyn NotificationQueue>>,
}

/// Lists answer `{"items": [...], "next_cursor": null|string}` with opaque cursors.
pub fn list_response<T>(page: Page<T>) -> axum::Json<Page<T>> {
    axum::Json(Page {
        items: page.items,
        next_cursor: page.next_cursor.as_deref().map(extract::encode_cursor),
    })
}

fn authenticated(routes: Router, auth: &Auth) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(
        auth.clone(),
        auth::require_auth,
    ))
}

/// The admin routes of the `sequences-api` function: channels, bots, sequences, steps, jobs.
pub fn sequences_routes(auth: &Auth, state: SequencesState) -> Router {
    authenticated(
        routes::channels::router()
            .merge(routes::sequences::router())
            .merge(routes::jobs::router())
            .split_for_parts()
            .0
            .with_state(state),
        auth,
    )
}

/// The admin routes of the `enrollments-api` function: contacts, history, stats.
pub fn enrollments_routes(auth: &Auth, state: EnrollmentsState) -> Router {
    authenticated(
        routes::enrollments::router()
            .split_for_parts()
            .0
            .with_state(state),
        auth,
    )
}

/// The admin routes of the `links-api` function: links, rotators, their stats and QR codes.
pub fn links_routes(auth: &Auth, state: LinksState) -> Router {
    authenticated(
        routes::links::router()
            .split_for_parts()
            .0
            .with_state(state),
        auth,
    )
}

/// The `webhook` function's routes: `GET|POST /webhooks/whatsapp`, public (signed by Meta).
pub fn webhook_routes(state: WebhookState) -> Router {
    routes::webhook::router()
        .split_for_parts()
        .0
        .with_state(state)
        // Inside `finish`'s limit, so it takes precedence on this route.
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY_BYTES))
}

/// The public redirect of the `redirect` function: `GET|HEAD /{slug}`. Static routes (`/health`,
/// `/v1/...`, `/webhooks/...`, `/_dev/...`) take precedence over it when merged.
pub fn redirect_routes(state: RedirectState) -> Router {
    routes::redirect::router()
        .split_for_parts()
        .0
        .with_state(Arc::new(state))
}

/// Every admin route (`/v1/...`) of the three admin functions in one router, as the local
/// server serves them.
pub fn admin_routes(
    auth: &Auth,
    sequences: SequencesState,
    enrollments: EnrollmentsState,
    links: LinksState,
) -> Router {
    sequences_routes(auth, sequences)
        .merge(enrollments_routes(auth, enrollments))
        .merge(links_routes(auth, links))
}

/// `GET /health`.
pub fn health<S: Clone + Send + Sync + 'static>() -> Router<S> {
    health_router().split_for_parts().0
}

fn health_router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new().routes(routes!(health_check))
}

/// The paths of every route family, for the OpenAPI document.
pub(crate) fn documented_routes() -> [utoipa::openapi::OpenApi; 9] {
    [
        routes::channels::router().split_for_parts().1,
        routes::sequences::router().split_for_parts().1,
        routes::jobs::router().split_for_parts().1,
        routes::enrollments::router().split_for_parts().1,
        routes::links::router().split_for_parts().1,
        routes::redirect::router().split_for_parts().1,
        routes::webhook::router().split_for_parts().1,
        health_router::<()>().split_for_parts().1,
        openapi::api_router::<()>().split_for_parts().1,
    ]
}

/// Answers while the server runs.
#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "health",
    responses((status = 200, description = "The server is up.", body = openapi::Health))
)]
async fn health_check() -> axum::Json<openapi::Health> {
    axum::Json(openapi::Health { status: "ok" })
}

/// Adds what every served router needs: problem+json 404/405 and the body limit.
pub fn finish(routes: Router) -> Router {
    routes
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
