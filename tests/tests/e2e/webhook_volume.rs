//! Meta's webhook volume: a notification is accepted up to Meta's documented 3 MB, and only a
//! larger one is refused, with a 413 problem.

use ritmo_e2e::TestServer;
use ritmo_whatsapp::signature;
use serde_json::{json, Value};

const APP_SECRET: &str = "meta-app-secret";

/// A notification of `count` `delivered` statuses for messages Ritmo never sent, in the shape of
/// Meta's `messages` webhook (statuses of a business phone number).
fn statuses(count: usize) -> Value {
    let statuses: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "id": format!("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ{i:012}AA=="),
                "status": "delivered",
                "timestamp": "1764072000",
                "recipient_id": "5511987654321",
                "conversation": {"id": "8f2c7a1b3d4e5f60718293a4b5c6d7e8", "origin": {"type": "utility"}},
                "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}
            })
        })
        .collect();
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "2098765432",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "551140028922", "phone_number_id": "1098765432"},
                    "statuses": statuses
                }
            }]
        }]
    })
}

async fn post_signed(s: &TestServer, body: Vec<u8>) -> reqwest::Response {
    let signature = signature(APP_SECRET.as_bytes(), &body);
    s.client
        .post(format!("{}/webhooks/whatsapp", s.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_notification_of_2_8_mb_is_accepted_and_one_over_3_mib_refused() {
    let s = TestServer::start(&["--whatsapp-app-secret", APP_SECRET]).await;
    let one = serde_json::to_vec(&statuses(1)).unwrap().len();
    let count = 2_800_000 / (one - 250);
    let body = serde_json::to_vec(&statuses(count)).unwrap();
    assert!(
        (2_700_000..3_000_000).contains(&body.len()),
        "{} bytes",
        body.len()
    );
    let reply = post_signed(&s, body).await;
    assert_eq!(reply.status(), 200, "{:?}", reply.text().await);

    let too_large = serde_json::to_vec(&statuses(count * 12 / 10)).unwrap();
    assert!(too_large.len() > ritmo_http::MAX_WEBHOOK_BODY_BYTES);
    let reply = post_signed(&s, too_large).await;
    assert_eq!(reply.status(), 413);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
}
