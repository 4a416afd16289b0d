//! [`Located`]: the one shape of "where in which file" that every located error of the
//! workspace carries (parse errors here, addon and manifest errors in `copilot-workspace`,
//! packaging diagnostics in `packager`), so that a reporter shows the offending line from
//! memory, without reading any file again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Pos, Span};

/// A span of a file, with the file's text when it may be shown. Its fields are [`Place`]'s
/// (through `Deref`); boxed, so that an error carrying one or two stays small in a `Result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located(Box<Place>);

/// What a [`Located`] points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file, as the user named it (or as it was found).
    pub file: PathBuf,
    /// Its whole text, shared; `None` when it could not be read or must not be shown (a file
    /// outside the workspace: only its position is reported).
    pub text: Option<Arc<str>>,
    /// Where in `text`.
    pub span: Span,
}

impl Located {
    pub fn new(file: impl Into<PathBuf>, text: Option<Arc<str>>, span: Span) -> Self {
        Located(Box::new(Place {
            file: file.into(),
            text,
            span,
        }))
    }

    /// An empty span at `pos`.
    pub fn at(file: impl Into<PathBuf>, text: Option<Arc<str>>, pos: Pos) -> Self {
        Self::new(file, text, pos.into())
    }

    /// The place at 1-based `line` and `col` (in characters) of `text`, `len` characters long
    /// (on that line; `usize::MAX`: to its end): for positions computed elsewhere (mapped from
    /// a merged text). Clamped to the text.
    pub fn at_line_col(
        file: impl Into<PathBuf>,
        text: Arc<str>,
        line: usize,
        col: usize,
        len: usize,
    ) -> Self {
        let line_start = if line <= 1 {
            0
        } else {
            text.match_indices('\n')
                .nth(line - 2)
                .map_or(text.len(), |(i, _)| i + 1)
        };
        let rest = &text[line_start..];
        let line_text = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
        let byte_of = |chars: usize| {
            line_start
                + line_text
                    .char_indices()
                    .nth(chars)
                    .map_or(line_text.len(), |(b, _)| b)
        };
        let start_col = col.max(1);
        let line_end_col = line_text.chars().count() + 1;
        let end_col = start_col
            .saturating_add(len)
            .min(line_end_col.max(start_col));
        let span = Span {
            start: Pos {
                byte: byte_of(start_col - 1),
                line,
                col: start_col,
            },
            end: Pos {
                byte: byte_of(end_col - 1),
                line,
                col: end_col,
            },
        };
        Self::new(file, Some(text), span)
    }

    /// 1-based line of the start.
    pub fn line(&self) -> usize {
        self.span.start.line
    }

    /// 1-based column of the start, in characters.
    pub fn col(&self) -> usize {
        self.span.start.col
    }

    /// The text of the span, when the file's text is carried.
    pub fn snippet(&self) -> Option<&str> {
        self.text
            .as_deref()
            .and_then(|t| t.get(self.span.start.byte..self.span.end.byte))
    }

    /// The file's name (last path component), as Copilot names files in its messages.
    pub fn file_name(&self) -> String {
        file_name(&self.file)
    }

    /// The same place, with the file's text.
    pub fn with_text(mut self, text: Arc<str>) -> Self {
        self.0.text = Some(text);
        self
    }

    /// The same place without the text (nothing of the file can be shown).
    pub fn without_text(mut self) -> Self {
        self.0.text = None;
        self
    }
}

impl std::ops::Deref for Located {
    type Target = Place;

    fn deref(&self) -> &Place {
        &self.0
    }
}

/// `file:line:col`, as compilers print it.
impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line(), self.col())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text: Arc<str> = "a: b\nñé: x\n".into();
        let at = |line, col, len| Located::at_line_col("f", text.clone(), line, col, len).span;
        assert_eq!(at(1, 1, 0).start.byte, 0);
        assert_eq!(at(2, 1, 0).start.byte, 5);
        let s = at(2, 3, 1);
        assert_eq!((s.start.byte, s.end.byte), (9, 10));
        // Past the end of the line or of the text: clamped.
        assert_eq!(at(2, 40, 2).end.byte, 12);
        assert_eq!(at(9, 1, 0).start.byte, text.len());
        // To the end of the line.
        let s = at(2, 2, usize::MAX);
        assert_eq!((s.end.byte, s.end.col), (12, 6));
    }
}
