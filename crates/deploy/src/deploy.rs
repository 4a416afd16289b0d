//! The deployment flows: create-or-update through change sets, waiting, streaming,
//! cancellation, deletion, empty change set clean-up, the app bucket stack.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, ExecutionStatus, Parameter, Tag, TemplateStage,
};
use tokio_util::sync::CancellationToken;

use crate::error::{DeployError, is_not_found};
use crate::events::EventStream;
use crate::status::{
    self, DeleteStep, DeleteWatch, Plan, is_no_change_reason, is_success, is_terminal,
};
use crate::{
    DeployObserver, Deployer, Outcome, Phase, ResourceChange, StackDescription, StackRequest,
    StackResource, Template,
};

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
/// Bound on the stacks visited when looking for nested stacks (a tree, but be defensive).
const MAX_NESTED: usize = 200;
/// `CancelUpdateStack` requests sent for one cancellation before the update is left to finish.
const MAX_CANCEL_REQUESTS: u32 = 3;

/// What `DescribeStacks` tells about one stack.
#[derive(Debug, Clone)]
struct StackInfo {
    /// The stack ARN.
    id: String,
    status: String,
    reason: Option<String>,
    outputs: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    parameters: Vec<(String, String)>,
    capabilities: Vec<String>,
}

/// How waiting for a change set ended.
enum ChangeSetEnd {
    Ready {
        created: SystemTime,
        changes: Vec<ResourceChange>,
    },
    Empty,
    Failed {
        status: String,
        reason: String,
    },
    Cancelled,
}

/// What [`Deployer::watch`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Any terminal status reached by the operation that was started.
    Settled,
    /// `DELETE_COMPLETE` (or the stack gone) or `DELETE_FAILED`.
    Deleted,
}

struct WatchEnd {
    status: String,
    reason: Option<String>,
    cancelled: bool,
}

/// `copilot-lite-<unix millis>-<pid>-<counter>`: unique per process and call, a valid change
/// set name (`[a-zA-Z][-a-zA-Z0-9]*`, at most 128 characters).
fn change_set_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("copilot-lite-{millis}-{}-{n}", std::process::id())
}

