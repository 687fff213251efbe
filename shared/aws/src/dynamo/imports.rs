//! Import files while their jobs run: one item per 256 KiB part, kept at most a week (`ttl`),
//! deleted once the job is finished.

use aws_sdk_dynamodb::primitives::Blob;
use ritmo_core::jobs::import::ImportFiles;

use super::*;

/// How long a part is kept at most (an upload whose job never finished).
const PART_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// The bytes of a part.
const DATA: &str = "data";

#[async_trait]
impl ImportFiles for DynamoStore {
    async fn put_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<(), PortError> {
        let mut item = key(keys::import_file(tenant, job_id), keys::import_part(index));
        item.insert(DATA.into(), AttributeValue::B(Blob::new(bytes)));
        item.insert(KIND.into(), s("import-part"));
        let expires = chrono::Utc::now().timestamp() + PART_TTL_SECONDS;
        item.insert(TTL.into(), AttributeValue::N(expires.to_string()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_error("DynamoDB PutItem (import part) failed"))?;
        Ok(())
    }

    async fn get_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::import_file(tenant, job_id),
                keys::import_part(index),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("DynamoDB GetItem (import part) failed"))?;
        Ok(out
            .item
            .and_then(|mut item| item.remove(DATA))
            .and_then(|data| match data {
                AttributeValue::B(blob) => Some(blob.into_inner()),
                _ => None,
            }))
    }

    async fn delete_file(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        parts: u32,
    ) -> Result<(), PortError> {
        let pk = keys::import_file(tenant, job_id);
        let keys = (0..parts)
            .map(|index| key(pk.clone(), keys::import_part(index)))
            .collect();
        self.batch_delete(keys, "DynamoDB BatchWriteItem (import parts) failed")
            .await
    }
}
