//! Meta's webhook notifications: the `X-Hub-Signature-256` check on the raw body, and the
//! payload read item by item into the domain's events. One malformed or unknown item becomes
//! `Ignored`; it never hides the other items of the same notification.

use hmac::{Hmac, Mac};
use ritmo_core::channels::model::TemplateCategory;
use ritmo_core::delivery::inbound::InboundEvent;
use ritmo_core::enrollments::model::{MessageStatus, PricingCategory, StatusFailure, StatusUpdate};
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

/// Splits a notification (already verified) into notifications of at most about `max` bytes
/// each, for a queue whose messages are smaller than Meta's 3 MB: one per change, and a change
/// larger than `max` in chunks of its `statuses` and of its `messages` (each chunk keeps the
/// value's other fields: `messaging_product`, `metadata`, `contacts`). Every item lands in
/// exactly one part; an item larger than `max` on its own is a part of its own. Only a body
/// that is not JSON is an error.
pub fn split_notification(body: &[u8], max: usize) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    let notification: Value = serde_json::from_slice(body)?;
    if body.len() <= max {
        return Ok(vec![body.to_vec()]);
    }
    let object = notification.get("object").cloned().unwrap_or(Value::Null);
    let wrap = |entry: Value| -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"object": object, "entry": [entry]}))
            .expect("JSON values serialise")
    };
    let entries = match notification.get("entry") {
        Some(Value::Array(entries)) => entries.clone(),
        _ => return Ok(vec![body.to_vec()]),
    };
    let mut parts = Vec::new();
    for entry in entries {
        let (Some(id), Some(Value::Array(changes))) = (entry.get("id"), entry.get("changes"))
        else {
            parts.push(wrap(entry));
            continue;
        };
        let one = |change: Value| wrap(serde_json::json!({"id": id, "changes": [change]}));
        for change in changes {
            let whole = one(change.clone());
            if whole.len() <= max {
                parts.push(whole);
                continue;
            }
            for chunk in split_change(change, whole.len(), max) {
                parts.push(one(chunk));
            }
        }
    }
    Ok(parts)
}

/// A change's value cut into chunks of its `statuses` and of its `messages`, each chunk about
/// `max` bytes at most.
fn split_change(change: &Value, size: usize, max: usize) -> Vec<Value> {
    let Some(value) = change.get("value").and_then(Value::as_object) else {
        return vec![change.clone()];
    };
    let mut shell = value.clone();
    let lists: Vec<(&str, Vec<Value>)> = ["statuses", "messages"]
        .into_iter()
        .filter_map(|key| match shell.remove(key) {
            Some(Value::Array(items)) => Some((key, items)),
            Some(other) => {
                shell.insert(key.into(), other);
                None
            }
            None => None,
        })
        .collect();
    if lists.is_empty() {
        return vec![change.clone()];
    }
    let with_value = |value: serde_json::Map<String, Value>| {
        let mut chunk = change.clone();
        chunk["value"] = Value::Object(value);
        chunk
    };
    let base = serde_json::to_vec(&with_value(shell.clone()))
        .map(|b| b.len())
        .unwrap_or(size);
    let room = max.saturating_sub(base + 256).max(1);
    let mut chunks = Vec::new();
    for (key, items) in lists {
        let mut current: Vec<Value> = Vec::new();
        let mut used = 0;
        for item in items {
            let len = serde_json::to_vec(&item).map(|b| b.len()).unwrap_or(0) + 1;
            if !current.is_empty() && used + len > room {
                let mut value = shell.clone();
                value.insert(key.into(), Value::Array(std::mem::take(&mut current)));
                chunks.push(with_value(value));
                used = 0;
            }
            used += len;
            current.push(item);
        }
        if !current.is_empty() {
            let mut value = shell.clone();
            value.insert(key.into(), Value::Array(current));
            chunks.push(with_value(value));
        }
    }
    chunks
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
    #[serde(default, rename = "type")]
    kind: String,
}

/// Message types the contact writes: each is a reply. Everything else is not: `system` (the
/// user changed number, their identity changed), `reaction` (an emoji on one of the business's
/// messages, not an answer), `revoke` / `edit` (a deletion or an edit of an earlier message),
/// `unsupported`, `unknown`, `request_welcome`, and any type Meta adds later.
const REPLY_TYPES: [&str; 11] = [
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "button",
    "interactive",
    "order",
];

