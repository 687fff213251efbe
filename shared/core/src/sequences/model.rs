//! Sequences and their steps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::calendar::{Window, WindowSpec};
use crate::channels::model::{same_language, ParameterNames, TemplateCategory};
use crate::common::error::DomainError;
use crate::common::tenant::TenantId;
use crate::common::validate::Problems;
use crate::sequences::plan::Delay;
use crate::sequences::template::Parameter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SequenceStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

impl SequenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }
}

/// What a step does: send an approved template, or start a chatbot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
// A sequence holds at most a few dozen steps, so a chatbot step's unused bytes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    Template {
        name: String,
        language: String,
        /// Fill the template body's `{{1}}, {{2}}, ...` in order.
        #[serde(default)]
        parameters: Vec<String>,
        /// Fills the template's header, when it has one that takes a parameter or media.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<Header>,
        /// Fills the template's buttons that take a parameter (dynamic URLs, copy codes) and
        /// quick-reply payloads.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<ButtonParameter>,
        /// The template's parameter names when it uses named parameters (saved with the step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(read_only))]
        parameter_names: Option<ParameterNames>,
        /// The template's category when the step was saved (for billing and opt-outs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(read_only))]
        category: Option<TemplateCategory>,
    },
    Chatbot {
        bot_id: Ulid,
    },
}

/// What fills a template's header: the parameter of a text header, or the media of an image,
/// video or document header (a public `https://` link Meta fetches, or the id of media uploaded
/// to the number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Header {
    Text {
        /// The header's `{{1}}`; contact variables are replaced per contact.
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 1,
                max_length = 1024,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "{{contact.name}}"
            )
        )]
        parameter: String,
    },
    Image {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 2048,
                pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
                example = "https://cdn.example.com/promo.jpg"
            )
        )]
        link: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,64}$"))]
        media_id: Option<String>,
    },
    Video {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 2048,
                pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
            )
        )]
        link: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,64}$"))]
        media_id: Option<String>,
    },
    Document {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 2048,
                pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
            )
        )]
        link: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,64}$"))]
        media_id: Option<String>,
        /// The file name WhatsApp shows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 240,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "catalogo.pdf"
            )
        )]
        filename: Option<String>,
    },
}

impl Header {
    /// The step's name for this header type (`text`, `image`, `video`, `document`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Document { .. } => "document",
        }
    }

    /// The media's link and id (both `None` for a text header).
    pub fn media(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::Text { .. } => (None, None),
            Self::Image { link, media_id }
            | Self::Video { link, media_id }
            | Self::Document { link, media_id, .. } => (link.as_deref(), media_id.as_deref()),
        }
    }
}

/// What fills one of a template's buttons, by its position (`index`, from 0, in the order
/// `GET /v1/channels/{id}/templates` lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonParameter {
    /// The suffix a dynamic URL button appends to its URL (its `{{1}}`); contact variables are
    /// replaced per contact.
    Url {
        #[cfg_attr(feature = "openapi", schema(maximum = 9))]
        index: u8,
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 1,
                max_length = 1024,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "{{contact.attributes.order}}"
            )
        )]
        text: String,
    },
    /// The payload a quick-reply button returns in the contact's reply.
    QuickReply {
        #[cfg_attr(feature = "openapi", schema(maximum = 9))]
        index: u8,
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 1,
                max_length = 256,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "PARAR"
            )
        )]
        payload: String,
    },
    /// The code a copy-code button copies; contact variables are replaced per contact.
    CopyCode {
        #[cfg_attr(feature = "openapi", schema(maximum = 9))]
        index: u8,
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 1,
                max_length = 1024,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "{{contact.attributes.coupon|BEMVINDO}}"
            )
        )]
        coupon_code: String,
    },
}

impl ButtonParameter {
    pub fn index(&self) -> u8 {
        match self {
            Self::Url { index, .. }
            | Self::QuickReply { index, .. }
            | Self::CopyCode { index, .. } => *index,
        }
    }

    /// The step's name for this button type (`url`, `quick_reply`, `copy_code`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Url { .. } => "url",
            Self::QuickReply { .. } => "quick_reply",
            Self::CopyCode { .. } => "copy_code",
        }
    }
}

