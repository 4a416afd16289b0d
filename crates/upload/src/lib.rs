//! Uploads artifacts to S3.
//!
//! Owns: the S3 client configuration (standard credential chain, custom endpoints with
//! path-style addressing), the existence check (`HeadObject`), single-part and multipart
//! uploads with checksums and bounded concurrency, object URLs. Must not know about templates,
//! zips, or the terminal.
//!
//! API CONTRACT (implementation in progress).

use std::collections::BTreeMap;
use std::path::Path;

/// Server-side encryption requested for uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    Aes256,
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--force-upload`: upload even when the key exists.
    pub force: bool,
    pub sse: Option<Sse>,
    pub metadata: BTreeMap<String, String>,
    /// `ExpectedBucketOwner` on every request, when known.
    pub expected_owner: Option<String>,
    /// Send `x-amz-acl: bucket-owner-full-control` (default true).
    pub owner_full_control_acl: bool,
    /// Parts above this size use multipart (default 8 MiB).
    pub multipart_threshold: u64,
    pub part_size: u64,
}

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Region override (`--region`), else the SDK chain.
    pub region: Option<String>,
    /// Endpoint override; else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` from the SDK chain.
    pub endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("bucket {bucket} does not exist (or is not in region {region})")]
    NoSuchBucket { bucket: String, region: String },
    #[error("access denied to s3://{bucket}/{key}: {message}")]
    AccessDenied { bucket: String, key: String, message: String },
    #[error("{op} s3://{bucket}/{key}: {message}")]
    S3 { op: &'static str, bucket: String, key: String, message: String },
    #[error("reading {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// Outcome of [`Uploader::upload_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploaded {
    /// The key already existed (HeadObject 200) and `force` is off: nothing sent.
    Skipped,
    /// Bytes sent.
    Sent { bytes: u64 },
}

/// An S3 client bound to one bucket.
#[derive(Debug, Clone)]
pub struct Uploader {
    _private: (),
}

impl Uploader {
    /// Builds a client from the AWS SDK's standard chain plus `conn` overrides.
    pub async fn connect(conn: &Connection, bucket: &str, options: Options) -> Result<Uploader, UploadError> {
        let _ = (conn, bucket, options);
        todo!()
    }
    /// Builds from an existing SDK config (tests).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, bucket: &str, options: Options) -> Uploader {
        let _ = (config, bucket, options);
        todo!()
    }
    pub fn bucket(&self) -> &str {
        todo!()
    }
    /// Region the client uses.
    pub fn region(&self) -> &str {
        todo!()
    }
    /// Whether `key` exists (HeadObject). 404 = false; 403 = false with a warning logged.
    pub async fn exists(&self, key: &str) -> Result<bool, UploadError> {
        let _ = key;
        todo!()
    }
    /// Uploads `path` to `key` unless it exists (and `force` is off). Multipart above the
    /// threshold; an interrupted multipart upload is aborted.
    pub async fn upload_file(&self, key: &str, path: &Path, content_type: &str) -> Result<Uploaded, UploadError> {
        let _ = (key, path, content_type);
        todo!()
    }
    /// Uploads bytes (templates) the same way.
    pub async fn upload_bytes(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<Uploaded, UploadError> {
        let _ = (key, bytes, content_type);
        todo!()
    }
    /// `s3://bucket/key`.
    pub fn s3_uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket(), key)
    }
    /// URL CloudFormation accepts for a nested template: with a custom endpoint
    /// `<endpoint>/<bucket>/<key>`, else `https://<bucket>.s3.<region>.amazonaws.com[.cn]/<key>`.
    pub fn https_url(&self, key: &str) -> String {
        let _ = key;
        todo!()
    }
}
