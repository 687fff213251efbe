//! Enrollments: one contact's run through one sequence, and its state machine; what moves it
//! (how a send failed, the statuses Meta reports of a message sent); and the contact an
//! enrollment request names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::channels::model::TemplateCategory;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub phone: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl Contact {
    pub fn tz(&self) -> Option<Tz> {
        self.time_zone.as_deref().and_then(|z| z.parse().ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    Active,
    Completed,
    Removed,
    Exited,
}

impl EnrollmentStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "completed" => Some(Self::Completed),
            "removed" => Some(Self::Removed),
            "exited" => Some(Self::Exited),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Removed => "removed",
            Self::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Replied,
    OptedOut,
    Undeliverable,
    SequenceArchived,
    Failed,
}

impl ExitReason {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "replied" => Some(Self::Replied),
            "opted_out" => Some(Self::OptedOut),
            "undeliverable" => Some(Self::Undeliverable),
            "sequence_archived" => Some(Self::SequenceArchived),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::OptedOut => "opted_out",
            Self::Undeliverable => "undeliverable",
            Self::SequenceArchived => "sequence_archived",
            Self::Failed => "failed",
        }
    }

    /// The exit reason of a per-contact permanent Meta error.
    pub fn for_meta_code(code: i64) -> Self {
        match code {
            131026 => Self::Undeliverable,
            131050 => Self::OptedOut,
            _ => Self::Failed,
        }
    }
}

/// Where the next step of an active enrollment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    /// A one-shot schedule will fire the sender at `fire_at`; `generation` tells schedules of
    /// the same step apart (each re-plan or retry makes a new one).
    Scheduled {
        generation: u32,
        fire_at: DateTime<Utc>,
        /// `fire_at` is a send slot of the step's number, already taken for this generation:
        /// the sender sends in it without taking another.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        slot: bool,
    },
    /// The sender claimed the step and is sending it.
    Sending {
        generation: u32,
        since: DateTime<Utc>,
    },
    /// The sequence is paused: the step waits for resume.
    Held { generation: u32 },
    /// Nothing is pending (the enrollment ended).
    Idle,
}

