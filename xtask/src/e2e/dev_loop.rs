//! The edit-deploy loop on `examples/seed` (one application, `e2e<run>d`, shared by the
//! scenarios in order), with the fault proxy (`test_support::proxy`) between the binary and
//! LocalStack to count the calls of each command (no faults):
//!
//! - `svc-noop-deploy`: a deploy with nothing changed makes no change set and uploads nothing;
//!   `--force` makes one.
//! - `svc-noop-after-failure`: after a failed deploy the same deploy is not skipped.
//! - `svc-hotswap`: a code edit with `--hotswap` updates the function (its zip = the folder)
//!   with no CloudFormation write; again without an edit updates nothing.
//! - `svc-hotswap-fallback`: a non-code change with `--hotswap` deploys through a change set and
//!   says why.
//! - `svc-deploy-after-hotswap`: the next normal deploy brings CloudFormation in line (then a
//!   deploy is a no-op again), also when the edit was reverted (the template's code is put
//!   back).
//! - `svc-watch`: `svc watch` picks up an edit and hotswaps the function, reports a round that
//!   fails (a broken addon) and goes on, and ends on SIGINT with exit 0.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use test_support::proxy::{FaultKind, FaultProxy, Plan, Rule, When};

use super::ctx::{Ctx, copy_dir};
use super::{Needs, Scenario};

const SVC: &str = "record-svc";
const ENV: &str = "test";
const ADDON: &str = "copilot/record-svc/addons/ddb.yml";
const CODE: &str = "lambdas/record-processor";
/// What CloudFormation calls change something.
pub(super) const CFN_WRITES: [&str; 8] = [
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "CancelUpdateStack",
    "ContinueUpdateRollback",
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "svc-noop-deploy",
            what: "a deploy with nothing changed: exit 0, no CreateChangeSet, nothing uploaded; --force makes a change set",
            needs: Needs::Svc,
            run: noop,
        },
        Scenario {
            name: "svc-noop-after-failure",
            what: "after a failed deploy, the same deploy is not skipped (a change set again)",
            needs: Needs::Svc,
            run: noop_after_failure,
        },
        Scenario {
            name: "svc-hotswap",
            what: "--hotswap of a code edit: function code = folder, no CloudFormation write; again: nothing updated",
            needs: Needs::Svc,
            run: hotswap,
        },
        Scenario {
            name: "svc-hotswap-fallback",
            what: "--hotswap with a non-code change: a change-set deploy, saying why",
            needs: Needs::Svc,
            run: fallback,
        },
        Scenario {
            name: "svc-deploy-after-hotswap",
            what: "the next normal deploy after a hotswap updates the stack (also for a reverted edit)",
            needs: Needs::Svc,
            run: after_hotswap,
        },
        Scenario {
            name: "svc-watch",
            what: "svc watch: started on a broken addon, waits for the fix; an edit is hotswapped (code = folder); a broken addon fails its round and the watch goes on; SIGINT ends it with exit 0",
            needs: Needs::Svc,
            run: watch,
        },
    ]
}

fn app(ctx: &Ctx) -> String {
    format!("e2e{}d", ctx.run)
}

fn stack(ctx: &Ctx) -> String {
    format!("{}-{ENV}-{SVC}", app(ctx))
}

/// The workspace the scenarios share (created by the first).
fn workspace(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.scratch.join("dev-loop-workspace");
    if !dir.is_dir() {
        copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    }
    Ok(dir)
}

/// The proxy every command of these scenarios goes through: one for the run, because the
/// endpoint is part of every URL deployed (a proxy on another port would make each addons
/// template URL differ from the deployed one).
fn proxy(ctx: &Ctx) -> Result<&'static FaultProxy> {
    static PROXY: OnceLock<FaultProxy> = OnceLock::new();
    if let Some(p) = PROXY.get() {
        return Ok(p);
    }
    let started = FaultProxy::start(&ctx.env.endpoint_url, Plan::none())?;
    Ok(PROXY.get_or_init(|| started))
}

/// `svc deploy FLAGS` through [`proxy`]: the run and the operations it made, in order.
fn deploy(ctx: &Ctx, dir: &Path, app: &str, flags: &[&str]) -> Result<(super::Run, Vec<String>)> {
    let proxy = proxy(ctx)?;
    proxy.clear_log();
    let mut args = vec!["svc", "deploy", "-n", SVC, "-e", ENV, "-a", app];
    args.extend_from_slice(flags);
    let run = ctx.copilot_with_env(dir, &args, &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])?;
    let ops = proxy.log().into_iter().map(|r| r.operation).collect();
    Ok((run, ops))
}

