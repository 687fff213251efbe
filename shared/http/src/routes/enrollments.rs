//! `/v1/sequences/{id}/enrollments` and `/stats`.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use ritmo_core::common::page::Page;
use ritmo_core::enrollments::enroll::{ContactInput, EnrollOutcome, MAX_CONTACTS_PER_REQUEST};
use ritmo_core::enrollments::model::EnrollmentStatus;
use ritmo_core::enrollments::stats::SequenceStats;
use ritmo_core::enrollments::views::EnrollmentView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{
    body_bytes, ids, is_json, parse_json, query_pairs, Id, ListParams, ListQuery, Path,
};
use crate::problem::{ApiResult, BadRequest, BodyErrors, Conflict, Problem, ResourceErrors};
use crate::{list_response, EnrollmentsState};

/// `{phone}` of `/v1/sequences/{id}/enrollments/{phone}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ContactPath {
    /// The contact's phone, URL-encoded; any format that normalises to the same E.164 number.
    #[param(example = "+5511987654321")]
    phone: String,
}

pub fn router() -> OpenApiRouter<EnrollmentsState> {
    OpenApiRouter::new()
        .routes(routes!(list, enroll))
        .routes(routes!(read, remove))
        .routes(routes!(stats))
}

/// The contacts to enroll.
#[derive(Deserialize, ToSchema)]
pub struct EnrollRequest {
    /// 1 to 1000 contacts.
    #[schema(min_items = 1, max_items = 1000)]
    contacts: Vec<ContactInput>,
}

/// One result per contact, in the order given.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"phone": "+5511987654321", "status": "enrolled", "next_send_at": "2026-11-25T12:00:00Z", "error": null},
    {"phone": "123", "status": "rejected", "next_send_at": null, "error": "phone is not a phone number in international format (+ and country code)"}
]}))]
pub struct EnrollResponse {
    results: Vec<EnrollOutcome>,
}

/// `?status=` of the enrollment list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusParam {
    /// Only enrollments of this status.
    pub status: Option<EnrollmentStatus>,
}

/// The contacts of an enrollment request: JSON `{"contacts": [...]}` or CSV
/// (`phone,name,<attribute columns...>`, optional `time_zone` column).
pub(crate) struct Contacts(Vec<ContactInput>);

impl<S: Send + Sync> FromRequest<S> for Contacts {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(CONTENT_TYPE).cloned();
        let is_csv = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("text/csv")
            })
            .unwrap_or(false);
        if !is_csv && !is_json(content_type.as_ref()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send contacts as application/json or text/csv",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        if is_csv {
            parse_csv(&bytes).map(Contacts)
        } else {
            parse_json::<EnrollRequest>(&bytes).map(|r| Contacts(r.contacts))
        }
    }
}

fn parse_csv(bytes: &[u8]) -> Result<Vec<ContactInput>, Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Problem::bad_request("body", format!("is not valid CSV: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let phone_column = headers
        .iter()
        .position(|h| h == "phone")
        .ok_or_else(|| Problem::bad_request("body", "the CSV header must have a 'phone' column"))?;
    let mut contacts = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            Problem::bad_request(
                &format!("row[{}]", line + 1),
                format!("is not valid CSV: {e}"),
            )
        })?;
        if contacts.len() >= MAX_CONTACTS_PER_REQUEST {
            return Err(Problem::bad_request(
                "contacts",
                format!("give 1 to {MAX_CONTACTS_PER_REQUEST} contacts"),
            ));
        }
        let mut contact = ContactInput {
            phone: record.get(phone_column).unwrap_or_default().to_string(),
            name: None,
            time_zone: None,
            attributes: BTreeMap::new(),
        };
        for (index, header) in headers.iter().enumerate() {
            let value = record.get(index).unwrap_or_default();
            match header.as_str() {
                "phone" => {}
                "name" => contact.name = Some(value.to_string()).filter(|v| !v.is_empty()),
                "time_zone" => {
                    contact.time_zone = Some(value.to_string()).filter(|v| !v.is_empty())
                }
                attribute if !value.is_empty() => {
                    contact.attributes.insert(
                        attribute.to_string(),
                        serde_json::Value::String(value.to_string()),
                    );
                }
                _ => {}
            }
        }
        contacts.push(contact);
    }
    Ok(contacts)
}

