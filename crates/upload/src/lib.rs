//! Uploads artifacts to S3.
//!
//! Owns: the S3 client configuration (standard credential chain, custom endpoints with
//! path-style addressing, standard retry mode), the existence check (`HeadObject`, or one
//! `ListObjectsV2` per folder when many keys are checked at once), single-part and multipart
//! uploads with checksums (CRC32C, computed before sending and sent as a plain
//! `x-amz-checksum-crc32c` header on the object or each part) and bounded concurrency, the
//! upload of a file while another task writes it ([`Growing`]), aborting interrupted
//! multipart uploads, mapping S3 errors to [`UploadError`], object URLs.
//! Must not know about templates, zips, content hashing or the terminal (it logs through
//! `tracing` only), nor decide whether to skip a key (its callers do).
//!
//! Modules: `config` (connecting, [`Options`]), `exists` (what is in the bucket), `put` (the
//! entry point of every upload, single-part puts), `multipart` (parts, aborts), `url` (object
//! URLs), `error` ([`UploadError`]).

mod config;
mod error;
mod exists;
mod multipart;
mod put;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;

pub use aws_policy::{CONNECT_TIMEOUT, MAX_ATTEMPTS, TIMEOUT_ENV};
pub use config::{Connection, Options, READ_TIMEOUT, Sse};
pub use error::{UploadError, check_bucket_name};
pub use exists::{KEYS_PER_PAGE, LIST_MIN_KEYS};
pub use multipart::{
    ABORT_TIMEOUT, DEFAULT_PART_SIZE, Growing, MAX_PARTS, MIN_PART_SIZE, PART_CONCURRENCY,
    finish_aborts,
};
pub use put::Uploaded;
pub use url::https_url;

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

impl Uploader {
    /// Bytes stored so far by this uploader (and its clones): counted per object for
    /// single-part uploads, per part for multipart ones; for progress displays.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
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
}

/// An uploader for unit tests: `region` and `endpoint` as an SDK config would give them.
#[cfg(test)]
fn test_uploader(region: Option<&str>, endpoint: Option<&str>) -> Uploader {
    use aws_config::{BehaviorVersion, Region};
    let mut b = aws_config::SdkConfig::builder().behavior_version(BehaviorVersion::latest());
    if let Some(r) = region {
        b = b.region(Region::new(r.to_owned()));
    }
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    Uploader::build(&b.build(), None, "my-bucket", Options::default())
}
