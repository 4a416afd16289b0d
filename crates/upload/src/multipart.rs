//! Multipart uploads: parts sent with bounded concurrency, each with its CRC32C; an upload that
//! fails or is cancelled is aborted (bounded, best effort).

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectCannedAcl,
};
use futures::{StreamExt, TryStreamExt};

use crate::config::{kms_key, metadata, sse};
use crate::put::Source;
use crate::{UploadError, Uploader};

/// Default for [`Options::multipart_threshold`] and [`Options::part_size`]: 8 MiB.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's smallest allowed part (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part number.
pub const MAX_PARTS: u64 = 10_000;
/// Parts of one multipart upload in flight at once.
pub const PART_CONCURRENCY: usize = 4;
/// Bound of the `AbortMultipartUpload` sent for an upload that failed or was cancelled.
pub const ABORT_TIMEOUT: Duration = Duration::from_secs(15);

/// Aborts of multipart uploads whose upload was dropped (cancelled) before it completed or
/// aborted itself, running on the runtime; [`finish_aborts`] waits for them.
static PENDING_ABORTS: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits for the aborts of cancelled multipart uploads (each bounded by [`ABORT_TIMEOUT`]).
/// Call before the runtime shuts down, e.g. after a signal dropped the work in progress.
pub async fn finish_aborts() {
    loop {
        let pending: Vec<_> = match PENDING_ABORTS.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        if pending.is_empty() {
            return;
        }
        for task in pending {
            // A panicked or cancelled abort has nothing left to wait for.
            let _ = task.await;
        }
    }
}

impl Uploader {
    fn apply_create_options(
        &self,
        req: CreateMultipartUploadFluentBuilder,
        content_type: &str,
    ) -> CreateMultipartUploadFluentBuilder {
        let o = &self.options;
        let mut req = req
            .content_type(content_type)
            .set_expected_bucket_owner(o.expected_owner.clone())
            .set_metadata(metadata(o))
            .set_server_side_encryption(sse(o))
            .set_ssekms_key_id(kms_key(o));
        if o.owner_full_control_acl {
            req = req.acl(ObjectCannedAcl::BucketOwnerFullControl);
        }
        req
    }

    pub(crate) async fn multipart(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        content_type: &str,
    ) -> Result<(), UploadError> {
        let part_size = effective_part_size(self.options.part_size, size);
        let upload_id = self.create(key, content_type).await?;
        tracing::debug!(bucket = %self.bucket, %key, %upload_id, size, part_size, "multipart upload started");
        // Dropped before the upload completed or aborted (the run was cancelled, or another
        // upload failed): the guard aborts it.
        let mut guard = OpenUpload {
            uploader: self,
            key,
            upload_id: &upload_id,
            armed: true,
        };
        let parts = self
            .send_parts(key, source, size, part_size, &upload_id)
            .await;
        let result = self.complete_or_abort(key, parts, size, &upload_id).await;
        guard.armed = false;
        result
    }

    /// A multipart upload of a file that another task is still appending to: each part is
    /// sent as soon as the file has grown past its end (bytes below [`Growing::ready`] are
    /// final), at most [`PART_CONCURRENCY`] at once; the last one once the file is complete.
    /// `part_size` is fixed before the final size is known (from an upper bound of it).
    pub(crate) async fn multipart_growing(
        &self,
        key: &str,
        path: &std::path::Path,
        file: tokio::sync::watch::Receiver<Growing>,
        part_size: u64,
        content_type: &str,
    ) -> Result<u64, UploadError> {
        let upload_id = self.create(key, content_type).await?;
        tracing::debug!(bucket = %self.bucket, %key, %upload_id, part_size, "multipart upload of a growing file started");
        let mut guard = OpenUpload {
            uploader: self,
            key,
            upload_id: &upload_id,
            armed: true,
        };
        let last = file.clone();
        let source = Source::File(path);
        let specs = futures::stream::unfold((0u64, file), |(index, mut file)| async move {
            let spec = next_part(&mut file, index, part_size).await;
            spec.map(|spec| (spec, (index + 1, file)))
        });
        let sent: Result<Vec<CompletedPart>, UploadError> = specs
            .map(|spec| {
                let source = &source;
                let upload_id = &upload_id;
                async move {
                    let (number, offset, len) = spec.map_err(|()| self.incomplete(key))?;
                    self.send_part(key, source, upload_id, number, offset, len)
                        .await
                }
            })
            .buffer_unordered(PART_CONCURRENCY)
            .try_collect()
            .await;
        let size = last.borrow().ready;
        let parts = sent.map(|mut parts| {
            parts.sort_by_key(|p| p.part_number);
            parts
        });
        let result = self.complete_or_abort(key, parts, size, &upload_id).await;
        guard.armed = false;
        result.map(|()| size)
    }

