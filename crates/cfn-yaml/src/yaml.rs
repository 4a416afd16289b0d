//! YAML: yaml-rust2 events -> [`Node`] tree with exact spans.
//!
//! yaml-rust2 only gives the start marker of each event's content token (after tags and
//! anchors). Node ends are computed here by scanning the source per scalar style; tags, anchors
//! and alias names come from a second pass of the yaml-rust2 scanner, matched to events in order.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, Scanner, TScalarStyle, TokenType};

use crate::lines::LineIndex;
use crate::{MAX_DEPTH, Node, NodeKind, ParseError, Pos, ScalarStyle, Span, Via};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropKind {
    Anchor,
    Tag,
    Alias,
}

struct PropTok {
    kind: PropKind,
    start: usize,
    name: String,
}

struct Frame {
    is_map: bool,
    flow: bool,
    /// A single-pair mapping inside a flow sequence (`[a: b]`), without braces.
    implicit: bool,
    tag: Option<String>,
    anchor: Option<String>,
    start: Option<usize>,
    content_start: usize,
    /// Column (0-based, characters) of the content marker.
    col: usize,
    items: Vec<Node>,
    entries: Vec<(Node, Node)>,
    pending: Option<Node>,
    keys: HashMap<String, usize>,
}

struct Builder<'s> {
    origin: &'s Path,
    src: &'s str,
    idx: LineIndex<'s>,
    props: Vec<PropTok>,
    next_prop: usize,
    stack: Vec<Frame>,
    root: Option<Node>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Largest char boundary `<= i` (clamped to the text).
fn boundary(src: &str, i: usize) -> usize {
    let mut i = i.min(src.len());
    while i > 0 && !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// End of a plain scalar starting at `start`, found by matching its decoded value against the
/// source (whitespace runs, including line folds, match any whitespace run).
fn plain_end(src: &str, start: usize, value: &str) -> usize {
    let b = src.as_bytes();
    let v = value.as_bytes();
    let (mut i, mut j, mut end) = (start, 0usize, start);
    while let Some(&c) = v.get(j) {
        if is_ws(c) {
            while v.get(j).is_some_and(|&c| is_ws(c)) {
                j += 1;
            }
            while b.get(i).is_some_and(|&c| is_ws(c)) {
                i += 1;
            }
            continue;
        }
        if b.get(i) == Some(&c) {
            i += 1;
            j += 1;
            end = i;
        } else {
            break;
        }
    }
    boundary(src, end)
}

fn double_quoted_end(src: &str, start: usize) -> usize {
    let b = src.as_bytes();
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

fn single_quoted_end(src: &str, start: usize) -> usize {
    let b = src.as_bytes();
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        if c == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    src.len()
}

fn line_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c == b'\n' || c == b'\r' {
            break;
        }
        i += 1;
    }
    i
}

fn skip_break(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i + 2,
        Some(b'\r' | b'\n') => i + 1,
        _ => i,
    }
}

fn count_spaces(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |s| s.iter().take_while(|&&c| c == b' ').count())
}

fn is_doc_marker(b: &[u8], i: usize) -> bool {
    matches!(b.get(i..i + 3), Some(b"---" | b"...")) && b.get(i + 3).is_none_or(|&c| is_ws(c))
}

