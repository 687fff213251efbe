//! Typed configuration of the Lambda functions, read from the environment once at cold start.
//! A missing or invalid variable is an error that names it, so a misconfigured function fails
//! its init instead of its first request.

use std::time::Duration;

use ritmo_core::common::secret::Secret;

use crate::cursor::CursorKey;

/// A configuration variable that is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Where configuration values come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment, with the secrets fetched at cold start in front of it (see
/// [`SECRET_VARIABLES`]).
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        RESOLVED
            .get()
            .and_then(|secrets| secrets.get(name).cloned())
            .or_else(|| std::env::var(name).ok())
    }
}

/// The variables whose value may instead be kept in Secrets Manager: `<VAR>_ARN` names the
/// secret (its `SecretString` is the value), fetched once at cold start
/// (`deployment::resolve_secrets`), so the value is never a Lambda environment variable.
pub const SECRET_VARIABLES: [&str; 4] = [
    "RITMO_CURSOR_KEY",
    "RITMO_STICKY_KEY",
    "RITMO_WHATSAPP_APP_SECRET",
    "RITMO_WHATSAPP_VERIFY_TOKEN",
];

static RESOLVED: std::sync::OnceLock<std::collections::HashMap<String, String>> =
    std::sync::OnceLock::new();

/// Puts the fetched secrets in front of the environment, once per process; answers whether
/// these were installed (`false`: an earlier call's stay).
pub fn install_secrets(secrets: std::collections::HashMap<String, String>) -> bool {
    RESOLVED.set(secrets).is_ok()
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

fn required(source: &impl Source, var: &'static str) -> Result<String, ConfigError> {
    match source.get(var) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
        _ => Err(ConfigError::Missing(var)),
    }
}

pub(crate) fn optional(source: &impl Source, var: &'static str) -> Option<String> {
    source
        .get(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn arn(source: &impl Source, var: &'static str) -> Result<String, ConfigError> {
    let value = required(source, var)?;
    if !value.starts_with("arn:") {
        return Err(ConfigError::Invalid {
            var,
            reason: "must be an ARN (arn:...)".into(),
        });
    }
    Ok(value)
}

/// An ARN of an SQS queue (`arn:<partition>:sqs:...`).
fn queue_arn(source: &impl Source, var: &'static str) -> Result<String, ConfigError> {
    let value = arn(source, var)?;
    if value.split(':').nth(2) != Some("sqs") {
        return Err(ConfigError::Invalid {
            var,
            reason: "must be the ARN of an SQS queue (arn:<partition>:sqs:...)".into(),
        });
    }
    Ok(value)
}

/// The DynamoDB store: `RITMO_TABLE` and `RITMO_CURSOR_KEY` (at least 32 characters; signs
/// pagination cursors).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub table: String,
    pub cursor_key: CursorKey,
}

impl StoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let table = required(source, "RITMO_TABLE")?;
        let key = required(source, "RITMO_CURSOR_KEY")?;
        let cursor_key = CursorKey::new(key.as_bytes()).map_err(|reason| ConfigError::Invalid {
            var: "RITMO_CURSOR_KEY",
            reason: reason.to_string(),
        })?;
        Ok(Self { table, cursor_key })
    }
}

/// The EventBridge Scheduler adapter.
///
/// | variable | meaning |
/// |---|---|
/// | `RITMO_SCHEDULE_GROUP` | the schedule group of this stage |
/// | `RITMO_STEP_QUEUE_ARN` | the SQS queue of step jobs, every schedule's target (the sender consumes it) |
/// | `RITMO_SCHEDULER_ROLE_ARN` | the role EventBridge Scheduler assumes to send to that queue |
/// | `RITMO_SCHEDULER_DLQ_ARN` | the SQS queue that receives the step jobs Scheduler could not deliver |
/// | `RITMO_FLEXIBLE_WINDOW_MINUTES` | optional, 1-1440: a flexible time window; unset or 0 = off |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    pub group: String,
    /// The step queue: each schedule's input becomes one message on it.
    pub step_queue_arn: String,
    pub role_arn: String,
    pub dead_letter_arn: String,
    /// `None`: the schedule fires at its time (`FlexibleTimeWindow` `OFF`).
    pub flexible_window: Option<Duration>,
    /// `RITMO_STEP_QUEUE_URL`, optional: the step queue's URL. When set (and the `sqs` feature
    /// is built in), a step job due within 15 minutes is sent to the queue as a delayed message
    /// instead of becoming a schedule.
    pub step_queue_url: Option<String>,
}

