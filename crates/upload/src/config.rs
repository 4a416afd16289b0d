//! Connecting: the S3 client built from the command's SDK config (endpoint, path-style
//! addressing, retry and timeouts), and the per-request [`Options`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::{DEFAULT_PART_SIZE, UploadError, Uploader, check_bucket_name};

/// Default deadline of one S3 request, all its attempts included (see
/// [`aws_policy::timeout_config`]): generous, as it includes sending the body (an 8 MiB part
/// at 250 kbit/s). A stalled upload or download is cut off earlier by the SDK's stalled-stream
/// protection. `COPILOT_LITE_HTTP_TIMEOUT` (seconds) overrides it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Server-side encryption requested for uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    Aes256,
    Kms { key_id: Option<String> },
}

/// Settings of every request that stores an object.
#[derive(Debug, Clone)]
pub struct Options {
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

    pub(crate) fn build(
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
}

pub(crate) fn metadata(o: &Options) -> Option<HashMap<String, String>> {
    (!o.metadata.is_empty()).then(|| {
        o.metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

pub(crate) fn sse(o: &Options) -> Option<ServerSideEncryption> {
    match &o.sse {
        None => None,
        Some(Sse::Aes256) => Some(ServerSideEncryption::Aes256),
        Some(Sse::Kms { .. }) => Some(ServerSideEncryption::AwsKms),
    }
}

pub(crate) fn kms_key(o: &Options) -> Option<String> {
    match &o.sse {
        Some(Sse::Kms { key_id }) => key_id.clone(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_uploader as uploader;

    #[test]
    fn region_defaults_when_absent() {
        assert_eq!(uploader(None, None).region(), "us-east-1");
        assert_eq!(uploader(Some("ap-south-1"), None).region(), "ap-south-1");
    }

    #[test]
    fn default_options() {
        let o = Options::default();
        assert!(o.owner_full_control_acl);
        assert_eq!(o.multipart_threshold, DEFAULT_PART_SIZE);
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