impl StepState {
    pub fn generation(&self) -> u32 {
        match self {
            Self::Scheduled { generation, .. }
            | Self::Sending { generation, .. }
            | Self::Held { generation } => *generation,
            Self::Idle => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    Failed,
    Skipped,
    /// The request may have reached Meta (a timeout after sending): never resent.
    Unknown,
}

/// Delivery status reported by Meta, in order of progress (`failed` stands apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub step_id: Ulid,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub status: Option<MessageStatus>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub category: Option<TemplateCategory>,
    #[serde(default)]
    pub delivered: bool,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub replied: bool,
    #[serde(default)]
    pub billable: bool,
    /// How many times the entry was changed after it was recorded: a change is stored only
    /// while the stored entry is still at the revision it was read at (see
    /// [`crate::enrollments::store::EnrollmentStore::write_entry`]). Not shown by the API.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rev: u32,
}

fn is_zero(rev: &u32) -> bool {
    *rev == 0
}

impl HistoryEntry {
    pub fn new(step_id: Ulid, at: DateTime<Utc>, outcome: Outcome) -> Self {
        Self {
            step_id,
            at,
            outcome,
            message_id: None,
            status: None,
            error: None,
            error_code: None,
            category: None,
            delivered: false,
            read: false,
            replied: false,
            billable: false,
            rev: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub tenant: TenantId,
    pub sequence_id: Ulid,
    /// This run's id: enrolling again after an end starts a new run with a new id.
    pub id: Ulid,
    pub contact: Contact,
    pub status: EnrollmentStatus,
    pub exit_reason: Option<ExitReason>,
    pub enrolled_at: DateTime<Utc>,
    pub next_step_id: Option<Ulid>,
    pub next_send_at: Option<DateTime<Utc>>,
    pub state: StepState,
    /// Failed tries of the next step so far (retryable errors).
    #[serde(default)]
    pub retries: u32,
    /// The last step sent (or given up on), and when: the next step's delay counts from it.
    pub last_step_id: Option<Ulid>,
    pub last_sent_at: Option<DateTime<Utc>>,
    /// This run's steps so far (sent, failed, skipped or unknown), in order: what the next step
    /// is planned from. Bounded by the sequence's steps; a new run starts empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps_done: Vec<Ulid>,
    /// The last step of this run whose message was sent: a reply counts for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_step_id: Option<Ulid>,
    /// The history entries a read or a change loaded, or a change records. History is stored
    /// one item per entry ([`crate::enrollments::store::EnrollmentStore::list_history`]), never
    /// on the enrollment, so the enrollment stays small however often the contact is enrolled
    /// again. Read from a store an enrollment holds none; a change loads the entry it updates,
    /// and reading one enrollment for display loads them all.
    #[serde(skip)]
    pub history: Vec<HistoryEntry>,
    /// The WhatsApp id (digits) Meta reported for this contact in a send response, when it
    /// differs from the phone (`551187654321` for `+5511987654321`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// What an active run waits on, as the overdue index holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pending {
    /// A step planned for an instant: its schedule fires then.
    Planned,
    /// A step claimed by a sender at an instant: its outcome follows.
    Claimed,
}

impl Enrollment {
    /// A new run of `sequence_id` for `contact`, enrolled at `at`: active, held before its
    /// first step `first_step` until that step is planned, at version 1.
    pub fn started(
        tenant: TenantId,
        sequence_id: Ulid,
        id: Ulid,
        contact: Contact,
        first_step: Ulid,
        at: DateTime<Utc>,
    ) -> Self {
        Enrollment {
            tenant,
            sequence_id,
            id,
            contact,
            status: EnrollmentStatus::Active,
            exit_reason: None,
            enrolled_at: at,
            next_step_id: Some(first_step),
            next_send_at: None,
            state: StepState::Held { generation: 1 },
            retries: 0,
            last_step_id: None,
            last_sent_at: None,
            steps_done: Vec::new(),
            last_message_step_id: None,
            history: Vec::new(),
            wa_id: None,
            version: 1,
            updated_at: at,
        }
    }

    pub fn phone(&self) -> &str {
        &self.contact.phone
    }

    /// What this run waits on and since when: indexed while the run is active and its step is
    /// scheduled or being sent, so that a step left behind (a lost schedule, a sender that
    /// died after its claim) is found by time, not by reading every run.
    pub fn pending(&self) -> Option<(Pending, DateTime<Utc>)> {
        if !self.is_active() {
            return None;
        }
        match self.state {
            StepState::Scheduled { fire_at, .. } => Some((Pending::Planned, fire_at)),
            StepState::Sending { since, .. } => Some((Pending::Claimed, since)),
            StepState::Held { .. } | StepState::Idle => None,
        }
    }

    /// The keys of the contact index this run is found under: its phone's and, when Meta
    /// reported another WhatsApp id, that id's.
    pub fn contact_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let phones = std::iter::once(self.contact.phone.as_str()).chain(self.wa_id.as_deref());
        for raw in phones {
            if let Some(phone) = Phone::from_wa_id(raw) {
                let key = phone.contact_key();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    pub fn is_active(&self) -> bool {
        self.status == EnrollmentStatus::Active
    }

    /// Records a step's outcome in this run: its history entry, the run's steps done and, for a
    /// message sent, the step a reply counts for.
    pub fn record(&mut self, entry: HistoryEntry) {
        if !self.steps_done.contains(&entry.step_id) {
            self.steps_done.push(entry.step_id);
        }
        if entry.outcome == Outcome::Sent {
            self.last_message_step_id = Some(entry.step_id);
        }
        self.history.push(entry);
    }

    /// Ends the run: nothing further is sent.
    pub fn end(&mut self, status: EnrollmentStatus, reason: Option<ExitReason>) {
        self.status = status;
        self.exit_reason = reason;
        self.next_step_id = None;
        self.next_send_at = None;
        self.state = StepState::Idle;
    }
}

// ----- Sends: how one failed, and what Meta reports of a message sent -----

/// How a send failed, in the classes that decide what happens next (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum SendError {
    /// The number is over a throughput limit (Meta's 130429 throughput, 131056 pair rate,
    /// 131048 spam rate limit, 80007/4/613 account or app rate, HTTP 429): not this contact's
    /// doing. Sent again after a jittered backoff, without using the contact's retries.
    #[error("throttled {code:?}: {detail}")]
    Throttled { code: Option<i64>, detail: String },
    /// Server errors, a connection that failed before any response: try again later.
    #[error("retryable error {code:?}: {detail}")]
    Retryable { code: Option<i64>, detail: String },
    /// This contact can never receive it: the enrollment ends.
    #[error("permanent error for this contact {code}: {detail}")]
    Contact { code: i64, detail: String },
    /// Meta limits what this contact may receive for now (131049, the per-user marketing
    /// limit): tried again no sooner than a day later, a few times, then failed.
    #[error("limited for this contact for now {code}: {detail}")]
    ContactLimit { code: i64, detail: String },
    /// The template is broken (paused, missing, wrong parameters): the sequence pauses.
    #[error("template error {code}: {detail}")]
    Template { code: i64, detail: String },
    /// The sending account is blocked or restricted: the sequence pauses.
    #[error("account error {code}: {detail}")]
    Account { code: i64, detail: String },
    /// The request may have reached Meta (a timeout after sending): never resent.
    #[error("outcome unknown: {detail}")]
    Unknown { detail: String },
}

impl SendError {
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Retryable { code, .. } | Self::Throttled { code, .. } => *code,
            Self::Contact { code, .. }
            | Self::ContactLimit { code, .. }
            | Self::Template { code, .. }
            | Self::Account { code, .. } => Some(*code),
            Self::Unknown { .. } => None,
        }
    }
}

/// A message's delivery status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// WhatsApp's message id (`wamid...`).
    pub message_id: String,
    pub status: MessageStatus,
    /// The WhatsApp id of the recipient (digits).
    pub recipient_id: String,
    /// The `biz_opaque_callback_data` of the send, when Meta echoes it (never on `failed`).
    #[serde(default)]
    pub callback_data: Option<String>,
    #[serde(default)]
    pub billable: bool,
    #[serde(default)]
    pub category: Option<PricingCategory>,
    /// Why a `failed` message failed.
    #[serde(default)]
    pub failure: Option<StatusFailure>,
}

/// A failure Meta reported for a message after it was accepted, classified like a send error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusFailure {
    pub code: i64,
    pub detail: String,
    pub class: SendError,
}

