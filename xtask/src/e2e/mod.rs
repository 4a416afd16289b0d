//! `cargo xtask e2e`: the end-to-end scenarios of the `copilot-lite` binary against an offline
//! LocalStack in a private network namespace.
//!
//! Host side: build the binary and the deploy crate's tests (`cargo test --workspace
//! --no-run`, into the workspace's target dir), set LocalStack up (idempotent), then re-execute under `unshare`. Namespace side:
//! start LocalStack, run every scenario (each reported pass / fail / skip with its reason and
//! time; a failure does not stop the run), stop LocalStack, print the summary and a last line
//! `N passed, N failed[, N skipped]`. Exit code 1 when anything failed.
//!
//! Every scenario gets a fresh scratch folder (`target/e2e/<scenario>/`, with `commands.log`:
//! each command, its exit code and output) and a unique id for bucket and stack names.

mod bench_deploy;
mod ctx;
mod deploy;
mod dev_loop;
mod env;
mod faults;
mod interop;
mod package;
mod svc;

use std::ffi::OsString;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

pub use ctx::{Ctx, Run};

use crate::localstack::{self, LocalStackEnv, Paths, SetupOptions};

const USAGE: &str = "\
usage: cargo xtask e2e [--no-build] [--list] [--repeat N] [--allow-skip] [SCENARIO...]

Builds copilot-lite (cargo build -p copilot-lite), sets LocalStack up (once; needs PyPI and
npm), then runs the end-to-end scenarios against a fresh LocalStack in a private network
namespace (root, or unprivileged user namespaces). The last line is `N passed, N failed`.

  --no-build    kept for compatibility: the binary is target/debug/copilot-lite as built by
                `cargo test --workspace --no-run` (or COPILOT_LITE_BIN)
  --list        list the scenarios and exit
  --repeat N    run the selected scenarios N times in a row (one LocalStack), e.g. to
                check that a scenario is not flaky; each round is counted
  --allow-skip  exit 0 even if a scenario was skipped (by default a skipped scenario fails
                the run: a check that did not run is not a check that passed)
  SCENARIO      run only the scenarios whose name contains one of these words

env: COPILOT_LITE_BIN=PATH  test this binary (implies --no-build)
";

/// What a scenario needs from the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `copilot-lite package`.
    Package,
    /// `copilot-lite svc package|deploy`.
    Svc,
}

/// Returned (as the error) by a scenario that cannot be checked here: reported as skipped.
#[derive(Debug)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub needs: Needs,
    pub run: fn(&mut Ctx) -> Result<()>,
}

/// Every scenario, in run order (the svc deploy scenarios build on each other's stack).
pub fn scenarios() -> Vec<Scenario> {
    let mut all = package::scenarios();
    all.extend(svc::scenarios());
    all.extend(dev_loop::scenarios());
    all.extend(interop::scenarios());
    all.extend(env::scenarios());
    all.extend(deploy::scenarios());
    all.extend(faults::scenarios());
    all
}

#[derive(Debug, Default)]
struct Flags {
    list: bool,
    allow_skip: bool,
    repeat: usize,
    filters: Vec<String>,
}

fn parse(args: &[OsString]) -> Result<Flags> {
    let mut flags = Flags {
        repeat: 1,
        ..Flags::default()
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(s) = arg.to_str() else {
            bail!("unexpected argument {arg:?}");
        };
        match s {
            "--repeat" => {
                let n = args.next().and_then(|n| n.to_str()).unwrap_or_default();
                flags.repeat = match n.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => bail!("--repeat takes a count of at least 1, not {n:?}\n\n{USAGE}"),
                };
            }
            "--no-build" => {}
            "--list" => flags.list = true,
            "--allow-skip" => flags.allow_skip = true,
            "-h" | "--help" | "help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other if other.starts_with('-') => bail!("unknown option {other}\n\n{USAGE}"),
            other => flags.filters.push(other.to_owned()),
        }
    }
    Ok(flags)
}

