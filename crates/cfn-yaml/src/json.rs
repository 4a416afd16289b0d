//! A small span-keeping JSON parser producing the same [`Node`] tree as the YAML side.

use std::collections::HashMap;
use std::path::Path;

use crate::lines::LineIndex;
use crate::{MAX_DEPTH, Node, NodeKind, ParseError, ScalarStyle, Span, Via};

/// A JSON parse failure. `Syntax` errors let the caller retry the text as YAML.
pub(crate) enum JsonError {
    Syntax(ParseError),
    Semantic(ParseError),
}

struct P<'a> {
    origin: &'a Path,
    src: &'a str,
    b: &'a [u8],
    i: usize,
    idx: LineIndex<'a>,
    depth: usize,
}

impl<'a> P<'a> {
    fn err(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.origin, self.idx.pos(at), msg)
    }
    fn syntax(&self, at: usize, msg: impl Into<String>) -> JsonError {
        JsonError::Syntax(self.err(at, msg))
    }

    fn span(&self, a: usize, b: usize) -> Span {
        Span {
            start: self.idx.pos(a),
            end: self.idx.pos(b),
        }
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, JsonError> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => self.collection(true),
            Some(b'[') => self.collection(false),
            Some(b'"') => self.string(),
            Some(b't' | b'f' | b'n') => self.literal(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax(self.i, "expected a JSON value")),
            None => Err(self.syntax(self.i, "unexpected end of input, expected a JSON value")),
        }
    }

    fn scalar(&self, start: usize, value: String, style: ScalarStyle) -> Node {
        let span = self.span(start, self.i);
        Node {
            kind: NodeKind::Scalar { value, style },
            tag: None,
            anchor: None,
            flow: false,
            span,
            content: span,
            via: Via::default(),
        }
    }

    fn literal(&mut self) -> Result<Node, JsonError> {
        let start = self.i;
        for word in ["true", "false", "null"] {
            if self.b.get(start..start + word.len()) == Some(word.as_bytes()) {
                self.i += word.len();
                return Ok(self.scalar(start, word.to_owned(), ScalarStyle::Plain));
            }
        }
        Err(self.syntax(start, "expected a JSON value"))
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Result<Node, JsonError> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax(self.i, "invalid number")),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.syntax(self.i, "invalid number: expected digits after `.`"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax(self.i, "invalid number: expected exponent digits"));
            }
        }
        let text = self.src.get(start..self.i).unwrap_or("").to_owned();
        Ok(self.scalar(start, text, ScalarStyle::Plain))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.syntax(self.i, "invalid \\u escape"))?;
        self.i += 4;
        Ok(s)
    }

    fn string(&mut self) -> Result<Node, JsonError> {
        let start = self.i;
        let value = self.string_value()?;
        Ok(self.scalar(start, value, ScalarStyle::DoubleQuoted))
    }

    fn string_value(&mut self) -> Result<String, JsonError> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.syntax(start, "unterminated string")),
                Some(b'"') => {
                    out.push_str(self.src.get(run..self.i).unwrap_or(""));
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.src.get(run..self.i).unwrap_or(""));
                    let esc_at = self.i;
                    self.i += 1;
                    let c = self.b.get(self.i).copied();
                    self.i += 1;
                    match c {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.syntax(esc_at, "invalid surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let ch = char::from_u32(code)
                                .ok_or_else(|| self.syntax(esc_at, "invalid unicode escape"))?;
                            out.push(ch);
                        }
                        _ => return Err(self.syntax(esc_at, "invalid escape in string")),
                    }
                    run = self.i;
                }
                // JSON wants control characters escaped (RFC 8259 §7; Python's json, which
                // aws-cli uses, refuses them too): such a text is not JSON, maybe YAML.
                Some(&c) if c < 0x20 => {
                    return Err(self.syntax(self.i, "unescaped control character in string"));
                }
                Some(_) => self.i += 1,
            }
        }
    }

    fn collection(&mut self, is_map: bool) -> Result<Node, JsonError> {
        let start = self.i;
        if self.depth >= MAX_DEPTH {
            return Err(JsonError::Semantic(
                self.err(start, format!("nesting deeper than {MAX_DEPTH} levels")),
            ));
        }
        self.depth += 1;
        self.i += 1;
        let close = if is_map { b'}' } else { b']' };
        let mut items = Vec::new();
        let mut entries: Vec<(Node, Node)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        self.ws();
        if self.b.get(self.i) == Some(&close) {
            self.i += 1;
        } else {
            loop {
                if is_map {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.syntax(self.i, "expected a string key"));
                    }
                    let key = self.string()?;
                    let line = key.span.start.line;
                    let text = key.as_scalar().unwrap_or("").to_owned();
                    if let Some(first) = seen.insert(text.clone(), line) {
                        return Err(JsonError::Semantic(self.err(
                            key.span.start.byte,
                            format!(
                                "duplicate mapping key `{text}` at line {line} (first defined at line {first})"
                            ),
                        )));
                    }
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.syntax(self.i, "expected `:` after key"));
                    }
                    self.i += 1;
                    let value = self.value()?;
                    entries.push((key, value));
                } else {
                    items.push(self.value()?);
                }
                self.ws();
                match self.b.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(&c) if c == close => {
                        self.i += 1;
                        break;
                    }
                    _ => {
                        let want = if is_map { "`,` or `}`" } else { "`,` or `]`" };
                        return Err(self.syntax(self.i, format!("expected {want}")));
                    }
                }
            }
        }
        self.depth -= 1;
        let span = self.span(start, self.i);
        Ok(Node {
            kind: if is_map {
                NodeKind::Mapping(entries)
            } else {
                NodeKind::Sequence(items)
            },
            tag: None,
            anchor: None,
            flow: true,
            span,
            content: span,
            via: Via::default(),
        })
    }
}

/// Parses a JSON template starting after `bom` bytes.
pub(crate) fn parse(origin: &Path, src: &str, bom: usize) -> Result<Node, JsonError> {
    let mut p = P {
        origin,
        src,
        b: src.as_bytes(),
        i: bom,
        idx: LineIndex::new(src, bom),
        depth: 0,
    };
    let root = p.value()?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.syntax(p.i, "unexpected content after the JSON document"));
    }
    if !matches!(root.kind, NodeKind::Mapping(_)) {
        return Err(JsonError::Semantic(
            p.err(root.span.start.byte, "the template root must be a mapping"),
        ));
    }
    Ok(root)
}