impl SchedulerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let flexible_window = match optional(source, "RITMO_FLEXIBLE_WINDOW_MINUTES") {
            None => None,
            Some(raw) => match raw.parse::<u64>() {
                Ok(0) => None,
                Ok(minutes @ 1..=1440) => Some(Duration::from_secs(minutes * 60)),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "RITMO_FLEXIBLE_WINDOW_MINUTES",
                        reason: "must be a whole number of minutes from 0 (off) to 1440".into(),
                    })
                }
            },
        };
        Ok(Self {
            group: required(source, "RITMO_SCHEDULE_GROUP")?,
            step_queue_arn: queue_arn(source, "RITMO_STEP_QUEUE_ARN")?,
            role_arn: arn(source, "RITMO_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: queue_arn(source, "RITMO_SCHEDULER_DLQ_ARN")?,
            flexible_window,
            step_queue_url: optional(source, "RITMO_STEP_QUEUE_URL")
                .filter(|url| !url.trim().is_empty()),
        })
    }
}

/// The reconciler's waits (see `ritmo_core::delivery::reconcile`).
///
/// | variable | meaning |
/// |---|---|
/// | `RITMO_RECONCILE_GRACE_SECONDS` | optional, 60-86400 (default 600): how overdue a planned step is before it is fired again |
/// | `RITMO_CLAIM_TIMEOUT_SECONDS` | optional, 60-86400 (default 900): how long a claim waits for its outcome before it is recorded `unknown` |
pub fn reconcile_settings(
    source: &impl Source,
) -> Result<ritmo_core::delivery::reconcile::ReconcileSettings, ConfigError> {
    let seconds = |var: &'static str, default: i64| match optional(source, var) {
        None => Ok(default),
        Some(raw) => match raw.parse::<i64>() {
            Ok(value @ 60..=86_400) => Ok(value),
            _ => Err(ConfigError::Invalid {
                var,
                reason: "must be a whole number of seconds from 60 to 86400".into(),
            }),
        },
    };
    Ok(ritmo_core::delivery::reconcile::ReconcileSettings {
        grace: chrono::TimeDelta::seconds(seconds("RITMO_RECONCILE_GRACE_SECONDS", 600)?),
        claim_timeout: chrono::TimeDelta::seconds(seconds("RITMO_CLAIM_TIMEOUT_SECONDS", 900)?),
        // One pass a minute, within the function's timeout: 5 pages of 100 runs per kind.
        page: 100,
        max_pages: 5,
    })
}

/// Names of the JWT claims that carry the tenant and the role: `RITMO_TENANT_CLAIM` (default
/// `tenant`) and `RITMO_ROLE_CLAIM` (default `role`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsConfig {
    pub tenant_claim: String,
    pub role_claim: String,
}

impl ClaimsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            tenant_claim: optional(source, "RITMO_TENANT_CLAIM").unwrap_or_else(|| "tenant".into()),
            role_claim: optional(source, "RITMO_ROLE_CLAIM").unwrap_or_else(|| "role".into()),
        })
    }
}

/// Meta's webhook: `RITMO_WHATSAPP_VERIFY_TOKEN` (the verification handshake) and
/// `RITMO_WHATSAPP_APP_SECRET` (the key of `X-Hub-Signature-256`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub verify_token: Secret,
    pub app_secret: Secret,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            verify_token: Secret::new(required(source, "RITMO_WHATSAPP_VERIFY_TOKEN")?),
            app_secret: Secret::new(required(source, "RITMO_WHATSAPP_APP_SECRET")?),
        })
    }
}

/// Where the redirect is published: `RITMO_PUBLIC_BASE_URL`, an http(s) URL without query or
/// fragment (e.g. `https://go.example.com`; a trailing `/` is dropped), for links' URLs, QR
/// codes and the preview page's `og:url`.
fn public_base_url(source: &impl Source) -> Result<Option<String>, ConfigError> {
    let Some(url) = optional(source, "RITMO_PUBLIC_BASE_URL") else {
        return Ok(None);
    };
    let url = url.trim_end_matches('/').to_string();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or_default();
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(ConfigError::Invalid {
            var: "RITMO_PUBLIC_BASE_URL",
            reason:
                "must be an http(s) URL without query or fragment, such as https://go.example.com"
                    .into(),
        });
    }
    Ok(Some(url))
}