fn count(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| *o == op).count()
}

fn cfn_writes(ops: &[String]) -> Vec<&String> {
    ops.iter()
        .filter(|o| CFN_WRITES.contains(&o.as_str()))
        .collect()
}

/// The physical name of the addons' function.
fn function(ctx: &Ctx) -> Result<String> {
    let stack = stack(ctx);
    let nested = ctx
        .stack_resources(&stack)?
        .get("AddonsStack")
        .map(|(_, physical, _)| physical.clone())
        .with_context(|| format!("stack {stack} has no AddonsStack"))?;
    ctx.stack_resources(&nested)?
        .get("recordProcessor")
        .map(|(_, physical, _)| physical.clone())
        .filter(|p| !p.is_empty())
        .context("the addons stack has no recordProcessor")
}

/// Appends a line to the function's code: a code-only change.
pub(super) fn edit_code(dir: &Path, tag: &str) -> Result<()> {
    let index = dir.join(CODE).join("index.js");
    let mut code = fs::read_to_string(&index)?;
    code.push_str(&format!("// edited: {tag}\n"));
    fs::write(&index, code)?;
    Ok(())
}

/// The deployed stack, created by `svc-noop-deploy`.
fn deployed(ctx: &Ctx) -> Result<PathBuf> {
    let dir = workspace(ctx)?;
    let status = ctx.wait_stack(&stack(ctx), Duration::from_secs(60))?;
    ensure!(
        status.ends_with("_COMPLETE") && !status.contains("ROLLBACK"),
        "needs the stack of svc-noop-deploy ({} is {status})",
        stack(ctx)
    );
    Ok(dir)
}

fn bucket(ctx: &Ctx) -> Result<String> {
    let infra = format!("{}-infrastructure", app(ctx));
    ctx.stack_outputs(&infra)?
        .get("ArtifactBucket")
        .cloned()
        .with_context(|| format!("stack {infra} has no output ArtifactBucket"))
}

fn record_key(ctx: &Ctx) -> String {
    format!("manual/hotswap/{}.json", stack(ctx))
}

fn record_exists(ctx: &Ctx) -> Result<bool> {
    let key = record_key(ctx);
    Ok(ctx
        .list_objects(&bucket(ctx)?)?
        .iter()
        .any(|o| o.key == key))
}

fn delete_object(ctx: &Ctx, key: &str) -> Result<()> {
    ctx.aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        &bucket(ctx)?,
        "--key",
        key,
    ])?;
    Ok(())
}

fn noop(ctx: &mut Ctx) -> Result<()> {
    let dir = workspace(ctx)?;
    let app = app(ctx);
    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    run.check().context("the first deploy")?;
    ensure!(
        count(&ops, "CreateChangeSet") >= 1,
        "the first deploy made no change set: {ops:?}"
    );

    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    let run = run.check().context("the deploy without change")?;
    ensure!(
        run.stderr.contains("No changes"),
        "the deploy without change does not say so:\n{}",
        run.tail()
    );
    ensure!(
        cfn_writes(&ops).is_empty(),
        "the deploy without change wrote to CloudFormation: {:?}",
        cfn_writes(&ops)
    );
    for upload in ["PutObject", "CreateMultipartUpload", "UploadPart"] {
        ensure!(
            count(&ops, upload) == 0,
            "the deploy without change made a {upload}: {ops:?}"
        );
    }

    let proxy = proxy(ctx)?;
    proxy.clear_log();
    let run = ctx
        .copilot_with_env(
            &dir,
            &["svc", "deploy", "-n", SVC, "-e", ENV, "-a", &app, "--force"],
            &[
                ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
                ("RUST_LOG", "aws_policy=debug"),
            ],
        )?
        .check()
        .context("svc deploy --force")?;
    let ops: Vec<String> = proxy.log().into_iter().map(|r| r.operation).collect();
    ensure!(
        count(&ops, "CreateChangeSet") == 1,
        "--force made {} change sets: {ops:?}\n{}",
        count(&ops, "CreateChangeSet"),
        run.tail()
    );
    // One SDK config for the S3, CloudFormation and STS clients of the run.
    let loads = run.stderr.matches("AWS SDK config loaded").count();
    ensure!(
        loads == 1
            && count(&ops, "GetCallerIdentity") >= 1
            && count(&ops, "HeadObject") + count(&ops, "ListObjectsV2") >= 1,
        "the deploy loaded the AWS SDK config {loads} times (want 1, for S3, CloudFormation and STS: {ops:?}):\n{}",
        run.tail()
    );
    Ok(())
}

