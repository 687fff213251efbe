//! WhatsApp Business numbers (channels), chatbots, and the templates a number may send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::common::secret::Secret;
use crate::common::tenant::TenantId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub tenant: TenantId,
    pub id: Ulid,
    pub name: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone: String,
    pub access_token: Secret,
    pub messages_per_second: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bot {
    pub tenant: TenantId,
    pub id: Ulid,
    pub name: String,
    pub webhook_url: String,
    pub secret: Secret,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_uppercase().as_str() {
            "MARKETING" => Some(Self::Marketing),
            "UTILITY" => Some(Self::Utility),
            "AUTHENTICATION" => Some(Self::Authentication),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "MARKETING",
            Self::Utility => "UTILITY",
            Self::Authentication => "AUTHENTICATION",
        }
    }
}

/// A message template as the number's WhatsApp Business account knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "promo_nov", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING",
    "body_parameters": 2, "body_parameter_names": [],
    "header": {"format": "IMAGE", "parameters": 0, "parameter_name": null},
    "buttons": [{"type": "URL", "text": "Ver oferta", "parameters": 1}], "unsupported": []
})))]
pub struct TemplateInfo {
    pub name: String,
    pub language: String,
    /// Meta's status: `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, ...
    pub status: String,
    pub category: TemplateCategory,
    pub body_parameters: u32,
    /// The body's parameter names in the order a step gives its `parameters`, when the template
    /// uses named parameters (`{{first_name}}`); empty for positional ones (`{{1}}`).
    #[serde(default)]
    pub body_parameter_names: Vec<String>,
    /// The template's header, when it has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub header: Option<TemplateHeader>,
    /// The template's buttons, in Meta's order (a step's button `index` counts from 0 here).
    #[serde(default)]
    pub buttons: Vec<TemplateButton>,
    /// Components a send would have to fill that steps cannot give (`CAROUSEL`,
    /// `LIMITED_TIME_OFFER`, ...): a step with this template is refused at save.
    #[serde(default)]
    pub unsupported: Vec<String>,
}

/// A template's header as Meta describes it: its `format` and how many parameters a send fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"format": "IMAGE", "parameters": 0, "parameter_name": null})))]
pub struct TemplateHeader {
    /// Meta's format: `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `GIF`, `LOCATION`, ...
    pub format: String,
    /// Parameters a text header takes (0 or 1); a media header takes its media instead.
    #[serde(default)]
    pub parameters: u32,
    /// The name of a text header's named parameter (`{{order}}`); `null` for `{{1}}` or none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub parameter_name: Option<String>,
}

impl TemplateHeader {
    /// The step header type that fills this header, if Ritmo can send it.
    pub fn media_kind(&self) -> Option<&'static str> {
        match self.format.to_ascii_uppercase().as_str() {
            "IMAGE" => Some("image"),
            "VIDEO" => Some("video"),
            "DOCUMENT" => Some("document"),
            _ => None,
        }
    }

    pub fn is_text(&self) -> bool {
        self.format.eq_ignore_ascii_case("TEXT")
    }
}

/// One of a template's buttons: Meta's `type` and how many parameters a send fills (a URL
/// button whose URL ends in `{{1}}` and a copy-code button take 1; the others none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"type": "URL", "text": "Ver oferta", "parameters": 1})))]
pub struct TemplateButton {
    /// Meta's type: `URL`, `QUICK_REPLY`, `COPY_CODE`, `PHONE_NUMBER`, `FLOW`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The button's label, when it has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub text: Option<String>,
    #[serde(default)]
    pub parameters: u32,
}

impl TemplateButton {
    /// The step button type that fills this button (`url`, `quick_reply`, `copy_code`), if any.
    pub fn step_kind(&self) -> Option<&'static str> {
        match self.kind.to_ascii_uppercase().as_str() {
            "URL" | "OTP" => Some("url"),
            "QUICK_REPLY" => Some("quick_reply"),
            "COPY_CODE" => Some("copy_code"),
            _ => None,
        }
    }
}

/// The parameter names of a template that uses named parameters, saved with the step so that
/// a send names each value as Cloud API requires (`parameter_name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParameterNames {
    /// The body's names, one per entry of `parameters`, in order.
    #[serde(default)]
    pub body: Vec<String>,
    /// The text header's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

impl TemplateInfo {
    /// The names a send must give, when the template's body or header uses named parameters.
    pub fn parameter_names(&self) -> Option<ParameterNames> {
        let header = self.header.as_ref().and_then(|h| h.parameter_name.clone());
        (!self.body_parameter_names.is_empty() || header.is_some()).then(|| ParameterNames {
            body: self.body_parameter_names.clone(),
            header,
        })
    }
}

/// Whether two language codes name the same language as Meta spells them (`pt_BR`): case and
/// `-` for `_` aside.
pub fn same_language(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'-' {
                    b'_'
                } else {
                    c.to_ascii_lowercase()
                }
            };
            norm(x) == norm(y)
        })
}

impl TemplateInfo {
    pub fn is_approved(&self) -> bool {
        self.status.eq_ignore_ascii_case("APPROVED")
    }
}
