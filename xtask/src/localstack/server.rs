//! Starting, watching and stopping one LocalStack process tree.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::netns::{OUTER_PID_ENV, in_private_network};
use super::{LocalStackEnv, Options, Paths, setup, sys};

/// A LocalStack started by this process. Stopped by [`LocalStack::stop`] or on drop.
pub struct LocalStack {
    child: Child,
    pid: i32,
    stat: Option<sys::Stat>,
    env: LocalStackEnv,
    grace: Duration,
    /// Held (and inherited by LocalStack) while it runs: one LocalStack per `target/localstack`.
    lock: Option<File>,
    stopped: bool,
    /// Time from spawn to `Ready.`.
    pub ready_after: Duration,
}

/// The environment LocalStack needs in host mode (see the crate docs of `localstack`).
pub fn localstack_vars(paths: &Paths, port: u16) -> Vec<(&'static str, String)> {
    vec![
        // The default server binds 0.0.0.0; hypercorn honours the address.
        ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
        ("GATEWAY_SERVER", "hypercorn".into()),
        ("LOCALSTACK_HOST", format!("localhost:{port}")),
        ("DNS_ADDRESS", "0".into()),
        // The machines have /.dockerenv: do not believe it.
        ("OVERRIDE_IN_DOCKER", "0".into()),
        ("FILESYSTEM_ROOT", paths.fs_root().display().to_string()),
        ("SKIP_SSL_CERT_DOWNLOAD", "1".into()),
        ("DISABLE_EVENTS", "1".into()),
        // Without these, Lambda functions end up `Failed` and stacks roll back.
        ("LEGACY_DOCKER_CLIENT", "1".into()),
        ("DOCKER_CMD", "true".into()),
    ]
}

