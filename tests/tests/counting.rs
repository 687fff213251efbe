//! The counting proxy against a stand-in upstream: requests and answers pass through unchanged
//! (method, path and query, headers, body, status), and DynamoDB requests are counted by
//! operation, other requests by target.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use ritmo_e2e::counting::CountingProxy;
use serde_json::{json, Value};

/// Answers with what it received: 200 for DynamoDB targets, 400 (a DynamoDB-like error body)
/// for `ConditionalCheckFailed` in the body, 418 otherwise; and a header of its own.
async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let text = String::from_utf8_lossy(&body).to_string();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = if text.contains("ConditionalCheckFailed") {
        StatusCode::BAD_REQUEST
    } else if target.starts_with("DynamoDB_20120810.") {
        StatusCode::OK
    } else {
        StatusCode::IM_A_TEAPOT
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (
        status,
        [
            ("x-amzn-requestid", "stub-1"),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        json!({
            "method": method.as_str(),
            "path": uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            "host": header("host"),
            "target": target,
            "authorization": header("authorization"),
            "body": text,
        })
        .to_string(),
    )
}

#[tokio::test]
async fn requests_and_answers_pass_through_and_dynamodb_requests_are_counted_by_operation() {
    let app = axum::Router::new().fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let proxy = CountingProxy::start(&upstream).await;
    let client = reqwest::Client::new();

    let call = |target: Option<&'static str>, body: &'static str| {
        let mut request = client
            .post(format!("{}/", proxy.url))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request",
            )
            .header("content-type", "application/x-amz-json-1.0")
            .body(body);
        if let Some(target) = target {
            request = request.header("x-amz-target", target);
        }
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status();
            let request_id = answer.headers()["x-amzn-requestid"]
                .to_str()
                .unwrap()
                .to_string();
            let body: Value = answer.json().await.unwrap();
            (status, request_id, body)
        }
    };

    let (status, request_id, seen) = call(
        Some("DynamoDB_20120810.UpdateItem"),
        r#"{"TableName":"t","Key":{}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request_id, "stub-1", "the upstream's headers come back");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/");
    assert_eq!(seen["target"], "DynamoDB_20120810.UpdateItem");
    assert_eq!(seen["body"], r#"{"TableName":"t","Key":{}}"#);
    assert!(seen["authorization"]
        .as_str()
        .unwrap()
        .contains("/dynamodb/"));
    assert_eq!(
        seen["host"],
        upstream.trim_start_matches("http://"),
        "the upstream sees its own host, not the proxy's"
    );

    let (status, _, seen) = call(
        Some("DynamoDB_20120810.UpdateItem"),
        r#"{"Expected":"ConditionalCheckFailed"}"#,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an error status comes back as it was"
    );
    assert_eq!(seen["body"], r#"{"Expected":"ConditionalCheckFailed"}"#);

    call(Some("DynamoDB_20120810.GetItem"), "{}").await;
    let (status, _, _) = call(Some("AWSEvents.PutRule"), "{}").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    call(None, "{}").await;

    // A GET with a query string, as the emulator's own API is called.
    let answer = client
        .get(format!("{}/moto-api/data.json?service=dynamodb", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::IM_A_TEAPOT);
    let seen: Value = answer.json().await.unwrap();
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["path"], "/moto-api/data.json?service=dynamodb");

    assert_eq!(
        proxy.counts(),
        [
            ("AWSEvents.PutRule".to_string(), 1),
            ("GetItem".to_string(), 1),
            ("UpdateItem".to_string(), 2),
            ("other".to_string(), 2),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(proxy.total(), 3, "DynamoDB requests only");

    proxy.reset();
    assert!(proxy.counts().is_empty());
    assert_eq!(proxy.total(), 0);
    call(Some("DynamoDB_20120810.Query"), "{}").await;
    assert_eq!(proxy.total(), 1);
    assert_eq!(proxy.counts()["Query"], 1);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_is_a_502() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let proxy = CountingProxy::start(&upstream).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/", proxy.url))
        .header("x-amz-target", "DynamoDB_20120810.PutItem")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(proxy.total(), 1, "counted as sent");
}
