//! Channels (with their phone-number-id pointer) and bots.

use super::*;

use ritmo_core::common::secret::Secret;

use crate::secrets::{is_sealed, SealContext};

fn token_context(channel: &Channel) -> SealContext {
    SealContext {
        kind: "channel-access-token",
        tenant: channel.tenant.as_str().to_string(),
        id: channel.id.to_string(),
    }
}

fn bot_context(bot: &Bot) -> SealContext {
    SealContext {
        kind: "bot-secret",
        tenant: bot.tenant.as_str().to_string(),
        id: bot.id.to_string(),
    }
}

impl DynamoStore {
    /// The channel as its item keeps it: the access token sealed, when the store seals.
    async fn sealed_channel(&self, channel: &Channel) -> Result<Channel, PortError> {
        let mut stored = channel.clone();
        if let Some(cipher) = &self.secrets {
            let token = cipher
                .seal(channel.access_token.expose(), &token_context(channel))
                .await?;
            stored.access_token = Secret::new(token);
        }
        Ok(stored)
    }

    /// The channel as read: a sealed access token opened (a plain one, written before sealing,
    /// is kept as it is).
    async fn opened_channel(&self, mut channel: Channel) -> Result<Channel, PortError> {
        if let Some(cipher) = &self.secrets {
            if is_sealed(channel.access_token.expose()) {
                let token = cipher
                    .open(channel.access_token.expose(), &token_context(&channel))
                    .await?;
                channel.access_token = Secret::new(token);
            }
        }
        Ok(channel)
    }

    async fn opened_bot(&self, mut bot: Bot) -> Result<Bot, PortError> {
        if let Some(cipher) = &self.secrets {
            if is_sealed(bot.secret.expose()) {
                let secret = cipher.open(bot.secret.expose(), &bot_context(&bot)).await?;
                bot.secret = Secret::new(secret);
            }
        }
        Ok(bot)
    }

