//! `/v1/channels` and `/v1/bots`.

use axum::extract::State;
use axum::http::StatusCode;
use ritmo_core::channels::model::TemplateInfo;
use ritmo_core::channels::service::{
    BotInput, BotPatch, BotView, ChannelInput, ChannelPatch, ChannelView,
};
use ritmo_core::common::page::Page;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{parse_id, Json, ListParams, ListQuery, Path};
use crate::problem::{
    ApiResult, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UnsupportedMediaType,
};
use crate::{list_response, SequencesState};

pub fn router() -> OpenApiRouter<SequencesState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(channel_templates))
        .routes(routes!(list_bots, create_bot))
        .routes(routes!(get_bot, update_bot, delete_bot))
}

/// Registers a WhatsApp Business number.
#[utoipa::path(
    post, path = "/v1/channels", operation_id = "createChannel", tag = "channels",
    security(("bearer" = [])),
    request_body = ChannelInput,
    responses(
        (status = 201, description = "The channel (its access token is never returned).", body = ChannelView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden), (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
    )
)]
pub(crate) async fn create_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Json(input): Json<ChannelInput>,
) -> ApiResult<(StatusCode, axum::Json<ChannelView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.channels.create_channel(&who.tenant, input).await?),
    ))
}

/// Lists the tenant's channels.
#[utoipa::path(
    get, path = "/v1/channels", operation_id = "listChannels", tag = "channels",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "One page of channels.", body = Page<ChannelView>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_channels(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<ChannelView>>> {
    Ok(list_response(
        s.channels.list_channels(&who.tenant, &page).await?,
    ))
}

/// Reads a channel.
#[utoipa::path(
    get, path = "/v1/channels/{id}", operation_id = "getChannel", tag = "channels",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The channel's id.")),
    responses(
        (status = 200, description = "The channel.", body = ChannelView),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn get_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ChannelView>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(
        s.channels.channel(&who.tenant, id).await?.into(),
    ))
}

/// Changes some of a channel's fields.
#[utoipa::path(
    patch, path = "/v1/channels/{id}", operation_id = "updateChannel", tag = "channels",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The channel's id.")),
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "The changed channel.", body = ChannelView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub(crate) async fn update_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(patch): Json<ChannelPatch>,
) -> ApiResult<axum::Json<ChannelView>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(
        s.channels.update_channel(&who.tenant, id, patch).await?,
    ))
}

/// Deletes a channel.
#[utoipa::path(
    delete, path = "/v1/channels/{id}", operation_id = "deleteChannel", tag = "channels",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The channel's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn delete_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "channel")?;
    s.channels.delete_channel(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The message templates of a channel's WhatsApp Business account.
#[derive(Serialize, ToSchema)]
pub struct Templates {
    items: Vec<TemplateInfo>,
}

/// Lists the templates the channel's number may send, as WhatsApp reports them.
#[utoipa::path(
    get, path = "/v1/channels/{id}/templates", operation_id = "listChannelTemplates", tag = "channels",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The channel's id.")),
    responses(
        (status = 200, description = "The templates.", body = Templates),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn channel_templates(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Templates>> {
    let id = parse_id(&id, "channel")?;
    Ok(axum::Json(Templates {
        items: s.channels.channel_templates(&who.tenant, id).await?,
    }))
}

/// Registers a chatbot that steps can start.
#[utoipa::path(
    post, path = "/v1/bots", operation_id = "createBot", tag = "bots",
    security(("bearer" = [])),
    request_body = BotInput,
    responses(
        (status = 201, description = "The bot (its secret is never returned).", body = BotView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
    )
)]
pub(crate) async fn create_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Json(input): Json<BotInput>,
) -> ApiResult<(StatusCode, axum::Json<BotView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.channels.create_bot(&who.tenant, input).await?),
    ))
}

/// Lists the tenant's bots.
#[utoipa::path(
    get, path = "/v1/bots", operation_id = "listBots", tag = "bots",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "One page of bots.", body = Page<BotView>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_bots(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    ListQuery(page): ListQuery,
) -> ApiResult<axum::Json<Page<BotView>>> {
    Ok(list_response(
        s.channels.list_bots(&who.tenant, &page).await?,
    ))
}

/// Reads a bot.
#[utoipa::path(
    get, path = "/v1/bots/{id}", operation_id = "getBot", tag = "bots",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The bot's id.")),
    responses(
        (status = 200, description = "The bot.", body = BotView),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn get_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BotView>> {
    let id = parse_id(&id, "bot")?;
    Ok(axum::Json(s.channels.bot(&who.tenant, id).await?.into()))
}

/// Changes some of a bot's fields.
#[utoipa::path(
    patch, path = "/v1/bots/{id}", operation_id = "updateBot", tag = "bots",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The bot's id.")),
    request_body = BotPatch,
    responses(
        (status = 200, description = "The changed bot.", body = BotView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
    )
)]
pub(crate) async fn update_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(patch): Json<BotPatch>,
) -> ApiResult<axum::Json<BotView>> {
    let id = parse_id(&id, "bot")?;
    Ok(axum::Json(
        s.channels.update_bot(&who.tenant, id, patch).await?,
    ))
}

/// Deletes a bot.
#[utoipa::path(
    delete, path = "/v1/bots/{id}", operation_id = "deleteBot", tag = "bots",
    security(("bearer" = [])),
    params(("id" = Ulid, Path, description = "The bot's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn delete_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "bot")?;
    s.channels.delete_bot(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
