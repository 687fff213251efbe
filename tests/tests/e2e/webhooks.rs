//! Meta's webhooks end to end: handshake, signatures, statuses, replies, opt-outs and template
//! status changes, against `ritmo-local --whatsapp-app-secret ... --whatsapp-verify-token ...`.

use reqwest::StatusCode;
use ritmo_e2e::meta::{messages_change, APP_SECRET, PHONE_NUMBER_ID, WABA_ID};
use ritmo_e2e::TestServer;
use ritmo_whatsapp::signature;
use serde_json::{json, Value};

async fn server() -> TestServer {
    let s = TestServer::start(&[
        "--manual-clock",
        "--whatsapp-app-secret",
        APP_SECRET,
        "--whatsapp-verify-token",
        "verify-me",
    ])
    .await;
    s.post("/_dev/clock", json!({"now": "2026-11-23T13:00:00Z"}))
        .await
        .ok();
    s
}

/// A sequence of two steps (a marketing template now, a utility one a day later) with Ana and
/// Bia enrolled and the first step sent to both.
async fn sent_first_step(s: &TestServer, exit_on_reply: bool) -> String {
    let channel = s
        .post("/v1/channels", json!({"name": "Loja", "phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID, "access_token": "t"}))
        .await
        .ok();
    let channel = channel["id"].as_str().unwrap().to_string();
    for (name, category) in [
        ("promo_nov", "MARKETING"),
        ("followup", "UTILITY"),
        ("promo_dez", "MARKETING"),
    ] {
        s.post("/_dev/templates", json!({"channel_id": channel, "name": name, "language": "pt_BR", "category": category, "body_parameters": 0}))
            .await
            .ok();
    }
    let sequence = s
        .post(
            "/v1/sequences",
            json!({"name": "Promo", "exit_on_reply": exit_on_reply}),
        )
        .await
        .ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    for (name, days) in [("promo_nov", 0), ("followup", 1), ("promo_dez", 2)] {
        s.post(
            &format!("/v1/sequences/{id}/steps"),
            json!({"channel_id": channel, "action": {"type": "template", "name": name, "language": "pt_BR"},
                   "delay": {"amount": days, "unit": "days"}}),
        )
        .await
        .ok();
    }
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    s.post(
        &format!("/v1/sequences/{id}/enrollments"),
        json!({"contacts": [{"phone": "+5511987654321"}, {"phone": "+5521987654321"}]}),
    )
    .await
    .ok();
    s.advance(1).await;
    assert_eq!(s.outbox().await.len(), 2);
    id
}

/// Meta's status for the outbox message sent to `to`.
async fn status_for(s: &TestServer, to: &str, status: &str, extra: Value) -> Value {
    let outbox = s.outbox().await;
    let sent = outbox.iter().rev().find(|m| m["to"] == to).unwrap();
    let index = outbox.iter().position(|m| m == sent).unwrap();
    let mut item = json!({"id": format!("wamid.outbox.{:08}", index + 1), "status": status, "timestamp": "1795435260",
                          "recipient_id": to,
                          "biz_opaque_callback_data": sent["request"]["biz_opaque_callback_data"]});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            item[k] = v;
        }
    }
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let s = server().await;
    let ok = s
        .client
        .get(format!("{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = s
        .client
        .get(format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_signature_is_401_and_changes_nothing() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let payload = messages_change(
        json!({"messages": [{"from": "5511987654321", "id": "wamid.IN1", "timestamp": "1795435300", "type": "text", "text": {"body": "parar"}}]}),
    );
    let body = serde_json::to_vec(&payload).unwrap();
    for header in [
        None,
        Some(signature(b"another-secret", &body)),
        Some("sha256=00".into()),
    ] {
        let mut request = s
            .client
            .post(format!("{}/webhooks/whatsapp", s.base))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(h) = header {
            request = request.header("x-hub-signature-256", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let enrollment = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(enrollment["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_statuses_give_the_right_counts() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let billing =
        json!({"pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}});
    let ana_read = status_for(&s, "5511987654321", "read", json!({})).await;
    let ana_delivered = status_for(&s, "5511987654321", "delivered", billing.clone()).await;
    let bia_delivered = status_for(&s, "5521987654321", "delivered", billing).await;
    // Read arrives before delivered, everything twice.
    for status in [
        &ana_read,
        &ana_read,
        &ana_delivered,
        &bia_delivered,
        &ana_delivered,
        &bia_delivered,
    ] {
        assert_eq!(
            s.post_signed(&messages_change(json!({"statuses": [status]})))
                .await,
            StatusCode::OK
        );
    }
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    let step = &stats["steps"][0];
    assert_eq!(step["sent"], 2);
    assert_eq!(step["delivered"], 2);
    assert_eq!(step["read"], 1);
    assert_eq!(step["failed"], 0);
    assert_eq!(step["billable"]["MARKETING"], 2);
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["history"][0]["status"], "read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_message_ends_an_exit_on_reply_enrollment_and_nothing_more_is_sent() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let reply = messages_change(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
        "messages": [{"from": "5511987654321", "id": "wamid.IN1", "timestamp": "1795435300", "type": "text", "text": {"body": "Oi!"}}]}));
    assert_eq!(s.post_signed(&reply).await, StatusCode::OK);
    assert_eq!(s.post_signed(&reply).await, StatusCode::OK);
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["status"], "exited");
    assert_eq!(ana["exit_reason"], "replied");
    assert_eq!(
        s.schedules().await.len(),
        1,
        "only Bia's next step is pending"
    );
    s.advance(5 * 24 * 3600).await;
    let to: Vec<String> = s
        .outbox()
        .await
        .iter()
        .map(|m| m["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(to.iter().filter(|t| *t == "5511987654321").count(), 1);
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["replied"], 1);
    assert_eq!(stats["exit_reasons"]["replied"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_in_a_sequence_without_exit_on_reply_only_counts() {
    let s = server().await;
    let id = sent_first_step(&s, false).await;
    let reply = messages_change(
        json!({"messages": [{"from": "5511987654321", "id": "wamid.IN1", "timestamp": "1", "type": "text", "text": {"body": "Oi"}}]}),
    );
    assert_eq!(s.post_signed(&reply).await, StatusCode::OK);
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["status"], "active");
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["replied"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_undeliverable_status_ends_the_enrollment() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let failed = status_for(
        &s,
        "5521987654321",
        "failed",
        json!({"errors": [{"code": 131026, "title": "Message undeliverable",
        "message": "Message undeliverable", "error_data": {"details": "Message Undeliverable."}}]}),
    )
    .await;
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [failed]})))
            .await,
        StatusCode::OK
    );
    let bia = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5521987654321"))
        .await
        .ok();
    assert_eq!(bia["status"], "exited");
    assert_eq!(bia["exit_reason"], "undeliverable");
    assert_eq!(bia["history"][0]["status"], "failed");
    assert!(bia["history"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("131026"));
    assert_eq!(
        s.schedules().await.len(),
        1,
        "only Ana's next step is pending"
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["failed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketing_stop_ends_runs_whose_next_template_is_marketing() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    // Next step is the UTILITY follow-up: the stop does not end the run yet.
    let stop = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "user_preferences", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"wa_id": "5511987654321", "profile": {"name": "Ana"}}],
        "user_preferences": [{"wa_id": "5511987654321", "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": "stop", "timestamp": 1795435300}]}}]}]});
    assert_eq!(s.post_signed(&stop).await, StatusCode::OK);
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["status"], "active");
    // After the follow-up, the next one is marketing: now the stop ends the run.
    s.advance(24 * 3600).await;
    assert_eq!(s.post_signed(&stop).await, StatusCode::OK);
    let ana = s
        .get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok();
    assert_eq!(ana["status"], "exited");
    assert_eq!(ana["exit_reason"], "opted_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_template_pauses_the_sequences_that_use_it() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let update = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "time": 1795435300, "changes": [{
        "field": "message_template_status_update",
        "value": {"event": "PAUSED", "message_template_id": 594425479261596i64, "message_template_name": "followup",
                  "message_template_language": "pt_BR", "reason": null}}]}]});
    assert_eq!(s.post_signed(&update).await, StatusCode::OK);
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "paused");
    assert_eq!(
        sequence["status_reason"],
        "template followup (pt_BR) is PAUSED"
    );
    // Held, not lost: both contacts are still where they were.
    let listed = s
        .get(&format!("/v1/sequences/{id}/enrollments?status=active"))
        .await
        .ok();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_an_unknown_number_is_acknowledged_and_ignored() {
    let s = server().await;
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "999"},
        "messages": [{"from": "5511987654321", "id": "x", "timestamp": "1", "type": "text"}]}}]}]});
    assert_eq!(s.post_signed(&payload).await, StatusCode::OK);
    let malformed = s
        .client
        .post(format!("{}/webhooks/whatsapp", s.base))
        .header(
            "x-hub-signature-256",
            signature(APP_SECRET.as_bytes(), b"{not json"),
        )
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billable_statuses_are_priced_with_the_rate_card() {
    let card = std::env::temp_dir().join(format!("ritmo-rate-card-{}.json", std::process::id()));
    std::fs::write(
        &card,
        r#"{"currency": "USD", "rates": {"MARKETING": {"55": 0.0625, "default": 0.05}}}"#,
    )
    .unwrap();
    let s = TestServer::start(&[
        "--manual-clock",
        "--whatsapp-app-secret",
        APP_SECRET,
        "--rate-card",
        card.to_str().unwrap(),
    ])
    .await;
    s.post("/_dev/clock", json!({"now": "2026-11-23T13:00:00Z"}))
        .await
        .ok();
    let id = sent_first_step(&s, true).await;
    let billing =
        json!({"pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}});
    for to in ["5511987654321", "5521987654321"] {
        let status = status_for(&s, to, "delivered", billing.clone()).await;
        assert_eq!(
            s.post_signed(&messages_change(json!({"statuses": [status]})))
                .await,
            StatusCode::OK
        );
    }
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["currency"], "USD");
    assert_eq!(stats["steps"][0]["estimated_cost"], 0.125);
    assert_eq!(stats["steps"][1]["estimated_cost"], 0.0);
    std::fs::remove_file(card).ok();
}

/// A channel with the three templates and a sequence of their three steps (the first a minute
/// after enrollment), active, with Ana enrolled as `+55 11 98765-4321`; nothing sent yet.
/// With `wa_id`, the outbox answers her sends with that WhatsApp id, as Meta's
/// `contacts[].wa_id`.
async fn ana_enrolled(s: &TestServer, wa_id: Option<&str>) -> String {
    let channel = s
        .post("/v1/channels", json!({"name": "Loja", "phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID, "access_token": "t"}))
        .await
        .ok();
    let channel = channel["id"].as_str().unwrap().to_string();
    for (name, category) in [
        ("promo_nov", "MARKETING"),
        ("followup", "UTILITY"),
        ("promo_dez", "MARKETING"),
    ] {
        s.post("/_dev/templates", json!({"channel_id": channel, "name": name, "language": "pt_BR", "category": category, "body_parameters": 0}))
            .await
            .ok();
    }
    if let Some(wa_id) = wa_id {
        let hint = s
            .post(
                "/_dev/outbox/wa_ids",
                json!({"phone": "+5511987654321", "wa_id": wa_id}),
            )
            .await;
        assert_eq!(hint.status, StatusCode::NO_CONTENT);
    }
    let id = s.post("/v1/sequences", json!({"name": "Promo"})).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.activate_with_template_steps(
        &id,
        &json!(channel),
        &[
            ("promo_nov", 1, "minutes"),
            ("followup", 1, "days"),
            ("promo_dez", 2, "days"),
        ],
    )
    .await;
    let enrolled = s
        .post(
            &format!("/v1/sequences/{id}/enrollments"),
            json!({"contacts": [{"phone": "+55 11 98765-4321", "name": "Ana"}]}),
        )
        .await
        .ok();
    assert_eq!(enrolled["results"][0]["status"], "enrolled");
    id
}

async fn ana(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
        .await
        .ok()
}

/// Meta's status item for the outbox's first message, addressed to the 8-digit WhatsApp id.
fn first_message_status(status: &str, callback: Option<&Value>, extra: Value) -> Value {
    let mut item = json!({"id": "wamid.outbox.00000001", "status": status, "timestamp": "1795435260",
                          "recipient_id": "551187654321"});
    if let Some(callback) = callback {
        item["biz_opaque_callback_data"] = callback.clone();
    }
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            item[k] = v;
        }
    }
    item
}

async fn brazilian_contact_is_counted_and_its_reply_ends_the_run(wa_id_hint: Option<&str>) {
    let s = server().await;
    let id = ana_enrolled(&s, wa_id_hint).await;
    s.advance(60).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["to"], "5511987654321");
    let callback = &outbox[0]["request"]["biz_opaque_callback_data"];
    let delivered = first_message_status(
        "delivered",
        Some(callback),
        json!({"conversation": {"id": "c1", "origin": {"type": "marketing"}},
               "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}}),
    );
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [delivered]})))
            .await,
        StatusCode::OK
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["delivered"], 1);
    assert_eq!(stats["steps"][0]["billable"]["MARKETING"], 1);
    let reply = messages_change(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "551187654321"}],
        "messages": [{"from": "551187654321", "id": "wamid.IN1", "timestamp": "1795435300", "type": "text", "text": {"body": "Não quero mais"}}]}));
    assert_eq!(s.post_signed(&reply).await, StatusCode::OK);
    let ana = ana(&s, &id).await;
    assert_eq!(ana["status"], "exited");
    assert_eq!(ana["exit_reason"], "replied");
    assert!(s.schedules().await.is_empty(), "no next step is pending");
    s.advance(5 * 24 * 3600).await;
    assert_eq!(s.outbox().await.len(), 1, "nothing more went to Ana");
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["replied"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brazilian_contact_with_an_eight_digit_whatsapp_id_is_counted_and_its_reply_ends_the_run()
{
    brazilian_contact_is_counted_and_its_reply_ends_the_run(Some("551187654321")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brazilian_contact_is_reconciled_without_a_whatsapp_id_in_the_send_response() {
    brazilian_contact_is_counted_and_its_reply_ends_the_run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_without_callback_data_ends_the_enrollment_as_undeliverable() {
    let s = server().await;
    let id = ana_enrolled(&s, None).await;
    s.advance(60).await;
    assert_eq!(s.schedules().await.len(), 1);
    // Meta's `failed` carries no biz_opaque_callback_data.
    let failed = first_message_status(
        "failed",
        None,
        json!({"errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                           "error_data": {"details": "Message Undeliverable."}}]}),
    );
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [failed]})))
            .await,
        StatusCode::OK
    );
    let ana = ana(&s, &id).await;
    assert_eq!(ana["status"], "exited");
    assert_eq!(ana["exit_reason"], "undeliverable");
    assert_eq!(ana["history"][0]["status"], "failed");
    assert!(s.schedules().await.is_empty(), "the next step is cancelled");
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["failed"], 1);
    assert_eq!(stats["exit_reasons"]["undeliverable"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_status_posted_before_the_send_was_recorded_is_counted() {
    let s = server().await;
    let id = ana_enrolled(&s, None).await;
    // The step's job names the run: its callback data is what Meta will echo.
    let job = s.schedules().await[0]["input"].clone();
    let callback = json!(format!(
        "{}:{}:{}",
        job["sequence_id"].as_str().unwrap(),
        job["enrollment_id"].as_str().unwrap(),
        job["step_id"].as_str().unwrap()
    ));
    let delivered = first_message_status("delivered", Some(&callback), json!({}));
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [delivered.clone()]})))
            .await,
        StatusCode::OK
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["sent"], 0);
    s.advance(60).await;
    assert_eq!(
        s.outbox().await[0]["request"]["biz_opaque_callback_data"],
        callback
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["sent"], 1);
    assert_eq!(stats["steps"][0]["delivered"], 1);
    assert_eq!(ana(&s, &id).await["history"][0]["status"], "delivered");
    // Meta's retry of the same status changes nothing.
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [delivered]})))
            .await,
        StatusCode::OK
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["delivered"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_messages_reactions_and_deletions_are_not_replies() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let not_replies = messages_change(json!({"messages": [
        {"from": "5511987654321", "id": "wamid.S1", "timestamp": "1795435300", "type": "system",
         "system": {"body": "User Ana changed from 5511987654321 to 5511987650000", "wa_id": "5511987650000",
                    "type": "user_changed_number"}},
        {"from": "5511987654321", "id": "wamid.R1", "timestamp": "1795435301", "type": "reaction",
         "reaction": {"message_id": "wamid.outbox.00000001", "emoji": "\u{1F44D}"}},
        {"from": "5511987654321", "id": "wamid.U1", "timestamp": "1795435302", "type": "unsupported",
         "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                     "error_data": {"details": "Message type is currently not supported."}}]}
    ]}));
    assert_eq!(s.post_signed(&not_replies).await, StatusCode::OK);
    let ana = ana(&s, &id).await;
    assert_eq!(ana["status"], "active");
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["replied"], 0);
    // A button reply is one.
    let button = messages_change(json!({"messages": [
        {"context": {"from": "551140000000", "id": "wamid.outbox.00000001"},
         "from": "5511987654321", "id": "wamid.B1", "timestamp": "1795435303", "type": "button",
         "button": {"payload": "Parar promoções", "text": "Parar promoções"}}]}));
    assert_eq!(s.post_signed(&button).await, StatusCode::OK);
    assert_eq!(
        s.get(&format!("/v1/sequences/{id}/enrollments/%2B5511987654321"))
            .await
            .ok()["exit_reason"],
        "replied"
    );
}