    pub(crate) fn incomplete(&self, key: &str) -> UploadError {
        UploadError::Incomplete {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        }
    }

    /// Starts a multipart upload; returns its id.
    async fn create(&self, key: &str, content_type: &str) -> Result<String, UploadError> {
        let create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C);
        let created = self
            .apply_create_options(create, content_type)
            .send()
            .await
            .map_err(|e| self.map_err("CreateMultipartUpload", key, e))?;
        let Some(upload_id) = created.upload_id else {
            return Err(UploadError::S3 {
                op: "CreateMultipartUpload",
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                message: "response has no UploadId".to_owned(),
            });
        };
        if upload_id.is_empty() {
            return Err(self.not_s3("CreateMultipartUpload", key, "an empty UploadId"));
        }
        Ok(upload_id)
    }

    /// Completes the upload with `parts` (the whole object: `size` bytes), or aborts it when
    /// sending them failed.
    async fn complete_or_abort(
        &self,
        key: &str,
        parts: Result<Vec<CompletedPart>, UploadError>,
        size: u64,
        upload_id: &str,
    ) -> Result<(), UploadError> {
        let upload_id = upload_id.to_owned();
        match parts {
            Ok(parts) => {
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .set_expected_bucket_owner(self.options.expected_owner.clone())
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await;
                match done {
                    Ok(out) if out.e_tag().is_none_or(str::is_empty) => {
                        let err =
                            self.not_s3("CompleteMultipartUpload", key, "HTTP 200 without an ETag");
                        self.abort(key, &upload_id).await;
                        Err(err)
                    }
                    Ok(_) => Ok(()),
                    Err(e) => {
                        // A retry whose first attempt completed the upload (the response was
                        // lost) finds the upload gone, and the object there.
                        // Keys are content addressed: an object of our size at the key holds
                        // our bytes. (S3 answers NoSuchUpload there, s3s-fs AccessDenied.)
                        if self.stored_size(key).await == Some(size) {
                            tracing::debug!(bucket = %self.bucket, %key, %upload_id, "multipart upload completed by an earlier attempt");
                            self.abort_quietly(key, &upload_id).await;
                            return Ok(());
                        }
                        let err = self.map_err("CompleteMultipartUpload", key, e);
                        self.abort(key, &upload_id).await;
                        Err(err)
                    }
                }
            }
            Err(err) => {
                self.abort(key, &upload_id).await;
                Err(err)
            }
        }
    }

    /// Uploads all parts, at most [`PART_CONCURRENCY`] at once; stops at the first failure
    /// (parts in flight are dropped).
    async fn send_parts(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        part_size: u64,
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>, UploadError> {
        let count = size.div_ceil(part_size);
        let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
            .map(|i| {
                let offset = i * part_size;
                let len = part_size.min(size - offset);
                // Part numbers are 1..=10_000 (effective_part_size keeps count within that).
                let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
                self.send_part(key, source, upload_id, number, offset, len)
            })
            .buffer_unordered(PART_CONCURRENCY)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn send_part(
        &self,
        key: &str,
        source: &Source<'_>,
        upload_id: &str,
        number: i32,
        offset: u64,
        len: u64,
    ) -> Result<CompletedPart, UploadError> {
        let io = |e| UploadError::Io {
            path: source.path(),
            source: e,
        };
        let crc = source.crc32c(offset, len).await.map_err(io)?;
        let body = source.body(offset, len).await.map_err(io)?;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(i64::try_from(len).unwrap_or(i64::MAX))
            .checksum_crc32_c(&crc)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| self.map_err("UploadPart", key, e))?;
        if out.e_tag().is_none_or(str::is_empty) {
            return Err(self.not_s3("UploadPart", key, "HTTP 200 without an ETag"));
        }
        self.sent.fetch_add(len, Ordering::Relaxed);
        tracing::trace!(bucket = %self.bucket, %key, part = number, len, "part uploaded");
        // The part's checksum as computed here: CompleteMultipartUpload has S3 check it again.
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(out.e_tag)
            .checksum_crc32_c(crc)
            .build())
    }

    fn abort_request(&self, key: &str, upload_id: &str) -> AbortMultipartUploadFluentBuilder {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
    }

    /// Aborts an upload that is most likely gone already (completed): errors are expected.
    async fn abort_quietly(&self, key: &str, upload_id: &str) {
        if let Err(e) = self.abort_request(key, upload_id).send().await {
            tracing::debug!(bucket = %self.bucket, %key, %upload_id, "abort: {}", aws_policy::describe(&e, self.timeout));
        }
    }

    /// Best effort, bounded by [`ABORT_TIMEOUT`]: a failed abort is logged (the bucket's
    /// lifecycle rules are the backstop).
    async fn abort(&self, key: &str, upload_id: &str) {
        let request = self.abort_request(key, upload_id).send();
        let Ok(res) = tokio::time::timeout(ABORT_TIMEOUT, request).await else {
            tracing::warn!(
                bucket = %self.bucket,
                %key,
                %upload_id,
                "could not abort multipart upload: no answer within {} s",
                ABORT_TIMEOUT.as_secs()
            );
            return;
        };
        match res {
            Ok(_) => {
                tracing::debug!(bucket = %self.bucket, %key, %upload_id, "multipart upload aborted")
            }
            Err(e) => tracing::warn!(
                bucket = %self.bucket,
                %key,
                %upload_id,
                "could not abort multipart upload: {}",
                aws_policy::describe(&e, self.timeout)
            ),
        }
    }
}