impl Action {
    /// Every text of a template action rendered per contact: body parameters, the text
    /// header's parameter, URL suffixes and coupon codes (quick-reply payloads are sent as
    /// written).
    pub fn contact_texts(&self) -> Vec<&str> {
        let Action::Template {
            parameters,
            header,
            buttons,
            ..
        } = self
        else {
            return Vec::new();
        };
        let mut texts: Vec<&str> = parameters.iter().map(String::as_str).collect();
        if let Some(Header::Text { parameter }) = header {
            texts.push(parameter);
        }
        for button in buttons {
            match button {
                ButtonParameter::Url { text, .. } => texts.push(text),
                ButtonParameter::CopyCode { coupon_code, .. } => texts.push(coupon_code),
                ButtonParameter::QuickReply { .. } => {}
            }
        }
        texts
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: Ulid,
    pub channel_id: Ulid,
    pub action: Action,
    pub delay: Delay,
    #[serde(default)]
    pub window: Option<Window>,
}

/// The latest status event Meta reported for a template one of the sequence's steps uses, when
/// it was not a plain approval: `FLAGGED` (a quality warning; Meta still delivers it), `PAUSED`,
/// `DISABLED`, `REJECTED`, `PENDING_DELETION`, or `APPROVED` / `REINSTATED` after one of those
/// (the template can be sent again; a paused sequence waits for `POST /resume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "promo_nov", "language": "pt_BR", "event": "FLAGGED", "reason": null,
    "at": "2026-11-23T12:00:00Z"
})))]
pub struct TemplateNotice {
    pub name: String,
    pub language: String,
    /// Meta's event, upper case.
    pub event: String,
    /// Meta's reason, when it gave one.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub tenant: TenantId,
    pub id: Ulid,
    pub name: String,
    pub status: SequenceStatus,
    pub status_reason: Option<String>,
    pub time_zone: String,
    pub exit_on_reply: bool,
    pub steps: Vec<Step>,
    /// One notice per template (name, language), the latest event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_notices: Vec<TemplateNotice>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
    /// Every enrollment write of this sequence has kept its statistics' counters (true for a
    /// sequence created since they are kept): its statistics are read from them. A sequence
    /// stored without it has its statistics counted from its enrollments.
    #[serde(default)]
    pub counted: bool,
}

impl Sequence {
    /// The notice of a template, if Meta reported one for it.
    pub fn template_notice(&self, name: &str, language: &str) -> Option<&TemplateNotice> {
        self.template_notices
            .iter()
            .find(|n| n.name == name && same_language(&n.language, language))
    }

    /// Records a template's latest event, replacing the earlier one for the same template.
    pub fn note_template(&mut self, notice: TemplateNotice) {
        self.template_notices
            .retain(|n| !(n.name == notice.name && same_language(&n.language, &notice.language)));
        self.template_notices.push(notice);
    }

    pub fn step(&self, id: Ulid) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn position(&self, id: Ulid) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The step after `previous` (the first when `None`). When `previous` was deleted, the run
    /// goes on with the first step it has not had: the step after the last one in `done`.
    pub fn step_after(&self, previous: Option<Ulid>, done: &[Ulid]) -> Option<&Step> {
        match previous {
            None => self.steps.first(),
            Some(id) => match self.position(id) {
                Some(index) => self.steps.get(index + 1),
                None => {
                    let last_done = self.steps.iter().rposition(|s| done.contains(&s.id));
                    self.steps.get(last_done.map_or(0, |i| i + 1))
                }
            },
        }
    }
}

// ----- API shapes -----

/// A new sequence; it starts as a `draft`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "Boas-vindas", "time_zone": "America/Sao_Paulo", "exit_on_reply": true})))]
pub struct SequenceInput {
    /// 1 to 120 characters, no control characters, not only white space.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub name: String,
    /// IANA time zone (default `America/Sao_Paulo`); a step window without its own zone uses it.
    #[serde(default = "default_zone")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::calendar::TimeZoneName, default = "America/Sao_Paulo", example = "America/Sao_Paulo")
    )]
    pub time_zone: String,
    /// End a contact's enrollment when they reply (default `true`).
    #[serde(default = "yes")]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub exit_on_reply: bool,
}

fn default_zone() -> String {
    "America/Sao_Paulo".into()
}

fn yes() -> bool {
    true
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "Boas-vindas (nov)"})))]
pub struct SequencePatch {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub name: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::calendar::TimeZoneName>, example = "America/Sao_Paulo")
    )]
    pub time_zone: Option<String>,
    pub exit_on_reply: Option<bool>,
}