fn to_system_time(t: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

impl Deployer {
    /// Deploys `req` (see [`Deployer::deploy_with_cancel`]) without a way to cancel.
    pub async fn deploy(
        &self,
        req: &StackRequest,
        observer: &dyn DeployObserver,
    ) -> Result<Outcome, DeployError> {
        self.deploy_with_cancel(req, observer, &CancellationToken::new())
            .await
    }

    /// Deploys `req` through a change set: CREATE when the stack is absent (or only
    /// `REVIEW_IN_PROGRESS`), after deleting it when `ROLLBACK_COMPLETE`/`ROLLBACK_FAILED`;
    /// UPDATE otherwise; a stack with an operation in progress is refused. An empty change set
    /// gives [`Outcome::NoChanges`] and is deleted together with the failed empty change sets of
    /// the stack and its nested stacks. Unless `detach`, streams events to `observer` until the
    /// stack settles.
    ///
    /// When `cancel` fires: before execution, the change set is deleted (and the stack when it
    /// was only created for it); a stack being created is deleted; an update is cancelled
    /// (`CancelUpdateStack`). The rollback is streamed to its end, then
    /// [`DeployError::Cancelled`]. A cancel that comes too late (the stack already settled)
    /// is ignored.
    pub async fn deploy_with_cancel(
        &self,
        req: &StackRequest,
        observer: &dyn DeployObserver,
        cancel: &CancellationToken,
    ) -> Result<Outcome, DeployError> {
        let stack = req.stack_name.as_str();
        let existing = self.describe(stack).await?;
        let create = match status::plan(existing.as_ref().map(|s| s.status.as_str())) {
            Plan::Busy => {
                return Err(DeployError::Busy {
                    stack: stack.to_owned(),
                    status: existing.map(|s| s.status).unwrap_or_default(),
                });
            }
            Plan::Recreate if !req.recreate => {
                return Err(DeployError::NotRecreated {
                    stack: stack.to_owned(),
                    status: existing.map(|s| s.status).unwrap_or_default(),
                });
            }
            Plan::Recreate => {
                if let Some(info) = &existing {
                    observer.phase(&Phase::DeletingStack {
                        stack: stack.to_owned(),
                        status: info.status.clone(),
                    });
                    self.delete_and_wait(stack, &info.id, observer).await?;
                }
                true
            }
            Plan::Create => true,
            Plan::Update => false,
        };
        // Was the stack created (`REVIEW_IN_PROGRESS`) by this call's change set?
        let new_stack = create
            && existing
                .as_ref()
                .is_none_or(|s| s.status != "REVIEW_IN_PROGRESS");
        let not_started = || DeployError::Cancelled {
            stack: stack.to_owned(),
            final_status: existing
                .as_ref()
                .filter(|_| !create)
                .map_or_else(|| "NOT_CREATED".to_owned(), |s| s.status.clone()),
        };
        if cancel.is_cancelled() {
            return Err(not_started());
        }

        let change_set = change_set_name();
        observer.phase(&Phase::CreatingChangeSet {
            stack: stack.to_owned(),
            change_set: change_set.clone(),
            create,
        });
        let (cs_id, stack_id) = self.create_change_set(req, &change_set, create).await?;
        tracing::info!(%stack, %change_set, create, "change set created");

        let (created, changes) = match self.wait_change_set(stack, &cs_id, cancel).await? {
            ChangeSetEnd::Ready { created, changes } => (created, changes),
            ChangeSetEnd::Empty => {
                tracing::info!(%stack, %change_set, "change set has no changes");
                self.delete_change_set_logged(&cs_id).await;
                if new_stack {
                    self.delete_review_stack(&stack_id).await;
                }
                observer.phase(&Phase::NoChanges {
                    stack: stack.to_owned(),
                    change_set: change_set.clone(),
                });
                self.clean_up(stack, req.include_nested_stacks, observer)
                    .await;
                return Ok(Outcome::NoChanges);
            }
            ChangeSetEnd::Failed { status, reason } => {
                self.delete_change_set_logged(&cs_id).await;
                if new_stack {
                    self.delete_review_stack(&stack_id).await;
                }
                return Err(DeployError::ChangeSet {
                    stack: stack.to_owned(),
                    change_set,
                    status,
                    reason,
                });
            }
            ChangeSetEnd::Cancelled => {
                self.delete_change_set_logged(&cs_id).await;
                if new_stack {
                    self.delete_review_stack(&stack_id).await;
                }
                return Err(not_started());
            }
        };

        if let Some(allowed) = &req.allowed_changes {
            let refused: Vec<ResourceChange> = changes
                .iter()
                .filter(|c| !allowed.contains(&c.logical_id))
                .cloned()
                .collect();
            if !refused.is_empty() {
                tracing::warn!(%stack, %change_set, ?refused, "the change set touches resources outside the allowed ones; deleting it");
                observer.phase(&Phase::Guarded {
                    stack: stack.to_owned(),
                    refused: refused.clone(),
                });
                self.delete_change_set_logged(&cs_id).await;
                if new_stack {
                    self.delete_review_stack(&stack_id).await;
                }
                return Err(DeployError::Guarded {
                    stack: stack.to_owned(),
                    allowed: allowed.clone(),
                    refused,
                });
            }
        }

        let mut events = EventStream::new(stack, &stack_id, created);
        if !req.detach {
            events.prime(&self.cfn).await?;
        }
        observer.phase(&Phase::Executing {
            stack: stack.to_owned(),
            change_set: change_set.clone(),
            changes,
        });
        self.execute(stack, &cs_id, &change_set, req.disable_rollback)
            .await?;
        tracing::info!(%stack, %change_set, "change set executed");
        if req.detach {
            return Ok(Outcome::Detached);
        }

        let end = self
            .watch(
                stack,
                &stack_id,
                &mut events,
                observer,
                Some(cancel),
                Target::Settled,
            )
            .await?;
        if is_success(&end.status) {
            if !create && req.include_nested_stacks {
                self.clean_up(stack, true, observer).await;
            }
            return Ok(if create {
                Outcome::Created
            } else {
                Outcome::Updated
            });
        }
        if end.cancelled {
            return Err(DeployError::Cancelled {
                stack: stack.to_owned(),
                final_status: end.status,
            });
        }
        // A nested stack that failed before its events were followed: read its causes now.
        for nested in events.unexplained_embedded_stacks() {
            events.read_failures(&self.cfn, &nested).await;
        }
        Err(failed(stack, end, &events))
    }

    /// Deletes `stack` and waits for `DELETE_COMPLETE`, streaming its events. A stack that
    /// does not exist is fine.
    pub async fn delete_stack(
        &self,
        stack: &str,
        observer: &dyn DeployObserver,
    ) -> Result<(), DeployError> {
        let Some(info) = self.describe(stack).await? else {
            return Ok(());
        };
        match info.status.as_str() {
            "DELETE_COMPLETE" => return Ok(()),
            "DELETE_IN_PROGRESS" => {}
            s if !is_terminal(s) && s != "REVIEW_IN_PROGRESS" => {
                return Err(DeployError::Busy {
                    stack: stack.to_owned(),
                    status: info.status,
                });
            }
            _ => {}
        }
        observer.phase(&Phase::DeletingStack {
            stack: stack.to_owned(),
            status: info.status.clone(),
        });
        self.delete_and_wait(stack, &info.id, observer).await
    }

    /// The deployed template (`GetTemplate`, stage `Original`), `None` when the stack does not
    /// exist or was never deployed (`REVIEW_IN_PROGRESS`).
    pub async fn get_template(&self, stack: &str) -> Result<Option<String>, DeployError> {
        match self.describe(stack).await? {
            None => return Ok(None),
            Some(info) if info.status == "REVIEW_IN_PROGRESS" => return Ok(None),
            Some(_) => {}
        }
        match self
            .cfn
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
        {
            Ok(out) => Ok(out.template_body().map(str::to_owned)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(DeployError::aws("GetTemplate", stack, &e)),
        }
    }

    /// The deployed template of the nested stack `logical_id` of `stack` (e.g. `AddonsStack`),
    /// `None` when the stack or the nested stack does not exist.
    pub async fn nested_template(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, DeployError> {
        let resource = match self
            .cfn
            .describe_stack_resource()
            .stack_name(stack)
            .logical_resource_id(logical_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(DeployError::aws("DescribeStackResource", stack, &e)),
        };
        match resource
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id())
            .filter(|id| !id.is_empty())
        {
            Some(id) => self.get_template(id).await,
            None => Ok(None),
        }
    }

    /// The resources of `stack` (`ListStackResources`, every page); empty when the stack does
    /// not exist.
    pub async fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, DeployError> {
        let mut pages = self
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .into_paginator()
            .send();
        let mut resources = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) if is_not_found(&e) => return Ok(Vec::new()),
                Err(e) => return Err(DeployError::aws("ListStackResources", stack, &e)),
            };
            resources.extend(page.stack_resource_summaries().iter().map(|r| {
                StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    status: r
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                }
            }));
        }
        Ok(resources)
    }

    /// The physical ID of the nested stack `logical_id` of `stack`, `None` when there is none.
    pub async fn nested_stack_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, DeployError> {
        Ok(self
            .stack_resources(stack)
            .await?
            .into_iter()
            .find(|r| r.logical_id == logical_id && !r.physical_id.is_empty())
            .map(|r| r.physical_id))
    }

    /// The stack's outputs as (key, value), in the order CloudFormation lists them.
    pub async fn outputs(&self, stack: &str) -> Result<Vec<(String, String)>, DeployError> {
        self.describe(stack)
            .await?
            .map(|info| info.outputs)
            .ok_or_else(|| DeployError::StackNotFound {
                stack: stack.to_owned(),
            })
    }

    /// What `DescribeStacks` says of `stack`; `None` when there is no such stack.
    pub async fn stack(&self, stack: &str) -> Result<Option<StackDescription>, DeployError> {
        Ok(self.describe(stack).await?.map(|i| StackDescription {
            id: i.id,
            status: i.status,
            tags: i.tags,
            parameters: i.parameters,
            outputs: i.outputs,
            capabilities: i.capabilities,
        }))
    }

    /// The outputs of the stack instance of stack set `stack_set` in `account` and this
    /// client's region (`ListStackInstances`, then `DescribeStacks` of the instance's stack);
    /// `None` when the stack set, or an instance there, does not exist.
    pub async fn stack_set_instance_outputs(
        &self,
        stack_set: &str,
        account: &str,
    ) -> Result<Option<Vec<(String, String)>>, DeployError> {
        let out = match self
            .cfn
            .list_stack_instances()
            .stack_set_name(stack_set)
            .stack_instance_account(account)
            .stack_instance_region(&self.region)
            .send()
            .await
        {
            Ok(out) => out,
            // AWS says StackSetNotFoundException; LocalStack ResourceNotFoundException.
            Err(e)
                if is_not_found(&e)
                    || matches!(
                        e.code(),
                        Some("StackSetNotFoundException" | "ResourceNotFoundException")
                    ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(DeployError::aws("ListStackInstances", stack_set, &e)),
        };
        let instance = out.summaries().iter().find(|s| {
            s.account() == Some(account)
                && s.region() == Some(self.region.as_str())
                && s.stack_id().is_some_and(|id| !id.is_empty())
        });
        let Some(id) = instance.and_then(|s| s.stack_id()) else {
            return Ok(None);
        };
        Ok(self.describe(id).await?.map(|i| i.outputs))
    }

    /// The output `output` of `req.stack_name`. When that stack is absent, deploys `req` first,
    /// without nested stacks; one that can only be re-created (`ROLLBACK_COMPLETE`) is deleted
    /// and deployed again only when it carries every tag of `req` (it was made by such a
    /// request). Any other stack of that name without the output is never touched
    /// ([`DeployError::NotOurs`]).
    pub async fn ensure_stack_output(
        &self,
        req: &StackRequest,
        output: &str,
        observer: &dyn DeployObserver,
    ) -> Result<String, DeployError> {
        let stack = req.stack_name.clone();
        if let Some(info) = self.describe(&stack).await? {
            let plan = status::plan(Some(&info.status));
            if plan != Plan::Recreate
                && let Some((_, value)) = info.outputs.iter().find(|(k, _)| k == output)
            {
                return Ok(value.clone());
            }
            match plan {
                Plan::Busy => {
                    return Err(DeployError::Busy {
                        stack,
                        status: info.status,
                    });
                }
                Plan::Update => {
                    return Err(DeployError::NotOurs {
                        stack,
                        status: info.status,
                        output: output.to_owned(),
                    });
                }
                // Only a stack made by a request like this one (it carries every tag of the
                // request) is deleted to be created again; any other is someone else's.
                Plan::Recreate
                    if !req.recreate || !req.tags.iter().all(|t| info.tags.contains(t)) =>
                {
                    return Err(DeployError::NotOurs {
                        stack,
                        status: info.status,
                        output: output.to_owned(),
                    });
                }
                Plan::Create | Plan::Recreate => {}
            }
        }
        observer.phase(&Phase::CreatingStackFor {
            stack: stack.clone(),
            output: output.to_owned(),
        });
        let mut req = req.clone();
        req.include_nested_stacks = false;
        self.deploy(&req, observer).await?;
        self.outputs(&stack)
            .await?
            .into_iter()
            .find(|(k, _)| k == output)
            .map(|(_, v)| v)
            .ok_or_else(|| DeployError::MissingOutput {
                stack,
                output: output.to_owned(),
            })
    }

    // ---- internals ----

    async fn describe(&self, stack: &str) -> Result<Option<StackInfo>, DeployError> {
        let out = match self.cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(DeployError::aws("DescribeStacks", stack, &e)),
        };
        Ok(out.stacks().first().map(|s| StackInfo {
            id: s.stack_id().unwrap_or(stack).to_owned(),
            status: s
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: s.stack_status_reason().map(str::to_owned),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| {
                    Some((
                        o.output_key()?.to_owned(),
                        o.output_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            capabilities: s
                .capabilities()
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        }))
    }

    /// Returns (change set ARN, stack ARN).
    async fn create_change_set(
        &self,
        req: &StackRequest,
        name: &str,
        create: bool,
    ) -> Result<(String, String), DeployError> {
        let stack = req.stack_name.as_str();
        let mut b = self
            .cfn
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .set_capabilities(Some(
                crate::CAPABILITIES
                    .iter()
                    .map(|c| Capability::from(*c))
                    .collect(),
            ))
            .include_nested_stacks(req.include_nested_stacks)
            .description("Created by copilot-lite");
        b = match &req.template {
            Template::Url(url) => b.template_url(url),
            Template::Body(body) => b.template_body(body),
        };
        for (k, v) in &req.parameters {
            b = b.parameters(
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
        for k in &req.previous_parameters {
            b = b.parameters(
                Parameter::builder()
                    .parameter_key(k)
                    .use_previous_value(true)
                    .build(),
            );
        }
        for (k, v) in &req.tags {
            b = b.tags(Tag::builder().key(k).value(v).build());
        }
        // The name is unique per call: as the client token it lets CloudFormation recognise a
        // retry; a retry whose first attempt created the change set (the response was lost)
        // gets AlreadyExists, and finds it by name.
        let (cs_id, stack_id) = match b.client_token(name).send().await {
            Ok(out) => (
                out.id().unwrap_or(name).to_owned(),
                out.stack_id().map(str::to_owned),
            ),
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let out = self
                    .cfn
                    .describe_change_set()
                    .stack_name(stack)
                    .change_set_name(name)
                    .send()
                    .await
                    .map_err(|_| DeployError::aws("CreateChangeSet", stack, &e))?;
                tracing::info!(%stack, change_set = %name, "change set created by an earlier attempt");
                (
                    out.change_set_id().unwrap_or(name).to_owned(),
                    out.stack_id().map(str::to_owned),
                )
            }
            Err(e) => return Err(DeployError::aws("CreateChangeSet", stack, &e)),
        };
        let stack_id = match stack_id {
            Some(id) => id,
            None => self
                .describe(stack)
                .await?
                .map_or_else(|| stack.to_owned(), |s| s.id),
        };
        Ok((cs_id, stack_id))
    }

    /// ExecuteChangeSet with a client request token. A retry whose first attempt executed the
    /// change set (the response was lost) may be refused (`InvalidChangeSetStatus`,
    /// `TokenAlreadyExists`): when the
    /// change set then shows it was executed, that is success.
    async fn execute(
        &self,
        stack: &str,
        cs_id: &str,
        change_set: &str,
        disable_rollback: bool,
    ) -> Result<(), DeployError> {
        let res = self
            .cfn
            .execute_change_set()
            .change_set_name(cs_id)
            .client_request_token(format!("{change_set}-execute"))
            .disable_rollback(disable_rollback)
            .send()
            .await;
        let Err(e) = res else {
            return Ok(());
        };
        if matches!(
            e.code(),
            Some("InvalidChangeSetStatus" | "TokenAlreadyExistsException")
        ) {
            let status = self
                .cfn
                .describe_change_set()
                .change_set_name(cs_id)
                .send()
                .await
                .ok()
                .and_then(|out| out.execution_status().cloned());
            if matches!(
                status,
                Some(
                    ExecutionStatus::ExecuteInProgress
                        | ExecutionStatus::ExecuteComplete
                        | ExecutionStatus::ExecuteFailed
                )
            ) {
                tracing::info!(%stack, %change_set, "change set executed by an earlier attempt");
                return Ok(());
            }
        }
        Err(DeployError::aws("ExecuteChangeSet", stack, &e))
    }

    async fn wait_change_set(
        &self,
        stack: &str,
        cs_id: &str,
        cancel: &CancellationToken,
    ) -> Result<ChangeSetEnd, DeployError> {
        let start = Instant::now();
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .change_set_name(cs_id)
                .send()
                .await
                .map_err(|e| DeployError::aws("DescribeChangeSet", stack, &e))?;
            let status = out.status().cloned();
            let reason = out.status_reason().unwrap_or_default().to_owned();
            match status {
                Some(ChangeSetStatus::CreateComplete) => {
                    let exec = out.execution_status().cloned();
                    if exec.is_none() || exec == Some(ExecutionStatus::Available) {
                        let created =
                            to_system_time(out.creation_time()).unwrap_or_else(SystemTime::now);
                        let mut changes = collect_changes(out.changes());
                        let mut token = out.next_token().map(str::to_owned);
                        while let Some(t) = token.take().filter(|t| !t.is_empty()) {
                            let page = self
                                .cfn
                                .describe_change_set()
                                .change_set_name(cs_id)
                                .next_token(t)
                                .send()
                                .await
                                .map_err(|e| DeployError::aws("DescribeChangeSet", stack, &e))?;
                            changes.extend(collect_changes(page.changes()));
                            token = page.next_token().map(str::to_owned);
                        }
                        return Ok(ChangeSetEnd::Ready { created, changes });
                    }
                    if is_no_change_reason(&reason) {
                        return Ok(ChangeSetEnd::Empty);
                    }
                    let exec = exec.map(|e| e.as_str().to_owned()).unwrap_or_default();
                    return Ok(ChangeSetEnd::Failed {
                        status: format!("is not executable ({exec})"),
                        reason,
                    });
                }
                Some(ChangeSetStatus::Failed) => {
                    if is_no_change_reason(&reason) {
                        return Ok(ChangeSetEnd::Empty);
                    }
                    return Ok(ChangeSetEnd::Failed {
                        status: "FAILED".to_owned(),
                        reason,
                    });
                }
                Some(
                    s @ (ChangeSetStatus::DeleteComplete
                    | ChangeSetStatus::DeleteFailed
                    | ChangeSetStatus::DeleteInProgress
                    | ChangeSetStatus::DeletePending),
                ) => {
                    return Ok(ChangeSetEnd::Failed {
                        status: s.as_str().to_owned(),
                        reason: "deleted while waiting for it".to_owned(),
                    });
                }
                _ => {}
            }
            if start.elapsed() > self.timeout {
                return Err(DeployError::Timeout {
                    stack: stack.to_owned(),
                    what: "the change set",
                    waited: start.elapsed(),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                () = cancel.cancelled() => return Ok(ChangeSetEnd::Cancelled),
            }
        }
    }

    /// Polls events and status of `stack_id` until `target`. Handles `cancel` (once).
    ///
    /// While waiting for a deletion, a stack that settles in a status that is not a deletion
    /// (the creation it was meant to stop went on, or the request did not reach it) is asked
    /// again ([`DeleteWatch`]); after [`status::MAX_DELETE_REQUESTS`] requests the watch ends
    /// with that status instead of waiting out the timeout. A `CancelUpdateStack` that is
    /// refused while the update still runs is retried at the next polls (at most
    /// [`MAX_CANCEL_REQUESTS`] requests).
    async fn watch(
        &self,
        stack: &str,
        stack_id: &str,
        events: &mut EventStream,
        observer: &dyn DeployObserver,
        mut cancel: Option<&CancellationToken>,
        mut target: Target,
    ) -> Result<WatchEnd, DeployError> {
        let start = Instant::now();
        let mut cancelled = false;
        let mut cancel_pending = false;
        let mut cancel_requests = 0u32;
        let mut saw_in_progress = false;
        let mut deletion = DeleteWatch::new();
        loop {
            let new_events = events.poll(&self.cfn, observer).await?;
            let info = self.describe(stack_id).await?;
            let (status, reason) = match info {
                Some(i) => (i.status, i.reason),
                None => ("DELETE_COMPLETE".to_owned(), None),
            };
            if !is_terminal(&status) && status != "REVIEW_IN_PROGRESS" {
                saw_in_progress = true;
            }
            let done = match target {
                Target::Settled => {
                    is_terminal(&status) && (saw_in_progress || events.root_started())
                }
                Target::Deleted => match deletion.step(&status, new_events) {
                    DeleteStep::Done => true,
                    DeleteStep::Wait => false,
                    DeleteStep::RequestAgain => {
                        tracing::warn!(%stack, %status, requests = deletion.requests(), "the stack settled without being deleted; asking again");
                        observer.phase(&Phase::DeletingAgain {
                            stack: stack.to_owned(),
                            status: status.clone(),
                        });
                        self.request_delete(stack, stack_id).await?;
                        false
                    }
                    DeleteStep::GiveUp => {
                        events.poll(&self.cfn, observer).await?;
                        return Err(DeployError::NotDeleted {
                            stack: stack.to_owned(),
                            status,
                            requests: deletion.requests(),
                        });
                    }
                },
            };
            if done {
                // Events written just before the final status.
                events.poll(&self.cfn, observer).await?;
                if cancelled && target == Target::Settled && is_success(&status) {
                    tracing::warn!(%stack, %status, "the operation finished before it could be cancelled");
                    observer.phase(&Phase::CancelTooLate {
                        stack: stack.to_owned(),
                        status: status.clone(),
                    });
                }
                return Ok(WatchEnd {
                    status,
                    reason,
                    cancelled,
                });
            }
            if cancel_pending {
                match status.as_str() {
                    "CREATE_IN_PROGRESS" => {
                        cancel_pending = false;
                        observer.phase(&Phase::Cancelling {
                            stack: stack.to_owned(),
                            status: status.clone(),
                        });
                        self.request_delete(stack, stack_id).await?;
                        target = Target::Deleted;
                        deletion = DeleteWatch::racing_a_creation();
                    }
                    "UPDATE_IN_PROGRESS" => {
                        if cancel_requests == 0 {
                            observer.phase(&Phase::Cancelling {
                                stack: stack.to_owned(),
                                status: status.clone(),
                            });
                        }
                        cancel_requests += 1;
                        match self
                            .cfn
                            .cancel_update_stack()
                            .stack_name(stack_id)
                            .send()
                            .await
                        {
                            Ok(_) => cancel_pending = false,
                            Err(e) => {
                                // Refused while the update runs (not cancellable yet, or an
                                // emulator without it): ask again at the next polls, a few
                                // times; the update then goes on to its end, which is reported.
                                tracing::warn!(%stack, attempt = cancel_requests, error = %DeployError::aws("CancelUpdateStack", stack, &e), "cannot cancel the update");
                                if cancel_requests >= MAX_CANCEL_REQUESTS {
                                    cancel_pending = false;
                                }
                            }
                        }
                    }
                    // Not started yet (REVIEW_IN_PROGRESS) or not cancellable (clean-up,
                    // rollback): keep the request until it can be acted on or it settles.
                    _ => {}
                }
            }
            if start.elapsed() > self.timeout {
                return Err(DeployError::Timeout {
                    stack: stack.to_owned(),
                    what: if target == Target::Deleted {
                        "the deletion"
                    } else {
                        "the deployment"
                    },
                    waited: start.elapsed(),
                });
            }
            match cancel {
                Some(token) => {
                    tokio::select! {
                        () = tokio::time::sleep(self.poll_interval) => {}
                        () = token.cancelled() => {
                            tracing::info!(%stack, %status, "cancellation requested");
                            cancel = None;
                            cancelled = true;
                            cancel_pending = true;
                        }
                    }
                }
                None => tokio::time::sleep(self.poll_interval).await,
            }
        }
    }

    async fn request_delete(&self, stack: &str, stack_id: &str) -> Result<(), DeployError> {
        self.cfn
            .delete_stack()
            .stack_name(stack_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeployError::aws("DeleteStack", stack, &e))
    }

    /// DeleteStack on `stack_id` and wait for `DELETE_COMPLETE`, streaming events.
    async fn delete_and_wait(
        &self,
        stack: &str,
        stack_id: &str,
        observer: &dyn DeployObserver,
    ) -> Result<(), DeployError> {
        let mut events = EventStream::new(stack, stack_id, UNIX_EPOCH);
        events.prime(&self.cfn).await?;
        self.request_delete(stack, stack_id).await?;
        let end = self
            .watch(
                stack,
                stack_id,
                &mut events,
                observer,
                None,
                Target::Deleted,
            )
            .await?;
        if end.status == "DELETE_COMPLETE" {
            tracing::info!(%stack, "stack deleted");
            Ok(())
        } else {
            Err(failed(stack, end, &events))
        }
    }

    async fn delete_change_set_logged(&self, cs_id: &str) {
        if let Err(e) = self
            .cfn
            .delete_change_set()
            .change_set_name(cs_id)
            .send()
            .await
        {
            tracing::warn!(change_set = %cs_id, error = %DeployError::aws("DeleteChangeSet", cs_id, &e), "cannot delete change set");
        }
    }

    /// Deletes a stack that only exists for a change set that was not executed
    /// (`REVIEW_IN_PROGRESS`); not waited for.
    async fn delete_review_stack(&self, stack_id: &str) {
        if let Err(e) = self.cfn.delete_stack().stack_name(stack_id).send().await {
            tracing::warn!(stack = %stack_id, error = %DeployError::aws("DeleteStack", stack_id, &e), "cannot delete the unused stack");
        }
    }

    async fn clean_up(&self, stack: &str, nested: bool, observer: &dyn DeployObserver) {
        let deleted = self.delete_empty_change_sets(stack, nested).await;
        if deleted > 0 {
            observer.phase(&Phase::CleanedUpChangeSets {
                stack: stack.to_owned(),
                deleted,
            });
        }
    }

    /// Deletes the `FAILED` "didn't contain changes" change sets of `stack` and (when
    /// `nested`) of all its nested stacks (aws/copilot-cli#4426, #5614). Best effort: errors
    /// are logged. Returns how many were deleted.
    async fn delete_empty_change_sets(&self, stack: &str, nested: bool) -> usize {
        let mut stacks = vec![stack.to_owned()];
        if nested {
            let mut i = 0;
            while i < stacks.len() && stacks.len() < MAX_NESTED {
                match self.nested_stacks(&stacks[i]).await {
                    Ok(children) => stacks.extend(children),
                    Err(e) => {
                        tracing::warn!(stack = %stacks[i], error = %e, "cannot list nested stacks")
                    }
                }
                i += 1;
            }
        }
        let mut deleted = 0;
        for s in &stacks {
            let sets = match self.empty_change_sets(s).await {
                Ok(sets) => sets,
                Err(e) => {
                    tracing::warn!(stack = %s, error = %e, "cannot list change sets");
                    continue;
                }
            };
            for id in sets {
                match self
                    .cfn
                    .delete_change_set()
                    .change_set_name(&id)
                    .send()
                    .await
                {
                    Ok(_) => {
                        tracing::info!(stack = %s, change_set = %id, "deleted empty change set");
                        deleted += 1;
                    }
                    Err(e) => tracing::warn!(
                        stack = %s, change_set = %id,
                        error = %DeployError::aws("DeleteChangeSet", s, &e),
                        "cannot delete empty change set"
                    ),
                }
            }
        }
        deleted
    }

    /// ARNs of the `FAILED` change sets of `stack` whose reason says "no changes".
    async fn empty_change_sets(&self, stack: &str) -> Result<Vec<String>, DeployError> {
        let mut ids = Vec::new();
        let mut pages = self
            .cfn
            .list_change_sets()
            .stack_name(stack)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let out = match page {
                Ok(out) => out,
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(DeployError::aws("ListChangeSets", stack, &e)),
            };
            for cs in out.summaries() {
                if cs.status() == Some(&ChangeSetStatus::Failed)
                    && cs.status_reason().is_some_and(is_no_change_reason)
                    && let Some(id) = cs.change_set_id().or(cs.change_set_name())
                {
                    ids.push(id.to_owned());
                }
            }
        }
        Ok(ids)
    }

    /// ARNs of the nested stacks (`AWS::CloudFormation::Stack` resources) of `stack`.
    async fn nested_stacks(&self, stack: &str) -> Result<Vec<String>, DeployError> {
        Ok(self
            .stack_resources(stack)
            .await?
            .into_iter()
            .filter(|r| r.resource_type == STACK_TYPE && status::is_stack_arn(&r.physical_id))
            .map(|r| r.physical_id)
            .collect())
    }
}

fn collect_changes(changes: &[aws_sdk_cloudformation::types::Change]) -> Vec<ResourceChange> {
    changes
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| ResourceChange {
            action: rc
                .action()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: rc.resource_type().unwrap_or_default().to_owned(),
            replacement: rc.replacement().map(|r| r.as_str().to_owned()),
        })
        .collect()
}

fn failed(stack: &str, end: WatchEnd, events: &EventStream) -> DeployError {
    let mut reasons = events.reasons();
    if reasons.is_empty()
        && let Some(r) = end.reason.filter(|r| !r.is_empty())
    {
        reasons.push((stack.to_owned(), r));
    }
    DeployError::Failed {
        stack: stack.to_owned(),
        status: end.status,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_set_names_are_valid_and_unique() {
        let a = change_set_name();
        let b = change_set_name();
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.starts_with("copilot-lite-"));
            assert!(n.len() <= 128);
            assert!(
                n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'),
                "{n}"
            );
        }
    }
}
