//! Deploys CloudFormation stacks through change sets.
//!
//! Owns: the CloudFormation client configuration (standard credential chain, region, custom
//! endpoints), the create-or-update decision (a `ROLLBACK_COMPLETE` stack is deleted and
//! re-created when the request allows it, a busy stack is refused), change set creation,
//! parameters kept with `UsePreviousValue`, the change-set guard (a change set that would touch
//! a resource outside [`StackRequest::allowed_changes`] is deleted, never executed), waiting
//! and execution, empty
//! change sets (reported as [`Outcome::NoChanges`] and deleted, including the failed empty
//! *nested* change sets that `IncludeNestedStacks` leaves behind, aws/copilot-cli#4426), the
//! live stream of stack events of the root and nested stacks, failure reasons, cancellation
//! (delete a stack being created, `CancelUpdateStack` an update), stack deletion, what a
//! deployed stack is (status, tags, parameters, outputs, template: [`Deployer::stack`]),
//! outputs of a stack set's instance, and a stack deployed once for an output
//! ([`Deployer::ensure_stack_output`]).
//!
//! Must not know about: Copilot's or copilot-lite's conventions (stack names, tags, which
//! stacks are whose: the `copilot-model` crate), how templates are packaged or uploaded (it
//! gets a template URL or body), workspaces and manifests, command-line flags, or the
//! terminal. Progress goes to a [`DeployObserver`]; logs go to `tracing` only.

mod compare;
mod deploy;
mod error;
mod events;
mod status;

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use compare::what_changes;
pub use error::DeployError;
pub use tokio_util::sync::CancellationToken;

pub use aws_policy::{CONNECT_TIMEOUT, MAX_ATTEMPTS, TIMEOUT_ENV};

/// Default deadline of one CloudFormation/STS request, all its attempts included (see
/// [`aws_policy::timeout_config`]), so that a silent endpoint fails the request instead of
/// hanging. `COPILOT_LITE_HTTP_TIMEOUT` (seconds) overrides it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Poll interval against AWS (change set status, stack events).
pub const AWS_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Poll interval when a custom endpoint (LocalStack) is configured.
pub const LOCAL_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Default bound on each wait (change set creation, stack operation), as Copilot's 90 min.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90 * 60);

/// Where the template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// An `https://` (or custom endpoint) URL of the uploaded template.
    Url(String),
    /// The template text (CloudFormation limits it to 51,200 bytes).
    Body(String),
}

/// The capabilities of every change set: the templates deployed may name IAM resources and
/// use transforms (nested stacks, `AWS::Serverless`).
pub const CAPABILITIES: [&str; 3] = [
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

/// One deployment. Capabilities are always [`CAPABILITIES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRequest {
    pub stack_name: String,
    pub template: Template,
    pub parameters: Vec<(String, String)>,
    /// Parameters passed with `UsePreviousValue` (the deployed value is kept).
    pub previous_parameters: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// `IncludeNestedStacks` on the change set (default true).
    pub include_nested_stacks: bool,
    /// `DisableRollback` on execution (`--no-rollback`).
    pub disable_rollback: bool,
    /// Return [`Outcome::Detached`] right after executing the change set.
    pub detach: bool,
    /// The change-set guard: when set, a change set that would add, modify, replace or remove
    /// any resource whose logical ID is not listed is deleted, not executed
    /// ([`DeployError::Guarded`]).
    pub allowed_changes: Option<Vec<String>>,
    /// Whether a stack that can only be deleted (`ROLLBACK_COMPLETE`, `ROLLBACK_FAILED`) may be
    /// deleted and created again (default true). When false, such a stack is refused.
    pub recreate: bool,
}

impl StackRequest {
    pub fn new(stack_name: impl Into<String>, template: Template) -> StackRequest {
        StackRequest {
            stack_name: stack_name.into(),
            template,
            parameters: Vec::new(),
            previous_parameters: Vec::new(),
            tags: Vec::new(),
            include_nested_stacks: true,
            disable_rollback: false,
            detach: false,
            allowed_changes: None,
            recreate: true,
        }
    }
}

/// How a successful [`Deployer::deploy`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The template and parameters equal the deployed ones; the empty change set was deleted.
    NoChanges,
    /// The stack was created (`CREATE_COMPLETE`).
    Created,
    /// The stack was updated (`UPDATE_COMPLETE`).
    Updated,
    /// The change set was executed and not waited for (`detach`).
    Detached,
}

/// One stack event (root or nested stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    /// Name of the stack the event belongs to (a nested stack's own name for its events).
    pub stack: String,
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `UPDATE_FAILED`, ...
    pub status: String,
    pub reason: Option<String>,
    pub timestamp: SystemTime,
}

/// What `DescribeStacks` says of a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackDescription {
    /// The stack ARN.
    pub id: String,
    pub status: String,
    pub tags: Vec<(String, String)>,
    /// Parameter keys and values (`****` for `NoEcho` ones), in the order listed.
    pub parameters: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    /// The capabilities it was deployed with.
    pub capabilities: Vec<String>,
}

