//! The Cloud API adapter against a stand-in Graph API (wiremock): exact requests, Meta's real
//! error bodies, and the ambiguous-timeout rule.

use std::time::Duration;

use chrono::Utc;
use ritmo_core::channels::model::{Bot, Channel, TemplateCategory, TemplateHeader};
use ritmo_core::common::phone::Phone;
use ritmo_core::common::secret::Secret;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::delivery::ports::{ChatbotStart, Messenger, TemplateMessage};
use ritmo_core::enrollments::model::{Contact, SendError};
use ritmo_whatsapp::{signature, WhatsApp, WhatsAppConfig};
use serde_json::json;
use ulid::Ulid;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn channel() -> Channel {
    Channel {
        tenant: TenantId::parse("acme").unwrap(),
        id: Ulid::new(),
        name: "Loja".into(),
        phone_number_id: "1098765432".into(),
        waba_id: "2098765432".into(),
        display_phone: "+55 11 4000-0000".into(),
        access_token: Secret::new("EAAG-channel-token"),
        messages_per_second: 80,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn message(callback: &str) -> TemplateMessage {
    TemplateMessage {
        to: Phone::parse("+5511987654321").unwrap(),
        name: "promo_nov".into(),
        language: "pt_BR".into(),
        body_parameters: vec!["Ana".into()],
        header: None,
        buttons: vec![],
        parameter_names: None,
        callback_data: callback.into(),
    }
}

fn client(server: &MockServer, timeout: Duration) -> WhatsApp {
    WhatsApp::new(WhatsAppConfig {
        base_url: server.uri(),
        version: "v23.0".into(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: timeout,
        // The bot stand-ins of these tests listen on this machine.
        allow_private_bots: true,
    })
    .unwrap()
}

fn meta_error(code: i64, message: &str) -> serde_json::Value {
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
                     "error_data": {"messaging_product": "whatsapp", "details": message},
                     "fbtrace_id": "AbCdEf"}})
}

#[tokio::test]
async fn a_template_send_posts_the_exact_body_with_the_channel_token_and_returns_the_wamid() {
    let server = MockServer::start().await;
    let body = message("01ENR:01STEP");
    Mock::given(method("POST"))
        .and(path("/v23.0/1098765432/messages"))
        .and(header("authorization", "Bearer EAAG-channel-token"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321",
            "type": "template",
            "template": {"name": "promo_nov", "language": {"code": "pt_BR"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]},
            "biz_opaque_callback_data": "01ENR:01STEP"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}],
            "messages": [{"id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ="}]})))
        .expect(1)
        .mount(&server)
        .await;
    let receipt = client(&server, Duration::from_secs(5))
        .send_template(&channel(), &body)
        .await
        .unwrap();
    assert_eq!(receipt.message_id, "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ=");
    assert_eq!(receipt.wa_id.as_deref(), Some("5511987654321"));
}

#[tokio::test]
async fn the_whatsapp_id_meta_resolved_the_number_to_is_returned() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "5511987654321", "wa_id": "551187654321"}],
            "messages": [{"id": "wamid.HBgMNTUxMTg3NjU0MzIxFQIAERgSQjE=", "message_status": "accepted"}]})))
        .mount(&server)
        .await;
    let receipt = client(&server, Duration::from_secs(5))
        .send_template(&channel(), &message("c"))
        .await
        .unwrap();
    assert_eq!(receipt.wa_id.as_deref(), Some("551187654321"));
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "messages": [{"id": "wamid.X"}]})))
        .mount(&server)
        .await;
    let receipt = client(&server, Duration::from_secs(5))
        .send_template(&channel(), &message("c"))
        .await
        .unwrap();
    assert_eq!(receipt.wa_id, None);
}

#[tokio::test]
async fn each_meta_error_class_is_recognised() {
    type Expected = fn(&SendError) -> bool;
    let cases: [(u16, i64, Expected); 6] = [
        (429, 130429, |e| {
            matches!(
                e,
                SendError::Throttled {
                    code: Some(130429),
                    ..
                }
            )
        }),
        (400, 131026, |e| {
            matches!(e, SendError::Contact { code: 131026, .. })
        }),
        (400, 131050, |e| {
            matches!(e, SendError::Contact { code: 131050, .. })
        }),
        (400, 132001, |e| {
            matches!(e, SendError::Template { code: 132001, .. })
        }),
        (400, 368, |e| {
            matches!(e, SendError::Account { code: 368, .. })
        }),
        (500, 131000, |e| {
            matches!(
                e,
                SendError::Retryable {
                    code: Some(131000),
                    ..
                }
            )
        }),
    ];
    for (status, code, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(meta_error(code, "Meta says no")),
            )
            .mount(&server)
            .await;
        let error = client(&server, Duration::from_secs(5))
            .send_template(&channel(), &message("c"))
            .await
            .unwrap_err();
        assert!(expected(&error), "code {code}: {error:?}");
    }
}

