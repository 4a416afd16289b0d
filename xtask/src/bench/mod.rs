//! `cargo xtask bench`: `copilot-lite package` against `aws cloudformation package` (AWS CLI
//! v1), side by side, in one run, on generated workloads (see [`workload`]) and the same local
//! S3 endpoint (the in-process server's `serve` example behind a counting proxy, see
//! [`measure`]).
//!
//! A round, per workload and tool: a fresh server (empty bucket) and an empty compressed-entry
//! cache, then the cold run, the warm run (nothing changed), the touch run (every mtime
//! changed, content the same) and the edit run (one line added to one file of one function,
//! restored afterwards). Rounds
//! alternate between the tools. Each run: wall time, peak RSS, bytes PUT, whether the output
//! template equals the cold run's. Plus the floor ([`floor`]): read all files, and read +
//! deflate them, on all cores. Prints a markdown table (medians, ratios, targets) and writes
//! it to `target/bench/results.md`. Timings are only ever reported, never asserted.

pub mod floor;
pub mod measure;
pub mod report;
pub mod workload;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use measure::Server;
use report::{FloorSample, Mode, Sample, Tool};
use workload::Workload;

const USAGE: &str = "\
usage: cargo xtask bench [--workload W1,W2,...] [--runs N] [--quick] [--aws PATH] [--no-aws]
                         [--jobs N] [--no-cache] [--no-build]
       cargo xtask bench deploy

`bench deploy`: the edit-deploy loop on LocalStack (first, no-op, full code-change and
hotswap deploys, svc watch rounds), wall time and calls per service; written to
target/bench/deploy.md.

Runs `copilot-lite package` (release build) and `aws cloudformation package` (AWS CLI v1)
against the same local S3 server on generated workloads: a cold run (empty bucket), a warm
run (nothing changed), a touch run (every mtime changed) and an edit run (one file of one
function changed, then restored) per round; prints medians, ratios
and the issue's targets as markdown (also written to target/bench/results.md).

  --workload LIST  W1,W2,W3,W4,W5 (default: all); W1: 5 fns x 20 small files; W2: 10 fns
                   x 1,500 files (~40 MB each); W3: 200 fns x 3 small files; W4: 2 fns x
                   150 MB incompressible + bootstrap; W5: 2 fns x 60 MB compressible
                   machine-code-like + bootstrap
  --runs N         rounds per workload and tool (default 3); medians over them
  --quick          one round, W1 and W3 only (unless --workload is given)
  --aws PATH       the aws binary (default: $XTASK_BENCH_AWS, target/localstack/bin/aws,
                   target/localstack/venv/bin/aws, then `aws` on PATH)
  --no-aws         copilot-lite only (no ratios)
  --jobs N         pass --jobs N to copilot-lite (default: its own)
  --no-cache       pass --no-cache to copilot-lite (no compressed-entry cache)
  --no-build       use the binaries as they are (COPILOT_LITE_BIN, else
                   target/release/copilot-lite; target/release/examples/serve)

Workloads are generated once under target/bench/<W>/ (deterministic; a stamp marks them done).
";

const BUCKET: &str = "bench";

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub workloads: Vec<Workload>,
    pub runs: usize,
    pub aws: Option<PathBuf>,
    pub no_aws: bool,
    pub jobs: Option<usize>,
    /// Pass `--no-cache` to copilot-lite (edit runs without the compressed-entry cache).
    pub no_cache: bool,
    pub build: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Option<Options>> {
        let mut o = Options {
            workloads: Vec::new(),
            runs: 3,
            aws: None,
            no_aws: false,
            jobs: None,
            no_cache: false,
            build: true,
        };
        let mut quick = false;
        let mut runs_given = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "-h" | "--help" => return Ok(None),
                "--workload" | "-w" => {
                    for part in value(a)?.split(',').filter(|p| !p.trim().is_empty()) {
                        let w = Workload::parse(part)
                            .with_context(|| format!("unknown workload {part:?} (W1..W5)"))?;
                        if !o.workloads.contains(&w) {
                            o.workloads.push(w);
                        }
                    }
                }
                "--runs" => {
                    o.runs = value(a)?.parse().context("--runs: a number")?;
                    if o.runs == 0 {
                        bail!("--runs must be at least 1");
                    }
                    runs_given = true;
                }
                "--quick" => quick = true,
                "--aws" => o.aws = Some(PathBuf::from(value(a)?)),
                "--no-aws" => o.no_aws = true,
                "--jobs" => o.jobs = Some(value(a)?.parse().context("--jobs: a number")?),
                "--no-build" => o.build = false,
                "--no-cache" => o.no_cache = true,
                other => bail!("unknown option {other:?}\n\n{USAGE}"),
            }
        }
        if quick && !runs_given {
            o.runs = 1;
        }
        if o.workloads.is_empty() {
            o.workloads = if quick {
                vec![Workload::W1, Workload::W3]
            } else {
                Workload::ALL.to_vec()
            };
        }
        o.workloads.sort();
        Ok(Some(o))
    }
}

