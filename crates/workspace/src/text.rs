//! Line-level text surgery: the region of source lines an entry occupies (with its comments),
//! and copying such a region to a new indentation while recording, for every produced line,
//! where it came from.

use cfn_yaml::{Node, NodeKind, Pos};

/// A source text split into lines (1-based), with byte offsets.
pub(crate) struct Src<'a> {
    text: &'a str,
    /// Byte offset where each line starts; `starts[0]` is line 1.
    starts: Vec<usize>,
}

impl<'a> Src<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Src { text, starts }
    }
    pub(crate) fn line_count(&self) -> usize {
        self.starts.len()
    }
    fn line_start(&self, line: usize) -> usize {
        line.checked_sub(1)
            .and_then(|i| self.starts.get(i))
            .copied()
            .unwrap_or(self.text.len())
    }
    /// Byte offset of the end of `line` (before its `\n`).
    fn line_end(&self, line: usize) -> usize {
        match self.starts.get(line) {
            Some(next) => next.saturating_sub(1),
            None => self.text.len(),
        }
    }
    /// The text of a line without its `\n` (a `\r` is kept); a BOM is dropped.
    pub(crate) fn line(&self, line: usize) -> &'a str {
        let s = self.slice(self.line_start(line), self.line_end(line));
        s.strip_prefix('\u{feff}').unwrap_or(s)
    }
    /// `text[a..b]`, or "" when that is not a valid range.
    pub(crate) fn slice(&self, a: usize, b: usize) -> &'a str {
        self.text.get(a..b).unwrap_or("")
    }
}

pub(crate) fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Number of leading spaces.
pub(crate) fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The line holding the last character of a span ending at `end` and starting on `start_line`.
fn last_line(start_line: usize, end: Pos) -> usize {
    if end.col <= 1 && end.line > start_line {
        end.line - 1
    } else {
        end.line.max(start_line)
    }
}

/// Where a mapping entry ends: its value's end, or its key's when the value is empty.
pub(crate) fn entry_end(key: &Node, value: &Node) -> Pos {
    if value.span.end.byte >= key.span.end.byte {
        value.span.end
    } else {
        key.span.end
    }
}

/// The lines an entry (or sequence item) occupies in its source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Region {
    /// First line of the comments that lead the entry (`start.line` when none).
    pub lead: usize,
    /// Start of the key (or item).
    pub start: Pos,
    /// End of the value.
    pub end: Pos,
    /// Last line of the entry including the deeper-indented comments that follow it.
    pub last: usize,
    /// Whether a blank line separates the entry from what precedes it.
    pub blank_before: bool,
    /// Whether the entry belongs to a flow collection (cut at `end`, no comments).
    pub flow: bool,
}

/// Regions of the entries of `mapping`, which starts after line `lower` (the line of the key
/// owning it, or 0 for the document).
pub(crate) fn mapping_regions(src: &Src, mapping: &Node, lower: usize) -> Vec<Region> {
    let entries = mapping.entries();
    if mapping.flow {
        return entries
            .iter()
            .map(|(k, v)| flow_region(k.span.start, entry_end(k, v)))
            .collect();
    }
    let mut bound = lower;
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let r = block_region(src, k.span.start, entry_end(k, v), bound);
        bound = r.last;
        out.push(r);
    }
    out
}

/// Regions of the items of a sequence (block or flow).
pub(crate) fn sequence_regions(src: &Src, seq: &Node, lower: usize) -> Vec<Region> {
    let NodeKind::Sequence(items) = &seq.kind else {
        return Vec::new();
    };
    if seq.flow {
        return items
            .iter()
            .map(|i| flow_region(i.span.start, i.span.end))
            .collect();
    }
    let mut bound = lower;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let mut r = block_region(src, i.span.start, i.span.end, bound);
        // Comments above an item are above its `- `, which the region does not start at:
        // leading comments are only taken for mapping entries.
        r.lead = r.start.line;
        bound = r.last;
        out.push(r);
    }
    out
}

pub(crate) fn flow_region(start: Pos, end: Pos) -> Region {
    Region {
        lead: start.line,
        start,
        end,
        last: last_line(start.line, end),
        blank_before: false,
        flow: true,
    }
}

