//! `/webhooks/whatsapp` as far as this build goes: Meta's verification handshake, and the
//! signature check of every delivery. Processing deliveries (statuses, inbound messages,
//! opt-outs, template status) is not part of this build: a correctly signed `POST` answers
//! `501`, so Meta keeps the delivery and retries it rather than having it dropped unseen.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use ritmo_core::secret::Secret;
use sha2::Sha256;

use crate::extract::query_pairs;
use crate::problem::Problem;

pub const PATH: &str = "/webhooks/whatsapp";

/// The webhook's two secrets.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Token Meta sends back in the verification handshake (`hub.verify_token`).
    pub verify_token: Secret,
    /// The app secret: the key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
}

pub fn router<S: Clone + Send + Sync + 'static>(settings: WebhookSettings) -> Router<S> {
    Router::new()
        .route(PATH, get(verify).post(deliver))
        .with_state(settings)
}

/// `GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...` → the challenge, or 403.
async fn verify(State(settings): State<WebhookSettings>, uri: Uri) -> Response {
    let pairs = query_pairs(uri.query());
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let token_ok = param("hub.verify_token").is_some_and(|token| {
        constant_time_eq(token.as_bytes(), settings.verify_token.expose().as_bytes())
    });
    match (param("hub.mode"), param("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if token_ok => {
            (StatusCode::OK, challenge.to_string()).into_response()
        }
        _ => Problem::forbidden("the verification token does not match").into_response(),
    }
}

/// `POST`: 401 unless `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body with the app
/// secret; then 501 (deliveries are not processed by this build).
async fn deliver(
    State(settings): State<WebhookSettings>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !signature_valid(&settings.app_secret, &headers, &body) {
        return Problem::unauthorized("missing or invalid X-Hub-Signature-256").into_response();
    }
    tracing::warn!(
        bytes = body.len(),
        "signed webhook delivery not processed by this build"
    );
    Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "not-implemented",
        "webhook deliveries are not processed by this build",
    )
    .into_response()
}

/// Whether `X-Hub-Signature-256: sha256=<hex>` signs `body` with `secret` (constant time).
pub fn signature_valid(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(decode_hex)
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let secret = Secret::new("app-secret");
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            format!("sha256={hex}").parse().unwrap(),
        );
        assert!(signature_valid(&secret, &headers, body));
        assert!(!signature_valid(&secret, &headers, b"{}"));
        assert!(!signature_valid(&Secret::new("other"), &headers, body));
        assert!(!signature_valid(&secret, &HeaderMap::new(), body));
    }
}
