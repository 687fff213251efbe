//! Channels (WhatsApp Business numbers) and bots: the admin operations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use std::sync::Arc;

use crate::channels::model::{Bot, Channel, TemplateInfo};
use crate::channels::store::{BotStore, ChannelStore};
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::ids::IdGen;
use crate::common::net::{refuse_webhook_url, HostResolver};
use crate::common::page::{Page, PageRequest};
use crate::common::secret::Secret;
use crate::common::tenant::TenantId;
use crate::common::validate::Problems;
use crate::delivery::ports::Messenger;

pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 80;

/// A WhatsApp Business number to send from.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Loja Centro", "phone_number_id": "106540352242922", "waba_id": "102290129340398",
    "display_phone": "+55 11 98765-4321", "access_token": "EAAG...", "messages_per_second": 80
})))]
pub struct ChannelInput {
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
    /// Meta's id of the phone number: 1 to 32 digits, not registered as another channel.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,32}$"))]
    pub phone_number_id: String,
    /// Meta's id of the WhatsApp Business account: 1 to 32 digits.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,32}$"))]
    pub waba_id: String,
    /// The number as people read it (at most 32 characters).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    )]
    pub display_phone: String,
    /// The Graph API token of this number. Write-only: never returned.
    #[cfg_attr(feature = "openapi", schema(write_only, format = Password, min_length = 1, max_length = 2048, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"))]
    pub access_token: String,
    /// Sends per second on this number, 1 to 1000 (default 80).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000, default = 80))]
    pub messages_per_second: Option<u32>,
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "Loja Centro (SP)", "messages_per_second": 20})))]
pub struct ChannelPatch {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,32}$"))]
    pub phone_number_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,32}$"))]
    pub waba_id: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    )]
    pub display_phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(write_only, format = Password, min_length = 1, max_length = 2048, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"))]
    pub access_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub messages_per_second: Option<u32>,
}

/// A channel as the API shows it: the access token is write-only.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VW", "name": "Loja Centro", "phone_number_id": "106540352242922",
    "waba_id": "102290129340398", "display_phone": "+55 11 98765-4321", "messages_per_second": 80,
    "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z"
})))]
pub struct ChannelView {
    pub id: Ulid,
    pub name: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone: String,
    pub messages_per_second: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        Self {
            id: c.id,
            name: c.name,
            phone_number_id: c.phone_number_id,
            waba_id: c.waba_id,
            display_phone: c.display_phone,
            messages_per_second: c.messages_per_second,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A chatbot a step can start: Ritmo posts to its `webhook_url`, signed with `secret`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Triagem", "webhook_url": "https://bot.example.com/ritmo", "secret": "0123456789abcdef0123"
})))]
pub struct BotInput {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub name: String,
    /// An absolute `https://` URL (no white space).
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
        )
    )]
    pub webhook_url: String,
    /// Key of the `X-Ritmo-Signature` HMAC, 16 to 256 characters. Write-only: never returned.
    #[cfg_attr(feature = "openapi", schema(write_only, format = Password, min_length = 16, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"))]
    pub secret: String,
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"webhook_url": "https://bot.example.com/v2/ritmo"})))]
pub struct BotPatch {
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
        schema(
            max_length = 2048,
            pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
        )
    )]
    pub webhook_url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(write_only, format = Password, min_length = 16, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"))]
    pub secret: Option<String>,
}

