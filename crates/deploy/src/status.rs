//! Pure classification of CloudFormation statuses and reasons (no network).

/// What `deploy` does with a stack, given the status `DescribeStacks` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Absent, or `REVIEW_IN_PROGRESS` (a CREATE change set was never executed): CREATE.
    Create,
    /// `ROLLBACK_COMPLETE` / `ROLLBACK_FAILED`: the stack can only be deleted; delete it, then CREATE.
    Recreate,
    /// Any other settled status: UPDATE.
    Update,
    /// Some operation is running (`*_IN_PROGRESS`): refuse.
    Busy,
}

/// `status`: the stack's status, `None` when the stack does not exist.
pub(crate) fn plan(status: Option<&str>) -> Plan {
    match status {
        None | Some("REVIEW_IN_PROGRESS") => Plan::Create,
        Some("ROLLBACK_COMPLETE" | "ROLLBACK_FAILED") => Plan::Recreate,
        Some(s) if s.ends_with("_IN_PROGRESS") => Plan::Busy,
        Some(_) => Plan::Update,
    }
}

/// A status in which no operation runs on the stack (`REVIEW_IN_PROGRESS` is not terminal:
/// the stack waits for its first change set to be executed).
pub(crate) fn is_terminal(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// The terminal statuses of a successful create or update.
pub(crate) fn is_success(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// A resource or stack status that reports a failure.
pub(crate) fn is_failed(status: &str) -> bool {
    status.ends_with("_FAILED")
}

/// A change set (or `UpdateStack`) reason that means "the template and parameters equal what
/// is deployed". CloudFormation words it in two ways (aws-cli checks both).
pub(crate) fn is_no_change_reason(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Failure reasons that are a consequence of another failure, not a cause: resources whose
/// operation CloudFormation cancelled because a sibling failed.
pub(crate) fn is_noise_reason(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    lower.contains("resource creation cancelled")
        || lower.contains("resource update cancelled")
        || lower.contains("resource deletion cancelled")
        || lower.contains("resource handler returned message: \"null\"")
}

/// Summary reasons of a stack (root or nested) that only point at the failed resources
/// ("The following resource(s) failed to create: [X]", "Embedded stack ... was not successfully
/// created: ..."). Reported only when no resource gave a reason of its own.
pub(crate) fn is_summary_reason(reason: &str) -> bool {
    reason.starts_with("The following resource(s) failed")
        || reason.starts_with("Embedded stack")
        || reason.contains("was not successfully created")
        || reason.contains("was not successfully updated")
}

/// Is `id` a CloudFormation stack ARN (`arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>`)?
pub(crate) fn is_stack_arn(id: &str) -> bool {
    let mut parts = id.splitn(6, ':');
    parts.next() == Some("arn")
        && parts.next().is_some_and(|p| !p.is_empty())
        && parts.next() == Some("cloudformation")
        && parts.nth(2).is_some_and(|res| res.starts_with("stack/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_follows_copilot() {
        assert_eq!(plan(None), Plan::Create);
        assert_eq!(plan(Some("REVIEW_IN_PROGRESS")), Plan::Create);
        assert_eq!(plan(Some("ROLLBACK_COMPLETE")), Plan::Recreate);
        assert_eq!(plan(Some("ROLLBACK_FAILED")), Plan::Recreate);
        for busy in [
            "CREATE_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
            "IMPORT_IN_PROGRESS",
        ] {
            assert_eq!(plan(Some(busy)), Plan::Busy, "{busy}");
        }
        for update in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED",
            "UPDATE_FAILED",
            "CREATE_FAILED",
            "IMPORT_COMPLETE",
        ] {
            assert_eq!(plan(Some(update)), Plan::Update, "{update}");
        }
    }

    #[test]
    fn terminal_and_success() {
        assert!(is_terminal("CREATE_COMPLETE"));
        assert!(is_terminal("UPDATE_ROLLBACK_COMPLETE"));
        assert!(is_terminal("DELETE_COMPLETE"));
        assert!(!is_terminal("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(!is_terminal("REVIEW_IN_PROGRESS"));
        assert!(is_success("UPDATE_COMPLETE"));
        assert!(!is_success("UPDATE_ROLLBACK_COMPLETE"));
        assert!(!is_success("ROLLBACK_COMPLETE"));
        assert!(is_failed("CREATE_FAILED"));
        assert!(!is_failed("CREATE_COMPLETE"));
    }

    #[test]
    fn no_change_reasons() {
        assert!(is_no_change_reason(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_no_change_reason("No updates are to be performed."));
        assert!(!is_no_change_reason(
            "Template format error: Unresolved resource dependencies [X]"
        ));
        assert!(!is_no_change_reason(""));
    }

    #[test]
    fn noise_and_summaries() {
        assert!(is_noise_reason("Resource creation cancelled"));
        assert!(is_noise_reason("Resource update cancelled"));
        assert!(!is_noise_reason("Parameter validation failed"));
        assert!(is_summary_reason(
            "The following resource(s) failed to create: [Queue]. "
        ));
        assert!(is_summary_reason(
            "Embedded stack arn:aws:cloudformation:us-east-1:1:stack/a-B-1/x was not successfully created: boom"
        ));
        assert!(!is_summary_reason("Invalid type"));
    }

    #[test]
    fn stack_arns() {
        let arn =
            "arn:aws:cloudformation:us-east-1:000000000000:stack/app-test-AddonsStack-1X/5a0b-11";
        assert!(is_stack_arn(arn));
        assert!(!is_stack_arn("app-test-AddonsStack-1X"));
        assert!(!is_stack_arn("arn:aws:s3:::bucket"));
        assert!(!is_stack_arn(
            "arn:aws:cloudformation:us-east-1:1:changeSet/x/y"
        ));
    }
}
