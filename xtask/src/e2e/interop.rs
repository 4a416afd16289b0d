//! Copilot interop: copilot-lite inside an application that Copilot deployed.
//!
//! Each scenario deploys, with the AWS CLI, a stack `<app>-test-record-svc` shaped like
//! Copilot's Backend Service stack (Copilot's `Description` and `Metadata.Version`, its
//! parameters, the `HasAddons` condition and `AddonsStack` exactly as Copilot renders them,
//! `copilot-*` tags plus a user tag, and three cheap resources standing in for the ECS service),
//! or a stack of the same name that nobody we know made, then runs `copilot-lite svc ...` on a
//! copy of `examples/seed` and checks that nothing it does not own changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::ctx::{Ctx, copy_dir, str_of};
use super::{Needs, Scenario};

const SVC: &str = "record-svc";
const ENV: &str = "test";
const CODE: &str = "lambdas/record-processor";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "copilot-stack-addons",
            what: "a Copilot stack survives svc deploy (IDs, parameters, tags, template); only AddonsStack changes; no-op and --hotswap make no stack event; delete refuses, --addons-only removes them",
            needs: Needs::Svc,
            run: copilot_stack_addons,
        },
        Scenario {
            name: "copilot-stack-guard",
            what: "a change set that would touch a Copilot resource is deleted, not executed",
            needs: Needs::Svc,
            run: guard,
        },
        Scenario {
            name: "foreign-stack-refused",
            what: "a stack of the same name that is nobody's we know: deploy and delete refuse, nothing uploaded",
            needs: Needs::Svc,
            run: foreign,
        },
        Scenario {
            name: "svc-diff-fresh-app",
            what: "svc deploy --diff on a fresh app creates nothing (no stack, no bucket, no change set)",
            needs: Needs::Svc,
            run: diff_fresh_app,
        },
    ]
}

/// A fresh application per scenario.
fn app(ctx: &Ctx) -> String {
    format!("cp{}", ctx.id.replace('-', ""))
}

fn stack_name(ctx: &Ctx) -> String {
    format!("{}-{ENV}-{SVC}", app(ctx))
}

/// The stand-in for Copilot's Backend Service template. `extra` is added under `Resources`
/// (the guard scenario's resource that refers to AddonsTemplateURL).
fn copilot_template(extra: &str) -> String {
    format!(
        "# Copyright Amazon.com Inc. or its affiliates. All Rights Reserved.
# SPDX-License-Identifier: MIT-0
AWSTemplateFormatVersion: 2010-09-09
Description: CloudFormation template that represents a backend service on Amazon ECS.
Metadata:
  Version: v1.29.0
Parameters:
  AppName:
    Type: String
  EnvName:
    Type: String
  WorkloadName:
    Type: String
  ContainerImage:
    Type: String
  TaskCount:
    Type: Number
  AddonsTemplateURL:
    Description: \"URL of the addons nested stack template within the S3 bucket.\"
    Type: String
    Default: \"\"
Conditions:
  HasAddons: !Not [!Equals [!Ref AddonsTemplateURL, \"\"]]
Resources:
  TaskDefinition: # stands in for the ECS task definition
    Metadata:
      'aws:copilot:description': 'An ECS task definition to group your containers and run them on ECS'
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub '${{ContainerImage}} x ${{TaskCount}}'
  Service: # stands in for the ECS service
    Type: AWS::SQS::Queue
  Events:
    Type: AWS::SNS::Topic
{extra}  AddonsStack:
    Metadata:
      'aws:copilot:description': 'An Addons CloudFormation Stack for your additional AWS resources'
    Type: AWS::CloudFormation::Stack
    Condition: HasAddons
    Properties:
      Parameters:
        App: !Ref AppName
        Env: !Ref EnvName
        Name: !Ref WorkloadName
      TemplateURL:
        !Ref AddonsTemplateURL
Outputs:
  DiscoveryServiceARN:
    Value: !Ref Service
"
    )
}

/// Deploys the Copilot-shaped stack as Copilot would (its parameters and tags) and waits.
fn deploy_copilot_stack(ctx: &Ctx, template: &str) -> Result<()> {
    let app = app(ctx);
    let file = ctx.work.join("copilot-stack.yml");
    fs::write(&file, template)?;
    ctx.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &stack_name(ctx),
        "--template-body",
        &format!("file://{}", file.display()),
        "--parameters",
        &format!("ParameterKey=AppName,ParameterValue={app}"),
        &format!("ParameterKey=EnvName,ParameterValue={ENV}"),
        &format!("ParameterKey=WorkloadName,ParameterValue={SVC}"),
        "ParameterKey=ContainerImage,ParameterValue=public.ecr.aws/nginx:1",
        "ParameterKey=TaskCount,ParameterValue=2",
        "ParameterKey=AddonsTemplateURL,ParameterValue=",
        "--tags",
        &format!("Key=copilot-application,Value={app}"),
        &format!("Key=copilot-environment,Value={ENV}"),
        &format!("Key=copilot-service,Value={SVC}"),
        "Key=team,Value=core",
        "--capabilities",
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    ])?;
    let status = ctx.wait_stack(&stack_name(ctx), Duration::from_secs(120))?;
    ensure!(
        status == "CREATE_COMPLETE",
        "the Copilot-shaped stack is {status}: {}",
        ctx.failure_reasons(&stack_name(ctx))
    );
    Ok(())
}

