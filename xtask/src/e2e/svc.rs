//! Scenarios of the Copilot workflow (`copilot-lite svc package|deploy`) on `examples/seed`.
//!
//! The deploy scenarios share one application (`e2e<run>`, so fresh stacks every run) and one
//! copy of the workspace (`target/e2e/seed-workspace`): `svc-deploy` creates the stack, the
//! next ones redeploy it unchanged, with a code change, with bad input. The failing deploy
//! uses a stack of its own (LocalStack does not model failed updates: it reports them as
//! `UPDATE_COMPLETE`), and so does `svc-json` (`--output json` from the stack's creation on).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::ctx::{
    Ctx, Object, copy_dir, line_of, read_folder, read_zip, same_tree, str_of, yaml_values,
};
use super::{Needs, Scenario};

const SVC: &str = "record-svc";
const ENV: &str = "test";
const ASSETS: &str = "manual/addons/record-svc/assets/";
const ADDON: &str = "copilot/record-svc/addons/ddb.yml";
const CODE: &str = "lambdas/record-processor";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "svc-package-upload",
            what: "svc package --upload-assets: assets under manual/addons/record-svc/assets/",
            needs: Needs::Svc,
            run: package_upload,
        },
        Scenario {
            name: "svc-deploy",
            what: "svc deploy record-svc: stack complete, Lambda code = folder, mapping Enabled",
            needs: Needs::Svc,
            run: deploy,
        },
        Scenario {
            name: "svc-deploy-no-change",
            what: "a second deploy without change exits 0 and uploads nothing",
            needs: Needs::Svc,
            run: no_change,
        },
        Scenario {
            name: "svc-deploy-code-change",
            what: "a code change redeploys: new S3 key, function code updated",
            needs: Needs::Svc,
            run: code_change,
        },
        Scenario {
            name: "svc-deploy-failure",
            what: "a failing addons template: exit non-zero, the reason shown, stack rolled back",
            needs: Needs::Svc,
            run: failure,
        },
        Scenario {
            name: "svc-deploy-bad-input",
            what: "a missing Lambda folder: exit non-zero, ddb.yml:line named, nothing uploaded",
            needs: Needs::Svc,
            run: bad_input,
        },
        Scenario {
            name: "svc-deploy-resource-tags",
            what: "--resource-tags (with a code change): the stack carries them beside copilot-lite's own; a reserved key is refused",
            needs: Needs::Svc,
            run: resource_tags,
        },
        Scenario {
            name: "svc-json",
            what: "svc deploy --output json (own app): created, then unchanged, started (--detach), hotswapped; stack, ARN, change set and outputs as CloudFormation reports them; artifacts are objects of the bucket",
            needs: Needs::Svc,
            run: json_output,
        },
        Scenario {
            name: "svc-delete",
            what: "svc delete: --addons-only refused on the own stack; the stack goes, assets stay; again: nothing to delete",
            needs: Needs::Svc,
            run: delete,
        },
    ]
}

/// The application of this run's deploy scenarios (a fresh name: fresh stacks and bucket).
fn app(ctx: &Ctx) -> String {
    format!("e2e{}", ctx.run)
}

fn workload_stack(ctx: &Ctx) -> String {
    format!("{}-{ENV}-{SVC}", app(ctx))
}

/// The shared copy of `examples/seed` the deploy scenarios edit.
fn shared_seed(ctx: &Ctx) -> PathBuf {
    ctx.scratch.join("seed-workspace")
}

/// `copilot-lite svc deploy -n record-svc -e test -a <app>` in `dir` (not checked).
fn svc_deploy(ctx: &Ctx, dir: &Path) -> Result<super::Run> {
    ctx.copilot(
        dir,
        &["svc", "deploy", "-n", SVC, "-e", ENV, "-a", &app(ctx)],
    )
}

