//! A messenger that sends nothing: it records every accepted request, answers template
//! look-ups from templates registered by hand, and can be told to fail (for tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::channels::model::{Bot, Channel, TemplateInfo};
use crate::common::clock::Clock;
use crate::common::error::PortError;
use crate::delivery::ports::{Messenger, SendError, SendReceipt};

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
    next_message: AtomicU64,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::default(),
            templates: Mutex::default(),
            failures: Mutex::default(),
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
            SendError::from_meta_code(code, format!("injected Meta error {code}"))
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
        body: &serde_json::Value,
    ) -> Result<SendReceipt, SendError> {
        let to = body
            .get("to")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(error) = self.take_failure(&to) {
            return Err(error);
        }
        self.record(Some(channel.id), &to, OutboxKind::Template, body);
        let n = self.next_message.fetch_add(1, Ordering::Relaxed);
        Ok(SendReceipt {
            message_id: format!("wamid.outbox.{n:08}"),
        })
    }

    async fn start_chatbot(&self, bot: &Bot, body: &serde_json::Value) -> Result<(), SendError> {
        let to = body
            .pointer("/contact/phone")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(error) = self.take_failure(&to) {
            return Err(error);
        }
        let channel_id = body
            .get("channel_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        tracing::debug!(bot_id = %bot.id, "chatbot start recorded in the outbox");
        self.record(channel_id, &to, OutboxKind::Chatbot, body);
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
