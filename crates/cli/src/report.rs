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

pub fn print(failure: &Failure) {
    match failure {
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
