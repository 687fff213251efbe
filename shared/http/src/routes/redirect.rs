//! `GET|HEAD /{slug}`: the public redirect customers click.
//!
//! Every answer is `Cache-Control: private, no-store`: the same URL gives each click a different
//! attendant, so no shared cache may keep any of them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ritmo_core::links::sticky::STICKY_COOKIE;
use ritmo_core::links::{ClickOutcome, ClickRequest, StickyUpdate};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::pages::{closed_page, no_store, not_found_page, page, preview_page, unavailable};
use crate::RedirectState;

/// The state is shared behind one `Arc`: a request clones one pointer, not each part.
pub fn router() -> OpenApiRouter<Arc<RedirectState>> {
    OpenApiRouter::new().routes(routes!(redirect))
}

/// Sends a customer on.
///
/// A `whatsapp` link goes to its chat, a rotator to its next open member in strict rotation (a
/// sticky customer to their member). Link-preview crawlers, bots and `HEAD` requests get the
/// link's Open Graph page instead and never advance the rotation.
#[utoipa::path(
    method(get, head), path = "/{slug}", operation_id = "followLink", tag = "redirect",
    params(("slug" = String, Path, description = "The link's slug.", example = "mystore")),
    responses(
        (status = 302, description = "To the attendant's chat (`https://wa.me/<digits>?text=...`), \
                                      or to the link's `when_closed` URL.",
         headers(
             ("Location" = String, description = "Where to go."),
             ("Cache-Control" = String, description = "`private, no-store`."),
             ("Set-Cookie" = String, description = "A sticky rotator's signed member cookie."),
         )),
        (status = 200, description = "The link's preview page (crawlers, bots, `HEAD`), or the \
                                      closed page with the opening hours.",
         content_type = "text/html", body = String,
         headers(("Cache-Control" = String, description = "`private, no-store`."))),
        (status = 404, description = "No such link.", content_type = "text/html", body = String),
        (status = 503, description = "Temporarily unavailable.", content_type = "text/html", body = String),
    )
)]
pub(crate) async fn redirect(State(s): State<Arc<RedirectState>>, request: Request) -> Response {
    follow(
        &s,
        request.method(),
        request.uri().path(),
        request.headers(),
    )
    .await
}

/// The answer to `method path` (`/{slug}`) with `headers`: what the route answers, callable
/// without a router. Borrows the request's parts: a click copies none of its headers.
pub async fn follow(
    s: &RedirectState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let slug = path.trim_start_matches('/');
    let request = ClickRequest {
        slug,
        head: method == Method::HEAD,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        sticky_cookie: cookie(headers, STICKY_COOKIE),
    };
    match s.redirect.resolve_click(request).await {
        Ok(ClickOutcome::Redirect { location, sticky }) => {
            let Ok(location) = HeaderValue::from_str(&location) else {
                tracing::error!(slug, "link location is not a valid header value");
                return unavailable();
            };
            let mut response = StatusCode::FOUND.into_response();
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, location);
            headers.insert(header::CACHE_CONTROL, no_store());
            if let Some(cookie) = set_cookie(slug, &sticky) {
                headers.insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(ClickOutcome::Preview { link }) => {
            let url = s.public.public_url(&link.slug);
            page(StatusCode::OK, preview_page(&link, &url))
        }
        Ok(ClickOutcome::Closed { link, message }) => {
            page(StatusCode::OK, closed_page(&link, &message))
        }
        Ok(ClickOutcome::NotFound) => page(StatusCode::NOT_FOUND, not_found_page()),
        Err(error) => {
            tracing::error!(slug, error = %error, cause = ?std::error::Error::source(&error), "redirect failed");
            unavailable()
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"'))
        })
}

fn set_cookie(slug: &str, update: &StickyUpdate) -> Option<HeaderValue> {
    let (value, max_age) = match update {
        StickyUpdate::Keep => return None,
        StickyUpdate::Set {
            value,
            max_age_seconds,
        } => (value.as_str(), *max_age_seconds),
        StickyUpdate::Clear => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{STICKY_COOKIE}={value}; Max-Age={max_age}; Path=/{slug}; HttpOnly; Secure; SameSite=Lax"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("ritmo_sticky=ana.1.sig; c=3"),
        );
        assert_eq!(cookie(&headers, STICKY_COOKIE), Some("ana.1.sig"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "zzz"), None);
    }

    #[test]
    fn sticky_cookies_are_scoped_to_the_link_and_locked_down() {
        let set = set_cookie(
            "mystore",
            &StickyUpdate::Set {
                value: "ana.1.sig".into(),
                max_age_seconds: 86_400,
            },
        )
        .unwrap();
        assert_eq!(
            set,
            "ritmo_sticky=ana.1.sig; Max-Age=86400; Path=/mystore; HttpOnly; Secure; SameSite=Lax"
        );
        let clear = set_cookie("mystore", &StickyUpdate::Clear).unwrap();
        assert!(clear
            .to_str()
            .unwrap()
            .starts_with("ritmo_sticky=; Max-Age=0; Path=/mystore"));
        assert!(set_cookie("mystore", &StickyUpdate::Keep).is_none());
    }
}
