//! Meta's side of the webhook scenarios: the app secret and number the servers are started with,
//! a `messages` change as Meta posts it, and its signed delivery.

use reqwest::StatusCode;
use ritmo_whatsapp::signature;
use serde_json::{json, Value};

use crate::TestServer;

/// The Meta app secret the webhook scenarios start `ritmo-local` with.
pub const APP_SECRET: &str = "meta-app-secret";
/// The phone number id and WhatsApp Business account of the scenarios' channel.
pub const PHONE_NUMBER_ID: &str = "1098765432";
pub const WABA_ID: &str = "2098765432";

/// A `messages` notification of the channel's number carrying `value` (statuses or messages).
pub fn messages_change(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "551140000000", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}]})
}

impl TestServer {
    /// Posts `payload` to the webhook signed with [`APP_SECRET`], as Meta does; the answer's
    /// status.
    pub async fn post_signed(&self, payload: &Value) -> StatusCode {
        let body = serde_json::to_vec(payload).unwrap();
        self.client
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                signature(APP_SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }
}
