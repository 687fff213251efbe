//! Imports of any size: the upload written part by part (never held whole), its header read on
//! the way, and the reader the job runner takes its rows from, from a byte offset.

use std::sync::Arc;

use async_trait::async_trait;
use ulid::Ulid;

use crate::common::error::{DomainError, PortError};
use crate::common::tenant::TenantId;
use crate::enrollments::csv_rows::{delimiter_of, CsvColumns};
use crate::enrollments::model::{ContactInput, EnrollmentStatus};
use crate::jobs::model::{ImportFile, Job, JobKind};
use crate::jobs::service::JobService;
use crate::jobs::upload::FileUploads;

/// The size of an import file's parts (the last one shorter); well under a DynamoDB item.
pub const PART_BYTES: u32 = 256 * 1024;
/// Rows an import takes at most; the rest of a longer file is not imported.
pub const MAX_IMPORT_ROWS: u64 = 1_000_000;
/// The largest file an upload takes.
pub const MAX_IMPORT_BYTES: u64 = 512 * 1024 * 1024;
/// The longest header or row.
pub const MAX_ROW_BYTES: usize = 64 * 1024;

/// Where import files are kept while their job runs, in numbered parts.
#[async_trait]
pub trait ImportFiles: Send + Sync {
    async fn put_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<(), PortError>;

    async fn get_part(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        index: u32,
    ) -> Result<Option<Vec<u8>>, PortError>;

    /// Deletes the file's parts (once its job is finished, or its upload failed).
    async fn delete_file(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        parts: u32,
    ) -> Result<(), PortError>;
}

/// A file being uploaded: bytes are pushed as they arrive and written a part at a time.
pub struct ImportUpload {
    files: Arc<dyn ImportFiles>,
    jobs: JobService,
    job: Job,
    part_bytes: usize,
    buffer: Vec<u8>,
    parts: u32,
    bytes: u64,
    /// The file's first bytes, until its header is read.
    head: Vec<u8>,
    header: Option<(CsvColumns, u8, u64)>,
}

impl ImportUpload {
    /// An upload for a job of `kind` (an import, or a removal by file).
    pub(crate) fn new(
        files: Arc<dyn ImportFiles>,
        jobs: JobService,
        tenant: &TenantId,
        kind: JobKind,
        sequence_id: Ulid,
        part_bytes: u32,
    ) -> Self {
        let job = jobs.new_job(tenant, kind, sequence_id, EnrollmentStatus::Active);
        Self {
            files,
            jobs,
            job,
            part_bytes: part_bytes.max(1) as usize,
            buffer: Vec::new(),
            parts: 0,
            bytes: 0,
            head: Vec::new(),
            header: None,
        }
    }

    /// Takes the next bytes of the file. A file without a `phone` column, or over
    /// [`MAX_IMPORT_BYTES`], is refused as soon as that is known (its parts deleted).
    pub async fn push(&mut self, data: &[u8]) -> Result<(), DomainError> {
        self.bytes += data.len() as u64;
        if self.bytes > MAX_IMPORT_BYTES {
            return self
                .abort(DomainError::invalid(
                    "body",
                    format!("the file is over {} MiB", MAX_IMPORT_BYTES >> 20),
                ))
                .await;
        }
        self.buffer.extend_from_slice(data);
        if self.header.is_none() {
            self.head.extend_from_slice(data);
            if let Err(error) = self.read_header(false) {
                return self.abort(error).await;
            }
        }
        while self.buffer.len() >= self.part_bytes {
            let rest = self.buffer.split_off(self.part_bytes);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.write(part).await?;
        }
        Ok(())
    }

