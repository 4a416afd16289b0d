//! Deterministic archives and content keys for local artifacts.
//!
//! Owns: walking a file or folder under a symlink policy, leaving out what its ignore files
//! exclude (`.copilotignore`, gitignore syntax), the BLAKE3 content key of what would be
//! uploaded (SPEC A7), and the deterministic zip itself (SPEC A6), streamed to a temporary
//! file, with the compressed-entry cache that lets a re-zip deflate only what changed
//! ([`Cache`]). Must not know about: templates, CloudFormation, S3, Copilot workspaces (the
//! caller names the workspace's ignore file in [`Policy::ignore_file`] and the cache folder in
//! [`Cache::dir`]), command-line flags, or the terminal.
//!
//! Two steps, so that a warm run never zips: [`Source::scan`] walks and hashes (cheap: one read
//! of each file through BLAKE3), then [`Source::build`] writes the zip only when the caller
//! decided the object is missing remotely. `build` re-hashes what it zips and fails with
//! [`ArchiveError::Changed`] when a file changed since the scan, so a zip never carries content
//! that differs from its key (a raw file is uploaded from its own path: only its size is
//! checked again).
//!
//! The exact key layout is documented (and pinned by tests) in [`key`]: BLAKE3 over a
//! length-prefixed stream of format version, packing kind and, per file in archive order, name,
//! normalized mode, length and content digest (raw files: length and content).
//!
//! Ignore files apply to folder artifacts only (a single file is never filtered): the folder's
//! own [`IGNORE_FILE`] and [`Policy::ignore_file`]; excluded entries are decided during the
//! walk (an excluded folder is not entered), so they are never read and are neither in
//! [`Source::entries`] nor in the key; the root's own ignore file is not zipped either.
//! [`Source::excluded`] says how much each file left out. Without ignore files, keys and zips
//! are exactly what they were before ignore files existed.
//!
//! Symlinks are materialized (stored as their target's content) when their canonical target
//! stays inside [`Policy::boundary`]. Both steps run on blocking threads and read files in
//! bounded chunks: memory does not grow with artifact size.

use std::path::{Path, PathBuf};

mod cache;
mod detect;
pub mod key;
mod rules;
mod scan;
mod write;
pub use cache::Cache;
pub use write::{BLOCK, Progress, WHOLE_LIMIT};

/// Hash format version, part of every key: bump it when the key inputs or the bytes built
/// for the same inputs change, so that a key always names the same bytes.
///
/// 2: DEFLATE level 3 (was 6); small incompressible zip entries are stored, not deflated.
/// 3: big (streamed) incompressible entries are stored too, with CRC and sizes in the local
/// header; streamed deflated entries end with a ZIP64 data descriptor (8-byte sizes).
/// 4: whole (small) entries are deflated by libdeflate at [`DEFLATE_LEVEL_WHOLE`].
/// 5: big deflated entries are cut into independent 1 MiB blocks (deflated on all cores).
pub const KEY_FORMAT_VERSION: u32 = 5;

/// The DEFLATE level of entries up to 4 MiB, compressed whole in memory by libdeflate (the
/// version pinned exactly by the workspace). On real `node_modules` text libdeflate's level 1
/// takes about half the CPU of zlib-rs's level 3 for ~2.6% more bytes (BENCHMARKS.md), and
/// such files are most of what a cold run deflates. Part of the bytes a key names: changing
/// it means bumping [`KEY_FORMAT_VERSION`].
pub const DEFLATE_LEVEL_WHOLE: i32 = 1;

/// The DEFLATE level of bigger compressible entries, deflated as a stream by zlib-rs through
/// flate2 (libdeflate compresses whole buffers only). 3 rather than zlib's default 6: zlib-rs
/// uses the same "medium" strategy for levels 3 to 6, with shorter match searches below 6; on
/// code and text level 3 takes less than half the CPU of level 6 for ~4% more bytes (the W2
/// workload, see BENCHMARKS.md). Part of the bytes a key names: changing it means bumping
/// [`KEY_FORMAT_VERSION`].
pub const DEFLATE_LEVEL_STREAMED: u32 = 3;

/// The content type of the zips this crate builds (and of zip files uploaded as they are).
pub const ZIP_CONTENT_TYPE: &str = "application/zip";

/// The name of an ignore file (gitignore syntax) in an artifact folder.
pub const IGNORE_FILE: &str = ".copilotignore";

