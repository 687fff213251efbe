//! Template parameters: `{{contact.name}}`, `{{contact.attributes.coupon|BEMVINDO}}` and plain
//! text around them, rendered per contact; and the WhatsApp Cloud API send body.

use crate::channels::model::TemplateInfo;
use crate::common::error::DomainError;
use crate::enrollments::model::Contact;
use crate::sequences::model::{ButtonParameter, Header};

/// One `{{...}}` placeholder of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var { path: Var, default: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Name,
    Phone,
    TimeZone,
    Attribute(String),
}

impl Var {
    fn label(&self) -> String {
        match self {
            Var::Name => "contact.name".into(),
            Var::Phone => "contact.phone".into(),
            Var::TimeZone => "contact.time_zone".into(),
            Var::Attribute(a) => format!("contact.attributes.{a}"),
        }
    }
}

/// A parsed parameter, ready to render for any contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    #[error("unclosed '{{{{' placeholder")]
    Unclosed,
    #[error("unknown variable '{0}' (use contact.name, contact.phone, contact.time_zone or contact.attributes.<name>)")]
    UnknownVariable(String),
}

/// A contact lacks a value the template needs and the placeholder gives no default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing {0} (and the template gives no default)")]
pub struct MissingVariable(pub String);

impl Parameter {
    pub fn parse(raw: &str) -> Result<Self, ParameterError> {
        let mut segments = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(ParameterError::Unclosed)?;
            let inner = &after[..close];
            let (path, default) = match inner.split_once('|') {
                Some((p, d)) => (p.trim(), Some(d.to_string())),
                None => (inner.trim(), None),
            };
            let var = match path {
                "contact.name" => Var::Name,
                "contact.phone" => Var::Phone,
                "contact.time_zone" => Var::TimeZone,
                p => match p.strip_prefix("contact.attributes.") {
                    Some(a) if valid_attribute_name(a) => Var::Attribute(a.to_string()),
                    _ => return Err(ParameterError::UnknownVariable(p.to_string())),
                },
            };
            segments.push(Segment::Var { path: var, default });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Ok(Self(segments))
    }

