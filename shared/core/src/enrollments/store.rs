//! Storage port of enrollments, with the sender's conditional claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::enrollments::model::{Enrollment, EnrollmentStatus};

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
