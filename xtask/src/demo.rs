//! `cargo xtask demo`: the main job of copilot-lite on a local, offline LocalStack.
//!
//! Builds the binary, sets LocalStack up (once), starts it in a private network namespace,
//! then deploys the seed example (`copilot-lite svc deploy -n record-svc -e demo` in
//! `examples/seed`) and shows what was uploaded (the bucket) and deployed (stack outputs,
//! function configuration, event source mapping). A binary without the `svc` commands yet
//! demos `copilot-lite package` of `examples/package` and deploys the packaged template with
//! the AWS CLI instead. LocalStack is stopped at the end (nothing persists).

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::e2e::{self, Ctx};
use crate::localstack::{self, LocalStackEnv, Paths, SetupOptions};

const USAGE: &str = "\
usage: cargo xtask demo [--no-build]

Builds copilot-lite, starts an offline LocalStack (set up on first use: needs PyPI and npm),
deploys the seed example with it and shows the result, then stops LocalStack.
";

pub fn main(args: &[OsString]) -> Result<ExitCode> {
    let mut build = std::env::var_os("COPILOT_LITE_BIN").is_none();
    for arg in args.get(1..).unwrap_or_default() {
        match arg.to_str() {
            Some("--no-build") => build = false,
            Some("-h" | "--help") => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            _ => bail!("unexpected argument {arg:?}\n\n{USAGE}"),
        }
    }
    let bin = e2e::binary_path();
    if !localstack::in_private_network() {
        if build {
            e2e::build_binary()?;
        }
        localstack::setup(&Paths::discover(), &SetupOptions::default())?;
    }
    ensure!(
        bin.is_file(),
        "{} does not exist (build it: cargo build -p copilot-lite)",
        bin.display()
    );
    localstack::ensure_private_network(args)?;
    localstack::install_signal_handlers();
    let t0 = Instant::now();
    let work = e2e::target_dir().join("demo");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    localstack::with_localstack(|env| {
        banner(&format!(
            "LocalStack is running at {} (private network namespace)",
            env.endpoint_url
        ));
        let ctx = Ctx {
            env,
            bin: bin.clone(),
            root: localstack::workspace_root(),
            work: work.clone(),
            id: "demo".into(),
            run: "demo".into(),
            scratch: work.clone(),
        };
        svc_demo(&ctx)
    })?;
    banner(&format!(
        "Done in {:.0} s; LocalStack stopped (nothing was kept). Next: README.md, `cargo xtask test`.",
        t0.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}

fn banner(text: &str) {
    println!("\n==> {text}");
}

/// Prints `$ line` and runs `cmd` with the terminal as its stdout/stderr.
fn show(mut cmd: Command, line: &str) -> Result<()> {
    println!("$ {line}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run `{line}`"))?;
    ensure!(status.success(), "`{line}` failed ({status})");
    Ok(())
}

fn show_aws(env: &LocalStackEnv, args: &[&str]) -> Result<()> {
    let mut cmd = env.aws();
    cmd.args(args);
    show(cmd, &format!("aws {}", args.join(" ")))
}

fn show_copilot(ctx: &Ctx, cwd: &Path, args: &[&str]) -> Result<()> {
    let mut cmd = ctx.env.command(&ctx.bin);
    cmd.current_dir(cwd).args(args);
    show(cmd, &format!("copilot-lite {}", args.join(" ")))
}

fn svc_demo(ctx: &Ctx) -> Result<()> {
    let seed = ctx.root.join("examples/seed");
    banner("Deploying the service record-svc of examples/seed to the environment `demo`");
    println!("(cd examples/seed)");
    show_copilot(
        ctx,
        &seed,
        &["svc", "deploy", "-n", "record-svc", "-e", "demo"],
    )?;

    let app = fs::read_to_string(seed.join("copilot/.workspace"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("application:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "seed-demo".into());
    let infra = format!("{app}-infrastructure");
    let bucket = ctx
        .stack_outputs(&infra)?
        .get("ArtifactBucket")
        .cloned()
        .with_context(|| format!("stack {infra} has no output ArtifactBucket"))?;
    banner(&format!(
        "Uploaded: the artifact bucket {bucket} (created by the stack {infra})"
    ));
    show_aws(
        ctx.env,
        &["s3", "ls", "--recursive", &format!("s3://{bucket}")],
    )?;

    let stack = format!("{app}-demo-record-svc");
    banner(&format!("Deployed: the stack {stack} and its addons"));
    show_aws(
        ctx.env,
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            &stack,
            "--query",
            "Stacks[0].{Stack:StackName,Status:StackStatus,Updated:LastUpdatedTime}",
            "--output",
            "table",
        ],
    )?;
    let resources = ctx.stack_resources(&stack)?;
    let Some((_, addons, _)) = resources.get("AddonsStack") else {
        bail!("stack {stack} has no AddonsStack: {resources:?}");
    };
    show_aws(
        ctx.env,
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            addons,
            "--query",
            "Stacks[0].Outputs[].{Key:OutputKey,Value:OutputValue}",
            "--output",
            "table",
        ],
    )?;
    let inner = ctx.stack_resources(addons)?;
    let function = inner
        .get("recordProcessor")
        .map(|(_, p, _)| p.clone())
        .context("the addons stack has no recordProcessor")?;
    show_function(ctx.env, &function)?;
    show_aws(
        ctx.env,
        &[
            "lambda",
            "list-event-source-mappings",
            "--function-name",
            &function,
            "--query",
            "EventSourceMappings[].{Source:EventSourceArn,State:State,BatchSize:BatchSize}",
            "--output",
            "table",
        ],
    )?;
    banner("Deploying again without a change: nothing is uploaded, the stack is left alone");
    show_copilot(
        ctx,
        &seed,
        &["svc", "deploy", "-n", "record-svc", "-e", "demo"],
    )?;
    Ok(())
}

fn show_function(env: &LocalStackEnv, function: &str) -> Result<()> {
    show_aws(
        env,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            function,
            "--query",
            "{Name:FunctionName,Runtime:Runtime,Handler:Handler,State:State,CodeSize:CodeSize,CodeSha256:CodeSha256}",
            "--output",
            "table",
        ],
    )
}
