//! `cargo xtask cfn-lint`: CloudFormation's own linter over what copilot-lite writes.
//!
//! Packages every template of the shared corpus (`../shared/cfn-corpus/templates`, read in
//! place) with `copilot-lite package`, and every service of the seed workspace
//! (`examples/seed`) with `copilot-lite svc package --upload-assets`, against the in-process
//! S3 server (`test-support`'s `serve` example, built by `cargo test --workspace --no-run`
//! like the binary). Then runs `cfn-lint` on each input and its packaged output and compares
//! their errors (rule IDs starting with `E`), by rule ID and template path (never by line: a
//! rewrite moves lines). An error of an output that its input does not have fails the check,
//! unless [`ALLOWED`] lists it with the reason.
//!
//! An output byte-identical to its input (nothing to rewrite) is linted once: its errors are
//! its input's by construction. cfn-lint runs on several files per process, in parallel
//! (one process per core), which keeps the whole check around half a minute.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{e2e, localstack};

/// New errors accepted in a packaged output, each with the reason: real copilot-lite defects
/// being fixed elsewhere. (template file name, rule ID, path joined with `/`, reason).
#[rustfmt::skip]
const ALLOWED: &[(&str, &str, &str, &str)] = &[
];

const BUCKET: &str = "cfn-lint";

const USAGE: &str = "usage: cargo xtask cfn-lint [--no-build] [--keep]

Packages every template of ../shared/cfn-corpus/templates (copilot-lite package) and every
service of examples/seed (copilot-lite svc package --upload-assets) against the in-process S3
server, runs cfn-lint on each input and output, and fails when an output has a cfn-lint error
(rule E...) that its input does not have (compared by rule and path).

  --no-build   use target/debug/copilot-lite and target/debug/examples/serve as they are
               (else: cargo test --workspace --no-run builds both)
  --keep       keep the work folder (in the temporary folder) for inspection

env: CFN_LINT=PATH  the cfn-lint to run (default: cfn-lint on PATH)
     COPILOT_LITE_BIN=PATH  the binary to check (implies --no-build for it)
";

/// One template to check: its input and the packaged output.
struct Case {
    /// Shown in the summary: the corpus file name, or `seed:<svc>`.
    name: String,
    input: PathBuf,
    output: PathBuf,
}