/// One resource of a stack (`ListStackResources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    /// Empty while it is being created.
    pub physical_id: String,
    pub resource_type: String,
    pub status: String,
}

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False`, `Conditional` for `Modify`.
    pub replacement: Option<String>,
}

/// Steps of a deployment, for spinners and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Deleting a stack: one in `ROLLBACK_COMPLETE`/`ROLLBACK_FAILED` before re-creating it,
    /// or on [`Deployer::delete_stack`]. `status` is its status before.
    DeletingStack { stack: String, status: String },
    /// Creating change set `change_set` (`create`: a CREATE change set, else UPDATE).
    CreatingChangeSet {
        stack: String,
        change_set: String,
        create: bool,
    },
    /// The change set is ready; about to execute it.
    Executing {
        stack: String,
        change_set: String,
        changes: Vec<ResourceChange>,
    },
    /// The change set was empty and has been deleted.
    NoChanges { stack: String, change_set: String },
    /// Failed empty change sets deleted (root and nested stacks).
    CleanedUpChangeSets { stack: String, deleted: usize },
    /// Cancellation requested while the stack was in `status`: deleting the stack being
    /// created, or cancelling the update (`CancelUpdateStack`); the rollback is streamed.
    Cancelling { stack: String, status: String },
    /// The stack settled in `status` (not a deletion) after `DeleteStack`: the creation it was
    /// meant to stop went on, or the request did not take. Deleting it again.
    DeletingAgain { stack: String, status: String },
    /// The cancellation came too late: the operation finished in `status` (a success) before it
    /// could be stopped; the stack stays as deployed.
    CancelTooLate { stack: String, status: String },
    /// Deploying a stack for one of its outputs ([`Deployer::ensure_stack_output`]).
    CreatingStackFor { stack: String, output: String },
    /// The change-set guard refused the change set (it is being deleted).
    Guarded {
        stack: String,
        refused: Vec<ResourceChange>,
    },
}

/// Receives progress. Called from the deploying task; must not block for long.
pub trait DeployObserver: Sync {
    fn phase(&self, _phase: &Phase) {}
    /// Stack events, in chronological order, root and nested stacks interleaved.
    fn event(&self, _event: &StackEvent) {}
}

/// An observer that ignores everything.
impl DeployObserver for () {}

/// A CloudFormation client plus the waiting policy.
#[derive(Debug, Clone)]
pub struct Deployer {
    sdk: SdkConfig,
    cfn: aws_sdk_cloudformation::Client,
    sts: aws_sdk_sts::Client,
    region: String,
    endpoint: Option<String>,
    poll_interval: Duration,
    timeout: Duration,
}

impl Deployer {
    /// The clients of `sdk` (loaded once per run by [`aws_policy::load_sdk_config`]); the
    /// CloudFormation endpoint is the one the config names for it
    /// (`AWS_ENDPOINT_URL_CLOUDFORMATION` / `AWS_ENDPOINT_URL` / profile settings); without a
    /// region, `us-east-1`.
    pub fn from_sdk_config(sdk: &SdkConfig) -> Deployer {
        let endpoint = aws_policy::service_endpoint(sdk, "CloudFormation")
            .map(|e| e.trim_end_matches('/').to_owned())
            .filter(|e| !e.is_empty());
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
        let mut cfn = aws_sdk_cloudformation::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .timeout_config(aws_policy::timeout_config(READ_TIMEOUT));
        let mut sts = aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .timeout_config(aws_policy::timeout_config(READ_TIMEOUT));
        if let Some(retry) = aws_policy::retry_config() {
            cfn = cfn.retry_config(retry.clone());
            sts = sts.retry_config(retry);
        }
        if sdk.behavior_version().is_none() {
            cfn = cfn.behavior_version(BehaviorVersion::latest());
            sts = sts.behavior_version(BehaviorVersion::latest());
        }
        if let Some(e) = &endpoint {
            cfn = cfn.endpoint_url(e.clone());
        }
        tracing::debug!(%region, endpoint = ?endpoint, "CloudFormation client configured");
        Deployer {
            sdk: sdk.clone(),
            cfn: aws_sdk_cloudformation::Client::from_conf(cfn.build()),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            poll_interval: if endpoint.is_some() {
                LOCAL_POLL_INTERVAL
            } else {
                AWS_POLL_INTERVAL
            },
            region,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Poll interval of every wait (default: 5 s on AWS, 0.5 s with a custom endpoint).
    pub fn with_poll_interval(mut self, interval: Duration) -> Deployer {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Bound of each wait (change set creation, stack operation); default 90 min.
    pub fn with_timeout(mut self, timeout: Duration) -> Deployer {
        self.timeout = timeout;
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK configuration the clients were built from (credentials, region, endpoints),
    /// for the clients of other services in the same run.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// Custom CloudFormation endpoint in effect, `None` when talking to AWS.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The caller's account (STS `GetCallerIdentity`).
    pub async fn account_id(&self) -> Result<String, DeployError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| DeployError::aws("GetCallerIdentity", "", &e))?;
        out.account()
            .map(str::to_owned)
            .ok_or_else(|| DeployError::Aws {
                op: "GetCallerIdentity",
                stack: String::new(),
                code: None,
                message: "no account in the response".into(),
            })
    }
}
