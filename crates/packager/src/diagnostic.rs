use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cfn_yaml::Span;

/// One problem in the input, located precisely enough to show the offending line.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// The template file.
    pub file: PathBuf,
    /// Its full text (for showing the line), when it could be read.
    pub source: Option<Arc<str>>,
    /// Where in `source`.
    pub span: Span,
    /// Logical ID of the resource (or the site, e.g. `AWS::ServerlessRepo::Application`).
    pub logical_id: Option<String>,
    /// Property path, e.g. `Code` or `Command.ScriptLocation`.
    pub property: Option<String>,
    /// The path the value resolved to.
    pub resolved: Option<PathBuf>,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(
        file: PathBuf,
        source: Option<Arc<str>>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file,
            source,
            span,
            logical_id: None,
            property: None,
            resolved: None,
            message: message.into(),
        }
    }
}

/// `file:line:col: [LogicalId] property: message (resolved path)`: one line, as a compiler
/// would print it.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = self.span.start;
        write!(f, "{}:{}:{}: ", self.file.display(), start.line, start.col)?;
        match (&self.logical_id, &self.property) {
            (Some(id), Some(p)) => write!(f, "resource {id}, property {p}: ")?,
            (Some(id), None) => write!(f, "resource {id}: ")?,
            (None, Some(p)) => write!(f, "property {p}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(resolved) = &self.resolved {
            write!(f, " (resolved to {})", resolved.display())?;
        }
        Ok(())
    }
}
