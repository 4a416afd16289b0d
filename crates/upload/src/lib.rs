//! Uploads artifacts to S3.
//!
//! Owns: the S3 client configuration (standard credential chain, custom endpoints with
//! path-style addressing, standard retry mode), the existence check (`HeadObject`, or one
//! `ListObjectsV2` per folder when many keys are checked at once), single-part and multipart
//! uploads with checksums (CRC32C, computed before sending and sent as a plain
//! `x-amz-checksum-crc32c` header on the object or each part) and bounded concurrency,
//! aborting interrupted multipart uploads, mapping S3 errors to [`UploadError`], object URLs.
//! Must not know about templates, zips, content hashing or the terminal (it logs through
//! `tracing` only).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectCannedAcl,
    ServerSideEncryption,
};
use aws_smithy_types::byte_stream::Length;
use futures::{StreamExt, TryStreamExt};

pub use aws_policy::{CONNECT_TIMEOUT, MAX_ATTEMPTS, TIMEOUT_ENV};

/// Default for [`Options::multipart_threshold`] and [`Options::part_size`]: 8 MiB.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's smallest allowed part (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part number.
pub const MAX_PARTS: u64 = 10_000;
/// Parts of one multipart upload in flight at once.
pub const PART_CONCURRENCY: usize = 4;
/// Default deadline of one S3 request, all its attempts included (see
/// [`aws_policy::timeout_config`]): generous, as it includes sending the body (an 8 MiB part
/// at 250 kbit/s). A stalled upload or download is cut off earlier by the SDK's stalled-stream
/// protection. `COPILOT_LITE_HTTP_TIMEOUT` (seconds) overrides it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);
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

/// [`Uploader::existing`] lists from this many keys on; fewer are checked one by one.
pub const LIST_MIN_KEYS: usize = 16;
/// [`Uploader::existing`] gives up listing (and the caller checks key by key) beyond one
/// page of 1,000 objects per this many keys: listing must stay cheaper than the checks it
/// replaces, however many objects the bucket holds.
pub const KEYS_PER_PAGE: usize = 20;

/// Server-side encryption requested for uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    Aes256,
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `--force-upload`: upload even when the key exists.
    pub force: bool,
    pub sse: Option<Sse>,
    pub metadata: BTreeMap<String, String>,
    /// `ExpectedBucketOwner` on every request, when known.
    pub expected_owner: Option<String>,
    /// Send `x-amz-acl: bucket-owner-full-control` (default true).
    pub owner_full_control_acl: bool,
    /// Files larger than this use multipart (default 8 MiB; 0 means the default).
    pub multipart_threshold: u64,
    /// Multipart part size (default 8 MiB; 0 means the default). Raised to S3's 5 MiB minimum,
    /// and as needed to stay within 10,000 parts.
    pub part_size: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            force: false,
            sse: None,
            metadata: BTreeMap::new(),
            expected_owner: None,
            owner_full_control_acl: true,
            multipart_threshold: DEFAULT_PART_SIZE,
            part_size: DEFAULT_PART_SIZE,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Region override (`--region`), else the SDK chain.
    pub region: Option<String>,
    /// Endpoint override; else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` from the SDK chain.
    pub endpoint: Option<String>,
    /// An SDK config already loaded for this command (by [`aws_policy::load_sdk_config`],
    /// e.g. for its CloudFormation client): used as it is (`region` is then not read), so a
    /// command loads the chain once.
    pub sdk: Option<aws_config::SdkConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// An `s3://` URL where a bucket name is expected (refused, as the AWS CLI's own bucket
    /// name check refuses it: a guess at what the user meant could upload to the wrong place).
    #[error(
        "bucket {given:?} is an s3:// URL: a bucket name is expected (here {bucket:?}){}",
        if prefix.is_empty() { String::new() } else { format!(", and the folder {prefix:?} goes in the key prefix (--s3-prefix)") }
    )]
    BucketIsUrl {
        given: String,
        bucket: String,
        prefix: String,
    },
    #[error("bucket {bucket} does not exist (or is not in region {region})")]
    NoSuchBucket { bucket: String, region: String },
    #[error("access denied to s3://{bucket}/{key}: {message}")]
    AccessDenied {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("{op} s3://{bucket}/{key}: {message}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The endpoint answered, but not as S3 does: nothing counts as stored or present.
    #[error(
        "{op} s3://{bucket}/{key}: the endpoint {endpoint} did not answer like S3: {problem} (is the endpoint right?)"
    )]
    NotS3 {
        op: &'static str,
        bucket: String,
        key: String,
        endpoint: String,
        problem: String,
    },
    /// Neither `--region` nor the SDK chain (env, profile, IMDS) gave a region.
    #[error("no AWS region: pass --region or set AWS_REGION")]
    NoRegion,
}

