//! Storage ports, one small trait per capability. Every method takes the tenant, and every
//! adapter keys items under it, so one tenant can never read or change another's data.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::channel::{Bot, Channel};
use crate::enrollment::{Enrollment, EnrollmentStatus};
use crate::error::PortError;
use crate::page::{Page, PageRequest};
use crate::sequence::Sequence;
use crate::tenant::TenantId;

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

/// Why a conditional write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The item changed since it was read (or exists when it must not): read again.
    #[error("the item changed concurrently")]
    Conflict,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No item (or, for enrollments, none that is active) is there.
    Absent,
    /// The item is at this version.
    Version(u64),
}

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

/// The sender's claim on one step of one enrollment run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepClaim {
    pub enrollment_id: Ulid,
    pub step_id: Ulid,
    pub generation: u32,
    pub at: DateTime<Utc>,
}

/// The outcome of a claim: only one caller ever gets `Claimed` for a scheduled step.
#[derive(Debug)]
pub enum ClaimOutcome {
    Claimed(Box<Enrollment>),
    /// Already claimed, or no longer active / on that step / at that generation.
    NotClaimable,
}

#[async_trait]
pub trait EnrollmentStore: Send + Sync + 'static {
    async fn get_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
    ) -> Result<Option<Enrollment>, PortError>;
    /// Writes the enrollment if the stored one matches `expect` (`Absent`: none, or one that is
    /// not active); the caller bumps `version`.
    async fn put_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
    ) -> Result<(), WriteError>;
    /// Atomically moves a `Scheduled` step to `Sending`, only if the run is active, on that
    /// step, at that generation and not yet claimed; returns the enrollment as written.
    async fn claim_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        claim: &StepClaim,
    ) -> Result<ClaimOutcome, PortError>;
    /// Enrollments of a sequence, by phone, optionally only those with `status`.
    async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<Enrollment>, PortError>;
}