#[derive(Debug, Deserialize)]
struct CategoryUpdateValue {
    #[serde(default)]
    message_template_name: String,
    #[serde(default)]
    message_template_language: String,
    /// Set on a completed change (an impending one has `correct_category` instead, and its
    /// `new_category` is still the current one).
    #[serde(default)]
    previous_category: Option<String>,
    #[serde(default)]
    new_category: String,
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
                "template_category_update" => {
                    let Some(value) = item::<CategoryUpdateValue>(change.value, &mut events) else {
                        continue;
                    };
                    match (
                        value.previous_category.as_ref(),
                        TemplateCategory::parse(&value.new_category),
                    ) {
                        (Some(_), Some(category)) => events.push(InboundEvent::TemplateCategory {
                            waba_id: entry.id.clone(),
                            name: value.message_template_name,
                            language: value.message_template_language,
                            category,
                        }),
                        // An announced change that has not happened yet, or an unknown category.
                        _ => events.push(InboundEvent::Ignored),
                    }
                }
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
            if REPLY_TYPES.contains(&message.kind.as_str()) {
                events.push(InboundEvent::Message {
                    phone_number_id: phone_number_id.clone(),
                    from: message.from,
                });
            } else {
                tracing::debug!(kind = %message.kind, "inbound message that is not a reply");
                events.push(InboundEvent::Ignored);
            }
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

/// `pricing.category` as Meta defines it: `marketing_lite` is marketing, `service` and
/// `referral_conversion` (free entry points) are not a template's category.
fn pricing_category(raw: &str) -> Option<PricingCategory> {
    match raw.to_ascii_lowercase().as_str() {
        "marketing" | "marketing_lite" => Some(PricingCategory::Marketing),
        "utility" => Some(PricingCategory::Utility),
        "authentication" | "authentication_international" | "authentication-international" => {
            Some(PricingCategory::Authentication)
        }
        "service" => Some(PricingCategory::Service),
        "referral_conversion" => Some(PricingCategory::ReferralConversion),
        _ => None,
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
            .and_then(pricing_category),
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
    fn a_large_notification_splits_into_small_ones_with_every_item_once() {
        let status = |i: usize| {
            json!({"id": format!("wamid.S{i}"), "status": "delivered", "timestamp": "1750263773",
                   "recipient_id": "5511987654321", "biz_opaque_callback_data": format!("cb{i}"),
                   "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}})
        };
        let message = |i: usize| {
            json!({"from": "5511987654321", "id": format!("wamid.M{i}"), "timestamp": "1750263773",
                   "type": "text", "text": {"body": "x".repeat(500)}})
        };
        let value = |statuses: Vec<Value>, messages: Vec<Value>| {
            json!({"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                   "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
                   "statuses": statuses, "messages": messages})
        };
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "102290129340398", "changes": [
                {"field": "messages", "value": value((0..4000).map(status).collect(), (0..600).map(message).collect())},
                {"field": "message_template_status_update",
                 "value": {"event": "PAUSED", "message_template_id": 1, "message_template_name": "promo",
                           "message_template_language": "pt_BR", "reason": null}}]},
            {"id": "102290129340399", "changes": [
                {"field": "messages", "value": value(vec![status(9999)], vec![])}]}]});
        let body = serde_json::to_vec(&body).unwrap();
        assert!(body.len() > 1_000_000, "{}", body.len());
        let max = 200_000;
        let parts = split_notification(&body, max).unwrap();
        assert!(parts.len() >= 8, "{}", parts.len());
        assert!(parts.iter().all(|p| p.len() <= max), "every part fits");
        let whole = parse_notification(&body).unwrap();
        let split: Vec<InboundEvent> = parts
            .iter()
            .flat_map(|p| parse_notification(p).unwrap())
            .collect();
        assert_eq!(split.len(), whole.len());
        assert_eq!(split, whole, "the same events, in the same order");
        assert_eq!(split_notification(b"{}", max).unwrap(), [b"{}".to_vec()]);
        assert!(split_notification(b"not json", max).is_err());
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
            if status.message_id == "wamid.A" && status.billable && status.category == Some(PricingCategory::Marketing))));
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
            ritmo_core::enrollments::model::SendError::Contact { .. }
        ));
        assert_eq!(status.callback_data, None);
    }

    fn messages_value(messages: serde_json::Value) -> Vec<u8> {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                      "messages": messages}}]}]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn only_messages_the_contact_wrote_are_replies() {
        let replies = json!([
            {"from": "551187654321", "id": "wamid.1", "timestamp": "1750263773", "type": "text", "text": {"body": "Oi"}},
            {"from": "551187654321", "id": "wamid.2", "timestamp": "1750263773", "type": "image",
             "image": {"caption": "foto", "mime_type": "image/jpeg", "sha256": "abc", "id": "1234"}},
            {"from": "551187654321", "id": "wamid.3", "timestamp": "1750263773", "type": "button",
             "context": {"from": "15550783881", "id": "wamid.sent"}, "button": {"payload": "stop", "text": "Parar"}},
            {"from": "551187654321", "id": "wamid.4", "timestamp": "1750263773", "type": "interactive",
             "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sim"}}},
            {"from": "551187654321", "id": "wamid.5", "timestamp": "1750263773", "type": "location",
             "location": {"latitude": -23.55, "longitude": -46.63}},
            {"from": "551187654321", "id": "wamid.6", "timestamp": "1750263773", "type": "order",
             "order": {"catalog_id": "1", "product_items": []}}
        ]);
        let events = parse_notification(&messages_value(replies)).unwrap();
        assert_eq!(events.len(), 6);
        assert!(events
            .iter()
            .all(|e| matches!(e, InboundEvent::Message { from, .. } if from == "551187654321")));
        let not_replies = json!([
            {"from": "551187654321", "id": "wamid.7", "timestamp": "1750263773", "type": "system",
             "system": {"body": "User Ana changed from 551187654321 to 5511987650000", "wa_id": "5511987650000",
                        "type": "user_changed_number"}},
            {"from": "551187654321", "id": "wamid.8", "timestamp": "1750263773", "type": "reaction",
             "reaction": {"message_id": "wamid.sent", "emoji": "\u{1F44D}"}},
            {"from": "551187654321", "id": "wamid.9", "timestamp": "1750263773", "type": "unsupported",
             "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                         "error_data": {"details": "Message type is currently not supported."}}]},
            {"from": "551187654321", "id": "wamid.10", "timestamp": "1750263773", "type": "revoke",
             "revoke": {"original_message_id": "wamid.1"}},
            {"from": "551187654321", "id": "wamid.11", "timestamp": "1750263773", "type": "edit",
             "edit": {"original_message_id": "wamid.1", "message": {"type": "text", "text": {"body": "Olá"}}}}
        ]);
        let events = parse_notification(&messages_value(not_replies)).unwrap();
        assert_eq!(events, vec![InboundEvent::Ignored; 5]);
    }

    #[test]
    fn a_completed_category_change_is_read_and_an_announced_one_is_not() {
        let change = |value: serde_json::Value| {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1750263773,
                "changes": [{"field": "template_category_update", "value": value}]}]})
            .to_string()
        };
        let done = change(
            json!({"message_template_id": 806312974732579i64, "message_template_name": "followup",
            "message_template_language": "pt_BR", "previous_category": "UTILITY", "new_category": "MARKETING"}),
        );
        assert_eq!(
            parse_notification(done.as_bytes()).unwrap(),
            vec![InboundEvent::TemplateCategory {
                waba_id: "102290129340398".into(),
                name: "followup".into(),
                language: "pt_BR".into(),
                category: TemplateCategory::Marketing,
            }]
        );
        let announced = change(
            json!({"message_template_id": 806312974732579i64, "message_template_name": "followup",
            "message_template_language": "pt_BR", "correct_category": "MARKETING", "new_category": "UTILITY",
            "category_update_timestamp": 1750350173}),
        );
        assert_eq!(
            parse_notification(announced.as_bytes()).unwrap(),
            vec![InboundEvent::Ignored]
        );
    }

    #[test]
    fn pricing_categories_map_as_meta_defines_them() {
        assert_eq!(pricing_category("service"), Some(PricingCategory::Service));
        assert_eq!(
            pricing_category("service").unwrap().template_category(),
            None
        );
        assert_eq!(
            pricing_category("marketing_lite"),
            Some(PricingCategory::Marketing)
        );
        assert_eq!(
            pricing_category("authentication_international"),
            Some(PricingCategory::Authentication)
        );
        assert_eq!(
            pricing_category("referral_conversion")
                .unwrap()
                .template_category(),
            None
        );
        assert_eq!(pricing_category("utility"), Some(PricingCategory::Utility));
        assert_eq!(pricing_category("something_new"), None);
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        assert!(parse_notification(b"not json").is_err());
    }
}