    /// The upload is complete: the last part is written and the job queued.
    pub async fn finish(mut self) -> Result<Job, DomainError> {
        if self.header.is_none() {
            if let Err(error) = self.read_header(true) {
                return self.abort(error).await;
            }
        }
        let Some((columns, delimiter, body_start)) = self.header.take() else {
            return self
                .abort(DomainError::invalid("body", "the file has no header"))
                .await;
        };
        if self.bytes <= body_start {
            return self
                .abort(DomainError::invalid("body", "the file has no rows"))
                .await;
        }
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.write(last).await?;
        }
        let mut job = self.job.clone();
        job.file = Some(ImportFile {
            bytes: self.bytes,
            part_bytes: self.part_bytes as u32,
            columns: columns.names,
            delimiter,
            body_start,
            upload_tag: None,
        });
        match self.jobs.submit(job).await {
            Ok(job) => Ok(job),
            Err(error) => self.abort(error).await,
        }
    }

    /// Reads the header from the first bytes once its line is complete (or, at the end, from
    /// whatever came).
    fn read_header(&mut self, at_end: bool) -> Result<(), DomainError> {
        if let Some(header) = parse_header(&self.head, at_end)? {
            self.header = Some(header);
            self.head = Vec::new();
        }
        Ok(())
    }

    async fn write(&mut self, part: Vec<u8>) -> Result<(), DomainError> {
        let index = self.parts;
        if let Err(error) = self
            .files
            .put_part(&self.job.tenant, self.job.id, index, part)
            .await
        {
            return self.abort(error.into()).await;
        }
        self.parts += 1;
        Ok(())
    }

    /// Deletes what was written and answers `error`.
    async fn abort<T>(&self, error: DomainError) -> Result<T, DomainError> {
        let written = self.parts + 1;
        if let Err(e) = self
            .files
            .delete_file(&self.job.tenant, self.job.id, written)
            .await
        {
            tracing::warn!(error = %e, job_id = %self.job.id, "parts of a refused upload stay behind");
        }
        Err(error)
    }
}

/// A file's header: its columns, its separator, and where its first row starts.
pub(crate) type Header = (CsvColumns, u8, u64);

/// The header of a file that starts with `head`: `None` while its line is not complete (and
/// `at_end` is false: more bytes may come). A file without a `phone` column, not CSV, or whose
/// header is longer than [`MAX_ROW_BYTES`] is refused naming `body`.
pub(crate) fn parse_header(head: &[u8], at_end: bool) -> Result<Option<Header>, DomainError> {
    let bom = if head.starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    };
    let text = &head[bom.min(head.len())..];
    // The header ends at its first line end: `\n`, `\r\n` or a lone `\r`.
    let line_end = text.iter().position(|&b| b == b'\n' || b == b'\r');
    let (line, next) = match line_end {
        Some(end) if text[end] == b'\r' && end + 1 == text.len() && !at_end => {
            return Ok(None); // a `\n` may follow in the next bytes
        }
        Some(end) if text[end] == b'\r' && text.get(end + 1) == Some(&b'\n') => {
            (&text[..end], end + 2)
        }
        Some(end) => (&text[..end], end + 1),
        None if text.len() > MAX_ROW_BYTES => {
            return Err(DomainError::invalid("body", "the header line is too long"))
        }
        None if at_end => (text, text.len()),
        None => return Ok(None),
    };
    let delimiter = delimiter_of(line);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    let read = reader
        .read_record(&mut record)
        .map_err(|e| DomainError::invalid("body", format!("is not valid CSV: {e}")))?;
    if !read {
        return Err(DomainError::invalid("body", "the file has no header"));
    }
    let columns = CsvColumns::new(record.iter()).map_err(|e| DomainError::invalid("body", e))?;
    Ok(Some((columns, delimiter, (bom + next) as u64)))
}

/// One row of an import: its contact, or why it cannot be read.
pub type Row = Result<ContactInput, (String, String)>;

/// Where a file's bytes are read from: its parts, or the object a client uploaded.
#[derive(Clone, Copy)]
pub(crate) enum FileSource<'a> {
    Parts(&'a dyn ImportFiles),
    Upload(&'a dyn FileUploads),
}

/// Reads an import file's rows from a byte offset, a part at a time.
pub(crate) struct FileReader<'a> {
    files: FileSource<'a>,
    tenant: &'a TenantId,
    job_id: Ulid,
    file: &'a ImportFile,
    columns: CsvColumns,
    /// Bytes of the file from `start` on.
    buffer: Vec<u8>,
    start: u64,
}

impl<'a> FileReader<'a> {
    pub(crate) fn new(
        files: FileSource<'a>,
        tenant: &'a TenantId,
        job_id: Ulid,
        file: &'a ImportFile,
    ) -> Self {
        Self {
            files,
            tenant,
            job_id,
            file,
            columns: CsvColumns {
                names: file.columns.clone(),
            },
            buffer: Vec::new(),
            start: 0,
        }
    }

