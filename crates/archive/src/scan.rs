//! Walking an artifact under the symlink policy, and hashing what was found.

use std::ffi::OsString;
use std::fs::{self, File, FileType, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::rules::Rules;
use crate::write::LargeRule;
use crate::{ArchiveError, Entry, Packing, Policy, Source, detect, key};

const S_IFREG: u32 = 0o100_000;
/// Read buffer for hashing; BLAKE3 uses SIMD across its 1 KiB chunks, so big reads help.
const READ_BUF: usize = 256 * 1024;
/// Upper bound on hashing threads (the build machine is shared; hashing is mostly I/O).
const MAX_HASH_THREADS: usize = 4;

/// The mode stored in the zip and hashed into the key.
pub(crate) fn normalize_mode(mode: u32) -> u32 {
    S_IFREG | (mode & 0o777) | 0o444
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn scan(root: &Path, force_zip: bool, policy: &Policy) -> Result<Source, ArchiveError> {
    let lstat = fs::symlink_metadata(root).map_err(|e| classify_io(root, e))?;
    let boundary = fs::canonicalize(&policy.boundary).map_err(io_err(&policy.boundary))?;
    let (meta, resolved) = if lstat.file_type().is_symlink() {
        let target = check_link(root, &boundary, policy)?;
        (
            fs::metadata(root).map_err(|e| classify_io(root, e))?,
            target,
        )
    } else {
        (lstat, root.to_path_buf())
    };
    let file_type = meta.file_type();
    if file_type.is_dir() {
        scan_folder(root, &boundary, policy)
    } else if file_type.is_file() {
        scan_file(root, resolved, &meta, force_zip)
    } else {
        Err(special(root, file_type))
    }
}

fn scan_file(
    root: &Path,
    resolved: PathBuf,
    meta: &Metadata,
    force_zip: bool,
) -> Result<Source, ArchiveError> {
    let name = root
        .file_name()
        .ok_or_else(|| ArchiveError::Io {
            path: root.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        })?
        .to_str()
        .ok_or_else(|| ArchiveError::NonUtf8Name {
            path: root.to_path_buf(),
        })?
        .to_owned();
    let raw = !force_zip || detect::is_zip_archive(&resolved).map_err(io_err(root))?;
    if !raw {
        check_windows_name(&name, true, root)?;
    }
    let mut entry = Entry {
        name,
        path: resolved,
        mode: normalize_mode(meta.permissions().mode()),
        size: meta.len(),
        digest: [0; 32],
        crc32: 0,
        incompressible: false,
    };
    if raw {
        let key = raw_key(&entry)?;
        tracing::debug!(root = %root.display(), %key, bytes = entry.size, "scanned raw file");
        return Ok(Source {
            root: root.to_path_buf(),
            packing: Packing::Raw,
            content_bytes: entry.size,
            entries: vec![entry],
            key,
            excluded: Vec::new(),
        });
    }
    hash_file(&entry.path, &mut vec![0; READ_BUF])
        .map_err(io_err(&entry.path))?
        .apply(&mut entry);
    Ok(zip_source(root, vec![entry]))
}

/// Raw key: the content goes into the key stream itself (see [`key`]).
fn raw_key(entry: &Entry) -> Result<String, ArchiveError> {
    let mut hasher = key::raw_start(entry.size);
    let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
    // Read one byte past the expected size to notice a file that grew.
    let read = hash_reader(
        file.take(entry.size + 1),
        &mut hasher,
        &mut vec![0; READ_BUF],
    )
    .map_err(io_err(&entry.path))?;
    if read != entry.size {
        return Err(ArchiveError::Changed {
            path: entry.path.clone(),
        });
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn zip_source(root: &Path, entries: Vec<Entry>) -> Source {
    let key = key::zip_key(&entries);
    let content_bytes = entries.iter().map(|e| e.size).sum();
    tracing::debug!(root = %root.display(), %key, files = entries.len(), bytes = content_bytes, "scanned zip artifact");
    Source {
        root: root.to_path_buf(),
        packing: Packing::Zip,
        entries,
        key,
        content_bytes,
        excluded: Vec::new(),
    }
}

/// A folder being listed: its children not yet visited, in walk order.
struct Level {
    dir: PathBuf,
    /// (device, inode) of the folder, to tell a link back to it (a loop).
    id: (u64, u64),
    children: std::vec::IntoIter<(OsString, FileType)>,
}

impl Level {
    /// Lists `dir` (sorted by file name bytes).
    fn open(dir: PathBuf, meta: &Metadata) -> Result<Level, ArchiveError> {
        let mut children = Vec::new();
        for child in fs::read_dir(&dir).map_err(|e| classify_io(&dir, e))? {
            let child = child.map_err(|e| classify_io(&dir, e))?;
            let file_type = child
                .file_type()
                .map_err(|e| classify_io(&child.path(), e))?;
            children.push((child.file_name(), file_type));
        }
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Level {
            dir,
            id: (meta.dev(), meta.ino()),
            children: children.into_iter(),
        })
    }
}

/// Walks the folder depth-first in file name order, following symlinks (each checked against
/// the boundary; a link to a folder being walked is a loop). The rules are asked about every
/// entry before anything else is done with it: an excluded folder is not listed, an excluded
/// file not opened, and an excluded link that cannot be followed is no error.
fn scan_folder(root: &Path, boundary: &Path, policy: &Policy) -> Result<Source, ArchiveError> {
    let mut rules = Rules::load(root, boundary, policy)?;
    let mut excludes = |path: &Path, is_dir: bool| {
        !rules.is_empty()
            && path
                .strip_prefix(root)
                .is_ok_and(|relative| rules.excludes(relative, is_dir))
    };
    let root_meta = fs::metadata(root).map_err(|e| classify_io(root, e))?;
    let mut stack = vec![Level::open(root.to_path_buf(), &root_meta)?];
    let mut entries = Vec::new();
    while let Some(level) = stack.last_mut() {
        let Some((name, file_type)) = level.children.next() else {
            stack.pop();
            continue;
        };
        let path = level.dir.join(name);
        let followed = if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(meta) => Some(meta),
                Err(_) if excludes(&path, false) => continue,
                Err(e) => return Err(classify_io(&path, e)),
            }
        } else {
            None
        };
        let kind = followed.as_ref().map_or(file_type, Metadata::file_type);
        if excludes(&path, kind.is_dir()) {
            continue;
        }
        let target = if followed.is_some() {
            Some(check_link(&path, boundary, policy)?)
        } else {
            None
        };
        if kind.is_dir() {
            let meta = match followed {
                Some(meta) => {
                    if stack.iter().any(|l| l.id == (meta.dev(), meta.ino())) {
                        return Err(ArchiveError::SymlinkLoop { link: path });
                    }
                    meta
                }
                None => fs::symlink_metadata(&path).map_err(|e| classify_io(&path, e))?,
            };
            stack.push(Level::open(path, &meta)?);
            continue;
        }
        if !kind.is_file() {
            return Err(special(&path, kind));
        }
        let meta = match followed {
            Some(meta) => meta,
            None => fs::symlink_metadata(&path).map_err(|e| classify_io(&path, e))?,
        };
        let name = entry_name(root, &path)?;
        entries.push(Entry {
            name,
            path: target.unwrap_or(path),
            mode: normalize_mode(meta.permissions().mode()),
            size: meta.len(),
            digest: [0; 32],
            crc32: 0,
            incompressible: false,
        });
    }
    if entries.is_empty() {
        let ignore_files = rules.files();
        let excluded = rules.into_excluded();
        return Err(if excluded.iter().any(|e| e.files + e.folders > 0) {
            ArchiveError::AllExcluded {
                path: root.to_path_buf(),
                ignore_files,
            }
        } else {
            ArchiveError::EmptyFolder {
                path: root.to_path_buf(),
            }
        });
    }
    // Byte order of the whole `/`-joined name (not per-directory walk order): `a.txt` < `a/b`.
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    hash_all(&mut entries)?;
    let mut source = zip_source(root, entries);
    source.excluded = rules.into_excluded();
    Ok(source)
}

/// `/`-joined path of `path` relative to `root`: UTF-8, never absolute, never `..`.
fn entry_name(root: &Path, path: &Path) -> Result<String, ArchiveError> {
    let relative = path.strip_prefix(root).map_err(|_| ArchiveError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(format!("not under {}", root.display())),
    })?;
    let mut name = String::new();
    for (index, component) in relative.components().enumerate() {
        let Component::Normal(part) = component else {
            return Err(ArchiveError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "unexpected path component"),
            });
        };
        let part = part.to_str().ok_or_else(|| ArchiveError::NonUtf8Name {
            path: path.to_path_buf(),
        })?;
        check_windows_name(part, index == 0, path)?;
        if !name.is_empty() {
            name.push('/');
        }
        name.push_str(part);
    }
    if name.is_empty() {
        return Err(ArchiveError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty entry name"),
        });
    }
    Ok(name)
}