/// The shared workspace and the artifact bucket, once `svc-deploy` has created the stack.
fn deployed(ctx: &Ctx) -> Result<(PathBuf, String)> {
    let dir = shared_seed(ctx);
    let status = ctx.wait_stack(&workload_stack(ctx), Duration::from_secs(60))?;
    ensure!(
        dir.is_dir() && status.ends_with("_COMPLETE") && !status.contains("ROLLBACK"),
        "needs the stack of svc-deploy ({} is {status})",
        workload_stack(ctx)
    );
    Ok((dir, bucket(ctx)?))
}

/// The app's artifact bucket: output `ArtifactBucket` of `<app>-infrastructure`.
fn bucket(ctx: &Ctx) -> Result<String> {
    let stack = format!("{}-infrastructure", app(ctx));
    let outputs = ctx.stack_outputs(&stack)?;
    outputs
        .get("ArtifactBucket")
        .cloned()
        .with_context(|| format!("stack {stack} has no output ArtifactBucket: {outputs:?}"))
}

/// The physical IDs of the addons stack's function and table.
struct Addons {
    function: String,
    table: String,
}

fn addons(ctx: &Ctx) -> Result<Addons> {
    let stack = workload_stack(ctx);
    let resources = ctx.stack_resources(&stack)?;
    let nested = resources
        .iter()
        .find(|(id, (kind, _, _))| {
            id.as_str() == "AddonsStack" && kind == "AWS::CloudFormation::Stack"
        })
        .map(|(_, (_, physical, _))| physical.clone())
        .with_context(|| format!("stack {stack} has no AddonsStack: {resources:?}"))?;
    let inner = ctx.stack_resources(&nested)?;
    let physical = |logical: &str| -> Result<String> {
        inner
            .get(logical)
            .map(|(_, p, _)| p.clone())
            .filter(|p| !p.is_empty())
            .with_context(|| format!("the addons stack has no {logical}: {inner:?}"))
    };
    Ok(Addons {
        function: physical("recordProcessor")?,
        table: physical("records")?,
    })
}