    /// Up to `max` rows from `offset`, and the offset after the last one (the file's size at
    /// its end).
    pub(crate) async fn rows(
        &mut self,
        offset: u64,
        max: usize,
    ) -> Result<(Vec<Row>, u64), DomainError> {
        let part_bytes = u64::from(self.file.part_bytes.max(1));
        if offset >= self.file.bytes {
            return Ok((Vec::new(), self.file.bytes));
        }
        if offset < self.start || offset > self.start + self.buffer.len() as u64 {
            self.buffer.clear();
            self.start = offset - offset % part_bytes;
        } else {
            // Keep only what is still to read.
            let consumed = (offset - self.start) as usize;
            let consumed = consumed - consumed % part_bytes as usize;
            self.buffer.drain(..consumed);
            self.start += consumed as u64;
        }
        loop {
            let end = self.start + self.buffer.len() as u64;
            let at_end = end >= self.file.bytes;
            let from = (offset - self.start) as usize;
            if from < self.buffer.len() || at_end {
                let (rows, read) = self.parse(&self.buffer[from..], max, at_end);
                if !rows.is_empty() {
                    return Ok((rows, offset + read as u64));
                }
                if at_end {
                    // Only blank lines (or a line end) were left.
                    return Ok((rows, self.file.bytes));
                }
                let left = self.buffer.len() - from;
                if left > MAX_ROW_BYTES {
                    // One row longer than any row may be: skip to its line's end (or past
                    // what was read), as a rejected row.
                    let skip = self.buffer[from..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(left, |p| p + 1);
                    let row = Err((String::new(), "the row is too long".to_string()));
                    return Ok((vec![row], offset + skip as u64));
                }
            }
            let index = (end / part_bytes) as u32;
            // A file gone or replaced under the job cannot be read on a later try either:
            // the job fails with the reason (a `Conflict`), rather than its chunk being retried.
            let part = match (self.files, &self.file.upload_tag) {
                (FileSource::Upload(uploads), Some(tag)) => {
                    let start = u64::from(index) * part_bytes;
                    let len = part_bytes.min(self.file.bytes - start) as u32;
                    uploads
                        .read(self.tenant, self.job_id, tag, start, len)
                        .await?
                        .bytes()
                        .map_err(|reason| DomainError::Conflict(reason.into()))?
                }
                (FileSource::Parts(files), None) => files
                    .get_part(self.tenant, self.job_id, index)
                    .await?
                    .ok_or_else(|| {
                        DomainError::Conflict(format!("part {index} of the import file is missing"))
                    })?,
                _ => return Err(PortError::new("an import file is not where it was kept").into()),
            };
            if part.is_empty() {
                return Err(PortError::new("an import file's part is empty").into());
            }
            self.buffer.extend_from_slice(&part);
        }
    }

    /// The complete rows at the start of `bytes` (all of them `at_end`; otherwise the last
    /// one read may be cut, so it is left for the next read), and how many bytes they take.
    fn parse(&self, bytes: &[u8], max: usize, at_end: bool) -> (Vec<Row>, usize) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.file.delimiter)
            .from_reader(bytes);
        let mut rows: Vec<(Row, usize)> = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut cut = !at_end;
        while rows.len() <= max {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let end = reader.position().byte() as usize;
                    rows.push((self.row(&record), end));
                }
                Err(e) => {
                    // Not CSV from here to the end of its line: that line is rejected, and the
                    // next read starts after it.
                    let from = rows.last().map_or(0, |(_, end)| *end);
                    let skip = bytes[from..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |p| from + p + 1);
                    rows.push((Err((String::new(), format!("is not valid CSV: {e}"))), skip));
                    cut = false;
                    break;
                }
            }
        }
        if rows.len() > max {
            rows.truncate(max);
        } else if cut {
            rows.pop();
        }
        let read = rows.last().map_or(0, |(_, end)| *end);
        (rows.into_iter().map(|(row, _)| row).collect(), read)
    }

    fn row(&self, record: &csv::ByteRecord) -> Row {
        let mut fields = Vec::with_capacity(record.len());
        for field in record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => fields.push(text),
                Err(_) => {
                    let phone = record
                        .get(self.phone_index())
                        .and_then(|p| std::str::from_utf8(p).ok())
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    return Err((phone, "is not UTF-8 text".into()));
                }
            }
        }
        Ok(self.columns.contact(fields))
    }

    fn phone_index(&self) -> usize {
        self.columns
            .names
            .iter()
            .position(|n| n == "phone")
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{MemoryImportFiles, MemoryJobStore};
    use crate::common::clock::{Clock, ManualClock};
    use crate::common::ids::SequentialIds;
    use crate::jobs::store::JobQueue;

    /// A queue that takes every job and runs none: these tests read the files only.
    struct Accepting;

    #[async_trait::async_trait]
    impl JobQueue for Accepting {
        async fn submit(&self, _tenant: &TenantId, _job_id: Ulid) -> Result<(), PortError> {
            Ok(())
        }

        async fn submit_upload_check(
            &self,
            _tenant: &TenantId,
            _job_id: Ulid,
            _delay: std::time::Duration,
        ) -> Result<(), PortError> {
            Ok(())
        }
    }

    fn service() -> JobService {
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::new("2026-11-23T12:00:00Z".parse().unwrap()));
        JobService::new(
            clock,
            Arc::new(SequentialIds::default()),
            Arc::new(MemoryJobStore::new()),
            Arc::new(Accepting),
        )
    }

    /// Uploads `file` in pushes of `push` bytes into parts of `part` bytes.
    async fn upload(
        files: &Arc<MemoryImportFiles>,
        file: &[u8],
        push: usize,
        part: u32,
    ) -> Result<Job, DomainError> {
        let tenant = TenantId::parse("acme").unwrap();
        let mut upload = ImportUpload::new(
            files.clone(),
            service(),
            &tenant,
            JobKind::ImportContacts,
            Ulid::nil(),
            part,
        );
        for piece in file.chunks(push.max(1)) {
            upload.push(piece).await?;
        }
        upload.finish().await
    }

    /// Every row of the job's file, read `batch` at a time.
    async fn read_all(files: &MemoryImportFiles, job: &Job, batch: usize) -> Vec<Row> {
        let file = job.file.clone().unwrap();
        let mut reader = FileReader::new(FileSource::Parts(files), &job.tenant, job.id, &file);
        let mut offset = file.body_start;
        let mut all = Vec::new();
        loop {
            let (rows, next) = reader.rows(offset, batch).await.unwrap();
            assert!(next >= offset, "the offset never goes back");
            if rows.is_empty() {
                assert_eq!(next, file.bytes, "nothing left unread");
                return all;
            }
            assert!(rows.len() <= batch);
            all.extend(rows);
            offset = next;
        }
    }

    fn phones(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Ok(c) => format!("{}|{}", c.phone, c.name.clone().unwrap_or_default()),
                Err((phone, reason)) => format!("! {phone} {reason}"),
            })
            .collect()
    }

    const FILE: &str = "\u{feff}Phone;Nome;cupom\r\n\
        +5511987654321;Ana;X1\r\n\
        +5511987654322;\"Silva; Bia\";\"linha\r\ndois\"\r\n\
        \r\n\
        +5511987654323;Caio\r\n\
        +5511987654324;\"Davi \"\"D\"\"\";Z9";

    #[tokio::test]
    async fn rows_read_the_same_across_any_part_size_and_any_batch() {
        let files = Arc::new(MemoryImportFiles::new());
        let whole = upload(&files, FILE.as_bytes(), 1 << 20, 1 << 20)
            .await
            .unwrap();
        let file = whole.file.clone().unwrap();
        assert_eq!(file.delimiter, b';');
        assert_eq!(file.columns, ["phone", "nome", "cupom"]);
        let expected = phones(&read_all(&files, &whole, 100).await);
        assert_eq!(
            expected,
            [
                "+5511987654321|",
                "+5511987654322|",
                "+5511987654323|",
                "+5511987654324|"
            ]
        );
        for part in 1..=40 {
            for batch in [1, 2, 3] {
                let job = upload(&files, FILE.as_bytes(), 7, part).await.unwrap();
                let rows = read_all(&files, &job, batch).await;
                assert_eq!(
                    phones(&rows),
                    expected,
                    "parts of {part}, batches of {batch}"
                );
            }
        }
        let job = upload(&files, FILE.as_bytes(), 5, 3).await.unwrap();
        let rows = read_all(&files, &job, 10).await;
        let Ok(bia) = &rows[1] else { panic!() };
        assert_eq!(
            bia.attributes["nome"],
            serde_json::json!("Silva; Bia"),
            "a quoted field keeps its separator"
        );
        assert_eq!(bia.attributes["cupom"], serde_json::json!("linha\r\ndois"));
    }

    #[tokio::test]
    async fn a_header_without_phone_or_a_file_without_rows_is_refused_and_leaves_nothing() {
        let files = Arc::new(MemoryImportFiles::new());
        for (file, says) in [
            ("name,coupon\n+5511987654321,Ana\n", "'phone' column"),
            ("phone,name\n", "no rows"),
            ("", "no header"),
        ] {
            let error = upload(&files, file.as_bytes(), 4, 8).await.unwrap_err();
            assert!(error.to_string().contains(says), "{file:?}: {error}");
            assert_eq!(files.stored_parts(), 0, "{file:?}");
        }
        // Only the header's own line decides: a phone column later in the file is not one.
        let comma = upload(&files, b"phone\n+5511987654321;Ana\n", 100, 100)
            .await
            .unwrap();
        assert_eq!(comma.file.unwrap().delimiter, b',');
    }
}