/// What must not change in a stack copilot-lite does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// Logical ID -> (type, physical ID) of every resource but AddonsStack.
    resources: BTreeMap<String, (String, String)>,
    /// Every parameter but AddonsTemplateURL.
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    template: String,
}

fn snapshot(ctx: &Ctx, stack: &str) -> Result<Snapshot> {
    let resources = ctx
        .stack_resources(stack)?
        .into_iter()
        .filter(|(id, _)| id != "AddonsStack")
        .map(|(id, (kind, physical, _))| (id, (kind, physical)))
        .collect();
    let s = ctx.describe_stack(stack)?;
    let pairs = |key: &str, k: &str, v: &str| -> BTreeMap<String, String> {
        s.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|p| (str_of(p, k), str_of(p, v))).collect())
            .unwrap_or_default()
    };
    let mut parameters = pairs("Parameters", "ParameterKey", "ParameterValue");
    parameters.remove("AddonsTemplateURL");
    let tags = pairs("Tags", "Key", "Value");
    let template = ctx.stack_template(stack)?;
    Ok(Snapshot {
        resources,
        parameters,
        tags,
        template,
    })
}

fn parameter(ctx: &Ctx, stack: &str, key: &str) -> Result<String> {
    let s = ctx.describe_stack(stack)?;
    Ok(s.get("Parameters")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|p| str_of(p, "ParameterKey") == key))
        .map(|p| str_of(p, "ParameterValue"))
        .unwrap_or_default())
}

fn workspace(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    Ok(dir)
}

fn svc(ctx: &Ctx, dir: &Path, verb: &str, extra: &[&str]) -> Result<super::Run> {
    let app = app(ctx);
    let mut args = vec!["svc", verb, "-n", SVC, "-e", ENV, "-a", &app];
    args.extend_from_slice(extra);
    ctx.copilot(dir, &args)
}

/// The physical ID of the function in the addons stack.
fn addons_function(ctx: &Ctx, stack: &str) -> Result<String> {
    let resources = ctx.stack_resources(stack)?;
    let nested = resources
        .get("AddonsStack")
        .map(|(_, p, _)| p.clone())
        .filter(|p| !p.is_empty())
        .with_context(|| format!("stack {stack} has no AddonsStack: {resources:?}"))?;
    let inner = ctx.stack_resources(&nested)?;
    inner
        .get("recordProcessor")
        .map(|(_, p, _)| p.clone())
        .filter(|p| !p.is_empty())
        .with_context(|| format!("the addons stack has no recordProcessor: {inner:?}"))
}

/// The root stack's resource events after `since` (exclusive), as `LogicalId STATUS`.
fn events_after(ctx: &Ctx, stack: &str, since: usize) -> Result<Vec<String>> {
    let v = ctx.aws_json(&[
        "cloudformation",
        "describe-stack-events",
        "--stack-name",
        stack,
    ])?;
    let mut all: Vec<String> = v
        .get("StackEvents")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        str_of(e, "LogicalResourceId"),
                        str_of(e, "ResourceStatus")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    all.reverse(); // oldest first
    Ok(all.split_off(since.min(all.len())))
}

fn event_count(ctx: &Ctx, stack: &str) -> Result<usize> {
    events_after(ctx, stack, 0).map(|e| e.len())
}

/// Events of resources other than the stack itself and AddonsStack.
fn foreign_events(events: &[String], stack: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            let id = e.split(' ').next().unwrap_or_default();
            id != stack && id != "AddonsStack"
        })
        .cloned()
        .collect()
}

