//! `/v1/links`: whatsapp links and rotators, their click statistics and QR codes.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use ritmo_core::links::{LinkInput, LinkStats, LinkView};
use ritmo_core::page::Page;
use ritmo_core::DomainError;
use serde::Serialize;

use crate::auth::Caller;
use crate::extract::{query_pairs, Json, ListQuery};
use crate::problem::{ApiResult, Problem};
use crate::{list_response, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/links", get(list_links).post(create_link))
        .route(
            "/v1/links/{slug}",
            get(get_link).put(replace_link).delete(delete_link),
        )
        .route("/v1/links/{slug}/stats", get(link_stats))
        .route("/v1/links/{slug}/qr.svg", get(link_qr))
}

/// A link with its public URL.
#[derive(Serialize)]
struct LinkResponse {
    #[serde(flatten)]
    link: LinkView,
    url: String,
}

fn with_url(s: &AppState, link: LinkView) -> LinkResponse {
    let url = s.links.public_url(&link.slug);
    LinkResponse { link, url }
}

async fn create_link(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(input): Json<LinkInput>,
) -> ApiResult<(StatusCode, axum::Json<LinkResponse>)> {
    let link = s.ritmo.create_link(&who.tenant, input).await?;
    Ok((StatusCode::CREATED, axum::Json(with_url(&s, link))))
}

async fn list_links(
    State(s): State<AppState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<LinkResponse>>> {
    let page = s.ritmo.list_links(&who.tenant, &page).await?;
    Ok(list_response(page.map(|link| with_url(&s, link))))
}

async fn get_link(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(slug): Path<String>,
) -> ApiResult<axum::Json<LinkResponse>> {
    let link = s.ritmo.link(&who.tenant, &slug).await?;
    Ok(axum::Json(with_url(&s, LinkView::from(&*link))))
}

async fn replace_link(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(slug): Path<String>,
    Json(input): Json<LinkInput>,
) -> ApiResult<axum::Json<LinkResponse>> {
    let link = s.ritmo.replace_link(&who.tenant, &slug, input).await?;
    Ok(axum::Json(with_url(&s, link)))
}

async fn delete_link(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    s.ritmo.delete_link(&who.tenant, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn date_param(field: &str, value: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| Problem::bad_request(field, "must be a date YYYY-MM-DD"))
}

async fn link_stats(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(slug): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<LinkStats>> {
    let mut from = None;
    let mut to = None;
    for (key, value) in query_pairs(uri.query()) {
        match key.as_str() {
            "from" if !value.is_empty() => from = Some(date_param("from", &value)?),
            "to" if !value.is_empty() => to = Some(date_param("to", &value)?),
            _ => {}
        }
    }
    Ok(axum::Json(
        s.ritmo.link_stats(&who.tenant, &slug, from, to).await?,
    ))
}

async fn link_qr(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let link = s.ritmo.link(&who.tenant, &slug).await?;
    let url = s.links.public_url(&link.slug);
    let svg = ritmo_core::links::qr::svg(&url).ok_or_else(|| {
        Problem::from(DomainError::unprocessable(
            "slug",
            "the link's public URL is too long for a QR code",
        ))
    })?;
    let mut response = svg.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok(response)
}
