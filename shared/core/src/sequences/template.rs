//! Template parameters: `{{contact.name}}`, `{{contact.attributes.coupon|BEMVINDO}}` and plain
//! text around them, rendered per contact; and the WhatsApp Cloud API send body.

use crate::enrollments::model::Contact;

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
        .map(|raw| {
            // Parameters were validated when the step was saved.
            Parameter::parse(raw)
                .map_err(|e| MissingVariable(e.to_string()))?
                .render(contact)
        })
        .collect()
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
}
