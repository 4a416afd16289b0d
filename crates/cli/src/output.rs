//! Where the commands write their results: files named by `--output-template-file` and
//! `svc package --output-dir`, and standard output.
//!
//! Every target is checked when it is planned, before anything is uploaded: it is not an input
//! file (same device and inode, so also through symlinks and hard links), and it can be
//! written (its folder takes a new file, or the device or FIFO opens for writing). Then:
//! - a regular file (existing or not) is replaced atomically: written to a temporary file next
//!   to it and renamed over it; an existing file keeps its mode, a new one gets
//!   `0666 & !umask` (as `>` in a shell);
//! - a symlink is written through: its target is replaced as above and the link stays;
//! - anything else (a device such as `/dev/null`, a FIFO, `/dev/stdout` and the other names of
//!   an open file descriptor, opened to append) is opened for writing and written in place,
//!   never renamed over.
//!
//! [`write_all`] writes several targets all or none: every replaced file is written to its
//! temporary file first, and the temporary files are renamed only when all were written (a
//! failure removes them and leaves the old files as they were).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::NamedTempFile;

use crate::report::Failure;

/// Symlinks followed at most, as the kernel's own limit (ELOOP).
const MAX_LINKS: usize = 40;

/// A file the command reads: an output target must not be one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path` (links followed); `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// An output file, checked and ready to be written by [`write_all`].
#[derive(Debug)]
pub struct Target {
    /// The path as the user gave it (for messages).
    shown: PathBuf,
    how: How,
}

#[derive(Debug)]
enum How {
    /// Write a temporary file in the folder of `path` and rename it to `path` (symlinks
    /// already resolved); `mode`: the mode of the file replaced, `None` for a new file.
    Replace { path: PathBuf, mode: Option<u32> },
    /// Opened for writing when planned; written in place.
    InPlace(File),
}

