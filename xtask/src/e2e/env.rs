//! Environment addons (`copilot/environments/addons/`, `copilot-lite env ...`) on a copy of
//! `examples/seed` with an environment addon added: a Lambda function deployed from a local
//! folder, and a queue whose URL is exported for the services.
//!
//! `env-deploy`: copilot-lite's own environment stack `<app>-<env>` (no stack of that name):
//! created, redeployed unchanged (nothing uploaded, stack untouched), redeployed after a code
//! change, deleted. `env-copilot-stack`: a stack shaped like Copilot's environment stack
//! (Copilot's `Description` and `Metadata`, `AppName`/`EnvironmentName`, cheap resources
//! standing in for the VPC and cluster, `copilot-*` tags and a user tag), deployed with the
//! AWS CLI, gains, updates and loses its `AddonsStack` with every other resource, parameter
//! and tag intact. `env-foreign-refused`: a stack of that name that is nobody's we know.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::ctx::{Ctx, copy_dir, str_of};
use super::{Needs, Scenario};

const ENV: &str = "test";
const CODE: &str = "lambdas/shared-processor";
const ADDON: &str = "copilot/environments/addons/shared.yml";
const ASSETS: &str = "manual/addons/environments/assets/";

/// The environment addon: a function from the local folder [`CODE`] and an exported queue.
const SHARED: &str = "\
# Shared by every service of the environment.
Parameters:
  App:
    Type: String
  Env:
    Type: String
Resources:
  sharedProcessor:
    Type: AWS::Lambda::Function
    Properties:
      Code: lambdas/shared-processor/ # a local folder
      Handler: index.handler
      Runtime: nodejs20.x
      Role: !GetAtt sharedProcessorRole.Arn
  sharedProcessorRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal:
              Service: [lambda.amazonaws.com]
            Action: [sts:AssumeRole]
  sharedQueue:
    Type: AWS::SQS::Queue
Outputs:
  SharedQueueUrl:
    Value: !Ref sharedQueue
    Export:
      Name: !Sub ${App}-${Env}-SharedQueueUrl
";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "env-deploy",
            what: "env deploy into copilot-lite's own <app>-<env>: code = folder, export read by a service; no-op; code change; env delete",
            needs: Needs::Svc,
            run: own_stack,
        },
        Scenario {
            name: "env-copilot-stack",
            what: "a Copilot environment stack gains, updates and loses AddonsStack; all else intact",
            needs: Needs::Svc,
            run: copilot_stack,
        },
        Scenario {
            name: "env-foreign-refused",
            what: "an <app>-<env> stack that is nobody's we know: env deploy and delete refuse, nothing uploaded",
            needs: Needs::Svc,
            run: foreign,
        },
    ]
}

/// A fresh application per scenario.
fn app(ctx: &Ctx) -> String {
    format!("ev{}", ctx.id.replace('-', ""))
}

fn stack_name(ctx: &Ctx) -> String {
    format!("{}-{ENV}", app(ctx))
}

/// A copy of `examples/seed` with the environment addon and its function's folder.
fn workspace(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    let addon = dir.join(ADDON);
    fs::create_dir_all(addon.parent().context("addon path")?)?;
    fs::write(&addon, SHARED)?;
    fs::create_dir_all(dir.join(CODE))?;
    fs::write(
        dir.join(CODE).join("index.js"),
        "exports.handler = async () => ({ shared: true });\n",
    )?;
    Ok(dir)
}

fn env(ctx: &Ctx, dir: &Path, verb: &str, extra: &[&str]) -> Result<super::Run> {
    let app = app(ctx);
    let mut args = vec!["env", verb, "-n", ENV, "-a", &app];
    args.extend_from_slice(extra);
    ctx.copilot(dir, &args)
}

/// The physical ID of a resource of the stack's `AddonsStack`.
fn addons_resource(ctx: &Ctx, stack: &str, logical: &str) -> Result<String> {
    let resources = ctx.stack_resources(stack)?;
    let nested = resources
        .get("AddonsStack")
        .map(|(_, p, _)| p.clone())
        .filter(|p| !p.is_empty())
        .with_context(|| format!("stack {stack} has no AddonsStack: {resources:?}"))?;
    let inner = ctx.stack_resources(&nested)?;
    inner
        .get(logical)
        .map(|(_, p, _)| p.clone())
        .filter(|p| !p.is_empty())
        .with_context(|| format!("the addons stack has no {logical}: {inner:?}"))
}

fn exports(ctx: &Ctx) -> Result<BTreeMap<String, String>> {
    let v = ctx.aws_json(&["cloudformation", "list-exports"])?;
    Ok(v.get("Exports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| (str_of(e, "Name"), str_of(e, "Value")))
                .collect()
        })
        .unwrap_or_default())
}

