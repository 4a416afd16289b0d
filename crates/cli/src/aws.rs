//! The AWS SDK config of this run, loaded once (`aws_policy::load_sdk_config`: the standard
//! chain, the retry policy, `--region`) and shared by every client the run builds: the S3
//! uploader, the CloudFormation and STS clients, Lambda's. `svc watch` keeps it for all its
//! rounds (its credentials provider caches and refreshes them).

use aws_policy::SdkConfig;
use tokio::sync::OnceCell;

use crate::args::AwsArgs;
use crate::report::Failure;

static SDK: OnceCell<SdkConfig> = OnceCell::const_new();

/// The run's SDK config, loaded on first use. Every command of a run has the same `aws`.
pub async fn sdk(aws: &AwsArgs) -> Result<&'static SdkConfig, Failure> {
    SDK.get_or_try_init(|| async {
        aws_policy::load_sdk_config(aws.region.clone())
            .await
            .ok_or(Failure::Deploy(deploy::DeployError::NoRegion))
    })
    .await
}

/// The CloudFormation (and STS) clients of the run.
pub async fn deployer(aws: &AwsArgs) -> Result<deploy::Deployer, Failure> {
    Ok(deploy::Deployer::from_sdk_config(sdk(aws).await?))
}
