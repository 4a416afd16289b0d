//! The packaging engine: from a parsed template to a packaged one.
//!
//! Owns the pipeline of SPEC A4–A9, in three phases that never overlap:
//!
//! 1. [`prepare`] (no network): find every candidate property ([`registry`]), resolve and
//!    check every local path, parse nested templates recursively (cycles are errors), scan
//!    and hash every artifact ([`archive`]). Every problem of every template is collected;
//!    any problem stops here, before anything is zipped or uploaded.
//! 2. Keys and rendering (no network): content keys are known after the scan, so every
//!    template, nested ones bottom-up, is rendered with its rewritten properties
//!    ([`cfn_yaml::Edits`]) before the first upload.
//! 3. [`Prepared::upload`] to a [`Store`] (the S3 uploader, or a test's in-memory one): which
//!    keys exist (one listing per folder when there are many, see
//!    [`upload::Uploader::existing`], else `HeadObject` per key), then zip (only if missing)
//!    and upload, with bounded parallelism. The packaged text is returned only when every upload
//!    succeeded.
//!
//! Must not know about: the terminal (progress goes through [`Observer`]), command-line
//! parsing or output formats (what happened is plain data: [`Packaged`], its
//! [`Reference`]s), Copilot workspaces, or CloudFormation deployments. Templates on disk are
//! only ever read.

mod diagnostic;
mod key;
mod plan;
mod run;
mod store;

pub use archive::{Cache, IGNORE_FILE};
pub use diagnostic::Diagnostic;
pub use key::{template_key, upload_template};
pub use plan::{Base, Options, Prepared, prepare};
pub use run::{Observer, Packaged, Reference, ReferenceKind, UploadReport};
pub use store::Store;

use std::path::PathBuf;

use cfn_yaml::Located;

/// Why packaging stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid: nothing was zipped or uploaded. Diagnostics are in document
    /// order.
    #[error("{} problem{} found; nothing was uploaded", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    /// Building an artifact failed after validation (e.g. a file changed during the run).
    #[error("building the artifact for {path}: {source}")]
    Build {
        path: PathBuf,
        #[source]
        source: archive::ArchiveError,
    },
    #[error(transparent)]
    Upload(#[from] upload::UploadError),
    #[error("creating a temporary folder: {0}")]
    Temp(#[source] std::io::Error),
    #[error("rendering {path} as JSON: {source}")]
    Render {
        path: PathBuf,
        #[source]
        source: cfn_yaml::RenderError,
    },
}

impl Error {
    /// The same error with each diagnostic's place passed through `f` (for a merged
    /// template: back to the file each line came from).
    pub fn relocate(self, f: impl Fn(Located) -> Located) -> Self {
        match self {
            Error::Invalid(diagnostics) => Error::Invalid(
                diagnostics
                    .into_iter()
                    .map(|mut d| {
                        d.at = f(d.at);
                        d
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}