fn last_updated(ctx: &Ctx, stack: &str) -> Result<String> {
    let s = ctx.describe_stack(stack)?;
    Ok(format!(
        "{} {}",
        str_of(&s, "StackStatus"),
        s.get("LastUpdatedTime")
            .and_then(Value::as_str)
            .unwrap_or("never")
    ))
}

fn bucket(ctx: &Ctx) -> Result<String> {
    let stack = format!("{}-infrastructure", app(ctx));
    ctx.stack_outputs(&stack)?
        .get("ArtifactBucket")
        .cloned()
        .with_context(|| format!("stack {stack} has no output ArtifactBucket"))
}

fn own_stack(ctx: &mut Ctx) -> Result<()> {
    let stack = stack_name(ctx);
    let dir = workspace(ctx)?;
    let run = env(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "CREATE_COMPLETE",
        "stack {stack} is not CREATE_COMPLETE: {}\n{}",
        ctx.failure_reasons(&stack),
        run.tail()
    );
    let tags = ctx.describe_stack(&stack)?;
    let tags: Vec<(String, String)> = tags
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| (str_of(t, "Key"), str_of(t, "Value")))
                .collect()
        })
        .unwrap_or_default();
    for tag in [
        ("copilot-application", app(ctx)),
        ("copilot-environment", ENV.to_owned()),
        ("copilot-lite:managed", "true".to_owned()),
    ] {
        ensure!(
            tags.contains(&(tag.0.to_owned(), tag.1.clone())),
            "stack {stack} lacks tag {tag:?}: {tags:?}"
        );
    }
    let function = addons_resource(ctx, &stack, "sharedProcessor")?;
    ctx.check_function_code(&function, &dir.join(CODE))?;
    let export = format!("{}-{ENV}-SharedQueueUrl", app(ctx));
    let queue = addons_resource(ctx, &stack, "sharedQueue")?;
    ensure!(
        exports(ctx)?.get(&export) == Some(&queue),
        "export {export} is not the queue {queue}: {:?}",
        exports(ctx)?
    );
    let bucket = bucket(ctx)?;
    let objects = ctx.list_objects(&bucket)?;
    ensure!(
        objects.iter().any(|o| o.key.starts_with(ASSETS)),
        "no asset under {ASSETS} in {bucket}"
    );

    // Unchanged: no change set, nothing uploaded, the stack untouched.
    let before = last_updated(ctx, &stack)?;
    std::thread::sleep(Duration::from_millis(1100));
    let run = env(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        run.stderr.contains("No changes: stack") && run.stderr.contains("no change set made"),
        "a deploy without change did not say so:\n{}",
        run.tail()
    );
    ensure!(
        !run.stderr.contains("change set copilot-lite-"),
        "a deploy without change made a change set:\n{}",
        run.tail()
    );
    ensure!(
        ctx.list_objects(&bucket)? == objects,
        "a deploy without change touched the bucket"
    );
    ensure!(
        last_updated(ctx, &stack)? == before,
        "a deploy without change updated the stack"
    );

    // A code change: a new asset, the function updated.
    fs::write(
        dir.join(CODE).join("index.js"),
        "exports.handler = async () => 2;\n",
    )?;
    env(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "the code change did not update {stack}"
    );
    ensure!(
        ctx.list_objects(&bucket)?.len() > objects.len(),
        "the code change uploaded nothing"
    );
    ctx.check_function_code(
        &addons_resource(ctx, &stack, "sharedProcessor")?,
        &dir.join(CODE),
    )?;

    // A service's addon reads the environment addon's export.
    let ddb = dir.join("copilot/record-svc/addons/ddb.yml");
    let text = fs::read_to_string(&ddb)?;
    let with_import = text.replacen(
        "      Runtime: nodejs20.x\n",
        "      Runtime: nodejs20.x\n      Environment:\n        Variables:\n          SHARED_QUEUE: !ImportValue\n            Fn::Sub: ${App}-${Env}-SharedQueueUrl\n",
        1,
    );
    ensure!(
        with_import != text,
        "examples/seed changed: no `Runtime: nodejs20.x` in ddb.yml"
    );
    fs::write(&ddb, with_import)?;
    let app = app(ctx);
    let svc = ["svc", "deploy", "-n", "record-svc", "-e", ENV, "-a", &app];
    let run = ctx.copilot(&dir, &svc)?.check()?;
    let svc_stack = format!("{app}-{ENV}-record-svc");
    ensure!(
        ctx.wait_stack(&svc_stack, Duration::from_secs(120))? == "CREATE_COMPLETE",
        "the service importing the export: {}\n{}",
        ctx.failure_reasons(&svc_stack),
        run.tail()
    );
    let function = addons_resource(ctx, &svc_stack, "recordProcessor")?;
    let config = ctx.aws_json(&[
        "lambda",
        "get-function-configuration",
        "--function-name",
        &function,
    ])?;
    ensure!(
        config
            .pointer("/Environment/Variables/SHARED_QUEUE")
            .and_then(Value::as_str)
            == Some(queue.as_str()),
        "the service's function does not read the environment's queue {queue}: {config}"
    );
    ctx.copilot(
        &dir,
        &["svc", "delete", "-n", "record-svc", "-e", ENV, "-a", &app],
    )?
    .check()?;
    ctx.wait_stack(&svc_stack, Duration::from_secs(120))?;

    // --addons-only is for Copilot's stacks; env delete deletes the own stack.
    let run = env(ctx, &dir, "delete", &["--addons-only"])?;
    ensure!(
        !run.ok && run.stderr.contains("without --addons-only"),
        "env delete --addons-only of the own stack:\n{}",
        run.tail()
    );
    let run = env(ctx, &dir, "delete", &[])?.check()?;
    ensure!(
        run.stderr.contains(&format!("Deleted stack {stack}")),
        "env delete did not report the deletion:\n{}",
        run.tail()
    );
    let status = ctx.wait_stack(&stack, Duration::from_secs(120))?;
    ensure!(
        status == "GONE" || status == "DELETE_COMPLETE",
        "stack {stack} is {status} after env delete"
    );
    Ok(())
}

