//! `cargo xtask localstack <subcommand>`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ExitCode, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::server::{PidRecord, is_running, stop_recorded};
use super::{LocalStack, LocalStackEnv, Options, Paths, SetupOptions, netns, setup, smoke, sys};

const USAGE: &str = "\
usage: cargo xtask localstack <command> [options]

An offline LocalStack (no Docker) installed in target/localstack.

commands:
  setup [--install-prereqs] [--force]
        install (once; a no-op when done). Needs PyPI and npm. --install-prereqs
        apt-installs missing Debian packages (JDK 17, node/npm, ...) when root.
  run [--host-network] [--port N] [--timeout SECS] -- CMD [ARGS...]
        start LocalStack, run CMD with AWS_ENDPOINT_URL, test credentials, region
        us-east-1 and the AWS CLI v1 (`aws`) first on PATH, then stop LocalStack.
        By default LocalStack and CMD run in a private network namespace
        (`unshare --net --pid`), invisible to the rest of the machine.
        Interactive: `cargo xtask localstack run -- bash`.
  smoke [--host-network] [--port N]
        run a built-in check: S3, and a CloudFormation stack with S3, DynamoDB
        (stream), IAM, Lambda from S3, event source mapping and a nested stack.
  start --host-network [--port N] [--timeout SECS]
        start LocalStack in the background on the host network (DynamoDB Local
        then listens on all interfaces on a random port: keep to trusted machines).
  stop [--timeout SECS]
        stop (SIGTERM, after SECS, default 3: SIGKILL) the LocalStack recorded in target/localstack/run/localstack.pid
        (SIGTERM, then SIGKILL of the process group and every child).
  status
        show the installation and whether LocalStack runs.
";

#[derive(Debug, Default)]
struct Flags {
    host_network: bool,
    port: Option<u16>,
    timeout: Option<u64>,
    install_prereqs: bool,
    force: bool,
    cmd: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Flags> {
    let mut flags = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(s) = arg.to_str() else {
            bail!("unexpected argument {arg:?}");
        };
        match s {
            "--" => {
                flags.cmd = it.cloned().collect();
                break;
            }
            "--host-network" => flags.host_network = true,
            "--install-prereqs" => flags.install_prereqs = true,
            "--force" => flags.force = true,
            "--port" | "--timeout" => {
                let value = it
                    .next()
                    .and_then(|v| v.to_str())
                    .with_context(|| format!("{s} needs a value"))?;
                let n: u64 = value
                    .parse()
                    .with_context(|| format!("{s} {value}: not a number"))?;
                if s == "--port" {
                    flags.port = Some(
                        u16::try_from(n)
                            .ok()
                            .filter(|p| *p > 0)
                            .with_context(|| format!("--port {value}: not a valid port"))?,
                    );
                } else {
                    flags.timeout = Some(n);
                }
            }
            other if other.starts_with('-') => bail!("unknown option {other}\n\n{USAGE}"),
            _ => {
                // A command without `--`: take the rest as is.
                flags.cmd = std::iter::once(arg).chain(it).cloned().collect();
                break;
            }
        }
    }
    Ok(flags)
}

