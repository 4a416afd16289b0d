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

/// How many `DeleteStack` requests a deletion may take before it is given up: the first, plus
/// the repeats sent when the stack settles in a status that is not a deletion.
pub(crate) const MAX_DELETE_REQUESTS: u32 = 3;
/// Consecutive polls that must see a settled status that is not a deletion before the delete is
/// taken as not having happened (one poll may still show the status from before the request).
pub(crate) const SETTLED_POLLS: u32 = 2;

/// Polls after `DELETE_COMPLETE` that must show the stack still deleted, with no new event,
/// when the deletion raced a creation (a cancelled create): an emulator (LocalStack) reports the
/// deletion complete while the creation it was meant to stop goes on writing events, and the
/// stack then ends `CREATE_COMPLETE`. On AWS nothing follows `DELETE_COMPLETE`: two more polls.
pub(crate) const CONFIRM_POLLS: u32 = 2;

/// What to do next while waiting for a stack to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteStep {
    /// The deletion ended (`DELETE_COMPLETE`, or `DELETE_FAILED`, which the caller reports).
    Done,
    /// Something is still running (the deletion, or the operation it raced with): keep polling.
    Wait,
    /// The stack settled without being deleted (it finished its creation, or the request was
    /// refused): it is deletable now, so send `DeleteStack` again.
    RequestAgain,
    /// The stack stayed settled after [`MAX_DELETE_REQUESTS`] requests: stop waiting.
    GiveUp,
}

/// Follows a stack after `DeleteStack` was sent, one status per poll, so that a deletion that
/// did not take is noticed at once instead of at the end of the wait's timeout: an emulator that
/// lets the creation run on after the deletion (LocalStack), or a stack that settled before the
/// request reached it.
#[derive(Debug, Clone)]
pub(crate) struct DeleteWatch {
    requests: u32,
    settled: u32,
    /// Quiet polls required after `DELETE_COMPLETE` ([`CONFIRM_POLLS`] when racing a creation).
    confirm: u32,
    quiet: u32,
}

impl DeleteWatch {
    /// After the first `DeleteStack` request of a settled stack.
    pub(crate) fn new() -> DeleteWatch {
        DeleteWatch {
            requests: 1,
            settled: 0,
            confirm: 0,
            quiet: 0,
        }
    }

    /// After the first `DeleteStack` request of a stack being created (a cancelled create):
    /// `DELETE_COMPLETE` counts only once [`CONFIRM_POLLS`] more polls show it with no new
    /// event.
    pub(crate) fn racing_a_creation() -> DeleteWatch {
        DeleteWatch {
            confirm: CONFIRM_POLLS,
            ..DeleteWatch::new()
        }
    }

    /// `DeleteStack` requests sent so far.
    pub(crate) fn requests(&self) -> u32 {
        self.requests
    }

    /// The stack's status at this poll (`DELETE_COMPLETE` when it is gone) and the number of
    /// new events the poll read.
    pub(crate) fn step(&mut self, status: &str, new_events: usize) -> DeleteStep {
        if status == "DELETE_FAILED" {
            return DeleteStep::Done;
        }
        if status == "DELETE_COMPLETE" {
            self.settled = 0;
            // The poll that first shows the deletion complete reads its own events.
            if self.quiet > 0 && new_events > 0 {
                self.quiet = 1;
                return DeleteStep::Wait;
            }
            if self.quiet >= self.confirm {
                return DeleteStep::Done;
            }
            self.quiet += 1;
            return DeleteStep::Wait;
        }
        self.quiet = 0;
        // REVIEW_IN_PROGRESS: no operation runs (the stack waits for a change set), so it counts
        // as settled here.
        if !is_terminal(status) && status != "REVIEW_IN_PROGRESS" {
            self.settled = 0;
            return DeleteStep::Wait;
        }
        self.settled += 1;
        if self.settled < SETTLED_POLLS {
            return DeleteStep::Wait;
        }
        if self.requests >= MAX_DELETE_REQUESTS {
            return DeleteStep::GiveUp;
        }
        self.requests += 1;
        self.settled = 0;
        DeleteStep::RequestAgain
    }
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
    /// The LocalStack race of a cancelled create: the deletion is accepted, the creation goes on
    /// and the stack ends `CREATE_COMPLETE`. The delete is asked again once the stack has
    /// settled, and the watch ends with the deletion.
    #[test]
    fn a_delete_that_did_not_take_is_asked_again() {
        let mut w = DeleteWatch::new();
        let seen: Vec<DeleteStep> = [
            "CREATE_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
            "CREATE_COMPLETE",
            "CREATE_COMPLETE",
            "DELETE_IN_PROGRESS",
            "DELETE_COMPLETE",
        ]
        .iter()
        .map(|s| w.step(s, 1))
        .collect();
        use DeleteStep::*;
        assert_eq!(
            seen,
            [Wait, Wait, Wait, Wait, RequestAgain, Wait, Done],
            "one settled poll may predate the request; the second asks again"
        );
        assert_eq!(w.requests(), 2);
    }

