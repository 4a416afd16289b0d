//! `copilot-lite svc deploy` of `examples/seed` with the fault proxy (`test_support::proxy`)
//! between the binary and LocalStack (S3, CloudFormation and STS all through
//! `AWS_ENDPOINT_URL` = the proxy).
//!
//! - `svc-deploy-faults`: 10% of the requests fail (500, throttling, closed connections,
//!   truncated bodies, slow responses; before or after LocalStack executed them): the deploy
//!   succeeds, the stack is complete and the function's code equals the folder.
//! - `svc-deploy-all-failing`: every request fails: a non-zero exit naming the failed call,
//!   and no stack of the application left behind.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use test_support::proxy::{FaultKind, FaultProxy, Plan, Rule, When};

use super::ctx::{Ctx, copy_dir};
use super::{Needs, Scenario};

const SVC: &str = "record-svc";
const ENV: &str = "test";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "svc-deploy-faults",
            what: "svc deploy with 10% of S3/CloudFormation requests failing: stack complete, code = folder",
            needs: Needs::Svc,
            run: ten_percent,
        },
        Scenario {
            name: "svc-deploy-no-rollback",
            what: "svc deploy --no-rollback sends DisableRollback with the change set's execution (checked on the requests)",
            needs: Needs::Svc,
            run: no_rollback,
        },
        Scenario {
            name: "svc-deploy-all-failing",
            what: "svc deploy with every request failing: exit non-zero, clear message, no stack",
            needs: Needs::Svc,
            run: all_failing,
        },
    ]
}

fn deploy_through(
    ctx: &Ctx,
    proxy: &FaultProxy,
    app: &str,
    extra_env: &[(&str, &str)],
) -> Result<super::Run> {
    deploy_through_with(ctx, proxy, app, extra_env, &[])
}

