//! Streaming of stack events (root and nested stacks) in chronological order.

use std::collections::HashSet;
use std::time::SystemTime;

use aws_sdk_cloudformation::Client;

use crate::error::{DeployError, is_not_found};
use crate::status::{is_failed, is_noise_reason, is_stack_arn, is_summary_reason, is_terminal};
use crate::{DeployObserver, StackEvent};

/// Pages of `DescribeStackEvents` read per stack and poll at most (100 events a page): more
/// than that between two polls only happens on the first poll of a huge stack.
const MAX_PAGES: usize = 10;
const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

#[derive(Debug)]
struct Tracked {
    /// Stack ARN (or name for the root before its ARN is known).
    id: String,
    seen: HashSet<String>,
    /// Polled while active; a nested stack becomes inactive when its own terminal event
    /// arrives, and active again when its parent reports a new event about it.
    active: bool,
}

/// Remembers seen event IDs per stack, follows nested stacks, and collects failure reasons.
#[derive(Debug)]
pub(crate) struct EventStream {
    root_name: String,
    root_id: String,
    since: SystemTime,
    stacks: Vec<Tracked>,
    /// (logical id, reason, is a summary reason), in event order.
    failures: Vec<(String, String, bool)>,
    /// An event of the root stack itself, other than `REVIEW_IN_PROGRESS`, was seen.
    root_started: bool,
}

impl EventStream {
    /// Streams events of `root_id` (ARN preferred) not older than `since`.
    pub(crate) fn new(root_name: &str, root_id: &str, since: SystemTime) -> EventStream {
        EventStream {
            root_name: root_name.to_owned(),
            root_id: root_id.to_owned(),
            since,
            stacks: vec![Tracked {
                id: root_id.to_owned(),
                seen: HashSet::new(),
                active: true,
            }],
            failures: Vec::new(),
            root_started: false,
        }
    }

    /// Marks the root's current events as seen (and moves `since` to the newest of them), so
    /// that only events of the operation about to start are reported.
    pub(crate) async fn prime(&mut self, client: &Client) -> Result<(), DeployError> {
        let out = match client
            .describe_stack_events()
            .stack_name(&self.root_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(DeployError::aws("DescribeStackEvents", &self.root_name, &e)),
        };
        for e in out.stack_events() {
            if let Some(id) = e.event_id() {
                self.stacks[0].seen.insert(id.to_owned());
            }
            if let Some(ts) = e.timestamp().and_then(|t| SystemTime::try_from(*t).ok()) {
                self.since = self.since.max(ts);
            }
        }
        Ok(())
    }

    pub(crate) fn root_started(&self) -> bool {
        self.root_started
    }

    /// Reads the new events of every active stack and reports them in chronological order.
    /// Reads and reports the new events; returns how many there were.
    pub(crate) async fn poll(
        &mut self,
        client: &Client,
        observer: &dyn DeployObserver,
    ) -> Result<usize, DeployError> {
        let mut fresh = Vec::new();
        let mut i = 0;
        // Nested stacks found during this poll are read in this poll too.
        while i < self.stacks.len() {
            if self.stacks[i].active {
                let events = self.fetch(client, i).await?;
                for e in &events {
                    self.follow(e);
                }
                fresh.extend(events);
            }
            i += 1;
        }
        fresh.sort_by_key(|e| e.timestamp);
        for e in &fresh {
            self.record(e);
            observer.event(e);
        }
        Ok(fresh.len())
    }

    /// New events of stack `i`, newest first as the API returns them.
    async fn fetch(&mut self, client: &Client, i: usize) -> Result<Vec<StackEvent>, DeployError> {
        let tracked = &mut self.stacks[i];
        let mut fresh = Vec::new();
        let mut token: Option<String> = None;
        'pages: for _ in 0..MAX_PAGES {
            let out = match client
                .describe_stack_events()
                .stack_name(&tracked.id)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                // A nested stack that is gone (or not visible yet): nothing to read.
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(DeployError::aws("DescribeStackEvents", &tracked.id, &e)),
            };
            for e in out.stack_events() {
                let Some(id) = e.event_id() else { continue };
                if tracked.seen.contains(id) {
                    break 'pages;
                }
                let Some(ts) = e.timestamp().and_then(|t| SystemTime::try_from(*t).ok()) else {
                    continue;
                };
                if ts < self.since {
                    break 'pages;
                }
                fresh.push((id.to_owned(), convert(e, ts)));
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let mut events = Vec::with_capacity(fresh.len());
        for (id, e) in fresh.into_iter().rev() {
            tracked.seen.insert(id);
            events.push(e);
        }
        Ok(events)
    }

