//! `cargo xtask bench deploy` (the e2e harness's `bench-deploy`, not part of `cargo xtask
//! e2e`): the edit-deploy loop on `examples/seed` against LocalStack, each command's wall time
//! and its CloudFormation / STS / Lambda / S3 calls counted through the fault proxy
//! (`test_support::proxy`, no faults): the first deploy, then rounds of a no-op deploy, a code edit deployed through a
//! change set and a code edit hotswapped, and `svc watch` rounds (edit to "round N" line).
//! Prints a markdown table (medians) with the targets and writes it to
//! `target/bench/deploy.md`. Timings are reported, never asserted.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use test_support::proxy::{FaultProxy, Plan, Record};

use super::ctx::{Ctx, copy_dir};
use super::dev_loop::{CFN_WRITES, WatchProcess, edit_code};
use super::{Needs, Scenario};

const SVC: &str = "record-svc";
const ENV: &str = "test";
const ROUNDS: usize = 3;
const LAMBDA_OPS: [&str; 5] = [
    "GetFunction",
    "UpdateFunctionCode",
    "GetFunctionConfiguration",
    "UpdateFunctionConfiguration",
    "LambdaOther",
];

pub fn scenario() -> Scenario {
    Scenario {
        name: "bench-deploy",
        what: "benchmark: first / no-op / full code-change / hotswap deploys and a watch round, timed and counted",
        needs: Needs::Svc,
        run,
    }
}

/// The calls of one command, by service.
#[derive(Debug, Default, Clone)]
struct Calls {
    cfn: usize,
    cfn_writes: usize,
    create_change_set: usize,
    sts: usize,
    lambda: usize,
    s3: usize,
}

fn calls(log: &[Record]) -> Calls {
    let mut c = Calls::default();
    for r in log {
        let op = r.operation.as_str();
        if op == "GetCallerIdentity" {
            c.sts += 1;
        } else if !r.params.is_empty() {
            c.cfn += 1;
            c.cfn_writes += usize::from(CFN_WRITES.contains(&op));
            c.create_change_set += usize::from(op == "CreateChangeSet");
        } else if LAMBDA_OPS.contains(&op) {
            c.lambda += 1;
        } else {
            c.s3 += 1;
        }
    }
    c
}

struct Step {
    name: &'static str,
    secs: Vec<f64>,
    calls: Calls,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let app = format!("e2e{}b", ctx.run);
    let dir = ctx.work.join("seed");
    copy_dir(&ctx.root.join("examples/seed"), &dir)?;
    let proxy = FaultProxy::start(&ctx.env.endpoint_url, Plan::none())?;
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let deploy = |flags: &[&str]| -> Result<(f64, Calls)> {
        proxy.clear_log();
        let mut args = vec!["svc", "deploy", "-n", SVC, "-e", ENV, "-a", &app];
        args.extend_from_slice(flags);
        let t0 = Instant::now();
        let run = ctx.copilot_with_env(&dir, &args, &env)?;
        let secs = t0.elapsed().as_secs_f64();
        run.check()?;
        Ok((secs, calls(&proxy.log())))
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut record = |name: &'static str, (secs, calls): (f64, Calls)| match steps
        .iter_mut()
        .find(|s| s.name == name)
    {
        Some(step) => step.secs.push(secs),
        None => steps.push(Step {
            name,
            secs: vec![secs],
            calls,
        }),
    };
    record("first deploy (creates the stack)", deploy(&[])?);
    // Each round ends with the stack in line with its template (a no-op after a hotswap is
    // never skipped: the full deploy comes between).
    for round in 0..ROUNDS {
        edit_code(&dir, &format!("bench hotswap {round}"))?;
        record("code edit, --hotswap", deploy(&["--hotswap"])?);
        edit_code(&dir, &format!("bench full {round}"))?;
        record("code edit, full deploy (change set)", deploy(&[])?);
        record("no-op deploy", deploy(&[])?);
    }
    for (secs, calls) in watch_rounds(ctx, &proxy, &app, &dir)? {
        record("svc watch round (save to done)", (secs, calls));
    }

    let full = steps
        .iter()
        .find(|s| s.name.starts_with("code edit, full"))
        .map_or(f64::NAN, |s| median(&s.secs));
    let mut table = String::from(
        "| step | runs | wall (median) | speed-up vs the full code deploy | CloudFormation calls (writes) | CreateChangeSet | STS | Lambda | S3 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &steps {
        let m = median(&s.secs);
        let c = &s.calls;
        table.push_str(&format!(
            "| {} | {} | {m:.2} s | {:.1}× | {} ({}) | {} | {} | {} | {} |\n",
            s.name,
            s.secs.len(),
            full / m,
            c.cfn,
            c.cfn_writes,
            c.create_change_set,
            c.sts,
            c.lambda,
            c.s3
        ));
    }
    let get = |prefix: &str| steps.iter().find(|s| s.name.starts_with(prefix));
    let mut targets = String::new();
    if let (Some(noop), Some(hot)) = (get("no-op"), get("code edit, --hotswap")) {
        let (n, h) = (median(&noop.secs), median(&hot.secs));
        targets.push_str(&format!(
            "\nTargets: no-op deploy ≥ 10× faster than the full code-change deploy and 0 CreateChangeSet: {:.1}×, {} ({}); \
             hotswap ≥ 5× faster and 0 CloudFormation writes: {:.1}×, {} ({}).\n",
            full / n,
            noop.calls.create_change_set,
            if full / n >= 10.0 && noop.calls.create_change_set == 0 { "met" } else { "NOT met" },
            full / h,
            hot.calls.cfn_writes,
            if full / h >= 5.0 && hot.calls.cfn_writes == 0 { "met" } else { "NOT met" },
        ));
    }
    let text = format!(
        "# cargo xtask bench deploy\n\nLocalStack (host mode), examples/seed, calls counted through the fault proxy of test-support (no faults); call counts are of the last run of each step.\n\n{table}{targets}"
    );
    println!("\n{text}");
    let out = super::target_dir().join("bench");
    fs::create_dir_all(&out)?;
    fs::write(out.join("deploy.md"), &text)?;
    eprintln!("bench: written to {}", out.join("deploy.md").display());
    Ok(())
}

/// `svc watch` through the proxy: after its first round, `ROUNDS` edits, each timed from the
/// write to its "round N" line, with the calls made in between.
fn watch_rounds(
    ctx: &Ctx,
    proxy: &FaultProxy,
    app: &str,
    dir: &std::path::Path,
) -> Result<Vec<(f64, Calls)>> {
    let mut watch = WatchProcess::start(ctx, dir, app, &proxy.endpoint, None)?;
    let mut wait_for = |what: &str| watch.wait_for(what, Duration::from_secs(120));
    let result = (|| -> Result<Vec<(f64, Calls)>> {
        wait_for("Watching")?;
        let mut rounds = Vec::new();
        for round in 0..ROUNDS {
            proxy.clear_log();
            let t0 = Instant::now();
            edit_code(dir, &format!("bench watch {round}"))?;
            let line = wait_for(&format!("round {} ", round + 2))?;
            let secs = t0.elapsed().as_secs_f64();
            ensure!(
                line.contains("hotswapped"),
                "watch round did not hotswap: {line}"
            );
            wait_for("Watching")?;
            rounds.push((secs, calls(&proxy.log())));
        }
        Ok(rounds)
    })();
    watch.interrupt()?;
    result
}
