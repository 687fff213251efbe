//! `/v1/channels` and `/v1/bots`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use ritmo_core::channel::TemplateInfo;
use ritmo_core::channels::{BotInput, BotPatch, BotView, ChannelInput, ChannelPatch, ChannelView};
use ritmo_core::page::Page;
use serde::Serialize;

use crate::auth::Caller;
use crate::extract::{parse_id, Json, ListQuery};
use crate::problem::ApiResult;
use crate::{list_response, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", get(list_channels).post(create_channel))
        .route(
            "/v1/channels/{id}",
            get(get_channel)
                .patch(update_channel)
                .delete(delete_channel),
        )
        .route("/v1/channels/{id}/templates", get(channel_templates))
        .route("/v1/bots", get(list_bots).post(create_bot))
        .route(
            "/v1/bots/{id}",
            get(get_bot).patch(update_bot).delete(delete_bot),
        )
}

async fn create_channel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(input): Json<ChannelInput>,
) -> ApiResult<(StatusCode, axum::Json<ChannelView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.ritmo.create_channel(&who.tenant, input).await?),
    ))
}

async fn list_channels(
    State(s): State<AppState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<ChannelView>>> {
    Ok(list_response(
        s.ritmo.list_channels(&who.tenant, &page).await?,
    ))
}

async fn get_channel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ChannelView>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(s.ritmo.channel(&who.tenant, id).await?.into()))
}

async fn update_channel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(patch): Json<ChannelPatch>,
) -> ApiResult<axum::Json<ChannelView>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(
        s.ritmo.update_channel(&who.tenant, id, patch).await?,
    ))
}

async fn delete_channel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "channel")?;
    s.ritmo.delete_channel(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Templates {
    items: Vec<TemplateInfo>,
}

async fn channel_templates(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Templates>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(Templates {
        items: s.ritmo.channel_templates(&who.tenant, id).await?,
    }))
}

async fn create_bot(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(input): Json<BotInput>,
) -> ApiResult<(StatusCode, axum::Json<BotView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.ritmo.create_bot(&who.tenant, input).await?),
    ))
}

async fn list_bots(
    State(s): State<AppState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<BotView>>> {
    Ok(list_response(s.ritmo.list_bots(&who.tenant, &page).await?))
}

async fn get_bot(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BotView>> {
    let id = parse_id(&id, "bot")?;
    Ok(axum::Json(s.ritmo.bot(&who.tenant, id).await?.into()))
}

async fn update_bot(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(patch): Json<BotPatch>,
) -> ApiResult<axum::Json<BotView>> {
    let id = parse_id(&id, "bot")?;
    Ok(axum::Json(
        s.ritmo.update_bot(&who.tenant, id, patch).await?,
    ))
}

async fn delete_bot(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "bot")?;
    s.ritmo.delete_bot(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