    /// Starts or stops following nested stacks according to `e`.
    fn follow(&mut self, e: &StackEvent) {
        if e.resource_type != STACK_TYPE {
            return;
        }
        let Some(physical) = e.physical_id.as_deref().filter(|p| is_stack_arn(p)) else {
            return;
        };
        let own = e.logical_id == e.stack;
        if own {
            // The stack's own event: a nested stack that settled needs no more polling.
            if physical != self.root_id
                && is_terminal(&e.status)
                && let Some(t) = self.stacks.iter_mut().find(|t| t.id == physical)
            {
                t.active = false;
            }
            return;
        }
        match self.stacks.iter_mut().find(|t| t.id == physical) {
            Some(t) => t.active = true,
            None => {
                tracing::debug!(nested = %physical, "following nested stack");
                self.stacks.push(Tracked {
                    id: physical.to_owned(),
                    seen: HashSet::new(),
                    active: true,
                });
            }
        }
    }

    fn record(&mut self, e: &StackEvent) {
        let is_root = e.logical_id == self.root_name
            && e.resource_type == STACK_TYPE
            && (e.physical_id.as_deref() == Some(self.root_id.as_str())
                || e.stack == self.root_name);
        if is_root && e.status != "REVIEW_IN_PROGRESS" {
            self.root_started = true;
        }
        if !is_failed(&e.status) {
            return;
        }
        let Some(reason) = e.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
            return;
        };
        if is_noise_reason(reason) {
            return;
        }
        let summary = is_summary_reason(reason) || e.resource_type == STACK_TYPE;
        if !self
            .failures
            .iter()
            .any(|(l, r, _)| *l == e.logical_id && r == reason)
        {
            self.failures
                .push((e.logical_id.clone(), reason.to_owned(), summary));
        }
    }

    /// Nested stacks named in failure summaries ("Embedded stack arn:… was not successfully
    /// created: …") when no resource's own reason was seen: the causes are in their events.
    pub(crate) fn unexplained_embedded_stacks(&self) -> Vec<String> {
        if self.failures.iter().any(|(_, _, summary)| !summary) {
            return Vec::new();
        }
        let mut arns: Vec<String> = Vec::new();
        for (_, reason, _) in &self.failures {
            for word in reason.split_whitespace() {
                let arn = word.trim_end_matches([',', '.', ';', ':', ')', ']']);
                if arn.starts_with("arn:") && is_stack_arn(arn) && !arns.iter().any(|a| a == arn) {
                    arns.push(arn.to_owned());
                }
            }
        }
        arns
    }

    /// Records the failures among the events of stack `id` (best effort: errors are logged).
    pub(crate) async fn read_failures(&mut self, client: &Client, id: &str) {
        let out = match client.describe_stack_events().stack_name(id).send().await {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(stack = %id, error = %DeployError::aws("DescribeStackEvents", id, &e), "cannot read the nested stack's events");
                return;
            }
        };
        let mut events: Vec<StackEvent> = out
            .stack_events()
            .iter()
            .filter_map(|e| {
                let ts = e.timestamp().and_then(|t| SystemTime::try_from(*t).ok())?;
                (ts >= self.since).then(|| convert(e, ts))
            })
            .collect();
        events.reverse();
        for e in &events {
            self.record(e);
        }
    }

    /// The failure reasons seen: resources' own reasons; the stacks' summaries only when no
    /// resource gave one.
    pub(crate) fn reasons(&self) -> Vec<(String, String)> {
        let causes: Vec<_> = self
            .failures
            .iter()
            .filter(|(_, _, summary)| !summary)
            .map(|(l, r, _)| (l.clone(), r.clone()))
            .collect();
        if !causes.is_empty() {
            return causes;
        }
        self.failures
            .iter()
            .map(|(l, r, _)| (l.clone(), r.clone()))
            .collect()
    }
}

