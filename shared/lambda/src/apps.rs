//! The router each HTTP function serves. `main.rs` builds the adapters and hands them here;
//! the handler tests build the same routers from the same functions.

use axum::http::StatusCode;
use axum::Router;
use ritmo_core::links::LinkSettings;
use ritmo_core::Ritmo;
use ritmo_http::problem::Problem;
use ritmo_http::{AppState, Auth, WebhookSettings};

/// The state of a function that serves no link and no webhook route.
fn state(ritmo: Ritmo, auth: Auth) -> AppState {
    AppState {
        ritmo,
        auth,
        links: LinkSettings::unused(),
        webhook: WebhookSettings::default(),
    }
}

/// `sequences-api`: channels, bots, sequences, steps, activation.
pub fn sequences_api(ritmo: Ritmo, auth: Auth) -> Router {
    let state = state(ritmo, auth);
    ritmo_http::finish(
        ritmo_http::sequences_routes(&state).merge(ritmo_http::health()),
        state,
    )
}

/// `enrollments-api`: contacts, history, stats.
pub fn enrollments_api(ritmo: Ritmo, auth: Auth) -> Router {
    let state = state(ritmo, auth);
    ritmo_http::finish(
        ritmo_http::enrollments_routes(&state).merge(ritmo_http::health()),
        state,
    )
}

/// `webhook`: Meta's verification handshake and signed notifications (no bearer auth: the
/// signature is the authentication).
pub fn webhook(ritmo: Ritmo, settings: WebhookSettings) -> Router {
    let state = AppState {
        ritmo,
        auth: Auth::authorizer_context(),
        links: LinkSettings::unused(),
        webhook: settings,
    };
    ritmo_http::finish(
        ritmo_http::webhook_routes().merge(ritmo_http::health()),
        state,
    )
}

/// `links-api` and `redirect` until links are part of the build: every route answers `501`.
pub fn not_in_this_build(what: &'static str) -> Router {
    Router::new()
        .merge(ritmo_http::health())
        .fallback(move || async move {
            Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                "not-implemented",
                format!("{what} are not part of this build"),
            )
        })
}
