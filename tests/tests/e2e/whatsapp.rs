//! `ritmo-local --whatsapp-base-url`: the real Cloud API client against a stand-in Graph API.

use ritmo_e2e::TestServer;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_validates_and_sends_through_the_graph_api_it_is_given() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .and(header("authorization", "Bearer EAAG-local-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"name": "promo_nov", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING", "id": "1",
             "components": [{"type": "BODY", "text": "Olá {{1}}!"}]}]})))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v23.0/1098765432/messages"))
        .and(header("authorization", "Bearer EAAG-local-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.LOCAL1"}]})),
        )
        .expect(1)
        .mount(&graph)
        .await;

    let s = TestServer::start(&["--manual-clock", "--whatsapp-base-url", &graph.uri()]).await;
    s.post("/_dev/clock", json!({"now": "2026-11-23T13:00:00Z"}))
        .await
        .ok();
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
                                     "access_token": "EAAG-local-token"}),
        )
        .await
        .ok();
    let channel = channel["id"].as_str().unwrap();
    let templates = s
        .get(&format!("/v1/channels/{channel}/templates"))
        .await
        .ok();
    assert_eq!(templates["items"][0]["body_parameters"], 1);

    let sequence = s.post("/v1/sequences", json!({"name": "Real"})).await.ok();
    let id = sequence["id"].as_str().unwrap();
    let step = |name: &str| {
        json!({"channel_id": channel, "delay": {"amount": 0, "unit": "minutes"},
        "action": {"type": "template", "name": name, "language": "pt_BR", "parameters": ["{{contact.name}}"]}})
    };
    assert_eq!(
        s.post(
            &format!("/v1/sequences/{id}/steps"),
            step("unknown_template")
        )
        .await
        .status,
        422
    );
    s.post(&format!("/v1/sequences/{id}/steps"), step("promo_nov"))
        .await
        .ok();
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    s.post(
        &format!("/v1/sequences/{id}/enrollments"),
        json!({"contacts": [{"phone": "+5511987654321", "name": "Ana"}]}),
    )
    .await
    .ok();
    s.advance(1).await;

    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["history"][0]["outcome"], "sent");
    assert_eq!(enrollment["history"][0]["message_id"], "wamid.LOCAL1");
    // No outbox in this mode: the messages went to the Graph API.
    assert_eq!(s.get("/_dev/outbox").await.status, 404);
    let sent = graph.received_requests().await.unwrap();
    let post = sent.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        body["template"]["components"][0]["parameters"][0]["text"],
        "Ana"
    );
    assert_eq!(body["to"], "5511987654321");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_api_failure_while_listing_templates_is_a_503_problem() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "An unknown error occurred", "code": 1, "type": "OAuthException"}}),
        ))
        .mount(&graph)
        .await;
    let s = TestServer::start(&["--whatsapp-base-url", &graph.uri()]).await;
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
                   "access_token": "EAAG-local-token"}),
        )
        .await
        .ok();
    let reply = s
        .get(&format!(
            "/v1/channels/{}/templates",
            channel["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.body["type"], "urn:ritmo:problem:unavailable");
    assert_eq!(
        reply.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
}
