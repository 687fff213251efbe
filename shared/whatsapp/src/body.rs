//! The request bodies: Cloud API's template message, and the chatbot start Ritmo posts to a
//! bot's webhook.

use ritmo_core::delivery::ports::{ChatbotStart, TemplateMessage};
use serde_json::{json, Value};

/// The Cloud API body of a template message (SPEC §4).
pub fn template_body(message: &TemplateMessage) -> Value {
    let mut template = json!({"name": message.name, "language": {"code": message.language}});
    if !message.body_parameters.is_empty() {
        let parameters: Vec<Value> = message
            .body_parameters
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect();
        template["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.digits(),
        "type": "template",
        "template": template,
        "biz_opaque_callback_data": message.callback_data,
    })
}

/// The JSON a chatbot start posts: tenant, sequence, step, enrollment, channel and contact.
pub fn chatbot_body(start: &ChatbotStart) -> Value {
    serde_json::to_value(start).expect("a chatbot start serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ritmo_core::common::phone::Phone;

    #[test]
    fn the_send_body_matches_the_cloud_api_shape() {
        let message = TemplateMessage {
            to: Phone::parse("+55 11 98765-4321").unwrap(),
            name: "promo_nov".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Ana".into()],
            callback_data: "e:s".into(),
        };
        assert_eq!(
            template_body(&message),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321",
                   "type": "template",
                   "template": {"name": "promo_nov", "language": {"code": "pt_BR"},
                                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]},
                   "biz_opaque_callback_data": "e:s"})
        );
    }

    #[test]
    fn a_template_without_parameters_has_no_components() {
        let message = TemplateMessage {
            to: Phone::parse("+5511987654321").unwrap(),
            name: "hello".into(),
            language: "en_US".into(),
            body_parameters: vec![],
            callback_data: "c".into(),
        };
        assert!(template_body(&message)["template"]
            .get("components")
            .is_none());
    }
}