/// What the artifact will be uploaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// The file's bytes as they are (a plain file under a non-force-zip property, or a file
    /// that already is a zip archive under a force-zip property).
    Raw,
    /// A deterministic zip of the folder, or of the single file (entry = its base name).
    Zip,
}

/// Where symlinks may point: a link whose canonical target leaves `boundary` is an error.
/// `boundary` is the workspace root, or the artifact's own root when the artifact lies outside
/// the workspace.
///
/// `ignore_file`: an ignore file that applies besides the folder's own [`IGNORE_FILE`] (the
/// workspace root's), to folder artifacts inside the folder holding it, its patterns relative
/// to that folder; the folder's own file decides first. A file that does not exist is no
/// rules.
#[derive(Debug, Clone)]
pub struct Policy {
    pub boundary: PathBuf,
    pub ignore_file: Option<PathBuf>,
}

/// One regular file of an artifact, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-joined path relative to the artifact root (base name for a single file).
    pub name: String,
    /// Path to read the content from (symlinks already resolved).
    pub path: PathBuf,
    /// Normalized mode stored in the zip: `S_IFREG | (perm & 0o777) | 0o444`.
    pub mode: u32,
    pub size: u64,
    /// BLAKE3 of the content as scanned (part of the key; `build` checks it again).
    pub digest: [u8; 32],
    /// CRC-32 (ISO-HDLC, the zip checksum) of the content as scanned: a stored entry is
    /// written with it in its local header, before its bytes are read again.
    pub crc32: u32,
    /// Whether the scan found a file too big to compress whole (more than 4 MiB) not worth
    /// deflating (a rule on its bytes: see `write`); such a file is stored. Always `false` for
    /// smaller files, which `build` judges on their whole content.
    pub incompressible: bool,
}

/// A scanned artifact: its entries, its key, how it will be packed.
#[derive(Debug, Clone)]
pub struct Source {
    pub root: PathBuf,
    pub packing: Packing,
    pub entries: Vec<Entry>,
    /// Lower-case hex BLAKE3 key.
    pub key: String,
    /// Total bytes of content read.
    pub content_bytes: u64,
    /// One per ignore file that applied (outermost first; empty for a single file).
    pub excluded: Vec<Excluded>,
}

/// What one ignore file left out of a folder artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    pub ignore_file: PathBuf,
    /// Entries that are not folders (files, links to files, special files).
    pub files: usize,
    /// Folders, not entered: what they hold is neither read nor counted.
    pub folders: usize,
}

/// A built artifact ready to upload.
#[derive(Debug)]
pub struct Built {
    /// File to upload: the original file for [`Packing::Raw`], a temporary zip otherwise
    /// (deleted when `Built` is dropped).
    pub path: PathBuf,
    pub size: u64,
    pub content_type: &'static str,
    /// SHA-256 of the zip, computed while it was written (what Lambda reports, in base64, as
    /// `CodeSha256`); `None` for a file uploaded as it is (it is not read here).
    pub sha256: Option<[u8; 32]>,
    _temp: Option<tempfile::TempPath>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: does not exist")]
    NotFound { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{link}: symbolic link points outside {boundary} (to {target})")]
    SymlinkEscapes {
        link: PathBuf,
        target: PathBuf,
        boundary: PathBuf,
    },
    #[error("{link}: symbolic link loop")]
    SymlinkLoop { link: PathBuf },
    #[error(
        "{link}: a chain of {links} symbolic links, more than the system follows (40 on Linux); \
         point the link at its target directly"
    )]
    SymlinkChain { link: PathBuf, links: usize },
    #[error("{path}: is a {kind}, not a regular file or folder")]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error("{path}: folder is empty, nothing to archive")]
    EmptyFolder { path: PathBuf },
    #[error("{path}: every file is excluded by {}, nothing to archive", show_paths(.ignore_files))]
    AllExcluded {
        path: PathBuf,
        ignore_files: Vec<PathBuf>,
    },
    /// A line of an ignore file that is not a valid pattern (line numbers start at 1).
    #[error("{path}:{line}: {message}")]
    IgnoreRule {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
    #[error(
        "{path}: file name would climb out of the target folder or be absolute for unzip \
         tools that treat `\\` as a separator and `C:` as a drive (Windows): a `..` part \
         between `\\`, or a leading `\\` or drive letter"
    )]
    UnsafeName { path: PathBuf },
    #[error("{path}: changed while packaging (size or content differs from the scan); run again")]
    Changed { path: PathBuf },
    #[error("writing zip for {root}: {message}")]
    Zip { root: PathBuf, message: String },
}