/// A template of the shape of Copilot's environment stack (as `environment/cf.yml` renders it),
/// with cheap resources in place of the VPC, cluster and roles.
fn copilot_env_template() -> String {
    "# Copyright Amazon.com Inc. or its affiliates. All Rights Reserved.\n\
     # SPDX-License-Identifier: MIT-0\n\
     Description: CloudFormation environment template for infrastructure shared among Copilot workloads.\n\
     Metadata:\n\
     \x20 Version: v1.34.0\n\
     \x20 Manifest: |\n\
     \x20   name: test\n\
     \x20   type: Environment\n\
     Parameters:\n\
     \x20 AppName:\n\
     \x20   Type: String\n\
     \x20 EnvironmentName:\n\
     \x20   Type: String\n\
     \x20 ALBWorkloads:\n\
     \x20   Type: String\n\
     Conditions:\n\
     \x20 CreateALB:\n\
     \x20   !Not [!Equals [ !Ref ALBWorkloads, \"\" ]]\n\
     Resources:\n\
     \x20 # Stands in for the VPC, the cluster and the roles.\n\
     \x20 EnvironmentTopic:\n\
     \x20   Metadata:\n\
     \x20     'aws:copilot:description': 'A topic standing in for the environment resources'\n\
     \x20   Type: AWS::SNS::Topic\n\
     \x20 EnvironmentQueue:\n\
     \x20   Type: AWS::SQS::Queue\n\
     \x20   Properties:\n\
     \x20     Tags:\n\
     \x20       - Key: Name\n\
     \x20         Value: !Sub 'copilot-${AppName}-${EnvironmentName}'\n\
     Outputs:\n\
     \x20 EnvironmentQueueUrl:\n\
     \x20   Value: !Ref EnvironmentQueue\n\
     \x20   Export:\n\
     \x20     Name: !Sub ${AWS::StackName}-EnvironmentQueueUrl\n\
     \x20 EnabledFeatures:\n\
     \x20   Value: !Sub '${ALBWorkloads}'\n"
        .to_owned()
}

/// What must not change in Copilot's environment stack.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    resources: BTreeMap<String, (String, String)>,
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
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
    Ok(Snapshot {
        resources,
        parameters: pairs("Parameters", "ParameterKey", "ParameterValue"),
        tags: pairs("Tags", "Key", "Value"),
    })
}

/// The deployed template without its `AddonsStack` entry (from its key line to `Outputs:`),
/// and that entry.
fn split_addons(text: &str) -> Option<(String, String)> {
    let start = text.find("\n  AddonsStack:\n")? + 1;
    let end = start + text[start..].find("\nOutputs:\n")? + 1;
    Some((
        format!("{}{}", &text[..start], &text[end..]),
        text[start..end].to_owned(),
    ))
}

