//! What is in the bucket: existence and sizes (`HeadObject`, or one `ListObjectsV2` per folder
//! when many keys are checked at once), and reading and deleting small objects.

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::{UploadError, Uploader};

/// [`Uploader::existing`] lists from this many keys on; fewer are checked one by one.
pub const LIST_MIN_KEYS: usize = 16;
/// [`Uploader::existing`] gives up listing (and the caller checks key by key) beyond one
/// page of 1,000 objects per this many keys: listing must stay cheaper than the checks it
/// replaces, however many objects the bucket holds.
pub const KEYS_PER_PAGE: usize = 20;

impl Uploader {
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

    /// The size of the object at `key` (HeadObject), `None` when it cannot be told.
    pub(crate) async fn stored_size(&self, key: &str) -> Option<u64> {
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
}
