//! The sequence transitions more than one context takes: reading a sequence or 404, the
//! read-change-conditional-write loop, and pausing with the reason Ritmo itself paused it for.

use std::sync::Arc;

use ulid::Ulid;

use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::store::{Expect, WriteError, WRITE_RETRIES};
use crate::common::tenant::TenantId;
use crate::sequences::model::{Sequence, SequenceStatus};
use crate::sequences::store::SequenceStore;

/// The tenant's sequence, or `NotFound`.
pub async fn load_sequence(
    store: &dyn SequenceStore,
    tenant: &TenantId,
    id: Ulid,
) -> Result<Sequence, DomainError> {
    store
        .get_sequence(tenant, id)
        .await?
        .ok_or(DomainError::NotFound("sequence"))
}

#[derive(Clone)]
pub struct SequenceTransitions {
    clock: Arc<dyn Clock>,
    sequences: Arc<dyn SequenceStore>,
}

impl SequenceTransitions {
    pub fn new(clock: Arc<dyn Clock>, sequences: Arc<dyn SequenceStore>) -> Self {
        Self { clock, sequences }
    }

    /// Reads, changes and conditionally writes the sequence, again on a concurrent change.
    pub async fn mutate<T>(
        &self,
        tenant: &TenantId,
        id: Ulid,
        mut change: impl FnMut(&mut Sequence) -> Result<T, DomainError>,
    ) -> Result<(Sequence, T), DomainError> {
        for _ in 0..WRITE_RETRIES {
            let mut sequence = load_sequence(&*self.sequences, tenant, id).await?;
            let expect = Expect::Version(sequence.version);
            let out = change(&mut sequence)?;
            sequence.version += 1;
            sequence.updated_at = self.clock.now();
            match self.sequences.put_sequence(&sequence, expect).await {
                Ok(()) => return Ok((sequence, out)),
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Port(e)) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict(
            "the sequence is being changed concurrently; try again".into(),
        ))
    }

    /// Pauses; `reason` says why Ritmo itself paused it (a template or account error).
    pub async fn pause_with_reason(
        &self,
        tenant: &TenantId,
        id: Ulid,
        reason: Option<String>,
    ) -> Result<Sequence, DomainError> {
        let (sequence, ()) = self
            .mutate(tenant, id, |s| match s.status {
                SequenceStatus::Active => {
                    s.status = SequenceStatus::Paused;
                    s.status_reason = reason.clone();
                    Ok(())
                }
                SequenceStatus::Paused => Ok(()),
                SequenceStatus::Draft => Err(DomainError::Conflict(
                    "a draft sequence cannot be paused".into(),
                )),
                SequenceStatus::Archived => Err(archived()),
            })
            .await?;
        if let Some(reason) = &reason {
            tracing::warn!(tenant = %tenant, sequence_id = %id, reason = %reason, "sequence paused by Ritmo");
        }
        Ok(sequence)
    }
}

pub(crate) fn archived() -> DomainError {
    DomainError::Conflict("the sequence is archived".into())
}

pub(crate) fn write_error(error: WriteError) -> DomainError {
    match error {
        WriteError::Conflict => {
            DomainError::Conflict("the item changed concurrently; try again".into())
        }
        WriteError::Port(e) => e.into(),
    }
}