/// Refuses an `s3://bucket[/prefix]` URL given as a bucket name, saying which name and prefix
/// were probably meant.
pub fn check_bucket_name(bucket: &str) -> Result<(), UploadError> {
    let Some(rest) = bucket
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("s3://"))
        .and_then(|_| bucket.get(5..))
    else {
        return Ok(());
    };
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Err(UploadError::BucketIsUrl {
        given: bucket.to_owned(),
        bucket: name.to_owned(),
        prefix: prefix.trim_matches('/').to_owned(),
    })
}

/// Outcome of [`Uploader::upload_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploaded {
    /// The key already existed (HeadObject 200) and `force` is off: nothing sent.
    Skipped,
    /// Bytes sent.
    Sent { bytes: u64 },
}

/// The byte range `offset..offset + len` of `bytes`, an error when it is not inside.
fn range(
    bytes: &bytes::Bytes,
    offset: u64,
    len: u64,
) -> Result<std::ops::Range<usize>, std::io::Error> {
    let start = usize::try_from(offset).map_err(std::io::Error::other)?;
    let end = usize::try_from(offset + len).map_err(std::io::Error::other)?;
    if start > end || end > bytes.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "range out of bounds",
        ));
    }
    Ok(start..end)
}

/// Read size when checksumming a file.
const CRC_READ_BUF: usize = 256 * 1024;

fn crc32c_of(bytes: &[u8]) -> u32 {
    // CRC32C is 32 bits wide: the u64 holds it in its low half.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// The CRC32C of exactly `len` bytes at `offset` of `path` (fewer bytes there is an error: the
/// file changed since its size was taken).
fn crc32c_of_file(path: &Path, offset: u64, len: u64) -> Result<u32, std::io::Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let mut buf = vec![0u8; CRC_READ_BUF];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(CRC_READ_BUF as u64)).unwrap_or(CRC_READ_BUF);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than when its size was taken",
            ));
        }
        digest.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(digest.finalize() as u32)
}

/// An S3 client bound to one bucket.
#[derive(Debug, Clone)]
pub struct Uploader {
    client: Client,
    bucket: String,
    region: String,
    /// Custom endpoint in effect (no trailing slash), `None` on AWS.
    endpoint: Option<String>,
    options: Options,
    /// Deadline of each request, retries included.
    timeout: Duration,
    /// Bytes stored so far by this uploader and its clones (see [`Uploader::bytes_sent`]).
    sent: Arc<AtomicU64>,
}

/// Where the bytes of an upload come from.
#[derive(Debug, Clone)]
enum Source<'a> {
    File(&'a Path),
    Bytes(bytes::Bytes),
}

impl Source<'_> {
    /// The CRC32C of `len` bytes at `offset`, base64 of its big-endian bytes (the form of the
    /// `x-amz-checksum-crc32c` header). Files are read in bounded chunks on a blocking thread.
    async fn crc32c(&self, offset: u64, len: u64) -> Result<String, std::io::Error> {
        let crc = match self {
            Source::File(path) => {
                let path = path.to_path_buf();
                tokio::task::spawn_blocking(move || crc32c_of_file(&path, offset, len))
                    .await
                    .map_err(std::io::Error::other)??
            }
            Source::Bytes(b) => crc32c_of(&b[range(b, offset, len)?]),
        };
        Ok(aws_smithy_types::base64::encode(crc.to_be_bytes()))
    }

    /// A body for `len` bytes at `offset`; files are streamed (re-opened on retries), never
    /// read whole into memory.
    async fn body(&self, offset: u64, len: u64) -> Result<ByteStream, std::io::Error> {
        match self {
            Source::File(path) => ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(std::io::Error::other),
            Source::Bytes(b) => Ok(ByteStream::from(b.slice(range(b, offset, len)?))),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.to_path_buf(),
            Source::Bytes(_) => PathBuf::from("<memory>"),
        }
    }
}

