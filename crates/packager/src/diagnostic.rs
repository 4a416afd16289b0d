use std::fmt;
use std::path::PathBuf;

use cfn_yaml::Located;

/// One problem in the input, located precisely enough to show the offending line.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Where, in which file, with the file's text when it may be shown.
    pub at: Located,
    /// Logical ID of the resource (or the site, e.g. `AWS::ServerlessRepo::Application`).
    pub logical_id: Option<String>,
    /// Property path, e.g. `Code` or `Command.ScriptLocation`.
    pub property: Option<String>,
    /// The path the value resolved to.
    pub resolved: Option<PathBuf>,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(at: Located, message: impl Into<String>) -> Self {
        Diagnostic {
            at,
            logical_id: None,
            property: None,
            resolved: None,
            message: message.into(),
        }
    }

    /// `file:line:col: resource Id, property P: message`: the line without the resolved path.
    pub fn headline(&self) -> String {
        let mut line = format!("{}: ", self.at);
        match (&self.logical_id, &self.property) {
            (Some(id), Some(p)) => line.push_str(&format!("resource {id}, property {p}: ")),
            (Some(id), None) => line.push_str(&format!("resource {id}: ")),
            (None, Some(p)) => line.push_str(&format!("property {p}: ")),
            (None, None) => {}
        }
        line.push_str(&self.message);
        line
    }
}

/// [`Diagnostic::headline`], then ` (resolved to path)`: one line, as a compiler would print
/// it.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(resolved) = &self.resolved {
            write!(f, " (resolved to {})", resolved.display())?;
        }
        Ok(())
    }
}
