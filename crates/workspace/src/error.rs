//! Error types. Every variant carries what a caller needs to point at the problem: paths,
//! 1-based line and column (in characters), and the key involved.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in an original (on-disk) file: 1-based line and column (column in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl Location {
    pub(crate) fn new(file: &Path, line: usize, col: usize) -> Self {
        Location {
            file: file.to_path_buf(),
            line,
            col,
        }
    }
    /// The file's name (last path component), as Copilot prints it in merge conflicts.
    pub fn file_name(&self) -> String {
        file_name(&self.file)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Errors of workspace discovery and service look-up (SPEC A1).
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "not in a copilot workspace (no copilot/ folder in {} or its parents)",
        start.display()
    )]
    NotInWorkspace { start: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A YAML syntax error in `.workspace` or a manifest (the inner error has file, line, column).
    #[error(transparent)]
    Parse(#[from] cfn_yaml::ParseError),
    #[error(
        "no application name: {} does not exist (create it with `application: <name>`, or pass the app name)",
        path.display()
    )]
    NoWorkspaceFile { path: PathBuf },
    /// `.workspace` holds nothing but blanks and comments.
    #[error(
        "{}: the workspace file is empty; it should name the application, as `application: <name>`",
        path.display()
    )]
    EmptyWorkspaceFile { path: PathBuf },
    /// A required field is missing (or the document is not a mapping).
    #[error("{}: missing field \"{key}\"", path.display())]
    MissingField { path: PathBuf, key: String },
    /// A field has a value of the wrong shape (not a non-empty string).
    #[error("{}:{line}:{col}: field \"{key}\" must be a non-empty string", path.display())]
    InvalidField {
        path: PathBuf,
        line: usize,
        col: usize,
        key: String,
    },
    #[error(
        "{}:{line}:{col}: \"{name}\" is a Scheduled Job, not a service: copilot-lite only handles services",
        path.display()
    )]
    IsAJob {
        path: PathBuf,
        line: usize,
        col: usize,
        name: String,
    },
    #[error(
        "{}:{line}:{col}: unknown service type \"{service_type}\" (expected one of: {})",
        path.display(),
        crate::ServiceType::ALL.map(|t| format!("\"{}\"", t.as_str())).join(", ")
    )]
    UnknownServiceType {
        path: PathBuf,
        line: usize,
        col: usize,
        service_type: String,
    },
    #[error(
        "{}:{line}:{col}: manifest name \"{name}\" does not match its folder \"{folder}\"",
        path.display()
    )]
    NameMismatch {
        path: PathBuf,
        line: usize,
        col: usize,
        name: String,
        folder: String,
    },
    #[error(
        "service \"{name}\" not found in {}; services: {}",
        dir.display(),
        if available.is_empty() { "(none)".to_string() } else { available.join(", ") }
    )]
    ServiceNotFound {
        name: String,
        dir: PathBuf,
        available: Vec<String>,
    },
}

/// Two addon templates define the same key with different values (SPEC B §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// What the key is: `metadata key`, `parameter logical ID`, `mapping`, `condition`,
    /// `resource`, `output`, `rule`, `hook`, `<Section> key` for other mapping sections, and
    /// `section` for a top-level key compared as a whole (`Description`, ...).
    pub what: String,
    /// The key; `Map.Key` for a second-level conflict in `Mappings`.
    pub key: String,
    /// Where the key is first defined: its value, as Copilot reports it.
    pub first: Location,
    /// Where the different definition is: its value.
    pub second: Location,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" defined in \"{}\" at Ln {}, Col {} is different than in \"{}\" at Ln {}, Col {}",
            self.what,
            self.key,
            self.first.file_name(),
            self.first.line,
            self.first.col,
            self.second.file_name(),
            self.second.line,
            self.second.col
        )
    }
}

impl std::error::Error for Conflict {}

