use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

/// Why a deployment (or a query) did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Neither the explicit region nor the SDK chain (env, profile, IMDS) gave a region.
    #[error("no AWS region: pass --region or set AWS_REGION")]
    NoRegion,
    /// An operation is running on the stack.
    #[error("stack {stack} is being updated ({status}); wait for it to finish")]
    Busy { stack: String, status: String },
    #[error("stack {stack} does not exist")]
    StackNotFound { stack: String },
    #[error("stack {stack} has no output {output}")]
    MissingOutput { stack: String, output: String },
    /// A stack that [`crate::Deployer::ensure_stack_output`] would deploy exists without the
    /// output: it is someone else's.
    #[error(
        "stack {stack} exists in status {status} without output {output}; refusing to overwrite it"
    )]
    NotOurs {
        stack: String,
        status: String,
        output: String,
    },
    /// The change set could not be created (template or parameter errors, ...).
    #[error("change set {change_set} of stack {stack} {status}: {reason}")]
    ChangeSet {
        stack: String,
        change_set: String,
        status: String,
        reason: String,
    },
    /// The stack ended in a failure status; `reasons` are the first failed events' reasons
    /// as `(logical id, reason)`, causes before consequences.
    #[error(
        "stack {stack} did not complete successfully and exited with status {status}{}",
        Reasons(reasons)
    )]
    Failed {
        stack: String,
        status: String,
        reasons: Vec<(String, String)>,
    },
    /// The stack can only be deleted (`ROLLBACK_COMPLETE`, `ROLLBACK_FAILED`) and the request
    /// does not allow re-creating it.
    #[error(
        "stack {stack} is {status}: it can only be deleted and created again, which copilot-lite does only to its own stacks"
    )]
    NotRecreated { stack: String, status: String },
    /// The change-set guard: the change set would touch resources outside `allowed`; it was
    /// deleted, nothing was executed.
    #[error(
        "refused to execute the change set of stack {stack}: it would change resources other than {}{}; the change set was deleted and nothing was changed",
        allowed.join(", "),
        Changes(refused)
    )]
    Guarded {
        stack: String,
        allowed: Vec<String>,
        refused: Vec<crate::ResourceChange>,
    },
    /// Cancelled by the caller: the running create was deleted or the update rolled back.
    #[error("deployment of stack {stack} cancelled; final status {final_status}")]
    Cancelled { stack: String, final_status: String },
    /// The stack stayed in `status` (settled, not deleted) after `requests` `DeleteStack`
    /// requests.
    #[error(
        "stack {stack} was not deleted: it settled in {status} after {requests} delete requests; delete it again once it is settled"
    )]
    NotDeleted {
        stack: String,
        status: String,
        requests: u32,
    },
    #[error("timed out after {}s waiting for {what} of stack {stack}", waited.as_secs())]
    Timeout {
        stack: String,
        what: &'static str,
        waited: Duration,
    },
    /// A CloudFormation / STS call failed.
    #[error("{op} {stack}: {message}")]
    Aws {
        op: &'static str,
        stack: String,
        /// The service's error code (`ValidationError`, `Throttling`, ...), when it sent one.
        code: Option<String>,
        message: String,
    },
}

struct Changes<'a>(&'a [crate::ResourceChange]);

impl fmt::Display for Changes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{} {} ({})", c.action, c.logical_id, c.resource_type)?;
            if c.replacement.as_deref() == Some("True") {
                f.write_str(", replaced")?;
            }
        }
        Ok(())
    }
}

struct Reasons<'a>(&'a [(String, String)]);

impl fmt::Display for Reasons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (logical_id, reason)) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{logical_id}: {reason}")?;
        }
        Ok(())
    }
}

impl DeployError {
    pub(crate) fn aws<E>(
        op: &'static str,
        stack: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> DeployError
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let message = aws_policy::describe(err, aws_policy::request_timeout(crate::READ_TIMEOUT));
        DeployError::Aws {
            op,
            stack: stack.to_owned(),
            code,
            message,
        }
    }
}

/// "Stack with id X does not exist" (a `ValidationError`), as DescribeStacks & co. report a
/// missing stack.
pub(crate) fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.message().is_some_and(|m| m.contains("does not exist"))
        && err.code().is_none_or(|c| c == "ValidationError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_lists_reasons() {
        let e = DeployError::Failed {
            stack: "s".into(),
            status: "ROLLBACK_COMPLETE".into(),
            reasons: vec![
                ("Param".into(), "bad type".into()),
                ("Queue".into(), "quota".into()),
            ],
        };
        assert_eq!(
            e.to_string(),
            "stack s did not complete successfully and exited with status ROLLBACK_COMPLETE: Param: bad type; Queue: quota"
        );
        let e = DeployError::Failed {
            stack: "s".into(),
            status: "UPDATE_ROLLBACK_COMPLETE".into(),
            reasons: vec![],
        };
        assert_eq!(
            e.to_string(),
            "stack s did not complete successfully and exited with status UPDATE_ROLLBACK_COMPLETE"
        );
    }
}