/// The `links-api` function: `RITMO_PUBLIC_BASE_URL` (required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinksApiConfig {
    pub public_base_url: String,
}

impl LinksApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            public_base_url: public_base_url(source)?
                .ok_or(ConfigError::Missing("RITMO_PUBLIC_BASE_URL"))?,
        })
    }
}

/// Shortest `RITMO_STICKY_KEY` accepted.
pub const MIN_STICKY_KEY_LEN: usize = 32;

/// The `redirect` function: `RITMO_STICKY_KEY` (at least 32 characters; signs the sticky
/// assignment cookie) and `RITMO_PUBLIC_BASE_URL` (optional: without it the preview page's
/// `og:url` is the link's path, `/<slug>`).
#[derive(Clone)]
pub struct RedirectConfig {
    pub sticky_key: Secret,
    pub public_base_url: Option<String>,
}

impl RedirectConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let key = required(source, "RITMO_STICKY_KEY")?;
        if key.len() < MIN_STICKY_KEY_LEN {
            return Err(ConfigError::Invalid {
                var: "RITMO_STICKY_KEY",
                reason: format!("must be at least {MIN_STICKY_KEY_LEN} characters long"),
            });
        }
        Ok(Self {
            sticky_key: Secret::new(key),
            public_base_url: public_base_url(source)?,
        })
    }
}

impl std::fmt::Debug for RedirectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectConfig")
            .field("sticky_key", &"***")
            .field("public_base_url", &self.public_base_url)
            .finish()
    }
}

#[cfg(test)]
mod reconcile_tests {
    use super::*;

