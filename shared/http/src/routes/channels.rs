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
use crate::extract::{ids, Id, Json, ListParams, ListQuery};
use crate::problem::{
    ApiResult, AuthErrors, BodyErrors, Conflict, ListErrors, ResourceErrors, Unavailable,
    Unprocessable,
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
    request_body = ChannelInput,
    responses(
        (status = 201, description = "The channel (its access token is never returned).", body = ChannelView),
        (status = 409, response = Conflict), BodyErrors, AuthErrors,
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
    params(ListParams),
    responses(
        (status = 200, description = "One page of channels.", body = Page<ChannelView>),
        ListErrors,
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
    params(Id<ids::Channel>),
    responses(
        (status = 200, description = "The channel.", body = ChannelView),
        ResourceErrors,
    )
)]
pub(crate) async fn get_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Channel>,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(
        s.channels.channel(&who.tenant, id).await?.into(),
    ))
}

/// Changes some of a channel's fields.
#[utoipa::path(
    patch, path = "/v1/channels/{id}", operation_id = "updateChannel", tag = "channels",
    params(Id<ids::Channel>),
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "The changed channel.", body = ChannelView),
        (status = 409, response = Conflict), BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn update_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Channel>,
    Json(patch): Json<ChannelPatch>,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(
        s.channels.update_channel(&who.tenant, id, patch).await?,
    ))
}

/// Deletes a channel.
#[utoipa::path(
    delete, path = "/v1/channels/{id}", operation_id = "deleteChannel", tag = "channels",
    params(Id<ids::Channel>),
    responses(
        (status = 204, description = "Deleted."),
        ResourceErrors,
    )
)]
pub(crate) async fn delete_channel(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Channel>,
) -> ApiResult<StatusCode> {
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
    params(Id<ids::Channel>),
    responses(
        (status = 200, description = "The templates.", body = Templates),
        (status = 503, response = Unavailable), ResourceErrors,
    )
)]
pub(crate) async fn channel_templates(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Channel>,
) -> ApiResult<axum::Json<Templates>> {
    Ok(axum::Json(Templates {
        items: s.channels.channel_templates(&who.tenant, id).await?,
    }))
}

/// Registers a chatbot that steps can start.
#[utoipa::path(
    post, path = "/v1/bots", operation_id = "createBot", tag = "bots",
    request_body = BotInput,
    responses(
        (status = 201, description = "The bot (its secret is never returned).", body = BotView),
        (status = 422, response = Unprocessable),
        BodyErrors, AuthErrors,
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
    params(ListParams),
    responses(
        (status = 200, description = "One page of bots.", body = Page<BotView>),
        ListErrors,
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
    params(Id<ids::Bot>),
    responses(
        (status = 200, description = "The bot.", body = BotView),
        ResourceErrors,
    )
)]
pub(crate) async fn get_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Bot>,
) -> ApiResult<axum::Json<BotView>> {
    Ok(axum::Json(s.channels.bot(&who.tenant, id).await?.into()))
}

/// Changes some of a bot's fields.
#[utoipa::path(
    patch, path = "/v1/bots/{id}", operation_id = "updateBot", tag = "bots",
    params(Id<ids::Bot>),
    request_body = BotPatch,
    responses(
        (status = 200, description = "The changed bot.", body = BotView),
        (status = 422, response = Unprocessable),
        BodyErrors, ResourceErrors,
    )
)]
pub(crate) async fn update_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Bot>,
    Json(patch): Json<BotPatch>,
) -> ApiResult<axum::Json<BotView>> {
    Ok(axum::Json(
        s.channels.update_bot(&who.tenant, id, patch).await?,
    ))
}

/// Deletes a bot.
#[utoipa::path(
    delete, path = "/v1/bots/{id}", operation_id = "deleteBot", tag = "bots",
    params(Id<ids::Bot>),
    responses(
        (status = 204, description = "Deleted."),
        ResourceErrors,
    )
)]
pub(crate) async fn delete_bot(
    State(s): State<SequencesState>,
    Caller(who): Caller,
    Id(id, ..): Id<ids::Bot>,
) -> ApiResult<StatusCode> {
    s.channels.delete_bot(&who.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
