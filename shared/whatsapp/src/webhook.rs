//! Meta's webhook notifications: the `X-Hub-Signature-256` check on the raw body, and the
//! payload read item by item into the domain's events. One malformed or unknown item becomes
//! `Ignored`; it never hides the other items of the same notification.

use hmac::{Hmac, Mac};
use ritmo_core::channels::model::TemplateCategory;
use ritmo_core::delivery::inbound::{InboundEvent, StatusFailure, StatusUpdate};
use ritmo_core::enrollments::model::MessageStatus;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::errors::classify;

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body, in constant time.
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    if hex.len() != 64 {
        return false;
    }
    let mut expected = [0u8; 32];
    for (i, byte) in expected.iter_mut().enumerate() {
        match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(b) => *byte = b,
            Err(_) => return false,
        }
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(default)]
    entry: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    /// The WhatsApp Business account id.
    #[serde(default)]
    id: String,
    #[serde(default)]
    changes: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct StatusItem {
    id: String,
    status: String,
    #[serde(default)]
    recipient_id: String,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pricing: Option<Pricing>,
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct Pricing {
    #[serde(default)]
    billable: Option<bool>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    code: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageItem {
    from: String,
}

#[derive(Debug, Deserialize)]
struct PreferenceItem {
    wa_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct TemplateStatusValue {
    #[serde(default)]
    event: String,
    #[serde(default)]
    message_template_name: String,
    #[serde(default)]
    message_template_language: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Reads a notification's events. Only a body that is not JSON at all is an error.
pub fn parse_notification(body: &[u8]) -> Result<Vec<InboundEvent>, serde_json::Error> {
    let notification: Notification = serde_json::from_slice(body)?;
    let mut events = Vec::new();
    for entry in notification.entry {
        let Some(entry) = item::<Entry>(entry, &mut events) else {
            continue;
        };
        for change in entry.changes {
            let Some(change) = item::<Change>(change, &mut events) else {
                continue;
            };
            match change.field.as_str() {
                "messages" | "user_preferences" => messages(change.value, &mut events),
                "message_template_status_update" => {
                    if let Some(value) = item::<TemplateStatusValue>(change.value, &mut events) {
                        events.push(InboundEvent::TemplateStatus {
                            waba_id: entry.id.clone(),
                            name: value.message_template_name,
                            language: value.message_template_language,
                            event: value.event,
                            reason: value.reason,
                        });
                    }
                }
                other => {
                    tracing::debug!(field = other, "webhook field not used");
                    events.push(InboundEvent::Ignored);
                }
            }
        }
    }
    Ok(events)
}

/// One item, or `Ignored` in its place.
fn item<T: DeserializeOwned>(value: Value, events: &mut Vec<InboundEvent>) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(item) => Some(item),
        Err(error) => {
            tracing::debug!(error = %error, "webhook item not readable; ignored");
            events.push(InboundEvent::Ignored);
            None
        }
    }
}

fn list(value: &mut Value, key: &str) -> Vec<Value> {
    match value.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn messages(mut value: Value, events: &mut Vec<InboundEvent>) {
    let statuses = list(&mut value, "statuses");
    let messages = list(&mut value, "messages");
    let preferences = list(&mut value, "user_preferences");
    let Some(metadata) = value
        .get_mut("metadata")
        .map(Value::take)
        .and_then(|m| serde_json::from_value::<Metadata>(m).ok())
    else {
        let items = statuses.len() + messages.len() + preferences.len();
        events.extend(std::iter::repeat_n(InboundEvent::Ignored, items.max(1)));
        return;
    };
    let phone_number_id = metadata.phone_number_id;
    for status in statuses {
        let Some(status) = item::<StatusItem>(status, events) else {
            continue;
        };
        match status_update(status) {
            Some(status) => events.push(InboundEvent::Status {
                phone_number_id: phone_number_id.clone(),
                status,
            }),
            None => events.push(InboundEvent::Ignored),
        }
    }
    for message in messages {
        if let Some(message) = item::<MessageItem>(message, events) {
            events.push(InboundEvent::Message {
                phone_number_id: phone_number_id.clone(),
                from: message.from,
            });
        }
    }
    for preference in preferences {
        if let Some(preference) = item::<PreferenceItem>(preference, events) {
            if preference.category == "marketing_messages"
                && preference.value.eq_ignore_ascii_case("stop")
            {
                events.push(InboundEvent::MarketingStop {
                    phone_number_id: phone_number_id.clone(),
                    wa_id: preference.wa_id,
                });
            } else {
                events.push(InboundEvent::Ignored);
            }
        }
    }
}

fn status_update(status: StatusItem) -> Option<StatusUpdate> {
    let reported = match status.status.as_str() {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" => MessageStatus::Read,
        "failed" => MessageStatus::Failed,
        _ => return None,
    };
    let failure = status.errors.into_iter().next().map(|e| {
        let detail = e.message.filter(|m| !m.is_empty()).unwrap_or(e.title);
        StatusFailure {
            code: e.code,
            class: classify(e.code, detail.clone()),
            detail,
        }
    });
    Some(StatusUpdate {
        message_id: status.id,
        status: reported,
        recipient_id: status.recipient_id,
        callback_data: status.biz_opaque_callback_data,
        billable: status
            .pricing
            .as_ref()
            .and_then(|p| p.billable)
            .unwrap_or(false),
        category: status
            .pricing
            .as_ref()
            .and_then(|p| p.category.as_deref())
            .and_then(TemplateCategory::parse),
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = crate::signature(b"app-secret", body);
        assert!(verify_signature(b"app-secret", body, Some(&header)));
        assert!(!verify_signature(b"other-secret", body, Some(&header)));
        assert!(!verify_signature(b"app-secret", b"{}", Some(&header)));
        assert!(!verify_signature(b"app-secret", body, None));
        assert!(!verify_signature(b"app-secret", body, Some("sha256=zz")));
        assert!(!verify_signature(
            b"app-secret",
            body,
            Some(header.trim_start_matches("sha256="))
        ));
    }

    #[test]
    fn a_malformed_status_never_hides_the_valid_items_beside_it() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                      "statuses": [
                          {"status": "delivered", "recipient_id": "5511987654321"},
                          {"id": "wamid.A", "status": "delivered", "timestamp": "1750263773", "recipient_id": "5511987654321",
                           "biz_opaque_callback_data": "cb",
                           "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}}
                      ],
                      "messages": [{"id": "wamid.B"}, {"from": "5511987654321", "id": "wamid.C", "timestamp": "1750263773",
                                    "type": "text", "text": {"body": "Oi"}}]}
        }]}]});
        let events = parse_notification(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| **e == InboundEvent::Ignored)
                .count(),
            2
        );
        assert!(events.iter().any(|e| matches!(e, InboundEvent::Status { status, .. }
            if status.message_id == "wamid.A" && status.billable && status.category == Some(TemplateCategory::Marketing))));
        assert!(events
            .iter()
            .any(|e| matches!(e, InboundEvent::Message { from, .. } if from == "5511987654321")));
    }

    #[test]
    fn a_failed_status_carries_its_classified_error() {
        let body = json!({"entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.F", "status": "failed", "timestamp": "1750263773", "recipient_id": "5511987654321",
                          "errors": [{"code": 131026, "title": "Message undeliverable",
                                      "message": "Message undeliverable", "error_data": {"details": "..."}}]}]}}]}]});
        let events = parse_notification(body.to_string().as_bytes()).unwrap();
        let [InboundEvent::Status { status, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        let failure = status.failure.as_ref().unwrap();
        assert_eq!(failure.code, 131026);
        assert!(matches!(
            failure.class,
            ritmo_core::delivery::ports::SendError::Contact { .. }
        ));
        assert_eq!(status.callback_data, None);
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        assert!(parse_notification(b"not json").is_err());
    }
}