/// The target dir cargo builds into (`CARGO_TARGET_DIR`, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    let root = localstack::workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `COPILOT_LITE_BIN`, else `<target>/debug/copilot-lite`.
pub fn binary_path() -> PathBuf {
    match std::env::var_os("COPILOT_LITE_BIN") {
        Some(p) if !p.is_empty() => localstack::workspace_root().join(p),
        _ => target_dir().join("debug/copilot-lite"),
    }
}

/// `cargo build -p copilot-lite` in the workspace (needs crates.io unless cached: run it
/// before entering the namespace).
pub fn build_binary() -> Result<()> {
    let t0 = Instant::now();
    eprintln!("e2e: cargo build -p copilot-lite");
    let status = crate::cargo()
        .args(["build", "-p", "copilot-lite", "--bin", "copilot-lite"])
        .current_dir(localstack::workspace_root())
        .stdin(Stdio::null())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo build -p copilot-lite` failed ({status})");
    }
    eprintln!("e2e: built in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Entry point; `args` start with `e2e`.
pub fn main(args: &[OsString]) -> Result<ExitCode> {
    let flags = parse(args.get(1..).unwrap_or_default())?;
    let mut selected: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| flags.filters.is_empty() || flags.filters.iter().any(|f| s.name.contains(f)))
        .collect();
    // Benchmarks are not scenarios of the test run: only named in full (`cargo xtask bench
    // deploy` names it).
    let bench = bench_deploy::scenario();
    if flags.filters.iter().any(|f| f == bench.name) {
        selected.push(bench);
    }
    if flags.list {
        for s in scenarios() {
            println!("{:<28} {}", s.name, s.what);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if selected.is_empty() {
        bail!(
            "no scenario matches {:?} (`cargo xtask e2e --list`)",
            flags.filters
        );
    }
    let bin = binary_path();
    let paths = Paths::discover();
    if !localstack::in_private_network() {
        // Host side: everything that needs the network.
        // `cargo test --workspace --no-run` (for the deploy crate's test binary) also builds
        // target/debug/copilot-lite (the binary of the integration tests), with the features
        // `cargo test --workspace` resolves; a separate `cargo build -p copilot-lite` resolves
        // others and compiles the AWS SDK once more (minutes). With --no-build or
        // COPILOT_LITE_BIN the tests are still built, for the deploy crate's scenario.
        let prepared = deploy::build_deploy_tests()
            .and_then(|()| localstack::setup(&paths, &SetupOptions::default()));
        if let Err(e) = prepared {
            return Ok(not_run(&selected, &format!("{e:#}")));
        }
    }
    if !bin.is_file() {
        return Ok(not_run(
            &selected,
            &format!(
                "{} does not exist (build it: cargo build -p copilot-lite)",
                bin.display()
            ),
        ));
    }
    if let Err(e) = localstack::ensure_private_network(args) {
        return Ok(not_run(&selected, &format!("{e:#}")));
    }
    localstack::install_signal_handlers();

    let t0 = Instant::now();
    eprintln!("e2e: {}, {} scenario(s)", bin.display(), selected.len());
    let scratch = target_dir().join("e2e");
    let _ = fs::remove_dir_all(&scratch);
    let outcome = localstack::with_localstack(|env| {
        eprintln!("e2e: LocalStack ready at {}", env.endpoint_url);
        Ok(run_all(env, &bin, &scratch, &selected, flags.repeat))
    });
    let results = match outcome {
        Ok(results) => results,
        Err(e) => return Ok(not_run(&selected, &format!("LocalStack: {e:#}"))),
    };
    Ok(summary(
        &results,
        t0.elapsed().as_secs_f64(),
        &scratch,
        flags.allow_skip,
    ))
}

enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

struct Outcome {
    name: String,
    verdict: Verdict,
    secs: f64,
}

fn run_all(
    env: &LocalStackEnv,
    bin: &Path,
    scratch: &Path,
    selected: &[Scenario],
    repeat: usize,
) -> Vec<Outcome> {
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() % 1_000_000)
        .unwrap_or_default();
    let mut results = Vec::new();
    let rounds =
        (1..=repeat).flat_map(|round| selected.iter().enumerate().map(move |(i, s)| (round, i, s)));
    for (round, i, s) in rounds {
        let t0 = Instant::now();
        // With --repeat, each round has its own name, scratch folder and ids.
        let (name, id) = if repeat > 1 {
            (
                format!("{}#{round}", s.name),
                format!("e2e{run_id}-{i}r{round}"),
            )
        } else {
            (s.name.to_owned(), format!("e2e{run_id}-{i}"))
        };
        eprintln!("\n--- {name} : {}", s.what);
        let verdict = if let Some(sig) = localstack::interrupted() {
            Verdict::Fail(format!("not run: interrupted by signal {sig}"))
        } else {
            let work = scratch.join(&name);
            match fs::create_dir_all(&work) {
                Err(e) => Verdict::Fail(format!("cannot create {}: {e}", work.display())),
                Ok(()) => {
                    let mut ctx = Ctx {
                        env,
                        bin: bin.to_path_buf(),
                        root: localstack::workspace_root(),
                        work,
                        id,
                        run: format!("{run_id}"),
                        scratch: scratch.to_path_buf(),
                    };
                    match catch_unwind(AssertUnwindSafe(|| (s.run)(&mut ctx))) {
                        Ok(Ok(())) => Verdict::Pass,
                        Ok(Err(e)) => match e.downcast_ref::<Skip>() {
                            Some(skip) => Verdict::Skip(skip.0.clone()),
                            None => Verdict::Fail(format!("{e:#}")),
                        },
                        Err(panic) => Verdict::Fail(format!(
                            "panicked: {}",
                            panic
                                .downcast_ref::<String>()
                                .map(String::as_str)
                                .or_else(|| panic.downcast_ref::<&str>().copied())
                                .unwrap_or("?")
                        )),
                    }
                }
            }
        };
        let secs = t0.elapsed().as_secs_f64();
        match &verdict {
            Verdict::Pass => eprintln!("PASS {name} ({secs:.1} s)"),
            Verdict::Fail(why) => eprintln!("FAIL {name} ({secs:.1} s): {why}"),
            Verdict::Skip(why) => eprintln!("SKIP {name}: {why}"),
        }
        results.push(Outcome {
            name,
            verdict,
            secs,
        });
    }
    results
}

fn summary(results: &[Outcome], secs: f64, scratch: &Path, allow_skip: bool) -> ExitCode {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    println!("\ne2e summary ({secs:.1} s):");
    for r in results {
        match &r.verdict {
            Verdict::Pass => {
                passed += 1;
                println!("  PASS  {:<28} {:>6.1} s", r.name, r.secs);
            }
            Verdict::Fail(why) => {
                failed += 1;
                println!("  FAIL  {:<28} {:>6.1} s", r.name, r.secs);
                let lines: Vec<&str> = why.lines().collect();
                for line in lines.iter().take(8) {
                    println!("          {}", line.trim_start());
                }
                if lines.len() > 8 {
                    println!("          ... ({} more lines above)", lines.len() - 8);
                }
            }
            Verdict::Skip(why) => {
                skipped += 1;
                println!("  SKIP  {:<28}           {why}", r.name);
            }
        }
    }
    if failed > 0 {
        println!(
            "  (each scenario's commands and outputs: {}/<scenario>/commands.log)",
            scratch.display()
        );
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if skipped > 0 && !allow_skip {
        println!("skipped scenarios fail the run (--allow-skip to accept them)");
    }
    if failed > 0 || (skipped > 0 && !allow_skip) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The harness could not run the scenarios: each counts as failed.
fn not_run(selected: &[Scenario], why: &str) -> ExitCode {
    eprintln!("e2e: error: {why}");
    println!(
        "\ne2e summary: no scenario ran ({})",
        why.lines().next().unwrap_or_default()
    );
    println!("0 passed, {} failed", selected.len());
    ExitCode::FAILURE
}