/// End of a block scalar whose indicator (`|` or `>`) is at `start`. `parent` is the indentation
/// of the enclosing block collection (-1 at top level), as in the yaml-rust2 scanner. The end is
/// the end of the last non-blank content line (its line break excluded).
fn block_end(src: &str, start: usize, parent: isize) -> usize {
    let b = src.as_bytes();
    let mut i = start + 1;
    let mut explicit = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' | b'-' => i += 1,
            b'1'..=b'9' => {
                explicit = usize::from(c - b'0');
                i += 1;
            }
            _ => break,
        }
    }
    let header_end = i.min(b.len());
    let eol = line_end(b, i);
    let first = skip_break(b, eol);
    if first == eol {
        return header_end;
    }
    let parent_plus_one = usize::try_from(parent.saturating_add(1)).unwrap_or(0);
    let indent = if explicit > 0 {
        usize::try_from(parent).map_or(explicit, |p| p + explicit)
    } else {
        let mut max = 0usize;
        let mut k = first;
        loop {
            let sp = count_spaces(b, k);
            max = max.max(sp);
            match b.get(k + sp) {
                Some(b'\n' | b'\r') => k = skip_break(b, k + sp),
                _ => break,
            }
        }
        let mut ind = max.max(parent_plus_one);
        if parent > 0 {
            ind = ind.max(1);
        }
        ind
    };
    let mut end = header_end;
    let mut k = first;
    while k < b.len() {
        let sp = count_spaces(b, k);
        let le = line_end(b, k);
        if sp >= indent {
            if indent == 0 && is_doc_marker(b, k) {
                break;
            }
            // Past the indentation everything is content, tabs and spaces too.
            if b.get(k + indent..le).is_some_and(|c| !c.is_empty()) {
                end = le;
            }
        } else if k + sp != le {
            break;
        }
        let next = skip_break(b, le);
        if next == le {
            break;
        }
        k = next;
    }
    boundary(src, end)
}

/// Position of the closing bracket of a flow collection, scanning from `from` over whitespace,
/// commas and comments. Returns the offset after the bracket, or `from` if not found.
fn flow_close(src: &str, from: usize, close: u8) -> usize {
    let b = src.as_bytes();
    let mut i = from;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | b',' => i += 1,
            b'#' => i = line_end(b, i),
            c if c == close => return i + 1,
            _ => break,
        }
    }
    from
}

/// Text of the tag starting at `start`.
fn tag_text(src: &str, start: usize, flow: bool) -> &str {
    let rest = src.get(start..).unwrap_or("");
    let len = if rest.starts_with("!<") {
        rest.find('>').map_or(rest.len(), |i| i + 1)
    } else {
        rest.find(|c: char| {
            matches!(c, ' ' | '\t' | '\r' | '\n')
                || (flow && matches!(c, ',' | '[' | ']' | '{' | '}'))
        })
        .unwrap_or(rest.len())
    };
    rest.get(..len).unwrap_or("")
}

impl<'s> Builder<'s> {
    fn pos(&self, byte: usize) -> Pos {
        self.idx.pos(byte)
    }

    fn span(&self, a: usize, b: usize) -> Span {
        let b = b.max(a);
        Span {
            start: self.pos(a),
            end: self.pos(b),
        }
    }

