//! Deploys against a real CloudFormation endpoint: LocalStack. Every test is `#[ignore]`d, so
//! `cargo test` lists them as ignored; `cargo xtask e2e deploy-crate` runs them with
//! `--ignored`, `COPILOT_LITE_LOCALSTACK=1` and `AWS_ENDPOINT_URL`. Run without those, a test
//! fails: it never passes without having deployed anything.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use copilot_model::BUCKET_OUTPUT;
use deploy::{
    CancellationToken, DeployError, DeployObserver, Deployer, Outcome, Phase, StackEvent,
    StackRequest, Template,
};

const POLL: Duration = Duration::from_millis(500);

struct Ctx {
    sdk: SdkConfig,
    deployer: Deployer,
    cfn: aws_sdk_cloudformation::Client,
    endpoint: String,
}

impl Ctx {
    async fn new() -> Ctx {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty());
        let enabled = std::env::var("COPILOT_LITE_LOCALSTACK").is_ok_and(|v| v == "1");
        let Some(endpoint) = endpoint.filter(|_| enabled) else {
            // These tests are #[ignore]d: they run only when asked (`--ignored`, as `cargo
            // xtask e2e deploy-crate` does), and then a missing LocalStack is a failure.
            panic!(
                "needs LocalStack: COPILOT_LITE_LOCALSTACK=1 and AWS_ENDPOINT_URL (run `cargo xtask e2e deploy-crate`)"
            );
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("deploy=debug")),
            )
            .with_test_writer()
            .try_init();
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let deployer = Deployer::from_sdk_config(&sdk)
            .with_poll_interval(POLL)
            .with_timeout(Duration::from_secs(300));
        assert_eq!(deployer.endpoint(), Some(endpoint.trim_end_matches('/')));
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        Ctx {
            sdk,
            deployer,
            cfn,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    async fn status(&self, stack: &str) -> Option<String> {
        let out = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .ok()?;
        out.stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_owned())
    }

    async fn change_sets(&self, stack: &str) -> Vec<(String, String, String)> {
        let out = self
            .cfn
            .list_change_sets()
            .stack_name(stack)
            .send()
            .await
            .expect("ListChangeSets");
        out.summaries()
            .iter()
            .map(|c| {
                (
                    c.change_set_name().unwrap_or_default().to_owned(),
                    c.status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    c.status_reason().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn output(&self, stack: &str, key: &str) -> Option<String> {
        let outputs = self.deployer.outputs(stack).await.expect("outputs");
        outputs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{prefix}-{millis}-{}", N.fetch_add(1, Ordering::Relaxed))
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<StackEvent>>,
    phases: Mutex<Vec<Phase>>,
    /// Cancelled when the `Executing` phase is reported.
    cancel_on_execute: Option<CancellationToken>,
}

impl DeployObserver for Recorder {
    fn phase(&self, phase: &Phase) {
        eprintln!("phase: {phase:?}");
        if let (Phase::Executing { .. }, Some(token)) = (phase, &self.cancel_on_execute) {
            token.cancel();
        }
        self.phases.lock().unwrap().push(phase.clone());
    }
    fn event(&self, e: &StackEvent) {
        eprintln!(
            "event: {} {} {} {} {}",
            e.stack,
            e.logical_id,
            e.resource_type,
            e.status,
            e.reason.as_deref().unwrap_or("")
        );
        self.events.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn events(&self) -> Vec<StackEvent> {
        self.events.lock().unwrap().clone()
    }
    fn phases(&self) -> Vec<Phase> {
        self.phases.lock().unwrap().clone()
    }
    fn has(&self, logical: &str, status: &str) -> bool {
        self.events()
            .iter()
            .any(|e| e.logical_id == logical && e.status == status)
    }
}

const PARAM_TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Value:
    Type: String
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Ref Value
Outputs:
  ParamName:
    Value: !Ref Param
  ParamValue:
    Value: !Ref Value
"#;

fn param_request(stack: &str, value: &str) -> StackRequest {
    let mut req = StackRequest::new(stack, Template::Body(PARAM_TEMPLATE.to_owned()));
    req.parameters = vec![("Value".to_owned(), value.to_owned())];
    req.tags = vec![("copilot-lite-test".to_owned(), "deploy".to_owned())];
    req
}

/// A template whose creation fails on LocalStack: the queue's `MessageRetentionPeriod` is out
/// of SQS's range (60..=1209600).
const FAILING_TEMPLATE: &str = r#"
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: fine
  Broken:
    Type: AWS::SSM::Parameter
    Properties:
      Type: NotAType
      Value: broken
"#;

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn create_update_no_change_delete() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-basic");

    let rec = Recorder::default();
    let outcome = ctx
        .deployer
        .deploy(&param_request(&stack, "one"), &rec)
        .await
        .expect("create");
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(ctx.status(&stack).await.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(
        ctx.output(&stack, "ParamValue").await.as_deref(),
        Some("one")
    );
    assert!(
        rec.has("Param", "CREATE_COMPLETE"),
        "events: {:?}",
        rec.events()
    );
    assert!(rec.has(&stack, "CREATE_COMPLETE"));
    let events = rec.events();
    assert!(
        events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "chronological"
    );
    assert!(
        rec.phases()
            .iter()
            .any(|p| matches!(p, Phase::CreatingChangeSet { create: true, .. }))
    );
    let template = ctx.deployer.get_template(&stack).await.expect("template");
    assert!(template.is_some_and(|t| t.contains("AWS::SSM::Parameter")));

    // Update: a parameter changes.
    let rec = Recorder::default();
    let outcome = ctx
        .deployer
        .deploy(&param_request(&stack, "two"), &rec)
        .await
        .expect("update");
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(
        ctx.output(&stack, "ParamValue").await.as_deref(),
        Some("two")
    );
    assert!(
        rec.has(&stack, "UPDATE_COMPLETE"),
        "events: {:?}",
        rec.events()
    );
    // Only events of this update: nothing from the creation.
    assert!(!rec.has(&stack, "CREATE_COMPLETE"));
    assert!(rec.phases().iter().any(|p| match p {
        Phase::Executing { changes, .. } => changes.iter().any(|c| c.logical_id == "Param"),
        _ => false,
    }));

    // Same again: no changes, and no change set left behind.
    let rec = Recorder::default();
    let outcome = ctx
        .deployer
        .deploy(&param_request(&stack, "two"), &rec)
        .await
        .expect("no change");
    assert_eq!(outcome, Outcome::NoChanges);
    assert!(rec.events().is_empty());
    assert!(
        rec.phases()
            .iter()
            .any(|p| matches!(p, Phase::NoChanges { .. }))
    );
    assert_change_set_gone(&ctx, &stack, &rec).await;
    assert_eq!(ctx.change_sets(&stack).await, vec![]);
    assert_eq!(ctx.status(&stack).await.as_deref(), Some("UPDATE_COMPLETE"));

    // Delete.
    let rec = Recorder::default();
    ctx.deployer
        .delete_stack(&stack, &rec)
        .await
        .expect("delete");
    assert!(matches!(
        ctx.status(&stack).await.as_deref(),
        None | Some("DELETE_COMPLETE")
    ));
    assert!(rec.has(&stack, "DELETE_COMPLETE") || rec.has("Param", "DELETE_COMPLETE"));
    // Deleting what does not exist is fine.
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete again");
    assert!(
        ctx.deployer
            .get_template(&stack)
            .await
            .expect("template")
            .is_none()
    );
    assert!(matches!(
        ctx.deployer.outputs(&stack).await,
        Err(DeployError::StackNotFound { .. })
    ));
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn failed_create_reports_reasons_then_recreates() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-fail");

    let rec = Recorder::default();
    let req = StackRequest::new(&stack, Template::Body(FAILING_TEMPLATE.to_owned()));
    let err = ctx
        .deployer
        .deploy(&req, &rec)
        .await
        .expect_err("must fail");
    eprintln!("error: {err}");
    let DeployError::Failed {
        status, reasons, ..
    } = &err
    else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(status, "ROLLBACK_COMPLETE");
    assert!(
        reasons.iter().any(|(l, r)| l == "Broken" && !r.is_empty()),
        "{reasons:?}"
    );
    assert_eq!(
        ctx.status(&stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );

    // ROLLBACK_COMPLETE, for a request that may not re-create (a stack copilot-lite does not
    // own): refused, the stack left as it is.
    let mut keep = param_request(&stack, "after");
    keep.recreate = false;
    let err = ctx.deployer.deploy(&keep, &()).await.expect_err("refused");
    assert!(
        matches!(&err, DeployError::NotRecreated { status, .. } if status == "ROLLBACK_COMPLETE"),
        "{err:?}"
    );
    assert_eq!(
        ctx.status(&stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );

    // ROLLBACK_COMPLETE: deleted, then created again.
    let rec = Recorder::default();
    let outcome = ctx
        .deployer
        .deploy(&param_request(&stack, "after"), &rec)
        .await
        .expect("re-create");
    assert_eq!(outcome, Outcome::Created);
    assert!(
        rec.phases().iter().any(
            |p| matches!(p, Phase::DeletingStack { status, .. } if status == "ROLLBACK_COMPLETE")
        ),
        "{:?}",
        rec.phases()
    );
    assert_eq!(
        ctx.output(&stack, "ParamValue").await.as_deref(),
        Some("after")
    );

    // A failing update rolls back and reports the reason.
    let rec = Recorder::default();
    let req = StackRequest::new(&stack, Template::Body(FAILING_TEMPLATE.to_owned()));
    let err = ctx
        .deployer
        .deploy(&req, &rec)
        .await
        .expect_err("update must fail");
    eprintln!("error: {err}");
    let DeployError::Failed {
        status, reasons, ..
    } = &err
    else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(status, "UPDATE_ROLLBACK_COMPLETE");
    assert!(reasons.iter().any(|(l, _)| l == "Broken"), "{reasons:?}");
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");

    // --no-rollback: the execution sends DisableRollback; the failure is reported.
    let stack = unique("dep-norollback");
    let mut req = StackRequest::new(&stack, Template::Body(FAILING_TEMPLATE.to_owned()));
    req.disable_rollback = true;
    let err = ctx.deployer.deploy(&req, &()).await.expect_err("must fail");
    eprintln!("error: {err}");
    let DeployError::Failed {
        status, reasons, ..
    } = &err
    else {
        panic!("unexpected error {err:?}")
    };
    // LocalStack ignores DisableRollback (AWS ends in CREATE_FAILED).
    assert!(
        matches!(status.as_str(), "CREATE_FAILED" | "ROLLBACK_COMPLETE"),
        "{status}"
    );
    assert!(reasons.iter().any(|(l, _)| l == "Broken"), "{reasons:?}");
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn invalid_template_is_a_change_set_error() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-invalid");
    let req = StackRequest::new(
        &stack,
        Template::Body("Resources:\n  X:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !Ref Nowhere\n      Type: String\n".to_owned()),
    );
    let err = ctx.deployer.deploy(&req, &()).await.expect_err("must fail");
    eprintln!("error: {err}");
    // Refused when the change set is created (CreateChangeSet answers ValidationError, or the
    // change set ends FAILED), with CloudFormation's reason, which names the reference that
    // resolves to nothing.
    let reason = match &err {
        DeployError::Aws {
            op, code, message, ..
        } if *op == "CreateChangeSet" && code.as_deref() == Some("ValidationError") => message,
        DeployError::ChangeSet { reason, .. } => reason,
        other => panic!("expected a change-set refusal, got {other:?}"),
    };
    assert!(
        reason.contains("Nowhere"),
        "the reason names the reference: {reason}"
    );
}

const CHILD_TEMPLATE: &str = r#"
Parameters:
  Value:
    Type: String
Resources:
  ChildParam:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Ref Value
Outputs:
  ChildParamName:
    Value: !Ref ChildParam
"#;

fn root_template(url: &str, root_value: &str) -> String {
    format!(
        r#"
Resources:
  AddonsStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {url}
      Parameters:
        Value: child-value
  RootParam:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: {root_value}
Outputs:
  ChildParamName:
    Value: !GetAtt AddonsStack.Outputs.ChildParamName
"#
    )
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn nested_stack_events_no_change_and_clean_up() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-nested");
    let bucket = unique("dep-nested-templates");
    let s3 = ctx.s3();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    s3.put_object()
        .bucket(&bucket)
        .key("child.yml")
        .body(CHILD_TEMPLATE.as_bytes().to_vec().into())
        .send()
        .await
        .expect("PutObject");
    let url = format!("{}/{bucket}/child.yml", ctx.endpoint);

    let rec = Recorder::default();
    let req = StackRequest::new(&stack, Template::Body(root_template(&url, "r1")));
    assert_eq!(
        ctx.deployer.deploy(&req, &rec).await.expect("create"),
        Outcome::Created
    );
    let nested_events: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| e.stack != stack)
        .collect();
    assert!(
        nested_events
            .iter()
            .any(|e| e.logical_id == "ChildParam" && e.status == "CREATE_COMPLETE"),
        "nested events: {nested_events:?}"
    );
    let child_name = ctx.output(&stack, "ChildParamName").await;
    assert!(child_name.is_some_and(|n| !n.is_empty()));

    let nested = nested_stack_ids(&ctx, &stack).await;
    assert_eq!(nested.len(), 1);

    // No change: the empty change set is gone, nothing is listed on the root nor on the nested
    // stack. (LocalStack neither creates nested change sets nor lists FAILED change sets, so
    // the clean-up of Copilot's leftovers, aws/copilot-cli#4426, only runs its
    // ListStackResources/ListChangeSets calls here.)
    let rec = Recorder::default();
    assert_eq!(
        ctx.deployer.deploy(&req, &rec).await.expect("no change"),
        Outcome::NoChanges
    );
    assert_change_set_gone(&ctx, &stack, &rec).await;
    assert_eq!(ctx.change_sets(&stack).await, vec![]);
    assert_eq!(ctx.change_sets(&nested[0]).await, vec![]);

    // Root changes, nested one does not: updated, no change set listed anywhere.
    let rec = Recorder::default();
    let req = StackRequest::new(&stack, Template::Body(root_template(&url, "r2")));
    assert_eq!(
        ctx.deployer.deploy(&req, &rec).await.expect("update"),
        Outcome::Updated
    );
    assert!(
        rec.has("RootParam", "UPDATE_COMPLETE"),
        "{:?}",
        rec.events()
    );
    assert!(
        !rec.events().iter().any(|e| e.stack != stack),
        "the unchanged nested stack has no events: {:?}",
        rec.events()
    );
    assert_eq!(ctx.change_sets(&stack).await, vec![]);
    assert_eq!(ctx.change_sets(&nested[0]).await, vec![]);

    let rec = Recorder::default();
    ctx.deployer
        .delete_stack(&stack, &rec)
        .await
        .expect("delete");
}

/// The change set named in the recorded `NoChanges` phase no longer exists.
async fn assert_change_set_gone(ctx: &Ctx, stack: &str, rec: &Recorder) {
    let name = rec
        .phases()
        .iter()
        .find_map(|p| match p {
            Phase::NoChanges { change_set, .. } => Some(change_set.clone()),
            _ => None,
        })
        .expect("a NoChanges phase");
    let described = ctx
        .cfn
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .send()
        .await;
    assert!(
        described.is_err(),
        "change set {name} still exists: {described:?}"
    );
}

async fn nested_stack_ids(ctx: &Ctx, stack: &str) -> Vec<String> {
    let out = ctx
        .cfn
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .expect("ListStackResources");
    out.stack_resource_summaries()
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::CloudFormation::Stack"))
        .filter_map(|r| r.physical_resource_id().map(str::to_owned))
        .collect()
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn bootstrap_bucket_stack() {
    let ctx = Ctx::new().await;
    let app = unique("app");
    let rec = Recorder::default();
    let account = ctx.deployer.account_id().await.expect("account");
    let name = copilot_model::bucket_name(&app, &account, ctx.deployer.region());
    let stack = copilot_model::infrastructure_stack_name(&app);
    let req = StackRequest::new(
        &stack,
        Template::Body(copilot_model::bucket_template(&app, &name)),
    );
    let mut req = req;
    req.tags = copilot_model::bucket_stack_tags(&app);

    // A stack of that name that someone else left in ROLLBACK_COMPLETE (no tags of ours) is
    // neither deleted nor re-created.
    let failed = StackRequest::new(&stack, Template::Body(FAILING_TEMPLATE.to_owned()));
    ctx.deployer
        .deploy(&failed, &())
        .await
        .expect_err("must fail");
    assert_eq!(
        ctx.status(&stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    let err = ctx
        .deployer
        .ensure_stack_output(&req, BUCKET_OUTPUT, &())
        .await
        .expect_err("not ours");
    assert!(matches!(err, DeployError::NotOurs { .. }), "{err:?}");
    assert_eq!(
        ctx.status(&stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");

    let bucket = ctx
        .deployer
        .ensure_stack_output(&req, BUCKET_OUTPUT, &rec)
        .await
        .expect("bootstrap");
    assert_eq!(bucket, name);
    assert!(
        rec.phases()
            .iter()
            .any(|p| matches!(p, Phase::CreatingStackFor { .. }))
    );
    assert_eq!(
        ctx.output(&stack, BUCKET_OUTPUT).await.as_deref(),
        Some(bucket.as_str())
    );

    let s3 = ctx.s3();
    s3.head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket exists");
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let enc = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("encryption");
    let rule = enc
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(rule.as_deref(), Some("AES256"));
    let pab = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block");
    let conf = pab
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(conf.block_public_acls(), Some(true));
    assert_eq!(conf.restrict_public_buckets(), Some(true));
    let policy = s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy");
    assert!(
        policy
            .policy()
            .is_some_and(|p| p.contains("aws:SecureTransport"))
    );
    // (LifecycleConfiguration, the abort of incomplete multipart uploads, is not applied by
    // LocalStack's AWS::S3::Bucket provider: checked by the template's unit test only.)

    // Second call: read from the stack, nothing deployed.
    let rec = Recorder::default();
    assert_eq!(
        ctx.deployer
            .ensure_stack_output(&req, BUCKET_OUTPUT, &rec)
            .await
            .expect("again"),
        bucket
    );
    assert!(rec.phases().is_empty(), "{:?}", rec.phases());

    // Clean up (an empty bucket deletes with its stack).
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn busy_and_detached() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-detach");
    // 40 chained resources: several seconds of CREATE_IN_PROGRESS on LocalStack.
    let mut req = StackRequest::new(&stack, Template::Body(slow_template(40, "a")));
    req.detach = true;
    assert_eq!(
        ctx.deployer.deploy(&req, &()).await.expect("detached"),
        Outcome::Detached
    );
    // Returned right after ExecuteChangeSet: the stack is being created, a deploy is refused.
    let err = ctx
        .deployer
        .deploy(&param_request(&stack, "two"), &())
        .await
        .expect_err("busy");
    assert!(
        matches!(&err, DeployError::Busy { status, .. } if status == "CREATE_IN_PROGRESS"),
        "{err:?}"
    );
    assert!(err.to_string().contains("wait for it to finish"), "{err}");
    assert!(matches!(
        ctx.deployer.delete_stack(&stack, &()).await,
        Err(DeployError::Busy { .. })
    ));
    let mut settled = false;
    for _ in 0..240 {
        if ctx.status(&stack).await.as_deref() == Some("CREATE_COMPLETE") {
            settled = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(settled);
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");
}

/// Many resources, so that the creation is still running when the cancellation arrives.
fn slow_template(n: usize, value: &str) -> String {
    let mut t = String::from("Resources:\n");
    for i in 0..n {
        t.push_str(&format!(
            "  P{i}:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: {value}\n"
        ));
        if i > 0 {
            t.push_str(&format!("    DependsOn: P{}\n", i - 1));
        }
    }
    t
}

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn cancel_create_deletes_and_cancel_update_rolls_back() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-cancel");

    let token = CancellationToken::new();
    let rec = Recorder {
        cancel_on_execute: Some(token.clone()),
        ..Recorder::default()
    };
    let req = StackRequest::new(&stack, Template::Body(slow_template(40, "a")));
    let result = ctx.deployer.deploy_with_cancel(&req, &rec, &token).await;
    eprintln!("cancel create: {result:?}");
    match result {
        Err(DeployError::Cancelled { final_status, .. }) => {
            assert_eq!(final_status, "DELETE_COMPLETE");
            assert!(
                rec.phases()
                    .iter()
                    .any(|p| matches!(p, Phase::Cancelling { .. }))
            );
            // LocalStack may let the creation run on after the first DeleteStack (the stack
            // then ends CREATE_COMPLETE); the deployer must have asked again. Either way the
            // stack is gone, and stays gone.
            let again = rec
                .phases()
                .iter()
                .filter(|p| matches!(p, Phase::DeletingAgain { .. }))
                .count();
            eprintln!("cancel create: deleted after {} request(s)", again + 1);
            for _ in 0..4 {
                assert!(
                    matches!(
                        ctx.status(&stack).await.as_deref(),
                        None | Some("DELETE_COMPLETE")
                    ),
                    "the cancelled stack came back: {:?}",
                    ctx.status(&stack).await
                );
                tokio::time::sleep(POLL).await;
            }
        }
        other => panic!("expected a cancelled create, got {other:?}"),
    }

    let stack = unique("dep-cancel-up");
    let req = StackRequest::new(&stack, Template::Body(slow_template(40, "a")));
    assert_eq!(
        ctx.deployer.deploy(&req, &()).await.expect("create"),
        Outcome::Created
    );
    let token = CancellationToken::new();
    let rec = Recorder {
        cancel_on_execute: Some(token.clone()),
        ..Recorder::default()
    };
    let req = StackRequest::new(&stack, Template::Body(slow_template(40, "b")));
    let result = ctx.deployer.deploy_with_cancel(&req, &rec, &token).await;
    eprintln!("cancel update: {result:?}");
    assert!(
        rec.phases().iter().any(
            |p| matches!(p, Phase::Cancelling { status, .. } if status == "UPDATE_IN_PROGRESS")
        ),
        "{:?}",
        rec.phases()
    );
    match result {
        Err(DeployError::Cancelled { final_status, .. }) => {
            assert_eq!(final_status, "UPDATE_ROLLBACK_COMPLETE")
        }
        // LocalStack does not emulate CancelUpdateStack (InternalFailure "not yet emulated"):
        // the update goes on and succeeds, which is what AWS does for a cancel that comes too
        // late.
        Ok(Outcome::Updated) => {}
        other => panic!("expected a cancelled update, got {other:?}"),
    }
    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");
}

/// Two parameters, each read by its own resource.
const GUARD_TEMPLATE: &str = r#"
Parameters:
  Mine:
    Type: String
  Theirs:
    Type: String
Resources:
  MineParam:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Ref Mine
  TheirsParam:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Ref Theirs
"#;

#[tokio::test]
#[ignore = "needs LocalStack: cargo xtask e2e deploy-crate"]
async fn the_guard_refuses_changes_outside_the_allowed_resources() {
    let ctx = Ctx::new().await;
    let stack = unique("dep-guard");
    let mut req = StackRequest::new(&stack, Template::Body(GUARD_TEMPLATE.to_owned()));
    req.parameters = vec![
        ("Mine".to_owned(), "m1".to_owned()),
        ("Theirs".to_owned(), "t1".to_owned()),
    ];
    req.tags = vec![("owner".to_owned(), "someone".to_owned())];
    assert_eq!(
        ctx.deployer.deploy(&req, &()).await.expect("create"),
        Outcome::Created
    );
    let theirs_id = |ctx: &Ctx| {
        let cfn = ctx.cfn.clone();
        let stack = stack.clone();
        async move {
            cfn.describe_stack_resource()
                .stack_name(&stack)
                .logical_resource_id("TheirsParam")
                .send()
                .await
                .expect("resource")
                .stack_resource_detail()
                .and_then(|d| d.physical_resource_id().map(str::to_owned))
        }
    };
    let before = theirs_id(&ctx).await;

    // Only MineParam may change, and only Mine is given: Theirs keeps its value.
    let mut guarded = StackRequest::new(&stack, Template::Body(GUARD_TEMPLATE.to_owned()));
    guarded.parameters = vec![("Mine".to_owned(), "m2".to_owned())];
    guarded.previous_parameters = vec!["Theirs".to_owned()];
    guarded.tags = req.tags.clone();
    guarded.allowed_changes = Some(vec!["MineParam".to_owned()]);
    assert_eq!(
        ctx.deployer
            .deploy(&guarded, &())
            .await
            .expect("allowed update"),
        Outcome::Updated
    );
    let described = ctx
        .deployer
        .stack(&stack)
        .await
        .expect("describe")
        .expect("stack");
    let value = |k: &str| {
        described
            .parameters
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value("Mine").as_deref(), Some("m2"));
    assert_eq!(value("Theirs").as_deref(), Some("t1"), "UsePreviousValue");
    assert_eq!(described.tags, req.tags);

    // Changing Theirs would modify TheirsParam: the change set is deleted, not executed.
    let mut refused = guarded.clone();
    refused.parameters = vec![
        ("Mine".to_owned(), "m3".to_owned()),
        ("Theirs".to_owned(), "t2".to_owned()),
    ];
    refused.previous_parameters.clear();
    let rec = Recorder::default();
    let err = ctx
        .deployer
        .deploy(&refused, &rec)
        .await
        .expect_err("guarded");
    match &err {
        DeployError::Guarded { refused, .. } => {
            assert!(
                refused.iter().any(|c| c.logical_id == "TheirsParam"),
                "{refused:?}"
            );
            assert!(refused.iter().all(|c| c.logical_id != "MineParam"));
        }
        other => panic!("expected the guard, got {other:?}"),
    }
    assert!(err.to_string().contains("TheirsParam"), "{err}");
    assert!(
        rec.phases()
            .iter()
            .any(|p| matches!(p, Phase::Guarded { .. }))
    );
    assert_eq!(ctx.status(&stack).await.as_deref(), Some("UPDATE_COMPLETE"));
    let described = ctx
        .deployer
        .stack(&stack)
        .await
        .expect("describe")
        .expect("stack");
    assert!(
        described
            .parameters
            .iter()
            .any(|(k, v)| k == "Theirs" && v == "t1"),
        "the refused change set was executed: {:?}",
        described.parameters
    );
    assert_eq!(theirs_id(&ctx).await, before);
    let left: Vec<_> = ctx
        .change_sets(&stack)
        .await
        .into_iter()
        .filter(|(_, status, _)| !status.starts_with("DELETE"))
        .collect();
    assert!(left.is_empty(), "change sets left behind: {left:?}");

    ctx.deployer
        .delete_stack(&stack, &())
        .await
        .expect("delete");
}
