//! Links as the admin API reads and writes them, and the validation that turns a request into a
//! typed [`Link`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{
    Hours, Link, LinkKind, Member, Preview, Rotator, Slug, SlugError, WhatsAppTarget, WhenClosed,
    MAX_MEMBERS,
};
use crate::calendar::{Window, WindowSpec};
use crate::common::error::DomainError;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;
use crate::common::validate::Problems;

pub const MAX_TEXT_CHARS: usize = 1000;
pub const MAX_MESSAGE_CHARS: usize = 500;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_WEIGHT: u32 = 100;
pub const MAX_STICKY_DAYS: u32 = 365;
pub const DEFAULT_STICKY_DAYS: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    Whatsapp,
    Rotator,
}

/// The body of `POST /v1/links` and `PUT /v1/links/{slug}`. On `PUT`, `slug` and `type` may be
/// left out; if given they must be the link's own.
///
/// Its documented shapes are [`NewLink`] (`POST`) and [`LinkReplacement`] (`PUT`): a field
/// unknown to both link types is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// `[a-z0-9][a-z0-9-]{1,62}`, unique across tenants; `v1`, `webhooks`, `health`, `console` and `_dev`
    /// are reserved. Required on `POST`; on `PUT` it may be left out, or must be the link's own.
    pub slug: Option<String>,
    /// Required on `POST`; on `PUT` it may be left out, or must be the link's own.
    #[serde(rename = "type")]
    pub kind: Option<LinkType>,
    /// `whatsapp` links: the attendant's international number (`+` and country code).
    pub phone: Option<String>,
    /// `whatsapp` links: the message the chat opens with (at most 1000 characters).
    pub text: Option<String>,
    /// `rotator` links: 1 to 50 `whatsapp` links of the same tenant, in rotation order.
    pub members: Option<Vec<MemberInput>>,
    /// `rotator` links: a returning customer goes to the same member (default `false`).
    pub sticky: Option<bool>,
    /// `rotator` links: how long a customer is remembered, 1 to 365 days (default 30).
    pub sticky_days: Option<u32>,
    /// Opening hours (none: always open).
    pub hours: Option<WindowSpec>,
    /// What a click gets when nothing is open (default: a page).
    pub when_closed: Option<WhenClosed>,
    /// What link-preview crawlers show.
    pub preview: Option<PreviewInput>,
}

/// One attendant of a rotator.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberInput {
    /// The slug of a `whatsapp` link of the same tenant.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9][a-z0-9-]{1,62}$", example = "ana")
    )]
    pub link: String,
    /// Share of the clicks, 1 to 100 (default 1).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub weight: Option<u32>,
    /// A disabled member gets no clicks (default `true`).
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewInput {
    /// At most 200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    )]
    pub title: Option<String>,
    /// At most 500 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub description: Option<String>,
    /// An `https://` URL (empty: none).
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = "^(https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*)?$"
        )
    )]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub link: Slug,
    pub weight: u32,
    pub enabled: bool,
}

/// The fields of one link type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum KindView {
    Whatsapp {
        /// E.164.
        phone: String,
        #[cfg_attr(feature = "openapi", schema(required))]
        text: Option<String>,
    },
    Rotator {
        members: Vec<MemberView>,
        sticky: bool,
        sticky_days: u32,
    },
}

/// A link as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkView {
    pub id: Ulid,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub slug: Slug,
    #[serde(rename = "type")]
    pub kind: LinkType,
    #[serde(flatten)]
    pub fields: KindView,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub hours: Option<WindowSpec>,
    pub when_closed: WhenClosed,
    pub preview: Preview,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Link> for LinkView {
    fn from(link: &Link) -> Self {
        let (kind, fields) = match &link.kind {
            LinkKind::WhatsApp(w) => (
                LinkType::Whatsapp,
                KindView::Whatsapp {
                    phone: w.phone.as_str().to_string(),
                    text: w.text.clone(),
                },
            ),
            LinkKind::Rotator(r) => (
                LinkType::Rotator,
                KindView::Rotator {
                    members: r
                        .members
                        .iter()
                        .map(|m| MemberView {
                            link: m.link.clone(),
                            weight: m.weight,
                            enabled: m.enabled,
                        })
                        .collect(),
                    sticky: r.sticky,
                    sticky_days: r.sticky_days,
                },
            ),
        };
        Self {
            id: link.id,
            slug: link.slug.clone(),
            kind,
            fields,
            hours: link.hours.as_ref().map(Hours::spec),
            when_closed: link.when_closed.clone(),
            preview: link.preview.clone(),
            created_at: link.created_at,
            updated_at: link.updated_at,
        }
    }
}