    pub fn render(&self, contact: &Contact) -> Result<String, MissingVariable> {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Var { path, default } => {
                    let value = match path {
                        Var::Name => contact.name.as_deref(),
                        Var::Phone => Some(contact.phone.as_str()),
                        Var::TimeZone => contact.time_zone.as_deref(),
                        Var::Attribute(a) => contact.attributes.get(a).map(String::as_str),
                    }
                    .filter(|v| !v.trim().is_empty());
                    match (value, default) {
                        (Some(v), _) => out.push_str(v),
                        (None, Some(d)) => out.push_str(d),
                        (None, None) => return Err(MissingVariable(path.label())),
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Attribute names: letters, digits, `_` and `-`, up to 64.
pub fn valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Renders every parameter for the contact.
pub fn render_all(
    parameters: &[String],
    contact: &Contact,
) -> Result<Vec<String>, MissingVariable> {
    parameters
        .iter()
        .map(|raw| render_one(raw, contact))
        .collect()
}

/// Renders a step's header for the contact (a text header's parameter; media as saved).
pub fn render_header(header: &Header, contact: &Contact) -> Result<Header, MissingVariable> {
    Ok(match header {
        Header::Text { parameter } => Header::Text {
            parameter: render_one(parameter, contact)?,
        },
        media => media.clone(),
    })
}

/// Renders a step's buttons for the contact (URL suffixes and coupon codes).
pub fn render_buttons(
    buttons: &[ButtonParameter],
    contact: &Contact,
) -> Result<Vec<ButtonParameter>, MissingVariable> {
    buttons
        .iter()
        .map(|button| {
            Ok(match button {
                ButtonParameter::Url { index, text } => ButtonParameter::Url {
                    index: *index,
                    text: render_one(text, contact)?,
                },
                ButtonParameter::CopyCode { index, coupon_code } => ButtonParameter::CopyCode {
                    index: *index,
                    coupon_code: render_one(coupon_code, contact)?,
                },
                payload @ ButtonParameter::QuickReply { .. } => payload.clone(),
            })
        })
        .collect()
}

fn render_one(raw: &str, contact: &Contact) -> Result<String, MissingVariable> {
    // Parameters were validated when the step was saved.
    Parameter::parse(raw)
        .map_err(|e| MissingVariable(e.to_string()))?
        .render(contact)
}

/// The longest code a copy-code button copies (Meta's limit).
pub const COUPON_CODE_MAX: usize = 15;

/// Checks a step's header and buttons against the approved template's components: a header of
/// the template's format (a text header's one parameter, or its media), and every button that
/// takes a parameter filled, each with the type of the template's button at that index. The
/// error names the component (`action.header`, `action.buttons[i]`).
pub fn check_components(
    template: &TemplateInfo,
    header: Option<&Header>,
    buttons: &[ButtonParameter],
) -> Result<(), DomainError> {
    let name = &template.name;
    if let Some(kind) = template.unsupported.first() {
        return Err(DomainError::unprocessable(
            "action.name",
            format!("template '{name}' has a {kind} component, which Ritmo cannot send"),
        ));
    }
    match (&template.header, header) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(DomainError::unprocessable(
                "action.header",
                format!("template '{name}' has no header"),
            ))
        }
        (Some(t), given) if t.is_text() => match (t.parameters, given) {
            (0, None) | (1.., Some(Header::Text { .. })) => {}
            (0, Some(_)) => {
                return Err(DomainError::unprocessable(
                    "action.header",
                    format!("template '{name}' has a fixed text header; it takes no parameter"),
                ))
            }
            (_, _) => {
                return Err(DomainError::unprocessable(
                    "action.header",
                    format!(
                        "template '{name}' has a text header with a parameter: give \
                         {{\"type\": \"text\", \"parameter\": ...}}"
                    ),
                ))
            }
        },
        (Some(t), given) => match t.media_kind() {
            Some(kind) if given.is_some_and(|h| h.kind() == kind) => {}
            Some(kind) => {
                return Err(DomainError::unprocessable(
                    "action.header",
                    format!(
                        "template '{name}' has {} header: give {{\"type\": \"{kind}\"}} with \
                         a link or a media_id",
                        article(&t.format)
                    ),
                ))
            }
            None => {
                return Err(DomainError::unprocessable(
                    "action.header",
                    format!(
                        "template '{name}' has {} header, which Ritmo cannot send",
                        article(&t.format)
                    ),
                ))
            }
        },
    }
    for (i, button) in buttons.iter().enumerate() {
        let index = button.index();
        let field = format!("action.buttons[{i}]");
        let Some(t) = template.buttons.get(usize::from(index)) else {
            return Err(DomainError::unprocessable(
                field,
                format!("template '{name}' has no button {index}"),
            ));
        };
        if t.step_kind() != Some(button.kind()) {
            return Err(DomainError::unprocessable(
                field,
                format!(
                    "button {index} of template '{name}' is a {} button, not {}",
                    t.kind,
                    button.kind()
                ),
            ));
        }
        if let ButtonParameter::CopyCode { coupon_code, .. } = button {
            if !coupon_code.contains("{{") && coupon_code.chars().count() > COUPON_CODE_MAX {
                return Err(DomainError::unprocessable(
                    format!("{field}.coupon_code"),
                    format!("a coupon code is at most {COUPON_CODE_MAX} characters"),
                ));
            }
        }
        if t.parameters == 0 && !matches!(button, ButtonParameter::QuickReply { .. }) {
            return Err(DomainError::unprocessable(
                field,
                format!(
                    "button {index} of template '{name}' has a fixed URL; it takes no parameter"
                ),
            ));
        }
    }
    for (index, t) in template.buttons.iter().enumerate() {
        if t.parameters == 0 || buttons.iter().any(|b| usize::from(b.index()) == index) {
            continue;
        }
        let Some(kind) = t.step_kind() else {
            return Err(DomainError::unprocessable(
                "action.buttons",
                format!(
                    "button {index} ({}) of template '{name}' needs what Ritmo cannot send",
                    t.kind
                ),
            ));
        };
        let field = match kind {
            "copy_code" => "coupon_code",
            _ => "text",
        };
        return Err(DomainError::unprocessable(
            "action.buttons",
            format!(
                "button {index} ({}) of template '{name}' takes a parameter: give \
                 {{\"type\": \"{kind}\", \"index\": {index}, \"{field}\": ...}}",
                t.kind
            ),
        ));
    }
    Ok(())
}

/// "an IMAGE", "a VIDEO".
fn article(format: &str) -> String {
    let vowel = format
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    format!("{} {format}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ana() -> Contact {
        Contact {
            phone: "+5511987654321".into(),
            name: Some("Ana".into()),
            time_zone: None,
            attributes: BTreeMap::from([("coupon".to_string(), "X1".to_string())]),
        }
    }

    #[test]
    fn placeholders_render_with_text_around_them_and_defaults() {
        let p =
            Parameter::parse("Olá {{contact.name}}, use {{contact.attributes.coupon|BEMVINDO}}!")
                .unwrap();
        assert_eq!(p.render(&ana()).unwrap(), "Olá Ana, use X1!");
        let mut bia = ana();
        bia.attributes.clear();
        assert_eq!(p.render(&bia).unwrap(), "Olá Ana, use BEMVINDO!");
    }

    #[test]
    fn a_missing_variable_without_default_names_the_variable() {
        let p = Parameter::parse("{{contact.attributes.city}}").unwrap();
        assert_eq!(
            p.render(&ana()).unwrap_err(),
            MissingVariable("contact.attributes.city".into())
        );
    }

    #[test]
    fn unknown_variables_and_unclosed_placeholders_are_rejected() {
        assert!(matches!(
            Parameter::parse("{{contact.email}}"),
            Err(ParameterError::UnknownVariable(_))
        ));
        assert_eq!(
            Parameter::parse("{{contact.name"),
            Err(ParameterError::Unclosed)
        );
    }

    fn template(header: Option<(&str, u32)>, buttons: &[(&str, u32)]) -> TemplateInfo {
        use crate::channels::model::{TemplateButton, TemplateCategory, TemplateHeader};
        TemplateInfo {
            name: "promo".into(),
            language: "pt_BR".into(),
            status: "APPROVED".into(),
            category: TemplateCategory::Marketing,
            body_parameters: 0,
            body_parameter_names: vec![],
            unsupported: vec![],
            header: header.map(|(format, parameters)| TemplateHeader {
                format: format.into(),
                parameters,
                parameter_name: None,
            }),
            buttons: buttons
                .iter()
                .map(|(kind, parameters)| TemplateButton {
                    kind: (*kind).into(),
                    text: None,
                    parameters: *parameters,
                })
                .collect(),
        }
    }

    fn field(result: Result<(), DomainError>) -> String {
        match result {
            Err(DomainError::Unprocessable { errors, .. }) => errors[0].field.clone(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn headers_must_match_the_templates_format() {
        let text = Header::Text {
            parameter: "{{contact.name}}".into(),
        };
        let video = Header::Video {
            link: None,
            media_id: Some("1".into()),
        };
        assert!(check_components(&template(None, &[]), None, &[]).is_ok());
        assert_eq!(
            field(check_components(&template(None, &[]), Some(&text), &[])),
            "action.header"
        );
        let fixed = template(Some(("TEXT", 0)), &[]);
        assert!(check_components(&fixed, None, &[]).is_ok());
        assert_eq!(
            field(check_components(&fixed, Some(&text), &[])),
            "action.header"
        );
        let with_parameter = template(Some(("TEXT", 1)), &[]);
        assert!(check_components(&with_parameter, Some(&text), &[]).is_ok());
        assert_eq!(
            field(check_components(&with_parameter, None, &[])),
            "action.header"
        );
        let image = template(Some(("IMAGE", 0)), &[]);
        assert_eq!(
            field(check_components(&image, Some(&video), &[])),
            "action.header"
        );
        assert!(check_components(&template(Some(("VIDEO", 0)), &[]), Some(&video), &[]).is_ok());
        let location = check_components(&template(Some(("LOCATION", 0)), &[]), Some(&video), &[]);
        assert!(
            format!("{location:?}").contains("cannot send"),
            "{location:?}"
        );
    }

    #[test]
    fn buttons_that_take_a_parameter_must_be_filled_with_their_own_type() {
        let t = template(
            None,
            &[("COPY_CODE", 1), ("URL", 1), ("QUICK_REPLY", 0), ("URL", 0)],
        );
        let code = ButtonParameter::CopyCode {
            index: 0,
            coupon_code: "X1".into(),
        };
        let url = ButtonParameter::Url {
            index: 1,
            text: "42".into(),
        };
        assert!(check_components(&t, None, &[code.clone(), url.clone()]).is_ok());
        let payload = ButtonParameter::QuickReply {
            index: 2,
            payload: "PARAR".into(),
        };
        assert!(check_components(&t, None, &[code.clone(), url.clone(), payload]).is_ok());
        assert_eq!(
            field(check_components(&t, None, std::slice::from_ref(&code))),
            "action.buttons"
        );
        let fixed_url = ButtonParameter::Url {
            index: 3,
            text: "x".into(),
        };
        assert_eq!(
            field(check_components(
                &t,
                None,
                &[code.clone(), url.clone(), fixed_url]
            )),
            "action.buttons[2]"
        );
        let wrong_type = ButtonParameter::Url {
            index: 0,
            text: "x".into(),
        };
        assert_eq!(
            field(check_components(&t, None, &[wrong_type, url.clone()])),
            "action.buttons[0]"
        );
        let long = ButtonParameter::CopyCode {
            index: 0,
            coupon_code: "BLACKFRIDAY-2026-50OFF".into(),
        };
        assert_eq!(
            field(check_components(&t, None, &[long, url.clone()])),
            "action.buttons[0].coupon_code"
        );
        let mut carousel = template(None, &[]);
        carousel.unsupported = vec!["CAROUSEL".into()];
        assert_eq!(field(check_components(&carousel, None, &[])), "action.name");
        let catalog = template(None, &[("MPM", 1)]);
        let refused = check_components(&catalog, None, &[]);
        assert!(
            format!("{refused:?}").contains("cannot send"),
            "{refused:?}"
        );
        let missing = ButtonParameter::QuickReply {
            index: 7,
            payload: "x".into(),
        };
        assert_eq!(
            field(check_components(&t, None, &[code, url, missing])),
            "action.buttons[2]"
        );
    }

    #[test]
    fn headers_and_buttons_render_per_contact() {
        let header = Header::Text {
            parameter: "Pedido de {{contact.name}}".into(),
        };
        assert_eq!(
            render_header(&header, &ana()).unwrap(),
            Header::Text {
                parameter: "Pedido de Ana".into()
            }
        );
        let buttons = [
            ButtonParameter::Url {
                index: 0,
                text: "o/{{contact.attributes.coupon}}".into(),
            },
            ButtonParameter::CopyCode {
                index: 1,
                coupon_code: "{{contact.attributes.code|BEMVINDO}}".into(),
            },
        ];
        assert_eq!(
            render_buttons(&buttons, &ana()).unwrap(),
            [
                ButtonParameter::Url {
                    index: 0,
                    text: "o/X1".into()
                },
                ButtonParameter::CopyCode {
                    index: 1,
                    coupon_code: "BEMVINDO".into()
                }
            ]
        );
        let mut bia = ana();
        bia.attributes.clear();
        assert_eq!(
            render_buttons(&buttons, &bia).unwrap_err(),
            MissingVariable("contact.attributes.coupon".into())
        );
    }
}