impl Source {
    /// Walks `path` (file or folder) and computes its key. `force_zip` = the property needs
    /// an archive: a single file is zipped unless it already is a zip archive.
    pub async fn scan(
        path: &Path,
        force_zip: bool,
        policy: &Policy,
    ) -> Result<Source, ArchiveError> {
        let (path, policy) = (path.to_path_buf(), policy.clone());
        let root = path.clone();
        tokio::task::spawn_blocking(move || scan::scan(&path, force_zip, &policy))
            .await
            .map_err(|e| join_error(root, e))?
    }

    /// Writes the artifact (zip into a temporary file in `temp_dir`, or nothing for raw).
    /// Fails with [`ArchiveError::Changed`] if a file's size or content changed since the scan
    /// (a raw file is only checked for its size: it is not read again here; nor is a file
    /// whose deflated bytes `cache` holds: they are those of the scanned content).
    ///
    /// With a `cache`, entries deflated by the last build of the same root are copied from it
    /// rather than deflated again, and this build's are kept for the next: the zip is
    /// byte for byte the one built without it.
    pub async fn build(
        &self,
        temp_dir: &Path,
        cache: Option<&Cache>,
    ) -> Result<Built, ArchiveError> {
        self.build_reporting(temp_dir, cache, None).await
    }

    /// An upper bound of the size of the zip [`Source::build`] writes (headers, records and
    /// DEFLATE's worst case included); for a raw artifact, its size.
    pub fn zip_size_bound(&self) -> u64 {
        match self.packing {
            Packing::Raw => self.content_bytes,
            Packing::Zip => {
                let records: u64 = self
                    .entries
                    .iter()
                    .map(|e| 2 * e.name.len() as u64 + write::ENTRY_OVERHEAD)
                    .sum();
                write::deflate_bound(self.content_bytes) + records + write::END_OVERHEAD
            }
        }
    }

    /// [`Source::build`], telling `progress` (on the build's thread, about every MiB) the
    /// zip's path and how many bytes at its start are written for good, so that the zip can
    /// be read (uploaded) while it is written. Raw artifacts write nothing: not told.
    pub async fn build_reporting(
        &self,
        temp_dir: &Path,
        cache: Option<&Cache>,
        progress: Option<Progress>,
    ) -> Result<Built, ArchiveError> {
        match self.packing {
            Packing::Raw => {
                let (root, expected) = (self.root.clone(), self.content_bytes);
                tokio::task::spawn_blocking(move || raw_built(root, expected))
                    .await
                    .map_err(|e| join_error(self.root.clone(), e))?
            }
            Packing::Zip => {
                let (source, temp_dir) = (self.clone(), temp_dir.to_path_buf());
                let cache = cache.cloned();
                tokio::task::spawn_blocking(move || {
                    write::write_zip(&source, &temp_dir, cache.as_ref(), progress)
                })
                .await
                .map_err(|e| join_error(self.root.clone(), e))?
            }
        }
    }
}

/// Content type of a file uploaded as it is: by extension (JSON, YAML), `application/zip`
/// for a zip archive (whatever its extension, e.g. `.jar`), else `application/octet-stream`.
pub fn raw_content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => "application/json",
        Some("yml" | "yaml") => "application/x-yaml",
        _ if detect::is_zip_archive(path).unwrap_or(false) => ZIP_CONTENT_TYPE,
        _ => "application/octet-stream",
    }
}

fn raw_built(root: PathBuf, expected: u64) -> Result<Built, ArchiveError> {
    let size = std::fs::metadata(&root).map_err(scan::io_err(&root))?.len();
    if size != expected {
        return Err(ArchiveError::Changed { path: root });
    }
    let content_type = raw_content_type(&root);
    Ok(Built {
        path: root,
        size,
        content_type,
        sha256: None,
        _temp: None,
    })
}

fn show_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(" and ")
}

fn join_error(path: PathBuf, error: tokio::task::JoinError) -> ArchiveError {
    match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(error) => ArchiveError::Io {
            path,
            source: std::io::Error::other(error),
        },
    }
}
