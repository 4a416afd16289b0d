//! Byte offset <-> (line, column) conversions.

use crate::Pos;

const BLOCK: usize = 64;

/// Line table of a source text. Line breaks are `\n`, `\r\n` and a lone `\r` (as in the YAML
/// scanner). Columns are counted in characters.
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset of the start of each line; the first line starts after the BOM.
    line_starts: Vec<usize>,
    /// Whether each line is pure ASCII (columns are then byte differences).
    ascii: Vec<bool>,
    /// Number of UTF-8 continuation bytes before byte `k * BLOCK`.
    cont: Vec<usize>,
    /// Line index of the last `pos` lookup (lookups are mostly in source order).
    hint: std::cell::Cell<usize>,
    /// Cursor of the last marker conversion: (line, col, byte).
    cache: (usize, usize, usize),
}

fn is_cont(b: u8) -> bool {
    b & 0xC0 == 0x80
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(src: &'a str, first: usize) -> Self {
        let bytes = src.as_bytes();
        let mut line_starts = vec![first.min(bytes.len())];
        let mut ascii = vec![true];
        let mut i = first;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\n' => {
                    line_starts.push(i + 1);
                    ascii.push(true);
                }
                b'\r' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    line_starts.push(i + 1);
                    ascii.push(true);
                }
                c if c >= 0x80 => {
                    if let Some(a) = ascii.last_mut() {
                        *a = false;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let mut cont = Vec::with_capacity(bytes.len() / BLOCK + 2);
        let mut acc = 0usize;
        for chunk in bytes.chunks(BLOCK) {
            cont.push(acc);
            acc += chunk.iter().filter(|&&b| is_cont(b)).count();
        }
        cont.push(acc);
        LineIndex {
            src,
            line_starts,
            ascii,
            cont,
            hint: std::cell::Cell::new(0),
            cache: (0, 0, 0),
        }
    }

    fn cont_before(&self, byte: usize) -> usize {
        let k = byte / BLOCK;
        let base = self.cont.get(k).copied().unwrap_or(0);
        let from = k * BLOCK;
        base + self
            .src
            .as_bytes()
            .get(from..byte)
            .map_or(0, |s| s.iter().filter(|&&b| is_cont(b)).count())
    }

    /// The position of a byte offset (clamped to the text).
    pub(crate) fn pos(&self, byte: usize) -> Pos {
        let byte = byte.min(self.src.len());
        let on_line = |l: usize| {
            self.line_starts.get(l).is_some_and(|&s| s <= byte)
                && self.line_starts.get(l + 1).is_none_or(|&n| byte < n)
        };
        let hint = self.hint.get();
        let line_idx = if on_line(hint) {
            hint
        } else if on_line(hint + 1) {
            hint + 1
        } else {
            self.line_starts
                .partition_point(|&s| s <= byte)
                .saturating_sub(1)
        };
        self.hint.set(line_idx);
        let ls = self
            .line_starts
            .get(line_idx)
            .copied()
            .unwrap_or(0)
            .min(byte);
        let chars = if self.ascii.get(line_idx).copied().unwrap_or(false) {
            byte - ls
        } else {
            (byte - ls).saturating_sub(self.cont_before(byte).saturating_sub(self.cont_before(ls)))
        };
        Pos {
            byte,
            line: line_idx + 1,
            col: chars + 1,
        }
    }

    /// Byte offset of a scanner marker (1-based line, 0-based column in characters).
    pub(crate) fn byte_of(&mut self, line: usize, col: usize) -> usize {
        let Some(&ls) = line.checked_sub(1).and_then(|l| self.line_starts.get(l)) else {
            return self.src.len();
        };
        let (mut byte, mut c) = if self.cache.0 == line && self.cache.1 <= col {
            (self.cache.2, self.cache.1)
        } else {
            (ls, 0)
        };
        while c < col {
            match self.src.get(byte..).and_then(|s| s.chars().next()) {
                Some(ch) if ch != '\n' && ch != '\r' => {
                    byte += ch.len_utf8();
                    c += 1;
                }
                _ => break,
            }
        }
        self.cache = (line, c, byte);
        byte
    }
}
