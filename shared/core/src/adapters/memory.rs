//! The in-memory store: the local server's default and the unit tests' backend.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::channels::model::{Bot, Channel};
use crate::channels::store::{BotStore, ChannelStore};
use crate::common::error::PortError;
use crate::common::page::{paginate, Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::enrollments::counters::Counts;
use crate::enrollments::model::StatusUpdate;
use crate::enrollments::model::{Enrollment, EnrollmentStatus, HistoryEntry, Pending, StepState};
use crate::enrollments::store::{
    ClaimOutcome, ContactRun, EnrollmentStore, IndexWrites, MessageRecord, OverdueRun, RunEntry,
    SendRef, StepClaim,
};
use crate::sequences::model::Sequence;
use crate::sequences::store::SequenceStore;

type EnrollmentKey = (TenantId, Ulid, String);

#[derive(Default)]
struct Tables {
    channels: BTreeMap<(TenantId, Ulid), Channel>,
    bots: BTreeMap<(TenantId, Ulid), Bot>,
    sequences: BTreeMap<(TenantId, Ulid), Sequence>,
    enrollments: BTreeMap<EnrollmentKey, Enrollment>,
    /// History entries by enrollment key, run and step.
    history: BTreeMap<(EnrollmentKey, Ulid, Ulid), HistoryEntry>,
    /// Message id → its send and held statuses.
    messages: BTreeMap<(TenantId, String), MessageRecord>,
    /// (contact key, sequence) → the phone the run is stored under.
    contacts: BTreeMap<(TenantId, String, Ulid), String>,
    /// Each sequence's statistics counters.
    counters: BTreeMap<(TenantId, Ulid), Counts>,
    /// The overdue index: what each active run waits on, by time.
    pending: BTreeMap<Pending, std::collections::BTreeSet<(DateTime<Utc>, EnrollmentKey)>>,
}

impl Tables {
    /// Whether `entry` of `enrollment`'s run may be stored: a new one (revision 0) always, a
    /// change only while the stored one is at the revision before.
    fn entry_at(&self, enrollment: &Enrollment, entry: &HistoryEntry) -> bool {
        if entry.rev == 0 {
            return true;
        }
        let key = enrollment_key(
            &enrollment.tenant,
            enrollment.sequence_id,
            enrollment.phone(),
        );
        self.history
            .get(&(key, enrollment.id, entry.step_id))
            .is_some_and(|stored| stored.rev + 1 == entry.rev)
    }

    /// Stores the enrollment under `key`, keeping the overdue index in step.
    fn store_enrollment(&mut self, key: EnrollmentKey, enrollment: Enrollment) {
        if let Some((pending, since)) = self.enrollments.get(&key).and_then(Enrollment::pending) {
            if let Some(index) = self.pending.get_mut(&pending) {
                index.remove(&(since, key.clone()));
            }
        }
        if let Some((pending, since)) = enrollment.pending() {
            self.pending
                .entry(pending)
                .or_default()
                .insert((since, key.clone()));
        }
        self.enrollments.insert(key, enrollment);
    }
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

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>, PortError> {
        Ok(self
            .read()
            .channels
            .values()
            .filter(|c| c.waba_id == waba_id)
            .cloned()
            .collect())
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

#[async_trait]
impl SequenceStore for MemoryStore {
    async fn put_sequence(&self, sequence: &Sequence, expect: Expect) -> Result<(), WriteError> {
        let mut tables = self.write();
        let key = (sequence.tenant.clone(), sequence.id);
        let current = tables.sequences.get(&key).map(|s| s.version);
        let ok = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !ok {
            return Err(WriteError::Conflict);
        }
        tables.sequences.insert(key, sequence.clone());
        Ok(())
    }

    async fn get_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Option<Sequence>, PortError> {
        Ok(self.read().sequences.get(&(tenant.clone(), id)).cloned())
    }

    async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Sequence>, PortError> {
        let tables = self.read();
        Ok(
            paginate(tenant_range(&tables.sequences, tenant), page, |(id, _)| {
                id.to_string()
            })
            .map(|(_, s)| s),
        )
    }
}

fn enrollment_key(tenant: &TenantId, sequence_id: Ulid, phone: &str) -> EnrollmentKey {
    (tenant.clone(), sequence_id, phone.to_string())
}

#[async_trait]
impl EnrollmentStore for MemoryStore {
    async fn get_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
    ) -> Result<Option<Enrollment>, PortError> {
        Ok(self
            .read()
            .enrollments
            .get(&enrollment_key(tenant, sequence_id, phone))
            .cloned())
    }

    async fn write_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<(), WriteError> {
        let mut tables = self.write();
        let key = enrollment_key(
            &enrollment.tenant,
            enrollment.sequence_id,
            enrollment.phone(),
        );
        let current = tables.enrollments.get(&key);
        let ok = match expect {
            Expect::Absent => current.is_none_or(|e| !e.is_active()),
            Expect::Version(v) => current.map(|e| e.version) == Some(v),
        };
        if !ok || !index.history.iter().all(|e| tables.entry_at(enrollment, e)) {
            return Err(WriteError::Conflict);
        }
        for entry in &index.history {
            tables
                .history
                .insert((key.clone(), enrollment.id, entry.step_id), entry.clone());
        }
        let mut stored = enrollment.clone();
        stored.history.clear();
        tables.store_enrollment(key, stored);
        let tenant = &enrollment.tenant;
        if !index.counters.is_empty() {
            tables
                .counters
                .entry((tenant.clone(), enrollment.sequence_id))
                .or_default()
                .merge(&index.counters);
        }
        for message in &index.messages {
            let record = tables
                .messages
                .entry((tenant.clone(), message.message_id.clone()))
                .or_default();
            record.send = Some(SendRef {
                sequence_id: enrollment.sequence_id,
                phone: enrollment.phone().to_string(),
                enrollment_id: enrollment.id,
                step_id: message.step_id,
            });
        }
        for contact in &index.contacts {
            tables.contacts.insert(
                (tenant.clone(), contact.clone(), enrollment.sequence_id),
                enrollment.phone().to_string(),
            );
        }
        Ok(())
    }

    async fn write_entry(
        &self,
        enrollment: &Enrollment,
        entry: &HistoryEntry,
        counters: &Counts,
    ) -> Result<(), WriteError> {
        let mut tables = self.write();
        if entry.rev == 0 || !tables.entry_at(enrollment, entry) {
            return Err(WriteError::Conflict);
        }
        let key = enrollment_key(
            &enrollment.tenant,
            enrollment.sequence_id,
            enrollment.phone(),
        );
        tables
            .history
            .insert((key, enrollment.id, entry.step_id), entry.clone());
        if !counters.is_empty() {
            tables
                .counters
                .entry((enrollment.tenant.clone(), enrollment.sequence_id))
                .or_default()
                .merge(counters);
        }
        Ok(())
    }

    async fn history_entry(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        enrollment_id: Ulid,
        step_id: Ulid,
    ) -> Result<Option<HistoryEntry>, PortError> {
        let key = (
            enrollment_key(tenant, sequence_id, phone),
            enrollment_id,
            step_id,
        );
        Ok(self.read().history.get(&key).cloned())
    }

    async fn list_history(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RunEntry>, PortError> {
        let tables = self.read();
        let from = (
            enrollment_key(tenant, sequence_id, phone.unwrap_or("")),
            Ulid::nil(),
            Ulid::nil(),
        );
        let items = tables
            .history
            .range(from..)
            .take_while(|(((t, s, p), _, _), _)| {
                t == tenant && *s == sequence_id && phone.is_none_or(|wanted| p == wanted)
            })
            .map(|(((_, _, phone), run, _), entry)| RunEntry {
                phone: phone.clone(),
                enrollment_id: *run,
                entry: entry.clone(),
            });
        Ok(paginate(items, page, |run| {
            format!("{}#{}#{}", run.phone, run.enrollment_id, run.entry.step_id)
        }))
    }

    async fn message(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, PortError> {
        Ok(self
            .read()
            .messages
            .get(&(tenant.clone(), message_id.to_string()))
            .cloned())
    }

    async fn hold_status(
        &self,
        tenant: &TenantId,
        message_id: &str,
        status: &StatusUpdate,
        _at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, PortError> {
        let mut tables = self.write();
        let record = tables
            .messages
            .entry((tenant.clone(), message_id.to_string()))
            .or_default();
        if record.send.is_some() {
            return Ok(false);
        }
        record.held.retain(|held| held.status != status.status);
        record.held.push(status.clone());
        Ok(true)
    }

    async fn contact_runs(
        &self,
        tenant: &TenantId,
        contact_key: &str,
    ) -> Result<Vec<ContactRun>, PortError> {
        let tables = self.read();
        let from = (tenant.clone(), contact_key.to_string(), Ulid::nil());
        Ok(tables
            .contacts
            .range(from..)
            .take_while(|((t, key, _), _)| t == tenant && key == contact_key)
            .map(|((_, _, sequence_id), phone)| ContactRun {
                sequence_id: *sequence_id,
                phone: phone.clone(),
            })
            .collect())
    }

    async fn sequence_counters(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<Counts, PortError> {
        Ok(self
            .read()
            .counters
            .get(&(tenant.clone(), sequence_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn claim_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        claim: &StepClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let mut tables = self.write();
        let key = enrollment_key(tenant, sequence_id, phone);
        let Some(mut enrollment) = tables.enrollments.get(&key).cloned() else {
            return Ok(ClaimOutcome::NotClaimable);
        };
        let claimable = enrollment.is_active()
            && enrollment.id == claim.enrollment_id
            && enrollment.next_step_id == Some(claim.step_id)
            && matches!(enrollment.state, StepState::Scheduled { generation, .. } if generation == claim.generation);
        if !claimable {
            return Ok(ClaimOutcome::NotClaimable);
        }
        enrollment.state = StepState::Sending {
            generation: claim.generation,
            since: claim.at,
        };
        enrollment.version += 1;
        enrollment.updated_at = claim.at;
        tables.store_enrollment(key, enrollment.clone());
        Ok(ClaimOutcome::Claimed(Box::new(enrollment)))
    }

    async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<Enrollment>, PortError> {
        let tables = self.read();
        let from = enrollment_key(tenant, sequence_id, "");
        let items = tables
            .enrollments
            .range(from..)
            .take_while(|((t, s, _), _)| t == tenant && *s == sequence_id)
            .map(|(_, e)| e)
            .filter(|e| status.is_none_or(|wanted| e.status == wanted))
            .cloned();
        Ok(paginate(items, page, |e| e.contact.phone.clone()))
    }

    async fn overdue(
        &self,
        pending: Pending,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OverdueRun>, PortError> {
        let tables = self.read();
        let Some(index) = tables.pending.get(&pending) else {
            return Ok(Vec::new());
        };
        Ok(index
            .iter()
            .take_while(|(since, _)| *since < before)
            .take(limit)
            .map(|(since, (tenant, sequence_id, phone))| OverdueRun {
                tenant: tenant.clone(),
                sequence_id: *sequence_id,
                phone: phone.clone(),
                since: *since,
            })
            .collect())
    }
}
