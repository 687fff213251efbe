//! Storage port of sequences (with their steps).

use async_trait::async_trait;
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::sequences::model::Sequence;

#[async_trait]
pub trait SequenceStore: Send + Sync + 'static {
    /// Writes the sequence if the stored one matches `expect`; the caller bumps `version`.
    async fn put_sequence(&self, sequence: &Sequence, expect: Expect) -> Result<(), WriteError>;
    async fn get_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Option<Sequence>, PortError>;
    async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Sequence>, PortError>;
}