fn noop_after_failure(ctx: &mut Ctx) -> Result<()> {
    let app = format!("{}f", app(ctx));
    let stack = format!("{app}-{ENV}-{SVC}");
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    super::svc::add_failing_queue(&dir)?;
    let (run, _) = deploy(ctx, &dir, &app, &[])?;
    ensure!(!run.ok, "the failing deploy exited 0:\n{}", run.tail());
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(
        status == "ROLLBACK_COMPLETE",
        "stack {stack} is {status} after a failed creation"
    );
    // The same input again: the stack failed, so this is no no-op.
    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    ensure!(
        count(&ops, "CreateChangeSet") >= 1,
        "the deploy after a failure made no change set: {ops:?}\n{}",
        run.tail()
    );
    ensure!(
        !run.stderr.contains("No changes"),
        "the deploy after a failure was taken as a no-op:\n{}",
        run.tail()
    );
    ensure!(!run.ok, "the broken deploy succeeded the second time");
    Ok(())
}

fn hotswap(ctx: &mut Ctx) -> Result<()> {
    let dir = deployed(ctx)?;
    let app = app(ctx);
    let function = function(ctx)?;
    edit_code(&dir, &format!("hotswap {}", ctx.run))?;
    let (run, ops) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    let run = run.check().context("svc deploy --hotswap")?;
    ensure!(
        run.stderr.contains("Hotswapped the code of 1 function"),
        "--hotswap does not say it hotswapped:\n{}",
        run.tail()
    );
    ensure!(
        cfn_writes(&ops).is_empty(),
        "--hotswap wrote to CloudFormation: {:?}",
        cfn_writes(&ops)
    );
    ensure!(
        count(&ops, "UpdateFunctionCode") == 1,
        "UpdateFunctionCode calls: {ops:?}"
    );
    ctx.check_function_code(&function, &dir.join(CODE))?;
    ensure!(record_exists(ctx)?, "no hotswap record after a hotswap");
    ensure!(
        run.stderr.contains("until the next"),
        "--hotswap does not say that the stack now differs from its template:\n{}",
        run.tail()
    );

    // Again, nothing edited: the function runs that code already.
    let (run, ops) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    let run = run.check().context("svc deploy --hotswap, again")?;
    ensure!(
        count(&ops, "UpdateFunctionCode") == 0 && cfn_writes(&ops).is_empty(),
        "a second hotswap without an edit changed something: {ops:?}\n{}",
        run.tail()
    );

    // The SHA-256 computed while zipping is Lambda's CodeSha256: with the record and the zip's
    // object gone, the zip is built again, and its hash alone tells that the function runs it.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(ctx.download(&bucket(ctx)?, &record_key(ctx))?)?)?;
    let zip_key = record
        .pointer("/functions/recordProcessor/key")
        .and_then(serde_json::Value::as_str)
        .context("no recordProcessor in the hotswap record")?
        .to_owned();
    delete_object(ctx, &record_key(ctx))?;
    delete_object(ctx, &zip_key)?;
    let (run, ops) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    let run = run
        .check()
        .context("svc deploy --hotswap with the zip built again")?;
    ensure!(
        count(&ops, "PutObject") >= 1 && count(&ops, "UpdateFunctionCode") == 0,
        "the rebuilt zip's SHA-256 did not match the function's CodeSha256 (calls {ops:?}):\n{}",
        run.tail()
    );

    // Lambda refuses the update: a non-zero exit naming the call and the function; the
    // function keeps the code it had, and the next hotswap does it.
    let proxy = proxy(ctx)?;
    proxy.set_plan(Plan::none().rule(
        Rule::always(FaultKind::InternalError, When::Before).operations(&["UpdateFunctionCode"]),
    ));
    let sha_before = ctx
        .aws_json(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            &function,
        ])?
        .get("CodeSha256")
        .cloned();
    edit_code(&dir, "refused")?;
    let (run, _) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    proxy.set_plan(Plan::none());
    ensure!(
        !run.ok,
        "a hotswap whose UpdateFunctionCode failed exited 0"
    );
    ensure!(
        run.stderr.contains("UpdateFunctionCode") && run.stderr.contains(&function),
        "the failed hotswap does not name the call and the function:\n{}",
        run.tail()
    );
    let sha_after = ctx
        .aws_json(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            &function,
        ])?
        .get("CodeSha256")
        .cloned();
    ensure!(
        sha_before == sha_after,
        "the refused update changed the function's code"
    );
    let (run, ops) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    run.check().context("the hotswap after a refused one")?;
    ensure!(
        count(&ops, "UpdateFunctionCode") == 1,
        "UpdateFunctionCode calls: {ops:?}"
    );
    ctx.check_function_code(&function, &dir.join(CODE))?;
    Ok(())
}

