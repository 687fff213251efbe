//! `/v1/sequences/{id}/enrollments` and `/stats`.

use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ritmo_core::common::page::Page;
use ritmo_core::enrollments::csv_rows::CsvColumns;
use ritmo_core::enrollments::enroll::{EnrollOutcome, MAX_CONTACTS_PER_REQUEST};
use ritmo_core::enrollments::model::ContactInput;
use ritmo_core::enrollments::model::EnrollmentStatus;
use ritmo_core::enrollments::stats::SequenceStats;
use ritmo_core::enrollments::views::EnrollmentView;
use ritmo_core::jobs::model::JobStarted;
use ritmo_core::jobs::{ImportUpload, JobKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{
    body_bytes, ids, is_json, parse_json, query_pairs, Id, ListParams, ListQuery, Path,
};
use crate::problem::{
    ApiResult, BadRequest, BodyErrors, Conflict, Problem, ResourceErrors, Unavailable,
};
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
        .routes(routes!(list, enroll, remove_all))
        .routes(routes!(read, remove))
        .routes(routes!(stats))
        .routes(routes!(import))
        .routes(routes!(remove_listed))
}

/// The contacts to enroll.
#[derive(Deserialize, ToSchema)]
pub struct EnrollRequest {
    /// 1 to 1000 contacts.
    #[schema(min_items = 1, max_items = 1000)]
    contacts: Vec<ContactInput>,
}

/// The CSV header must have a `phone` column (any case; bare or quoted; the other header fields
/// unquoted), optionally after a byte-order mark, and at least one row must follow.
pub const CSV_CONTACTS_PATTERN: &str = "^\\ufeff?([^\\r\\n\",]*,)*([ \\t]*[Pp][Hh][Oo][Nn][Ee][ \\t]*|\"[Pp][Hh][Oo][Nn][Ee]\"[ \\t]*)(,[^\\r\\n\",]*)*[\\r\\n]+[^\\r\\n][\\s\\S]*$";

/// Contacts as CSV: a header naming the columns, then one contact per row.
pub struct CsvContacts;

impl utoipa::PartialSchema for CsvContacts {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "`phone,name,<attribute columns...>` (optional `time_zone` column): a header \
                 with a `phone` column, then 1 to 1000 rows; a row with fewer fields leaves \
                 the rest empty, extra fields are ignored.",
            ))
            .pattern(Some(CSV_CONTACTS_PATTERN))
            .into()
    }
}

impl ToSchema for CsvContacts {}

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
            .is_some_and(|v| media_type_is(v, "text/csv"));
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
    // Rows may be short or long (missing fields are empty); a byte-order mark may open the file.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes));
    let headers = reader
        .headers()
        .map_err(|e| Problem::bad_request("body", format!("is not valid CSV: {e}")))?;
    let columns = CsvColumns::new(headers.iter()).map_err(|e| Problem::bad_request("body", e))?;
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
        contacts.push(columns.contact(record.iter()));
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
            (CsvContacts = "text/csv", example = "phone,name,coupon\n+5511987654321,Ana,X1\n"),
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
        if key == "status" {
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

/// `?status=` of a bulk removal.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemovalParam {
    /// The enrollments to remove: those of this status (only active runs change; removing
    /// ended ones changes nothing, as for one contact).
    pub status: EnrollmentStatus,
}

/// Removes every enrollment of a status, as a background job.
///
/// Each is removed as `DELETE /v1/sequences/{id}/enrollments/{phone}` removes one: status
/// `removed`, pending send cancelled. Answers at once with the job (`Location: /v1/jobs/{id}`).
#[utoipa::path(
    delete, path = "/v1/sequences/{id}/enrollments", operation_id = "removeEnrollments", tag = "enrollments",
    params(Id<ids::Sequence>, RemovalParam),
    responses(
        (status = 202, description = "The job that removes them.", body = JobStarted,
         headers(("Location" = String, description = "The job: `/v1/jobs/{id}`."))),
        (status = 400, response = BadRequest), (status = 503, response = Unavailable), ResourceErrors,
    )
)]
pub(crate) async fn remove_all(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    uri: axum::http::Uri,
) -> ApiResult<axum::response::Response> {
    let mut status = None;
    for (key, value) in query_pairs(uri.query()) {
        if key == "status" {
            status = Some(EnrollmentStatus::parse(&value).ok_or_else(|| {
                Problem::bad_request("status", "must be active, completed, removed or exited")
            })?);
        }
    }
    let status = status.ok_or_else(|| {
        Problem::bad_request(
            "status",
            "is required: the status of the enrollments to remove",
        )
    })?;
    let job = s
        .enrollments
        .remove_enrollments(&who.tenant, id, status)
        .await?;
    Ok(crate::routes::jobs::accepted(&job))
}

