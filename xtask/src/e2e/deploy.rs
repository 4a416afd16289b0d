//! The `deploy` crate's own LocalStack tests (create, update, no change, failure and
//! rollback, `ROLLBACK_COMPLETE` re-create, nested stacks, the bootstrap bucket stack, detach,
//! cancellation), run as one scenario. The test binary is built on the host (see
//! [`build_deploy_tests`]); running `cargo test` inside the namespace would rebuild.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::{Ctx, Needs, Scenario};

/// Where the host side leaves the path of the test binary for the namespace side.
const ENV: &str = "XTASK_DEPLOY_LOCALSTACK_TESTS";

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "deploy-crate-localstack",
        what: "the deploy crate's change set tests against LocalStack CloudFormation",
        needs: Needs::Package,
        run,
    }]
}

/// Builds the `deploy` crate's `localstack` test binary (`cargo test --workspace --no-run`,
/// which reuses what `cargo test --workspace` built) and exports its path for [`run`].
pub fn build_deploy_tests() -> Result<()> {
    let output = crate::cargo()
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .current_dir(crate::localstack::workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo test --no-run")?;
    if !output.status.success() {
        bail!(
            "`cargo test --workspace --no-run` failed ({})",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let exe = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["target"]["name"] == "localstack"
                && v["package_id"]
                    .as_str()
                    .is_some_and(|p| p.contains("deploy"))
        })
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("no executable for the deploy crate's localstack tests")?;
    // SAFETY: called on the host side before any other thread is started; the variable is
    // inherited by the namespace side, which runs the scenario.
    unsafe { std::env::set_var(ENV, &exe) };
    Ok(())
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let exe = std::env::var_os(ENV).context("the deploy test binary was not built on the host")?;
    let mut cmd = ctx.env.command(&exe);
    cmd.env("COPILOT_LITE_LOCALSTACK", "1")
        .args(["--ignored", "--test-threads", "2"])
        .current_dir(&ctx.work)
        .stdin(Stdio::null());
    let out = cmd.output().context("cannot run the deploy tests")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(ctx.work.join("deploy-tests.log"), &text).ok();
    if !out.status.success() {
        bail!(
            "deploy crate LocalStack tests failed:\n{}",
            super::ctx::indent(&text)
        );
    }
    // Every test of the file ran and passed (none filtered out or skipped by a stale binary).
    let expected = include_str!("../../../crates/deploy/tests/localstack.rs")
        .matches("#[tokio::test]")
        .count();
    if !text.contains(&format!("test result: ok. {expected} passed")) {
        bail!(
            "expected the {expected} deploy LocalStack tests to pass:\n{}",
            super::ctx::indent(&text)
        );
    }
    Ok(())
}