pub fn main(args: &[OsString]) -> Result<ExitCode> {
    if args.get(1).and_then(|a| a.to_str()) == Some("deploy") {
        // The deploy benchmark runs on LocalStack, through the e2e harness (which starts it).
        let mut e2e: Vec<OsString> = vec!["e2e".into(), "bench-deploy".into()];
        e2e.extend(args.iter().skip(2).cloned());
        return crate::e2e::main(&e2e);
    }
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(options) = Options::parse(&args)? else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    if cfg!(debug_assertions) {
        // The floor (deflate) and the proxy must run optimized: `cargo xtask` is a debug
        // build (dependencies at opt-level 1), so hand over to a release build of the xtask.
        return reexec_release(&args);
    }
    run(&options)
}

fn reexec_release(args: &[String]) -> Result<ExitCode> {
    let root = crate::localstack::workspace_root();
    eprintln!("bench: cargo build --release -p xtask (the bench runs optimized)");
    let status = crate::cargo()
        .args(["build", "--release", "-p", "xtask"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p xtask failed");
    }
    let exe = root.join("target/release/xtask");
    let status = Command::new(&exe)
        .arg("bench")
        .args(args)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

struct Env {
    bench: PathBuf,
    copilot: PathBuf,
    serve: PathBuf,
    aws: Option<PathBuf>,
    aws_config: PathBuf,
    /// An empty credentials file (the keys come from the environment).
    aws_credentials: PathBuf,
}

fn run(o: &Options) -> Result<ExitCode> {
    let root = crate::localstack::workspace_root();
    let target = root.join("target");
    let bench = target.join("bench");
    fs::create_dir_all(&bench)?;
    let env_bin = std::env::var_os("COPILOT_LITE_BIN").map(PathBuf::from);
    if o.build && env_bin.is_none() {
        // Two builds: `--example` would select only the example of both packages.
        for args in [
            &["-p", "copilot-lite"][..],
            &[
                "-p",
                "test-support",
                "--features",
                "s3",
                "--example",
                "serve",
            ],
        ] {
            eprintln!("bench: cargo build --release {}", args.join(" "));
            let status = crate::cargo()
                .args(["build", "--release"])
                .args(args)
                .current_dir(&root)
                .status()
                .context("running cargo build")?;
            if !status.success() {
                bail!("cargo build --release {} failed", args.join(" "));
            }
        }
    }
    // Absolute: the tools run in the workload folder.
    let copilot =
        std::path::absolute(env_bin.unwrap_or_else(|| target.join("release/copilot-lite")))?;
    let serve = target.join("release/examples/serve");
    for bin in [&copilot, &serve] {
        if !bin.is_file() {
            bail!(
                "{} is missing: run without --no-build, or `cargo build --release -p copilot-lite` and `cargo build --release -p test-support --features s3 --example serve`",
                bin.display()
            );
        }
    }
    let aws = if o.no_aws {
        None
    } else {
        let aws = find_aws(o, &target)?;
        // A bare name is looked up on PATH; a path is made absolute.
        Some(if aws.components().count() > 1 {
            std::path::absolute(aws)?
        } else {
            aws
        })
    };
    let aws_config = bench.join("aws-config");
    fs::write(
        &aws_config,
        "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n",
    )?;
    let aws_credentials = bench.join("aws-credentials");
    fs::write(&aws_credentials, "")?;
    let env = Env {
        bench: bench.clone(),
        copilot,
        serve,
        aws,
        aws_config,
        aws_credentials,
    };

    let mut header = String::new();
    header.push_str(&format!(
        "- machine: {} cores (nproc), load before: {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    ));
    header.push_str(&format!(
        "- copilot-lite: {} ({})\n",
        version(&env.copilot, &["--version"]),
        env.copilot.display()
    ));
    if let Some(aws) = &env.aws {
        header.push_str(&format!(
            "- aws-cli: {} ({})\n",
            version(aws, &["--version"]),
            aws.display()
        ));
    }
    header.push_str(&format!(
        "- {} round(s) per workload and tool; medians; `cargo xtask bench {}`\n",
        o.runs,
        args_line(o)
    ));

    let mut samples: Vec<Sample> = Vec::new();
    let mut floors: Vec<FloorSample> = Vec::new();
    let mut failures = 0usize;
    // Touch times: distinct, whole seconds, 10 s apart (zip timestamps have 2 s resolution).
    let mut touch_clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for &w in &o.workloads {
        let dir = bench.join(w.name());
        let plan = w.plan();
        eprintln!(
            "bench: {} ({}): {} files, {:.1} MB",
            w.name(),
            w.describe(),
            plan.files.len(),
            plan.total_bytes() as f64 / 1e6
        );
        if plan.ensure(&dir)? {
            eprintln!("bench: {} generated in {}", w.name(), dir.display());
        }
        let files: Vec<PathBuf> = plan.files.iter().map(|f| dir.join(&f.path)).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for _ in 0..o.runs {
            let read = floor::pass(&files, threads, false)?;
            let deflate = floor::pass(&files, threads, true)?;
            floors.push(FloorSample {
                workload: w,
                read: read.wall,
                deflate: deflate.wall,
                deflate_cpu: deflate.cpu,
                bytes: read.bytes,
                deflated: deflate.deflated,
            });
        }
        let tools: Vec<Tool> = if env.aws.is_some() {
            vec![Tool::CopilotLite, Tool::AwsCli]
        } else {
            vec![Tool::CopilotLite]
        };
        for round in 0..o.runs {
            for &tool in &tools {
                match run_round(&env, o, w, &dir, tool, round, &mut touch_clock) {
                    Ok(mut s) => samples.append(&mut s),
                    Err(e) => {
                        failures += 1;
                        eprintln!(
                            "bench: {} {} round {}: FAILED: {e:#}",
                            w.name(),
                            tool.name(),
                            round + 1
                        );
                    }
                }
            }
        }
    }
    header.push_str(&format!("- load after: {}\n", loadavg()));
    let md = format!("{header}\n{}", report::markdown(&samples, &floors));
    let results = bench.join("results.md");
    fs::write(&results, &md)?;
    println!("{md}");
    eprintln!("bench: written to {}", results.display());
    if failures > 0 {
        eprintln!("bench: {failures} round(s) failed (see target/bench/logs/)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn args_line(o: &Options) -> String {
    let mut s = format!(
        "--workload {} --runs {}",
        o.workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(","),
        o.runs
    );
    if let Some(j) = o.jobs {
        s.push_str(&format!(" --jobs {j}"));
    }
    if o.no_cache {
        s.push_str(" --no-cache");
    }
    if o.no_aws {
        s.push_str(" --no-aws");
    }
    s
}

fn find_aws(o: &Options, target: &Path) -> Result<PathBuf> {
    if let Some(p) = &o.aws {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("XTASK_BENCH_AWS") {
        return Ok(PathBuf::from(p));
    }
    for candidate in [
        target.join("localstack/bin/aws"),
        target.join("localstack/venv/bin/aws"),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    if Command::new("aws")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(PathBuf::from("aws"));
    }
    bail!(
        "no AWS CLI found: run `cargo xtask localstack setup` (installs AWS CLI v1 into \
         target/localstack/venv), or `pip install awscli` and pass --aws PATH \
         (or XTASK_BENCH_AWS=PATH), or --no-aws"
    )
}

fn version(bin: &Path, args: &[&str]) -> String {
    Command::new(bin)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            let text = String::from_utf8_lossy(&text);
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|e| format!("? ({e})"))
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One round: fresh server and cache, cold, warm, touch, edit.
fn run_round(
    env: &Env,
    o: &Options,
    w: Workload,
    dir: &Path,
    tool: Tool,
    round: usize,
    touch_clock: &mut i64,
) -> Result<Vec<Sample>> {
    let server = Server::start(&env.serve, &env.bench.join("s3"), BUCKET)?;
    let out_dir = env.bench.join("out").join(w.name());
    let logs = env.bench.join("logs").join(w.name());
    fs::create_dir_all(&out_dir)?;
    fs::create_dir_all(&logs)?;
    let mut samples = Vec::new();
    let mut cold_output: Option<String> = None;
    // Cold means an empty compressed-entry cache too.
    match fs::remove_dir_all(cache_dir(env)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    for mode in Mode::ALL {
        if mode == Mode::Touch {
            *touch_clock += 10;
            workload::touch(dir, *touch_clock)?;
        }
        let edit = if mode == Mode::Edit {
            Some(workload::edit(dir)?)
        } else {
            None
        };
        let name = format!("{}-{}-{}", tool.name(), round + 1, mode.name());
        let output = out_dir.join(format!("{name}.yaml"));
        let _ = fs::remove_file(&output);
        let log = logs.join(format!("{name}.log"));
        let mut cmd = command(env, o, tool, dir, &output, &server.endpoint());
        let log_file = fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        server.proxy.take();
        let outcome = measure::run_measured(&mut cmd);
        if let Some(edit) = edit {
            edit.restore()?;
        }
        let outcome = outcome?;
        let traffic = server.proxy.take();
        if outcome.code != 0 {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!(
                "{} {} exited with {}; log {}:\n{}",
                tool.name(),
                mode.name(),
                outcome.code,
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let text = fs::read_to_string(&output)
            .with_context(|| format!("reading the output template {}", output.display()))?;
        let same_output = match &cold_output {
            None => {
                cold_output = Some(text);
                None
            }
            Some(cold) => Some(*cold == text),
        };
        eprintln!(
            "bench: {} {:<12} round {} {:<5} {:>9.3} s  cpu {:>7.2} s  rss {:>6.1} MB  put {:>4} ({:.1} MiB)  {}",
            w.name(),
            tool.name(),
            round + 1,
            mode.name(),
            outcome.wall.as_secs_f64(),
            outcome.cpu.as_secs_f64(),
            outcome.max_rss_kib as f64 * 1024.0 / 1e6,
            traffic.puts,
            traffic.put_body_bytes as f64 / 1048576.0,
            match same_output {
                None => "",
                Some(true) => "same output",
                Some(false) => "output changed",
            }
        );
        samples.push(Sample {
            workload: w,
            tool,
            mode,
            wall: outcome.wall,
            cpu: outcome.cpu,
            max_rss_kib: outcome.max_rss_kib,
            uploaded: traffic.put_body_bytes,
            puts: traffic.puts,
            requests: traffic.requests,
            same_output,
        });
    }
    drop(server);
    Ok(samples)
}

/// copilot-lite's compressed-entry cache during the bench (emptied before each round).
fn cache_dir(env: &Env) -> PathBuf {
    env.bench.join("zip-entries")
}

fn command(
    env: &Env,
    o: &Options,
    tool: Tool,
    dir: &Path,
    output: &Path,
    endpoint: &str,
) -> Command {
    let template = dir.join("template.yaml");
    let mut cmd = match tool {
        Tool::CopilotLite => {
            let mut c = Command::new(&env.copilot);
            c.env("COPILOT_LITE_CACHE_DIR", cache_dir(env))
                .env_remove("COPILOT_LITE_NO_CACHE")
                .arg("package");
            if let Some(j) = o.jobs {
                c.args(["--jobs", &j.to_string()]);
            }
            if o.no_cache {
                c.arg("--no-cache");
            }
            c
        }
        Tool::AwsCli => {
            let mut c = Command::new(env.aws.as_deref().unwrap_or(Path::new("aws")));
            c.args(["cloudformation", "package"]);
            c
        }
    };
    cmd.arg("--template-file")
        .arg(&template)
        .args(["--s3-bucket", BUCKET])
        .arg("--output-template-file")
        .arg(output)
        .current_dir(dir);
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "COPILOT_LITE_BUCKET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &env.aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &env.aws_credentials);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Options::parse(&args).unwrap().unwrap()
    }

    #[test]
    fn options() {
        let o = parse(&[]);
        assert_eq!((o.workloads.len(), o.runs, o.build), (5, 3, true));
        let q = parse(&["--quick"]);
        assert_eq!(
            (q.workloads.clone(), q.runs),
            (vec![Workload::W1, Workload::W3], 1)
        );
        let q = parse(&["--quick", "--runs", "2", "--workload", "w4,W2,w4"]);
        assert_eq!(
            (q.workloads.clone(), q.runs),
            (vec![Workload::W2, Workload::W4], 2)
        );
        let a = parse(&["--aws", "/x/aws", "--jobs", "2", "--no-build"]);
        assert_eq!(a.aws.as_deref(), Some(Path::new("/x/aws")));
        assert_eq!((a.jobs, a.build, a.no_cache), (Some(2), false, false));
        let n = parse(&["--no-cache", "-w", "2"]);
        assert!(n.no_cache);
        assert_eq!(args_line(&n), "--workload W2 --runs 3 --no-cache");
        assert!(Options::parse(&["--help".to_string()]).unwrap().is_none());
        for bad in [
            &["--runs", "0"][..],
            &["--workload", "W9"],
            &["--bogus"],
            &["--runs"],
        ] {
            let args: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(Options::parse(&args).is_err(), "{bad:?}");
        }
        assert_eq!(
            args_line(&parse(&["-w", "2", "--runs", "5"])),
            "--workload W2 --runs 5"
        );
    }
}