fn template_status(event: &str, reason: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "time": 1795435300, "changes": [{
        "field": "message_template_status_update",
        "value": {"event": event, "message_template_id": 594425479261596i64, "message_template_name": "followup",
                  "message_template_language": "pt_BR", "reason": reason}}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_template_warns_without_pausing_and_a_later_approval_is_shown() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    assert_eq!(
        s.post_signed(&template_status("FLAGGED", json!("NONE")))
            .await,
        StatusCode::OK
    );
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "active");
    assert_eq!(sequence["template_notices"][0]["name"], "followup");
    assert_eq!(sequence["template_notices"][0]["event"], "FLAGGED");
    // Meta still delivers a flagged template: the follow-up goes out.
    s.advance(24 * 3600).await;
    assert_eq!(s.outbox().await.len(), 4);
    assert_eq!(
        s.post_signed(&template_status("PAUSED", json!(null))).await,
        StatusCode::OK
    );
    assert_eq!(
        s.post_signed(&template_status("APPROVED", json!("NONE")))
            .await,
        StatusCode::OK
    );
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["status"], "paused", "resuming stays one click");
    assert_eq!(
        sequence["status_reason"],
        "template followup (pt_BR) is PAUSED"
    );
    let notices = sequence["template_notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["event"], "APPROVED");
    let resumed = s
        .request(
            reqwest::Method::POST,
            &format!("/v1/sequences/{id}/resume"),
            Some(&s.token),
            Some(json!({})),
        )
        .await;
    assert!(resumed.status.is_success(), "{}", resumed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_update_decides_the_next_opt_out() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let update = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "time": 1795435300, "changes": [{
        "field": "template_category_update",
        "value": {"message_template_id": 594425479261596i64, "message_template_name": "followup",
                  "message_template_language": "pt_BR", "previous_category": "UTILITY", "new_category": "MARKETING"}}]}]});
    assert_eq!(s.post_signed(&update).await, StatusCode::OK);
    let sequence = s.get(&format!("/v1/sequences/{id}")).await.ok();
    assert_eq!(sequence["steps"][1]["action"]["category"], "MARKETING");
    // The next template (the follow-up) is marketing now: the stop ends the run.
    let stop = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "user_preferences", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"wa_id": "5511987654321", "profile": {"name": "Ana"}}],
        "user_preferences": [{"wa_id": "5511987654321", "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": "stop", "timestamp": 1795435300}]}}]}]});
    assert_eq!(s.post_signed(&stop).await, StatusCode::OK);
    let ana = ana(&s, &id).await;
    assert_eq!(ana["status"], "exited");
    assert_eq!(ana["exit_reason"], "opted_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_priced_status_is_not_billed_as_marketing() {
    let s = server().await;
    let id = sent_first_step(&s, true).await;
    let service = status_for(
        &s,
        "5511987654321",
        "delivered",
        json!({"pricing": {"billable": true, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}}),
    )
    .await;
    assert_eq!(
        s.post_signed(&messages_change(json!({"statuses": [service]})))
            .await,
        StatusCode::OK
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["delivered"], 1);
    assert_eq!(stats["steps"][0]["billable"], json!({}));
}