/// Copilot's application stack set `<app>-infrastructure` with an instance in this account
/// and region, whose stack has the output `PipelineBucket` (Copilot's regional resources, a
/// bucket alone here). Returns the bucket's name.
fn copilot_app_stack_set(ctx: &Ctx) -> Result<String> {
    let set = format!("{}-infrastructure", app(ctx));
    let file = ctx.work.join("app-stack-set.yml");
    fs::write(
        &file,
        "Description: Cross-regional resources to support the CodePipeline for a workspace\nResources:\n  PipelineBuiltArtifactBucket:\n    Type: AWS::S3::Bucket\nOutputs:\n  PipelineBucket:\n    Value: !Ref PipelineBuiltArtifactBucket\n",
    )?;
    ctx.aws(&[
        "cloudformation",
        "create-stack-set",
        "--stack-set-name",
        &set,
        "--template-body",
        &format!("file://{}", file.display()),
        "--tags",
        &format!("Key=copilot-application,Value={}", app(ctx)),
    ])?;
    let account = ctx.aws(&[
        "sts",
        "get-caller-identity",
        "--query",
        "Account",
        "--output",
        "text",
    ])?;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    ctx.aws(&[
        "cloudformation",
        "create-stack-instances",
        "--stack-set-name",
        &set,
        "--accounts",
        account.trim(),
        "--regions",
        &region,
    ])?;
    let instances = ctx.aws_json(&[
        "cloudformation",
        "list-stack-instances",
        "--stack-set-name",
        &set,
    ])?;
    let stack_id = instances
        .pointer("/Summaries/0/StackId")
        .and_then(Value::as_str)
        .with_context(|| format!("stack set {set} has no instance: {instances}"))?
        .to_owned();
    ctx.wait_stack(&stack_id, Duration::from_secs(60))?;
    ctx.stack_outputs(&stack_id)?
        .get("PipelineBucket")
        .cloned()
        .with_context(|| format!("the instance of {set} has no output PipelineBucket"))
}

