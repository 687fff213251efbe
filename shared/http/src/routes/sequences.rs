//! `/v1/sequences`: sequences, steps and activation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use ritmo_core::page::Page;
use ritmo_core::sequence::{
    MoveInput, SequenceInput, SequencePatch, SequenceView, StepInput, StepView,
};

use crate::auth::Caller;
use crate::extract::{parse_id, Json, ListQuery};
use crate::problem::ApiResult;
use crate::{list_response, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sequences", get(list).post(create))
        .route(
            "/v1/sequences/{id}",
            get(read).patch(update).delete(archive),
        )
        .route("/v1/sequences/{id}/steps", post(add_step))
        .route(
            "/v1/sequences/{id}/steps/{step_id}",
            put(replace_step).delete(delete_step),
        )
        .route("/v1/sequences/{id}/steps/{step_id}/move", post(move_step))
        .route("/v1/sequences/{id}/activate", post(activate))
        .route("/v1/sequences/{id}/pause", post(pause))
        .route("/v1/sequences/{id}/resume", post(resume))
}

type Json200<T> = ApiResult<axum::Json<T>>;

async fn create(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(input): Json<SequenceInput>,
) -> ApiResult<(StatusCode, axum::Json<SequenceView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.ritmo.create_sequence(&who.tenant, input).await?),
    ))
}

async fn list(
    State(s): State<AppState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> Json200<Page<SequenceView>> {
    Ok(list_response(
        s.ritmo.list_sequences(&who.tenant, &page).await?,
    ))
}

async fn read(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    Ok(axum::Json(s.ritmo.sequence(&who.tenant, id).await?.into()))
}

async fn update(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(patch): Json<SequencePatch>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    Ok(axum::Json(
        s.ritmo.update_sequence(&who.tenant, id, patch).await?,
    ))
}

async fn archive(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "sequence")?;
    s.ritmo.archive_sequence(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_step(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(input): Json<StepInput>,
) -> ApiResult<(StatusCode, axum::Json<StepView>)> {
    let id = parse_id(&id, "sequence")?;
    Ok((
        StatusCode::CREATED,
        axum::Json(s.ritmo.add_step(&who.tenant, id, input).await?),
    ))
}

async fn replace_step(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, step_id)): Path<(String, String)>,
    Json(input): Json<StepInput>,
) -> Json200<StepView> {
    let id = parse_id(&id, "sequence")?;
    let step_id = parse_id(&step_id, "step")?;
    Ok(axum::Json(
        s.ritmo
            .replace_step(&who.tenant, id, step_id, input)
            .await?,
    ))
}

async fn delete_step(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, step_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "sequence")?;
    let step_id = parse_id(&step_id, "step")?;
    s.ritmo.delete_step(&who.tenant, id, step_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_step(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, step_id)): Path<(String, String)>,
    Json(input): Json<MoveInput>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    let step_id = parse_id(&step_id, "step")?;
    Ok(axum::Json(
        s.ritmo.move_step(&who.tenant, id, step_id, input).await?,
    ))
}

async fn activate(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    Ok(axum::Json(
        s.ritmo.activate_sequence(&who.tenant, id).await?,
    ))
}

async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    Ok(axum::Json(s.ritmo.pause_sequence(&who.tenant, id).await?))
}

async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Json200<SequenceView> {
    let id = parse_id(&id, "sequence")?;
    Ok(axum::Json(s.ritmo.resume_sequence(&who.tenant, id).await?))
}