/// Entry point; `args` start with `cfn-lint`.
pub fn main(args: &[OsString]) -> Result<ExitCode> {
    let mut build = true;
    let mut keep = false;
    for arg in args.get(1..).unwrap_or_default() {
        match arg.to_str() {
            Some("--no-build") => build = false,
            Some("--keep") => keep = true,
            Some("-h" | "--help") => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            _ => bail!("unknown argument {arg:?}\n\n{USAGE}"),
        }
    }
    let t0 = Instant::now();
    let root = localstack::workspace_root();
    let corpus = root.join("../shared/cfn-corpus/templates");
    if !corpus.is_dir() {
        bail!(
            "{} does not exist (CI has ../shared beside the repository)",
            corpus.display()
        );
    }
    let corpus = std::fs::canonicalize(&corpus)?;
    let cfn_lint = std::env::var_os("CFN_LINT").unwrap_or_else(|| "cfn-lint".into());
    let version = Command::new(&cfn_lint)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (install it: python3 -m pip install cfn-lint; .ci/run pins the version)",
                Path::new(&cfn_lint).display()
            )
        })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if build {
        // Builds target/debug/copilot-lite and the `serve` example with the features
        // `cargo test --workspace` resolves (a `-p` build would compile the AWS SDK again).
        eprintln!("cfn-lint: cargo test --workspace --no-run");
        let status = crate::cargo()
            .args(["test", "--workspace", "--no-run"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("`cargo test --workspace --no-run` failed ({status})");
        }
    }
    let bin = std::path::absolute(e2e::binary_path())?;
    let serve = e2e::target_dir().join("debug/examples/serve");
    for file in [&bin, &serve] {
        if !file.is_file() {
            bail!(
                "{} is missing: build it with `cargo test --workspace --no-run`",
                file.display()
            );
        }
    }
    // Outside the project: outputs, and stand-ins for artifacts the corpus lacks.
    let work = std::env::temp_dir().join(format!("copilot-lite-cfn-lint-{}", std::process::id()));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    for sub in ["out", "seed-in", "seed-out", "stubs"] {
        std::fs::create_dir_all(work.join(sub))?;
    }

    let server = Server::start(&serve)?;
    let t_package = Instant::now();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let mut templates: Vec<PathBuf> = std::fs::read_dir(&corpus)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    templates.retain(|p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json" | "template")
        )
    });
    templates.sort();
    let mut stubbed = Vec::new();
    for input in &templates {
        let name = file_name(input);
        let output = work.join("out").join(&name);
        let package = |template: &Path| {
            server
                .configure(&mut Command::new(&bin))
                .arg("package")
                .arg("--template-file")
                .arg(template)
                .args(["--s3-bucket", BUCKET, "--output-template-file"])
                .arg(&output)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running {}", bin.display()))
        };
        let mut out = package(input)?;
        // The corpus holds templates only: a template naming local artifacts is packaged as a
        // copy next to stand-in folders (one small file each) in the work folder.
        if !out.status.success()
            && let Some(missing) = missing_artifacts(&String::from_utf8_lossy(&out.stderr), &corpus)
        {
            let dir = work.join("stubs").join(&name);
            for rel in &missing {
                std::fs::create_dir_all(dir.join(rel))?;
                std::fs::write(
                    dir.join(rel).join("index.py"),
                    "def handler(e, c):\n    return 0\n",
                )?;
            }
            std::fs::copy(input, dir.join(&name))?;
            out = package(&dir.join(&name))?;
            let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
            stubbed.push(format!("{name} ({})", names.join(", ")));
        }
        if out.status.success() {
            cases.push(Case {
                name,
                input: input.clone(),
                output,
            });
        } else {
            failures.push((name, String::from_utf8_lossy(&out.stderr).into_owned()));
        }
    }
    let seed = root.join("examples/seed");
    for svc in seed_services(&seed)? {
        let input = work.join("seed-in").join(format!("{svc}.yml"));
        let output = work.join("seed-out").join(format!("{svc}.yml"));
        let svc_package = |upload: bool| {
            let mut cmd = Command::new(&bin);
            server
                .configure(&mut cmd)
                .current_dir(&seed)
                .args([
                    "svc", "package", "-n", &svc, "-e", "test", "--bucket", BUCKET,
                ])
                .stdin(Stdio::null());
            if upload {
                cmd.arg("--upload-assets");
            }
            cmd.output()
        };
        let plain = svc_package(false)?;
        let packaged = svc_package(true)?;
        if plain.status.success() && packaged.status.success() {
            std::fs::write(&input, &plain.stdout)?;
            std::fs::write(&output, &packaged.stdout)?;
            cases.push(Case {
                name: format!("seed:{svc}"),
                input,
                output,
            });
        } else {
            let stderr = [plain.stderr, packaged.stderr].concat();
            failures.push((
                format!("seed:{svc}"),
                String::from_utf8_lossy(&stderr).into_owned(),
            ));
        }
    }
    drop(server);
    let package_secs = t_package.elapsed().as_secs_f64();

    // Lint every distinct file once: an output identical to its input is its input.
    let mut identical = 0;
    let mut files: Vec<PathBuf> = Vec::new();
    for case in &cases {
        files.push(case.input.clone());
        if same_bytes(&case.input, &case.output)? {
            identical += 1;
        } else {
            files.push(case.output.clone());
        }
    }
    let t_lint = Instant::now();
    let errors = lint(&cfn_lint, &files)?;
    let lint_secs = t_lint.elapsed().as_secs_f64();

    let mut input_errors = 0;
    let mut output_errors = 0;
    let mut fixed = 0;
    let mut new = Vec::new();
    let mut allowed = Vec::new();
    for case in &cases {
        let before = errors.get(&case.input).cloned().unwrap_or_default();
        let after = match errors.get(&case.output) {
            Some(e) => e.clone(),
            None if same_bytes(&case.input, &case.output)? => before.clone(),
            None => BTreeSet::new(),
        };
        input_errors += before.len();
        output_errors += after.len();
        fixed += before.difference(&after).count();
        for (rule, path) in after.difference(&before) {
            let allow = ALLOWED
                .iter()
                .find(|(t, r, p, _)| *t == case.name && r == rule && p == path);
            match allow {
                Some((_, _, _, reason)) => {
                    allowed.push(format!(
                        "{}: {rule} at {path} (allowed: {reason})",
                        case.name
                    ));
                }
                None => new.push(format!("{}: {rule} at {path}", case.name)),
            }
        }
    }

    println!("cfn-lint check ({version}):");
    let total = cases.len() + failures.len();
    println!(
        "  templates: {total} ({} corpus, {} seed services); packaged: {}; package failures: {}",
        templates.len(),
        total.saturating_sub(templates.len()),
        cases.len(),
        failures.len()
    );
    println!(
        "  packaged next to stand-ins for local artifacts the corpus lacks: {}",
        stubbed.len()
    );
    for line in &stubbed {
        println!("    {line}");
    }
    println!(
        "  outputs identical to their input (linted once): {identical}; files linted: {}",
        files.len()
    );
    println!(
        "  cfn-lint errors: {input_errors} in the inputs, {output_errors} in the outputs ({fixed} gone after packaging)"
    );
    println!(
        "  new errors in the outputs: {} ({} allowed)",
        new.len() + allowed.len(),
        allowed.len()
    );
    for line in &allowed {
        println!("    {line}");
    }
    for line in &new {
        println!("    NEW {line}");
    }
    for (name, stderr) in &failures {
        println!("  package FAILED: {name}\n{}", indent(stderr));
    }
    println!(
        "  time: {:.1} s (packaging {package_secs:.1} s, cfn-lint {lint_secs:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    if keep {
        println!("  work folder kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    if new.is_empty() && failures.is_empty() {
        println!("cfn-lint check: passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("cfn-lint check: FAILED");
        Ok(ExitCode::FAILURE)
    }
}

/// When every problem copilot-lite reported is a missing file or folder under the corpus
/// folder: those paths, relative to it.
fn missing_artifacts(stderr: &str, corpus: &Path) -> Option<Vec<PathBuf>> {
    let headlines: Vec<&str> = stderr
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('×'))
        .collect();
    if headlines.is_empty()
        || !headlines
            .iter()
            .all(|l| l.ends_with(": file or folder does not exist"))
    {
        return None;
    }
    let mut missing: Vec<PathBuf> = stderr
        .lines()
        .filter_map(|l| {
            l.split_once("resolved to ")
                .map(|(_, p)| PathBuf::from(p.trim()))
        })
        .filter_map(|p| p.strip_prefix(corpus).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    missing.sort();
    missing.dedup();
    (!missing.is_empty()).then_some(missing)
}

/// The services of a workspace: `copilot/<svc>/manifest.yml`.
fn seed_services(seed: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(seed.join("copilot"))? {
        let path = entry?.path();
        if path.join("manifest.yml").is_file() {
            out.push(file_name(&path));
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}\n"))
        .collect::<String>()
}

/// cfn-lint's errors per file: (rule ID, path). One cfn-lint process per core, each on its
/// share of the files.
fn lint(
    cfn_lint: &OsString,
    files: &[PathBuf],
) -> Result<BTreeMap<PathBuf, BTreeSet<(String, String)>>> {
    let jobs = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(1);
    let chunk = files.len().div_ceil(jobs).max(1);
    let mut children = Vec::new();
    for share in files.chunks(chunk) {
        let child = Command::new(cfn_lint)
            .args(["--format", "json", "--"])
            .args(share)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running cfn-lint")?;
        children.push(child);
    }
    let mut errors: BTreeMap<PathBuf, BTreeSet<(String, String)>> = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().context("waiting for cfn-lint")?;
        // cfn-lint exits non-zero when it finds something; its JSON says what.
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "cfn-lint did not print JSON ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        for item in found.as_array().map(Vec::as_slice).unwrap_or_default() {
            let rule = item["Rule"]["Id"].as_str().unwrap_or_default();
            if !rule.starts_with('E') {
                continue;
            }
            let file = PathBuf::from(item["Filename"].as_str().unwrap_or_default());
            let path = item["Location"]["Path"]
                .as_array()
                .map(|parts| {
                    parts
                        .iter()
                        .map(|p| match p {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            errors
                .entry(file)
                .or_default()
                .insert((rule.to_string(), path));
        }
    }
    Ok(errors)
}

/// The `serve` example of `test-support` (the in-process S3 server in its own process),
/// killed when dropped.
struct Server {
    child: Child,
    env: Vec<(String, String)>,
}

impl Server {
    fn start(serve: &Path) -> Result<Server> {
        let mut child = Command::new(serve)
            .arg(BUCKET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", serve.display()))?;
        let stdout = child.stdout.take().context("serve's stdout")?;
        let mut server = Server {
            child,
            env: Vec::new(),
        };
        // `export NAME=value` lines, then nothing more: read until the endpoint is known.
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('='))
            else {
                continue;
            };
            server.env.push((name.to_string(), value.to_string()));
            // The last line `serve` prints.
            if name == "AWS_EC2_METADATA_DISABLED" {
                break;
            }
        }
        if !server.env.iter().any(|(n, _)| n == "AWS_ENDPOINT_URL") {
            bail!("{} printed no AWS_ENDPOINT_URL", serve.display());
        }
        Ok(server)
    }
}

impl Server {
    /// Points `cmd` (a copilot-lite run) at this server, isolated from the caller's AWS
    /// configuration.
    fn configure<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_S3",
            "COPILOT_LITE_BUCKET",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