fn code_sha(ctx: &Ctx, function: &str) -> Result<String> {
    let c = ctx.aws_json(&[
        "lambda",
        "get-function-configuration",
        "--function-name",
        function,
    ])?;
    Ok(c.get("CodeSha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

fn last_updated(ctx: &Ctx) -> Result<String> {
    let s = ctx.describe_stack(&workload_stack(ctx))?;
    Ok(format!(
        "{} {}",
        s.get("StackStatus")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        s.get("LastUpdatedTime")
            .and_then(Value::as_str)
            .unwrap_or("never")
    ))
}

fn keys(objects: &[Object]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

fn package_upload(ctx: &mut Ctx) -> Result<()> {
    let bucket = ctx.id.clone();
    ctx.make_bucket(&bucket)?;
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    // Without --bucket, for an application that has no artifact bucket (here, never deployed;
    // with AWS, also credentials of another account): the error says where it looked.
    let lonely = format!("{}nb", app(ctx));
    let run = ctx.copilot_with_env(
        &dir,
        &[
            "svc",
            "package",
            "-n",
            SVC,
            "-e",
            ENV,
            "-a",
            &lonely,
            "--upload-assets",
        ],
        &[("AWS_REGION", "eu-west-3")],
    )?;
    ensure!(
        !run.ok,
        "svc package --upload-assets found a bucket for {lonely}"
    );
    let want = format!(
        "no artifact bucket for application {lonely} in account 000000000000, region eu-west-3"
    );
    ensure!(
        run.stderr.contains(&want),
        "the error does not say where it looked ({want}):\n{}",
        run.stderr
    );
    let run = ctx
        .copilot(
            &dir,
            &[
                "svc",
                "package",
                "-n",
                SVC,
                "-e",
                ENV,
                "--upload-assets",
                "--bucket",
                &bucket,
            ],
        )?
        .check()?;
    let objects = ctx.list_objects(&bucket)?;
    ensure!(!objects.is_empty(), "nothing was uploaded to {bucket}");
    // The assets, and the packaged addons template beside them.
    let stray: Vec<&str> = keys(&objects)
        .into_iter()
        .filter(|k| !k.starts_with("manual/addons/record-svc/"))
        .collect();
    ensure!(
        stray.is_empty(),
        "uploaded outside manual/addons/record-svc/: {stray:?}"
    );
    let code_keys = yaml_values(&run.stdout, "S3Key");
    let [key] = code_keys.as_slice() else {
        bail!(
            "expected one S3Key in the printed addons template:\n{}",
            run.stdout
        );
    };
    ensure!(
        key.starts_with(ASSETS) && keys(&objects).contains(&key.as_str()),
        "S3Key {key} is not an uploaded asset ({:?})",
        keys(&objects)
    );
    ensure!(
        yaml_values(&run.stdout, "S3Bucket") == [bucket.clone()],
        "the printed template does not name bucket {bucket}:\n{}",
        run.stdout
    );
    let zip = ctx.download(&bucket, key)?;
    same_tree(&read_zip(&zip)?, &read_folder(&dir.join(CODE))?)
        .context("the uploaded zip differs from lambdas/record-processor/")?;
    for kept in [
        "# DynamoDB table with a stream",
        "!GetAtt \"recordProcessorRole.Arn\"",
    ] {
        ensure!(
            run.stdout.contains(kept),
            "the printed template lost {kept:?}"
        );
    }
    Ok(())
}

fn deploy(ctx: &mut Ctx) -> Result<()> {
    let dir = shared_seed(ctx);
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    let run = svc_deploy(ctx, &dir)?.check()?;
    let stack = workload_stack(ctx);
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(
        status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE",
        "deploy exited 0 but stack {stack} is {status}:\n{}\n{}",
        ctx.failure_reasons(&stack),
        run.tail()
    );
    let bucket = bucket(ctx)?;
    let objects = ctx.list_objects(&bucket)?;
    ensure!(
        objects.iter().any(|o| o.key.starts_with(ASSETS)),
        "no asset under {ASSETS} in {bucket}: {:?}",
        keys(&objects)
    );

    let a = addons(ctx)?;
    ctx.check_function_code(&a.function, &dir.join(CODE))?;
    let table = ctx.aws_json(&["dynamodb", "describe-table", "--table-name", &a.table])?;
    let stream = table
        .pointer("/Table/LatestStreamArn")
        .and_then(Value::as_str)
        .with_context(|| format!("table {} has no stream", a.table))?;
    let mappings = ctx.aws_json(&[
        "lambda",
        "list-event-source-mappings",
        "--function-name",
        &a.function,
    ])?;
    let list = mappings
        .get("EventSourceMappings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let [m] = list.as_slice() else {
        bail!(
            "expected one event source mapping of {}: {mappings}",
            a.function
        );
    };
    ensure!(
        m.get("EventSourceArn").and_then(Value::as_str) == Some(stream),
        "the mapping reads {:?}, not the table's stream {stream}",
        m.get("EventSourceArn")
    );
    ensure!(
        m.get("State").and_then(Value::as_str) == Some("Enabled"),
        "the mapping is {:?}, not Enabled",
        m.get("State")
    );
    Ok(())
}

fn no_change(ctx: &mut Ctx) -> Result<()> {
    let (dir, bucket) = deployed(ctx)?;
    let before = ctx.list_objects(&bucket)?;
    let stack_before = last_updated(ctx)?;
    std::thread::sleep(Duration::from_millis(1100));
    svc_deploy(ctx, &dir)?.check()?;
    let after = ctx.list_objects(&bucket)?;
    ensure!(
        before == after,
        "a deploy without change touched the bucket:\nbefore {before:#?}\nafter {after:#?}"
    );
    let stack_after = last_updated(ctx)?;
    ensure!(
        stack_before == stack_after,
        "a deploy without change updated the stack: {stack_before} -> {stack_after}"
    );
    Ok(())
}

fn code_change(ctx: &mut Ctx) -> Result<()> {
    let (dir, bucket) = deployed(ctx)?;
    let a = addons(ctx)?;
    let before = ctx.list_objects(&bucket)?;
    let sha_before = code_sha(ctx, &a.function)?;
    let index = dir.join(CODE).join("index.js");
    let mut code = fs::read_to_string(&index)?;
    code.push_str(&format!("// changed by e2e run {}\n", ctx.run));
    fs::write(&index, code)?;
    svc_deploy(ctx, &dir)?.check()?;
    let stack = workload_stack(ctx);
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(status == "UPDATE_COMPLETE", "stack {stack} is {status}");
    let after = ctx.list_objects(&bucket)?;
    let new: Vec<&str> = keys(&after)
        .into_iter()
        .filter(|k| !keys(&before).contains(k))
        .collect();
    ensure!(
        new.iter().any(|k| k.starts_with(ASSETS)),
        "no new asset key after the code change (new objects: {new:?})"
    );
    let a = addons(ctx)?;
    ensure!(
        code_sha(ctx, &a.function)? != sha_before,
        "the function's CodeSha256 did not change"
    );
    ctx.check_function_code(&a.function, &dir.join(CODE))?;
    Ok(())
}

fn failure(ctx: &mut Ctx) -> Result<()> {
    // A stack of its own: LocalStack reports a failed *update* as UPDATE_COMPLETE (its
    // update rollback is not modelled), a failed creation properly.
    let app = format!("{}f", app(ctx));
    let stack = format!("{app}-{ENV}-{SVC}");
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    add_failing_queue(&dir)?;
    let run = ctx.copilot(&dir, &["svc", "deploy", "-n", SVC, "-e", ENV, "-a", &app])?;
    // (Needs the setup's LocalStack patch "nested stack creation failures": unpatched,
    // LocalStack ends the parent in CREATE_COMPLETE after the nested stack rolled back.)
    ensure!(
        !run.ok,
        "the failing deploy exited 0 (stack {}):\n{}",
        ctx.wait_stack(&stack, Duration::from_secs(60))?,
        run.tail()
    );
    let all = format!("{}\n{}", run.stdout, run.stderr);
    for needle in ["BrokenQueue", "alphanumeric"] {
        ensure!(
            all.contains(needle),
            "the output does not show the failure ({needle}):\n{}",
            run.tail()
        );
    }
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(
        status == "ROLLBACK_COMPLETE" || status == "GONE",
        "stack {stack} is {status} after a failed creation (want ROLLBACK_COMPLETE)"
    );
    Ok(())
}

/// Adds to the seed's addon (in workspace `dir`) a queue whose name SQS rejects: valid input
/// whose deploy fails (the addons stack rolls back).
pub(super) fn add_failing_queue(dir: &Path) -> Result<()> {
    let addon = dir.join(ADDON);
    let original = fs::read_to_string(&addon)?;
    let broken = original.replacen(
        "Resources:\n",
        "Resources:\n  BrokenQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      \
         QueueName: \"not a valid name!\"\n\n",
        1,
    );
    ensure!(
        broken != original,
        "example changed: no `Resources:` in {ADDON}"
    );
    fs::write(&addon, broken)?;
    Ok(())
}

fn bad_input(ctx: &mut Ctx) -> Result<()> {
    let (_, bucket) = deployed(ctx)?;
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    let addon = dir.join(ADDON);
    let text = fs::read_to_string(&addon)?.replace("lambdas/record-processor/", "lambdas/missing/");
    fs::write(&addon, &text)?;
    let line = line_of(&text, "lambdas/missing/").context("example changed")?;
    let before = ctx.list_objects(&bucket)?;
    let stack_before = last_updated(ctx)?;
    let run = svc_deploy(ctx, &dir)?;
    ensure!(!run.ok, "deploy succeeded with a missing Lambda folder");
    let at = format!("ddb.yml:{line}");
    ensure!(
        run.stderr.contains(&at),
        "the error does not name {at}:\n{}",
        run.stderr
    );
    let after = ctx.list_objects(&bucket)?;
    ensure!(
        before == after,
        "bad input changed the bucket: new {:?}",
        keys(&after)
            .into_iter()
            .filter(|k| !keys(&before).contains(k))
            .collect::<Vec<_>>()
    );
    ensure!(
        last_updated(ctx)? == stack_before,
        "bad input changed the stack"
    );
    Ok(())
}

/// The stack's tags, as CloudFormation reports them.
fn stack_tags(ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let s = ctx.describe_stack(&workload_stack(ctx))?;
    Ok(s.get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| (str_of(t, "Key"), str_of(t, "Value")))
                .collect()
        })
        .unwrap_or_default())
}

fn resource_tags(ctx: &mut Ctx) -> Result<()> {
    let (dir, _) = deployed(ctx)?;
    let before = stack_tags(ctx)?;
    let app = app(ctx);
    // With a code change: LocalStack finds no change in a change set that changes the stack's
    // tags alone ("didn't contain changes"; CloudFormation applies it), so the tags ride on an
    // update that LocalStack does execute.
    let index = dir.join(CODE).join("index.js");
    let mut code = fs::read_to_string(&index)?;
    code.push_str(&format!("// tagged by e2e run {}\n", ctx.run));
    fs::write(&index, code)?;
    let run = ctx
        .copilot(
            &dir,
            &[
                "svc",
                "deploy",
                "-n",
                SVC,
                "-e",
                ENV,
                "-a",
                &app,
                "--resource-tags",
                "team=e2e,cost-center=42",
            ],
        )?
        .check()?;
    let status = ctx.wait_stack(&workload_stack(ctx), Duration::from_secs(60))?;
    ensure!(
        status == "UPDATE_COMPLETE",
        "stack is {status}:\n{}",
        run.tail()
    );
    let after = stack_tags(ctx)?;
    for tag in [("team", "e2e"), ("cost-center", "42")] {
        ensure!(
            after.iter().any(|(k, v)| (k.as_str(), v.as_str()) == tag),
            "the stack lacks tag {tag:?} after --resource-tags: {after:?}"
        );
    }
    for kept in &before {
        ensure!(
            after.contains(kept),
            "--resource-tags dropped copilot-lite's tag {kept:?}: {after:?}"
        );
    }
    // A key of copilot-lite's own (the ownership mark) cannot be set from the command line.
    let stack_before = last_updated(ctx)?;
    let run = ctx.copilot(
        &dir,
        &[
            "svc",
            "deploy",
            "-n",
            SVC,
            "-e",
            ENV,
            "-a",
            &app,
            "--resource-tags",
            "copilot-lite:managed=false",
        ],
    )?;
    ensure!(
        !run.ok,
        "--resource-tags copilot-lite:managed=false was accepted"
    );
    ensure!(
        run.stderr.contains("copilot-lite:managed"),
        "the refusal does not name the reserved tag:\n{}",
        run.stderr
    );
    ensure!(
        last_updated(ctx)? == stack_before && stack_tags(ctx)? == after,
        "a refused --resource-tags changed the stack"
    );
    Ok(())
}

fn delete(ctx: &mut Ctx) -> Result<()> {
    let (dir, bucket) = deployed(ctx)?;
    let app = app(ctx);
    let stack = workload_stack(ctx);
    let svc_delete = |extra: &[&str]| {
        let mut args = vec!["svc", "delete", "-n", SVC, "-e", ENV, "-a", &app];
        args.extend_from_slice(extra);
        ctx.copilot(&dir, &args)
    };
    // --addons-only is for Copilot's stacks: on copilot-lite's own it is refused, untouched.
    let stack_before = last_updated(ctx)?;
    let run = svc_delete(&["--addons-only"])?;
    ensure!(
        !run.ok,
        "svc delete --addons-only of the own stack exited 0"
    );
    ensure!(
        run.stderr.contains("without --addons-only"),
        "the refusal does not say what to do:\n{}",
        run.stderr
    );
    ensure!(
        last_updated(ctx)? == stack_before,
        "a refused --addons-only changed the stack"
    );
    let objects = ctx.list_objects(&bucket)?;
    let run = svc_delete(&[])?.check()?;
    ensure!(
        run.stderr.contains(&format!("Deleted stack {stack}")),
        "svc delete did not report the deletion:\n{}",
        run.tail()
    );
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(
        status == "GONE" || status == "DELETE_COMPLETE",
        "stack {stack} is {status} after svc delete"
    );
    ensure!(
        ctx.list_objects(&bucket)? == objects,
        "svc delete touched the artifact bucket (uploaded assets are kept)"
    );
    let run = svc_delete(&[])?.check()?;
    ensure!(
        run.stderr.contains("nothing to delete"),
        "a second svc delete did not say there is nothing to delete:\n{}",
        run.tail()
    );
    Ok(())
}

/// `svc deploy --output json` in `dir` for `app`, plus `flags`: the document on stdout.
fn deploy_json(ctx: &Ctx, dir: &Path, app: &str, flags: &[&str]) -> Result<(super::Run, Value)> {
    let mut args = vec![
        "svc", "deploy", "-n", SVC, "-e", ENV, "-a", app, "--output", "json",
    ];
    args.extend_from_slice(flags);
    let run = ctx.copilot(dir, &args)?.check()?;
    ensure!(
        run.stdout.ends_with('\n') && run.stdout.trim_end().lines().count() == 1,
        "stdout is not one line of JSON:\n{}",
        run.stdout
    );
    let doc: Value = serde_json::from_str(&run.stdout)
        .with_context(|| format!("stdout is not JSON:\n{}", run.stdout))?;
    ensure!(
        doc["version"] == 1 && doc["command"] == "svc deploy",
        "not a version 1 svc deploy document: {doc}"
    );
    Ok((run, doc))
}

/// The deploy part of `doc` against CloudFormation: `outcome`, the stack's name and ARN, and
/// its outputs equal to what describe-stacks reports (`null` for `started`).
fn check_deploy(ctx: &Ctx, doc: &Value, stack: &str, outcome: &str) -> Result<()> {
    let d = &doc["deploy"];
    ensure!(d["outcome"] == outcome, "outcome is not {outcome}: {d}");
    ensure!(d["stack"] == stack, "stack is not {stack}: {d}");
    let described = ctx.describe_stack(stack)?;
    ensure!(
        d["stack_id"] == described["StackId"],
        "stack_id {} is not the StackId {}",
        d["stack_id"],
        described["StackId"]
    );
    if outcome == "started" {
        ensure!(d["outputs"].is_null(), "outputs while it runs: {d}");
        return Ok(());
    }
    let outputs: std::collections::BTreeMap<String, String> =
        serde_json::from_value(d["outputs"].clone())
            .with_context(|| format!("outputs is not an object of strings: {d}"))?;
    let reported = ctx.stack_outputs(stack)?;
    ensure!(
        outputs == reported,
        "outputs {outputs:?} differ from CloudFormation's {reported:?}"
    );
    for key in ["recordsTableName", "recordProcessorName"] {
        ensure!(outputs.contains_key(key), "no output {key}: {outputs:?}");
    }
    Ok(())
}

/// Every artifact of `doc` is an object of `bucket` with its listed size and `status`;
/// returns their keys.
fn check_artifacts(ctx: &Ctx, doc: &Value, bucket: &str, status: &str) -> Result<Vec<String>> {
    let objects = ctx.list_objects(bucket)?;
    let artifacts = doc["artifacts"]
        .as_array()
        .with_context(|| format!("no artifacts list: {doc}"))?;
    let mut found = Vec::new();
    for a in artifacts {
        let key = str_of(a, "key");
        let object = objects
            .iter()
            .find(|o| o.key == key)
            .with_context(|| format!("artifact {key} is not in {bucket}: {:?}", keys(&objects)))?;
        ensure!(
            a["bytes"].as_u64() == Some(object.size),
            "artifact {key}: bytes {} but the object has {}",
            a["bytes"],
            object.size
        );
        ensure!(
            a["bucket"] == bucket && a["status"] == status,
            "artifact {key}: not {status} in {bucket}: {a}"
        );
        ensure!(
            a["resource"] == "recordProcessor" && a["property"] == "Code",
            "unexpected artifact {a}"
        );
        found.push(key);
    }
    Ok(found)
}

/// The keys of the templates of `doc` (by their URLs: `<endpoint>/<bucket>/<key>`) exist.
fn check_templates(ctx: &Ctx, doc: &Value, bucket: &str, kinds: &[&str]) -> Result<()> {
    let templates = doc["templates"]
        .as_array()
        .with_context(|| format!("no templates list: {doc}"))?;
    let got: Vec<String> = templates.iter().map(|t| str_of(t, "kind")).collect();
    ensure!(got == kinds, "templates {got:?}, expected {kinds:?}");
    let objects = ctx.list_objects(bucket)?;
    let prefix = format!("/{bucket}/");
    for t in templates {
        let url = str_of(t, "url");
        let key = url
            .split_once(&prefix)
            .map(|(_, key)| key)
            .with_context(|| format!("template URL {url} is not in {bucket}"))?;
        ensure!(
            objects.iter().any(|o| o.key == key),
            "template {key} is not in {bucket}"
        );
    }
    Ok(())
}

fn json_output(ctx: &mut Ctx) -> Result<()> {
    // An application of its own: the first deploy creates the stack.
    let app = format!("{}j", app(ctx));
    let stack = format!("{app}-{ENV}-{SVC}");
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;

    let (run, doc) = deploy_json(ctx, &dir, &app, &[])?;
    ensure!(
        run.stderr.contains(&format!("Deployed service {SVC}")),
        "the human summary is not on stderr:\n{}",
        run.tail()
    );
    check_deploy(ctx, &doc, &stack, "created")?;
    let change_set = str_of(&doc["deploy"], "change_set");
    ensure!(
        change_set.starts_with("copilot-lite-"),
        "no change set named: {doc}"
    );
    let infra = format!("{app}-infrastructure");
    let bucket = ctx
        .stack_outputs(&infra)?
        .get("ArtifactBucket")
        .cloned()
        .with_context(|| format!("stack {infra} has no output ArtifactBucket"))?;
    let first = check_artifacts(ctx, &doc, &bucket, "uploaded")?;
    ensure!(first.len() == 1, "one artifact expected: {doc}");
    check_templates(ctx, &doc, &bucket, &["addons", "workload"])?;

    // Nothing changed: no change set, nothing uploaded, the outputs as they are.
    let before = ctx.list_objects(&bucket)?;
    let (_, doc) = deploy_json(ctx, &dir, &app, &[])?;
    check_deploy(ctx, &doc, &stack, "unchanged")?;
    ensure!(
        doc["deploy"]["change_set"].is_null()
            && doc["artifacts"] == serde_json::json!([])
            && doc["templates"] == serde_json::json!([]),
        "an unchanged deploy reports a change set or uploads: {doc}"
    );
    ensure!(
        ctx.list_objects(&bucket)? == before,
        "an unchanged deploy touched the bucket"
    );

    // A code change, not waited for: started, with its change set; the new zip uploaded.
    super::dev_loop::edit_code(&dir, &format!("json {}", ctx.run))?;
    let (_, doc) = deploy_json(ctx, &dir, &app, &["--detach"])?;
    check_deploy(ctx, &doc, &stack, "started")?;
    ensure!(
        str_of(&doc["deploy"], "change_set").starts_with("copilot-lite-")
            && doc["deploy"]["change_set"] != change_set.as_str(),
        "no new change set named: {doc}"
    );
    let second = check_artifacts(ctx, &doc, &bucket, "uploaded")?;
    ensure!(second != first, "the code change kept the key {first:?}");
    let status = ctx.wait_stack(&stack, Duration::from_secs(120))?;
    ensure!(status == "UPDATE_COMPLETE", "stack {stack} is {status}");

    // Only code changed, with --hotswap: the function updated directly.
    super::dev_loop::edit_code(&dir, &format!("json hotswap {}", ctx.run))?;
    let (_, doc) = deploy_json(ctx, &dir, &app, &["--hotswap"])?;
    check_deploy(ctx, &doc, &stack, "hotswapped")?;
    ensure!(
        doc["deploy"]["functions_updated"] == serde_json::json!(["recordProcessor"])
            && doc["deploy"]["change_set"].is_null(),
        "the hotswap does not name recordProcessor alone: {doc}"
    );
    check_artifacts(ctx, &doc, &bucket, "uploaded")?;
    check_templates(ctx, &doc, &bucket, &["addons"])?;
    Ok(())
}
