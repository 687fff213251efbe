//! The router each HTTP function serves. `main.rs` builds the adapters and hands them here;
//! the handler tests build the same routers from the same functions.

use axum::Router;
use ritmo_core::links::LinkSettings;
use ritmo_core::Ritmo;
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

/// `links-api`: links and rotators, their statistics and QR codes (`/v1/links...`).
/// `settings.public_base_url` is where the redirect is published, for links' URLs and QR codes.
pub fn links_api(ritmo: Ritmo, auth: Auth, settings: LinkSettings) -> Router {
    let state = AppState {
        ritmo,
        auth,
        links: settings,
        webhook: WebhookSettings::default(),
    };
    ritmo_http::finish(
        ritmo_http::links_routes(&state).merge(ritmo_http::health()),
        state,
    )
}

/// `redirect`: the public `GET|HEAD /{slug}` (no bearer auth), behind CloudFront.
/// `settings.sticky_key` signs the sticky-assignment cookie.
pub fn redirect(ritmo: Ritmo, settings: LinkSettings) -> Router {
    let state = AppState {
        ritmo,
        auth: Auth::authorizer_context(),
        links: settings,
        webhook: WebhookSettings::default(),
    };
    ritmo_core::links::bots::warm_up();
    ritmo_http::finish(
        ritmo_http::health().merge(ritmo_http::redirect_routes()),
        state,
    )
}