fn fallback(ctx: &mut Ctx) -> Result<()> {
    let dir = deployed(ctx)?;
    let app = app(ctx);
    let addon = dir.join(ADDON);
    let text = fs::read_to_string(&addon)?;
    let changed = text.replacen("Timeout: 60", "Timeout: 61", 1);
    ensure!(
        changed != text,
        "example changed: no `Timeout: 60` in {ADDON}"
    );
    fs::write(&addon, changed)?;
    edit_code(&dir, "fallback")?;
    let (run, ops) = deploy(ctx, &dir, &app, &["--hotswap"])?;
    let run = run
        .check()
        .context("svc deploy --hotswap with a non-code change")?;
    ensure!(
        run.stderr.contains("Hotswap not possible")
            && run.stderr.contains("recordProcessor")
            && run.stderr.contains("Timeout"),
        "the fallback does not say why:\n{}",
        run.tail()
    );
    ensure!(
        count(&ops, "CreateChangeSet") >= 1,
        "no change set: {ops:?}"
    );
    ensure!(
        count(&ops, "ExecuteChangeSet") >= 1,
        "no execution: {ops:?}"
    );
    let config = ctx.check_function_code(&function(ctx)?, &dir.join(CODE))?;
    ensure!(
        config.get("Timeout").and_then(serde_json::Value::as_i64) == Some(61),
        "the function's Timeout is not 61: {config}"
    );
    ensure!(
        !record_exists(ctx)?,
        "the hotswap record outlived a full deploy"
    );
    Ok(())
}

fn after_hotswap(ctx: &mut Ctx) -> Result<()> {
    let dir = deployed(ctx)?;
    let app = app(ctx);
    let function = function(ctx)?;
    // An edit hotswapped, then a normal deploy: a change set, and then nothing differs.
    edit_code(&dir, "then deployed")?;
    deploy(ctx, &dir, &app, &["--hotswap"])?.0.check()?;
    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    let run = run.check().context("the deploy after a hotswap")?;
    ensure!(
        count(&ops, "CreateChangeSet") >= 1 && count(&ops, "ExecuteChangeSet") >= 1,
        "the deploy after a hotswap did not update the stack: {ops:?}\n{}",
        run.tail()
    );
    ensure!(
        !record_exists(ctx)?,
        "the hotswap record outlived the deploy"
    );
    ctx.check_function_code(&function, &dir.join(CODE))?;
    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    ensure!(
        run.ok && cfn_writes(&ops).is_empty(),
        "CloudFormation is not in line after the deploy (a no-op deploy wrote {:?}):\n{}",
        cfn_writes(&ops),
        run.tail()
    );

    // An edit hotswapped and then reverted: the template is the deployed one, but the function
    // runs the edit. The normal deploy puts the template's code back.
    let index = dir.join(CODE).join("index.js");
    let original = fs::read(&index)?;
    edit_code(&dir, "reverted")?;
    deploy(ctx, &dir, &app, &["--hotswap"])?.0.check()?;
    fs::write(&index, &original)?;
    let (run, ops) = deploy(ctx, &dir, &app, &[])?;
    let run = run.check().context("the deploy after a reverted hotswap")?;
    ensure!(
        !run.stderr.contains("No changes: stack"),
        "the deploy after a reverted hotswap was skipped:\n{}",
        run.tail()
    );
    ensure!(
        count(&ops, "UpdateFunctionCode") == 1,
        "UpdateFunctionCode calls: {ops:?}"
    );
    ctx.check_function_code(&function, &dir.join(CODE))?;
    ensure!(
        !record_exists(ctx)?,
        "the hotswap record outlived the deploy"
    );
    Ok(())
}

