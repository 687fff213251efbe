//! The click path of the event loops in `serve`: a click (`GET /{slug}`) is answered by the
//! redirect's handler directly, ahead of the router, with no route lookup, extension map or
//! header copy in between.

use std::sync::Arc;

use axum::http::{Method, Request};
use axum::response::Response;
use ritmo_http::routes::redirect::follow;
use ritmo_http::RedirectState;

/// Top-level paths of static routes, which take precedence over `/{slug}` in the router: a
/// request for one of them is never a click.
pub const TOP_LEVEL_ROUTES: [&str; 3] = [
    "/health",
    "/openapi.json",
    ritmo_http::console::CONSOLE_PATH,
];

/// The public redirect answered ahead of a router: a server that serves the redirect among
/// other routes asks [`Self::takes`] first and, for a click, calls [`Self::answer`] directly,
/// the same handler as the `/{slug}` route of `ritmo_http::redirect_routes`.
#[derive(Clone)]
pub struct DirectRedirect {
    state: Arc<RedirectState>,
}

impl DirectRedirect {
    pub fn new(state: RedirectState) -> Self {
        Self {
            state: Arc::new(state),
        }
    }

    /// Whether the router would give `method path` to the redirect route: a `GET` of one
    /// non-empty path segment that is no static route's. (`HEAD`, never a counted click, goes
    /// through the router.)
    pub fn takes(method: &Method, path: &str) -> bool {
        method == Method::GET
            && path.len() > 1
            && !path[1..].contains('/')
            && !TOP_LEVEL_ROUTES.contains(&path)
    }

    /// The redirect route's answer to `request`.
    pub async fn answer<B>(&self, request: &Request<B>) -> Response {
        follow(
            &self.state,
            request.method(),
            request.uri().path(),
            request.headers(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_is_a_get_of_one_segment_that_no_static_route_takes() {
        // Every documented path of one segment with no parameter is a static route.
        let document = ritmo_http::openapi::document();
        let top_level: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|p| !p[1..].contains('/') && !p.contains('{'))
            .collect();
        assert!(!top_level.is_empty());
        for path in top_level {
            assert!(TOP_LEVEL_ROUTES.contains(&path), "{path} is not listed");
            assert!(!DirectRedirect::takes(&Method::GET, path), "{path}");
        }
        assert!(DirectRedirect::takes(&Method::GET, "/minhaloja"));
        assert!(DirectRedirect::takes(&Method::GET, "/v1"));
        for (method, path) in [
            (Method::HEAD, "/minhaloja"),
            (Method::POST, "/minhaloja"),
            (Method::GET, "/"),
            (Method::GET, "/minhaloja/"),
            (Method::GET, "/v1/links"),
            (Method::GET, "/_dev/outbox"),
        ] {
            assert!(!DirectRedirect::takes(&method, path), "{method} {path}");
        }
    }
}