/// Errors of reading, merging and validating a service's addons (SPEC A1, A2, B §3.1–§3.3).
///
/// The messages of B §3.2/§3.3 are reproduced exactly; [`AddonsError::location`] gives the
/// place in an original file when there is one.
#[derive(Debug, thiserror::Error)]
pub enum AddonsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    /// An entry of `addons/` named like a template that is not a regular file (a FIFO, ...).
    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    /// A YAML/JSON syntax error in an addon template or the parameters file.
    #[error(transparent)]
    Parse(#[from] cfn_yaml::ParseError),
    #[error(
        "defining addons.parameters.yml and addons.parameters.yaml is not allowed under addons/"
    )]
    BothParameterFiles { dir: PathBuf },
    /// The document, or a section that must be a mapping, is something else.
    #[error("{}:{line}:{col}: {what} must be a mapping", path.display())]
    NotAMapping {
        path: PathBuf,
        line: usize,
        col: usize,
        what: String,
    },
    /// A mapping key that is not a scalar (`? [a, b]: ...`).
    #[error("{}:{line}:{col}: keys must be strings", path.display())]
    InvalidKey {
        path: PathBuf,
        line: usize,
        col: usize,
    },
    #[error(transparent)]
    Conflict(Box<Conflict>),
    /// `Resources` (required) or `Outputs` of the (merged) template is not a mapping
    /// (Copilot's message).
    #[error("\"{section}\" field in cloudformation template is not a map")]
    SectionNotAMap {
        section: &'static str,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    /// A resource that is not a mapping, or whose `Type` is missing or not a string
    /// (Copilot's message, with the reason).
    #[error("decode the \"Type\" field of resource \"{logical_id}\": {reason}")]
    ResourceType {
        logical_id: String,
        reason: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    /// An output that is not a mapping (Copilot's message, with the reason).
    #[error("decode the \"Value\" field of output \"{name}\": {reason}")]
    OutputNotAMap {
        name: String,
        reason: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    /// The merged text did not parse back: a defect of the merge, reported with the original
    /// position it maps to.
    #[error("merging the addon templates produced an invalid template at {at}: {message}")]
    MergedParse { at: Location, message: String },
    #[error("required parameter \"{name}\" is missing from the template")]
    MissingRequiredParameter { name: String, dir: PathBuf },
    #[error("must define field 'Parameters' in file {file_name} under path {}", path.display())]
    MissingParametersField { file_name: String, path: PathBuf },
    #[error("{EXCLUDED}: {reason}", EXCLUDED = crate::addons::EXCLUDED_ENVIRONMENTS)]
    ExcludedEnvironments {
        reason: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    #[error("reserved parameters {reserved} cannot be declared")]
    ReservedParameter {
        /// The reserved names, as Copilot lists them (`"App", "Env" and "Name"`).
        reserved: String,
        key: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    #[error("template does not require the parameter \"{key}\" in parameters file")]
    UnknownParameter {
        key: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
    #[error(
        "parameter \"{key}\" in template must have a default value or is included in parameters file"
    )]
    ParameterWithoutValue {
        key: String,
        path: PathBuf,
        line: usize,
        col: usize,
    },
}

impl AddonsError {
    /// The place in an original file the error is about, when there is one (for a conflict:
    /// the second definition).
    pub fn location(&self) -> Option<Location> {
        use AddonsError::*;
        match self {
            Parse(e) => Some(Location::new(&e.origin, e.pos.line, e.pos.col)),
            NotAMapping {
                path, line, col, ..
            }
            | InvalidKey { path, line, col }
            | SectionNotAMap {
                path, line, col, ..
            }
            | ResourceType {
                path, line, col, ..
            }
            | OutputNotAMap {
                path, line, col, ..
            }
            | ReservedParameter {
                path, line, col, ..
            }
            | ExcludedEnvironments {
                path, line, col, ..
            }
            | UnknownParameter {
                path, line, col, ..
            }
            | ParameterWithoutValue {
                path, line, col, ..
            } => Some(Location::new(path, *line, *col)),
            Conflict(c) => Some(c.second.clone()),
            MergedParse { at, .. } => Some(at.clone()),
            Io { .. }
            | NotUtf8 { .. }
            | NotAFile { .. }
            | BothParameterFiles { .. }
            | MissingRequiredParameter { .. }
            | MissingParametersField { .. } => None,
        }
    }
}

impl From<Conflict> for AddonsError {
    fn from(c: Conflict) -> Self {
        AddonsError::Conflict(Box::new(c))
    }
}
