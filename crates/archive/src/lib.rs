//! Deterministic archives and content keys for local artifacts.
//!
//! Owns: walking a file or folder under a symlink policy, the BLAKE3 content key of what would
//! be uploaded (SPEC A7), and the deterministic zip itself (SPEC A6), streamed to a temporary
//! file. Must not know about: templates, CloudFormation, S3, or the terminal.
//!
//! Two steps, so that a warm run never zips: [`Source::scan`] walks and hashes (cheap: one read
//! of each file through BLAKE3), then [`Source::build`] writes the zip only when the caller
//! decided the object is missing remotely.
//!
//! API CONTRACT (implementation in progress).

use std::path::{Path, PathBuf};

/// Hash format version, part of every key: bump it when the key inputs change.
pub const KEY_FORMAT_VERSION: u32 = 1;

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
#[derive(Debug, Clone)]
pub struct Policy {
    pub boundary: PathBuf,
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
}

/// A built artifact ready to upload.
#[derive(Debug)]
pub struct Built {
    /// File to upload: the original file for [`Packing::Raw`], a temporary zip otherwise
    /// (deleted when `Built` is dropped).
    pub path: PathBuf,
    pub size: u64,
    pub content_type: &'static str,
    _temp: Option<tempfile::TempPath>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: does not exist")]
    NotFound { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{link}: symbolic link points outside {boundary} (to {target})")]
    SymlinkEscapes { link: PathBuf, target: PathBuf, boundary: PathBuf },
    #[error("{link}: symbolic link loop")]
    SymlinkLoop { link: PathBuf },
    #[error("{path}: is a {kind}, not a regular file or folder")]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error("{path}: folder is empty, nothing to archive")]
    EmptyFolder { path: PathBuf },
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
    #[error("writing zip for {root}: {message}")]
    Zip { root: PathBuf, message: String },
}

impl Source {
    /// Walks `path` (file or folder) and computes its key. `force_zip` = the property needs
    /// an archive: a single file is zipped unless it already is a zip archive.
    pub async fn scan(path: &Path, force_zip: bool, policy: &Policy) -> Result<Source, ArchiveError> {
        let _ = (path, force_zip, policy);
        todo!()
    }
    /// Writes the artifact (zip into a temporary file in `temp_dir`, or nothing for raw).
    /// Fails if a file changed size since the scan.
    pub async fn build(&self, temp_dir: &Path) -> Result<Built, ArchiveError> {
        let _ = temp_dir;
        todo!()
    }
}