/// A multipart upload in progress; dropped while armed, it has the upload aborted on the
/// runtime (see [`finish_aborts`]).
struct OpenUpload<'a> {
    uploader: &'a Uploader,
    key: &'a str,
    upload_id: &'a str,
    armed: bool,
}

impl Drop for OpenUpload<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let uploader = self.uploader.clone();
        let key = self.key.to_owned();
        let upload_id = self.upload_id.to_owned();
        tracing::debug!(bucket = %uploader.bucket, %key, %upload_id, "multipart upload cancelled: aborting it");
        let task = runtime.spawn(async move { uploader.abort(&key, &upload_id).await });
        match PENDING_ABORTS.lock() {
            Ok(mut pending) => pending.push(task),
            Err(poisoned) => poisoned.into_inner().push(task),
        }
    }
}

/// A file another task is appending to, as [`Uploader::put_growing`] follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Growing {
    /// The file, once it exists.
    pub path: Option<std::path::PathBuf>,
    /// Bytes at its start that are written for good (the writer only appends).
    pub ready: u64,
    /// The file is complete: `ready` is its size.
    pub complete: bool,
}

/// The next part of a growing file to send: (part number, offset, length) once the file has
/// grown past its end (or is complete), `None` after the last one, `Err` when the writer went
/// away before completing the file.
async fn next_part(
    file: &mut tokio::sync::watch::Receiver<Growing>,
    index: u64,
    part_size: u64,
) -> Option<Result<(i32, u64, u64), ()>> {
    let offset = index * part_size;
    let waited = file
        .wait_for(|g| g.complete || g.ready >= offset + part_size)
        .await
        .map(|g| g.clone());
    let Ok(state) = waited else {
        return Some(Err(()));
    };
    if state.complete && offset >= state.ready {
        return None;
    }
    let len = part_size.min(state.ready - offset);
    let number = i32::try_from(index + 1)
        .ok()
        .filter(|&n| n as u64 <= MAX_PARTS);
    Some(number.map(|n| (n, offset, len)).ok_or(()))
}

pub(crate) fn nonzero_or_default(v: u64) -> u64 {
    if v == 0 { DEFAULT_PART_SIZE } else { v }
}

/// Part size honouring S3's minimum and the 10,000-part limit.
pub(crate) fn effective_part_size(requested: u64, size: u64) -> u64 {
    nonzero_or_default(requested)
        .max(MIN_PART_SIZE)
        .max(size.div_ceil(MAX_PARTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_rules() {
        assert_eq!(effective_part_size(0, 100), DEFAULT_PART_SIZE);
        assert_eq!(effective_part_size(1, 100), MIN_PART_SIZE);
        assert_eq!(effective_part_size(6 << 20, 100), 6 << 20);
        let huge = 200 * 1024 * 1024 * 1024_u64;
        let ps = effective_part_size(MIN_PART_SIZE, huge);
        assert!(huge.div_ceil(ps) <= MAX_PARTS);
    }
}
