//! `/webhooks/whatsapp` (public): Meta's verification handshake and signed notifications.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ritmo_core::common::secret::Secret;
use ritmo_whatsapp::webhook::{parse_notification, split_notification, verify_signature};
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{query_pairs, RawBody};
use crate::openapi::WhatsAppWebhook;
use crate::problem::{ApiResult, Forbidden, Problem};
use crate::WebhookState;

/// The app secret that signs Meta's notifications, and the token of the verification handshake.
#[derive(Clone, Default)]
pub struct WebhookSettings {
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
}

pub fn router() -> OpenApiRouter<WebhookState> {
    OpenApiRouter::new().routes(routes!(verify, notify))
}

/// Meta's webhook verification handshake.
///
/// Echoes `hub.challenge` when `hub.verify_token` is the configured token.
#[utoipa::path(
    get, path = "/webhooks/whatsapp", operation_id = "verifyWhatsAppWebhook", tag = "webhooks",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`.", example = "subscribe"),
        ("hub.verify_token" = String, Query, description = "The configured verification token."),
        ("hub.challenge" = String, Query, description = "What to echo.", example = "1158201444"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed.", content_type = "text/plain", body = String),
        (status = 403, response = Forbidden),
    )
)]
async fn verify(State(s): State<WebhookState>, uri: axum::http::Uri) -> Response {
    let (mut mode, mut token, mut challenge) = (String::new(), String::new(), String::new());
    for (key, value) in query_pairs(uri.query()) {
        match key.as_str() {
            "hub.mode" => mode = value,
            "hub.verify_token" => token = value,
            "hub.challenge" => challenge = value,
            _ => {}
        }
    }
    let matches =
        s.settings.verify_token.as_ref().is_some_and(|expected| {
            bool::from(expected.expose().as_bytes().ct_eq(token.as_bytes()))
        });
    if mode == "subscribe" && matches && !challenge.is_empty() {
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            challenge,
        )
            .into_response()
    } else {
        Problem::forbidden("the verification token does not match").into_response()
    }
}

/// Meta's webhook deliveries.
///
/// Message statuses (delivery and billing statistics), inbound messages (replies, exit on reply),
/// opt-outs and template status changes. Accepted only with a valid `X-Hub-Signature-256`; a
/// delivery for an unknown number is acknowledged and ignored.
#[utoipa::path(
    post, path = "/webhooks/whatsapp", operation_id = "receiveWhatsAppWebhook", tag = "webhooks",
    params(
        ("X-Hub-Signature-256" = String, Header,
         description = "`sha256=<hex HMAC-SHA256 of the raw body with the app secret>`."),
    ),
    request_body = WhatsAppWebhook,
    responses(
        (status = 200, description = "Accepted."),
        (status = 400, description = "Correctly signed, but not a JSON notification.",
         content_type = "application/problem+json", body = Problem),
        (status = 401, description = "The signature is missing or wrong; nothing changed.",
         content_type = "application/problem+json", body = Problem),
        (status = 413, description = "The body is larger than 3 MiB (Meta's documented maximum is 3 MB).",
         content_type = "application/problem+json", body = Problem),
        (status = 503, description = "The notification could not be queued; Meta delivers it again.",
         content_type = "application/problem+json", body = Problem),
    )
)]
async fn notify(
    State(s): State<WebhookState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<StatusCode> {
    let Some(secret) = &s.settings.app_secret else {
        tracing::error!("a webhook arrived but no app secret is configured");
        return Err(Problem::unauthorized(
            "webhook signatures cannot be checked: no app secret is configured",
        ));
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !verify_signature(secret.expose().as_bytes(), &body, signature) {
        return Err(Problem::unauthorized(
            "missing or invalid X-Hub-Signature-256",
        ));
    }
    if let Some(queue) = &s.queue {
        let parts = split_notification(&body, queue.max_message_bytes())
            .map_err(|_| Problem::bad_request("body", "the notification is not JSON"))?;
        let count = parts.len();
        queue.enqueue(parts).await.map_err(|e| {
            tracing::error!(error = %e, "a webhook notification could not be queued");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the notification could not be queued; Meta delivers it again",
            )
        })?;
        tracing::info!(parts = count, bytes = body.len(), "webhook queued");
        return Ok(StatusCode::OK);
    }
    let events = parse_notification(&body)
        .map_err(|_| Problem::bad_request("body", "the notification is not JSON"))?;
    let report = s.inbound.apply(events).await?;
    tracing::info!(
        statuses = report.statuses,
        replies = report.replies,
        opt_outs = report.opt_outs,
        paused_sequences = report.paused_sequences,
        ignored = report.ignored,
        "webhook applied"
    );
    Ok(StatusCode::OK)
}
