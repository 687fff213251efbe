//! The in-memory job store and import files.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{paginate, Page, PageRequest};
use crate::common::store::{Expect, WriteError};
use crate::common::tenant::TenantId;
use crate::jobs::import::ImportFiles;
use crate::jobs::model::Job;
use crate::jobs::store::JobStore;

#[derive(Default)]
pub struct MemoryJobStore {
    jobs: RwLock<BTreeMap<(TenantId, Ulid), Job>>,
}

impl MemoryJobStore {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Newest first: the id's complement sorts the latest ULID first.
fn newest_first(id: Ulid) -> String {
    format!("{:032x}", u128::MAX - id.0)
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn put_job(&self, job: &Job, expect: Expect) -> Result<(), WriteError> {
        let mut jobs = self.jobs.write().expect("job store lock");
        let key = (job.tenant.clone(), job.id);
        let current = jobs.get(&key).map(|j| j.version);
        let ok = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !ok {
            return Err(WriteError::Conflict);
        }
        jobs.insert(key, job.clone());
        Ok(())
    }

    async fn get_job(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Job>, PortError> {
        Ok(self
            .jobs
            .read()
            .expect("job store lock")
            .get(&(tenant.clone(), id))
            .cloned())
    }

    async fn list_jobs(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Job>, PortError> {
        let jobs = self.jobs.read().expect("job store lock");
        let mine: Vec<Job> = jobs
            .range((tenant.clone(), Ulid::nil())..=(tenant.clone(), Ulid(u128::MAX)))
            .rev()
            .map(|(_, job)| job.clone())
            .collect();
        Ok(paginate(mine, page, |job| newest_first(job.id)))
    }

    async fn unfinished_jobs(&self, limit: usize) -> Result<Vec<(TenantId, Ulid)>, PortError> {
        Ok(self
            .jobs
            .read()
            .expect("job store lock")
            .values()
            .filter(|job| !job.status.is_finished())
            .take(limit)
            .map(|job| (job.tenant.clone(), job.id))
            .collect())
    }
}

/// Import files in memory (tests; the local server keeps them in a directory).
#[derive(Default)]
pub struct MemoryImportFiles {
    parts: RwLock<BTreeMap<(TenantId, Ulid, u32), Vec<u8>>>,
}

impl MemoryImportFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many parts are kept, of every file.
    pub fn stored_parts(&self) -> usize {
        self.parts.read().expect("import files lock").len()
    }
}

#[async_trait]
impl ImportFiles for MemoryImportFiles {
    async fn put_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<(), PortError> {
        self.parts
            .write()
            .expect("import files lock")
            .insert((tenant.clone(), job_id, index), bytes);
        Ok(())
    }

    async fn get_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
    ) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self
            .parts
            .read()
            .expect("import files lock")
            .get(&(tenant.clone(), job_id, index))
            .cloned())
    }

    async fn delete_file(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        _parts: u32,
    ) -> Result<(), PortError> {
        self.parts
            .write()
            .expect("import files lock")
            .retain(|(t, id, _), _| !(t == tenant && *id == job_id));
        Ok(())
    }
}
