//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets of `fuzz/` for a
//! bounded time each (installing cargo-fuzz first when it is missing).
//!
//! libFuzzer needs nightly flags: `cargo +nightly` when that toolchain exists, else the stable
//! toolchain with `RUSTC_BOOTSTRAP=1` and no sanitizer. Seed inputs: the repository's example
//! templates, and `../shared/cfn-corpus/templates` when it exists (read in place, never copied
//! into the repository). The working corpus and crash artifacts stay under `fuzz/` (ignored).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::localstack;

/// The targets of `fuzz/Cargo.toml`, in run order.
pub const TARGETS: [&str; 2] = ["yaml_model", "path_rules"];

const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [TARGET...]

Runs each cargo-fuzz target of fuzz/ (yaml_model, path_rules) for N seconds (default 60).
Installs cargo-fuzz when missing; uses `cargo +nightly` when available, else stable with
RUSTC_BOOTSTRAP=1 and no sanitizer. A crash fails the run; its input is kept under
fuzz/artifacts/<target>/ (reproduce: cd fuzz && cargo +nightly fuzz run <target> <file>).
";

/// How to invoke cargo for nightly-only flags.
struct Toolchain {
    /// `+nightly`, or nothing.
    plus: Option<&'static str>,
    /// `RUSTC_BOOTSTRAP=1` on stable.
    bootstrap: bool,
    /// Extra `cargo fuzz` flags (`--sanitizer none` on stable).
    flags: Vec<&'static str>,
    name: &'static str,
}

impl Toolchain {
    fn cargo(&self) -> Command {
        let mut cmd = Command::new("cargo");
        // Whatever toolchain ran xtask must not leak into the nightly build.
        for var in [
            "RUSTUP_TOOLCHAIN",
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
        ] {
            cmd.env_remove(var);
        }
        if let Some(plus) = self.plus {
            cmd.arg(plus);
        }
        if self.bootstrap {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.stdin(Stdio::null());
        cmd
    }
}

/// Entry point; `args` start with `fuzz`.
pub fn main(args: &[OsString]) -> Result<ExitCode> {
    let mut seconds: u64 = 60;
    let mut targets = Vec::new();
    let mut rest = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--seconds" => {
                let n = rest.next().context("--seconds needs a number")?;
                seconds = n.parse().with_context(|| format!("--seconds {n}"))?;
            }
            t if TARGETS.contains(&t) => targets.push(t.to_string()),
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let root = localstack::workspace_root();
    let fuzz_dir = root.join("fuzz");

    let toolchain = toolchain();
    eprintln!("==> fuzz: toolchain {}", toolchain.name);
    ensure_cargo_fuzz()?;

    let t0 = Instant::now();
    let mut build = toolchain.cargo();
    build
        .args(["fuzz", "build", "-O"])
        .args(&toolchain.flags)
        .current_dir(&fuzz_dir);
    run(&mut build, "cargo fuzz build")?;
    eprintln!(
        "==> fuzz: targets built in {:.0} s",
        t0.elapsed().as_secs_f64()
    );

    let mut failed = Vec::new();
    for target in &targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = seeds(&root, target);
        let t0 = Instant::now();
        let mut cmd = toolchain.cargo();
        cmd.args(["fuzz", "run", "-O"])
            .args(&toolchain.flags)
            .arg(target)
            .arg(&corpus)
            .args(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(["-timeout=20", "-rss_limit_mb=4096", "-print_final_stats=1"])
            .current_dir(&fuzz_dir);
        eprintln!(
            "==> fuzz: {target} for {seconds} s ({} seed folder{})",
            seeds.len(),
            if seeds.len() == 1 { "" } else { "s" }
        );
        let status = cmd.status().context("cannot run cargo fuzz")?;
        let verdict = if status.success() { "ok" } else { "FAILED" };
        eprintln!(
            "==> fuzz: {target} {verdict} after {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        if !status.success() {
            failed.push(target.clone());
        }
    }
    if failed.is_empty() {
        eprintln!(
            "==> fuzz: no crash in {} target(s) ({})",
            targets.len(),
            toolchain.name
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "==> fuzz: crashes in {failed:?}; inputs under {}",
            fuzz_dir.join("artifacts").display()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `+nightly` when that toolchain answers, else stable with RUSTC_BOOTSTRAP.
fn toolchain() -> Toolchain {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if nightly {
        Toolchain {
            plus: Some("+nightly"),
            bootstrap: false,
            flags: Vec::new(),
            name: "nightly (address sanitizer)",
        }
    } else {
        Toolchain {
            plus: None,
            bootstrap: true,
            flags: vec!["--sanitizer", "none"],
            name: "stable with RUSTC_BOOTSTRAP=1, no sanitizer (no nightly toolchain found)",
        }
    }
}

fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!("==> fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz)");
    run(
        Command::new("cargo")
            .args(["install", "--locked", "cargo-fuzz"])
            .env_remove("RUSTUP_TOOLCHAIN")
            .stdin(Stdio::null()),
        "cargo install cargo-fuzz",
    )
}

/// Read-only seed folders for a target: the example templates (and the shared corpus when it
/// is there) for both targets: path rules read paths out of templates too.
fn seeds(root: &Path, _target: &str) -> Vec<PathBuf> {
    [
        root.join("examples/package"),
        root.join("examples/package/nested"),
        root.join("examples/seed/copilot/record-svc/addons"),
        root.join("examples/seed/copilot/example-service/addons"),
        root.join("../shared/cfn-corpus/templates"),
    ]
    .into_iter()
    .filter(|p| p.is_dir())
    .collect()
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
