//! Import files and upload links in a directory (the local server: an upload of any size never
//! sits whole in memory).

use async_trait::async_trait;
use ulid::Ulid;

use ritmo_core::common::error::PortError;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::import::ImportFiles;

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

/// Files uploaded through links on the local server: one file per job in a directory, the
/// link signed (HMAC-SHA256 over the tenant, the job and the expiry) so that only the link a
/// request answered can write it, as a pre-signed S3 URL does.
pub struct DirUploads {
    dir: std::path::PathBuf,
    key: Vec<u8>,
    base: std::sync::OnceLock<String>,
}

/// The path of the local upload route: `PUT {base}/v1/uploads/{job_id}?tenant&expires&signature`.
pub const LOCAL_UPLOAD_PATH: &str = "/v1/uploads";

impl DirUploads {
    /// Uploads kept in `dir`, their links signed with `key`.
    pub fn new(dir: impl Into<std::path::PathBuf>, key: &[u8]) -> Result<Self, PortError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| PortError::with_source("could not create the uploads directory", e))?;
        Ok(Self {
            dir,
            key: key.to_vec(),
            base: std::sync::OnceLock::new(),
        })
    }

    /// The server's base URL, once it is listening (the links name it).
    pub fn set_base(&self, base: &str) {
        let _ = self.base.set(base.trim_end_matches('/').to_string());
    }

    /// The file of a job.
    pub fn path(&self, tenant: &TenantId, job_id: Ulid) -> std::path::PathBuf {
        self.dir.join(format!("{}-{job_id}.csv", tenant.as_str()))
    }

    fn signature(&self, tenant: &TenantId, job_id: Ulid, expires: i64) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(format!("ritmo upload\n{tenant}\n{job_id}\n{expires}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is this server's for the job and expiry (in constant time).
    pub fn verify(&self, tenant: &TenantId, job_id: Ulid, expires: i64, signature: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.signature(tenant, job_id, expires);
        expected.as_bytes().ct_eq(signature.as_bytes()).into()
    }

    /// The tag of a stored file: its size and modification time (as S3's ETag, it changes
    /// when the file is replaced).
    pub fn tag_of(meta: &std::fs::Metadata) -> String {
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("{}-{modified}", meta.len())
    }
}

#[async_trait]
impl ritmo_core::jobs::upload::FileUploads for DirUploads {
    async fn upload_url(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, PortError> {
        let base = self
            .base
            .get()
            .ok_or_else(|| PortError::new("the upload route's address is not known yet"))?;
        let expires = expires_at.timestamp();
        Ok(format!(
            "{base}{LOCAL_UPLOAD_PATH}/{job_id}?tenant={tenant}&expires={expires}&signature={}",
            self.signature(tenant, job_id, expires)
        ))
    }

    async fn read(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        tag: &str,
        start: u64,
        len: u32,
    ) -> Result<ritmo_core::jobs::UploadRead, PortError> {
        use ritmo_core::jobs::UploadRead;
        use std::io::{Read, Seek};
        let path = self.path(tenant, job_id);
        let tag = tag.to_string();
        let read = blocking("could not read an uploaded file", move || {
            let mut file = match std::fs::File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(UploadRead::Missing)
                }
                Err(e) => return Err(e),
            };
            if Self::tag_of(&file.metadata()?) != tag {
                return Ok(UploadRead::Replaced);
            }
            file.seek(std::io::SeekFrom::Start(start))?;
            let mut bytes = Vec::with_capacity(len as usize);
            file.take(u64::from(len)).read_to_end(&mut bytes)?;
            Ok(UploadRead::Bytes(bytes))
        })
        .await?;
        Ok(read)
    }

    async fn delete(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError> {
        let path = self.path(tenant, job_id);
        blocking(
            "could not delete an uploaded file",
            move || match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        )
        .await
    }
}