    fn err_at(&self, byte: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.origin, self.pos(byte), message)
    }

    fn mark_byte(&mut self, m: &Marker) -> usize {
        self.idx.byte_of(m.line(), m.col())
    }

    fn scan_err(&mut self, e: &ScanError) -> ParseError {
        let b = self.mark_byte(e.marker());
        self.err_at(b, e.info().to_owned())
    }

    fn in_flow(&self) -> bool {
        self.stack.iter().any(|f| f.flow)
    }

    fn parent_indent(&self) -> isize {
        self.stack.iter().rev().find(|f| !f.flow).map_or(-1, |f| {
            // A block mapping's marker is its first `:`; its indentation is its first key's.
            let first_key = f.entries.first().map(|(k, _)| k).or(f.pending.as_ref());
            let col = match first_key {
                Some(k) if f.is_map => k.span.start.col.saturating_sub(1),
                _ => f.col,
            };
            isize::try_from(col).unwrap_or(isize::MAX)
        })
    }

    /// Takes the tag and anchor tokens of the next node: (tag, anchor, start, end).
    #[allow(clippy::type_complexity)]
    fn take_props(
        &mut self,
        has_anchor: bool,
        has_tag: bool,
        at: usize,
    ) -> Result<(Option<String>, Option<String>, Option<usize>, usize), ParseError> {
        let mut tag = None;
        let mut anchor = None;
        let mut start: Option<usize> = None;
        let mut end = 0;
        let n = usize::from(has_anchor) + usize::from(has_tag);
        let flow = self.in_flow();
        for _ in 0..n {
            let Some(p) = self.props.get(self.next_prop) else {
                return Err(self.err_at(at, "internal error: node properties not found"));
            };
            self.next_prop += 1;
            match p.kind {
                PropKind::Anchor if anchor.is_none() => {
                    anchor = Some(p.name.clone());
                    end = end.max(p.start + 1 + p.name.len());
                }
                PropKind::Tag if tag.is_none() => {
                    let t = tag_text(self.src, p.start, flow);
                    end = end.max(p.start + t.len());
                    tag = Some(t.to_owned());
                }
                _ => return Err(self.err_at(at, "internal error: node properties mismatch")),
            }
            start = Some(start.map_or(p.start, |s: usize| s.min(p.start)));
        }
        if has_anchor != anchor.is_some() || has_tag != tag.is_some() {
            return Err(self.err_at(at, "internal error: node properties mismatch"));
        }
        Ok((tag, anchor, start, boundary(self.src, end)))
    }

    /// Where an empty (zero-width) node without properties sits.
    fn empty_pos(&self, mark: usize) -> usize {
        let b = self.src.as_bytes();
        match self.stack.last() {
            Some(f) if f.is_map => match &f.pending {
                Some(k) => {
                    let mut i = k.span.end.byte;
                    while b.get(i).is_some_and(|&c| is_ws(c)) {
                        i += 1;
                    }
                    if b.get(i) == Some(&b':') {
                        i + 1
                    } else {
                        k.span.end.byte
                    }
                }
                None => mark,
            },
            Some(f) if !f.flow => {
                let mut i = f.items.last().map_or(f.content_start, |n| n.span.end.byte);
                loop {
                    match b.get(i) {
                        Some(&c) if is_ws(c) => i += 1,
                        Some(b'#') => i = line_end(b, i),
                        Some(b'-') => return i + 1,
                        _ => return mark,
                    }
                }
            }
            _ => mark,
        }
    }

    fn attach(&mut self, node: Node) -> Result<(), ParseError> {
        let Some(f) = self.stack.last_mut() else {
            if self.root.is_some() {
                return Err(self.err_at(node.span.start.byte, "more than one root node"));
            }
            self.root = Some(node);
            return Ok(());
        };
        if !f.is_map {
            f.items.push(node);
            return Ok(());
        }
        match f.pending.take() {
            Some(k) => f.entries.push((k, node)),
            None => {
                if let Some(key) = node.as_scalar() {
                    let line = node.span.start.line;
                    if let Some(&first) = f.keys.get(key) {
                        let msg = format!(
                            "duplicate mapping key `{key}` at line {line} (first defined at line {first})"
                        );
                        let at = node.span.start.byte;
                        return Err(self.err_at(at, msg));
                    }
                    f.keys.insert(key.to_owned(), line);
                }
                f.pending = Some(node);
            }
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        value: String,
        style: TScalarStyle,
        has_anchor: bool,
        has_tag: bool,
        mark: &Marker,
    ) -> Result<(), ParseError> {
        let mb = self.mark_byte(mark);
        let (tag, anchor, pstart, pend) = self.take_props(has_anchor, has_tag, mb)?;
        let style = match style {
            TScalarStyle::Plain => ScalarStyle::Plain,
            TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
            TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
            TScalarStyle::Literal => ScalarStyle::Literal,
            TScalarStyle::Folded => ScalarStyle::Folded,
        };
        let (cs, ce) = if value.is_empty() && style == ScalarStyle::Plain {
            let p = if pstart.is_some() {
                pend
            } else {
                self.empty_pos(mb)
            };
            (p, p)
        } else {
            let end = match style {
                ScalarStyle::Plain => plain_end(self.src, mb, &value),
                ScalarStyle::SingleQuoted => single_quoted_end(self.src, mb),
                ScalarStyle::DoubleQuoted => double_quoted_end(self.src, mb),
                ScalarStyle::Literal | ScalarStyle::Folded => {
                    // yaml-rust2 marks the first content line, not the `|`/`>` indicator.
                    let from = pstart.map_or_else(|| self.prev_end(), |_| pend);
                    let header = self.block_header(from).unwrap_or(mb);
                    let end = block_end(self.src, header, self.parent_indent());
                    return self.finish_scalar(value, style, tag, anchor, pstart, header, end);
                }
            };
            (mb, end)
        };
        self.finish_scalar(value, style, tag, anchor, pstart, cs, ce)
    }

    /// End of what precedes the next node of the innermost collection (its key or the
    /// previous item), or the document start.
    fn prev_end(&self) -> usize {
        match self.stack.last() {
            Some(f) if f.is_map => f
                .pending
                .as_ref()
                .map_or(f.content_start, |k| k.span.end.byte),
            Some(f) => f.items.last().map_or(f.content_start, |n| n.span.end.byte),
            None => 0,
        }
    }

    /// The block scalar indicator after `from`, skipping `:`, `-`, `?`, whitespace and comments.
    fn block_header(&self, from: usize) -> Option<usize> {
        let b = self.src.as_bytes();
        let mut i = from;
        loop {
            match b.get(i)? {
                b'|' | b'>' => return Some(i),
                c if is_ws(*c) || matches!(c, b':' | b'-' | b'?') => i += 1,
                b'#' => i = line_end(b, i),
                _ => return None,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_scalar(
        &mut self,
        value: String,
        style: ScalarStyle,
        tag: Option<String>,
        anchor: Option<String>,
        pstart: Option<usize>,
        cs: usize,
        ce: usize,
    ) -> Result<(), ParseError> {
        let start = pstart.map_or(cs, |p| p.min(cs));
        let node = Node {
            kind: NodeKind::Scalar { value, style },
            tag,
            anchor,
            flow: false,
            span: self.span(start, ce),
            content: self.span(cs, ce),
            via: Via::default(),
        };
        self.attach(node)
    }

    fn alias(&mut self, mark: &Marker) -> Result<(), ParseError> {
        let mb = self.mark_byte(mark);
        let Some(p) = self.props.get(self.next_prop) else {
            return Err(self.err_at(mb, "internal error: alias not found"));
        };
        if p.kind != PropKind::Alias {
            return Err(self.err_at(mb, "internal error: alias mismatch"));
        }
        self.next_prop += 1;
        let name = p.name.clone();
        let start = p.start;
        let end = boundary(self.src, start + 1 + name.len());
        let span = self.span(start, end);
        self.attach(Node {
            kind: NodeKind::Alias(name),
            tag: None,
            anchor: None,
            flow: false,
            span,
            content: span,
            via: Via::default(),
        })
    }

    fn start(
        &mut self,
        is_map: bool,
        has_anchor: bool,
        has_tag: bool,
        mark: &Marker,
    ) -> Result<(), ParseError> {
        let mb = self.mark_byte(mark);
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err_at(mb, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let (tag, anchor, pstart, pend) = self.take_props(has_anchor, has_tag, mb)?;
        let bytes = self.src.as_bytes();
        let mut mb = mb;
        if !is_map && !matches!(bytes.get(mb), Some(b'[' | b'-')) && !self.in_flow() {
            // yaml-rust2 marks an indentless sequence at its first item: find its `-`.
            let mut i = pstart.map_or_else(|| self.prev_end(), |_| pend);
            loop {
                match bytes.get(i) {
                    Some(b'-') => {
                        mb = i;
                        break;
                    }
                    Some(&c) if is_ws(c) || matches!(c, b':' | b'?') => i += 1,
                    Some(b'#') => i = line_end(bytes, i),
                    _ => break,
                }
            }
        }
        let (flow, implicit) = match self.src.as_bytes().get(mb) {
            Some(b'[') if !is_map => (true, false),
            Some(b'{') if is_map => (true, false),
            _ if self.in_flow() => (true, true),
            _ => (false, false),
        };
        self.stack.push(Frame {
            is_map,
            flow,
            implicit,
            tag,
            anchor,
            start: pstart,
            content_start: mb,
            col: mark.col(),
            items: Vec::new(),
            entries: Vec::new(),
            pending: None,
            keys: HashMap::new(),
        });
        Ok(())
    }

    fn end(&mut self, mark: &Marker) -> Result<(), ParseError> {
        let mb = self.mark_byte(mark);
        let Some(mut f) = self.stack.pop() else {
            return Err(self.err_at(mb, "internal error: unbalanced collection end"));
        };
        if let Some(k) = f.pending.take() {
            let p = k.span.end;
            let empty = Node {
                kind: NodeKind::Scalar {
                    value: String::new(),
                    style: ScalarStyle::Plain,
                },
                tag: None,
                anchor: None,
                flow: false,
                span: Span { start: p, end: p },
                content: Span { start: p, end: p },
                via: Via::default(),
            };
            f.entries.push((k, empty));
        }
        let first_child = if f.is_map {
            f.entries.first().map(|(k, _)| k.span.start.byte)
        } else {
            f.items.first().map(|n| n.span.start.byte)
        };
        let last_child = if f.is_map {
            f.entries.last().map(|(_, v)| v.span.end.byte)
        } else {
            f.items.last().map(|n| n.span.end.byte)
        };
        let content_start = match first_child {
            Some(c) if !f.flow || f.implicit => f.content_start.min(c),
            _ => f.content_start,
        };
        let end = if f.flow && !f.implicit {
            let from = last_child.unwrap_or(content_start + 1);
            let close = if f.is_map { b'}' } else { b']' };
            flow_close(self.src, from, close)
        } else {
            last_child.unwrap_or(content_start)
        };
        let end = end.max(content_start);
        let start = f.start.map_or(content_start, |s| s.min(content_start));
        let kind = if f.is_map {
            NodeKind::Mapping(f.entries)
        } else {
            NodeKind::Sequence(f.items)
        };
        let node = Node {
            kind,
            tag: f.tag,
            anchor: f.anchor,
            flow: f.flow,
            span: self.span(start, end),
            content: self.span(content_start, end),
            via: Via::default(),
        };
        self.attach(node)
    }
}

fn collect_props(body: &str, base: usize, idx: &mut LineIndex<'_>) -> Vec<PropTok> {
    let mut out = Vec::new();
    let mut scanner = Scanner::new(body.chars());
    loop {
        let tok = match catch_unwind(AssertUnwindSafe(|| scanner.next())) {
            Ok(Some(t)) => t,
            _ => break,
        };
        let (kind, name) = match tok.1 {
            TokenType::Anchor(n) => (PropKind::Anchor, n),
            TokenType::Alias(n) => (PropKind::Alias, n),
            TokenType::Tag(..) => (PropKind::Tag, String::new()),
            TokenType::StreamEnd => break,
            _ => continue,
        };
        let start = idx.byte_of(tok.0.line(), tok.0.col()).max(base);
        out.push(PropTok { kind, start, name });
    }
    out
}

/// Parses a YAML template (`bom` bytes of byte-order mark are skipped).
/// How many closing brackets [`parse`] moves before it gives up (each costs one more parse).
const MAX_CLOSERS_MOVED: usize = 64;

/// Parses YAML, accepting a flow collection's closing bracket on a line of its own less
/// indented than yaml-rust2 wants:
///
/// ```yaml
///     Statement:
///       - Effect: Allow
///         Action: [
///           "logs:GetLogRecord"
///         ]
/// ```
///
/// yaml-rust2 refuses the `]` ("invalid indentation": the YAML spec wants it indented past the
/// mapping), where PyYAML, Go's yaml.v3 and CloudFormation accept it; Copilot's own
/// environment template is written so. On that error, at a `]` or `}` that starts its line,
/// the bracket is moved to the end of the previous line in a copy of the text (the line break
/// and indentation after it instead: the same length, so every other byte keeps its offset,
/// and the same lines), the copy is parsed again, and the spans that end at a moved bracket are
/// put back where it is written. A previous line with a `#` (maybe a comment) is left alone.
pub(crate) fn parse(origin: &Path, src: &str, bom: usize) -> Result<Node, ParseError> {
    let first = match parse_text(origin, src, bom) {
        Err(e) if e.message == "invalid indentation" => e,
        other => return other,
    };
    let mut text = src.to_owned();
    // (where the bracket is in `text`, where it is written in `src`)
    let mut moved: Vec<(usize, usize)> = Vec::new();
    let mut at = first.at.span.start.byte;
    while moved.len() < MAX_CLOSERS_MOVED {
        let Some(to) = move_closer(&mut text, at, bom) else {
            return Err(first);
        };
        // A bracket moved twice (over a blank line) is still the one written at `at`'s origin.
        let written = moved
            .iter()
            .position(|&(now, _)| now == at)
            .map_or(at, |i| moved.remove(i).1);
        moved.push((to, written));
        match parse_text(origin, &text, bom) {
            Ok(mut root) => {
                let idx = LineIndex::new(src, bom);
                put_back(&mut root, &moved, &idx);
                return Ok(root);
            }
            Err(e) if e.message == "invalid indentation" => at = e.at.span.start.byte,
            Err(_) => return Err(first),
        }
    }
    Err(first)
}

/// Moves the `]` or `}` at `at`, first on its line, to the end of the previous line (see
/// [`parse`]); returns its new offset.
fn move_closer(text: &mut String, at: usize, bom: usize) -> Option<usize> {
    let b = text.as_bytes();
    if !matches!(b.get(at), Some(b']' | b'}')) {
        return None;
    }
    let line_start = text[..at].rfind('\n')? + 1;
    if line_start <= bom || !b[line_start..at].iter().all(|&c| c == b' ' || c == b'\t') {
        return None;
    }
    let mut from = line_start - 1; // the '\n'
    if from > 0 && b[from - 1] == b'\r' {
        from -= 1;
    }
    let prev_start = text[..from].rfind('\n').map_or(bom, |i| i + 1);
    if text[prev_start..from].contains('#') {
        return None;
    }
    let closer = b[at] as char;
    let gap = text[from..at].to_owned(); // the line break and the indentation
    let indentation = gap.trim_start_matches(['\r', '\n']).to_owned();
    let line_break = &gap[..gap.len() - indentation.len()];
    let replacement = format!("{closer}{indentation}{line_break}");
    text.replace_range(from..=at, &replacement);
    Some(from)
}

/// Spans that end just after a moved bracket end just after it where it is written.
fn put_back(node: &mut Node, moved: &[(usize, usize)], idx: &LineIndex<'_>) {
    for span in [&mut node.span, &mut node.content] {
        if let Some(&(_, written)) = moved.iter().find(|&&(now, _)| span.end.byte == now + 1) {
            span.end = idx.pos(written + 1);
        }
    }
    match &mut node.kind {
        NodeKind::Sequence(items) => items.iter_mut().for_each(|n| put_back(n, moved, idx)),
        NodeKind::Mapping(entries) => entries.iter_mut().for_each(|(k, v)| {
            put_back(k, moved, idx);
            put_back(v, moved, idx);
        }),
        NodeKind::Scalar { .. } | NodeKind::Alias(_) => {}
    }
}

fn parse_text(origin: &Path, src: &str, bom: usize) -> Result<Node, ParseError> {
    let body = src.get(bom..).unwrap_or("");
    let mut idx = LineIndex::new(src, bom);
    let props = collect_props(body, bom, &mut idx);
    let mut b = Builder {
        origin,
        src,
        idx,
        props,
        next_prop: 0,
        stack: Vec::new(),
        root: None,
    };
    let mut parser = Parser::new_from_str(body);
    let mut docs = 0usize;
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| parser.next_token()));
        let (ev, mark) = match next {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(b.scan_err(&e)),
            Err(_) => {
                let at = b.stack.last().map_or(bom, |f| f.content_start);
                return Err(b.err_at(at, "internal YAML parser error"));
            }
        };
        match ev {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart => {
                docs += 1;
                if docs > 1 {
                    let at = b.mark_byte(&mark);
                    return Err(b.err_at(
                        at,
                        "more than one YAML document; a template is a single mapping",
                    ));
                }
            }
            Event::Alias(_) => b.alias(&mark)?,
            Event::Scalar(v, style, aid, tag) => {
                b.scalar(v, style, aid > 0, tag.is_some(), &mark)?;
            }
            Event::SequenceStart(aid, tag) => b.start(false, aid > 0, tag.is_some(), &mark)?,
            Event::MappingStart(aid, tag) => b.start(true, aid > 0, tag.is_some(), &mark)?,
            Event::SequenceEnd | Event::MappingEnd => b.end(&mark)?,
        }
    }
    match b.root.take() {
        Some(root) if matches!(root.kind, NodeKind::Mapping(_)) => Ok(root),
        Some(root) => Err(b.err_at(root.span.start.byte, "the template root must be a mapping")),
        None => Err(b.err_at(bom, "empty template; expected a mapping")),
    }
}