fn copilot_stack(ctx: &mut Ctx) -> Result<()> {
    let stack = stack_name(ctx);
    let app = app(ctx);
    let original = copilot_env_template();
    let file = ctx.work.join("copilot-env.yml");
    fs::write(&file, &original)?;
    ctx.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &stack,
        "--template-body",
        &format!("file://{}", file.display()),
        "--parameters",
        &format!("ParameterKey=AppName,ParameterValue={app}"),
        &format!("ParameterKey=EnvironmentName,ParameterValue={ENV}"),
        "ParameterKey=ALBWorkloads,ParameterValue=api",
        "--tags",
        &format!("Key=copilot-application,Value={app}"),
        &format!("Key=copilot-environment,Value={ENV}"),
        "Key=team,Value=core",
    ])?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "CREATE_COMPLETE",
        "the Copilot-shaped environment stack: {}",
        ctx.failure_reasons(&stack)
    );
    let before = snapshot(ctx, &stack)?;
    ensure!(
        ctx.stack_template(&stack)? == original,
        "GetTemplate differs from the template"
    );
    let dir = workspace(ctx)?;

    // --diff first: the AddonsStack entry to add, nothing changed.
    let run = env(ctx, &dir, "deploy", &["--diff"])?;
    ensure!(
        run.code == Some(1) && run.stdout.contains("+  AddonsStack:\n"),
        "env deploy --diff before the first deploy:\n{}\n{}",
        run.stdout,
        run.tail()
    );
    ensure!(
        ctx.stack_template(&stack)? == original && snapshot(ctx, &stack)? == before,
        "env deploy --diff changed the stack"
    );

    // Gains AddonsStack: the rest of the template byte for byte.
    let run = env(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        run.stderr.contains("only its AddonsStack changed"),
        "the deploy did not say it only changed the addons:\n{}",
        run.tail()
    );
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "stack {stack}: {}",
        ctx.failure_reasons(&stack)
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "Copilot's environment stack changed beyond its addons"
    );
    let deployed = ctx.stack_template(&stack)?;
    let (rest, entry) = split_addons(&deployed)
        .with_context(|| format!("no AddonsStack before Outputs in:\n{deployed}"))?;
    ensure!(
        rest == original,
        "the template changed outside AddonsStack:\n{deployed}"
    );
    ensure!(
        entry.contains("        App: !Ref AppName\n        Env: !Ref EnvironmentName\n")
            && entry.contains("/manual/addons/environments/"),
        "AddonsStack is not as Copilot renders it:\n{entry}"
    );
    let function = addons_resource(ctx, &stack, "sharedProcessor")?;
    ctx.check_function_code(&function, &dir.join(CODE))?;
    let run = env(ctx, &dir, "deploy", &["--diff"])?;
    ensure!(
        run.code == Some(0) && run.stderr.contains("No differences"),
        "env deploy --diff after the deploy:\n{}\n{}",
        run.stdout,
        run.tail()
    );

    // Updated after a code change: a new TemplateURL, the function's new code.
    fs::write(
        dir.join(CODE).join("index.js"),
        "exports.handler = async () => 3;\n",
    )?;
    env(ctx, &dir, "deploy", &[])?.check()?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "the update did not complete"
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "the update changed Copilot's resources"
    );
    let updated = ctx.stack_template(&stack)?;
    let (rest, entry2) = split_addons(&updated).context("AddonsStack gone after the update")?;
    ensure!(
        rest == original && entry2 != entry,
        "the update did not change AddonsStack alone"
    );
    ctx.check_function_code(
        &addons_resource(ctx, &stack, "sharedProcessor")?,
        &dir.join(CODE),
    )?;

    // env delete refuses Copilot's stack; --addons-only gives back the original template.
    let run = env(ctx, &dir, "delete", &[])?;
    ensure!(
        !run.ok && run.stderr.contains("copilot env delete"),
        "env delete of Copilot's stack:\n{}",
        run.tail()
    );
    env(ctx, &dir, "delete", &["--addons-only"])?.check()?;
    ensure!(
        ctx.wait_stack(&stack, Duration::from_secs(120))? == "UPDATE_COMPLETE",
        "env delete --addons-only did not complete"
    );
    ensure!(
        ctx.stack_template(&stack)? == original,
        "the template after --addons-only is not the original"
    );
    ensure!(
        snapshot(ctx, &stack)? == before,
        "env delete --addons-only changed Copilot's resources"
    );
    let run = env(ctx, &dir, "delete", &["--addons-only"])?.check()?;
    ensure!(
        run.stderr.contains("has no addons"),
        "a second --addons-only:\n{}",
        run.tail()
    );
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
        let run = env(ctx, &dir, verb, extra)?;
        ensure!(
            !run.ok
                && run
                    .stderr
                    .contains("neither by Copilot nor by copilot-lite")
                && run.stderr.contains(&stack),
            "env {verb} {extra:?} of a foreign stack:\n{}",
            run.tail()
        );
        ensure!(
            snapshot(ctx, &stack)? == before,
            "env {verb} changed the foreign stack"
        );
    }
    let bucket_stack = format!("{}-infrastructure", app(ctx));
    ensure!(
        ctx.wait_stack(&bucket_stack, Duration::from_secs(5))? == "GONE",
        "stack {bucket_stack} was created: something was about to be uploaded"
    );
    Ok(())
}