/// What a step does. A template must exist on the step's channel in that language, be
/// `APPROVED` and take as many body parameters as given.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionInput {
    Template {
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 1,
                max_length = 512,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "promo_nov"
            )
        )]
        name: String,
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 2,
                max_length = 16,
                pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                example = "pt_BR"
            )
        )]
        language: String,
        /// Fill the template body's `{{1}}, {{2}}, ...` in order; `{{contact.name}}`,
        /// `{{contact.attributes.x}}` and `{{contact.x|default}}` are replaced per contact.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(max_items = 50, example = json!(["{{contact.name}}", "{{contact.attributes.coupon|BEMVINDO}}"])))]
        parameters: Vec<String>,
        /// Fills the template's header: `text` with its parameter, or `image`, `video` or
        /// `document` with a `link` or a `media_id` (one of them). Must match the template's
        /// header format.
        #[serde(default)]
        header: Option<Header>,
        /// One per button that takes a parameter (a dynamic URL's suffix, a copy code), and
        /// optionally a quick-reply button's payload; `index` counts the template's buttons from 0.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(max_items = 10))]
        buttons: Vec<ButtonParameter>,
    },
    Chatbot {
        #[cfg_attr(
            feature = "openapi",
            schema(format = "ulid", pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")
        )]
        bot_id: String,
    },
}

/// A step: which channel, what to send, how long after the previous send, and when it may go out.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "channel_id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VW",
    "action": {"type": "template", "name": "promo_nov", "language": "pt_BR",
               "parameters": ["{{contact.name}}", "{{contact.attributes.coupon|BEMVINDO}}"]},
    "delay": {"amount": 2, "unit": "days"},
    "window": {"time_zone": "America/Sao_Paulo", "days": {"mon": [["09:00", "18:00"]]}}
})))]
pub struct StepInput {
    #[cfg_attr(
        feature = "openapi",
        schema(format = "ulid", pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")
    )]
    pub channel_id: String,
    pub action: ActionInput,
    pub delay: Delay,
    /// When the step may go out (none: any time). Its `time_zone` defaults to the sequence's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<WindowSpec>))]
    pub window: Option<serde_json::Value>,
    /// Where to insert (default: at the end; past the end means last).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Int64, maximum = 4294967295_u32))]
    pub position: Option<u32>,
}

