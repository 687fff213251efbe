//! `/v1/sequences`: sequences, steps and activation.

use axum::extract::State;
use axum::http::StatusCode;
use ritmo_core::common::page::Page;
use ritmo_core::sequences::model::{
    MoveInput, SequenceInput, SequencePatch, SequenceView, StepInput, StepView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::response::Response;
use ritmo_core::jobs::model::JobStarted;

use crate::auth::Caller;
use crate::extract::{ids, Id, Json, ListParams, ListQuery};
use crate::problem::{
    ApiResult, AuthErrors, BodyErrors, Conflict, ListErrors, ResourceErrors, Unavailable,
    Unprocessable,
};
use crate::routes::jobs::accepted;
use crate::{list_response, SequencesState};

pub fn router() -> OpenApiRouter<SequencesState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, archive))
        .routes(routes!(add_step))
        .routes(routes!(replace_step, delete_step))
        .routes(routes!(move_step))
        .routes(routes!(activate))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

type Json200<T> = ApiResult<axum::Json<T>>;

/// Creates a sequence, as a `draft`.
#[utoipa::path(
    post, path = "/v1/sequences", operation_id = "createSequence", tag = "sequences",
    request_body = SequenceInput,
    responses(
        (status = 201, description = "The new sequence.", body = SequenceView),
        BodyErrors, AuthErrors,
    )
)]
pub(crate) async fn create(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Json(input): Json<SequenceInput>,
) -> ApiResult<(StatusCode, axum::Json<SequenceView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.sequences.create_sequence(&who.tenant, input).await?),
    ))
}

/// Lists the tenant's sequences.
#[utoipa::path(
    get, path = "/v1/sequences", operation_id = "listSequences", tag = "sequences",
    params(ListParams),
    responses(
        (status = 200, description = "One page of sequences.", body = Page<SequenceView>),
        ListErrors,
    )
)]
pub(crate) async fn list(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> Json200<Page<SequenceView>> {
    Ok(list_response(
        s.sequences.list_sequences(&who.tenant, &page).await?,
    ))
}

/// Reads a sequence with its steps.
#[utoipa::path(
    get, path = "/v1/sequences/{id}", operation_id = "getSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    responses(
        (status = 200, description = "The sequence.", body = SequenceView),
        ResourceErrors,
    )
)]
pub(crate) async fn read(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> Json200<SequenceView> {
    Ok(axum::Json(
        s.sequences.sequence(&who.tenant, id).await?.into(),
    ))
}

/// Changes a sequence's name, time zone or reply rule.
#[utoipa::path(
    patch, path = "/v1/sequences/{id}", operation_id = "updateSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    request_body = SequencePatch,
    responses(
        (status = 200, description = "The changed sequence.", body = SequenceView),
        (status = 409, response = Conflict), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn update(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Json(patch): Json<SequencePatch>,
) -> Json200<SequenceView> {
    Ok(axum::Json(
        s.sequences.update_sequence(&who.tenant, id, patch).await?,
    ))
}

/// Archives a sequence.
///
/// The sequence is `archived` at once; a background job (`Location: /v1/jobs/{id}`) ends its
/// active enrollments (`sequence_archived`) and cancels their pending sends.
#[utoipa::path(
    delete, path = "/v1/sequences/{id}", operation_id = "archiveSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    responses(
        (status = 202, description = "Archived; the job that ends its enrollments.", body = JobStarted,
         headers(("Location" = String, description = "The job: `/v1/jobs/{id}`."))),
        (status = 409, response = Conflict), (status = 503, response = Unavailable), ResourceErrors,
    )
)]
pub(crate) async fn archive(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> ApiResult<Response> {
    let job = s.sequences.archive_sequence(&who.tenant, id).await?;
    Ok(accepted(&job))
}

/// Adds a step.
///
/// At the end, or at `position`. A template must exist on the channel in that language, be
/// `APPROVED` and take as many body parameters as given (422 otherwise).
#[utoipa::path(
    post, path = "/v1/sequences/{id}/steps", operation_id = "addStep", tag = "sequences",
    params(Id<ids::Sequence>),
    request_body = StepInput,
    responses(
        (status = 201, description = "The new step.", body = StepView),
        (status = 409, response = Conflict), (status = 422, response = Unprocessable), (status = 503, response = Unavailable), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn add_step(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Json(input): Json<StepInput>,
) -> ApiResult<(StatusCode, axum::Json<StepView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.sequences.add_step(&who.tenant, id, input).await?),
    ))
}

