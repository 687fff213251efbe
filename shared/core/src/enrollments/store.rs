//! Storage port of enrollments, with the sender's conditional claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::enrollments::counters::Counts;
use crate::enrollments::model::{
    Enrollment, EnrollmentStatus, HistoryEntry, Pending, StatusUpdate,
};

/// A message id an enrollment write records for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: String,
    pub step_id: Ulid,
}

/// What an enrollment write indexes and counts, in the same atomic write as the enrollment
/// itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexWrites {
    /// Message id → this run and step, so a status without callback data finds its send.
    pub messages: Vec<SentMessage>,
    /// Contact keys ([`crate::common::phone::Phone::contact_key`]) under which an inbound
    /// message finds this run: the phone's, and the WhatsApp id's when Meta reported another.
    pub contacts: Vec<String>,
    /// What the write adds to the sequence's counters ([`Counts::delta`] of the stored
    /// enrollment and this one): added exactly when the enrollment write happens.
    pub counters: Counts,
    /// History entries of this run the write records or changes, each stored as its own item
    /// keyed by run and step (see [`EnrollmentStore::history_entry`]). An entry with a
    /// revision above 0 changes a stored one: the write happens only while that one is still
    /// at the revision before (see [`EnrollmentStore::write_entry`]).
    pub history: Vec<HistoryEntry>,
}

impl IndexWrites {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.contacts.is_empty()
            && self.counters.is_empty()
            && self.history.is_empty()
    }
}

/// One history entry as the store lists it: the phone and run it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEntry {
    pub phone: String,
    pub enrollment_id: Ulid,
    pub entry: HistoryEntry,
}

/// Where a recorded send is: the enrollment run (by its key) and the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRef {
    pub sequence_id: Ulid,
    pub phone: String,
    pub enrollment_id: Ulid,
    pub step_id: Ulid,
}

/// What the store knows of one message id: its send, once recorded, and the statuses that
/// arrived before it was (at most one per status).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageRecord {
    pub send: Option<SendRef>,
    pub held: Vec<StatusUpdate>,
}

/// A sequence the contact has (or had) a run in, as the contact index finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRun {
    pub sequence_id: Ulid,
    /// The phone the enrollment is stored under (its key).
    pub phone: String,
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

/// A run the overdue index holds: where it is and since when it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueRun {
    pub tenant: TenantId,
    pub sequence_id: Ulid,
    pub phone: String,
    pub since: DateTime<Utc>,
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
    /// not active); the caller bumps `version`. It changes no counter: services write through
    /// [`Self::write_enrollment`] with the write's [`Counts::delta`].
    async fn put_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
    ) -> Result<(), WriteError> {
        self.write_enrollment(enrollment, expect, &IndexWrites::default())
            .await
    }
    /// [`Self::put_enrollment`] with the index entries `index`, all in one atomic write: the
    /// entries exist exactly when the enrollment write happened.
    async fn write_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<(), WriteError>;
    /// [`Self::write_enrollment`], answering whether a message id it indexes has statuses held
    /// (posted by Meta before this write recorded the send; the caller applies them). This
    /// default reads each message after the write; a store may learn it within the write.
    async fn write_enrollment_seeing_held(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<bool, WriteError> {
        self.write_enrollment(enrollment, expect, index).await?;
        for message in &index.messages {
            let record = self
                .message(&enrollment.tenant, &message.message_id)
                .await
                .map_err(WriteError::Port)?;
            if record.is_some_and(|r| !r.held.is_empty()) {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// Changes one recorded history entry of `enrollment`'s run without writing the enrollment
    /// (a delivery status that changes nothing else): only while the stored entry is still at
    /// revision `entry.rev - 1` (`WriteError::Conflict` otherwise, or when it is gone), with
    /// `counters` added in the same atomic write.
    async fn write_entry(
        &self,
        enrollment: &Enrollment,
        entry: &HistoryEntry,
        counters: &Counts,
    ) -> Result<(), WriteError>;
    /// The history entry of one step in one run (None: the step has none in that run).
    async fn history_entry(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        enrollment_id: Ulid,
        step_id: Ulid,
    ) -> Result<Option<HistoryEntry>, PortError>;
    /// History entries of a sequence, every run's, ordered by phone then run (then step);
    /// only one phone's when `phone` is given.
    async fn list_history(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RunEntry>, PortError>;
    /// The tenant's message id: its recorded send and its held statuses (None: neither).
    async fn message(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, PortError>;
    /// Keeps a status whose send is not recorded yet, replacing a held one of the same status.
    /// `false` when the send is recorded (meanwhile): the caller applies the status itself.
    async fn hold_status(
        &self,
        tenant: &TenantId,
        message_id: &str,
        status: &StatusUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, PortError>;
    /// The runs indexed under a contact key, one per sequence (the latest run).
    async fn contact_runs(
        &self,
        tenant: &TenantId,
        contact_key: &str,
    ) -> Result<Vec<ContactRun>, PortError>;
    /// Atomically moves a `Scheduled` step to `Sending`, only if the run is active, on that
    /// step, at that generation and not yet claimed; returns the enrollment as written.
    async fn claim_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        claim: &StepClaim,
    ) -> Result<ClaimOutcome, PortError>;
    /// The sequence's counters, as every enrollment write's [`IndexWrites::counters`] left
    /// them: a constant number of reads, whatever the number of enrollments.
    async fn sequence_counters(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<Counts, PortError>;
    /// Enrollments of a sequence, by phone, optionally only those with `status`.
    async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<Enrollment>, PortError>;
    /// Active runs waiting on `pending` since before `before`, earliest first, at most `limit`,
    /// read from the sparse index of [`Enrollment::pending`] (every tenant).
    async fn overdue(
        &self,
        pending: Pending,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OverdueRun>, PortError>;
}
