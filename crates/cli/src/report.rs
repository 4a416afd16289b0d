//! Turns failures into one readable report on stderr: each problem with the offending
//! template line and a caret, as rustc does (through miette).

use std::borrow::Cow;

use cfn_yaml::Located;

use miette::{
    LabeledSpan, MietteError, MietteSpanContents, Report, SourceCode, SourceSpan, SpanContents,
    miette,
};

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Package(#[from] packager::Error),
    #[error(transparent)]
    Upload(#[from] upload::UploadError),
    #[error(transparent)]
    Parse(cfn_yaml::ParseError),
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
    #[error(transparent)]
    Hotswap(#[from] hotswap::HotswapError),
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
        Failure::Package(packager::Error::Invalid(diagnostics)) => {
            for d in diagnostics {
                let help = d
                    .resolved
                    .as_ref()
                    .map(|p| format!("resolved to {}", p.display()));
                eprintln!("{:?}", report(&d.at, d.headline(), &d.message, help));
            }
            eprintln!("error: {}", failure);
        }
        other => match other.location() {
            Some(at) => {
                // Every located headline starts with `file:line:col: `, once (Copilot's own
                // messages, kept word for word, do not name the place).
                let message = other.to_string();
                let prefix = format!("{at}: ");
                let headline = if message.starts_with(&prefix) {
                    message
                } else {
                    prefix + &message
                };
                eprintln!("{:?}", report(at, headline, "here", None));
            }
            None => {
                let mut message = format!("error: {}", escape_lines(&other.to_string()));
                let mut source = std::error::Error::source(other);
                while let Some(cause) = source {
                    let text = escape_lines(&cause.to_string());
                    if !message.contains(&text) {
                        message.push_str(&format!("\n  caused by: {text}"));
                    }
                    source = cause.source();
                }
                eprintln!("{message}");
            }
        },
    }
}

impl Failure {
    /// The place in a file a failure is about, when there is one.
    fn location(&self) -> Option<&Located> {
        match self {
            Failure::Parse(e) => Some(&e.at),
            Failure::Addons(e) => e.location(),
            Failure::Workspace(e) => e.location(),
            _ => None,
        }
    }
}

/// The report of a problem at `at`: `headline` (which starts with `file:line:col`), then the
/// offending line with `label` under the span, when the file's text may be shown.
fn report(at: &Located, headline: String, label: &str, help: Option<String>) -> Report {
    let headline = escape(&headline).into_owned();
    let Some(text) = at.text.as_deref() else {
        return match help {
            Some(help) => miette!(help = escape(&help).into_owned(), "{headline}"),
            None => miette!("{headline}"),
        };
    };
    located(
        &at.file.display().to_string(),
        text,
        at.span.start.byte,
        at.span.end.byte,
        at.line(),
        headline,
        label,
        help,
    )
}

/// Characters of the offending line shown before and after the offending column: a long
/// line (a minified JSON template) is cut around it, never dumped whole.
const SHOWN_BEFORE: usize = 40;
const SHOWN_AFTER: usize = 80;

/// The offending line around `start` (a byte offset of `source`, on 1-based line `line`),
/// cut to a window and escaped, as miette's source: the report shows the line's real number,
/// at any length (miette cannot lay out columns past 65,535, and escape sequences in a file
/// would drive the terminal).
#[allow(clippy::too_many_arguments)]
fn located(
    name: &str,
    source: &str,
    start: usize,
    end: usize,
    line: usize,
    headline: String,
    label: &str,
    help: Option<String>,
) -> Report {
    let start = floor_boundary(source, start);
    let end = floor_boundary(source, end.max(start));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find(['\n', '\r'])
        .map_or(source.len(), |i| start + i);
    let text = &source[line_start..line_end];
    let col = source[line_start..start].chars().count();
    let end_col = col + source[start..end.min(line_end)].chars().count();
    let first = col.saturating_sub(SHOWN_BEFORE);
    let last = col + SHOWN_AFTER;
    let mut window = String::new();
    if first > 0 {
        window.push('…');
    }
    let (mut label_start, mut label_end) = (None, None);
    let mut count = 0;
    for (i, c) in text.chars().enumerate().skip(first) {
        if i > last {
            window.push('…');
            break;
        }
        if i == col {
            label_start = Some(window.len());
        }
        if i == end_col {
            label_end = Some(window.len());
        }
        push_escaped(&mut window, c);
        count = i + 1;
    }
    let label_start = label_start.unwrap_or(window.len());
    let label_end = label_end.unwrap_or(if end_col >= count {
        window.len()
    } else {
        label_start
    });
    let span = LabeledSpan::at(label_start..label_end.max(label_start), escape(label));
    let headline = escape(&headline).into_owned();
    let report = match help {
        Some(help) => miette!(labels = vec![span], help = escape(&help), "{headline}"),
        None => miette!(labels = vec![span], "{headline}"),
    };
    report.with_source_code(Window {
        name: escape(name).into_owned(),
        text: window,
        line: line.saturating_sub(1),
        // The window starts at character `first` of its line, after a `…` (which miette
        // counts in bytes).
        col: first.saturating_sub(if first > 0 { '…'.len_utf8() } else { 0 }),
    })
}

fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One line of a file, as miette's source code, that reports its real line number.
#[derive(Debug)]
struct Window {
    name: String,
    text: String,
    /// 0-based number of the line in its file.
    line: usize,
    /// What to add to a column of the window to get the column in the line.
    col: usize,
}

impl SourceCode for Window {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = <str as SourceCode>::read_span(&self.text, span, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.line,
            inner.column() + self.col,
            inner.line_count(),
        )))
    }
}

/// Whether a character would be invisible or act on the terminal (control characters,
/// bidirectional overrides, zero-width characters).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\u{1b}' => out.push_str("\\e"),
        c if is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// `s` with every control or invisible character shown as an escape (`\e`, `\u{7}`): file
/// names, values and messages from files or servers never reach the terminal raw.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    s.chars().for_each(|c| push_escaped(&mut out, c));
    Cow::Owned(out)
}

/// [`escape`], keeping line breaks (for messages of several lines).
pub fn escape_lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}