/// A CSV file of contacts, of any size: the same columns as a CSV enrollment.
pub struct CsvImport;

impl utoipa::PartialSchema for CsvImport {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "`phone,name,<attribute columns...>` (optional `time_zone` column), UTF-8 with or \
                 without a byte-order mark, separated by `,` or `;` (whichever the header uses \
                 more): a header with a `phone` column, then up to 1,000,000 rows.",
            ))
            .pattern(Some(import_pattern()))
            .into()
    }
}

impl ToSchema for CsvImport {}

/// [`CSV_CONTACTS_PATTERN`] for a header separated by `,` or by `;` (one kind per header, so
/// the separator it uses is never in doubt).
fn import_pattern() -> String {
    let header = |sep: char, other: char| {
        let field = format!("[^\\r\\n\"{sep}{other}]*");
        format!(
            "({field}{sep})*([ \\t]*[Pp][Hh][Oo][Nn][Ee][ \\t]*|\"[Pp][Hh][Oo][Nn][Ee]\"[ \\t]*)({sep}{field})*"
        )
    };
    format!(
        "^\\ufeff?({}|{})[\\r\\n]+[^\\r\\n][\\s\\S]*$",
        header(',', ';'),
        header(';', ',')
    )
}

/// Imports contacts from a CSV file, as a background job.
///
/// Either the file as the body (`text/csv`): read as it arrives and kept in parts until the
/// job has enrolled every row (any size on `ritmo-local`; in the stack, up to Lambda's 6 MB
/// request payload), answered once it is stored. Or `{"upload": true}` (`application/json`):
/// the answer gives an `upload_url` to `PUT` the file to (a pre-signed S3 URL in the stack;
/// up to 1,000,000 rows, 512 MiB) before `upload_expires_at`; the job waits `queued`
/// (`awaiting_upload`) and starts when the upload completes. Each row is enrolled as
/// `POST /v1/sequences/{id}/enrollments` enrolls a contact; a phone repeated in the file is
/// enrolled once; rejected rows are listed in the job's `errors.csv` with their row number.
/// Answers `202` with the job (`Location: /v1/jobs/{id}`).
#[utoipa::path(
    post, path = "/v1/sequences/{id}/imports", operation_id = "importContacts", tag = "enrollments",
    params(Id<ids::Sequence>),
    request_body(
        description = "The contacts, as CSV.",
        content(
            (CsvImport = "text/csv", example = "phone;name;cupom\n+5511987654321;Ana;X1\n"),
            (UploadRequest = "application/json"),
        ),
    ),
    responses(
        (status = 202, description = "The job that imports them (with the upload link, when one was asked for).",
         body = JobStarted,
         headers(("Location" = String, description = "The job: `/v1/jobs/{id}`."))),
        (status = 409, response = Conflict), (status = 503, response = Unavailable),
        BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn import(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    req: Request,
) -> ApiResult<axum::response::Response> {
    if is_json(req.headers().get(CONTENT_TYPE)) {
        return upload_link(&s, &who.tenant, id, JobKind::ImportContacts, req).await;
    }
    let upload = s.enrollments.begin_import(&who.tenant, id).await?;
    upload_file(upload, req).await
}

/// Removes the contacts a CSV file lists, as a background job.
///
/// The file's `phone` column names the contacts (other columns are ignored); each is removed
/// as `DELETE /v1/sequences/{id}/enrollments/{phone}` removes one: status `removed`, pending
/// send cancelled, an ended run unchanged. A phone never enrolled in the sequence, or not a
/// phone, is listed in the job's `errors.csv` with its row number. The file is the body
/// (`text/csv`), or is uploaded to the link `{"upload": true}` answers, as for an import.
/// Answers `202` with the job (`Location: /v1/jobs/{id}`).
#[utoipa::path(
    post, path = "/v1/sequences/{id}/removals", operation_id = "removeListedContacts", tag = "enrollments",
    params(Id<ids::Sequence>),
    request_body(
        description = "The contacts to remove, as CSV with a `phone` column.",
        content(
            (CsvImport = "text/csv", example = "phone\n+5511987654321\n"),
            (UploadRequest = "application/json"),
        ),
    ),
    responses(
        (status = 202, description = "The job that removes them (with the upload link, when one was asked for).", body = JobStarted,
         headers(("Location" = String, description = "The job: `/v1/jobs/{id}`."))),
        (status = 503, response = Unavailable), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn remove_listed(
    State(s): State<EnrollmentsState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    req: Request,
) -> ApiResult<axum::response::Response> {
    if is_json(req.headers().get(CONTENT_TYPE)) {
        return upload_link(&s, &who.tenant, id, JobKind::RemoveContacts, req).await;
    }
    let upload = s.enrollments.begin_removal(&who.tenant, id).await?;
    upload_file(upload, req).await
}

/// Asks for a link to upload the file to, instead of sending it as the body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"upload": true}))]
pub struct UploadRequest {
    /// Always `true`: answer with an upload link (the file is then `PUT` to it).
    #[schema(schema_with = always_true)]
    upload: bool,
}

/// `true`, the only value `upload` takes.
fn always_true() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// `{"upload": true}`: the job, waiting for its file, and the link to upload it to.
async fn upload_link(
    s: &EnrollmentsState,
    tenant: &ritmo_core::common::tenant::TenantId,
    id: ulid::Ulid,
    kind: JobKind,
    req: Request,
) -> ApiResult<axum::response::Response> {
    let bytes = body_bytes(req, &()).await?;
    let request = parse_json::<UploadRequest>(&bytes)?;
    if !request.upload {
        return Err(Problem::bad_request(
            "upload",
            "must be true (or send the file itself as text/csv)",
        ));
    }
    let started = s.enrollments.begin_upload(tenant, id, kind).await?;
    let job_id = started.job_id;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(JobStarted::upload(started)),
    )
        .into_response();
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/v1/jobs/{job_id}")) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

/// Streams a `text/csv` body into an upload, then queues its job: `202` with the job.
async fn upload_file(
    mut upload: ImportUpload,
    req: Request,
) -> ApiResult<axum::response::Response> {
    use http_body_util::BodyExt;
    let content_type = req.headers().get(CONTENT_TYPE);
    if !content_type.is_some_and(|v| media_type_is(v, "text/csv")) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the file as text/csv, or {\"upload\": true} as application/json for an upload link",
        ));
    }
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| Problem::bad_request("body", "could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            upload.push(&data).await?;
        }
    }
    let job = upload.finish().await?;
    Ok(crate::routes::jobs::accepted(&job))
}

/// Whether a `Content-Type` names `expected` (parameters aside, any case).
fn media_type_is(value: &axum::http::HeaderValue, expected: &str) -> bool {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_may_be_short_or_long_and_the_header_may_open_with_a_bom() {
        let contacts = parse_csv(
            "\u{feff} Phone ,name\n+5511987654321\n+5521987654321, Bia ,extra\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].phone, "+5511987654321");
        assert_eq!(contacts[0].name, None);
        assert_eq!(contacts[1].name.as_deref(), Some("Bia"));
    }

    #[test]
    fn a_csv_without_a_phone_column_is_a_400_naming_the_body() {
        for body in [
            "",
            "name\nAna\n",
            "¢\u{8b}\u{1}QP",
            "nome,telefone\nAna,+5511987654321\n",
        ] {
            let error = parse_csv(body.as_bytes()).unwrap_err();
            assert_eq!(error.status, 400, "{body:?}");
            assert_eq!(error.errors[0].field, "body", "{body:?}");
        }
    }
}