fn copilot_stack_addons(ctx: &mut Ctx) -> Result<()> {
    let stack = stack_name(ctx);
    let copilot_bucket = copilot_app_stack_set(ctx)?;
    let original = copilot_template("");
    deploy_copilot_stack(ctx, &original)?;
    let before = snapshot(ctx, &stack)?;
    ensure!(
        before.template == original,
        "GetTemplate does not return the template as deployed"
    );
    let dir = workspace(ctx)?;

    // Deploy the addons into Copilot's stack.
    let events0 = event_count(ctx, &stack)?;
    let run = svc(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        run.stderr.contains("only its AddonsStack changed"),
        "the deploy did not say it only changed the addons:\n{}",
        run.tail()
    );
    let status = ctx.wait_stack(&stack, Duration::from_secs(120))?;
    ensure!(status == "UPDATE_COMPLETE", "stack {stack} is {status}");
    let after = snapshot(ctx, &stack)?;
    ensure!(
        after == before,
        "Copilot's stack changed beyond its addons:\nbefore {before:#?}\nafter {after:#?}"
    );
    let url = parameter(ctx, &stack, "AddonsTemplateURL")?;
    ensure!(
        url.contains("/manual/addons/record-svc/"),
        "AddonsTemplateURL is {url:?}"
    );
    let function = addons_function(ctx, &stack)?;
    ctx.check_function_code(&function, &dir.join(CODE))?;
    // The assets went to Copilot's artifact bucket, beside Copilot's own; no bucket of
    // copilot-lite's was made.
    ensure!(
        url.contains(&copilot_bucket),
        "AddonsTemplateURL {url} is not in Copilot's bucket {copilot_bucket}"
    );
    let objects = ctx.list_objects(&copilot_bucket)?;
    ensure!(
        objects
            .iter()
            .any(|o| o.key.starts_with("manual/addons/record-svc/assets/")),
        "no asset under manual/addons/record-svc/assets/ in Copilot's bucket {copilot_bucket}"
    );
    let own_bucket_stack = format!("{}-infrastructure", app(ctx));
    ensure!(
        ctx.wait_stack(&own_bucket_stack, Duration::from_secs(5))? == "GONE",
        "copilot-lite created its own bucket stack {own_bucket_stack} beside Copilot's"
    );
    let touched = foreign_events(&events_after(ctx, &stack, events0)?, &stack);
    ensure!(
        touched.is_empty(),
        "the deploy touched Copilot's resources: {touched:?}"
    );

    // A changed addon: only AddonsStack is updated, the function has the new code.
    fs::write(
        dir.join(CODE).join("interop.txt"),
        "a change made by the interop scenario\n",
    )?;
    let events1 = event_count(ctx, &stack)?;
    svc(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "the second deploy did not complete"
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "the second deploy changed Copilot's stack beyond its addons"
    );
    let new_url = parameter(ctx, &stack, "AddonsTemplateURL")?;
    ensure!(
        new_url != url,
        "AddonsTemplateURL did not change: {new_url}"
    );
    ctx.check_function_code(&addons_function(ctx, &stack)?, &dir.join(CODE))?;
    let events = events_after(ctx, &stack, events1)?;
    ensure!(
        events
            .iter()
            .any(|e| e.starts_with("AddonsStack UPDATE_COMPLETE")),
        "AddonsStack was not updated: {events:?}"
    );
    let touched = foreign_events(&events, &stack);
    ensure!(
        touched.is_empty(),
        "the second deploy touched Copilot's resources: {touched:?}"
    );

    // Nothing changed: no change set, no stack event.
    let events2 = event_count(ctx, &stack)?;
    let run = svc(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        run.stderr.contains("No changes: stack"),
        "a deploy without change into Copilot's stack was not a no-op:
{}",
        run.tail()
    );
    ensure!(
        event_count(ctx, &stack)? == events2,
        "the no-op deploy made stack events: {:?}",
        events_after(ctx, &stack, events2)?
    );

    // A code edit hotswapped into the addons' function of Copilot's stack: the function has
    // the new code; CloudFormation saw nothing (no event, same parameters and template).
    fs::write(
        dir.join(CODE).join("interop.txt"),
        "a change hotswapped by the interop scenario\n",
    )?;
    let run = svc(ctx, &dir, "deploy", &["--hotswap"])?.check()?;
    ensure!(
        run.stderr.contains("Hotswapped the code of 1 function"),
        "--hotswap into Copilot's stack did not hotswap:\n{}",
        run.tail()
    );
    ctx.check_function_code(&addons_function(ctx, &stack)?, &dir.join(CODE))?;
    ensure!(
        event_count(ctx, &stack)? == events2,
        "the hotswap made stack events: {:?}",
        events_after(ctx, &stack, events2)?
    );
    ensure!(
        parameter(ctx, &stack, "AddonsTemplateURL")? == new_url && snapshot(ctx, &stack)? == before,
        "the hotswap changed Copilot's stack"
    );
    // The next deploy brings CloudFormation in line, and only AddonsStack changes.
    svc(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        snapshot(ctx, &stack)? == before && parameter(ctx, &stack, "AddonsTemplateURL")? != new_url,
        "the deploy after the hotswap did not update just the addons"
    );
    let touched = foreign_events(&events_after(ctx, &stack, events2)?, &stack);
    ensure!(
        touched.is_empty(),
        "the deploy after the hotswap touched Copilot's resources: {touched:?}"
    );
    ctx.check_function_code(&addons_function(ctx, &stack)?, &dir.join(CODE))?;

    // svc delete refuses a Copilot stack and leaves it as it is.
    let run = svc(ctx, &dir, "delete", &[])?;
    ensure!(!run.ok, "svc delete of Copilot's stack exited 0");
    ensure!(
        run.stderr.contains("copilot svc delete"),
        "svc delete did not say how to delete a Copilot service:\n{}",
        run.tail()
    );
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(30))? == "UPDATE_COMPLETE",
        "svc delete changed the stack"
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "svc delete changed the stack"
    );

    // --addons-only removes AddonsStack alone: its change set (guarded) holds one change, the
    // removal of AddonsStack; AddonsTemplateURL is empty; Copilot's resources are untouched.
    // (LocalStack's engine executes the removal of a resource whose condition became false
    // without deleting it: the nested stack stays UPDATE_COMPLETE there, so its deletion is
    // verified on AWS only.)
    let run = svc(ctx, &dir, "delete", &["--addons-only"])?.check()?;
    ensure!(
        run.stderr.contains("Executing 1 change(s)")
            && run
                .stderr
                .contains("Remove   AddonsStack (AWS::CloudFormation::Stack)"),
        "svc delete --addons-only did not remove AddonsStack alone:\n{}",
        run.tail()
    );
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "svc delete --addons-only did not complete"
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "svc delete --addons-only changed Copilot's resources"
    );
    ensure!(
        parameter(ctx, &stack, "AddonsTemplateURL")?.is_empty(),
        "AddonsTemplateURL is still set"
    );
    Ok(())
}