/// Enrolls contacts.
///
/// 1 to 1000 contacts, as JSON or as CSV (`phone,name,<attribute columns...>`, optional
/// `time_zone` column), while the sequence is active or paused. Enrolling an active contact
/// changes nothing; one who completed or was removed starts over.
#[utoipa::path(
    post, path = "/v1/sequences/{id}/enrollments", operation_id = "enrollContacts", tag = "enrollments",
    params(Id<ids::Sequence>),
    request_body(
        description = "The contacts, as JSON or as CSV.",
        content(
            (EnrollRequest = "application/json"),
            (String = "text/csv", example = "phone,name,coupon\n+5511987654321,Ana,X1\n"),
        ),
    ),
    responses(
        (status = 200, description = "One result per contact, in order.", body = EnrollResponse),
        (status = 409, response = Conflict), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn enroll(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Contacts(contacts): Contacts,
) -> ApiResult<axum::Json<EnrollResponse>> {
    let results = s.enrollments.enroll(&who.tenant, id, contacts).await?;
    Ok(axum::Json(EnrollResponse { results }))
}

/// Lists a sequence's enrollments, optionally of one status.
#[utoipa::path(
    get, path = "/v1/sequences/{id}/enrollments", operation_id = "listEnrollments", tag = "enrollments",
    params(Id<ids::Sequence>, ListParams, StatusParam),
    responses(
        (status = 200, description = "One page of enrollments (without history).", body = Page<EnrollmentView>),
        (status = 400, response = BadRequest), ResourceErrors,
    )
)]
pub(crate) async fn list(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    ListQuery(page): ListQuery,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<Page<EnrollmentView>>> {
    let mut status = None;
    for (key, value) in query_pairs(uri.query()) {
        if key == "status" && !value.is_empty() {
            status = Some(EnrollmentStatus::parse(&value).ok_or_else(|| {
                Problem::bad_request("status", "must be active, completed, removed or exited")
            })?);
        }
    }
    Ok(list_response(
        s.enrollments
            .list_enrollments(&who.tenant, id, status, &page)
            .await?,
    ))
}

/// Reads a contact's enrollment with its history.
#[utoipa::path(
    get, path = "/v1/sequences/{id}/enrollments/{phone}", operation_id = "getEnrollment", tag = "enrollments",
    params(Id<ids::Sequence>, ContactPath),
    responses(
        (status = 200, description = "The enrollment with its history.", body = EnrollmentView),
        ResourceErrors,
    )
)]
pub(crate) async fn read(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Path(ContactPath { phone }): Path<ContactPath>,
) -> ApiResult<axum::Json<EnrollmentView>> {
    let enrollment = s.enrollments.enrollment(&who.tenant, id, &phone).await?;
    Ok(axum::Json(EnrollmentView::of(enrollment, true)))
}

/// Removes a contact.
///
/// Its status becomes `removed` and its pending send is cancelled. Removing an enrollment that
/// already ended changes nothing.
#[utoipa::path(
    delete, path = "/v1/sequences/{id}/enrollments/{phone}", operation_id = "removeEnrollment", tag = "enrollments",
    params(Id<ids::Sequence>, ContactPath),
    responses(
        (status = 200, description = "The enrollment.", body = EnrollmentView),
        (status = 409, response = Conflict), ResourceErrors,
    )
)]
pub(crate) async fn remove(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Path(ContactPath { phone }): Path<ContactPath>,
) -> ApiResult<axum::Json<EnrollmentView>> {
    Ok(axum::Json(
        s.enrollments
            .remove_contact(&who.tenant, id, &phone)
            .await?,
    ))
}

/// Statistics of a sequence.
///
/// Enrollment counts by status and exit reason, and per-step delivery and billing counts.
#[utoipa::path(
    get, path = "/v1/sequences/{id}/stats", operation_id = "sequenceStats", tag = "enrollments",
    params(Id<ids::Sequence>),
    responses(
        (status = 200, description = "The statistics.", body = SequenceStats),
        ResourceErrors,
    )
)]
pub(crate) async fn stats(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> ApiResult<axum::Json<SequenceStats>> {
    Ok(axum::Json(s.stats.sequence_stats(&who.tenant, id).await?))
}
