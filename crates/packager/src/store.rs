//! Where packaged objects go: [`Store`], the few calls packaging makes of a bucket. The S3
//! uploader ([`upload::Uploader`]) is the store of the product; tests use an in-memory one.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use tokio::sync::watch;
use upload::{Growing, UploadError, Uploaded, Uploader};

/// A bucket as packaging sees it: its name and URLs (pure: rendering needs no network), which
/// keys exist, and uploads that do not check first (packaging checked already).
pub trait Store: Sync {
    /// The bucket's name.
    fn bucket(&self) -> &str;
    /// `s3://bucket/key`.
    fn s3_uri(&self, key: &str) -> String;
    /// The HTTPS URL CloudFormation reads `key` from.
    fn https_url(&self, key: &str) -> String;
    /// The sizes of those of `keys` that exist, when the store can list them at once; `None`
    /// when each key is to be asked with [`Store::size`].
    fn existing(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Option<HashMap<String, u64>>, UploadError>> + Send;
    /// The size of the object at `key`, `None` when there is none.
    fn size(&self, key: &str) -> impl Future<Output = Result<Option<u64>, UploadError>> + Send;
    /// Stores `bytes` at `key`.
    fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send;
    /// Stores the file at `path` at `key`.
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send;
    /// Stores at `key` a file another task is still writing, followed on `file` (at most
    /// `size_bound` bytes); see [`Uploader::put_growing`], which sends it while it is written.
    /// By default: waits for the file to be complete, then [`Store::put_file`].
    fn put_growing(
        &self,
        key: &str,
        content_type: &'static str,
        size_bound: u64,
        mut file: watch::Receiver<Growing>,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        let _ = size_bound;
        async move {
            let complete = file
                .wait_for(|g| g.complete && g.path.is_some())
                .await
                .map(|g| g.path.clone());
            match complete {
                Ok(Some(path)) => self.put_file(key, &path, content_type).await,
                _ => Err(UploadError::Incomplete {
                    bucket: self.bucket().to_owned(),
                    key: key.to_owned(),
                }),
            }
        }
    }
}

impl Store for Uploader {
    fn bucket(&self) -> &str {
        Uploader::bucket(self)
    }
    fn s3_uri(&self, key: &str) -> String {
        Uploader::s3_uri(self, key)
    }
    fn https_url(&self, key: &str) -> String {
        Uploader::https_url(self, key)
    }
    fn existing(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Option<HashMap<String, u64>>, UploadError>> + Send {
        Uploader::existing(self, keys)
    }
    fn size(&self, key: &str) -> impl Future<Output = Result<Option<u64>, UploadError>> + Send {
        Uploader::size(self, key)
    }
    fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        Uploader::put_bytes(self, key, bytes, content_type)
    }
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        Uploader::put_file(self, key, path, content_type)
    }
    fn put_growing(
        &self,
        key: &str,
        content_type: &'static str,
        size_bound: u64,
        file: watch::Receiver<Growing>,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        Uploader::put_growing(self, key, content_type, size_bound, file)
    }
}
