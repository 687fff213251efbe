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

/// A marketing template as Meta lists it: an image header, two body parameters, a dynamic URL
/// button and a quick reply.
fn promo_with_media() -> serde_json::Value {
    json!({"data": [
        {"name": "promo_foto", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING", "id": "7",
         "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U="]}},
            {"type": "BODY", "text": "Olá {{1}}, {{2}} de desconto só hoje!",
             "example": {"body_text": [["Ana", "20%"]]}},
            {"type": "FOOTER", "text": "Responda PARAR para sair"},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Ver oferta", "url": "https://loja.example.com/o/{{1}}",
                 "example": ["https://loja.example.com/o/42"]},
                {"type": "QUICK_REPLY", "text": "Parar"}]}]}],
        "paging": {"cursors": {"before": "A", "after": "B"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_with_an_image_header_and_a_url_button_saves_only_complete_and_sends_cloud_api_components(
) {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(promo_with_media()))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v23.0/1098765432/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}],
            "messages": [{"id": "wamid.MEDIA1", "message_status": "accepted"}]})))
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
    assert_eq!(
        templates["items"][0]["header"],
        json!({"format": "IMAGE", "parameters": 0, "parameter_name": null})
    );
    assert_eq!(
        templates["items"][0]["buttons"],
        json!([{"type": "URL", "text": "Ver oferta", "parameters": 1},
               {"type": "QUICK_REPLY", "text": "Parar", "parameters": 0}])
    );

    let sequence = s.post("/v1/sequences", json!({"name": "Fotos"})).await.ok();
    let id = sequence["id"].as_str().unwrap();
    let image = json!({"type": "image", "link": "https://cdn.example.com/promo.jpg"});
    let url = json!({"type": "url", "index": 0, "text": "{{contact.attributes.order}}"});
    let step =
        |parameters: serde_json::Value, header: serde_json::Value, buttons: serde_json::Value| {
            json!({"channel_id": channel, "delay": {"amount": 0, "unit": "minutes"},
               "action": {"type": "template", "name": "promo_foto", "language": "pt-br",
                          "parameters": parameters, "header": header, "buttons": buttons}})
        };
    let two = json!(["{{contact.name}}", "20%"]);
    let steps = format!("/v1/sequences/{id}/steps");
    for (wrong, field, says) in [
        (
            step(two.clone(), json!(null), json!([url])),
            "action.header",
            "IMAGE",
        ),
        (
            step(
                two.clone(),
                json!({"type": "video", "link": "https://cdn.example.com/a.mp4"}),
                json!([url]),
            ),
            "action.header",
            "IMAGE",
        ),
        (
            step(two.clone(), image.clone(), json!([])),
            "action.buttons",
            "button 0 (URL)",
        ),
        (
            step(
                two.clone(),
                image.clone(),
                json!([url, {"type": "url", "index": 1, "text": "x"}]),
            ),
            "action.buttons[1]",
            "QUICK_REPLY",
        ),
        (
            step(json!(["{{contact.name}}"]), image.clone(), json!([url])),
            "action.parameters",
            "2 body parameter",
        ),
    ] {
        let reply = s.post(&steps, wrong.clone()).await;
        assert_eq!(reply.status, 422, "{wrong}: {}", reply.body);
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{}",
            reply.body
        );
    }
    let both = step(
        two.clone(),
        json!({"type": "image", "link": "https://cdn.example.com/promo.jpg", "media_id": "123"}),
        json!([url]),
    );
    assert_eq!(s.post(&steps, both).await.status, 422);

    let saved = s
        .post(
            &steps,
            step(
                two,
                image,
                json!([url, {"type": "quick_reply", "index": 1, "payload": "PARAR"}]),
            ),
        )
        .await
        .ok();
    assert_eq!(saved["action"]["language"], "pt_BR", "Meta's spelling");
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    s.post(
        &format!("/v1/sequences/{id}/enrollments"),
        json!({"contacts": [{"phone": "+5511987654321", "name": "Ana", "attributes": {"order": "42"}}]}),
    )
    .await
    .ok();
    s.advance(1).await;

    let sent = graph.received_requests().await.unwrap();
    let post = sent.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        body["template"],
        json!({"name": "promo_foto", "language": {"code": "pt_BR"}, "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/promo.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "42"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "PARAR"}]}
        ]})
    );
}

/// With `RITMO_E2E_DYNAMODB_ENDPOINT` (the emulator, which serves KMS too): a channel's access
/// token and a bot's secret never appear in the table, and the send still carries the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn tokens_and_bot_secrets_never_appear_in_the_table_and_sending_still_works() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_E2E_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let key = aws_sdk_kms::Client::new(&sdk)
        .create_key()
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let token = "EAAG-a-token-that-may-send-as-the-business";
    let bot_secret = "a-bot-secret-that-signs-chatbot-starts";

    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"name": "promo_nov", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING", "id": "1",
             "components": [{"type": "BODY", "text": "Olá {{1}}!"}]}]})))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v23.0/1098765432/messages"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messages": [{"id": "wamid.SEALED1"}]})),
        )
        .expect(1)
        .mount(&graph)
        .await;
    let table = format!("ritmo-e2e-sealed-{}", std::process::id());
    let uri = graph.uri();
    let s = TestServer::start_on_table(
        &[
            "--manual-clock",
            "--whatsapp-base-url",
            &uri,
            "--secrets-key-id",
            &key_id,
        ],
        &endpoint,
        &table,
    )
    .await;
    s.post("/_dev/clock", json!({"now": "2026-11-23T13:00:00Z"}))
        .await
        .ok();
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
                   "access_token": token}),
        )
        .await
        .ok();
    let channel = channel["id"].as_str().unwrap();
    s.post(
        "/v1/bots",
        json!({"name": "Triagem", "webhook_url": "https://bots.example.com/start", "secret": bot_secret}),
    )
    .await
    .ok();
    let sequence = s
        .post("/v1/sequences", json!({"name": "Selado"}))
        .await
        .ok();
    let id = sequence["id"].as_str().unwrap();
    s.post(
        &format!("/v1/sequences/{id}/steps"),
        json!({"channel_id": channel, "delay": {"amount": 0, "unit": "minutes"},
               "action": {"type": "template", "name": "promo_nov", "language": "pt_BR", "parameters": ["{{contact.name}}"]}}),
    )
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
    assert_eq!(
        enrollment["history"][0]["message_id"], "wamid.SEALED1",
        "sent with the token"
    );

    // Every item of the table, every string in it.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut strings = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(&table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            for value in item.values() {
                collect_strings(value, &mut strings);
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    assert!(
        strings.len() > 20,
        "the table was read ({} strings)",
        strings.len()
    );
    for secret in [token, bot_secret] {
        assert!(
            !strings.iter().any(|s| s.contains(secret)),
            "{secret} is stored in clear"
        );
    }
}

fn collect_strings(value: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    match value {
        AttributeValue::S(s) => out.push(s.clone()),
        AttributeValue::L(list) => list.iter().for_each(|v| collect_strings(v, out)),
        AttributeValue::M(map) => map.values().for_each(|v| collect_strings(v, out)),
        AttributeValue::Ss(set) => out.extend(set.iter().cloned()),
        _ => {}
    }
}