/// A validated request, before it gets its identity and times.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub slug: Slug,
    pub kind: LinkKind,
    pub hours: Option<Hours>,
    pub when_closed: WhenClosed,
    pub preview: Preview,
}

impl Draft {
    pub fn into_link(
        self,
        id: Ulid,
        tenant: TenantId,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Link {
        Link {
            id,
            tenant,
            slug: self.slug,
            kind: self.kind,
            hours: self.hours,
            when_closed: self.when_closed,
            preview: self.preview,
            created_at,
            updated_at,
        }
    }
}

/// Validates a request. `current` is the link a `PUT` replaces: its slug and type cannot change.
pub(crate) fn check(input: LinkInput, current: Option<&Link>) -> Result<Draft, DomainError> {
    let current_type = current.map(|c| match c.kind {
        LinkKind::WhatsApp(_) => LinkType::Whatsapp,
        LinkKind::Rotator(_) => LinkType::Rotator,
    });
    // A replacement must fit the link as it is: the same slug and type, and only its type's
    // fields. Anything else conflicts with the stored link (409), however well-formed.
    if let (Some(current), Some(current_type)) = (current, current_type) {
        if let Some(slug) = input.slug.as_deref() {
            if slug != current.slug.as_str() {
                return Err(DomainError::Conflict(
                    "a link's slug cannot change; create a new link instead".into(),
                ));
            }
        }
        if input.kind.is_some() && input.kind != Some(current_type) {
            return Err(DomainError::Conflict(
                "a link's type cannot change; create a new link instead".into(),
            ));
        }
        let (foreign, own) = match current_type {
            LinkType::Whatsapp => (
                input.members.is_some() || input.sticky.is_some() || input.sticky_days.is_some(),
                "whatsapp",
            ),
            LinkType::Rotator => (input.phone.is_some() || input.text.is_some(), "rotator"),
        };
        if foreign {
            return Err(DomainError::Conflict(format!(
                "this is a {own} link: it takes only a {own} link's fields, and its type cannot change"
            )));
        }
    }

    let mut p = Problems::new();
    // Well-formed but impossible: a number outside the numbering plan, a member listed twice.
    let mut later = Problems::new();
    let mut reserved = None;
    let slug = match (current, input.slug.as_deref()) {
        (Some(current), _) => Some(current.slug.clone()),
        (None, None) => {
            p.add("slug", "is required");
            None
        }
        (None, Some(raw)) => match Slug::parse(raw) {
            Ok(slug) => Some(slug),
            Err(SlugError::Reserved) => {
                reserved = Some(format!("the slug '{raw}' is reserved"));
                None
            }
            Err(e @ SlugError::Syntax) => {
                p.add("slug", e.to_string());
                None
            }
        },
    };
    let kind = input.kind.or(current_type);
    if kind.is_none() {
        p.add("type", "is required: whatsapp or rotator");
    }

    let kind = match kind {
        Some(LinkType::Whatsapp) => check_whatsapp(&mut p, &mut later, &input),
        Some(LinkType::Rotator) => check_rotator(&mut p, &mut later, &input),
        None => None,
    };

    let hours = input
        .hours
        .as_ref()
        .and_then(|spec| match Window::check(spec) {
            Ok(window) => Some(Hours::new(window)),
            Err(errors) => {
                for (error, impossible) in errors {
                    let problems = if impossible { &mut later } else { &mut p };
                    problems.extend("hours", [error]);
                }
                None
            }
        });

    let when_closed = match input.when_closed {
        None => WhenClosed::default(),
        Some(WhenClosed::Page { message }) => WhenClosed::Page {
            message: p
                .multiline("when_closed.message", Some(&message), MAX_MESSAGE_CHARS)
                .unwrap_or_default(),
        },
        Some(WhenClosed::Redirect { url }) => WhenClosed::Redirect {
            url: p.https_url("when_closed.url", &url),
        },
        Some(WhenClosed::IgnoreHours {}) => WhenClosed::IgnoreHours {},
    };

    let preview = input.preview.unwrap_or_default();
    let preview = Preview {
        title: p.optional_line("preview.title", preview.title.as_deref(), MAX_TITLE_CHARS),
        description: p.multiline(
            "preview.description",
            preview.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        ),
        // An empty URL is no image.
        image_url: preview
            .image_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| p.https_url("preview.image_url", u)),
    };