/// `\` is an ordinary character in a Unix file name but a separator to Windows unzip tools,
/// and `C:` at the start names a drive there: an entry `..\..\x` would climb out of the
/// extraction folder, and `\x` or `C:\x` (or `C:x`) would be written at an absolute place.
fn check_windows_name(part: &str, first: bool, path: &Path) -> Result<(), ArchiveError> {
    let climbs = part.split('\\').any(|p| p == "..");
    let drive = |p: &str| {
        let b = p.as_bytes();
        b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
    };
    let absolute = first && (part.starts_with('\\') || drive(part));
    if climbs || absolute {
        return Err(ArchiveError::UnsafeName {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Resolves a symlink and enforces the boundary; returns the canonical target.
pub(crate) fn check_link(
    link: &Path,
    boundary: &Path,
    policy: &Policy,
) -> Result<PathBuf, ArchiveError> {
    let target = fs::canonicalize(link).map_err(|e| classify_io(link, e))?;
    if !target.starts_with(boundary) {
        return Err(ArchiveError::SymlinkEscapes {
            link: link.to_path_buf(),
            target,
            boundary: policy.boundary.clone(),
        });
    }
    Ok(target)
}

/// NotFound and ELOOP get their own variants; anything else is an I/O error on `path`.
pub(crate) fn classify_io(path: &Path, source: io::Error) -> ArchiveError {
    if source.raw_os_error() == Some(libc::ELOOP) {
        loop_or_chain(path)
    } else if source.kind() == io::ErrorKind::NotFound {
        ArchiveError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The system says "too many levels of symbolic links" both for a loop and for a chain longer
/// than it follows (40 links on Linux): follow the chain to tell which.
fn loop_or_chain(path: &Path) -> ArchiveError {
    fn lexical(p: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }
    let mut seen = std::collections::HashSet::new();
    let mut current = lexical(path);
    for _ in 0..4096 {
        if !seen.insert(current.clone()) {
            return ArchiveError::SymlinkLoop {
                link: path.to_path_buf(),
            };
        }
        let Ok(target) = fs::read_link(&current) else {
            break;
        };
        let parent = current.parent().map(Path::to_path_buf).unwrap_or_default();
        current = lexical(&parent.join(target));
    }
    ArchiveError::SymlinkChain {
        link: path.to_path_buf(),
        links: seen.len().saturating_sub(1),
    }
}

fn special(path: &Path, file_type: FileType) -> ArchiveError {
    let kind = if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    };
    ArchiveError::SpecialFile {
        path: path.to_path_buf(),
        kind,
    }
}

/// What one read of a file found out: everything the key and the zip need to know up front.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hashed {
    pub digest: [u8; 32],
    pub size: u64,
    pub crc32: u32,
    pub incompressible: bool,
}

impl Hashed {
    /// Sizes, digests and the store decision become those of the bytes actually read.
    fn apply(self, entry: &mut Entry) {
        entry.digest = self.digest;
        entry.size = self.size;
        entry.crc32 = self.crc32;
        entry.incompressible = self.incompressible;
    }
}

/// BLAKE3, CRC-32 and size of a file's content, and whether it is too big to compress whole
/// and not worth deflating ([`LargeRule`]), all in one read.
pub(crate) fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<Hashed> {
    let mut hasher = blake3::Hasher::new();
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    let mut rule = LargeRule::new();
    let mut reader = File::open(path)?;
    let mut total = 0u64;
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                let data = &buf[..n];
                hasher.update(data);
                crc.update(data);
                rule.update(data);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Hashed {
        digest: *hasher.finalize().as_bytes(),
        size: total,
        // The ISO-HDLC CRC is 32 bits wide: the digest returns it in a u64.
        crc32: crc.finalize() as u32,
        incompressible: rule.finish(total),
    })
}

/// Feeds everything `reader` yields into `hasher` in `buf`-sized reads; returns the byte count.
fn hash_reader(
    mut reader: impl Read,
    hasher: &mut blake3::Hasher,
    buf: &mut [u8],
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What hashing one file found.
type HashResult = io::Result<Hashed>;

/// Hashes every entry, spreading files over a few threads. Sizes become the bytes actually
/// read, so key, sizes and digests describe the same content. On failure, reports the error
/// of the first failing entry in archive order (deterministic).
fn hash_all(entries: &mut [Entry]) -> Result<(), ArchiveError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_HASH_THREADS)
        .min(entries.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<HashResult>>> =
        entries.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        let mut buf = vec![0u8; READ_BUF];
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(entry) = entries.get(index) else {
                break;
            };
            let result = hash_file(&entry.path, &mut buf);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            if let Ok(mut slot) = results[index].lock() {
                *slot = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    for (entry, slot) in entries.iter_mut().zip(results) {
        let result = slot
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match result {
            Some(Ok(hashed)) => hashed.apply(entry),
            Some(Err(source)) => {
                return Err(ArchiveError::Io {
                    path: entry.path.clone(),
                    source,
                });
            }
            // Not reached: work stops early only after an error, reported above in order.
            None => {
                return Err(ArchiveError::Io {
                    path: entry.path.clone(),
                    source: io::Error::other("file was not hashed"),
                });
            }
        }
    }
    Ok(())
}