#[tokio::test]
async fn a_bare_server_error_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream"))
        .mount(&server)
        .await;
    let error = client(&server, Duration::from_secs(5))
        .send_template(&channel(), &message("c"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::Retryable { code: None, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_timeout_after_the_request_was_sent_is_unknown_and_a_refused_connection_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({"messages": [{"id": "late"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server, Duration::from_millis(300))
        .send_template(&channel(), &message("c"))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Unknown { .. }), "{error:?}");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        addr
    };
    let nobody = WhatsApp::new(WhatsAppConfig {
        base_url: format!("http://{closed}"),
        ..WhatsAppConfig::default()
    })
    .unwrap();
    let error = nobody
        .send_template(&channel(), &message("c"))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Retryable { .. }), "{error:?}");
}

#[tokio::test]
async fn templates_are_read_across_pages_with_their_body_parameter_count() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .and(header("authorization", "Bearer EAAG-channel-token"))
        .and(query_param("after", "CURSOR2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"name": "followup", "language": "pt_BR", "status": "PAUSED", "category": "UTILITY", "id": "2",
                      "components": [{"type": "BODY", "text": "Tudo certo?"}]}],
            "paging": {"cursors": {"before": "CURSOR2", "after": "CURSOR3"}}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/2098765432/message_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"name": "promo_nov", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING", "id": "1",
                      "components": [{"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1h"]}},
                                     {"type": "BODY", "text": "Olá {{1}}, seu cupom é {{2}}",
                                      "example": {"body_text": [["Ana", "BEMVINDO"]]}},
                                     {"type": "FOOTER", "text": "Responda PARAR para sair"},
                                     {"type": "BUTTONS", "buttons": [
                                         {"type": "URL", "text": "Ver oferta", "url": "https://loja.example.com/o/{{1}}", "example": ["https://loja.example.com/o/42"]},
                                         {"type": "QUICK_REPLY", "text": "Parar"},
                                         {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+5511987654321"}]}]},
                     {"name": "pedido", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY", "id": "3",
                      "components": [{"type": "HEADER", "format": "TEXT", "text": "Pedido {{order}}",
                                      "example": {"header_text_named_params": [{"param_name": "order", "example": "42"}]}},
                                     {"type": "BODY", "text": "{{first_name}}, seu pedido saiu.",
                                      "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}},
                                     {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Expira em breve!", "has_expiration": true}},
                                     {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE30"},
                                                                     {"type": "URL", "text": "Site", "url": "https://loja.example.com"}]}]}],
            "paging": {"cursors": {"before": "CURSOR1", "after": "CURSOR2"},
                       "next": "https://graph.facebook.com/v23.0/2098765432/message_templates?after=CURSOR2"}})))
        .expect(1)
        .mount(&server)
        .await;
    let templates = client(&server, Duration::from_secs(5))
        .templates(&channel())
        .await
        .unwrap();
    assert_eq!(templates.len(), 3);
    assert_eq!(templates[0].name, "promo_nov");
    assert_eq!(templates[0].body_parameters, 2);
    assert_eq!(
        templates[0].header,
        Some(TemplateHeader {
            format: "IMAGE".into(),
            parameters: 0,
            parameter_name: None
        })
    );
    let buttons: Vec<(&str, u32)> = templates[0]
        .buttons
        .iter()
        .map(|b| (b.kind.as_str(), b.parameters))
        .collect();
    assert_eq!(
        buttons,
        [("URL", 1), ("QUICK_REPLY", 0), ("PHONE_NUMBER", 0)]
    );
    assert_eq!(templates[0].buttons[0].text.as_deref(), Some("Ver oferta"));
    assert_eq!(
        templates[1].header,
        Some(TemplateHeader {
            format: "TEXT".into(),
            parameters: 1,
            parameter_name: Some("order".into())
        })
    );
    let buttons: Vec<(&str, u32)> = templates[1]
        .buttons
        .iter()
        .map(|b| (b.kind.as_str(), b.parameters))
        .collect();
    assert_eq!(buttons, [("COPY_CODE", 1), ("URL", 0)]);
    assert_eq!(templates[1].body_parameter_names, ["first_name"]);
    assert_eq!(templates[1].unsupported, ["LIMITED_TIME_OFFER"]);
    assert!(
        templates[0].unsupported.is_empty(),
        "footers and buttons need nothing more"
    );
    assert!(templates[0].body_parameter_names.is_empty());
    assert_eq!(templates[0].category, TemplateCategory::Marketing);
    assert!(templates[0].is_approved());
    assert_eq!(templates[2].status, "PAUSED");
}

