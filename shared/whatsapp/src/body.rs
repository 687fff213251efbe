//! The request bodies: Cloud API's template message, and the chatbot start Ritmo posts to a
//! bot's webhook.

use ritmo_core::delivery::ports::{ChatbotStart, TemplateMessage};
use ritmo_core::sequences::model::{ButtonParameter, Header};
use serde_json::{json, Value};

/// The Cloud API body of a template message (SPEC §4): `components` holds the header, the body
/// and one `button` component per button parameter, each only when it has parameters.
pub fn template_body(message: &TemplateMessage) -> Value {
    let mut template = json!({"name": message.name, "language": {"code": message.language}});
    let mut components = Vec::new();
    let names = message.parameter_names.as_ref();
    if let Some(header) = &message.header {
        let mut parameter = header_parameter(header);
        if let (Header::Text { .. }, Some(name)) = (header, names.and_then(|n| n.header.as_ref())) {
            parameter["parameter_name"] = name.as_str().into();
        }
        components.push(json!({"type": "header", "parameters": [parameter]}));
    }
    if !message.body_parameters.is_empty() {
        let parameters: Vec<Value> = message
            .body_parameters
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut parameter = json!({"type": "text", "text": text});
                if let Some(name) = names.and_then(|n| n.body.get(i)) {
                    parameter["parameter_name"] = name.as_str().into();
                }
                parameter
            })
            .collect();
        components.push(json!({"type": "body", "parameters": parameters}));
    }
    for button in &message.buttons {
        let parameter = match button {
            ButtonParameter::Url { text, .. } => json!({"type": "text", "text": text}),
            ButtonParameter::QuickReply { payload, .. } => {
                json!({"type": "payload", "payload": payload})
            }
            ButtonParameter::CopyCode { coupon_code, .. } => {
                json!({"type": "coupon_code", "coupon_code": coupon_code})
            }
        };
        components.push(json!({
            "type": "button",
            "sub_type": button.kind(),
            "index": button.index().to_string(),
            "parameters": [parameter],
        }));
    }
    if !components.is_empty() {
        template["components"] = Value::Array(components);
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

/// A header parameter: `{"type": "text", "text"}` or `{"type": "image", "image": {"link"|"id"}}`
/// (a document also with its `filename`).
fn header_parameter(header: &Header) -> Value {
    if let Header::Text { parameter } = header {
        return json!({"type": "text", "text": parameter});
    }
    let kind = header.kind();
    let mut media = serde_json::Map::new();
    match header.media() {
        (Some(link), _) => media.insert("link".into(), link.into()),
        (None, Some(id)) => media.insert("id".into(), id.into()),
        (None, None) => None,
    };
    if let Header::Document {
        filename: Some(name),
        ..
    } = header
    {
        media.insert("filename".into(), name.as_str().into());
    }
    json!({"type": kind, kind: media})
}

/// The JSON a chatbot start posts: tenant, sequence, step, enrollment, channel and contact.
pub fn chatbot_body(start: &ChatbotStart) -> Value {
    serde_json::to_value(start).expect("a chatbot start serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ritmo_core::channels::model::ParameterNames;
    use ritmo_core::common::phone::Phone;

    #[test]
    fn the_send_body_matches_the_cloud_api_shape() {
        let message = TemplateMessage {
            to: Phone::parse("+55 11 98765-4321").unwrap(),
            name: "promo_nov".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Ana".into()],
            header: None,
            buttons: vec![],
            parameter_names: None,
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
    fn media_headers_and_buttons_are_cloud_api_components_in_order() {
        let message = TemplateMessage {
            to: Phone::parse("+5511987654321").unwrap(),
            name: "promo_foto".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Ana".into(), "20%".into()],
            header: Some(Header::Document {
                link: None,
                media_id: Some("1013859600285441".into()),
                filename: Some("catalogo.pdf".into()),
            }),
            buttons: vec![
                ButtonParameter::Url {
                    index: 0,
                    text: "pedido/42".into(),
                },
                ButtonParameter::QuickReply {
                    index: 1,
                    payload: "PARAR".into(),
                },
                ButtonParameter::CopyCode {
                    index: 2,
                    coupon_code: "BEMVINDO".into(),
                },
            ],
            parameter_names: None,
            callback_data: "c".into(),
        };
        assert_eq!(
            template_body(&message)["template"]["components"],
            json!([
                {"type": "header", "parameters": [{"type": "document", "document": {"id": "1013859600285441", "filename": "catalogo.pdf"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "pedido/42"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "PARAR"}]},
                {"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "BEMVINDO"}]}
            ])
        );
        let image = TemplateMessage {
            header: Some(Header::Image {
                link: Some("https://cdn.example.com/promo.jpg".into()),
                media_id: None,
            }),
            buttons: vec![],
            body_parameters: vec![],
            ..message
        };
        assert_eq!(
            template_body(&image)["template"]["components"],
            json!([{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/promo.jpg"}}]}])
        );
    }

    #[test]
    fn named_parameters_are_sent_with_their_names() {
        let message = TemplateMessage {
            to: Phone::parse("+5511987654321").unwrap(),
            name: "pedido".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Ana".into(), "42".into()],
            header: Some(Header::Text {
                parameter: "42".into(),
            }),
            buttons: vec![],
            parameter_names: Some(ParameterNames {
                body: vec!["first_name".into(), "order".into()],
                header: Some("order".into()),
            }),
            callback_data: "c".into(),
        };
        assert_eq!(
            template_body(&message)["template"]["components"],
            json!([
                {"type": "header", "parameters": [{"type": "text", "text": "42", "parameter_name": "order"}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ana", "parameter_name": "first_name"},
                    {"type": "text", "text": "42", "parameter_name": "order"}]}
            ])
        );
    }

    #[test]
    fn a_template_without_parameters_has_no_components() {
        let message = TemplateMessage {
            to: Phone::parse("+5511987654321").unwrap(),
            name: "hello".into(),
            language: "en_US".into(),
            body_parameters: vec![],
            header: None,
            buttons: vec![],
            parameter_names: None,
            callback_data: "c".into(),
        };
        assert!(template_body(&message)["template"]
            .get("components")
            .is_none());
    }
}