impl Target {
    /// Checks `path` as an output target: not one of `inputs`, not a folder, writable.
    pub fn plan(path: &Path, inputs: &[FileId]) -> Result<Target, Failure> {
        let shown = path.to_path_buf();
        let fail = |why: String| Failure::Usage(format!("output {}: {why}", shown.display()));
        let io = |e: std::io::Error| Failure::io(format!("output {}", shown.display()), e);
        if let Ok(meta) = std::fs::metadata(path) {
            let id = FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            if inputs.contains(&id) {
                return Err(fail(
                    "is an input file of this command (the same file, maybe through a link): refusing to overwrite it; choose another output path".into(),
                ));
            }
            if meta.is_dir() {
                return Err(fail("is a folder".into()));
            }
        }
        let resolved = resolve_links(path).map_err(io)?;
        let (final_path, names_fd) = match resolved {
            Resolved::Fd(Some(fd)) => {
                // The descriptor itself (as the shell passed it): same file, offset and
                // permissions, whoever created it.
                let file = dup_fd(fd).map_err(io)?;
                return Ok(Target {
                    shown,
                    how: How::InPlace(file),
                });
            }
            Resolved::Fd(None) => (path.to_path_buf(), true),
            Resolved::Path(p) => (p, false),
        };
        match std::fs::metadata(&final_path) {
            Ok(meta) if meta.is_file() && !names_fd => {
                let folder = folder_of(&final_path);
                probe_folder(&folder).map_err(io)?;
                Ok(Target {
                    shown,
                    how: How::Replace {
                        path: final_path,
                        mode: Some(meta.permissions().mode() & 0o7777),
                    },
                })
            }
            Ok(meta) => {
                // A device, a FIFO, a socket or an open descriptor's name: written in place.
                // A FIFO is opened without blocking: with no reader, that fails at once (ENXIO)
                // instead of hanging; the descriptor is then switched back to blocking writes.
                let fifo = meta.file_type().is_fifo();
                let mut options = OpenOptions::new();
                // The name of a descriptor opens a new description of its file: appending
                // writes where the shell's `>` (just truncated) or `>>` would.
                options.write(true).append(names_fd);
                if fifo {
                    options.custom_flags(libc::O_NONBLOCK);
                }
                let file = options.open(path).map_err(|e| {
                    if e.raw_os_error() == Some(libc::ENXIO) {
                        fail("is a FIFO that nobody reads".into())
                    } else {
                        io(e)
                    }
                })?;
                if fifo {
                    set_blocking(&file).map_err(io)?;
                }
                Ok(Target {
                    shown,
                    how: How::InPlace(file),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let folder = folder_of(&final_path);
                probe_folder(&folder).map_err(io)?;
                Ok(Target {
                    shown,
                    how: How::Replace {
                        path: final_path,
                        mode: None,
                    },
                })
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Whether this target is the file (or pipe) standard output writes to, where
    /// `--output json` puts its document. A terminal or other device is not counted: writing
    /// both there mixes nothing that a program reads.
    pub fn is_stdout(&self) -> bool {
        let Some(stdout) = stdout_meta() else {
            return false;
        };
        let meta = match &self.how {
            How::InPlace(file) => file.metadata().ok(),
            How::Replace { path, .. } => std::fs::metadata(path).ok(),
        };
        meta.is_some_and(|m| {
            !m.file_type().is_char_device() && (m.dev(), m.ino()) == (stdout.dev(), stdout.ino())
        })
    }
}

/// What standard output is (`fstat` of descriptor 1), when it is open.
fn stdout_meta() -> Option<std::fs::Metadata> {
    use std::os::fd::FromRawFd;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: descriptor 1 is borrowed for one fstat; ManuallyDrop never closes it.
    let stdout = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    stdout.metadata().ok()
}

enum Resolved {
    /// The name of one of this process's open descriptors (`/dev/stdout`, `/dev/fd/1`,
    /// `/proc/self/fd/1`), with its number when known.
    Fd(Option<i32>),
    /// The path with every symlink of its last component followed (it may not exist).
    Path(PathBuf),
}

/// Follows the symlinks of `path`'s last component, one by one (a dangling link resolves to
/// the path it names, created by the write). A path inside `/proc` (where `/dev/fd` and
/// `/dev/stdout` lead) names an open descriptor, whose "link" is not a path to rename over.
fn resolve_links(path: &Path) -> std::io::Result<Resolved> {
    let mut current = std::path::absolute(path)?;
    for _ in 0..MAX_LINKS {
        let folder = folder_of(&current);
        if let Ok(canonical) = std::fs::canonicalize(&folder)
            && canonical.starts_with("/proc")
        {
            let own = std::fs::canonicalize("/proc/self/fd").is_ok_and(|fd| fd == canonical);
            let number = current
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<i32>().ok());
            return Ok(Resolved::Fd(number.filter(|_| own)));
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = folder.join(target);
            }
            _ => return Ok(Resolved::Path(current)),
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The folder exists (a missing one is created, as before) and takes a new file (a temporary
/// file is created and removed: the one test that holds for root, ACLs and read-only mounts
/// alike).
fn probe_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    tempfile::Builder::new()
        .prefix(".copilot-lite-")
        .tempfile_in(folder)
        .map(drop)
}

/// A new descriptor for this process's descriptor `fd` (standard output when it was closed at
/// start is refused: it only holds the runtime's `/dev/null`).
fn dup_fd(fd: i32) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    if fd == 1 && STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd` (an invalid one fails with EBADF).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` was just created here and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(new) })
}

fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function borrows; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes every `(target, bytes)`, all or none as far as the files replaced go: all the
/// temporary files are written first, then the in-place targets, then the temporary files are
/// renamed. A failure before the renames removes the temporary files and leaves every old
/// file as it was.
pub fn write_all(outputs: Vec<(Target, &[u8])>) -> Result<(), Failure> {
    let mut staged: Vec<(NamedTempFile, PathBuf, PathBuf)> = Vec::new();
    let mut in_place = Vec::new();
    for (target, bytes) in outputs {
        let context = || format!("writing {}", target.shown.display());
        match target.how {
            How::Replace { path, mode } => {
                let temp = stage(&path, mode, bytes).map_err(|e| Failure::io(context(), e))?;
                staged.push((temp, path, target.shown));
            }
            How::InPlace(file) => in_place.push((file, bytes, target.shown)),
        }
    }
    for (mut file, bytes, shown) in in_place {
        file.write_all(bytes)
            .and_then(|()| file.flush())
            .map_err(|e| Failure::io(format!("writing {}", shown.display()), e))?;
    }
    for (temp, path, shown) in staged {
        temp.persist(&path)
            .map_err(|e| Failure::io(format!("writing {}", shown.display()), e.error))?;
    }
    Ok(())
}

/// A temporary file next to `path` holding `bytes`, with `mode` (or, for a new file, 0666
/// less the umask, which the kernel applies at creation).
fn stage(path: &Path, mode: Option<u32>, bytes: &[u8]) -> std::io::Result<NamedTempFile> {
    let mut temp = tempfile::Builder::new()
        .prefix(".copilot-lite-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(folder_of(path))?;
    if let Some(mode) = mode {
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

/// Whether standard output was closed when the program started (see [`guard_std_fds`]).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Run first in `main`. Rust's runtime, before `main`, puts `/dev/null` (opened read-write) on
/// a closed descriptor 0, 1 or 2, so that a closed standard output (`>&-`) would silently
/// swallow the template. A standard output that is `/dev/null` opened read-write is taken for
/// that (a shell's `>/dev/null` opens it write-only) and remembered, so that a command writing
/// to it fails ([`check_stdout`]) instead of losing the output.
pub fn guard_std_fds() {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl reads the flags of descriptor 1; no memory is passed.
    let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
    // SAFETY: descriptor 1 is borrowed for one fstat; ManuallyDrop never closes it.
    let stdout = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let Ok(meta) = stdout.metadata() else {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        return;
    };
    let dev_null = std::fs::metadata("/dev/null").ok().map(|m| m.rdev());
    let is_dev_null = meta.file_type().is_char_device() && Some(meta.rdev()) == dev_null;
    if flags < 0 || (is_dev_null && (flags & libc::O_ACCMODE) == libc::O_RDWR) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Standard output can take the result: it was open when the program started. Checked before
/// anything is uploaded.
pub fn check_stdout() -> Result<(), Failure> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Err(Failure::Usage(
            "standard output is closed: the result would be lost (redirect it to a file, or to /dev/null to discard it)".into(),
        ));
    }
    Ok(())
}

/// Writes `text` to standard output. A failure is an error, except a closed pipe (`| head`),
/// which ends the command quietly as it ends `cat`.
pub fn write_stdout(text: &str) -> Result<(), Failure> {
    check_stdout()?;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::io("writing to standard output", e)),
    }
}
