//! The WhatsApp Cloud API over HTTP: template sends, the number's templates, and chatbot starts
//! signed with the bot's secret. Meta's errors are classified into the SPEC's classes
//! (retryable, per-contact, template, account); a timeout after the request went out is
//! `Unknown` and is never resent.

pub mod body;
pub mod dns;
pub mod errors;
pub mod outbox;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use dns::SystemResolver;
use hmac::{Hmac, Mac};
use ritmo_core::channels::model::{
    Bot, Channel, TemplateButton, TemplateCategory, TemplateHeader, TemplateInfo,
};
use ritmo_core::common::net::{forbidden_address, url_host, HostResolver};
use ritmo_core::delivery::ports::{ChatbotStart, Messenger, SendReceipt, TemplateMessage};
use ritmo_core::enrollments::model::SendError;
use ritmo_core::PortError;
use serde::Deserialize;
use sha2::Sha256;

/// The Graph API version used unless configured otherwise.
pub const DEFAULT_GRAPH_VERSION: &str = "v23.0";
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.facebook.com";

#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// `https://graph.facebook.com` (or a stand-in in tests), without a trailing slash.
    pub base_url: String,
    pub version: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Lets bot starts reach private and loopback addresses (a bot stand-in on this machine in
    /// tests). Off in production: bots are posted to on the public internet only.
    pub allow_private_bots: bool,
}

/// A Graph API setting of the environment that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {var} is invalid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: &'static str,
}

impl WhatsAppConfig {
    /// The Graph API the client talks to: `RITMO_GRAPH_BASE_URL` (default
    /// [`DEFAULT_GRAPH_BASE`]) and `RITMO_GRAPH_VERSION` (default [`DEFAULT_GRAPH_VERSION`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        if let Some(base) = set("RITMO_GRAPH_BASE_URL") {
            if !base.starts_with("https://") && !base.starts_with("http://") {
                return Err(ConfigError {
                    var: "RITMO_GRAPH_BASE_URL",
                    reason: "must be an http(s) URL",
                });
            }
            config.base_url = base.trim_end_matches('/').to_string();
        }
        if let Some(version) = set("RITMO_GRAPH_VERSION") {
            config.version = version;
        }
        Ok(config)
    }
}

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_GRAPH_BASE.into(),
            version: DEFAULT_GRAPH_VERSION.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            allow_private_bots: false,
        }
    }
}