/// Entry point; `args` are the xtask arguments starting with `localstack`.
pub fn main(args: &[OsString]) -> Result<ExitCode> {
    let sub = args.get(1).and_then(|a| a.to_str()).unwrap_or("help");
    let flags = parse(args.get(2..).unwrap_or_default())?;
    let paths = Paths::discover();
    let mut opts = Options {
        paths: paths.clone(),
        host_network: flags.host_network,
        ..Options::default()
    };
    if let Some(port) = flags.port {
        opts.port = port;
    }
    let no_cmd = |name: &str| -> Result<()> {
        if flags.cmd.is_empty() {
            Ok(())
        } else {
            bail!("`localstack {name}` takes no command: {:?}", flags.cmd)
        }
    };
    match sub {
        "setup" => {
            no_cmd("setup")?;
            setup::setup(
                &paths,
                &SetupOptions {
                    install_prereqs: flags.install_prereqs,
                    force: flags.force,
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            if flags.cmd.is_empty() {
                bail!("usage: cargo xtask localstack run [--host-network] -- CMD [ARGS...]");
            }
            if let Some(t) = flags.timeout {
                opts.ready_timeout = Duration::from_secs(t);
            }
            in_localstack(args, &opts, |env| run_command(env, &flags.cmd))
        }
        "smoke" => {
            no_cmd("smoke")?;
            in_localstack(args, &opts, |env| {
                smoke::run(env)?;
                Ok(ExitCode::SUCCESS)
            })
        }
        "start" => {
            no_cmd("start")?;
            if let Some(t) = flags.timeout {
                opts.ready_timeout = Duration::from_secs(t);
            }
            start_detached(&opts)
        }
        "stop" => {
            no_cmd("stop")?;
            let grace = flags.timeout.map_or(opts.stop_grace, Duration::from_secs);
            match stop_recorded(&paths, grace)? {
                None => eprintln!("localstack: not running"),
                Some(r) => eprintln!(
                    "localstack: stopped in {:.2} s{}",
                    r.elapsed.as_secs_f64(),
                    if r.killed { " (needed SIGKILL)" } else { "" }
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        "status" => {
            no_cmd("status")?;
            status(&paths)
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("unknown localstack command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Runs `body` against a fresh LocalStack, in a private network namespace unless
/// `opts.host_network`. Re-executes the whole xtask command line under `unshare` first.
fn in_localstack(
    args: &[OsString],
    opts: &Options,
    body: impl FnOnce(&LocalStackEnv) -> Result<ExitCode>,
) -> Result<ExitCode> {
    if !netns::in_private_network() {
        // Host side: what needs the network, and a friendly early check.
        setup::setup(&opts.paths, &SetupOptions::default())?;
        if is_running(&opts.paths) {
            bail!(
                "another LocalStack of this checkout is running ({}); stop it with \
                 `cargo xtask localstack stop`",
                PidRecord::read(&opts.paths.pid_file())
                    .map(|r| r.describe())
                    .unwrap_or_else(|| "no PID file".into())
            );
        }
    }
    if !opts.host_network {
        netns::ensure_private_network(args)?;
    }
    sys::install_signal_handlers();
    let mut ls = match LocalStack::start(opts) {
        Ok(ls) => ls,
        Err(e) => match sys::interrupted() {
            Some(sig) => {
                eprintln!("localstack: {e:#}");
                return Ok(ExitCode::from((128 + sig) as u8));
            }
            None => return Err(e),
        },
    };
    eprintln!(
        "localstack: ready in {:.2} s (pid {}, {}, {})",
        ls.ready_after.as_secs_f64(),
        ls.pid(),
        ls.env().endpoint_url,
        if netns::in_private_network() {
            "private network namespace"
        } else {
            "host network"
        }
    );
    let result = body(ls.env());
    let report = ls.stop()?;
    eprintln!(
        "localstack: stopped in {:.2} s{}",
        report.elapsed.as_secs_f64(),
        if report.killed {
            " (needed SIGKILL)"
        } else {
            ""
        }
    );
    match (result, sys::interrupted()) {
        (Ok(code), _) => Ok(code),
        (Err(e), Some(sig)) => {
            eprintln!("localstack: {e:#}");
            Ok(ExitCode::from((128 + sig) as u8))
        }
        (Err(e), None) => Err(e),
    }
}

/// Runs the user's command; forwards SIGTERM to it when we are told to stop.
fn run_command(env: &LocalStackEnv, cmd: &[OsString]) -> Result<ExitCode> {
    let mut command = env.command(&cmd[0]);
    command.args(&cmd[1..]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            sys::reset_signals_for_child();
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd[0]))?;
    let mut term_sent: Option<Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if sys::interrupted().is_some() {
            match term_sent {
                None => {
                    sys::kill(child.id() as i32, libc::SIGTERM);
                    term_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > Duration::from_secs(5) => {
                    let _ = child.kill();
                }
                Some(_) => {}
            }
        }
        sleep(Duration::from_millis(50));
    };
    Ok(exit_code(status))
}

fn exit_code(status: ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        _ => ExitCode::FAILURE,
    }
}

fn start_detached(opts: &Options) -> Result<ExitCode> {
    if !opts.host_network {
        bail!(
            "a LocalStack started in a private network namespace would be unreachable, so \
             `start` needs --host-network (then DynamoDB Local listens on all interfaces, on a \
             random port). Alternatives without that: `cargo xtask localstack run -- bash` \
             (a shell inside the namespace) or `cargo xtask localstack run -- CMD`."
        );
    }
    if netns::in_private_network() && !opts.paths.stamp().exists() {
        bail!("LocalStack is not set up: run `cargo xtask localstack setup` outside the namespace");
    }
    if !netns::in_private_network() {
        setup::setup(&opts.paths, &SetupOptions::default())?;
    }
    sys::install_signal_handlers();
    let ls = LocalStack::start(opts)?;
    let env = ls.env().clone();
    eprintln!(
        "localstack: ready in {:.2} s (pid {}); log: {}\n\
         localstack: warning: host network: DynamoDB Local listens on 0.0.0.0; \
         stop with `cargo xtask localstack stop`",
        ls.ready_after.as_secs_f64(),
        ls.pid(),
        opts.paths.log().display()
    );
    ls.detach();
    for (k, v) in env.vars() {
        println!("export {k}={v}");
    }
    println!("export PATH={}:$PATH", env.paths.bin().display());
    Ok(ExitCode::SUCCESS)
}

fn status(paths: &Paths) -> Result<ExitCode> {
    match setup::ready_or_reason(paths) {
        Ok(stamp) => println!(
            "installed: LocalStack {} ({}) in {}, python {}",
            stamp.get("localstack-core").map_or("?", |s| s.as_str()),
            stamp.get("profile").map_or("?", |s| s.as_str()),
            paths.home.display(),
            stamp.get("python").map_or("?", |s| s.as_str()),
        ),
        Err(reason) => println!("not installed ({reason}): run `cargo xtask localstack setup`"),
    }
    if !is_running(paths) {
        println!("not running");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(record) = PidRecord::read(&paths.pid_file()) else {
        println!("running (lock held), but no PID file");
        return Ok(ExitCode::SUCCESS);
    };
    println!("running: {}", record.describe());
    if Some(&record.netns) == sys::netns_id().as_ref() {
        match health(record.port) {
            Ok(line) => println!("health: {line}"),
            Err(e) => println!("health: unreachable ({e:#})"),
        }
    } else {
        println!("health: not reachable from this network namespace (use `localstack run -- CMD`)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /_localstack/health`: the status line and the start of the body.
fn health(port: u16) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /_localstack/health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or("").to_owned();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    let version = body
        .split("\"version\"")
        .nth(1)
        .and_then(|s| s.split('"').nth(1))
        .unwrap_or("?");
    Ok(format!("{status}, version {version}"))
}