fn convert(e: &aws_sdk_cloudformation::types::StackEvent, timestamp: SystemTime) -> StackEvent {
    let status = e
        .resource_status()
        .map(|s| s.as_str().to_owned())
        .or_else(|| e.hook_status().map(|s| s.as_str().to_owned()))
        .unwrap_or_default();
    let reason = e
        .resource_status_reason()
        .or_else(|| e.hook_status_reason())
        .map(str::to_owned);
    StackEvent {
        stack: e.stack_name().unwrap_or_default().to_owned(),
        logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
        physical_id: e
            .physical_resource_id()
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        resource_type: e.resource_type().unwrap_or_default().to_owned(),
        status,
        reason,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev(
        stack: &str,
        logical: &str,
        ty: &str,
        physical: Option<&str>,
        status: &str,
        reason: Option<&str>,
    ) -> StackEvent {
        StackEvent {
            stack: stack.into(),
            logical_id: logical.into(),
            physical_id: physical.map(Into::into),
            resource_type: ty.into(),
            status: status.into(),
            reason: reason.map(Into::into),
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
        }
    }

    const ROOT: &str = "arn:aws:cloudformation:us-east-1:1:stack/root/1";
    const CHILD: &str = "arn:aws:cloudformation:us-east-1:1:stack/root-Addons-X/2";

    #[test]
    fn embedded_stacks_of_unexplained_failures() {
        let mut s = EventStream::new("root", ROOT, SystemTime::UNIX_EPOCH);
        let summary = format!(
            "Embedded stack {CHILD} was not successfully created: The following resource(s) \
             failed to create: [BrokenQueue]."
        );
        s.record(&ev(
            "root",
            "Addons",
            STACK_TYPE,
            None,
            "CREATE_FAILED",
            Some(&summary),
        ));
        assert_eq!(s.unexplained_embedded_stacks(), vec![CHILD.to_owned()]);
        // Once a resource's own reason is known, nothing more to read.
        s.record(&ev(
            "root-Addons-X",
            "BrokenQueue",
            "AWS::SQS::Queue",
            None,
            "CREATE_FAILED",
            Some("Can only include alphanumeric characters"),
        ));
        assert!(s.unexplained_embedded_stacks().is_empty());
        assert_eq!(
            s.reasons(),
            vec![(
                "BrokenQueue".to_owned(),
                "Can only include alphanumeric characters".to_owned()
            )]
        );
    }

    #[test]
    fn follows_nested_stacks_and_stops_when_settled() {
        let mut s = EventStream::new("root", ROOT, SystemTime::UNIX_EPOCH);
        s.follow(&ev(
            "root",
            "Addons",
            STACK_TYPE,
            Some(CHILD),
            "CREATE_IN_PROGRESS",
            None,
        ));
        assert_eq!(s.stacks.len(), 2);
        assert!(s.stacks[1].active);
        s.follow(&ev(
            "root-Addons-X",
            "root-Addons-X",
            STACK_TYPE,
            Some(CHILD),
            "CREATE_COMPLETE",
            None,
        ));
        assert!(!s.stacks[1].active);
        s.follow(&ev(
            "root",
            "Addons",
            STACK_TYPE,
            Some(CHILD),
            "UPDATE_IN_PROGRESS",
            None,
        ));
        assert!(s.stacks[1].active);
        assert_eq!(s.stacks.len(), 2);
        // A resource that is not a stack, or a stack resource without an ARN yet.
        s.follow(&ev(
            "root",
            "Q",
            "AWS::SQS::Queue",
            Some(CHILD),
            "CREATE_IN_PROGRESS",
            None,
        ));
        s.follow(&ev(
            "root",
            "Other",
            STACK_TYPE,
            None,
            "CREATE_IN_PROGRESS",
            None,
        ));
        assert_eq!(s.stacks.len(), 2);
    }

    #[test]
    fn reasons_prefer_causes_and_skip_noise() {
        let mut s = EventStream::new("root", ROOT, SystemTime::UNIX_EPOCH);
        s.record(&ev(
            "root",
            "root",
            STACK_TYPE,
            Some(ROOT),
            "REVIEW_IN_PROGRESS",
            None,
        ));
        assert!(!s.root_started());
        s.record(&ev(
            "root",
            "root",
            STACK_TYPE,
            Some(ROOT),
            "CREATE_IN_PROGRESS",
            Some("User Initiated"),
        ));
        assert!(s.root_started());
        s.record(&ev(
            "root-Addons-X",
            "Param",
            "AWS::SSM::Parameter",
            None,
            "CREATE_FAILED",
            Some("bad type"),
        ));
        s.record(&ev(
            "root-Addons-X",
            "Queue",
            "AWS::SQS::Queue",
            None,
            "CREATE_FAILED",
            Some("Resource creation cancelled"),
        ));
        s.record(&ev(
            "root",
            "Addons",
            STACK_TYPE,
            Some(CHILD),
            "CREATE_FAILED",
            Some("Embedded stack x was not successfully created: y"),
        ));
        s.record(&ev(
            "root",
            "root",
            STACK_TYPE,
            Some(ROOT),
            "ROLLBACK_IN_PROGRESS",
            Some("The following resource(s) failed to create: [Addons]."),
        ));
        s.record(&ev(
            "root-Addons-X",
            "Param",
            "AWS::SSM::Parameter",
            None,
            "CREATE_FAILED",
            Some("bad type"),
        ));
        assert_eq!(
            s.reasons(),
            vec![("Param".to_owned(), "bad type".to_owned())]
        );

        let mut s = EventStream::new("root", ROOT, SystemTime::UNIX_EPOCH);
        s.record(&ev(
            "root",
            "Addons",
            STACK_TYPE,
            Some(CHILD),
            "UPDATE_FAILED",
            Some("Embedded stack x was not successfully updated"),
        ));
        assert_eq!(s.reasons().len(), 1);
    }
}
