//! Sequences and their steps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::calendar::{Window, WindowSpec};
use crate::channels::model::TemplateCategory;
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
pub enum Action {
    Template {
        name: String,
        language: String,
        /// Fill the template body's `{{1}}, {{2}}, ...` in order.
        #[serde(default)]
        parameters: Vec<String>,
        /// The template's category when the step was saved (for billing and opt-outs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(read_only))]
        category: Option<TemplateCategory>,
    },
    Chatbot {
        bot_id: Ulid,
    },
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
            .find(|n| n.name == name && n.language == language)
    }

    /// Records a template's latest event, replacing the earlier one for the same template.
    pub fn note_template(&mut self, notice: TemplateNotice) {
        self.template_notices
            .retain(|n| !(n.name == notice.name && n.language == notice.language));
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
    },
    Chatbot {
        bot_id: Ulid,
    },
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
            CheckedAction::Template {
                name,
                language,
                parameters: parameters.clone(),
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