    p.into_result()?;
    if let Some(reserved) = reserved {
        return Err(DomainError::Conflict(reserved));
    }
    if let Err(errors) = later.into_errors() {
        return Err(DomainError::Unprocessable {
            detail: errors[0].message.clone(),
            errors,
        });
    }
    match (slug, kind) {
        (Some(slug), Some(kind)) => Ok(Draft {
            slug,
            kind,
            hours,
            when_closed,
            preview,
        }),
        // Every path that leaves one out has recorded a problem.
        _ => Err(DomainError::invalid("body", "is not a valid link")),
    }
}

fn check_whatsapp(p: &mut Problems, later: &mut Problems, input: &LinkInput) -> Option<LinkKind> {
    for (given, field) in [
        (input.members.is_some(), "members"),
        (input.sticky.is_some(), "sticky"),
        (input.sticky_days.is_some(), "sticky_days"),
    ] {
        if given {
            p.add(field, "only rotator links have this field");
        }
    }
    let text = p.multiline("text", input.text.as_deref(), MAX_TEXT_CHARS);
    let phone = match input.phone.as_deref() {
        None => {
            p.add("phone", "is required");
            None
        }
        Some(raw) if raw.trim().is_empty() || raw.chars().count() > 32 => {
            p.add("phone", "must be 1 to 32 characters, not only white space");
            None
        }
        Some(raw) => {
            let phone = Phone::parse(raw).ok();
            if phone.is_none() {
                later.add(
                    "phone",
                    "must be a valid international number in E.164 form, such as +5511987654321",
                );
            }
            phone
        }
    };
    Some(LinkKind::WhatsApp(WhatsAppTarget::new(phone?, text)))
}