fn watch(ctx: &mut Ctx) -> Result<()> {
    let dir = deployed(ctx)?;
    let function = function(ctx)?;
    let addon = dir.join(ADDON);
    let good = fs::read_to_string(&addon)?;
    let broken = format!("{good}\n  broken: [unclosed\n");
    fs::write(&addon, &broken)?;
    let mut watch = WatchProcess::start(
        ctx,
        &dir,
        &app(ctx),
        &proxy(ctx)?.endpoint,
        Some(ctx.work.join("watch.log")),
    )?;
    let mut wait_for = |what: &str, timeout: Duration| watch.wait_for(what, timeout);
    let result = (|| -> Result<()> {
        // It started on a broken addon (below): the first round fails and the watch waits.
        let first = wait_for("round 1 ", Duration::from_secs(120))?;
        ensure!(
            first.contains("failed"),
            "the first round, on a broken addon, did not fail: {first}"
        );
        wait_for("Watching", Duration::from_secs(10))?;
        fs::write(&addon, &good)?;
        let second = wait_for("round 2 ", Duration::from_secs(120))?;
        ensure!(
            second.contains("ddb.yml") && !second.contains("failed"),
            "the fixed addon did not make a good round: {second}"
        );
        wait_for("Watching", Duration::from_secs(10))?;
        edit_code(&dir, "watched")?;
        let third = wait_for("round 3 ", Duration::from_secs(120))?;
        ensure!(
            third.contains("index.js") && third.contains("hotswapped recordProcessor"),
            "the round after an edit did not hotswap it: {third}"
        );
        ctx.check_function_code(&function, &dir.join(CODE))?;
        wait_for("Watching", Duration::from_secs(10))?;
        // A broken addon while watching: the round fails, says so, and the watch goes on.
        fs::write(&addon, &broken)?;
        let fourth = wait_for("round 4 ", Duration::from_secs(60))?;
        ensure!(
            fourth.contains("failed"),
            "a broken addon did not fail its round: {fourth}"
        );
        wait_for("Watching", Duration::from_secs(10))?;
        fs::write(&addon, &good)?;
        edit_code(&dir, "watched again")?;
        let fifth = wait_for("round 5 ", Duration::from_secs(120))?;
        ensure!(
            fifth.contains("hotswapped recordProcessor"),
            "the watch did not go on after a failed round: {fifth}"
        );
        ctx.check_function_code(&function, &dir.join(CODE))?;
        wait_for("Watching", Duration::from_secs(10))?;
        Ok(())
    })();
    let status = watch.interrupt()?;
    result?;
    let log = fs::read_to_string(ctx.work.join("watch.log")).unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => bail!("svc watch exited with {s} on SIGINT:\n{log}"),
        None => bail!("svc watch did not end within 20 s of SIGINT:\n{log}"),
    }
    ensure!(
        log.contains("Watch ended"),
        "svc watch did not say it ended:\n{log}"
    );
    Ok(())
}

/// A running `svc watch`, its stderr read line by line.
pub(super) struct WatchProcess {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl WatchProcess {
    /// `svc watch` of the seed's service in `dir`, through `endpoint`; its stderr also goes
    /// to `log` when it ends.
    pub(super) fn start(
        ctx: &Ctx,
        dir: &Path,
        app: &str,
        endpoint: &str,
        log: Option<PathBuf>,
    ) -> Result<WatchProcess> {
        let mut cmd = ctx.lite_command();
        cmd.current_dir(dir)
            .args(["svc", "watch", "-n", SVC, "-e", ENV, "-a", app])
            .env("AWS_ENDPOINT_URL", endpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("cannot start svc watch")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            if let Some(log) = log {
                let _ = fs::write(log, &all);
            }
        });
        Ok(WatchProcess {
            child,
            lines,
            reader: Some(reader),
        })
    }

    /// The next line starting with `what` (earlier lines are skipped).
    pub(super) fn wait_for(&mut self, what: &str, timeout: Duration) -> Result<String> {
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(what) => return Ok(line),
                Ok(_) => {}
                Err(_) => bail!("svc watch printed no line starting {what:?} within {timeout:?}"),
            }
        }
    }

    /// SIGINT, as Ctrl-C sends it; its exit status, `None` when it did not end within 20 s
    /// (then it is killed). Its stderr has been read to the end.
    pub(super) fn interrupt(mut self) -> Result<Option<std::process::ExitStatus>> {
        let pid = i32::try_from(self.child.id()).context("pid")?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break Some(status);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok(status)
    }
}
