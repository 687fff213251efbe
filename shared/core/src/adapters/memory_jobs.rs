//! The in-memory job store, and import files in memory or in a directory.

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

/// Import files in a directory, one file per part (the local server: an upload of any size
/// never sits whole in memory).
pub struct DirImportFiles {
    dir: std::path::PathBuf,
}

impl DirImportFiles {
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Result<Self, PortError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| PortError::with_source("could not create the imports directory", e))?;
        Ok(Self { dir })
    }

    fn path(&self, tenant: &TenantId, job_id: Ulid, index: u32) -> std::path::PathBuf {
        self.dir
            .join(format!("{}-{job_id}-{index:06}.part", tenant.as_str()))
    }
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PortError::with_source(what, e))?
        .map_err(|e| PortError::with_source(what, e))
}

#[async_trait]
impl ImportFiles for DirImportFiles {
    async fn put_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<(), PortError> {
        let path = self.path(tenant, job_id, index);
        blocking("could not write an import part", move || {
            std::fs::write(path, bytes)
        })
        .await
    }

    async fn get_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let path = self.path(tenant, job_id, index);
        blocking(
            "could not read an import part",
            move || match std::fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        )
        .await
    }

    async fn delete_file(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        parts: u32,
    ) -> Result<(), PortError> {
        let paths: Vec<_> = (0..parts).map(|i| self.path(tenant, job_id, i)).collect();
        blocking("could not delete an import file", move || {
            for path in paths {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
    }
}
