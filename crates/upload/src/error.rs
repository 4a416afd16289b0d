//! [`UploadError`], and how S3's answers map to it.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::Uploader;

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
    /// A file uploaded while it was being written ([`crate::Uploader::put_growing`]) was never
    /// completed (its writer failed or stopped): nothing was stored (a multipart upload begun
    /// for it was aborted).
    #[error("s3://{bucket}/{key}: the file to upload was not completed")]
    Incomplete { bucket: String, key: String },
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

impl Uploader {
    /// The endpoint for messages: the custom one, else AWS's regional S3 endpoint.
    pub(crate) fn endpoint_for_messages(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    pub(crate) fn not_s3(
        &self,
        op: &'static str,
        key: &str,
        problem: impl Into<String>,
    ) -> UploadError {
        UploadError::NotS3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            endpoint: self.endpoint_for_messages(),
            problem: problem.into(),
        }
    }

    pub(crate) fn no_such_bucket(&self) -> UploadError {
        UploadError::NoSuchBucket {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
        }
    }

    pub(crate) fn map_err<E>(
        &self,
        op: &'static str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> UploadError
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
}

#[cfg(test)]
mod tests {
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
}