/// Replaces a step.
///
/// Enrolled contacts get the new content at their next send; delay and window changes apply from
/// the next scheduling.
#[utoipa::path(
    put, path = "/v1/sequences/{id}/steps/{step_id}", operation_id = "replaceStep", tag = "sequences",
    params(Id<ids::Sequence>, Id<ids::Step>),
    request_body = StepInput,
    responses(
        (status = 200, description = "The step.", body = StepView),
        (status = 409, response = Conflict), (status = 422, response = Unprocessable), (status = 503, response = Unavailable), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn replace_step(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Id(step_id, ..): Id<ids::Step>,
    Json(input): Json<StepInput>,
) -> Json200<StepView> {
    Ok(axum::Json(
        s.sequences
            .replace_step(&who.tenant, id, step_id, input)
            .await?,
    ))
}

/// Deletes a step; contacts waiting for it skip it.
#[utoipa::path(
    delete, path = "/v1/sequences/{id}/steps/{step_id}", operation_id = "deleteStep", tag = "sequences",
    params(Id<ids::Sequence>, Id<ids::Step>),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, response = Conflict), ResourceErrors,
    )
)]
pub(crate) async fn delete_step(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Id(step_id, ..): Id<ids::Step>,
) -> ApiResult<StatusCode> {
    s.sequences.delete_step(&who.tenant, id, step_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a step to another position.
#[utoipa::path(
    post, path = "/v1/sequences/{id}/steps/{step_id}/move", operation_id = "moveStep", tag = "sequences",
    params(Id<ids::Sequence>, Id<ids::Step>),
    request_body = MoveInput,
    responses(
        (status = 200, description = "The sequence with its steps in their new order.", body = SequenceView),
        (status = 409, response = Conflict), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn move_step(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
    Id(step_id, ..): Id<ids::Step>,
    Json(input): Json<MoveInput>,
) -> Json200<SequenceView> {
    Ok(axum::Json(
        s.sequences
            .move_step(&who.tenant, id, step_id, input)
            .await?,
    ))
}

/// Activates a `draft` or `paused` sequence that has at least one step.
#[utoipa::path(
    post, path = "/v1/sequences/{id}/activate", operation_id = "activateSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    responses(
        (status = 200, description = "The active sequence.", body = SequenceView),
        (status = 409, response = Conflict), (status = 503, response = Unavailable), ResourceErrors,
    )
)]
pub(crate) async fn activate(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> Json200<SequenceView> {
    Ok(axum::Json(
        s.sequences.activate_sequence(&who.tenant, id).await?,
    ))
}

/// Pauses an active sequence: steps that come due are held.
#[utoipa::path(
    post, path = "/v1/sequences/{id}/pause", operation_id = "pauseSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    responses(
        (status = 200, description = "The paused sequence.", body = SequenceView),
        (status = 409, response = Conflict), ResourceErrors,
    )
)]
pub(crate) async fn pause(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> Json200<SequenceView> {
    Ok(axum::Json(
        s.sequences.pause_sequence(&who.tenant, id).await?,
    ))
}

/// Resumes a paused sequence: held steps go out at the next allowed instant.
///
/// The sequence is `active` at once; a background job (`Location: /v1/jobs/{id}`) plans its
/// held steps again.
#[utoipa::path(
    post, path = "/v1/sequences/{id}/resume", operation_id = "resumeSequence", tag = "sequences",
    params(Id<ids::Sequence>),
    responses(
        (status = 202, description = "Active; the job that plans the held steps.", body = JobStarted,
         headers(("Location" = String, description = "The job: `/v1/jobs/{id}`."))),
        (status = 409, response = Conflict), (status = 503, response = Unavailable), ResourceErrors,
    )
)]
pub(crate) async fn resume(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Sequence>,
) -> ApiResult<Response> {
    let job = s.sequences.resume_sequence(&who.tenant, id).await?;
    Ok(accepted(&job))
}