fn guard(ctx: &mut Ctx) -> Result<()> {
    let stack = stack_name(ctx);
    // A deployed template the classifier accepts, but where a Copilot resource refers to the
    // addons URL: changing the parameter would modify it.
    let extra = "  AddonsURLRecord:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: !Sub 'addons=${AddonsTemplateURL}'\n";
    deploy_copilot_stack(ctx, &copilot_template(extra))?;
    let before = snapshot(ctx, &stack)?;
    let dir = workspace(ctx)?;
    let run = svc(ctx, &dir, "deploy", &[])?;
    ensure!(!run.ok, "the guarded deploy exited 0:\n{}", run.tail());
    ensure!(
        run.stderr.contains("AddonsURLRecord"),
        "the refusal does not name the resource it would change:\n{}",
        run.tail()
    );
    ensure!(
        run.stderr.contains("nothing was changed"),
        "the refusal does not say nothing changed:\n{}",
        run.tail()
    );
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(30))? == "CREATE_COMPLETE",
        "the stack was changed"
    );
    ensure!(snapshot(ctx, &stack)? == before, "the stack was changed");
    ensure!(
        parameter(ctx, &stack, "AddonsTemplateURL")?.is_empty(),
        "AddonsTemplateURL was set"
    );
    let sets = ctx.aws_json(&["cloudformation", "list-change-sets", "--stack-name", &stack])?;
    let left: Vec<&Value> = sets
        .get("Summaries")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|s| !str_of(s, "Status").starts_with("DELETE"))
                .collect()
        })
        .unwrap_or_default();
    ensure!(left.is_empty(), "change sets left behind: {left:?}");
    Ok(())
}

fn foreign(ctx: &mut Ctx) -> Result<()> {
    let stack = stack_name(ctx);
    ctx.create_foreign_stack(&stack)?;
    let before = snapshot(ctx, &stack)?;
    let dir = workspace(ctx)?;
    for (verb, extra) in [
        ("deploy", &[][..]),
        ("delete", &[][..]),
        ("delete", &["--addons-only"][..]),
    ] {
        let run = svc(ctx, &dir, verb, extra)?;
        ensure!(!run.ok, "svc {verb} {extra:?} of a foreign stack exited 0");
        ensure!(
            run.stderr
                .contains("neither by Copilot nor by copilot-lite")
                && run.stderr.contains(&stack),
            "svc {verb} did not say why the stack is not its own:\n{}",
            run.tail()
        );
        ensure!(
            ctx.wait_stack(&stack, Duration::from_secs(30))? == "CREATE_COMPLETE"
                && snapshot(ctx, &stack)? == before,
            "svc {verb} changed the foreign stack"
        );
    }
    // Nothing uploaded: the refusal came before the artifact bucket was even looked for.
    let bucket_stack = format!("{}-infrastructure", app(ctx));
    ensure!(
        ctx.wait_stack(&bucket_stack, Duration::from_secs(5))? == "GONE",
        "stack {bucket_stack} was created"
    );
    Ok(())
}

fn diff_fresh_app(ctx: &mut Ctx) -> Result<()> {
    let dir = workspace(ctx)?;
    let run = svc(ctx, &dir, "deploy", &["--diff"])?;
    ensure!(
        run.code == Some(1),
        "--diff on a fresh app should exit 1 (differences), got {:?}:\n{}",
        run.code,
        run.tail()
    );
    ensure!(
        run.stdout.contains("+  recordProcessor:"),
        "--diff does not show the addons to be added:\n{}",
        run.stdout
    );
    for stack in [stack_name(ctx), format!("{}-infrastructure", app(ctx))] {
        ensure!(
            ctx.wait_stack(&stack, Duration::from_secs(5))? == "GONE",
            "--diff left stack {stack} behind"
        );
    }
    let buckets = ctx.aws_json(&["s3api", "list-buckets"])?;
    let app = app(ctx);
    let made: Vec<String> = buckets
        .get("Buckets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|b| str_of(b, "Name"))
                .filter(|n| n.contains(&app))
                .collect()
        })
        .unwrap_or_default();
    ensure!(made.is_empty(), "--diff created buckets: {made:?}");
    Ok(())
}
