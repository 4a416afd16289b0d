//! Turns failures into one readable report on stderr: each problem with the offending
//! template line and a caret, as rustc does (through miette).

use miette::{LabeledSpan, NamedSource, Report, miette};

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Package(#[from] packager::Error),
    #[error(transparent)]
    Upload(#[from] upload::UploadError),
    #[error("{error}")]
    Parse {
        error: cfn_yaml::ParseError,
        text: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    /// A name (from a flag or the workspace) that Copilot's rule refuses; `what` says where
    /// it comes from.
    #[error("{what}: {source}")]
    Name {
        what: String,
        #[source]
        source: copilot_model::NameError,
    },
    #[error(transparent)]
    Workspace(#[from] copilot_workspace::WorkspaceError),
    #[error(transparent)]
    Addons(#[from] copilot_workspace::AddonsError),
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    /// The stack is not copilot-lite's to change (the ownership rules); nothing was done.
    #[error("{0}")]
    Refused(#[from] copilot_model::Refusal),
    /// `--diff` found differences (exit 1, nothing more to say).
    #[error("the templates differ from the deployed ones")]
    DiffFound,
}

impl Failure {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Failure::Io {
            context: context.into(),
            source,
        }
    }
}

/// Reports are never wrapped: a headline stays one `file:line:col: ...` line that tools can
/// match, whatever the terminal width.
pub fn install_hook() {
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
}

impl Failure {
    /// 1 for every failure, except `--diff`'s "found differences" (1) vs its errors (2).
    pub fn exit_code(&self, diff_mode: bool) -> u8 {
        match self {
            Failure::DiffFound => 1,
            _ if diff_mode => 2,
            _ => 1,
        }
    }
}

pub fn print(failure: &Failure) {
    match failure {
        Failure::DiffFound => {}
        Failure::Addons(error) if error.location().is_some() => {
            let loc = error.location().unwrap_or_else(unreachable_location);
            let text = std::fs::read_to_string(&loc.file).unwrap_or_default();
            let byte = byte_offset(&text, loc.line, loc.col);
            let headline = format!("{}:{}:{}: {error}", loc.file.display(), loc.line, loc.col);
            let report = located(
                &loc.file.display().to_string(),
                text,
                byte,
                byte,
                headline,
                "here",
                None,
            );
            eprintln!("{report:?}");
        }
        Failure::Package(packager::Error::Invalid(diagnostics)) => {
            for d in diagnostics {
                eprintln!("{:?}", diagnostic_report(d));
            }
            eprintln!(
                "error: {} problem{} found; nothing was uploaded",
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            );
        }
        Failure::Parse { error, text } => {
            let report = located(
                &error.origin.display().to_string(),
                text.clone(),
                error.pos.byte,
                error.pos.byte,
                format!(
                    "{}:{}:{}: {}",
                    error.origin.display(),
                    error.pos.line,
                    error.pos.col,
                    error.message
                ),
                "here",
                None,
            );
            eprintln!("{report:?}");
        }
        other => {
            let mut message = format!("error: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !message.contains(&text) {
                    message.push_str(&format!("\n  caused by: {text}"));
                }
                source = cause.source();
            }
            eprintln!("{message}");
        }
    }
}

fn diagnostic_report(d: &packager::Diagnostic) -> Report {
    let mut headline = format!(
        "{}:{}:{}: ",
        d.file.display(),
        d.span.start.line,
        d.span.start.col
    );
    match (&d.logical_id, &d.property) {
        (Some(id), Some(p)) => headline.push_str(&format!("resource {id}, property {p}: ")),
        (Some(id), None) => headline.push_str(&format!("resource {id}: ")),
        (None, Some(p)) => headline.push_str(&format!("property {p}: ")),
        (None, None) => {}
    }
    headline.push_str(&d.message);
    let help = d
        .resolved
        .as_ref()
        .map(|p| format!("resolved to {}", p.display()));
    match &d.source {
        Some(source) => located(
            &d.file.display().to_string(),
            source.to_string(),
            d.span.start.byte,
            d.span.end.byte,
            headline,
            &d.message,
            help,
        ),
        None => match help {
            Some(help) => miette!(help = help, "{headline}"),
            None => miette!("{headline}"),
        },
    }
}

fn located(
    name: &str,
    source: String,
    start: usize,
    end: usize,
    headline: String,
    label: &str,
    help: Option<String>,
) -> Report {
    let len = end
        .saturating_sub(start)
        .min(source.len().saturating_sub(start));
    let span = LabeledSpan::at(
        start.min(source.len())..start.min(source.len()) + len,
        label.to_string(),
    );
    let report = match help {
        Some(help) => miette!(labels = vec![span], help = help, "{headline}"),
        None => miette!(labels = vec![span], "{headline}"),
    };
    report.with_source_code(NamedSource::new(name, source))
}

fn unreachable_location() -> copilot_workspace::Location {
    copilot_workspace::Location {
        file: std::path::PathBuf::new(),
        line: 1,
        col: 1,
    }
}

/// Byte offset of 1-based (line, column in characters) in `text`; clamped to the text.
fn byte_offset(text: &str, line: usize, col: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(col.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

/// Problems found in a merged addons template point at the merged text; point them at the
/// original addon files instead.
pub fn locate_in_addons(error: packager::Error, addons: &copilot_workspace::Addons) -> Failure {
    let packager::Error::Invalid(diagnostics) = error else {
        return Failure::Package(error);
    };
    let merged_origin = addons.template().origin().to_path_buf();
    let diagnostics = diagnostics
        .into_iter()
        .map(|mut d| {
            if d.file != merged_origin || addons.files().len() < 2 {
                return d;
            }
            let start = addons.locate(d.span.start);
            let text = std::fs::read_to_string(&start.file).unwrap_or_default();
            let byte = byte_offset(&text, start.line, start.col);
            let len = d.span.end.byte.saturating_sub(d.span.start.byte);
            d.span = cfn_yaml::Span {
                start: cfn_yaml::Pos {
                    byte,
                    line: start.line,
                    col: start.col,
                },
                end: cfn_yaml::Pos {
                    byte: (byte + len).min(text.len()),
                    line: start.line,
                    col: start.col + len,
                },
            };
            d.file = start.file;
            d.source = Some(text.into());
            d
        })
        .collect();
    Failure::Package(packager::Error::Invalid(diagnostics))
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_offsets_count_characters() {
        let text = "a: b\nñé: x\n";
        assert_eq!(super::byte_offset(text, 1, 1), 0);
        assert_eq!(super::byte_offset(text, 2, 1), 5);
        assert_eq!(super::byte_offset(text, 2, 3), 9);
        assert_eq!(super::byte_offset(text, 9, 1), text.len());
    }
}
