//! A messenger that sends nothing: it records every accepted request as the exact Cloud API
//! body the real client would post, answers template look-ups from templates registered by
//! hand, and can be told to fail like Meta would (for tests and the local server).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use ritmo_core::channels::model::{Bot, Channel, TemplateInfo};
use ritmo_core::common::clock::Clock;
use ritmo_core::delivery::ports::{ChatbotStart, Messenger, SendReceipt, TemplateMessage};
use ritmo_core::enrollments::model::SendError;
use ritmo_core::PortError;

use crate::body::{chatbot_body, template_body};
use crate::errors::classify;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    Template,
    Chatbot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub at: DateTime<Utc>,
    pub channel_id: Option<Ulid>,
    pub to: String,
    pub kind: OutboxKind,
    pub request: serde_json::Value,
}

/// An injected failure: the next `times` sends (to `to`, when given) fail with Meta error
/// `code`, or with an ambiguous timeout when `timeout` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxFailure {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub timeout: bool,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

pub struct Outbox {
    clock: Arc<dyn Clock>,
    entries: Mutex<Vec<OutboxEntry>>,
    templates: Mutex<HashMap<Ulid, Vec<TemplateInfo>>>,
    failures: Mutex<Vec<OutboxFailure>>,
    /// The WhatsApp id the outbox answers for a number (digits → digits), as Meta's
    /// `contacts[].wa_id`; without one, the answer carries no `contacts`.
    wa_ids: Mutex<HashMap<String, String>>,
    next_message: AtomicU64,
}

/// The WhatsApp id Meta reports for a number, e.g. the 8-digit id of a Brazilian account
/// registered before the ninth digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxWaId {
    pub phone: String,
    pub wa_id: String,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::default(),
            templates: Mutex::default(),
            failures: Mutex::default(),
            wa_ids: Mutex::default(),
            next_message: AtomicU64::new(1),
        }
    }

    /// Every accepted request, oldest first.
    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.entries.lock().expect("outbox lock").clone()
    }

    /// Registers (or replaces, by name and language) a template of a channel.
    pub fn register_template(&self, channel_id: Ulid, template: TemplateInfo) {
        let mut templates = self.templates.lock().expect("outbox lock");
        let list = templates.entry(channel_id).or_default();
        list.retain(|t| !(t.name == template.name && t.language == template.language));
        list.push(template);
    }

    /// From now on, sends to `phone` answer with this WhatsApp id.
    pub fn set_wa_id(&self, hint: OutboxWaId) {
        self.wa_ids
            .lock()
            .expect("outbox lock")
            .insert(digits(&hint.phone), digits(&hint.wa_id));
    }

    pub fn inject_failure(&self, failure: OutboxFailure) {
        self.failures.lock().expect("outbox lock").push(failure);
    }

    fn take_failure(&self, to: &str) -> Option<SendError> {
        let mut failures = self.failures.lock().expect("outbox lock");
        let index = failures
            .iter()
            .position(|f| f.times > 0 && f.to.as_deref().is_none_or(|t| digits(t) == digits(to)))?;
        let failure = &mut failures[index];
        failure.times -= 1;
        let error = if failure.timeout {
            SendError::Unknown {
                detail: "timed out after the request was sent".into(),
            }
        } else {
            let code = failure.code.unwrap_or(131000);
            classify(code, format!("injected Meta error {code}"))
        };
        if failure.times == 0 {
            failures.remove(index);
        }
        Some(error)
    }

    fn record(
        &self,
        channel_id: Option<Ulid>,
        to: &str,
        kind: OutboxKind,
        body: &serde_json::Value,
    ) {
        self.entries.lock().expect("outbox lock").push(OutboxEntry {
            at: self.clock.now(),
            channel_id,
            to: to.to_string(),
            kind,
            request: body.clone(),
        });
    }
}

fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[async_trait]
impl Messenger for Outbox {
    async fn send_template(
        &self,
        channel: &Channel,
        message: &TemplateMessage,
    ) -> Result<SendReceipt, SendError> {
        let to = message.to.digits().to_string();
        if let Some(error) = self.take_failure(&to) {
            return Err(error);
        }
        self.record(
            Some(channel.id),
            &to,
            OutboxKind::Template,
            &template_body(message),
        );
        let n = self.next_message.fetch_add(1, Ordering::Relaxed);
        let wa_id = self.wa_ids.lock().expect("outbox lock").get(&to).cloned();
        Ok(SendReceipt {
            message_id: format!("wamid.outbox.{n:08}"),
            wa_id,
        })
    }

    async fn start_chatbot(&self, bot: &Bot, start: &ChatbotStart) -> Result<(), SendError> {
        let to = start.contact.phone.clone();
        if let Some(error) = self.take_failure(&to) {
            return Err(error);
        }
        tracing::debug!(bot_id = %bot.id, "chatbot start recorded in the outbox");
        self.record(
            Some(start.channel_id),
            &to,
            OutboxKind::Chatbot,
            &chatbot_body(start),
        );
        Ok(())
    }

    async fn templates(&self, channel: &Channel) -> Result<Vec<TemplateInfo>, PortError> {
        Ok(self
            .templates
            .lock()
            .expect("outbox lock")
            .get(&channel.id)
            .cloned()
            .unwrap_or_default())
    }
}
