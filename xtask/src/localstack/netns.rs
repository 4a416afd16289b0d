//! Private network namespaces: detection and re-exec under `unshare`.

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{setup::which, sys};

/// Set in the environment of the re-executed process (value: the PID of the `unshare`
/// process in the host namespaces, which `localstack stop` can use from outside).
pub const OUTER_PID_ENV: &str = "XTASK_LOCALSTACK_OUTER_PID";

/// Network interfaces visible to this process (`/proc/self/net/dev` is per namespace).
pub fn interfaces() -> Vec<String> {
    fs::read_to_string("/proc/self/net/dev")
        .map(|text| {
            text.lines()
                .skip(2)
                .filter_map(|l| l.split_once(':'))
                .map(|(name, _)| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// True when the only network interface is loopback, i.e. whatever binds `0.0.0.0`
/// (DynamoDB Local does) is reachable from this namespace only.
pub fn in_private_network() -> bool {
    let ifs = interfaces();
    !ifs.is_empty() && ifs.iter().all(|i| i == "lo")
}

/// Ensures this process runs in a private network namespace with loopback up.
///
/// * Already private: brings `lo` up and returns `Ok(())`.
/// * Otherwise: replaces the current process (`exec`) with
///   `unshare --net --pid --fork --kill-child --mount-proc -- <current exe> <args>`, so the
///   same command line runs again, now inside the namespaces, and this function returns
///   there. It does not return in the original process unless the exec fails.
///
/// The PID namespace makes cleanup airtight: when the re-executed process (PID 1 of the
/// namespace) exits or is killed, or when `unshare` dies (`--kill-child`), the kernel kills
/// every process left in the namespace (LocalStack, Java, Node, test processes).
///
/// Do everything that needs the network (e.g. `cargo build`, [`super::setup`]) *before*
/// calling this: the namespace has loopback only.
pub fn ensure_private_network(args: &[OsString]) -> Result<()> {
    if in_private_network() {
        return loopback_up();
    }
    if std::env::var_os(OUTER_PID_ENV).is_some() {
        bail!(
            "re-executed under unshare but still not in a private network namespace (interfaces: {:?})",
            interfaces()
        );
    }
    let unshare = which("unshare")
        .context("`unshare` not found (apt-get install -y util-linux); or pass --host-network")?;
    let exe = std::env::current_exe().context("cannot locate the xtask executable")?;
    let mut cmd = Command::new(unshare);
    if sys::euid() != 0 {
        // Unprivileged: a user namespace maps us to root inside, which allows the rest.
        cmd.arg("--map-root-user");
    }
    cmd.args([
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
    ])
    .arg(exe)
    .args(args)
    .env(OUTER_PID_ENV, std::process::id().to_string());
    let err = cmd.exec();
    Err(err).context("cannot exec unshare (needs root or unprivileged user namespaces)")
}

/// `ip link set lo up` (a new network namespace starts with loopback down).
pub fn loopback_up() -> Result<()> {
    let ip = which("ip").context("`ip` not found (apt-get install -y iproute2)")?;
    let out = Command::new(&ip)
        .args(["link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip link set lo up`")?;
    if out.status.success() {
        return Ok(());
    }
    // Not allowed to change it (not root)? Fine if it is up already.
    let show = Command::new(&ip)
        .args(["-o", "link", "show", "lo"])
        .output();
    if show.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(",UP")) {
        return Ok(());
    }
    bail!(
        "`ip link set lo up` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )
}