fn deploy_through_with(
    ctx: &Ctx,
    proxy: &FaultProxy,
    app: &str,
    extra_env: &[(&str, &str)],
    flags: &[&str],
) -> Result<super::Run> {
    let dir = ctx.work.join("seed");
    if !dir.is_dir() {
        copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    }
    let mut env = vec![("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.extend_from_slice(extra_env);
    let mut args = vec!["svc", "deploy", "-n", SVC, "-e", ENV, "-a", app];
    args.extend_from_slice(flags);
    ctx.copilot_with_env(&dir, &args, &env)
}

/// The `DisableRollback` parameter of every `ExecuteChangeSet` of `stack` in the proxy's log
/// (an execution names its change set by ARN, `...:changeSet/<name>/<id>`: the names come from
/// the stack's `CreateChangeSet` requests).
fn disable_rollback_sent(proxy: &FaultProxy, stack: &str) -> Vec<Option<String>> {
    let log = proxy.log();
    let param = |r: &test_support::proxy::Record, key: &str| {
        r.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let names: Vec<String> = log
        .iter()
        .filter(|r| r.operation == "CreateChangeSet")
        .filter(|r| param(r, "StackName").as_deref() == Some(stack))
        .filter_map(|r| param(r, "ChangeSetName"))
        .collect();
    log.iter()
        .filter(|r| r.operation == "ExecuteChangeSet")
        .filter(|r| {
            param(r, "ChangeSetName").is_some_and(|cs| {
                names
                    .iter()
                    .any(|n| cs == *n || cs.contains(&format!("changeSet/{n}/")))
            })
        })
        .map(|r| param(r, "DisableRollback"))
        .collect()
}

fn no_rollback(ctx: &mut Ctx) -> Result<()> {
    let app = format!("e2e{}n", ctx.run);
    let proxy = FaultProxy::start(&ctx.env.endpoint_url, Plan::none())?;
    let run = deploy_through_with(ctx, &proxy, &app, &[], &["--no-rollback"])?;
    run.check().context("svc deploy --no-rollback")?;
    // The service's stack (the app's bucket stack, created first, is not the user's deploy).
    let sent = disable_rollback_sent(&proxy, &format!("{app}-{ENV}-{SVC}"));
    ensure!(
        !sent.is_empty() && sent.iter().all(|v| v.as_deref() == Some("true")),
        "ExecuteChangeSet requests and their DisableRollback: {sent:?}"
    );
    Ok(())
}

fn ten_percent(ctx: &mut Ctx) -> Result<()> {
    let app = format!("e2e{}q", ctx.run);
    let plan = Plan::mixed(7, 0.10).slow_delay(Duration::from_millis(300));
    let proxy = FaultProxy::start(&ctx.env.endpoint_url, plan)?;
    let run = deploy_through(ctx, &proxy, &app, &[])?;
    let stats = proxy.stats();
    let log = proxy.log();
    std::fs::write(ctx.work.join("proxy-stats.txt"), format!("{stats:#?}\n")).ok();
    let run = run
        .check()
        .with_context(|| format!("the deploy failed with 10% faults ({stats:?})"))?;
    drop(run);
    ensure!(stats.failures() > 0, "no fault was injected: {stats:?}");
    // Without --no-rollback, rollback stays on.
    let sent = disable_rollback_sent(&proxy, &format!("{app}-{ENV}-{SVC}"));
    ensure!(
        !sent.is_empty() && sent.iter().all(|v| v.as_deref() != Some("true")),
        "ExecuteChangeSet requests and their DisableRollback: {sent:?}"
    );
    // Every upload to the artifact bucket pins its owner: the caller's account (STS).
    let puts: Vec<_> = log
        .iter()
        .filter(|r| r.operation == "PutObject" || r.operation == "HeadObject")
        .collect();
    ensure!(
        !puts.is_empty(),
        "no PutObject/HeadObject went through the proxy"
    );
    for r in &puts {
        ensure!(
            r.expected_bucket_owner.as_deref() == Some("000000000000"),
            "{} {} without ExpectedBucketOwner = the caller's account: {:?}",
            r.operation,
            r.uri,
            r.expected_bucket_owner
        );
    }
    let stack = format!("{app}-{ENV}-{SVC}");
    let status = ctx.wait_stack(&stack, Duration::from_secs(60))?;
    ensure!(
        status == "CREATE_COMPLETE",
        "stack {stack} is {status}:\n{}",
        ctx.failure_reasons(&stack)
    );
    // The uploaded code (what Lambda got from S3) equals the folder.
    let resources = ctx.stack_resources(&stack)?;
    let nested = resources
        .get("AddonsStack")
        .map(|(_, physical, _)| physical.clone())
        .with_context(|| format!("stack {stack} has no AddonsStack"))?;
    let function = ctx
        .stack_resources(&nested)?
        .get("recordProcessor")
        .map(|(_, physical, _)| physical.clone())
        .context("the addons stack has no recordProcessor")?;
    ctx.check_function_code(&function, &ctx.work.join("seed/lambdas/record-processor"))?;
    Ok(())
}

fn all_failing(ctx: &mut Ctx) -> Result<()> {
    let app = format!("e2e{}z", ctx.run);
    let plan = Plan::none().rule(Rule::random(1.0, &FaultKind::FAILING).when(&[When::Before]));
    let proxy = FaultProxy::start(&ctx.env.endpoint_url, plan)?;
    let run = deploy_through(ctx, &proxy, &app, &[("AWS_MAX_ATTEMPTS", "2")])?;
    ensure!(!run.ok, "the deploy succeeded with every request failing");
    ensure!(
        run.stderr.contains("DescribeStacks") && !run.stderr.contains("DispatchFailure("),
        "the error does not name the failed call in one line:\n{}",
        run.tail()
    );
    ensure!(proxy.stats().forwarded == 0, "a request reached LocalStack");
    for stack in [
        format!("{app}-infrastructure"),
        format!("{app}-{ENV}-{SVC}"),
    ] {
        let status = ctx.wait_stack(&stack, Duration::from_secs(30))?;
        ensure!(status == "GONE", "stack {stack} left behind ({status})");
    }
    Ok(())
}