/// A bot as the API shows it: the signing secret is write-only.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VX", "name": "Triagem", "webhook_url": "https://bot.example.com/ritmo",
    "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z"
})))]
pub struct BotView {
    pub id: Ulid,
    pub name: String,
    pub webhook_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Bot> for BotView {
    fn from(b: Bot) -> Self {
        Self {
            id: b.id,
            name: b.name,
            webhook_url: b.webhook_url,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

struct ChannelFields {
    name: String,
    phone_number_id: String,
    waba_id: String,
    display_phone: String,
    access_token: String,
    messages_per_second: u32,
}

fn check_channel(p: &mut Problems, f: ChannelFields) -> ChannelFields {
    ChannelFields {
        name: p.text("name", &f.name, 1, 120),
        phone_number_id: p.digits("phone_number_id", &f.phone_number_id, 32),
        waba_id: p.digits("waba_id", &f.waba_id, 32),
        display_phone: p.text("display_phone", &f.display_phone, 0, 32),
        access_token: p.text("access_token", &f.access_token, 1, 2048),
        messages_per_second: p.range("messages_per_second", f.messages_per_second, 1, 1000),
    }
}

fn check_bot(
    p: &mut Problems,
    name: &str,
    webhook_url: &str,
    secret: &str,
) -> (String, String, String) {
    (
        p.text("name", name, 1, 120),
        p.https_url("webhook_url", webhook_url),
        p.text("secret", secret, 16, 256),
    )
}

/// Channels (numbers) and bots of a tenant.
#[derive(Clone)]
pub struct ChannelService {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    channels: Arc<dyn ChannelStore>,
    bots: Arc<dyn BotStore>,
    messenger: Arc<dyn Messenger>,
    /// Checks bots' webhook URLs against private addresses (none: any address is allowed).
    resolver: Option<Arc<dyn HostResolver>>,
}

impl ChannelService {
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        channels: Arc<dyn ChannelStore>,
        bots: Arc<dyn BotStore>,
        messenger: Arc<dyn Messenger>,
        resolver: Option<Arc<dyn HostResolver>>,
    ) -> Self {
        Self {
            clock,
            ids,
            channels,
            bots,
            messenger,
            resolver,
        }
    }

    /// A `webhook_url` that points inside (this machine, a private network, metadata) is a 422.
    async fn check_reachable(&self, webhook_url: &str) -> Result<(), DomainError> {
        let Some(resolver) = &self.resolver else {
            return Ok(());
        };
        match refuse_webhook_url(&**resolver, webhook_url).await {
            Some(reason) => Err(DomainError::unprocessable("webhook_url", reason)),
            None => Ok(()),
        }
    }

    pub async fn create_channel(
        &self,
        tenant: &TenantId,
        input: ChannelInput,
    ) -> Result<ChannelView, DomainError> {
        let mut p = Problems::new();
        let f = check_channel(
            &mut p,
            ChannelFields {
                name: input.name,
                phone_number_id: input.phone_number_id,
                waba_id: input.waba_id,
                display_phone: input.display_phone,
                access_token: input.access_token,
                messages_per_second: input
                    .messages_per_second
                    .unwrap_or(DEFAULT_MESSAGES_PER_SECOND),
            },
        );
        p.into_result()?;
        self.ensure_phone_number_free(&f.phone_number_id, None)
            .await?;
        let now = self.clock.now();
        let channel = Channel {
            tenant: tenant.clone(),
            id: self.ids.new_id(),
            name: f.name,
            phone_number_id: f.phone_number_id,
            waba_id: f.waba_id,
            display_phone: f.display_phone,
            access_token: Secret::new(f.access_token),
            messages_per_second: f.messages_per_second,
            created_at: now,
            updated_at: now,
        };
        self.channels.put_channel(&channel).await?;
        tracing::info!(tenant = %tenant, channel_id = %channel.id, "channel created");
        Ok(channel.into())
    }

    async fn ensure_phone_number_free(
        &self,
        phone_number_id: &str,
        except: Option<Ulid>,
    ) -> Result<(), DomainError> {
        match self
            .channels
            .channel_by_phone_number_id(phone_number_id)
            .await?
        {
            Some(existing) if Some(existing.id) != except => Err(DomainError::Conflict(format!(
                "phone_number_id {phone_number_id} is already registered as a channel"
            ))),
            _ => Ok(()),
        }
    }

    pub async fn channel(&self, tenant: &TenantId, id: Ulid) -> Result<Channel, DomainError> {
        self.channels
            .get_channel(tenant, id)
            .await?
            .ok_or(DomainError::NotFound("channel"))
    }

    pub async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<ChannelView>, DomainError> {
        Ok(self
            .channels
            .list_channels(tenant, page)
            .await?
            .map(ChannelView::from))
    }

    pub async fn update_channel(
        &self,
        tenant: &TenantId,
        id: Ulid,
        patch: ChannelPatch,
    ) -> Result<ChannelView, DomainError> {
        let current = self.channel(tenant, id).await?;
        let mut p = Problems::new();
        let f = check_channel(
            &mut p,
            ChannelFields {
                name: patch.name.unwrap_or(current.name.clone()),
                phone_number_id: patch
                    .phone_number_id
                    .unwrap_or(current.phone_number_id.clone()),
                waba_id: patch.waba_id.unwrap_or(current.waba_id.clone()),
                display_phone: patch.display_phone.unwrap_or(current.display_phone.clone()),
                access_token: patch
                    .access_token
                    .unwrap_or(current.access_token.expose().to_string()),
                messages_per_second: patch
                    .messages_per_second
                    .unwrap_or(current.messages_per_second),
            },
        );
        p.into_result()?;
        if f.phone_number_id != current.phone_number_id {
            self.ensure_phone_number_free(&f.phone_number_id, Some(id))
                .await?;
        }
        let channel = Channel {
            name: f.name,
            phone_number_id: f.phone_number_id,
            waba_id: f.waba_id,
            display_phone: f.display_phone,
            access_token: Secret::new(f.access_token),
            messages_per_second: f.messages_per_second,
            updated_at: self.clock.now(),
            ..current
        };
        self.channels.put_channel(&channel).await?;
        Ok(channel.into())
    }

    pub async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<(), DomainError> {
        if self.channels.delete_channel(tenant, id).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound("channel"))
        }
    }

    pub async fn channel_templates(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Vec<TemplateInfo>, DomainError> {
        let channel = self.channel(tenant, id).await?;
        self.messenger.templates(&channel).await.map_err(|e| {
            tracing::warn!(error = %e, channel_id = %channel.id, "template look-up failed");
            DomainError::Unavailable("could not list the templates with WhatsApp; try again".into())
        })
    }

    pub async fn create_bot(
        &self,
        tenant: &TenantId,
        input: BotInput,
    ) -> Result<BotView, DomainError> {
        let mut p = Problems::new();
        let (name, webhook_url, secret) =
            check_bot(&mut p, &input.name, &input.webhook_url, &input.secret);
        p.into_result()?;
        self.check_reachable(&webhook_url).await?;
        let now = self.clock.now();
        let bot = Bot {
            tenant: tenant.clone(),
            id: self.ids.new_id(),
            name,
            webhook_url,
            secret: Secret::new(secret),
            created_at: now,
            updated_at: now,
        };
        self.bots.put_bot(&bot).await?;
        Ok(bot.into())
    }

    pub async fn bot(&self, tenant: &TenantId, id: Ulid) -> Result<Bot, DomainError> {
        self.bots
            .get_bot(tenant, id)
            .await?
            .ok_or(DomainError::NotFound("bot"))
    }

    pub async fn list_bots(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<BotView>, DomainError> {
        Ok(self.bots.list_bots(tenant, page).await?.map(BotView::from))
    }

    pub async fn update_bot(
        &self,
        tenant: &TenantId,
        id: Ulid,
        patch: BotPatch,
    ) -> Result<BotView, DomainError> {
        let current = self.bot(tenant, id).await?;
        let mut p = Problems::new();
        let (name, webhook_url, secret) = check_bot(
            &mut p,
            patch.name.as_deref().unwrap_or(&current.name),
            patch.webhook_url.as_deref().unwrap_or(&current.webhook_url),
            patch.secret.as_deref().unwrap_or(current.secret.expose()),
        );
        p.into_result()?;
        self.check_reachable(&webhook_url).await?;
        let bot = Bot {
            name,
            webhook_url,
            secret: Secret::new(secret),
            updated_at: self.clock.now(),
            ..current
        };
        self.bots.put_bot(&bot).await?;
        Ok(bot.into())
    }

    pub async fn delete_bot(&self, tenant: &TenantId, id: Ulid) -> Result<(), DomainError> {
        if self.bots.delete_bot(tenant, id).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound("bot"))
        }
    }
}
