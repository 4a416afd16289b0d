//! Small process and signal helpers on top of `libc` (Linux only).
//!
//! Everything here degrades gracefully: reading `/proc` may fail for vanished
//! processes, `kill` may race with exit; callers treat those as "already gone".

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// Signal number received by this process (0 = none), see [`install_signal_handlers`].
static SIGNALLED: AtomicI32 = AtomicI32::new(0);
/// Process group that a *second* Ctrl-C / SIGTERM kills outright before exiting.
static FORCE_KILL_PGID: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    let previous = SIGNALLED.swap(sig, Ordering::SeqCst);
    if previous != 0 {
        // Second signal: the user insists. Only async-signal-safe calls here.
        let pgid = FORCE_KILL_PGID.load(Ordering::SeqCst);
        unsafe {
            if pgid > 0 {
                libc::kill(-pgid, libc::SIGKILL);
            }
            libc::_exit(128 + sig);
        }
    }
}

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that only record the signal
/// (see [`interrupted`]), so that cleanup code runs in the normal control flow.
/// A second signal SIGKILLs the process group registered with
/// [`set_force_kill_group`] and exits immediately.
pub fn install_signal_handlers() {
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    unsafe {
        let handler: extern "C" fn(libc::c_int) = on_signal;
        for sig in SIGNALS {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
        // `unshare --fork` may hand us these signals blocked.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The first termination signal received since [`install_signal_handlers`], if any.
pub fn interrupted() -> Option<i32> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

pub fn set_force_kill_group(pgid: Option<i32>) {
    FORCE_KILL_PGID.store(pgid.unwrap_or(0), Ordering::SeqCst);
}

/// To be called in a `pre_exec` hook: default dispositions and an unblocked
/// mask for the termination signals, whatever the parent inherited.
pub fn reset_signals_for_child() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, libc::SIG_DFL);
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

pub fn setsid() -> io::Result<()> {
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `kill(2)`; whether the signal was sent (a vanished target is not an error).
pub fn kill(pid: i32, sig: i32) -> bool {
    pid != 0 && pid != -1 && unsafe { libc::kill(pid, sig) } == 0
}

pub fn euid() -> u32 {
    unsafe { libc::geteuid() }
}

/// The fields of `/proc/<pid>/stat` that we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// Start time in clock ticks since boot: (pid, starttime) identifies a process.
    pub starttime: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // "pid (comm with spaces) S ppid pgrp session tty tpgid flags ... starttime(22)"
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once(' ')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); starttime is field 22 -> index 19.
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// Whether the process identified by (pid, starttime) still runs.
pub fn same_alive(p: Stat) -> bool {
    stat(p.pid).is_some_and(|s| s.starttime == p.starttime && s.state != 'Z' && s.state != 'X')
}

fn all_processes() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// `root` (if alive), all its descendants and every member of process group
/// `pgid`, as seen in this process's `/proc`.
pub fn process_tree(root: i32, pgid: Option<i32>) -> Vec<Stat> {
    let all = all_processes();
    let mut children: HashMap<i32, Vec<Stat>> = HashMap::new();
    for p in &all {
        children.entry(p.ppid).or_default().push(*p);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<Stat> = all.iter().filter(|p| p.pid == root).copied().collect();
    if let Some(g) = pgid {
        stack.extend(all.iter().filter(|p| p.pgrp == g).copied());
    }
    while let Some(p) = stack.pop() {
        if !seen.insert(p.pid) {
            continue;
        }
        if let Some(kids) = children.get(&p.pid) {
            stack.extend(kids.iter().copied());
        }
        out.push(p);
    }
    out.retain(|p| p.state != 'Z' && p.state != 'X');
    out
}

/// Direct children of `pid`.
pub fn children_of(pid: i32) -> Vec<Stat> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == pid)
        .collect()
}

pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Identity of this process's network namespace, e.g. `net:[4026531840]`.
pub fn netns_id() -> Option<String> {
    fs::read_link("/proc/self/ns/net")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Whether `path` is a mount point in this mount namespace (`/proc/self/mountinfo`).
pub fn is_mount_point(path: &std::path::Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    // Field 5 is the mount point (octal escapes for spaces; our paths have none).
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == wanted)
}

/// `mount --bind from to`.
pub fn bind_mount(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    let (src, dst) = (c(from)?, c(to)?);
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 98765 1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 1234,
                state: 'S',
                ppid: 1,
                pgrp: 1234,
                starttime: 98765
            }
        );
    }

    #[test]
    fn finds_self() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(process_tree(me, None).iter().any(|p| p.pid == me));
    }
}
