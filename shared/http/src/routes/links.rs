//! `/v1/links`: whatsapp links and rotators, their click statistics and QR codes.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use ritmo_core::common::page::Page;
use ritmo_core::links::{LinkInput, LinkReplacement, LinkStats, LinkView, NewLink};
use ritmo_core::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{query_pairs, Json, ListParams, ListQuery, Path};
use crate::problem::{
    ApiResult, AuthErrors, BadRequest, BodyErrors, Conflict, ListErrors, Problem, ResourceErrors,
    Unprocessable,
};
use crate::{list_response, LinksState};

/// `{slug}` of `/v1/links/{slug}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct SlugPath {
    /// The link's slug.
    #[param(example = "mystore")]
    slug: String,
}

pub fn router() -> OpenApiRouter<LinksState> {
    OpenApiRouter::new()
        .routes(routes!(list_links, create_link))
        .routes(routes!(get_link, replace_link, delete_link))
        .routes(routes!(link_stats))
        .routes(routes!(link_qr))
}

/// A link with its public URL.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01JDQ8Z5C3M4N5P6Q7R8S9T0W0", "slug": "ana", "type": "whatsapp",
    "phone": "+5511987654321", "text": "Olá!", "hours": null,
    "when_closed": {"type": "page", "message": ""},
    "preview": {"title": null, "description": null, "image_url": null},
    "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z",
    "url": "https://go.example.com/ana"
}))]
pub struct LinkResponse {
    #[serde(flatten)]
    link: LinkView,
    /// The public URL customers click.
    #[schema(format = "uri")]
    url: String,
}

/// `?from=&to=` of the link statistics.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// First UTC date, `YYYY-MM-DD` (default: 29 days before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<NaiveDate>,
    /// Last UTC date, `YYYY-MM-DD` (default: today).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<NaiveDate>,
}

fn with_url(s: &LinksState, link: LinkView) -> LinkResponse {
    let url = s.public.public_url(&link.slug);
    LinkResponse { link, url }
}

/// Creates a `whatsapp` link or a `rotator` of whatsapp links.
#[utoipa::path(
    post, path = "/v1/links", operation_id = "createLink", tag = "links",
    request_body = NewLink,
    responses(
        (status = 201, description = "The link, with its public URL.", body = LinkResponse),
        (status = 409, response = Conflict), (status = 422, response = Unprocessable), BodyErrors, AuthErrors,
    )
)]
pub(crate) async fn create_link(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Json(input): Json<LinkInput>,
) -> ApiResult<(StatusCode, axum::Json<LinkResponse>)> {
    let link = s.admin.create_link(&who.tenant, input).await?;
    Ok((StatusCode::CREATED, axum::Json(with_url(&s, link))))
}

/// Lists the tenant's links.
#[utoipa::path(
    get, path = "/v1/links", operation_id = "listLinks", tag = "links",
    params(ListParams),
    responses(
        (status = 200, description = "One page of links.", body = Page<LinkResponse>),
        ListErrors,
    )
)]
pub(crate) async fn list_links(
    State(s): State<LinksState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<LinkResponse>>> {
    let page = s.admin.list_links(&who.tenant, &page).await?;
    Ok(list_response(page.map(|link| with_url(&s, link))))
}

/// Reads a link.
#[utoipa::path(
    get, path = "/v1/links/{slug}", operation_id = "getLink", tag = "links",
    params(SlugPath),
    responses(
        (status = 200, description = "The link.", body = LinkResponse),
        ResourceErrors,
    )
)]
pub(crate) async fn get_link(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Path(SlugPath { slug }): Path<SlugPath>,
) -> ApiResult<axum::Json<LinkResponse>> {
    let link = s.admin.link(&who.tenant, &slug).await?;
    Ok(axum::Json(with_url(&s, LinkView::from(&*link))))
}

/// Replaces a link's settings; its slug and type stay.
#[utoipa::path(
    put, path = "/v1/links/{slug}", operation_id = "replaceLink", tag = "links",
    params(SlugPath),
    request_body = LinkReplacement,
    responses(
        (status = 200, description = "The link.", body = LinkResponse),
        (status = 409, response = Conflict), (status = 422, response = Unprocessable), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn replace_link(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Path(SlugPath { slug }): Path<SlugPath>,
    Json(input): Json<LinkInput>,
) -> ApiResult<axum::Json<LinkResponse>> {
    let link = s.admin.replace_link(&who.tenant, &slug, input).await?;
    Ok(axum::Json(with_url(&s, link)))
}

/// Deletes a link (not while a rotator lists it).
#[utoipa::path(
    delete, path = "/v1/links/{slug}", operation_id = "deleteLink", tag = "links",
    params(SlugPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, response = Conflict), ResourceErrors,
    )
)]
pub(crate) async fn delete_link(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Path(SlugPath { slug }): Path<SlugPath>,
) -> ApiResult<StatusCode> {
    s.admin.delete_link(&who.tenant, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A date written exactly `YYYY-MM-DD` (four-digit year, no sign).
fn date_param(field: &str, value: &str) -> Result<NaiveDate, Problem> {
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| Problem::bad_request(field, "must be a date YYYY-MM-DD"))
}

/// Click counts of a link.
///
/// Over a span of UTC dates: by default the 30 days up to today; at most 366 days.
#[utoipa::path(
    get, path = "/v1/links/{slug}/stats", operation_id = "linkStats", tag = "links",
    params(SlugPath, StatsParams),
    responses(
        (status = 200, description = "The counts.", body = LinkStats),
        (status = 400, response = BadRequest), (status = 422, response = Unprocessable), ResourceErrors,
    )
)]
pub(crate) async fn link_stats(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Path(SlugPath { slug }): Path<SlugPath>,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<LinkStats>> {
    let mut from = None;
    let mut to = None;
    for (key, value) in query_pairs(uri.query()) {
        match key.as_str() {
            "from" => from = Some(date_param("from", &value)?),
            "to" => to = Some(date_param("to", &value)?),
            _ => {}
        }
    }
    Ok(axum::Json(
        s.admin.link_stats(&who.tenant, &slug, from, to).await?,
    ))
}

/// A QR code of the link's public URL.
#[utoipa::path(
    get, path = "/v1/links/{slug}/qr.svg", operation_id = "linkQrCode", tag = "links",
    params(SlugPath),
    responses(
        (status = 200, description = "The QR code.", content_type = "image/svg+xml", body = String),
        (status = 422, response = Unprocessable), ResourceErrors,
    )
)]
pub(crate) async fn link_qr(
    State(s): State<LinksState>,
    Caller(who): Caller,
    Path(SlugPath { slug }): Path<SlugPath>,
) -> ApiResult<Response> {
    let link = s.admin.link(&who.tenant, &slug).await?;
    let url = s.public.public_url(&link.slug);
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