    #[test]
    fn reconcile_waits_default_and_are_bounded() {
        let none = |_: &str| None;
        let settings = reconcile_settings(&none).unwrap();
        assert_eq!(settings.grace, chrono::TimeDelta::minutes(10));
        assert_eq!(settings.claim_timeout, chrono::TimeDelta::minutes(15));
        let short = |name: &str| (name == "RITMO_CLAIM_TIMEOUT_SECONDS").then(|| "5".to_string());
        assert!(matches!(
            reconcile_settings(&short),
            Err(ConfigError::Invalid {
                var: "RITMO_CLAIM_TIMEOUT_SECONDS",
                ..
            })
        ));
        let set = |name: &str| (name == "RITMO_RECONCILE_GRACE_SECONDS").then(|| "120".to_string());
        assert_eq!(
            reconcile_settings(&set).unwrap().grace,
            chrono::TimeDelta::minutes(2)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const SCHEDULER: &[(&str, &str)] = &[
        ("RITMO_SCHEDULE_GROUP", "ritmo-prod"),
        (
            "RITMO_STEP_QUEUE_ARN",
            "arn:aws:sqs:sa-east-1:123456789012:ritmo-steps",
        ),
        (
            "RITMO_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/ritmo-scheduler",
        ),
        (
            "RITMO_SCHEDULER_DLQ_ARN",
            "arn:aws:sqs:sa-east-1:123456789012:ritmo-dlq",
        ),
    ];

    #[test]
    fn a_missing_variable_is_named() {
        let error = StoreConfig::from_source(&source(&[("RITMO_TABLE", "t")])).unwrap_err();
        assert_eq!(error, ConfigError::Missing("RITMO_CURSOR_KEY"));
        assert_eq!(
            error.to_string(),
            "missing environment variable RITMO_CURSOR_KEY"
        );
        let error = SchedulerConfig::from_source(&source(&SCHEDULER[1..])).unwrap_err();
        assert_eq!(error, ConfigError::Missing("RITMO_SCHEDULE_GROUP"));
    }

    #[test]
    fn a_short_cursor_key_is_refused() {
        let error = StoreConfig::from_source(&source(&[
            ("RITMO_TABLE", "t"),
            ("RITMO_CURSOR_KEY", "short"),
        ]))
        .unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                var: "RITMO_CURSOR_KEY",
                ..
            }
        ));
    }

    #[test]
    fn the_flexible_window_is_off_unless_set() {
        let config = SchedulerConfig::from_source(&source(SCHEDULER)).unwrap();
        assert_eq!(config.flexible_window, None);
        let mut pairs = SCHEDULER.to_vec();
        pairs.push(("RITMO_FLEXIBLE_WINDOW_MINUTES", "15"));
        let config = SchedulerConfig::from_source(&source(&pairs)).unwrap();
        assert_eq!(config.flexible_window, Some(Duration::from_secs(900)));
        pairs.pop();
        pairs.push(("RITMO_FLEXIBLE_WINDOW_MINUTES", "2000"));
        assert!(SchedulerConfig::from_source(&source(&pairs)).is_err());
    }

    #[test]
    fn arns_must_look_like_arns() {
        let mut pairs = SCHEDULER.to_vec();
        pairs[1] = ("RITMO_STEP_QUEUE_ARN", "ritmo-steps");
        assert!(matches!(
            SchedulerConfig::from_source(&source(&pairs)),
            Err(ConfigError::Invalid {
                var: "RITMO_STEP_QUEUE_ARN",
                ..
            })
        ));
    }

    #[test]
    fn the_step_queue_and_the_dead_letter_queue_are_sqs_queues() {
        let config = SchedulerConfig::from_source(&source(SCHEDULER)).unwrap();
        assert_eq!(
            config.step_queue_arn,
            "arn:aws:sqs:sa-east-1:123456789012:ritmo-steps"
        );
        // The sender function itself is no longer a schedule's target.
        let mut pairs = SCHEDULER.to_vec();
        pairs[1] = (
            "RITMO_STEP_QUEUE_ARN",
            "arn:aws:lambda:sa-east-1:123456789012:function:ritmo-sender",
        );
        assert!(matches!(
            SchedulerConfig::from_source(&source(&pairs)),
            Err(ConfigError::Invalid {
                var: "RITMO_STEP_QUEUE_ARN",
                ..
            })
        ));
        let mut pairs = SCHEDULER.to_vec();
        pairs[3] = (
            "RITMO_SCHEDULER_DLQ_ARN",
            "arn:aws:sns:sa-east-1:123456789012:ritmo-dlq",
        );
        assert!(matches!(
            SchedulerConfig::from_source(&source(&pairs)),
            Err(ConfigError::Invalid {
                var: "RITMO_SCHEDULER_DLQ_ARN",
                ..
            })
        ));
    }

    #[test]
    fn claim_names_default_to_tenant_and_role() {
        let config = ClaimsConfig::from_source(&source(&[])).unwrap();
        assert_eq!(config.tenant_claim, "tenant");
        assert_eq!(config.role_claim, "role");
    }

    #[test]
    fn the_sticky_key_is_required_and_long() {
        assert_eq!(
            RedirectConfig::from_source(&source(&[])).unwrap_err(),
            ConfigError::Missing("RITMO_STICKY_KEY")
        );
        assert!(matches!(
            RedirectConfig::from_source(&source(&[("RITMO_STICKY_KEY", "short")])),
            Err(ConfigError::Invalid {
                var: "RITMO_STICKY_KEY",
                ..
            })
        ));
        let key = "k".repeat(32);
        let config = RedirectConfig::from_source(&source(&[("RITMO_STICKY_KEY", &key)])).unwrap();
        assert_eq!(config.sticky_key.expose(), key);
        assert_eq!(config.public_base_url, None);
        assert!(!format!("{config:?}").contains(&key));
    }

    #[test]
    fn the_public_base_url_is_an_http_url_without_query() {
        assert_eq!(
            LinksApiConfig::from_source(&source(&[])).unwrap_err(),
            ConfigError::Missing("RITMO_PUBLIC_BASE_URL")
        );
        let config = LinksApiConfig::from_source(&source(&[(
            "RITMO_PUBLIC_BASE_URL",
            "https://go.example.com/",
        )]))
        .unwrap();
        assert_eq!(config.public_base_url, "https://go.example.com");
        let config = LinksApiConfig::from_source(&source(&[(
            "RITMO_PUBLIC_BASE_URL",
            "http://127.0.0.1:9000/lambda-url/redirect",
        )]))
        .unwrap();
        assert_eq!(
            config.public_base_url,
            "http://127.0.0.1:9000/lambda-url/redirect"
        );
        for bad in [
            "https://",
            "https://go.example.com/?a=1",
            "go.example.com",
            "ftp://x",
        ] {
            assert!(
                LinksApiConfig::from_source(&source(&[("RITMO_PUBLIC_BASE_URL", bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
