//! Sequences, with their steps and windows, under a version condition.

use super::*;

#[async_trait]
impl SequenceStore for DynamoStore {
    async fn put_sequence(&self, sequence: &Sequence, expect: Expect) -> Result<(), WriteError> {
        let item = to_item(
            sequence,
            "sequence",
            vec![
                (PK, keys::tenant(&sequence.tenant)),
                (SK, keys::sequence(sequence.id)),
            ],
        )?;
        self.put_expecting(sequence, item, expect, Absent::NoItem)
            .await
    }

    async fn get_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Option<Sequence>, PortError> {
        self.get(keys::tenant(tenant), keys::sequence(id)).await
    }

    async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Sequence>, PortError> {
        self.list(
            Listing {
                pk: keys::tenant(tenant),
                prefix: "SEQ#".into(),
                on_gsi1: false,
            },
            page,
        )
        .await
    }
}