impl Uploader {
    /// Builds a client from the AWS SDK's standard chain plus `conn` overrides.
    pub async fn connect(
        conn: &Connection,
        bucket: &str,
        options: Options,
    ) -> Result<Uploader, UploadError> {
        check_bucket_name(bucket)?;
        if let Some(sdk) = &conn.sdk {
            return Ok(Self::build(sdk, conn.endpoint.as_deref(), bucket, options));
        }
        let sdk = aws_policy::load_sdk_config(conn.region.clone())
            .await
            .ok_or(UploadError::NoRegion)?;
        Ok(Self::build(&sdk, conn.endpoint.as_deref(), bucket, options))
    }

    /// Builds from an existing SDK config (tests). Its endpoint (or the S3-specific one from
    /// its service config) counts as a custom endpoint; without a region, `us-east-1`.
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        bucket: &str,
        options: Options,
    ) -> Uploader {
        Self::build(config, None, bucket, options)
    }

    fn build(
        sdk: &aws_config::SdkConfig,
        endpoint_override: Option<&str>,
        bucket: &str,
        options: Options,
    ) -> Uploader {
        let endpoint = endpoint_override
            .map(str::to_owned)
            .or_else(|| aws_policy::service_endpoint(sdk, "S3"))
            .map(|e| e.trim_end_matches('/').to_owned())
            .filter(|e| !e.is_empty());
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());

        let mut builder = aws_sdk_s3::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .timeout_config(aws_policy::timeout_config(READ_TIMEOUT));
        let timeout = aws_policy::request_timeout(READ_TIMEOUT);
        if let Some(retry) = aws_policy::retry_config() {
            builder = builder.retry_config(retry);
        }
        if sdk.behavior_version().is_none() {
            builder = builder.behavior_version(BehaviorVersion::latest());
        }
        if let Some(e) = &endpoint {
            builder = builder.endpoint_url(e.clone()).force_path_style(true);
        }
        tracing::debug!(%bucket, %region, endpoint = ?endpoint, "S3 client configured");
        Uploader {
            client: Client::from_conf(builder.build()),
            bucket: bucket.to_owned(),
            region,
            endpoint,
            options,
            timeout,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes stored so far by this uploader (and its clones): counted per object for
    /// single-part uploads, per part for multipart ones; for progress displays.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The deadline of each request, retries included (`COPILOT_LITE_HTTP_TIMEOUT` or
    /// [`READ_TIMEOUT`]).
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The endpoint for messages: the custom one, else AWS's regional S3 endpoint.
    fn endpoint_for_messages(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    fn not_s3(&self, op: &'static str, key: &str, problem: impl Into<String>) -> UploadError {
        UploadError::NotS3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            endpoint: self.endpoint_for_messages(),
            problem: problem.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Region the client uses.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Custom S3 endpoint in effect (without trailing slash), `None` when talking to AWS.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Whether `key` exists (see [`Uploader::size`]).
    pub async fn exists(&self, key: &str) -> Result<bool, UploadError> {
        Ok(self.size(key).await?.is_some())
    }

    /// The size of the object `key` (HeadObject), `None` when it does not exist. 404 = `None`;
    /// 403 = `None` with a warning logged. A 200 counts only when it looks like S3's answer (an
    /// ETag and a content length).
    pub async fn size(&self, key: &str) -> Result<Option<u64>, UploadError> {
        let res = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send()
            .await;
        match res {
            Ok(out) => {
                if out.e_tag().is_none_or(str::is_empty) {
                    return Err(self.not_s3("HeadObject", key, "HTTP 200 without an ETag"));
                }
                let Some(length) = out.content_length() else {
                    return Err(self.not_s3(
                        "HeadObject",
                        key,
                        "HTTP 200 without a content length",
                    ));
                };
                let Ok(length) = u64::try_from(length) else {
                    return Err(self.not_s3("HeadObject", key, "a negative content length"));
                };
                Ok(Some(length))
            }
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let code = err.code().map(str::to_owned);
                if code.as_deref() == Some("NoSuchBucket") {
                    return Err(self.no_such_bucket());
                }
                let not_found = matches!(&err, SdkError::ServiceError(e) if e.err().is_not_found());
                if not_found || status == Some(404) || code.as_deref() == Some("NoSuchKey") {
                    return Ok(None);
                }
                if status == Some(403)
                    || code.as_deref() == Some("AccessDenied")
                    || code.as_deref() == Some("Forbidden")
                {
                    tracing::warn!(
                        bucket = %self.bucket,
                        %key,
                        "HeadObject s3://{}/{key} was denied (403); uploading anyway",
                        self.bucket
                    );
                    return Ok(None);
                }
                Err(self.map_err("HeadObject", key, err))
            }
        }
    }

    /// Which of `keys` exist, with their sizes, learned by listing the folders they are in
    /// (`ListObjectsV2`, one request per 1,000 objects) rather than with one `HeadObject` each.
    /// `None` when listing does not pay off or is not possible, and the caller checks key by
    /// key with [`Uploader::size`]: fewer than [`LIST_MIN_KEYS`] keys, folders holding many
    /// more objects than keys (more than one page per [`KEYS_PER_PAGE`] keys), or a failed or
    /// refused listing (no `s3:ListBucket`).
    pub async fn existing(
        &self,
        keys: &[&str],
    ) -> Result<Option<HashMap<String, u64>>, UploadError> {
        if keys.len() < LIST_MIN_KEYS {
            return Ok(None);
        }
        let wanted: HashSet<&str> = keys.iter().copied().collect();
        let folders: BTreeSet<&str> = keys
            .iter()
            .map(|key| key.rfind('/').map_or("", |slash| &key[..=slash]))
            .collect();
        let mut budget = keys.len().div_ceil(KEYS_PER_PAGE);
        if folders.len() > budget {
            // Keys spread over many folders: listing each would cost about as much.
            return Ok(None);
        }
        let mut found = HashMap::new();
        for folder in folders {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(folder)
                .delimiter("/")
                .set_expected_bucket_owner(self.options.expected_owner.clone())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(page) => page,
                    Err(err) => {
                        if err.code() == Some("NoSuchBucket") {
                            return Err(self.no_such_bucket());
                        }
                        // A silent endpoint would be as silent for the checks one by one:
                        // spending another deadline on them would double the wait.
                        if matches!(err, SdkError::TimeoutError(_)) {
                            return Err(self.map_err("ListObjectsV2", folder, err));
                        }
                        tracing::debug!(
                            bucket = %self.bucket,
                            prefix = folder,
                            error = %DisplayErrorContext(&err),
                            "listing failed; checking keys one by one"
                        );
                        return Ok(None);
                    }
                };
                if budget == 0 {
                    tracing::debug!(
                        bucket = %self.bucket,
                        prefix = folder,
                        keys = keys.len(),
                        "too many objects to list; checking keys one by one"
                    );
                    return Ok(None);
                }
                budget -= 1;
                for object in page.contents() {
                    if let Some(key) = object.key().filter(|key| wanted.contains(key)) {
                        // A listing without sizes is not S3's: the keys are checked one by one.
                        let Some(size) = object.size().and_then(|s| u64::try_from(s).ok()) else {
                            tracing::debug!(bucket = %self.bucket, %key, "listed without a size; checking keys one by one");
                            return Ok(None);
                        };
                        found.insert(key.to_owned(), size);
                    }
                }
            }
        }
        tracing::debug!(bucket = %self.bucket, keys = keys.len(), found = found.len(), "existence checked by listing");
        Ok(Some(found))
    }

    /// Uploads `path` to `key` unless it exists (and `force` is off). Multipart above the
    /// threshold; an interrupted multipart upload is aborted.
    pub async fn upload_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        self.file(key, path, content_type, !self.options.force)
            .await
    }

    /// Uploads `path` to `key` without checking whether it exists: for callers that just
    /// checked with [`Uploader::exists`] (and built the file only because it was missing).
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        self.file(key, path, content_type, false).await
    }

    async fn file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        check_exists: bool,
    ) -> Result<Uploaded, UploadError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|source| UploadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if !meta.is_file() {
            return Err(UploadError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        self.upload(
            key,
            Source::File(path),
            meta.len(),
            content_type,
            check_exists,
        )
        .await
    }

    /// The object `key` (small state objects: read whole into memory), `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, UploadError> {
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send()
            .await;
        match res {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| UploadError::S3 {
                    op: "GetObject",
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    message: e.to_string(),
                })?;
                Ok(Some(body.to_vec()))
            }
            Err(err) => {
                let not_found =
                    matches!(&err, SdkError::ServiceError(e) if e.err().is_no_such_key());
                let status = err.raw_response().map(|r| r.status().as_u16());
                if not_found || status == Some(404) {
                    return Ok(None);
                }
                Err(self.map_err("GetObject", key, err))
            }
        }
    }

    /// Deletes the object `key` (absent is fine: S3 says 204 either way).
    pub async fn delete(&self, key: &str) -> Result<(), UploadError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.map_err("DeleteObject", key, e))?;
        Ok(())
    }

    /// Uploads bytes without checking whether the key exists (see [`Uploader::put_file`]).
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        self.bytes(key, bytes, content_type, false).await
    }

    /// Uploads bytes (templates) the same way.
    pub async fn upload_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        self.bytes(key, bytes, content_type, !self.options.force)
            .await
    }

    async fn bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        check_exists: bool,
    ) -> Result<Uploaded, UploadError> {
        let len = bytes.len() as u64;
        self.upload(
            key,
            Source::Bytes(bytes::Bytes::from(bytes)),
            len,
            content_type,
            check_exists,
        )
        .await
    }

    async fn upload(
        &self,
        key: &str,
        source: Source<'_>,
        size: u64,
        content_type: &str,
        check_exists: bool,
    ) -> Result<Uploaded, UploadError> {
        if check_exists && self.exists(key).await? {
            tracing::debug!(bucket = %self.bucket, %key, "already exists, skipping upload");
            return Ok(Uploaded::Skipped);
        }
        let threshold = nonzero_or_default(self.options.multipart_threshold);
        if size > threshold {
            self.multipart(key, &source, size, content_type).await?;
        } else {
            self.put_single(key, &source, size, content_type).await?;
        }
        tracing::debug!(bucket = %self.bucket, %key, bytes = size, "uploaded");
        Ok(Uploaded::Sent { bytes: size })
    }

    async fn put_single(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        content_type: &str,
    ) -> Result<(), UploadError> {
        let io = |source_err| UploadError::Io {
            path: source.path(),
            source: source_err,
        };
        let crc = source.crc32c(0, size).await.map_err(io)?;
        let body = source.body(0, size).await.map_err(io)?;
        // A checksum given as a header: the SDK then sends the body as it is, without the
        // aws-chunked encoding and its trailer, which some S3 implementations refuse.
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .checksum_crc32_c(&crc)
            .body(body);
        let out = self
            .apply_put_options(req, content_type)
            .send()
            .await
            .map_err(|e| self.map_err("PutObject", key, e))?;
        // S3 answers with the object's ETag and echoes the checksum it verified.
        if out.e_tag().is_none_or(str::is_empty) {
            return Err(self.not_s3("PutObject", key, "HTTP 200 without an ETag"));
        }
        if out.checksum_crc32_c() != Some(crc.as_str()) {
            return Err(self.not_s3(
                "PutObject",
                key,
                "the CRC32C checksum sent was not echoed (x-amz-checksum-crc32c)",
            ));
        }
        self.sent.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    fn apply_put_options(
        &self,
        req: PutObjectFluentBuilder,
        content_type: &str,
    ) -> PutObjectFluentBuilder {
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

    async fn multipart(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        content_type: &str,
    ) -> Result<(), UploadError> {
        let part_size = effective_part_size(self.options.part_size, size);
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
        tracing::debug!(bucket = %self.bucket, %key, %upload_id, size, part_size, "multipart upload started");
        // Dropped before the upload completed or aborted (the run was cancelled, or another
        // upload failed): the guard aborts it.
        let mut guard = OpenUpload {
            uploader: self,
            key,
            upload_id: &upload_id,
            armed: true,
        };
        let result = self
            .complete_or_abort(key, source, size, part_size, &upload_id)
            .await;
        guard.armed = false;
        result
    }

    async fn complete_or_abort(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        part_size: u64,
        upload_id: &str,
    ) -> Result<(), UploadError> {
        let upload_id = upload_id.to_owned();
        match self
            .send_parts(key, source, size, part_size, &upload_id)
            .await
        {
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

    /// The size of the object at `key` (HeadObject), `None` when it cannot be told.
    async fn stored_size(&self, key: &str) -> Option<u64> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send()
            .await
            .ok()?;
        out.content_length().and_then(|l| u64::try_from(l).ok())
    }

    /// Aborts an upload that is most likely gone already (completed): errors are expected.
    async fn abort_quietly(&self, key: &str, upload_id: &str) {
        let res = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send()
            .await;
        if let Err(e) = res {
            tracing::debug!(bucket = %self.bucket, %key, %upload_id, "abort: {}", aws_policy::describe(&e, self.timeout));
        }
    }

    /// Best effort, bounded by [`ABORT_TIMEOUT`]: a failed abort is logged (the bucket's
    /// lifecycle rules are the backstop).
    async fn abort(&self, key: &str, upload_id: &str) {
        let request = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.options.expected_owner.clone())
            .send();
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

    fn no_such_bucket(&self) -> UploadError {
        UploadError::NoSuchBucket {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
        }
    }

    fn map_err<E>(&self, op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> UploadError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let message = aws_policy::describe(&err, self.timeout);
        match code.as_deref() {
            Some("NoSuchBucket") => self.no_such_bucket(),
            Some("AccessDenied") => UploadError::AccessDenied {
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                message,
            },
            _ => UploadError::S3 {
                op,
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                message,
            },
        }
    }

    /// `s3://bucket/key`.
    pub fn s3_uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket(), key)
    }

    /// URL CloudFormation accepts for a nested template: with a custom endpoint
    /// `<endpoint>/<bucket>/<key>`, else `https://<bucket>.s3.<region>.amazonaws.com[.cn]/<key>`.
    pub fn https_url(&self, key: &str) -> String {
        https_url(self.endpoint.as_deref(), &self.bucket, &self.region, key)
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

/// The URL form of [`Uploader::https_url`], without a client.
pub fn https_url(endpoint: Option<&str>, bucket: &str, region: &str, key: &str) -> String {
    let key = encode_key(key);
    match endpoint {
        Some(e) => format!("{}/{bucket}/{key}", e.trim_end_matches('/')),
        None => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{bucket}.s3.{region}.{suffix}/{key}")
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn nonzero_or_default(v: u64) -> u64 {
    if v == 0 { DEFAULT_PART_SIZE } else { v }
}

/// Part size honouring S3's minimum and the 10,000-part limit.
fn effective_part_size(requested: u64, size: u64) -> u64 {
    nonzero_or_default(requested)
        .max(MIN_PART_SIZE)
        .max(size.div_ceil(MAX_PARTS))
}

fn metadata(o: &Options) -> Option<HashMap<String, String>> {
    (!o.metadata.is_empty()).then(|| {
        o.metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

fn sse(o: &Options) -> Option<ServerSideEncryption> {
    match &o.sse {
        None => None,
        Some(Sse::Aes256) => Some(ServerSideEncryption::Aes256),
        Some(Sse::Kms { .. }) => Some(ServerSideEncryption::AwsKms),
    }
}

fn kms_key(o: &Options) -> Option<String> {
    match &o.sse {
        Some(Sse::Kms { key_id }) => key_id.clone(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_matches_the_check_value() {
        // The CRC-32C (Castagnoli) check value of "123456789" (RFC 3720, B.4).
        assert_eq!(super::crc32c_of(b"123456789"), 0xE306_9283);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xx123456789yy").unwrap();
        assert_eq!(super::crc32c_of_file(&path, 2, 9).unwrap(), 0xE306_9283);
        assert!(super::crc32c_of_file(&path, 10, 9).is_err(), "short file");
    }

    use super::*;

    #[test]
    fn s3_urls_are_not_bucket_names() {
        assert!(check_bucket_name("artifacts").is_ok());
        assert!(check_bucket_name("s3-bucket.example").is_ok());
        let e = check_bucket_name("s3://x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bucket \"s3://x\" is an s3:// URL: a bucket name is expected (here \"x\")"
        );
        let e = check_bucket_name("S3://x/a/b/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bucket \"S3://x/a/b/\" is an s3:// URL: a bucket name is expected (here \"x\"), and the folder \"a/b\" goes in the key prefix (--s3-prefix)"
        );
    }

    fn uploader(region: Option<&str>, endpoint: Option<&str>) -> Uploader {
        let mut b = aws_config::SdkConfig::builder().behavior_version(BehaviorVersion::latest());
        if let Some(r) = region {
            b = b.region(Region::new(r.to_owned()));
        }
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        Uploader::from_sdk_config(&b.build(), "my-bucket", Options::default())
    }

    #[test]
    fn https_url_on_aws() {
        let u = uploader(Some("eu-west-1"), None);
        assert_eq!(u.endpoint(), None);
        assert_eq!(
            u.https_url("manual/addons/api/abc.yml"),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/manual/addons/api/abc.yml"
        );
    }

    #[test]
    fn https_url_in_china() {
        let u = uploader(Some("cn-north-1"), None);
        assert_eq!(
            u.https_url("k/x.yml"),
            "https://my-bucket.s3.cn-north-1.amazonaws.com.cn/k/x.yml"
        );
    }

    #[test]
    fn https_url_with_endpoint() {
        let u = uploader(Some("us-east-1"), Some("http://127.0.0.1:9000/"));
        assert_eq!(u.endpoint(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            u.https_url("a/b.yml"),
            "http://127.0.0.1:9000/my-bucket/a/b.yml"
        );
    }

    #[test]
    fn https_url_percent_encodes() {
        assert_eq!(
            https_url(None, "b", "us-west-2", "a b/c+d~e_f.g-h%"),
            "https://b.s3.us-west-2.amazonaws.com/a%20b/c%2Bd~e_f.g-h%25"
        );
        assert_eq!(
            https_url(Some("http://h"), "b", "r", "é"),
            "http://h/b/%C3%A9"
        );
    }

    #[test]
    fn region_defaults_when_absent() {
        assert_eq!(uploader(None, None).region(), "us-east-1");
        assert_eq!(uploader(Some("ap-south-1"), None).region(), "ap-south-1");
    }

    #[test]
    fn part_size_rules() {
        assert_eq!(effective_part_size(0, 100), DEFAULT_PART_SIZE);
        assert_eq!(effective_part_size(1, 100), MIN_PART_SIZE);
        assert_eq!(effective_part_size(6 << 20, 100), 6 << 20);
        let huge = 200 * 1024 * 1024 * 1024_u64;
        let ps = effective_part_size(MIN_PART_SIZE, huge);
        assert!(huge.div_ceil(ps) <= MAX_PARTS);
    }

    #[test]
    fn default_options() {
        let o = Options::default();
        assert!(o.owner_full_control_acl);
        assert_eq!(o.multipart_threshold, DEFAULT_PART_SIZE);
        assert!(!o.force);
    }

    #[test]
    fn sse_mapping() {
        let mut o = Options::default();
        assert_eq!(sse(&o), None);
        o.sse = Some(Sse::Aes256);
        assert_eq!(sse(&o), Some(ServerSideEncryption::Aes256));
        assert_eq!(kms_key(&o), None);
        o.sse = Some(Sse::Kms {
            key_id: Some("k".into()),
        });
        assert_eq!(sse(&o), Some(ServerSideEncryption::AwsKms));
        assert_eq!(kms_key(&o).as_deref(), Some("k"));
    }
}
