//! `GET|HEAD /{slug}`: the public redirect customers click.
//!
//! Every answer is `Cache-Control: private, no-store`: the same URL gives each click a different
//! attendant, so no shared cache may keep any of them.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ritmo_core::calendar::{WindowSpec, DAY_KEYS};
use ritmo_core::links::sticky::STICKY_COOKIE;
use ritmo_core::links::{ClickOutcome, ClickRequest, Link, StickyUpdate};

use crate::RedirectState;

fn no_store() -> HeaderValue {
    HeaderValue::from_static("private, no-store")
}

pub fn router() -> Router<RedirectState> {
    // `get` also answers `HEAD`.
    Router::new().route("/{slug}", get(redirect))
}

/// Sends a customer on.
///
/// A `whatsapp` link goes to its chat, a rotator to its next open member in strict rotation (a
/// sticky customer to their member). Link-preview crawlers, bots and `HEAD` requests get the
/// link's Open Graph page instead and never advance the rotation.
#[utoipa::path(
    get, path = "/{slug}", operation_id = "followLink", tag = "redirect",
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
pub(crate) async fn redirect(
    State(s): State<RedirectState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let slug = uri.path().trim_start_matches('/');
    let request = ClickRequest {
        slug,
        head: method == Method::HEAD,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        sticky_cookie: cookie(&headers, STICKY_COOKIE),
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

/// The link's preview, headers only.
///
/// `HEAD /{slug}` is served by [`redirect`]: always the preview page, and it never advances the
/// rotation.
#[utoipa::path(
    head, path = "/{slug}", operation_id = "peekLink", tag = "redirect",
    params(("slug" = String, Path, description = "The link's slug.", example = "mystore")),
    responses(
        (status = 200, description = "The preview page's headers.", content_type = "text/html",
         headers(("Cache-Control" = String, description = "`private, no-store`."))),
        (status = 404, description = "No such link.", content_type = "text/html"),
        (status = 503, description = "Temporarily unavailable.", content_type = "text/html"),
    )
)]
#[allow(dead_code)]
pub(crate) fn redirect_head() {}

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

fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, no_store());
    response
}

fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        document(
            "Temporarily unavailable",
            "",
            "<h1>Temporarily unavailable</h1><p>Please try again in a moment.</p>",
        ),
    )
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>{head}</head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem\">\
         {body}</body></html>\n",
        escape(title)
    )
}

fn preview_page(link: &Link, url: &str) -> String {
    let preview = &link.preview;
    let title = preview.title.as_deref().unwrap_or(link.slug.as_str());
    let mut head = String::new();
    let mut meta = |property: &str, content: &str| {
        let _ = write!(
            head,
            "<meta property=\"{property}\" content=\"{}\">",
            escape(content)
        );
    };
    meta("og:type", "website");
    meta("og:url", url);
    meta("og:title", title);
    if let Some(description) = &preview.description {
        meta("og:description", description);
    }
    if let Some(image) = &preview.image_url {
        meta("og:image", image);
    }
    if let Some(description) = &preview.description {
        let _ = write!(
            head,
            "<meta name=\"description\" content=\"{}\">",
            escape(description)
        );
    }
    let mut body = format!("<h1>{}</h1>", escape(title));
    if let Some(description) = &preview.description {
        let _ = write!(body, "<p>{}</p>", escape(description));
    }
    document(title, &head, &body)
}

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn hours_table(spec: &WindowSpec) -> String {
    let mut rows = String::new();
    for (key, name) in DAY_KEYS.iter().zip(DAY_NAMES) {
        let ranges = spec
            .days
            .get(*key)
            .filter(|r| !r.is_empty())
            .map(|ranges| {
                ranges
                    .iter()
                    .map(|[start, end]| format!("{}–{}", escape(start), escape(end)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "closed".to_string());
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{name}</th><td>{ranges}</td></tr>"
        );
    }
    format!(
        "<h2>Opening hours</h2><table>{rows}</table><p>Times in {}.</p>",
        escape(&spec.time_zone)
    )
}

fn closed_page(link: &Link, message: &str) -> String {
    let title = link.preview.title.as_deref().unwrap_or(link.slug.as_str());
    let message = if message.is_empty() {
        "No one is available right now. Please come back during opening hours."
    } else {
        message
    };
    let mut body = format!(
        "<h1>{}</h1><p style=\"white-space:pre-line\">{}</p>",
        escape(title),
        escape(message)
    );
    if let Some(hours) = &link.hours {
        body.push_str(&hours_table(&hours.spec()));
    }
    document(title, "", &body)
}

fn not_found_page() -> String {
    document(
        "Link not found",
        "",
        "<h1>Link not found</h1><p>This link does not exist or is no longer available.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

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
