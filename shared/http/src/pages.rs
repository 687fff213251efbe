//! The redirect's HTML pages: a link's Open Graph preview, the closed page with the opening
//! hours, not found and temporarily unavailable. Every page is `Cache-Control: private, no-store`.

use std::fmt::Write as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ritmo_core::calendar::{WindowSpec, DAY_KEYS};
use ritmo_core::links::Link;

/// The same URL gives each click a different attendant: no shared cache may keep an answer.
pub(crate) fn no_store() -> HeaderValue {
    HeaderValue::from_static("private, no-store")
}

pub(crate) fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, no_store());
    response
}

pub(crate) fn unavailable() -> Response {
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
pub(crate) fn escape(text: &str) -> String {
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

pub(crate) fn document(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>{head}</head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem\">\
         {body}</body></html>\n",
        escape(title)
    )
}

pub(crate) fn preview_page(link: &Link, url: &str) -> String {
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

pub(crate) const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub(crate) fn hours_table(spec: &WindowSpec) -> String {
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

pub(crate) fn closed_page(link: &Link, message: &str) -> String {
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

pub(crate) fn not_found_page() -> String {
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
}
