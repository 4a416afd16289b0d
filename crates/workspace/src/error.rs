//! Error types. Every variant carries what a caller needs to point at the problem: paths,
//! 1-based line and column (in characters), and the key involved.

use std::fmt;
use std::path::{Path, PathBuf};

use cfn_yaml::Located;

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
    #[error("{at}: field \"{key}\" must be a non-empty string")]
    InvalidField { at: Located, key: String },
    #[error(
        "{at}: \"{name}\" is a Scheduled Job, not a service: copilot-lite only handles services"
    )]
    IsAJob { at: Located, name: String },
    #[error(
        "{at}: unknown service type \"{service_type}\" (expected one of: {})",
        crate::ServiceType::ALL.map(|t| format!("\"{}\"", t.as_str())).join(", ")
    )]
    UnknownServiceType { at: Located, service_type: String },
    #[error("{at}: manifest name \"{name}\" does not match its folder \"{folder}\"")]
    NameMismatch {
        at: Located,
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

impl WorkspaceError {
    /// The place in a file the error is about, when there is one.
    pub fn location(&self) -> Option<&Located> {
        use WorkspaceError::*;
        match self {
            Parse(e) => Some(&e.at),
            InvalidField { at, .. }
            | IsAJob { at, .. }
            | UnknownServiceType { at, .. }
            | NameMismatch { at, .. } => Some(at),
            NotInWorkspace { .. }
            | Io { .. }
            | NoWorkspaceFile { .. }
            | EmptyWorkspaceFile { .. }
            | MissingField { .. }
            | ServiceNotFound { .. } => None,
        }
    }
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
    pub first: Located,
    /// Where the different definition is: its value.
    pub second: Located,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" defined in \"{}\" at Ln {}, Col {} is different than in \"{}\" at Ln {}, Col {}",
            self.what,
            self.key,
            self.first.file_name(),
            self.first.line(),
            self.first.col(),
            self.second.file_name(),
            self.second.line(),
            self.second.col()
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
    #[error("{at}: {what} must be a mapping")]
    NotAMapping { at: Located, what: String },
    /// A mapping key that is not a scalar (`? [a, b]: ...`).
    #[error("{at}: keys must be strings")]
    InvalidKey { at: Located },
    #[error(transparent)]
    Conflict(Box<Conflict>),
    /// `Resources` (required) or `Outputs` of the (merged) template is not a mapping
    /// (Copilot's message).
    #[error("\"{section}\" field in cloudformation template is not a map")]
    SectionNotAMap { section: &'static str, at: Located },
    /// A resource that is not a mapping, or whose `Type` is missing or not a string
    /// (Copilot's message, with the reason).
    #[error("decode the \"Type\" field of resource \"{logical_id}\": {reason}")]
    ResourceType {
        logical_id: String,
        reason: String,
        at: Located,
    },
    /// An output that is not a mapping (Copilot's message, with the reason).
    #[error("decode the \"Value\" field of output \"{name}\": {reason}")]
    OutputNotAMap {
        name: String,
        reason: String,
        at: Located,
    },
    /// The merged text did not parse back: a defect of the merge, reported with the original
    /// position it maps to.
    #[error("merging the addon templates produced an invalid template at {at}: {message}")]
    MergedParse { at: Located, message: String },
    #[error("required parameter \"{name}\" is missing from the template")]
    MissingRequiredParameter { name: String, dir: PathBuf },
    #[error("must define field 'Parameters' in file {file_name} under path {}", path.display())]
    MissingParametersField { file_name: String, path: PathBuf },
    #[error("{EXCLUDED}: {reason}", EXCLUDED = crate::addons::EXCLUDED_ENVIRONMENTS)]
    ExcludedEnvironments { reason: String, at: Located },
    #[error("reserved parameters {reserved} cannot be declared")]
    ReservedParameter {
        /// The reserved names, as Copilot lists them (`"App", "Env" and "Name"`).
        reserved: String,
        key: String,
        at: Located,
    },
    #[error("template does not require the parameter \"{key}\" in parameters file")]
    UnknownParameter { key: String, at: Located },
    #[error(
        "parameter \"{key}\" in template must have a default value or is included in parameters file"
    )]
    ParameterWithoutValue { key: String, at: Located },
}

impl AddonsError {
    /// The place in an original file the error is about, when there is one (for a conflict:
    /// the second definition).
    pub fn location(&self) -> Option<&Located> {
        use AddonsError::*;
        match self {
            Parse(e) => Some(&e.at),
            NotAMapping { at, .. }
            | InvalidKey { at }
            | SectionNotAMap { at, .. }
            | ResourceType { at, .. }
            | OutputNotAMap { at, .. }
            | ReservedParameter { at, .. }
            | ExcludedEnvironments { at, .. }
            | UnknownParameter { at, .. }
            | ParameterWithoutValue { at, .. }
            | MergedParse { at, .. } => Some(at),
            Conflict(c) => Some(&c.second),
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