    /// Who owns a phone number id: (tenant, channel id).
    async fn phone_number_owner(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<(TenantId, Ulid)>, PortError> {
        #[derive(serde::Deserialize)]
        struct Pointer {
            tenant: TenantId,
            channel_id: Ulid,
        }
        let pointer: Option<Pointer> = self
            .get(
                keys::phone_number_id(phone_number_id),
                keys::PHONE_NUMBER_ID_SK.into(),
            )
            .await?;
        Ok(pointer.map(|p| (p.tenant, p.channel_id)))
    }

    fn pointer_put(&self, channel: &Channel) -> Result<TransactWriteItem, PortError> {
        let item = HashMap::from([
            (
                PK.to_string(),
                s(keys::phone_number_id(&channel.phone_number_id)),
            ),
            (SK.to_string(), s(keys::PHONE_NUMBER_ID_SK)),
            (KIND.to_string(), s("phone_number_id")),
            ("tenant".to_string(), s(channel.tenant.as_str())),
            ("channel_id".to_string(), s(channel.id.to_string())),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#tenant = :tenant AND #channel = :channel)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#channel", "channel_id")
            .expression_attribute_values(":tenant", s(channel.tenant.as_str()))
            .expression_attribute_values(":channel", s(channel.id.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn pointer_delete(&self, channel: &Channel) -> Result<TransactWriteItem, PortError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::phone_number_id(&channel.phone_number_id),
                keys::PHONE_NUMBER_ID_SK.into(),
            )))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#tenant = :tenant AND #channel = :channel)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#channel", "channel_id")
            .expression_attribute_values(":tenant", s(channel.tenant.as_str()))
            .expression_attribute_values(":channel", s(channel.id.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[async_trait]
impl ChannelStore for DynamoStore {
    /// Writes the channel and its phone-number-id pointer in one transaction, moving the pointer
    /// when the number changed. A number that another channel holds is refused.
    async fn put_channel(&self, channel: &Channel) -> Result<(), PortError> {
        let pk = keys::tenant(&channel.tenant);
        let sk = keys::channel(channel.id);
        let stored = self.sealed_channel(channel).await?;
        for _ in 0..TRANSACTION_RETRIES {
            let current: Option<Channel> = self.get(pk.clone(), sk.clone()).await?;
            // The channel is also on gsi1 under its WhatsApp Business account, for template
            // status webhooks (which name the account, not a number).
            let item = to_item(
                &stored,
                "channel",
                vec![
                    (PK, pk.clone()),
                    (SK, sk.clone()),
                    (GSI1PK, keys::waba(&channel.waba_id)),
                    (
                        GSI1SK,
                        format!(
                            "{}#{}",
                            keys::tenant(&channel.tenant),
                            keys::channel(channel.id)
                        ),
                    ),
                ],
            )?;
            let put = Put::builder().table_name(&self.table).set_item(Some(item));
            let put = match &current {
                None => put
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK),
                Some(old) => put
                    .condition_expression("#number = :number")
                    .expression_attribute_names("#number", "phone_number_id")
                    .expression_attribute_values(":number", s(old.phone_number_id.clone())),
            };
            let mut writes = vec![
                TransactWriteItem::builder()
                    .put(put.build().map_err(build_error)?)
                    .build(),
                self.pointer_put(channel)?,
            ];
            if let Some(old) = current.filter(|o| o.phone_number_id != channel.phone_number_id) {
                writes.push(self.pointer_delete(&old)?);
            }
            if self.transact("channel", writes).await?.committed() {
                return Ok(());
            }
            match self.phone_number_owner(&channel.phone_number_id).await? {
                Some(owner) if owner != (channel.tenant.clone(), channel.id) => {
                    return Err(PortError::new(format!(
                        "phone_number_id {} belongs to another channel",
                        channel.phone_number_id
                    )))
                }
                _ => continue,
            }
        }
        Err(PortError::new("the channel kept changing concurrently"))
    }

    async fn get_channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, PortError> {
        match self.get(keys::tenant(tenant), keys::channel(id)).await? {
            Some(channel) => Ok(Some(self.opened_channel(channel).await?)),
            None => Ok(None),
        }
    }

    async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, PortError> {
        let listed: Page<Channel> = self
            .list(
                Listing {
                    pk: keys::tenant(tenant),
                    prefix: "CH#".into(),
                    on_gsi1: false,
                },
                page,
            )
            .await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for channel in listed.items {
            items.push(self.opened_channel(channel).await?);
        }
        Ok(Page {
            items,
            next_cursor: listed.next_cursor,
        })
    }

    async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        for _ in 0..TRANSACTION_RETRIES {
            let Some(current) = self.get_channel(tenant, id).await? else {
                return Ok(false);
            };
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::tenant(tenant), keys::channel(id))))
                .condition_expression("#number = :number")
                .expression_attribute_names("#number", "phone_number_id")
                .expression_attribute_values(":number", s(current.phone_number_id.clone()))
                .build()
                .map_err(build_error)?;
            let writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.pointer_delete(&current)?,
            ];
            if self.transact("channel", writes).await?.committed() {
                return Ok(true);
            }
        }
        Err(PortError::new("the channel kept changing concurrently"))
    }

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>, PortError> {
        let mut channels = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(keys::waba(waba_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (channels of an account) failed"))?;
            let entries = output.items.unwrap_or_default();
            for item in self
                .indexed_items(entries, "channels of an account")
                .await?
            {
                channels.push(self.opened_channel(from_item(item)?).await?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(channels),
            }
        }
    }

    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Channel>, PortError> {
        let Some((tenant, id)) = self.phone_number_owner(phone_number_id).await? else {
            return Ok(None);
        };
        Ok(self
            .get_channel(&tenant, id)
            .await?
            .filter(|c| c.phone_number_id == phone_number_id))
    }
}

#[async_trait]
impl BotStore for DynamoStore {
    async fn put_bot(&self, bot: &Bot) -> Result<(), PortError> {
        let mut stored = bot.clone();
        if let Some(cipher) = &self.secrets {
            stored.secret = Secret::new(cipher.seal(bot.secret.expose(), &bot_context(bot)).await?);
        }
        self.put(to_item(
            &stored,
            "bot",
            vec![(PK, keys::tenant(&bot.tenant)), (SK, keys::bot(bot.id))],
        )?)
        .await
    }

    async fn get_bot(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Bot>, PortError> {
        match self.get(keys::tenant(tenant), keys::bot(id)).await? {
            Some(bot) => Ok(Some(self.opened_bot(bot).await?)),
            None => Ok(None),
        }
    }

    async fn list_bots(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Bot>, PortError> {
        let listed: Page<Bot> = self
            .list(
                Listing {
                    pk: keys::tenant(tenant),
                    prefix: "BOT#".into(),
                    on_gsi1: false,
                },
                page,
            )
            .await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for bot in listed.items {
            items.push(self.opened_bot(bot).await?);
        }
        Ok(Page {
            items,
            next_cursor: listed.next_cursor,
        })
    }

    async fn delete_bot(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        self.delete(keys::tenant(tenant), keys::bot(id)).await
    }
}