fn block_region(src: &Src, start: Pos, end: Pos, bound: usize) -> Region {
    let key_indent = start.col.saturating_sub(1);
    let mut lead = start.line;
    while lead > bound + 1 && lead > 1 && {
        let l = src.line(lead - 1);
        is_comment(l) || is_blank(l)
    } {
        lead -= 1;
    }
    while lead < start.line && is_blank(src.line(lead)) {
        lead += 1;
    }
    let blank_before = lead > bound + 1 && lead > 1 && is_blank(src.line(lead - 1));
    let end_line = last_line(start.line, end);
    let mut last = end_line;
    let mut probe = end_line + 1;
    while probe <= src.line_count() {
        let l = src.line(probe);
        if is_blank(l) {
        } else if is_comment(l) && indent_of(l) > key_indent {
            last = probe;
        } else {
            break;
        }
        probe += 1;
    }
    Region {
        lead,
        start,
        end,
        last,
        blank_before,
        flow: false,
    }
}

/// One produced line and where it comes from: `orig_col = col - shift` on `line` of `file`.
#[derive(Debug, Clone)]
pub(crate) struct OutLine {
    pub text: String,
    pub file: usize,
    pub line: usize,
    pub shift: isize,
}

/// Produced lines.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub lines: Vec<OutLine>,
}

