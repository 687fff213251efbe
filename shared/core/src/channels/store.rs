//! Storage ports of channels and bots. Every method takes the tenant, and every adapter keys
//! items under it, so one tenant can never read or change another's data.

use async_trait::async_trait;
use ulid::Ulid;

use crate::channels::model::{Bot, Channel};
use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::tenant::TenantId;

#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// Creates or replaces the channel.
    async fn put_channel(&self, channel: &Channel) -> Result<(), PortError>;
    async fn get_channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, PortError>;
    async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, PortError>;
    /// Deletes the channel; false when there was none.
    async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError>;
    /// Every channel (of any tenant) of a WhatsApp Business account, for template webhooks.
    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>, PortError>;
    /// The channel (of any tenant) that owns a WhatsApp phone number id, for webhooks.
    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Channel>, PortError>;
}

#[async_trait]
pub trait BotStore: Send + Sync + 'static {
    async fn put_bot(&self, bot: &Bot) -> Result<(), PortError>;
    async fn get_bot(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Bot>, PortError>;
    async fn list_bots(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Bot>, PortError>;
    async fn delete_bot(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError>;
}