impl LocalStack {
    /// Cleans the state, starts LocalStack and waits until it is ready.
    pub fn start(opts: &Options) -> Result<LocalStack> {
        let paths = &opts.paths;
        if let Err(reason) = setup::ready_or_reason(paths) {
            bail!(
                "LocalStack is not set up in {} ({reason}): run `cargo xtask localstack setup`",
                paths.home.display()
            );
        }
        if !opts.host_network && !in_private_network() {
            bail!(
                "refusing to start LocalStack on the host network (DynamoDB Local would listen on \
                 all interfaces): call `ensure_private_network` first, or opt in with --host-network"
            );
        }
        fs::create_dir_all(paths.run_dir())
            .with_context(|| format!("cannot create {}", paths.run_dir().display()))?;
        let lock = acquire_lock(paths)?;
        clean_state(paths)?;
        if let Ok(stream) = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], opts.port)),
            Duration::from_millis(200),
        ) {
            drop(stream);
            bail!(
                "port {} on 127.0.0.1 is already in use (another LocalStack?); choose one with --port",
                opts.port
            );
        }

        let log = File::create(paths.log())
            .with_context(|| format!("cannot create {}", paths.log().display()))?;
        let mut cmd = Command::new(paths.venv_python());
        cmd.args(["-m", "localstack.runtime.main"])
            .current_dir(paths.run_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, _) in std::env::vars_os() {
            // AWS_*: the user's endpoint/credentials; TMPDIR: a deprecated LocalStack setting.
            if key.to_string_lossy().starts_with("AWS_") || key == "TMPDIR" {
                cmd.env_remove(key);
            }
        }
        cmd.envs(localstack_vars(paths, opts.port));
        let lock_fd = lock.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                sys::reset_signals_for_child();
                // Own session and process group: no terminal signals, one group to kill.
                sys::setsid()?;
                // Let LocalStack hold the lock too (matters for a detached `start`).
                libc::fcntl(lock_fd, libc::F_SETFD, 0);
                Ok(())
            });
        }
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", paths.venv_python().display()))?;
        let pid = child.id() as i32;
        sys::set_force_kill_group(Some(pid));
        let mut ls = LocalStack {
            child,
            pid,
            stat: sys::stat(pid),
            env: LocalStackEnv::new(paths, opts.port),
            grace: opts.stop_grace,
            lock: Some(lock),
            stopped: false,
            ready_after: Duration::ZERO,
        };
        ls.write_pid_file(opts);
        ls.wait_ready(opts.ready_timeout, spawned)?;
        Ok(ls)
    }

    pub fn env(&self) -> &LocalStackEnv {
        &self.env
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn write_pid_file(&self, opts: &Options) {
        let record = PidRecord {
            pid: self.pid,
            starttime: self.stat.map(|s| s.starttime).unwrap_or(0),
            mode: if in_private_network() {
                "netns"
            } else {
                "host"
            }
            .into(),
            netns: sys::netns_id().unwrap_or_default(),
            outer_pid: std::env::var(OUTER_PID_ENV)
                .ok()
                .and_then(|p| p.parse().ok()),
            port: opts.port,
        };
        if let Err(e) = fs::write(opts.paths.pid_file(), record.to_text()) {
            eprintln!("localstack: warning: cannot write the PID file: {e}");
        }
    }

    fn wait_ready(&mut self, timeout: Duration, spawned: Instant) -> Result<()> {
        let log_path = self.env.paths.log();
        loop {
            if let Some(sig) = sys::interrupted() {
                bail!("interrupted by signal {sig} while LocalStack was starting");
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "LocalStack exited during start-up ({status}); last lines of {}:\n{}",
                    log_path.display(),
                    log_tail(&log_path, 30)
                );
            }
            let log = fs::read(&log_path).unwrap_or_default();
            if String::from_utf8_lossy(&log)
                .lines()
                .any(|l| l.starts_with("Ready."))
            {
                break;
            }
            if spawned.elapsed() > timeout {
                bail!(
                    "LocalStack not ready after {} s; last lines of {}:\n{}",
                    timeout.as_secs(),
                    log_path.display(),
                    log_tail(&log_path, 30)
                );
            }
            sleep(Duration::from_millis(100));
        }
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.env.port)),
            Duration::from_secs(2),
        )
        .with_context(|| {
            format!(
                "LocalStack logged Ready. but 127.0.0.1:{} does not accept connections",
                self.env.port
            )
        })?;
        self.ready_after = spawned.elapsed();
        Ok(())
    }

    /// Leaves LocalStack running (for `start --host-network`); `localstack stop` ends it.
    pub fn detach(mut self) {
        self.stopped = true;
        sys::set_force_kill_group(None);
    }

    /// SIGTERM to the process group, then SIGKILL to the group and every descendant.
    /// Idempotent. Returns how long it took and whether SIGKILL was needed.
    pub fn stop(&mut self) -> Result<StopReport> {
        if self.stopped {
            return Ok(StopReport::default());
        }
        self.stopped = true;
        let pid = self.pid;
        let report = terminate(pid, self.stat, self.grace, &mut || {
            matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
        });
        let _ = self.child.try_wait();
        sys::set_force_kill_group(None);
        // Only remove the PID file if it still describes us.
        let pid_file = self.env.paths.pid_file();
        if PidRecord::read(&pid_file)
            .is_some_and(|r| r.pid == pid && r.netns == sys::netns_id().unwrap_or_default())
        {
            let _ = fs::remove_file(&pid_file);
        }
        drop(self.lock.take());
        if report.leftovers > 0 {
            return Err(anyhow!(
                "{} LocalStack process(es) survived SIGKILL (pid group {pid})",
                report.leftovers
            ));
        }
        Ok(report)
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        if !self.stopped
            && let Err(e) = self.stop()
        {
            eprintln!("localstack: {e:#}");
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct StopReport {
    pub elapsed: Duration,
    pub killed: bool,
    pub leftovers: usize,
}

/// Stops the tree rooted at `pid` (which leads its own process group).
/// `exited` says whether the root has exited (and reaps it when it is our child).
fn terminate(
    pid: i32,
    root: Option<sys::Stat>,
    grace: Duration,
    exited: &mut dyn FnMut() -> bool,
) -> StopReport {
    let t0 = Instant::now();
    let root_ok = |r: Option<sys::Stat>| r.is_none_or(sys::same_alive);
    // Remember the tree now: once the root is gone its children are re-parented.
    let mut victims = if root_ok(root) {
        sys::process_tree(pid, Some(pid))
    } else {
        Vec::new()
    };
    if !sys::kill(-pid, libc::SIGTERM) {
        sys::kill(pid, libc::SIGTERM);
    }
    let deadline = t0 + grace;
    let mut killed = false;
    loop {
        if exited() {
            break;
        }
        if Instant::now() >= deadline {
            killed = true;
            break;
        }
        for p in sys::process_tree(pid, Some(pid)) {
            if !victims.iter().any(|v| v.pid == p.pid) {
                victims.push(p);
            }
        }
        sleep(Duration::from_millis(50));
    }
    // Whatever is left (children that ignored SIGTERM, a hung root): SIGKILL by group and PID.
    sys::kill(-pid, libc::SIGKILL);
    for v in &victims {
        if sys::same_alive(*v) {
            killed |= v.pid != pid;
            sys::kill(v.pid, libc::SIGKILL);
        }
    }
    let _ = exited();
    let kill_deadline = Instant::now() + Duration::from_secs(5);
    let mut leftovers;
    loop {
        let _ = exited();
        leftovers = victims.iter().filter(|v| sys::same_alive(**v)).count();
        if leftovers == 0 || Instant::now() >= kill_deadline {
            break;
        }
        sleep(Duration::from_millis(20));
    }
    StopReport {
        elapsed: t0.elapsed(),
        killed,
        leftovers,
    }
}

/// Exclusive lock on `run/lock`: fails fast when another LocalStack of this checkout runs.
fn acquire_lock(paths: &Paths) -> Result<File> {
    let path = paths.run_dir().join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "another LocalStack of this checkout is running ({}): see \
             `cargo xtask localstack status`, end it with `cargo xtask localstack stop`",
            PidRecord::read(&paths.pid_file())
                .map(|r| r.describe())
                .unwrap_or_else(|| "no PID file".into())
        ),
        Err(TryLockError::Error(e)) => Err(e).context(format!("cannot lock {}", path.display())),
    }
}