impl Out {
    pub(crate) fn push(&mut self, text: String, file: usize, line: usize, shift: isize) {
        self.lines.push(OutLine {
            text,
            file,
            line,
            shift,
        });
    }
    /// Adds a blank line unless there is nothing yet or the last line is blank.
    pub(crate) fn blank(&mut self) {
        if let Some(last) = self.lines.last()
            && !is_blank(&last.text)
        {
            let (file, line) = (last.file, last.line);
            self.push(String::new(), file, line, 0);
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    pub(crate) fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }
}

/// `line` moved right (`delta > 0`) or left by `delta` columns; empty lines stay empty, and a
/// line never loses more than its leading spaces.
pub(crate) fn shift_line(line: &str, delta: isize) -> String {
    if line.is_empty() || line == "\r" {
        return line.to_string();
    }
    if delta >= 0 {
        let mut s = " ".repeat(delta.unsigned_abs());
        s.push_str(line);
        s
    } else {
        let n = indent_of(line).min(delta.unsigned_abs());
        line.get(n..).unwrap_or(line).to_string()
    }
}

/// Copies the region `r` of `src` (file number `file`) so that its key (or item) starts after
/// `indent` spaces and `marker` (`""` or `"- "`). Leading comments are re-indented to `indent`.
/// Block regions are shifted uniformly (so block structure, block scalars and multi-line
/// scalars keep their meaning); flow regions are cut at their end and their continuation
/// lines are moved at least one column deeper than `indent`.
pub(crate) fn emit(
    out: &mut Out,
    src: &Src,
    file: usize,
    r: &Region,
    indent: usize,
    marker: &str,
    with_leading: bool,
) {
    let pad = " ".repeat(indent);
    if with_leading {
        emit_leading(out, src, file, r, indent);
    }
    let end_line = last_line(r.start.line, r.end);
    let first_end = if r.flow && end_line == r.start.line {
        r.end.byte
    } else {
        src.line_end(r.start.line)
    };
    let first = src.slice(r.start.byte, first_end.max(r.start.byte));
    let head = indent + marker.chars().count();
    let shift = head as isize + 1 - r.start.col as isize;
    out.push(format!("{pad}{marker}{first}"), file, r.start.line, shift);
    let last = if r.flow { end_line } else { r.last };
    if last <= r.start.line {
        return;
    }
    let cont = |l: usize| -> &str {
        if r.flow && l == end_line {
            src.slice(src.line_start(l), r.end.byte.max(src.line_start(l)))
        } else {
            src.line(l)
        }
    };
    let delta = if r.flow {
        let min = (r.start.line + 1..=last)
            .map(cont)
            .filter(|l| !is_blank(l))
            .map(indent_of)
            .min()
            .unwrap_or(0);
        shift.max((indent + 1) as isize - min as isize)
    } else {
        shift
    };
    for l in r.start.line + 1..=last {
        out.push(shift_line(cont(l), delta), file, l, delta);
    }
}

/// Writes only the leading comments of a region, re-indented to `indent`.
pub(crate) fn emit_leading(out: &mut Out, src: &Src, file: usize, r: &Region, indent: usize) {
    if r.flow {
        return;
    }
    for l in r.lead..r.start.line {
        let text = src.line(l);
        if is_blank(text) {
            out.push(String::new(), file, l, 0);
        } else {
            let shift = indent as isize - indent_of(text) as isize;
            out.push(
                format!("{}{}", " ".repeat(indent), text.trim_start()),
                file,
                l,
                shift,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfn_yaml::Template;
    use std::path::Path;

    fn parse(text: &str) -> Template {
        Template::parse(Path::new("t.yml"), text.to_string()).expect("parses")
    }

    #[test]
    fn shift_line_moves_only_leading_spaces() {
        assert_eq!(shift_line("  a: b", 2), "    a: b");
        assert_eq!(shift_line("    a: b", -2), "  a: b");
        assert_eq!(shift_line(" a", -3), "a");
        assert_eq!(shift_line("", 4), "");
        assert_eq!(shift_line("\r", 4), "\r");
        assert_eq!(shift_line("   ", 2), "     ");
    }

    #[test]
    fn src_lines() {
        let s = Src::new("\u{feff}a\r\nb\n\nc");
        assert_eq!(s.line_count(), 4);
        assert_eq!(s.line(1), "a\r");
        assert_eq!(s.line(2), "b");
        assert_eq!(s.line(3), "");
        assert_eq!(s.line(4), "c");
        assert_eq!(s.line(0), "");
        assert_eq!(s.line(9), "");
        assert_eq!(s.slice(3, 1), "");
        assert_eq!(s.slice(0, 99), "");
    }

    #[test]
    fn block_regions_take_leading_and_deeper_trailing_comments() {
        let text = "R:\n  # lead A\n  A:\n    x: 1\n    # inside A\n\n  # lead B\n\n  B: 2\n# top-level comment\nS: 1\n";
        let t = parse(text);
        let src = Src::new(text);
        let r = t.root().get("R").expect("R");
        let regions = mapping_regions(&src, r, 1);
        assert_eq!(regions.len(), 2);
        let (a, b) = (regions[0], regions[1]);
        assert_eq!(
            (a.lead, a.start.line, a.last, a.blank_before),
            (2, 3, 5, false)
        );
        assert_eq!(
            (b.lead, b.start.line, b.last, b.blank_before),
            (7, 9, 9, true)
        );
    }

    #[test]
    fn emit_reindents_block_and_flow_entries() {
        let text = "R:\n    A:\n        x: |\n            lit\n\n              more\n    B: {y: [1,\n     2]}\n";
        let t = parse(text);
        let src = Src::new(text);
        let r = t.root().get("R").expect("R");
        let regions = mapping_regions(&src, r, 1);
        let mut out = Out::default();
        emit(&mut out, &src, 0, &regions[0], 2, "", true);
        emit(&mut out, &src, 0, &regions[1], 2, "", true);
        assert_eq!(
            out.text(),
            "  A:\n      x: |\n          lit\n\n            more\n  B: {y: [1,\n   2]}\n"
        );
        // Origins: same line, columns shifted by -2.
        let shifts: Vec<_> = out.lines.iter().map(|l| (l.line, l.shift)).collect();
        assert_eq!(
            shifts,
            [
                (2, -2),
                (3, -2),
                (4, -2),
                (5, -2),
                (6, -2),
                (7, -2),
                (8, -2)
            ]
        );
        let merged = format!("R:\n{}", out.text());
        let m = parse(&merged);
        assert_eq!(
            m.root()
                .get_path(&["R", "A", "x"])
                .and_then(|n| n.as_scalar()),
            Some("lit\n\n  more\n")
        );

        let flow = "{\"R\": {\"A\": 1, \"B\": {\"c\":\n\"d\"}}}";
        let t = parse(flow);
        let src = Src::new(flow);
        let r = t.root().get("R").expect("R");
        let regions = mapping_regions(&src, r, 0);
        let mut out = Out::default();
        for reg in &regions {
            emit(&mut out, &src, 0, reg, 2, "", true);
        }
        assert_eq!(out.text(), "  \"A\": 1\n  \"B\": {\"c\":\n   \"d\"}\n");
    }

    #[test]
    fn sequence_items_are_emitted_after_a_marker() {
        let text = "T:\n- A # first\n-   B\nU: [C, D]\n";
        let t = parse(text);
        let src = Src::new(text);
        let mut out = Out::default();
        for key in ["T", "U"] {
            let seq = t.root().get(key).expect("seq");
            for r in sequence_regions(&src, seq, 1) {
                emit(&mut out, &src, 0, &r, 2, "- ", false);
            }
        }
        assert_eq!(out.text(), "  - A # first\n  - B\n  - C\n  - D\n");
    }
}