fn check_rotator(p: &mut Problems, later: &mut Problems, input: &LinkInput) -> Option<LinkKind> {
    for (given, field) in [
        (input.phone.is_some(), "phone"),
        (input.text.is_some(), "text"),
    ] {
        if given {
            p.add(field, "only whatsapp links have this field");
        }
    }
    let sticky = input.sticky.unwrap_or(false);
    let sticky_days = p.range(
        "sticky_days",
        input.sticky_days.unwrap_or(DEFAULT_STICKY_DAYS),
        1,
        MAX_STICKY_DAYS,
    );
    let Some(raw_members) = input.members.as_deref() else {
        p.add("members", "is required: the whatsapp links to rotate among");
        return None;
    };
    if raw_members.is_empty() || raw_members.len() > MAX_MEMBERS {
        p.add(
            "members",
            format!("must list 1 to {MAX_MEMBERS} whatsapp links"),
        );
        return None;
    }
    let mut members = Vec::with_capacity(raw_members.len());
    for (i, m) in raw_members.iter().enumerate() {
        let field = format!("members[{i}]");
        let weight = p.range(
            &format!("{field}.weight"),
            m.weight.unwrap_or(1),
            1,
            MAX_WEIGHT,
        );
        let raw = m.link.as_str();
        if !Slug::is_well_formed(raw) {
            p.add(
                format!("{field}.link"),
                "must be the slug of a whatsapp link",
            );
            continue;
        }
        let link = Slug(raw.into());
        if members.iter().any(|other: &Member| other.link == link) {
            later.add(format!("{field}.link"), "is listed more than once");
            continue;
        }
        members.push(Member {
            link,
            weight,
            enabled: m.enabled.unwrap_or(true),
        });
    }
    if members.len() != raw_members.len() {
        return None;
    }
    Some(LinkKind::Rotator(Rotator::new(
        members,
        sticky,
        sticky_days,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> LinkInput {
        serde_json::from_value(json).unwrap()
    }

    fn fields(error: DomainError) -> Vec<String> {
        match error {
            DomainError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            DomainError::Unprocessable { errors, .. } => {
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_whatsapp_link_needs_a_valid_phone_and_a_short_text() {
        let draft = check(
            input(serde_json::json!({"slug": "ana", "type": "whatsapp", "phone": "+5511987654321", "text": "Olá!\nTudo bem?"})),
            None,
        )
        .unwrap();
        assert_eq!(draft.slug.as_str(), "ana");
        let LinkKind::WhatsApp(target) = draft.kind else {
            panic!()
        };
        assert_eq!(target.text.as_deref(), Some("Olá!\nTudo bem?"));

        let error = check(
            input(serde_json::json!({"slug": "v1", "type": "whatsapp", "phone": "11987654321",
                "text": "x".repeat(1001), "members": [], "preview": {"image_url": "http://x.com/a.png"}})),
            None,
        )
        .unwrap_err();
        assert_eq!(fields(error), ["members", "text", "preview.image_url"]);

        // Well-formed but impossible: a number outside the numbering plan; a reserved slug.
        let error = check(
            input(serde_json::json!({"slug": "ana", "type": "whatsapp", "phone": "+1 000"})),
            None,
        )
        .unwrap_err();
        assert!(matches!(&error, DomainError::Unprocessable { .. }));
        assert_eq!(fields(error), ["phone"]);
        let error = check(
            input(serde_json::json!({"slug": "v1", "type": "whatsapp", "phone": "+5511987654321"})),
            None,
        )
        .unwrap_err();
        assert!(matches!(error, DomainError::Conflict(_)), "{error:?}");
        let error = check(
            input(serde_json::json!({"slug": "ana", "type": "whatsapp", "phone": " "})),
            None,
        )
        .unwrap_err();
        assert!(matches!(&error, DomainError::Invalid(_)));
    }

    #[test]
    fn fields_unknown_to_every_link_type_are_refused() {
        let error = serde_json::from_value::<LinkInput>(serde_json::json!(
            {"slug": "ana", "type": "whatsapp", "phone": "+5511987654321", "colour": "red"}
        ))
        .unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
        // Every kind of `when_closed` refuses fields it does not have, the field-less one too.
        for when_closed in [
            serde_json::json!({"type": "ignore_hours", "message": "x"}),
            serde_json::json!({"type": "page", "url": "https://example.com"}),
        ] {
            let body = serde_json::json!({"slug": "loja", "type": "rotator",
                "members": [{"link": "ana"}], "when_closed": when_closed});
            assert!(
                serde_json::from_value::<LinkInput>(body.clone()).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn a_rotator_checks_members_weights_stickiness_and_when_closed() {
        let error = check(
            input(serde_json::json!({"slug": "mystore", "type": "rotator", "phone": "+5511987654321",
                "members": [{"link": "ana", "weight": 0}, {"link": "Bia"}, {"link": "ana"}, {"link": "cai", "weight": 101}],
                "sticky": true, "sticky_days": 366,
                "when_closed": {"type": "redirect", "url": "http://example.com"},
                "hours": {"time_zone": "Nowhere/City"}})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            fields(error),
            [
                "phone",
                "sticky_days",
                "members[0].weight",
                "members[1].link",
                "members[3].weight",
                "hours.time_zone",
                "when_closed.url"
            ]
        );
        let error = check(
            input(serde_json::json!({"slug": "mystore", "type": "rotator", "members": []})),
            None,
        )
        .unwrap_err();
        assert_eq!(fields(error), ["members"]);
    }

    #[test]
    fn slug_and_type_cannot_change_on_replace() {
        let ana = check(
            input(
                serde_json::json!({"slug": "ana", "type": "whatsapp", "phone": "+5511987654321"}),
            ),
            None,
        )
        .unwrap()
        .into_link(
            Ulid::nil(),
            TenantId::parse("t").unwrap(),
            Utc::now(),
            Utc::now(),
        );
        // Each conflicts with the stored link, however well-formed.
        for body in [
            serde_json::json!({"slug": "anna", "phone": "+5511987654321"}),
            serde_json::json!({"type": "rotator", "members": [{"link": "bia"}]}),
            serde_json::json!({"members": [{"link": "bia"}]}),
            serde_json::json!({"phone": "+5511987654321", "sticky": true}),
        ] {
            let error = check(input(body.clone()), Some(&ana)).unwrap_err();
            assert!(
                matches!(error, DomainError::Conflict(_)),
                "{body}: {error:?}"
            );
        }
        let same = check(
            input(serde_json::json!({"phone": "+5511987654322", "slug": "ana"})),
            Some(&ana),
        )
        .unwrap();
        assert_eq!(same.slug.as_str(), "ana");
    }
}