/// Whether a LocalStack of this checkout runs (someone holds `run/lock`).
pub fn is_running(paths: &Paths) -> bool {
    let Ok(file) = OpenOptions::new()
        .write(true)
        .open(paths.run_dir().join("lock"))
    else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

/// Where LocalStack keeps S3 objects: hard-coded (`DEFAULT_S3_TMP_DIR`), not under TMPDIR.
pub const S3_STORAGE: &str = "/tmp/localstack-s3-storage";

/// Fresh state for each run: LocalStack's temp folders, S3 storage, old PID file.
fn clean_state(paths: &Paths) -> Result<()> {
    let s3_private = paths.run_dir().join("s3-storage");
    for dir in [paths.fs_root().join("tmp"), paths.tmp(), s3_private.clone()] {
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    fs::create_dir_all(paths.tmp())?;
    fs::create_dir_all(&s3_private)?;
    let _ = fs::remove_file(paths.pid_file());
    let shared = Path::new(S3_STORAGE);
    if std::env::var_os(OUTER_PID_ENV).is_some() && in_private_network() {
        // Our own mount namespace (`unshare --mount-proc`, private propagation): give this
        // run its own S3 storage, invisible to every other LocalStack on the machine.
        if !sys::is_mount_point(shared) {
            fs::create_dir_all(shared)
                .with_context(|| format!("cannot create {}", shared.display()))?;
            sys::bind_mount(&s3_private, shared).with_context(|| {
                format!(
                    "cannot bind-mount {} on {}",
                    s3_private.display(),
                    shared.display()
                )
            })?;
        }
    } else if shared.is_dir() {
        // Shared with any other host-mode LocalStack: empty it, keep the folder (it may be a
        // mount point in someone else's namespace).
        for entry in fs::read_dir(shared)?.flatten() {
            let p = entry.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
    Ok(())
}

pub fn log_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        text = String::from_utf8_lossy(&buf).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Contents of `run/localstack.pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidRecord {
    /// LocalStack's PID (= process group), as seen from its own PID namespace.
    pub pid: i32,
    pub starttime: u64,
    /// `netns` (private namespace) or `host`.
    pub mode: String,
    /// Network namespace of LocalStack, e.g. `net:[4026532290]`.
    pub netns: String,
    /// Host PID of the `unshare` process around a private-namespace run.
    pub outer_pid: Option<i32>,
    pub port: u16,
}

impl PidRecord {
    fn to_text(&self) -> String {
        format!(
            "pid={}\nstarttime={}\nmode={}\nnetns={}\nouter_pid={}\nport={}\n",
            self.pid,
            self.starttime,
            self.mode,
            self.netns,
            self.outer_pid.map(|p| p.to_string()).unwrap_or_default(),
            self.port
        )
    }

    pub fn read(path: &Path) -> Option<PidRecord> {
        let text = fs::read_to_string(path).ok()?;
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        Some(PidRecord {
            pid: get("pid")?.parse().ok()?,
            starttime: get("starttime")?.parse().unwrap_or(0),
            mode: get("mode")?,
            netns: get("netns").unwrap_or_default(),
            outer_pid: get("outer_pid").and_then(|p| p.parse().ok()),
            port: get("port")?.parse().ok()?,
        })
    }

    pub fn describe(&self) -> String {
        match (self.mode.as_str(), self.outer_pid) {
            ("netns", Some(outer)) => format!(
                "pid {} in a private network namespace, port {}, unshare pid {outer}",
                self.pid, self.port
            ),
            _ => format!(
                "pid {}, {} network, port {}",
                self.pid, self.mode, self.port
            ),
        }
    }
}

/// Stops the LocalStack recorded in the PID file (for `cargo xtask localstack stop`).
/// Returns `Ok(None)` when nothing was running.
pub fn stop_recorded(paths: &Paths, grace: Duration) -> Result<Option<StopReport>> {
    let record = PidRecord::read(&paths.pid_file());
    if !is_running(paths) {
        let _ = fs::remove_file(paths.pid_file());
        return Ok(None);
    }
    let record = record.context(
        "a LocalStack holds target/localstack/run/lock but there is no PID file; find it with \
         `ps -ef | grep localstack.runtime.main`",
    )?;
    let report = if Some(record.netns.clone()) == sys::netns_id() {
        let Some(stat) = sys::stat(record.pid).filter(|s| s.starttime == record.starttime) else {
            bail!(
                "the recorded LocalStack pid {} is not running any more, yet the lock is held",
                record.pid
            );
        };
        terminate(record.pid, Some(stat), grace, &mut || {
            !sys::same_alive(stat)
        })
    } else if let Some(outer) = record
        .outer_pid
        .filter(|p| sys::cmdline(*p).contains("unshare"))
    {
        // A private-namespace run: ask its first process (our `run`, PID 1 inside) to stop
        // cleanly; killing `unshare` then makes the kernel kill whatever is left.
        let t0 = Instant::now();
        for inner in sys::children_of(outer) {
            sys::kill(inner.pid, libc::SIGTERM);
        }
        let deadline = t0 + grace + Duration::from_secs(5);
        while sys::alive(outer) && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
        }
        let killed = sys::alive(outer);
        if killed {
            for inner in sys::children_of(outer) {
                sys::kill(inner.pid, libc::SIGKILL);
            }
            sys::kill(outer, libc::SIGKILL);
        }
        StopReport {
            elapsed: t0.elapsed(),
            killed,
            leftovers: 0,
        }
    } else {
        bail!(
            "the running LocalStack ({}) is in another namespace and cannot be reached from here",
            record.describe()
        );
    };
    // Wait for the lock to be released (the process tree is gone).
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(paths) && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let _ = fs::remove_file(paths.pid_file());
    Ok(Some(report))
}