#[tokio::test]
async fn a_chatbot_start_is_signed_with_the_bot_secret_and_4xx_is_permanent() {
    let server = MockServer::start().await;
    let start = ChatbotStart {
        tenant: TenantId::parse("acme").unwrap(),
        sequence_id: Ulid::new(),
        step_id: Ulid::new(),
        enrollment_id: Ulid::new(),
        channel_id: Ulid::new(),
        contact: Contact {
            phone: "+5511987654321".into(),
            name: Some("Ana".into()),
            time_zone: None,
            attributes: Default::default(),
        },
    };
    let payload = serde_json::to_value(&start).unwrap();
    assert_eq!(payload["contact"]["phone"], "+5511987654321");
    assert_eq!(payload["tenant"], "acme");
    let bytes = serde_json::to_vec(&payload).unwrap();
    Mock::given(method("POST"))
        .and(path("/start"))
        .and(header(
            "x-ritmo-signature",
            signature(b"a-very-long-bot-secret", &bytes).as_str(),
        ))
        .and(body_json(payload.clone()))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let messenger = client(&server, Duration::from_secs(5));
    let bot = |url: String| Bot {
        tenant: TenantId::parse("acme").unwrap(),
        id: Ulid::new(),
        name: "Triagem".into(),
        webhook_url: url,
        secret: Secret::new("a-very-long-bot-secret"),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    messenger
        .start_chatbot(&bot(format!("{}/start", server.uri())), &start)
        .await
        .unwrap();
    let gone = messenger
        .start_chatbot(&bot(format!("{}/gone", server.uri())), &start)
        .await
        .unwrap_err();
    assert!(
        matches!(gone, SendError::Contact { code: 410, .. }),
        "{gone:?}"
    );
    let busy = messenger
        .start_chatbot(&bot(format!("{}/busy", server.uri())), &start)
        .await
        .unwrap_err();
    assert!(matches!(busy, SendError::Retryable { .. }), "{busy:?}");
}

#[tokio::test]
async fn a_bot_is_never_called_on_this_machine_or_a_private_network_nor_through_a_redirect() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let start = ChatbotStart {
        tenant: TenantId::parse("acme").unwrap(),
        sequence_id: Ulid::new(),
        step_id: Ulid::new(),
        enrollment_id: Ulid::new(),
        channel_id: Ulid::new(),
        contact: Contact {
            phone: "+5511987654321".into(),
            name: Some("Ana".into()),
            time_zone: None,
            attributes: Default::default(),
        },
    };
    let bot = |url: String| Bot {
        tenant: TenantId::parse("acme").unwrap(),
        id: Ulid::new(),
        name: "Triagem".into(),
        webhook_url: url,
        secret: Secret::new("a-very-long-bot-secret"),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let production = WhatsApp::new(WhatsAppConfig {
        base_url: server.uri(),
        ..WhatsAppConfig::default()
    })
    .unwrap();
    let port = server.address().port();
    // A literal loopback address, and a name that resolves to one.
    for url in [
        format!("http://127.0.0.1:{port}/start"),
        format!("http://localhost:{port}/start"),
    ] {
        let refused = production.start_chatbot(&bot(url.clone()), &start).await;
        assert!(refused.is_err(), "{url}");
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing reached the private address"
    );

    // A public-looking bot that redirects inward: the redirect is not followed.
    let redirecting = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/start"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", "http://169.254.169.254/latest/meta-data/"),
        )
        .mount(&redirecting)
        .await;
    let messenger = client(&redirecting, Duration::from_secs(2));
    let outcome = messenger
        .start_chatbot(&bot(format!("{}/start", redirecting.uri())), &start)
        .await;
    assert!(outcome.is_err(), "a redirect is an answer, never followed");
    assert_eq!(redirecting.received_requests().await.unwrap().len(), 1);
}
