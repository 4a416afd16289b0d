//! An offline LocalStack for end-to-end tests, without Docker ("host mode").
//!
//! # Commands
//!
//! ```text
//! cargo xtask localstack setup [--install-prereqs] [--force]
//! cargo xtask localstack run [--host-network] [--port N] [--timeout S] -- CMD [ARGS...]
//! cargo xtask localstack smoke [--host-network]
//! cargo xtask localstack start --host-network [--port N]
//! cargo xtask localstack stop
//! cargo xtask localstack status
//! ```
//!
//! # Design
//!
//! * **Setup** ([`setup()`]) installs everything into `target/localstack` (ignored by git):
//!   a venv with a pinned `localstack-core[runtime]` and the AWS CLI v1, plus offline
//!   stand-ins for what LocalStack would download at run time (DynamoDB Local from npm, a
//!   no-op Java agent, JDK 17 as "Java 21", kinesis-local, a stub Lambda init). A stamp
//!   file with the pins makes a repeated setup a no-op. It needs PyPI and npm.
//!
//! * **Isolation.** DynamoDB Local binds `0.0.0.0` on a random port, and other engineers or
//!   CI jobs on the same machine may run their own LocalStack on port 4566. So by default
//!   LocalStack runs inside a *private network namespace* (only loopback) together with
//!   the command that uses it: `run`/`smoke` re-execute themselves through
//!   `unshare --net --pid --fork --kill-child --mount-proc` ([`ensure_private_network`]),
//!   bring `lo` up, start LocalStack as a child, run the command, and stop LocalStack.
//!   The PID namespace guarantees that nothing survives: when the namespace's first
//!   process exits, even by SIGKILL, the kernel kills everything else in it.
//!
//!   A LocalStack in a private namespace is unreachable from other processes, so there is
//!   no detached `start` by default. For interactive work, either open a shell inside the
//!   namespace (`cargo xtask localstack run -- bash`) or start a detached LocalStack on the
//!   host network with `start --host-network` / `stop` / `status`. Caveat of host mode:
//!   DynamoDB Local then listens on all interfaces (on a random port) and port 4566 may
//!   clash with someone else's LocalStack (`--port`).
//!
//! * **Lifecycle** ([`LocalStack`]): clean state first (`fs/tmp`, and the S3 storage
//!   `/tmp/localstack-s3-storage`, hard-coded in LocalStack: in a private namespace a
//!   per-checkout folder is bind-mounted over it, on the host network it is emptied), spawn `python -m localstack.runtime.main` in a
//!   new session with the required environment, wait for `Ready.` in the log, record the
//!   PIDs in `target/localstack/run/localstack.pid`. Stopping sends SIGTERM to the process
//!   group, waits, then SIGKILLs the group and every descendant by PID (shutdown can hang).
//!   Stopping happens on drop, hence also on panic; Ctrl-C / SIGTERM are turned into a
//!   clean stop (a second Ctrl-C kills at once).
//!
//! # Library use (the e2e runner)
//!
//! ```ignore
//! let paths = localstack::Paths::discover();
//! localstack::setup(&paths, &Default::default())?;       // needs the network: do it first
//! // build binaries here too (the namespace has no network)
//! localstack::ensure_private_network(&std::env::args_os().skip(1).collect::<Vec<_>>())?;
//! localstack::install_signal_handlers();
//! localstack::with_localstack(|env| {
//!     let status = env.command("target/debug/copilot-lite").args(["deploy"]).status()?;
//!     anyhow::ensure!(status.success());
//!     Ok(())
//! })?;
//! ```

pub mod cli;
mod netns;
mod server;
pub mod setup;
mod smoke;
mod sys;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use netns::{ensure_private_network, in_private_network};

pub use server::LocalStack;
pub use setup::{SetupOptions, setup};
pub use sys::{install_signal_handlers, interrupted};

/// Where everything lives: `$XTASK_LOCALSTACK_HOME`, default `<workspace>/target/localstack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub home: PathBuf,
}