/// Resolves a bot's host through the system resolver and keeps only public addresses: a name
/// that resolves (now, whatever it resolved to when it was saved) to this machine, a private
/// network or a metadata address is never connected to.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<std::net::SocketAddr> = SystemResolver
                .resolve(&host)
                .await?
                .into_iter()
                .filter(|ip| !forbidden_address(*ip))
                .map(|ip| std::net::SocketAddr::new(ip, 0))
                .collect();
            if resolved.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(resolved.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct ClientError(#[source] reqwest::Error);

/// The production messenger. One client (connection pool) for every channel; each request
/// carries its channel's own token.
#[derive(Debug, Clone)]
pub struct WhatsApp {
    http: reqwest::Client,
    /// Bots' client: public addresses only, no redirect followed.
    bots: reqwest::Client,
    config: WhatsAppConfig,
}

#[derive(Deserialize)]
struct MetaErrorBody {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    #[serde(default)]
    message: String,
    code: i64,
    #[serde(default)]
    error_data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SendResponse {
    messages: Vec<SentMessage>,
    /// `[{"input": "<to>", "wa_id": "<WhatsApp id>"}]`: the account the number resolved to
    /// (an 8-digit Brazilian id for an account registered before the ninth digit).
    #[serde(default)]
    contacts: Vec<SentContact>,
}

#[derive(Deserialize)]
struct SentContact {
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct TemplatePage {
    #[serde(default)]
    data: Vec<TemplateItem>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct TemplateItem {
    name: String,
    language: String,
    status: String,
    category: String,
    #[serde(default)]
    components: Vec<TemplateComponent>,
}

#[derive(Deserialize)]
struct TemplateComponent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    buttons: Vec<TemplateItemButton>,
}

#[derive(Deserialize)]
struct TemplateItemButton {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

impl TemplateItem {
    fn component(&self, kind: &str) -> Option<&TemplateComponent> {
        self.components
            .iter()
            .find(|c| c.kind.eq_ignore_ascii_case(kind))
    }

    /// Component types a send would have to fill that a step cannot give (a carousel's cards,
    /// a limited-time offer's expiry, ...); those that need nothing at send are left out.
    fn unsupported(&self) -> Vec<String> {
        self.components
            .iter()
            .map(|c| c.kind.to_ascii_uppercase())
            .filter(|kind| !matches!(kind.as_str(), "HEADER" | "BODY" | "FOOTER" | "BUTTONS"))
            .collect()
    }

    /// The header's format and parameter count (a text header's placeholders).
    fn header(&self) -> Option<TemplateHeader> {
        let header = self.component("HEADER")?;
        let format = header.format.clone().unwrap_or_else(|| "TEXT".into());
        let text = header
            .text
            .as_deref()
            .filter(|_| format.eq_ignore_ascii_case("TEXT"))
            .unwrap_or("");
        Some(TemplateHeader {
            format,
            parameters: count_body_parameters(text),
            parameter_name: parameter_names(text).into_iter().next(),
        })
    }

    /// The buttons, each with the parameters a send fills: a URL with a placeholder, a copy
    /// code.
    fn buttons(&self) -> Vec<TemplateButton> {
        let Some(component) = self.component("BUTTONS") else {
            return Vec::new();
        };
        component
            .buttons
            .iter()
            .map(|b| {
                let parameters = match b.kind.to_ascii_uppercase().as_str() {
                    // An authentication template's code button is sent as a URL button.
                    "URL" | "OTP" => b.url.as_deref().map(count_body_parameters).unwrap_or(0),
                    // A multi-product message's button needs its sections at send, which a
                    // step cannot give: counted, so that saving refuses it.
                    "COPY_CODE" | "MPM" => 1,
                    _ => 0,
                };
                TemplateButton {
                    kind: b.kind.to_ascii_uppercase(),
                    text: b.text.clone(),
                    parameters: parameters.min(1),
                }
            })
            .collect()
    }
}

/// Distinct `{{...}}` placeholders of a template body (`{{1}}`, `{{2}}` or named ones).
pub fn count_body_parameters(text: &str) -> u32 {
    placeholders(text).len() as u32
}

/// The names of a text's named placeholders (`{{first_name}}`), in order of first appearance;
/// empty when its placeholders are positional (`{{1}}`).
pub fn parameter_names(text: &str) -> Vec<String> {
    let names = placeholders(text);
    if names.iter().all(|n| n.bytes().all(|b| b.is_ascii_digit())) {
        return Vec::new();
    }
    names.into_iter().map(str::to_string).collect()
}

fn placeholders(text: &str) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        if !name.is_empty() && !seen.contains(&name) {
            seen.push(name);
        }
        rest = &after[close + 2..];
    }
    seen
}

/// `sha256=<hex HMAC-SHA256 of body with key>`, as `X-Ritmo-Signature` and Meta's
/// `X-Hub-Signature-256` carry it.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

impl WhatsApp {
    pub fn new(config: WhatsAppConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("ritmo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError)?;
        let mut bots = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ritmo/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_bots {
            bots = bots.dns_resolver(PublicOnly);
        }
        let bots = bots.build().map_err(ClientError)?;
        let config = WhatsAppConfig {
            base_url: config.base_url.trim_end_matches('/').to_string(),
            ..config
        };
        Ok(Self { http, bots, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.config.base_url, self.config.version)
    }
}

/// A failure before any response: did the request go out?
fn transport_error(error: &reqwest::Error) -> SendError {
    if error.is_connect() || error.is_builder() {
        SendError::Retryable {
            code: None,
            detail: format!("request not delivered: {error}"),
        }
    } else {
        SendError::Unknown {
            detail: format!("no answer after the request was sent: {error}"),
        }
    }
}

/// Meta's error body classified; a 5xx without one is retryable.
fn meta_error(status: reqwest::StatusCode, body: &[u8]) -> SendError {
    match serde_json::from_slice::<MetaErrorBody>(body) {
        Ok(parsed) => {
            let details = parsed
                .error
                .error_data
                .as_ref()
                .and_then(|d| d.get("details"))
                .and_then(|d| d.as_str())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            errors::classify(
                parsed.error.code,
                format!("{}{details}", parsed.error.message),
            )
        }
        Err(_) if status == reqwest::StatusCode::TOO_MANY_REQUESTS => SendError::Throttled {
            code: None,
            detail: format!("HTTP {status}"),
        },
        Err(_) if status.is_server_error() => SendError::Retryable {
            code: None,
            detail: format!("HTTP {status}"),
        },
        Err(_) => SendError::Contact {
            code: i64::from(status.as_u16()),
            detail: format!("HTTP {status} without an error body"),
        },
    }
}

#[async_trait]
impl Messenger for WhatsApp {
    async fn send_template(
        &self,
        channel: &Channel,
        message: &TemplateMessage,
    ) -> Result<SendReceipt, SendError> {
        let body = body::template_body(message);
        let response = self
            .http
            .post(self.url(&format!("{}/messages", channel.phone_number_id)))
            .bearer_auth(channel.access_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| SendError::Unknown {
            detail: format!("answer cut short: {e}"),
        })?;
        if !status.is_success() {
            let error = meta_error(status, &bytes);
            tracing::warn!(channel_id = %channel.id, http_status = status.as_u16(), code = ?error.code(), "WhatsApp refused a message");
            return Err(error);
        }
        let parsed: SendResponse =
            serde_json::from_slice(&bytes).map_err(|e| SendError::Unknown {
                detail: format!("accepted, but the answer is unreadable: {e}"),
            })?;
        let message_id = parsed
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| SendError::Unknown {
                detail: "accepted, but no message id in the answer".into(),
            })?;
        let wa_id = parsed.contacts.into_iter().find_map(|c| c.wa_id);
        Ok(SendReceipt { message_id, wa_id })
    }

    async fn start_chatbot(&self, bot: &Bot, start: &ChatbotStart) -> Result<(), SendError> {
        // A literal address is connected to without resolving: checked here.
        let literal = url_host(&bot.webhook_url).and_then(|h| h.parse::<std::net::IpAddr>().ok());
        if !self.config.allow_private_bots && literal.is_some_and(forbidden_address) {
            return Err(SendError::Account {
                code: 0,
                detail: "the bot's webhook_url points at a private address; it is never called"
                    .into(),
            });
        }
        let bytes =
            serde_json::to_vec(&body::chatbot_body(start)).expect("a JSON value serialises");
        let response = self
            .bots
            .post(&bot.webhook_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                "X-Ritmo-Signature",
                signature(bot.secret.expose().as_bytes(), &bytes),
            )
            .body(bytes)
            .send()
            .await
            .map_err(|e| match transport_error(&e) {
                // A bot start is retried on timeouts too; the payload names the enrollment and
                // step, so a bot can tell a repeat.
                SendError::Unknown { detail } => SendError::Retryable { code: None, detail },
                other => other,
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Retryable {
                code: Some(i64::from(status.as_u16())),
                detail: format!("bot answered HTTP {status}"),
            })
        } else {
            Err(SendError::Contact {
                code: i64::from(status.as_u16()),
                detail: format!("bot refused the start: HTTP {status}"),
            })
        }
    }

    async fn templates(&self, channel: &Channel) -> Result<Vec<TemplateInfo>, PortError> {
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..50 {
            let mut request = self
                .http
                .get(self.url(&format!("{}/message_templates", channel.waba_id)))
                .bearer_auth(channel.access_token.expose())
                .query(&[
                    ("fields", "name,language,status,category,components"),
                    ("limit", "100"),
                ]);
            if let Some(cursor) = &after {
                request = request.query(&[("after", cursor.as_str())]);
            }
            let response = request
                .send()
                .await
                .map_err(|e| PortError::with_source("template look-up failed", e))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| PortError::with_source("template look-up cut short", e))?;
            if !status.is_success() {
                let error = meta_error(status, &bytes);
                return Err(PortError::new(format!(
                    "WhatsApp refused the template look-up: {error}"
                )));
            }
            let page: TemplatePage = serde_json::from_slice(&bytes)
                .map_err(|e| PortError::with_source("unreadable template list", e))?;
            for item in page.data {
                let Some(category) = TemplateCategory::parse(&item.category) else {
                    continue;
                };
                let body = item
                    .component("BODY")
                    .and_then(|c| c.text.as_deref())
                    .unwrap_or("");
                let body_parameters = count_body_parameters(body);
                let body_parameter_names = parameter_names(body);
                let header = item.header();
                let buttons = item.buttons();
                let unsupported = item.unsupported();
                templates.push(TemplateInfo {
                    name: item.name,
                    language: item.language,
                    status: item.status,
                    category,
                    body_parameters,
                    body_parameter_names,
                    header,
                    buttons,
                    unsupported,
                });
            }
            match page.paging {
                Some(Paging {
                    next: Some(_),
                    cursors:
                        Some(Cursors {
                            after: Some(cursor),
                        }),
                }) => after = Some(cursor),
                _ => return Ok(templates),
            }
        }
        Ok(templates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_parameters_are_counted_once_each() {
        assert_eq!(count_body_parameters("Olá {{1}}, use {{2}} até {{1}}"), 2);
        assert_eq!(count_body_parameters("Sem parâmetros"), 0);
        assert_eq!(count_body_parameters("Oi {{first_name}}"), 1);
        assert!(parameter_names("Olá {{1}}, use {{2}}").is_empty());
        assert_eq!(
            parameter_names("Oi {{first_name}}, use {{ coupon }} até {{first_name}}"),
            ["first_name", "coupon"]
        );
    }

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
