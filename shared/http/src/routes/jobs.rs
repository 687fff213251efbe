//! `/v1/jobs`: the background jobs (archive, resume, bulk removal), their progress, their error
//! file, and cancellation.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ritmo_core::common::page::Page;
use ritmo_core::jobs::model::{Job, JobStarted, JobView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{ids, Id, ListParams, ListQuery};
use crate::problem::{ApiResult, Conflict, ListErrors, ResourceErrors};
use crate::{list_response, SequencesState};

pub fn router() -> OpenApiRouter<SequencesState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, cancel))
        .routes(routes!(errors_csv))
}

/// `202 Accepted` with `{"job_id"}` and `Location: /v1/jobs/{id}`: what a request that started
/// a job answers.
pub(crate) fn accepted(job: &Job) -> Response {
    let mut response = (StatusCode::ACCEPTED, axum::Json(JobStarted::of(job.id))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Lists the tenant's jobs, newest first.
#[utoipa::path(
    get, path = "/v1/jobs", operation_id = "listJobs", tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, description = "One page of jobs, newest first.", body = Page<JobView>),
        ListErrors,
    )
)]
pub(crate) async fn list(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<JobView>>> {
    Ok(list_response(s.jobs.list_jobs(&who.tenant, &page).await?))
}

/// Reads a job: its status and counts.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", operation_id = "getJob", tag = "jobs",
    params(Id<ids::Job>),
    responses(
        (status = 200, description = "The job.", body = JobView),
        ResourceErrors,
    )
)]
pub(crate) async fn read(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Job>,
) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(s.jobs.job(&who.tenant, id).await?.into()))
}

/// Cancels a job that has not finished.
///
/// It stops at its next chunk; what it already changed stays changed. A finished job is a 409.
#[utoipa::path(
    delete, path = "/v1/jobs/{id}", operation_id = "cancelJob", tag = "jobs",
    params(Id<ids::Job>),
    responses(
        (status = 200, description = "The cancelled job.", body = JobView),
        (status = 409, response = Conflict), ResourceErrors,
    )
)]
pub(crate) async fn cancel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Job>,
) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(s.jobs.cancel(&who.tenant, id).await?))
}

/// The job's error file.
///
/// `text/csv` with a `phone,reason` header: each enrollment whose change failed after its
/// retries (the first 1,000; `failed` counts them all).
#[utoipa::path(
    get, path = "/v1/jobs/{id}/errors.csv", operation_id = "jobErrors", tag = "jobs",
    params(Id<ids::Job>),
    responses(
        (status = 200, description = "The failed enrollments.", content_type = "text/csv", body = String,
         example = json!("phone,reason\n+5511987654321,the store or the scheduler did not answer\n")),
        ResourceErrors,
    )
)]
pub(crate) async fn errors_csv(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Job>,
) -> ApiResult<Response> {
    let job = s.jobs.job(&who.tenant, id).await?;
    let mut response = job.errors_csv().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(response)
}