impl Paths {
    pub fn discover() -> Paths {
        if let Some(home) = std::env::var_os("XTASK_LOCALSTACK_HOME") {
            return Paths { home: home.into() };
        }
        Paths {
            home: workspace_root().join("target").join("localstack"),
        }
    }
    pub fn venv(&self) -> PathBuf {
        self.home.join("venv")
    }
    pub fn venv_python(&self) -> PathBuf {
        self.venv().join("bin/python")
    }
    /// The AWS CLI v1 installed in the venv.
    pub fn aws_cli(&self) -> PathBuf {
        self.venv().join("bin/aws")
    }
    /// A folder with only `aws` in it, prepended to the PATH of commands run against LocalStack.
    pub fn bin(&self) -> PathBuf {
        self.home.join("bin")
    }
    /// LocalStack's `FILESYSTEM_ROOT`.
    pub fn fs_root(&self) -> PathBuf {
        self.home.join("fs")
    }
    /// Where LocalStack looks for its (normally downloaded) packages.
    pub fn lib(&self) -> PathBuf {
        self.fs_root().join("var/lib/localstack/lib")
    }
    pub fn build(&self) -> PathBuf {
        self.home.join("build")
    }
    pub fn stamp(&self) -> PathBuf {
        self.home.join("setup.stamp")
    }
    /// Per-run state: log, PID file, lock, private S3 storage.
    pub fn run_dir(&self) -> PathBuf {
        self.home.join("run")
    }
    pub fn log(&self) -> PathBuf {
        self.run_dir().join("localstack.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("localstack.pid")
    }
    /// Scratch folder of a run (removed at each start).
    pub fn tmp(&self) -> PathBuf {
        self.run_dir().join("tmp")
    }
}

/// The Cargo workspace root (parent of the `xtask` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Options of a LocalStack run.
#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Paths,
    /// Gateway port on 127.0.0.1.
    pub port: u16,
    /// Give up when `Ready.` has not appeared in the log by then.
    pub ready_timeout: Duration,
    /// How long SIGTERM may take before SIGKILL (default 3 s).
    pub stop_grace: Duration,
    /// Allow running on the host network (otherwise a private namespace is required).
    pub host_network: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            paths: Paths::discover(),
            port: 4566,
            ready_timeout: Duration::from_secs(120),
            // State is thrown away anyway, and shutdown hangs for ~10 s after a DynamoDB
            // stream tried to invoke a Lambda (impossible without Docker): don't wait long.
            stop_grace: Duration::from_secs(3),
            host_network: false,
        }
    }
}

/// What a client of a running LocalStack needs.
#[derive(Debug, Clone)]
pub struct LocalStackEnv {
    /// `http://127.0.0.1:<port>`
    pub endpoint_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The AWS CLI v1 of the LocalStack venv.
    pub aws_cli: PathBuf,
    pub paths: Paths,
    pub port: u16,
}

impl LocalStackEnv {
    fn new(paths: &Paths, port: u16) -> Self {
        LocalStackEnv {
            endpoint_url: format!("http://127.0.0.1:{port}"),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            aws_cli: paths.aws_cli(),
            paths: paths.clone(),
            port,
        }
    }

    /// The variables that point the AWS SDKs and CLI at LocalStack.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
        ]
    }

    /// Sets [`Self::vars`] on `cmd`, removes credentials that could win over them
    /// (`AWS_PROFILE`, `AWS_SESSION_TOKEN`) and puts `aws` (CLI v1) first on PATH.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_DEFAULT_PROFILE")
            .envs(self.vars());
        let mut path = vec![self.paths.bin()];
        if let Some(old) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&old));
        }
        if let Ok(joined) = std::env::join_paths(path) {
            cmd.env("PATH", joined);
        }
        cmd
    }

    /// `Command::new(program)` with [`Self::apply`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd);
        cmd
    }

    /// The venv's `aws` with [`Self::apply`].
    pub fn aws(&self) -> Command {
        self.command(&self.aws_cli)
    }
}

/// Starts LocalStack with default [`Options`], runs `f`, and stops LocalStack whatever
/// happens (error, panic, or Ctrl-C when [`install_signal_handlers`] was called).
///
/// Requires a private network namespace ([`ensure_private_network`]); use
/// [`with_localstack_opts`] with `host_network: true` to run on the host network.
pub fn with_localstack<T>(
    f: impl FnOnce(&LocalStackEnv) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    with_localstack_opts(&Options::default(), f)
}

/// [`with_localstack`] with explicit [`Options`].
pub fn with_localstack_opts<T>(
    opts: &Options,
    f: impl FnOnce(&LocalStackEnv) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut ls = LocalStack::start(opts)?;
    let result = f(ls.env());
    let stopped = ls.stop();
    let value = result?;
    stopped?;
    Ok(value)
}
