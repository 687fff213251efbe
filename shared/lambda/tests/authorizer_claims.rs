//! Handler tests from API Gateway HTTP API (payload v2) events with JWT-authorizer claims.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use ritmo_app::local::{Local, LocalAdapters};
use ritmo_core::common::clock::SystemClock;
use ritmo_core::common::ids::UlidGen;
use ritmo_core::links::PublicBase;
use ritmo_http::Auth;
use ritmo_memory::LocalScheduler;
use ritmo_whatsapp::outbox::Outbox;
use tower::ServiceExt;

fn app(auth: Auth) -> axum::Router {
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UlidGen::new(clock.clone()));
    let ritmo = Local::new(LocalAdapters::in_memory(
        clock.clone(),
        ids,
        Arc::new(Outbox::new(clock.clone())),
        LocalScheduler::new(clock),
    ));
    ritmo_lambda::with_authorizer_claims(ritmo_http::finish(ritmo_http::admin_routes(
        &auth,
        ritmo.sequences_api(),
        ritmo.enrollments_api(),
        ritmo.links_api(PublicBase::new("https://go.example.com")),
    )))
}

async fn call(auth: Auth, fixture: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let event = std::fs::read_to_string(path).unwrap();
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app(auth).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn viewer_claims_from_the_authorizer_may_read() {
    let (status, body) = call(
        Auth::authorizer_context(),
        "apigw-v2-viewer-list-channels.json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], serde_json::json!([]));
}

#[tokio::test]
async fn viewer_claims_from_the_authorizer_may_not_write() {
    let (status, body) = call(
        Auth::authorizer_context(),
        "apigw-v2-viewer-create-channel.json",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["status"], 403);
}

#[tokio::test]
async fn admin_claims_create_a_channel_without_echoing_the_token() {
    let (status, body) = call(
        Auth::authorizer_context(),
        "apigw-v2-admin-create-channel.json",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["name"], "Loja");
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn claim_names_are_configurable() {
    let auth = Auth::authorizer_context().with_claim_names("custom:tenant", "custom:role");
    let (status, _) = call(auth, "apigw-v2-admin-custom-claim-names.json").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(
        Auth::authorizer_context(),
        "apigw-v2-admin-custom-claim-names.json",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "the token has no 'tenant' claim");
}

#[tokio::test]
async fn a_request_without_authorizer_claims_is_unauthorized() {
    let (status, body) = call(Auth::authorizer_context(), "apigw-v2-no-authorizer.json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:ritmo:problem:unauthorized");
}