    #[test]
    fn a_stack_that_never_deletes_is_given_up_after_the_last_request() {
        let mut w = DeleteWatch::new();
        let mut steps = Vec::new();
        for _ in 0..(SETTLED_POLLS * MAX_DELETE_REQUESTS) {
            steps.push(w.step("ROLLBACK_COMPLETE", 0));
        }
        let again = steps
            .iter()
            .filter(|s| **s == DeleteStep::RequestAgain)
            .count();
        assert_eq!(again as u32, MAX_DELETE_REQUESTS - 1);
        assert_eq!(steps.last(), Some(&DeleteStep::GiveUp));
        assert_eq!(w.requests(), MAX_DELETE_REQUESTS);
        // Never waits forever, whatever the stack keeps saying.
        assert_eq!(w.step("ROLLBACK_COMPLETE", 0), DeleteStep::GiveUp);
    }

    #[test]
    fn a_running_deletion_is_waited_for_and_failures_end_the_watch() {
        let mut w = DeleteWatch::new();
        for _ in 0..100 {
            assert_eq!(w.step("DELETE_IN_PROGRESS", 1), DeleteStep::Wait);
        }
        assert_eq!(w.step("DELETE_FAILED", 1), DeleteStep::Done);
        assert_eq!(w.requests(), 1);
        // A settled poll, then activity again: the count of settled polls starts over.
        let mut w = DeleteWatch::new();
        assert_eq!(w.step("UPDATE_COMPLETE", 0), DeleteStep::Wait);
        assert_eq!(w.step("DELETE_IN_PROGRESS", 1), DeleteStep::Wait);
        assert_eq!(w.step("UPDATE_COMPLETE", 0), DeleteStep::Wait);
        assert_eq!(w.step("UPDATE_COMPLETE", 0), DeleteStep::RequestAgain);
    }

    /// The race seen on LocalStack: the deletion reports DELETE_COMPLETE while the creation goes
    /// on (new events), then the stack ends CREATE_COMPLETE. Racing a creation, the watch does
    /// not believe the first DELETE_COMPLETE, sees the creation end, asks again, and ends only
    /// after quiet polls.
    #[test]
    fn a_deletion_that_a_creation_outran_is_asked_again() {
        use DeleteStep::*;
        let mut w = DeleteWatch::racing_a_creation();
        let seen: Vec<DeleteStep> = [
            ("DELETE_IN_PROGRESS", 2),
            ("DELETE_COMPLETE", 1),
            ("DELETE_COMPLETE", 3), // resources still being created
            ("DELETE_COMPLETE", 2),
            ("CREATE_COMPLETE", 1),
            ("CREATE_COMPLETE", 0),
            ("DELETE_IN_PROGRESS", 5),
            ("DELETE_COMPLETE", 4),
            ("DELETE_COMPLETE", 0),
            ("DELETE_COMPLETE", 0),
        ]
        .iter()
        .map(|(s, n)| w.step(s, *n))
        .collect();
        assert_eq!(
            seen,
            [
                Wait,
                Wait,
                Wait,
                Wait,
                Wait,
                RequestAgain,
                Wait,
                Wait,
                Wait,
                Done
            ]
        );
        assert_eq!(w.requests(), 2);
        // A plain deletion believes DELETE_COMPLETE at once.
        assert_eq!(DeleteWatch::new().step("DELETE_COMPLETE", 3), Done);
        // Racing a creation on AWS: two quiet polls more.
        let mut w = DeleteWatch::racing_a_creation();
        assert_eq!(w.step("DELETE_COMPLETE", 2), Wait);
        assert_eq!(w.step("DELETE_COMPLETE", 0), Wait);
        assert_eq!(w.step("DELETE_COMPLETE", 0), Done);
    }
}
