//! The in-memory store: the local server's default and the unit tests' backend.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use ulid::Ulid;

use crate::channel::{Bot, Channel};
use crate::error::PortError;
use crate::page::{paginate, Page, PageRequest};
use crate::store::{BotStore, ChannelStore};
use crate::tenant::TenantId;

#[derive(Default)]
struct Tables {
    channels: BTreeMap<(TenantId, Ulid), Channel>,
    bots: BTreeMap<(TenantId, Ulid), Bot>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().expect("memory store lock")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().expect("memory store lock")
    }
}

fn tenant_range<'a, V>(
    map: &'a BTreeMap<(TenantId, Ulid), V>,
    tenant: &TenantId,
) -> impl Iterator<Item = (Ulid, V)> + 'a
where
    V: Clone,
{
    map.range((tenant.clone(), Ulid::nil())..=(tenant.clone(), Ulid::from(u128::MAX)))
        .map(|((_, id), v)| (*id, v.clone()))
}

#[async_trait]
impl ChannelStore for MemoryStore {
    async fn put_channel(&self, channel: &Channel) -> Result<(), PortError> {
        self.write()
            .channels
            .insert((channel.tenant.clone(), channel.id), channel.clone());
        Ok(())
    }

    async fn get_channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, PortError> {
        Ok(self.read().channels.get(&(tenant.clone(), id)).cloned())
    }

    async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, PortError> {
        let tables = self.read();
        Ok(
            paginate(tenant_range(&tables.channels, tenant), page, |(id, _)| {
                id.to_string()
            })
            .map(|(_, c)| c),
        )
    }

    async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        Ok(self
            .write()
            .channels
            .remove(&(tenant.clone(), id))
            .is_some())
    }

    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Channel>, PortError> {
        Ok(self
            .read()
            .channels
            .values()
            .find(|c| c.phone_number_id == phone_number_id)
            .cloned())
    }
}

#[async_trait]
impl BotStore for MemoryStore {
    async fn put_bot(&self, bot: &Bot) -> Result<(), PortError> {
        self.write()
            .bots
            .insert((bot.tenant.clone(), bot.id), bot.clone());
        Ok(())
    }

    async fn get_bot(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Bot>, PortError> {
        Ok(self.read().bots.get(&(tenant.clone(), id)).cloned())
    }

    async fn list_bots(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Bot>, PortError> {
        let tables = self.read();
        Ok(
            paginate(tenant_range(&tables.bots, tenant), page, |(id, _)| {
                id.to_string()
            })
            .map(|(_, b)| b),
        )
    }

    async fn delete_bot(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        Ok(self.write().bots.remove(&(tenant.clone(), id)).is_some())
    }
}