/// Where a step moves to (0 is first; past the end means last).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"position": 0})))]
pub struct MoveInput {
    #[cfg_attr(feature = "openapi", schema(format = Int64, maximum = 4294967295_u32))]
    pub position: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    pub id: Ulid,
    pub position: usize,
    pub channel_id: Ulid,
    pub action: Action,
    pub delay: Delay,
    /// When the step may go out; `null` means any time.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<WindowSpec>, required))]
    pub window: Option<Window>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VY", "name": "Boas-vindas", "status": "draft", "status_reason": null,
    "time_zone": "America/Sao_Paulo", "exit_on_reply": true, "steps": [], "template_notices": [],
    "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z"
})))]
pub struct SequenceView {
    pub id: Ulid,
    pub name: String,
    pub status: SequenceStatus,
    /// Why Ritmo itself paused the sequence (e.g. a template error); `null` otherwise.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub status_reason: Option<String>,
    pub time_zone: String,
    pub exit_on_reply: bool,
    pub steps: Vec<StepView>,
    /// What Meta last reported for templates the steps use, when it was not a plain approval
    /// (`FLAGGED`: a warning, nothing paused; `APPROVED` after a pause: it may be resumed).
    pub template_notices: Vec<TemplateNotice>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Sequence> for SequenceView {
    fn from(s: Sequence) -> Self {
        Self {
            id: s.id,
            name: s.name,
            status: s.status,
            status_reason: s.status_reason,
            time_zone: s.time_zone,
            exit_on_reply: s.exit_on_reply,
            steps: s
                .steps
                .into_iter()
                .enumerate()
                .map(|(position, step)| step_view(position, step))
                .collect(),
            template_notices: s.template_notices,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

pub fn step_view(position: usize, step: Step) -> StepView {
    StepView {
        id: step.id,
        position,
        channel_id: step.channel_id,
        action: step.action,
        delay: step.delay,
        window: step.window,
    }
}

// ----- validation -----

pub fn check_time_zone(p: &mut Problems, field: &str, zone: &str) -> String {
    if !crate::calendar::is_time_zone(zone) {
        p.add(field, "is not an IANA time zone (e.g. America/Sao_Paulo)");
    }
    zone.to_string()
}

/// A step input checked on its own (the template check against the channel comes after).
pub struct CheckedStep {
    pub channel_id: Ulid,
    pub action: CheckedAction,
    pub delay: Delay,
    pub window: Option<Window>,
}

pub enum CheckedAction {
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
        header: Option<Header>,
        buttons: Vec<ButtonParameter>,
    },
    Chatbot {
        bot_id: Ulid,
    },
}

/// Checks a rendered-per-contact text: its length (400) and its placeholders (422).
fn check_contact_text(p: &mut Problems, later: &mut Problems, field: &str, raw: &str, max: usize) {
    p.text(field, raw, 1, max);
    if let Err(e) = Parameter::parse(raw) {
        later.add(field, e.to_string());
    }
}

fn check_header(p: &mut Problems, later: &mut Problems, header: &Header) {
    if let Header::Text { parameter } = header {
        check_contact_text(p, later, "action.header.parameter", parameter, 1024);
        return;
    }
    let (link, media_id) = header.media();
    if let Some(link) = link {
        p.https_url("action.header.link", link);
    }
    if let Some(id) = media_id {
        p.digits("action.header.media_id", id, 64);
    }
    if link.is_some() == media_id.is_some() {
        later.add(
            "action.header",
            format!(
                "an {} header takes exactly one of link and media_id",
                header.kind()
            ),
        );
    }
    if let Header::Document {
        filename: Some(name),
        ..
    } = header
    {
        p.optional_line("action.header.filename", Some(name), 240);
    }
}

fn check_buttons(p: &mut Problems, later: &mut Problems, buttons: &[ButtonParameter]) {
    if buttons.len() > 10 {
        p.add("action.buttons", "at most 10 buttons");
    }
    let mut seen = [false; 10];
    for (i, button) in buttons.iter().enumerate() {
        let field = format!("action.buttons[{i}]");
        let index = usize::from(button.index());
        if index > 9 {
            p.add(format!("{field}.index"), "must be between 0 and 9");
        } else if std::mem::replace(&mut seen[index], true) {
            later.add(
                format!("{field}.index"),
                format!("button {index} is given more than once"),
            );
        }
        match button {
            ButtonParameter::Url { text, .. } => {
                check_contact_text(p, later, &format!("{field}.text"), text, 1024)
            }
            ButtonParameter::CopyCode { coupon_code, .. } => {
                check_contact_text(p, later, &format!("{field}.coupon_code"), coupon_code, 1024)
            }
            ButtonParameter::QuickReply { payload, .. } => {
                p.text(&format!("{field}.payload"), payload, 1, 256);
            }
        }
    }
}

/// Malformed input is [`DomainError::Invalid`]; a well-formed window that cannot be (a range
/// that ends before it starts, overlapping ranges, a date given twice) is
/// [`DomainError::Unprocessable`].
pub fn check_step(input: &StepInput, sequence_zone: &str) -> Result<CheckedStep, DomainError> {
    let mut p = Problems::new();
    let mut later = Problems::new();
    let channel_id = Ulid::from_string(&input.channel_id).ok();
    if channel_id.is_none() {
        p.add("channel_id", "is not a channel id");
    }
    let action = match &input.action {
        ActionInput::Template {
            name,
            language,
            parameters,
            header,
            buttons,
        } => {
            let name = p.text("action.name", name, 1, 512);
            let language = p.text("action.language", language, 2, 16);
            if parameters.len() > 50 {
                p.add("action.parameters", "at most 50 parameters");
            }
            for (i, raw) in parameters.iter().enumerate() {
                let field = format!("action.parameters[{i}]");
                if raw.chars().count() > 1024 {
                    p.add(&field, "must be at most 1024 characters");
                } else if let Err(e) = Parameter::parse(raw) {
                    p.add(&field, e.to_string());
                }
            }
            if let Some(header) = header {
                check_header(&mut p, &mut later, header);
            }
            check_buttons(&mut p, &mut later, buttons);
            CheckedAction::Template {
                name,
                language,
                parameters: parameters.clone(),
                header: header.clone(),
                buttons: buttons.clone(),
            }
        }
        ActionInput::Chatbot { bot_id } => match Ulid::from_string(bot_id) {
            Ok(id) => CheckedAction::Chatbot { bot_id: id },
            Err(_) => {
                p.add("action.bot_id", "is not a bot id");
                CheckedAction::Chatbot {
                    bot_id: Ulid::nil(),
                }
            }
        },
    };
    if let Err(errors) = input.delay.validate() {
        p.extend("delay", errors);
    }
    let window = match &input.window {
        None | Some(serde_json::Value::Null) => None,
        Some(raw) => {
            let mut raw = raw.clone();
            if let Some(object) = raw.as_object_mut() {
                object
                    .entry("time_zone")
                    .or_insert_with(|| sequence_zone.into());
            }
            match serde_json::from_value::<WindowSpec>(raw) {
                Ok(spec) => match Window::check(&spec) {
                    Ok(window) => Some(window),
                    Err(errors) => {
                        for (error, impossible) in errors {
                            let problems = if impossible { &mut later } else { &mut p };
                            problems.extend("window", [error]);
                        }
                        None
                    }
                },
                Err(e) => {
                    p.add("window", format!("is not a window: {e}"));
                    None
                }
            }
        }
    };
    p.into_result()?;
    if let Err(errors) = later.into_errors() {
        return Err(DomainError::Unprocessable {
            detail: errors[0].message.clone(),
            errors,
        });
    }
    Ok(CheckedStep {
        channel_id: channel_id.unwrap_or_default(),
        action,
        delay: input.delay,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: serde_json::Value) -> StepInput {
        serde_json::from_value(serde_json::json!({
            "channel_id": Ulid::new().to_string(),
            "action": action,
            "delay": {"amount": 1, "unit": "hours"},
        }))
        .unwrap()
    }

    fn fields(error: DomainError) -> (u16, Vec<String>) {
        match error {
            DomainError::Invalid(errors) => (400, errors.into_iter().map(|e| e.field).collect()),
            DomainError::Unprocessable { errors, .. } => {
                (422, errors.into_iter().map(|e| e.field).collect())
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn header_and_button_inputs_are_checked_field_by_field() {
        let malformed = step(serde_json::json!({
            "type": "template", "name": "promo", "language": "pt_BR",
            "header": {"type": "image", "link": "http://cdn.example.com/a.jpg"},
            "buttons": [{"type": "url", "index": 12, "text": "x"},
                        {"type": "quick_reply", "index": 1, "payload": ""}]}));
        let (status, named) = fields(check_step(&malformed, "UTC").err().unwrap());
        assert_eq!(status, 400);
        assert_eq!(
            named,
            [
                "action.header.link",
                "action.buttons[0].index",
                "action.buttons[1].payload"
            ]
        );

        let impossible = step(serde_json::json!({
            "type": "template", "name": "promo", "language": "pt_BR",
            "header": {"type": "document", "filename": "a.pdf"},
            "buttons": [{"type": "url", "index": 0, "text": "{{contact.email}}"},
                        {"type": "copy_code", "index": 0, "coupon_code": "X"}]}));
        let (status, named) = fields(check_step(&impossible, "UTC").err().unwrap());
        assert_eq!(status, 422);
        assert_eq!(
            named,
            [
                "action.header",
                "action.buttons[0].text",
                "action.buttons[1].index"
            ]
        );

        let fine = step(serde_json::json!({
            "type": "template", "name": "promo", "language": "pt_BR",
            "header": {"type": "document", "media_id": "1013859600285441", "filename": "catálogo.pdf"},
            "buttons": [{"type": "copy_code", "index": 0, "coupon_code": "{{contact.attributes.code|X}}"}]}));
        assert!(check_step(&fine, "UTC").is_ok());
    }

    #[test]
    fn a_saved_template_action_reads_back_with_and_without_components() {
        let old: Action = serde_json::from_value(serde_json::json!({
            "type": "template", "name": "promo", "language": "pt_BR", "parameters": ["a"]}))
        .unwrap();
        assert!(
            matches!(&old, Action::Template { header: None, buttons, .. } if buttons.is_empty())
        );
        assert_eq!(old.contact_texts(), ["a"]);
        let new = Action::Template {
            name: "promo".into(),
            language: "pt_BR".into(),
            parameters: vec!["a".into()],
            header: Some(Header::Text {
                parameter: "b".into(),
            }),
            buttons: vec![
                ButtonParameter::QuickReply {
                    index: 1,
                    payload: "P".into(),
                },
                ButtonParameter::Url {
                    index: 0,
                    text: "c".into(),
                },
            ],
            parameter_names: Some(ParameterNames {
                body: vec!["first_name".into()],
                header: None,
            }),
            category: None,
        };
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), new);
        assert_eq!(new.contact_texts(), ["a", "b", "c"]);
    }
}