/// The category Meta priced a message in (`pricing.category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingCategory {
    /// `marketing` and `marketing_lite`.
    Marketing,
    Utility,
    /// `authentication` and `authentication_international`.
    Authentication,
    /// A customer-service conversation or free entry point: not a template's category.
    Service,
    ReferralConversion,
}

impl PricingCategory {
    /// The template category billed, when the price is a template's.
    pub fn template_category(self) -> Option<TemplateCategory> {
        match self {
            Self::Marketing => Some(TemplateCategory::Marketing),
            Self::Utility => Some(TemplateCategory::Utility),
            Self::Authentication => Some(TemplateCategory::Authentication),
            Self::Service | Self::ReferralConversion => None,
        }
    }
}

// ----- API shapes -----

/// One contact to enroll. An invalid contact is rejected on its own, in its result.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "phone": "+5511987654321", "name": "Ana", "time_zone": "America/Manaus",
    "attributes": {"coupon": "X1"}
})))]
pub struct ContactInput {
    /// An international number (`+` and country code); normalised to E.164.
    #[cfg_attr(feature = "openapi", schema(example = "+5511987654321"))]
    pub phone: String,
    /// At most 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// IANA time zone of the contact, for windows that use it.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Up to 100 values (string, number or boolean) for `{{contact.attributes.<name>}}`; names
    /// are letters, digits, `_` or `-`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, AttributeValue>))]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A contact attribute's value (`null` ones are left out).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
#[allow(dead_code)]
enum AttributeValue {
    String(String),
    Number(f64),
    Boolean(bool),
}
