//! The Lambda calls of a hotswap.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{LastUpdateStatus, PackageType};

use crate::HotswapError;
use crate::plan::S3Location;

/// Deadline of one Lambda request, its attempts included (`COPILOT_LITE_HTTP_TIMEOUT`
/// overrides it, see [`aws_policy::timeout_config`]).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Poll intervals while an update is in progress: the first short (an emulator, or a small
/// function, is done at once), then doubling up to the last (Lambda takes seconds).
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(1);
/// Bound on the wait for one update.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A Lambda client.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
}

/// When a [`Swap`] updates the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Unless the function's `CodeSha256` is this already (the new code is known).
    UnlessCodeIs(Option<String>),
    /// Only while the function's `CodeSha256` is this (it still runs hotswapped code).
    OnlyIfCodeIs(String),
}

/// One function to update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub logical_id: String,
    /// The physical name (or ARN).
    pub function: String,
    pub location: S3Location,
    pub condition: Condition,
}

/// What [`Lambda::swap`] did to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    /// Its code was updated; `code_sha256` is the new `CodeSha256`.
    Updated { code_sha256: String },
    /// The condition said no: it already runs that code (`code_sha256`).
    Skipped { code_sha256: String },
}

impl Lambda {
    /// A client from `sdk` (credentials, region, endpoints: `AWS_ENDPOINT_URL_LAMBDA` /
    /// `AWS_ENDPOINT_URL` apply), with the shared retry and deadline policy.
    pub fn new(sdk: &SdkConfig) -> Lambda {
        let mut conf = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(aws_policy::timeout_config(REQUEST_TIMEOUT));
        if let Some(retry) = aws_policy::retry_config() {
            conf = conf.retry_config(retry);
        }
        if sdk.behavior_version().is_none() {
            conf = conf.behavior_version(BehaviorVersion::latest());
        }
        Lambda {
            client: aws_sdk_lambda::Client::from_conf(conf.build()),
        }
    }

    /// The function's `CodeSha256` (base64 SHA-256 of its deployment package).
    pub async fn code_sha256(&self, function: &str) -> Result<String, HotswapError> {
        let conf = self.configuration(function).await?;
        if let Some(PackageType::Image) = conf.package_type() {
            return Err(HotswapError::NotZip {
                function: function.to_owned(),
                package_type: "Image".into(),
            });
        }
        Ok(conf.code_sha256().unwrap_or_default().to_owned())
    }

    /// Applies `swap`: reads the function's code hash, and unless its condition says no,
    /// updates the code from S3 and waits until Lambda reports the update finished.
    pub async fn swap(&self, swap: &Swap) -> Result<SwapOutcome, HotswapError> {
        let current = self.code_sha256(&swap.function).await?;
        let skip = match &swap.condition {
            Condition::UnlessCodeIs(Some(sha)) => *sha == current,
            Condition::UnlessCodeIs(None) => false,
            Condition::OnlyIfCodeIs(sha) => *sha != current,
        };
        if skip {
            tracing::info!(function = %swap.function, %current, "code already in place, not updated");
            return Ok(SwapOutcome::Skipped {
                code_sha256: current,
            });
        }
        let code_sha256 = self.update_code(&swap.function, &swap.location).await?;
        Ok(SwapOutcome::Updated { code_sha256 })
    }

    /// `UpdateFunctionCode` from `location`, then waits for `LastUpdateStatus` to leave
    /// `InProgress`. Returns the new `CodeSha256`.
    pub async fn update_code(
        &self,
        function: &str,
        location: &S3Location,
    ) -> Result<String, HotswapError> {
        tracing::info!(function, bucket = %location.bucket, key = %location.key, "UpdateFunctionCode");
        self.client
            .update_function_code()
            .function_name(function)
            .s3_bucket(&location.bucket)
            .s3_key(&location.key)
            .set_s3_object_version(location.version.clone())
            .send()
            .await
            .map_err(|e| lambda_error("UpdateFunctionCode", function, &e))?;
        let start = Instant::now();
        let mut poll = FIRST_POLL;
        loop {
            let conf = self.configuration(function).await?;
            match conf.last_update_status() {
                Some(LastUpdateStatus::InProgress) => {}
                Some(LastUpdateStatus::Failed) => {
                    return Err(HotswapError::UpdateFailed {
                        function: function.to_owned(),
                        reason: conf
                            .last_update_status_reason()
                            .unwrap_or("no reason given")
                            .to_owned(),
                    });
                }
                // Successful, or a Lambda that does not report it.
                _ => return Ok(conf.code_sha256().unwrap_or_default().to_owned()),
            }
            if start.elapsed() > UPDATE_TIMEOUT {
                return Err(HotswapError::Timeout {
                    function: function.to_owned(),
                    seconds: UPDATE_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(MAX_POLL);
        }
    }

    async fn configuration(
        &self,
        function: &str,
    ) -> Result<
        aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
        HotswapError,
    > {
        self.client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| lambda_error("GetFunctionConfiguration", function, &e))
    }
}

fn lambda_error<E>(op: &'static str, function: &str, e: &SdkError<E, HttpResponse>) -> HotswapError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    HotswapError::Lambda {
        op,
        function: function.to_owned(),
        code: e.code().map(str::to_owned),
        message: aws_policy::describe(e, aws_policy::request_timeout(REQUEST_TIMEOUT)),
    }
}
