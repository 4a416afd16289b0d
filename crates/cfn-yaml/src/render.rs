//! Lossless rendering: splicing replacements into the original text.

use std::collections::HashMap;

use crate::quote::{double_quoted, json_string, single_quoted, yaml_scalar};
use crate::resolve::{Anchors, Entry, MAX_RESOLVED_DEPTH, Slot, is_merge_key};
use crate::{Edits, Format, Node, NodeKind, Replacement, ScalarStyle, Template, Via};

#[derive(Debug, Clone, Copy)]
enum Role {
    Root,
    Key,
    /// A mapping value; `key_col` is the 0-based column of its key, `step` the indentation step
    /// of the mapping that owns it (when it is nested under a key).
    Value {
        key_col: usize,
        step: Option<usize>,
        /// Byte offset where its key starts.
        key_start: usize,
    },
    Item,
}

#[derive(Debug, Clone, Copy)]
struct Ctx {
    in_flow: bool,
    role: Role,
}

struct Splice {
    start: usize,
    end: usize,
    text: String,
}

fn col0(n: &Node) -> usize {
    n.span.start.col.saturating_sub(1)
}

/// The document's indentation step: the first block mapping nested under a block mapping key.
fn infer_step(node: &Node, depth: usize) -> Option<usize> {
    if depth > crate::MAX_DEPTH {
        return None;
    }
    match &node.kind {
        NodeKind::Mapping(entries) if !node.flow => {
            for (k, v) in entries {
                if let NodeKind::Mapping(_) = v.kind
                    && !v.flow
                    && v.content.start.line > k.span.start.line
                    && let Some(s) = col0(v).checked_sub(col0(k)).filter(|s| *s > 0)
                {
                    return Some(s);
                }
            }
            entries.iter().find_map(|(_, v)| infer_step(v, depth + 1))
        }
        NodeKind::Sequence(items) if !node.flow => {
            items.iter().find_map(|v| infer_step(v, depth + 1))
        }
        _ => None,
    }
}

fn flow_mapping(pairs: &[(String, String)], json: bool) -> String {
    let quote = |s: &str| {
        if json {
            json_string(s)
        } else {
            yaml_scalar(s, true)
        }
    };
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn block_lines(pairs: &[(String, String)], indent: usize, eol: &str) -> String {
    let pad = " ".repeat(indent);
    pairs
        .iter()
        .map(|(k, v)| format!("{pad}{}: {}", yaml_scalar(k, false), yaml_scalar(v, false)))
        .collect::<Vec<_>>()
        .join(eol)
}

struct R<'t> {
    src: &'t str,
    json: bool,
    eol: &'static str,
    global_step: Option<usize>,
    /// Replacements by (via, span start, span end).
    wanted: HashMap<(Via, usize, usize), &'t Replacement>,
    /// Present when the source has anchors, aliases or merge keys.
    anchors: Option<&'t Anchors<'t>>,
    /// The context of every collection and anchored node, by span (for unrolling).
    ctxs: HashMap<(usize, usize), Ctx>,
}

impl R<'_> {
    fn byte_before(&self, i: usize) -> Option<u8> {
        i.checked_sub(1)
            .and_then(|j| self.src.as_bytes().get(j).copied())
    }

    /// The start of the run of blanks (spaces, tabs) that ends at byte `i`.
    fn blanks_before(&self, mut i: usize) -> usize {
        while matches!(self.byte_before(i), Some(b' ' | b'\t')) {
            i -= 1;
        }
        i
    }

    /// The end of the run of blanks (spaces, tabs) that starts at byte `i`.
    fn blanks_after(&self, mut i: usize) -> usize {
        while matches!(self.src.as_bytes().get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    }

    /// Whether a zero-width insertion at `i` needs a separating space.
    fn needs_space(&self, i: usize) -> bool {
        self.byte_before(i)
            .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b','))
    }

    /// The last byte before `i` that is not a blank or a line break.
    fn last_non_blank_before(&self, i: usize) -> Option<u8> {
        self.src.as_bytes()[..i.min(self.src.len())]
            .iter()
            .rev()
            .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .copied()
    }

    /// The blanks before the `?` of an explicit key starting at `key_start`, when only they and
    /// the `?` precede the key on its line.
    fn explicit_key_indent(&self, key_start: usize) -> Option<&str> {
        let before = self.src.get(..key_start)?;
        let line = &before[before.rfind(['\n', '\r']).map_or(0, |i| i + 1)..];
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let rest = line[indent_len..].strip_prefix('?')?;
        rest.trim_start_matches([' ', '\t'])
            .is_empty()
            .then(|| &line[..indent_len])
    }

    /// Start of the line containing `i` if only blanks precede `i` on it.
    fn blank_line_start(&self, i: usize) -> Option<usize> {
        let mut a = i;
        while matches!(self.byte_before(a), Some(b' ' | b'\t')) {
            a -= 1;
        }
        match self.byte_before(a) {
            None | Some(b'\n' | b'\r') => Some(a),
            _ => None,
        }
    }

    fn step(&self, local: Option<usize>) -> usize {
        local.or(self.global_step).unwrap_or(2)
    }

    fn splice(&self, node: &Node, ctx: Ctx, rep: &Replacement) -> Splice {
        let (s0, s1) = (node.span.start.byte, node.span.end.byte);
        match rep {
            Replacement::String(s) => {
                if self.json {
                    return Splice {
                        start: s0,
                        end: s1,
                        text: json_string(s),
                    };
                }
                let mut text = match &node.kind {
                    NodeKind::Scalar {
                        style: ScalarStyle::SingleQuoted,
                        ..
                    } => single_quoted(s).unwrap_or_else(|| double_quoted(s)),
                    NodeKind::Scalar {
                        style: ScalarStyle::DoubleQuoted,
                        ..
                    } => double_quoted(s),
                    _ => yaml_scalar(s, ctx.in_flow),
                };
                let (mut a, b) = (node.content.start.byte, node.content.end.byte);
                if !matches!(node.kind, NodeKind::Scalar { .. })
                    && let Role::Value { key_col, step, .. } = ctx.role
                    && node.content.start.col.saturating_sub(1) <= key_col
                    && let Some(ls) = self.blank_line_start(a)
                {
                    // e.g. an indentless sequence under its key: indent the scalar instead.
                    a = ls;
                    text = format!("{}{text}", " ".repeat(key_col + self.step(step)));
                } else if a == b
                    && let Role::Value { key_start, .. } = ctx.role
                    && self.last_non_blank_before(a) != Some(b':')
                {
                    // An entry without `:` has an empty value and needs the indicator:
                    // `{ key }` in flow, `? key` in block (`:` on a line of its own, indented
                    // like the `?`).
                    let key = self.src.get(key_start..a).unwrap_or_default();
                    if ctx.in_flow
                        && key.contains(['\n', '\r'])
                        && self.last_non_blank_before(key_start) != Some(b'?')
                    {
                        // A key on several lines may only be an explicit one.
                        return Splice {
                            start: key_start,
                            end: b,
                            text: format!("? {key}: {text}"),
                        };
                    }
                    if ctx.in_flow {
                        text.insert_str(0, ": ");
                    } else if let Some(indent) = self.explicit_key_indent(key_start) {
                        text = format!("{}{indent}: {text}", self.eol);
                    } else if self.needs_space(a) {
                        text.insert(0, ' ');
                    }
                } else if a == b && self.needs_space(a) {
                    text.insert(0, ' ');
                }
                Splice {
                    start: a,
                    end: b,
                    text,
                }
            }
            Replacement::Mapping(pairs) => {
                if self.json {
                    return Splice {
                        start: s0,
                        end: s1,
                        text: flow_mapping(pairs, true),
                    };
                }
                // Anchors are dropped (aliases are unrolled).
                let anchor: Option<String> = None;
                let flow = |r: &Self| {
                    let mut text = flow_mapping(pairs, false);
                    if let Some(a) = &anchor {
                        text = format!("{a} {text}");
                    }
                    if s0 == s1 && r.needs_space(s0) {
                        text.insert(0, ' ');
                    }
                    Splice {
                        start: s0,
                        end: s1,
                        text,
                    }
                };
                if ctx.in_flow || pairs.is_empty() {
                    return flow(self);
                }
                match ctx.role {
                    Role::Root | Role::Key => flow(self),
                    Role::Value { key_col, step, .. } => {
                        let indent = key_col + self.step(step);
                        let lines = block_lines(pairs, indent, self.eol);
                        match self.blank_line_start(s0) {
                            Some(ls) => {
                                let text = match &anchor {
                                    Some(a) => {
                                        format!("{}{a}{}{lines}", " ".repeat(indent), self.eol)
                                    }
                                    None => lines,
                                };
                                Splice {
                                    start: ls,
                                    end: s1,
                                    text,
                                }
                            }
                            None => {
                                let mut a = s0;
                                while matches!(self.byte_before(a), Some(b' ' | b'\t')) {
                                    a -= 1;
                                }
                                let props = anchor.as_ref().map(|a| format!(" {a}"));
                                Splice {
                                    start: a,
                                    end: s1,
                                    text: format!(
                                        "{}{}{lines}",
                                        props.unwrap_or_default(),
                                        self.eol
                                    ),
                                }
                            }
                        }
                    }
                    Role::Item => {
                        let mut indent = col0(node);
                        let mut prefix = "";
                        if s0 == s1 && self.needs_space(s0) {
                            prefix = " ";
                            indent += 1;
                        }
                        let lines = block_lines(pairs, indent, self.eol);
                        let text = match &anchor {
                            Some(a) => format!("{prefix}{a}{}{lines}", self.eol),
                            None => format!("{prefix}{}", lines.get(indent..).unwrap_or("")),
                        };
                        Splice {
                            start: s0,
                            end: s1,
                            text,
                        }
                    }
                }
            }
        }
    }
}

/// Shifts the indentation of the lines of `text` by `delta` (never below 0, and for lines that
/// are not blank never below `min`), leaving the first line alone when `skip_first`.
fn shift(text: &str, delta: isize, skip_first: bool, min: Option<usize>) -> String {
    if delta == 0 && min.is_none() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 64);
    for (i, line) in lines_inclusive(text).enumerate() {
        if i == 0 && skip_first {
            out.push_str(line);
            continue;
        }
        let body = line.trim_start_matches(' ');
        let lead = line.len() - body.len();
        let blank = body.trim_end_matches(['\n', '\r']).is_empty();
        let mut n = usize::try_from((lead as isize).saturating_add(delta)).unwrap_or(0);
        if !blank && let Some(m) = min {
            n = n.max(m);
        }
        out.extend(std::iter::repeat_n(' ', n));
        out.push_str(body);
    }
    out
}

/// The lines of `text`, each with its break: `\n`, `\r\n`, or a lone `\r` (a line break
/// in YAML too).
fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= b.len() {
            return None;
        }
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'\n' => break,
                b'\r' if b.get(i + 1) != Some(&b'\n') => break,
                _ => i += 1,
            }
        }
        let end = (i + 1).min(b.len());
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

fn signed(a: usize) -> isize {
    isize::try_from(a).unwrap_or(isize::MAX)
}

/// Whether a plain scalar's text can stay plain inside a flow collection.
fn plain_flow_safe(v: &str) -> bool {
    !v.is_empty() && !v.contains([',', '[', ']', '{', '}'])
}

fn child_ctx(in_flow: bool, role: Role) -> Ctx {
    Ctx { in_flow, role }
}

/// The indentation step of a block mapping nested under a key.
fn step_of(n: &Node, ctx: Ctx) -> Option<usize> {
    match ctx.role {
        Role::Value { key_col, .. } if !n.flow => n
            .content
            .start
            .col
            .saturating_sub(1)
            .checked_sub(key_col)
            .filter(|s| *s > 0),
        _ => None,
    }
}

impl<'t> R<'t> {
    fn edit(&self, via: &Via, n: &Node) -> Option<&'t Replacement> {
        if self.wanted.is_empty() {
            return None;
        }
        self.wanted
            .get(&(via.clone(), n.span.start.byte, n.span.end.byte))
            .copied()
    }

    /// Remembers the context of every collection and anchored node.
    fn record(&mut self, n: &Node, ctx: Ctx, depth: usize) {
        if depth > crate::MAX_DEPTH {
            return;
        }
        if n.anchor.is_some() || matches!(n.kind, NodeKind::Mapping(_) | NodeKind::Sequence(_)) {
            self.ctxs.insert((n.span.start.byte, n.span.end.byte), ctx);
        }
        let in_flow = ctx.in_flow || n.flow;
        match &n.kind {
            NodeKind::Mapping(entries) => {
                let step = step_of(n, ctx);
                for (k, v) in entries {
                    self.record(k, child_ctx(in_flow, Role::Key), depth + 1);
                    let role = Role::Value {
                        key_col: col0(k),
                        step,
                        key_start: k.span.start.byte,
                    };
                    self.record(v, child_ctx(in_flow, role), depth + 1);
                }
            }
            NodeKind::Sequence(items) => {
                for it in items {
                    self.record(it, child_ctx(in_flow, Role::Item), depth + 1);
                }
            }
            _ => {}
        }
    }

    fn ctx_of(&self, n: &Node) -> Ctx {
        self.ctxs
            .get(&(n.span.start.byte, n.span.end.byte))
            .copied()
            .unwrap_or(Ctx {
                in_flow: false,
                role: Role::Root,
            })
    }

    /// Applies `splices` to the source range `a..b`.
    fn apply(&self, a: usize, b: usize, mut splices: Vec<Splice>) -> String {
        let src = self.src;
        splices.sort_by(|x, y| x.start.cmp(&y.start).then(y.end.cmp(&x.end)));
        let mut out = String::with_capacity(b.saturating_sub(a) + 256);
        let mut at = a;
        for sp in splices {
            if sp.start < at || sp.end < sp.start || sp.end > b {
                continue;
            }
            let (Some(keep), Some(_)) = (src.get(at..sp.start), src.get(sp.start..sp.end)) else {
                continue;
            };
            out.push_str(keep);
            out.push_str(&sp.text);
            at = sp.end;
        }
        out.push_str(src.get(at..b).unwrap_or(""));
        out
    }

    /// The splices that render `n` (reached through `via`) in place.
    fn collect(&self, n: &'t Node, ctx: Ctx, via: &Via, out: &mut Vec<Splice>, depth: usize) {
        if depth > MAX_RESOLVED_DEPTH {
            return;
        }
        if let Some(rep) = self.edit(via, n) {
            let sp = self.splice(n, ctx, rep);
            if let Some(drop) = self.drop_anchor(n, ctx)
                && drop.end <= sp.start
            {
                out.push(drop);
            }
            out.push(sp);
            return;
        }
        if let NodeKind::Alias(_) = n.kind {
            if let Some(sp) = self.expand_alias(n, ctx, via, depth) {
                out.push(sp);
            }
            return;
        }
        if let Some(drop) = self.drop_anchor(n, ctx) {
            out.push(drop);
        }
        self.collect_children(n, ctx, via, out, depth);
    }

    fn collect_children(
        &self,
        n: &'t Node,
        ctx: Ctx,
        via: &Via,
        out: &mut Vec<Splice>,
        depth: usize,
    ) {
        let in_flow = ctx.in_flow || n.flow;
        match &n.kind {
            NodeKind::Mapping(entries) => {
                let step = step_of(n, ctx);
                let layout = match self.anchors {
                    Some(a) if a.merges && entries.iter().any(|(k, _)| is_merge_key(k)) => {
                        a.layout(n, via).ok()
                    }
                    _ => None,
                };
                for (i, (k, v)) in entries.iter().enumerate() {
                    if let Some(layout) = &layout
                        && is_merge_key(k)
                    {
                        let merged = layout.iter().find_map(|s| match s {
                            Slot::Merged { index, entries } if *index == i => Some(entries),
                            _ => None,
                        });
                        if let Some(merged) = merged {
                            out.push(self.merge_splice(n, i, in_flow, merged, depth));
                        }
                        continue;
                    }
                    self.collect(k, child_ctx(in_flow, Role::Key), via, out, depth + 1);
                    let role = Role::Value {
                        key_col: col0(k),
                        step,
                        key_start: k.span.start.byte,
                    };
                    self.collect(v, child_ctx(in_flow, role), via, out, depth + 1);
                }
            }
            NodeKind::Sequence(items) => {
                for it in items {
                    self.collect(it, child_ctx(in_flow, Role::Item), via, out, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Deletes the `&name` of an anchored node (and the blanks that would be left over).
    fn drop_anchor(&self, n: &Node, ctx: Ctx) -> Option<Splice> {
        let name = n.anchor.as_deref()?;
        let b = self.src.as_bytes();
        let (from, to) = (
            n.span.start.byte,
            n.content.start.byte.max(n.span.start.byte),
        );
        let props = self.src.get(from..to)?;
        let token = format!("&{name}");
        let bounded = |i: usize| {
            let end = i + token.len();
            (i == from || matches!(b.get(i - 1), Some(b' ' | b'\t' | b'\n' | b'\r')))
                && !b.get(end).is_some_and(|c| {
                    !matches!(
                        c,
                        b' ' | b'\t' | b'\n' | b'\r' | b',' | b'[' | b']' | b'{' | b'}'
                    )
                })
        };
        let mut found = props.match_indices(&token).map(|(i, _)| from + i);
        let first = found.clone().next()?;
        // Only properties precede a node's content, so the first match is the anchor even
        // when an odd separator follows it.
        let at = found.find(|&i| bounded(i)).unwrap_or(first);
        let end = at + token.len();
        let after = self.blanks_after(end);
        let is_key = matches!(ctx.role, Role::Key);
        // In flow context what ends an empty node may come lines later, after comments.
        let mut next = after;
        if ctx.in_flow {
            loop {
                match b.get(next) {
                    Some(b' ' | b'\t' | b'\n' | b'\r') => next += 1,
                    Some(b'#') => {
                        while !matches!(b.get(next), None | Some(b'\n')) {
                            next += 1;
                        }
                    }
                    _ => break,
                }
            }
        }
        if (is_key || ctx.in_flow)
            && n.content.start.byte == n.content.end.byte
            && n.tag.is_none()
            && matches!(b.get(next), Some(b':' | b',' | b']' | b'}'))
        {
            // An anchored empty node (`{&a : v}`, `[x, &a]`): something must stay in its place.
            return Some(Splice {
                start: at,
                end,
                text: if is_key { "''" } else { "null" }.to_owned(),
            });
        }
        // Before the end of the line or a comment, the blanks before the anchor go with it:
        // the splice then stays inside the node's span (a merged copy of an entry is cut at
        // its value's end, so a splice reaching the comment would be lost).
        if matches!(b.get(after), None | Some(b'\n' | b'\r'))
            || (after > end && b.get(after) == Some(&b'#'))
        {
            let start = self.blanks_before(at);
            Some(Splice {
                start,
                end,
                text: String::new(),
            })
        } else {
            // yaml-rust2 refuses a tab as the only separator before a plain scalar (`k:\t0`),
            // though it accepts one before a property (`k:\t&a 0`): one space replaces them.
            let start = self.blanks_before(at);
            let mid_line = !matches!(self.byte_before(start), None | Some(b'\n' | b'\r'));
            if mid_line && self.src.get(start..at).is_some_and(|s| s.contains('\t')) {
                return Some(Splice {
                    start,
                    end: after,
                    text: " ".to_owned(),
                });
            }
            Some(Splice {
                start: at,
                end: after,
                text: String::new(),
            })
        }
    }

    /// The column of the `-` of a block sequence item (else the item's own column).
    fn dash_col(&self, n: &Node) -> usize {
        let b = self.src.as_bytes();
        let mut i = n.span.start.byte;
        while matches!(b.get(i.wrapping_sub(1)), Some(b' ')) && i > 0 {
            i -= 1;
        }
        if i > 0 && b.get(i - 1) == Some(&b'-') {
            col0(n).saturating_sub(n.span.start.byte - (i - 1))
        } else {
            col0(n)
        }
    }

    /// The indentation a node's block content is measured from: its key's column, its `-`'s.
    fn base(&self, n: &Node, ctx: Ctx) -> usize {
        match ctx.role {
            Role::Value { key_col, .. } => key_col,
            Role::Item => self.dash_col(n),
            Role::Root | Role::Key => 0,
        }
    }

    /// The indentation of the line holding byte `i`.
    fn line_indent(&self, i: usize) -> usize {
        let before = self.src.get(..i).unwrap_or("");
        let line = &before[before.rfind('\n').map_or(0, |p| p + 1)..];
        line.len() - line.trim_start_matches(' ').len()
    }

    /// What follows byte `i` on its line when only blanks and a comment do: (where the
    /// replaced text may end, the comment). Blanks that end the line are taken too: after
    /// multi-line text they would become part of its last line (a block scalar's content).
    fn trailing_comment(&self, i: usize) -> (usize, Option<&'t str>) {
        let b = self.src.as_bytes();
        let j = self.blanks_after(i);
        if matches!(b.get(j), None | Some(b'\n' | b'\r')) {
            return (j, None);
        }
        if b.get(j) != Some(&b'#') {
            return (i, None);
        }
        let mut e = j;
        while !matches!(b.get(e), None | Some(b'\n' | b'\r')) {
            e += 1;
        }
        (e, self.src.get(j..e))
    }

    /// The splice that writes, in place of alias `a`, what it refers to.
    fn expand_alias(&self, a: &'t Node, ctx: Ctx, via: &Via, depth: usize) -> Option<Splice> {
        let anchors = self.anchors?;
        let t = anchors.target(a);
        let via = via.then(a.span.start.byte);
        if let Some(rep) = self.edit(&via, t) {
            let synth = Node {
                kind: match &t.kind {
                    NodeKind::Scalar { .. } => t.kind.clone(),
                    _ => NodeKind::Mapping(Vec::new()),
                },
                tag: t.tag.clone(),
                anchor: None,
                flow: t.flow,
                span: a.span,
                content: a.span,
                via: via.clone(),
            };
            let mut sp = self.splice(&synth, ctx, rep);
            if let (Replacement::String(_), Some(tag)) = (rep, &t.tag) {
                let body = sp.text.trim_start_matches(' ');
                let lead = &sp.text[..sp.text.len() - body.len()];
                sp.text = format!("{lead}{tag} {body}");
            }
            return Some(sp);
        }
        if ctx.in_flow || matches!(ctx.role, Role::Key | Role::Root) {
            let key = matches!(ctx.role, Role::Key);
            return Some(Splice {
                start: a.span.start.byte,
                end: a.span.end.byte,
                text: self.flow_node(t, &via, depth + 1, key),
            });
        }
        if let NodeKind::Scalar {
            value,
            style: ScalarStyle::Literal | ScalarStyle::Folded,
        } = &t.kind
            && value.is_empty()
        {
            // An empty block scalar (`|` with no content): its header alone would read as a
            // line break where it ends the document.
            let tag = t.tag.as_ref().map(|t| format!("{t} ")).unwrap_or_default();
            return Some(Splice {
                start: a.span.start.byte,
                end: a.span.end.byte,
                text: format!("{tag}''"),
            });
        }
        let t_ctx = self.ctx_of(t);
        let mut inner = Vec::new();
        self.collect_children(t, t_ctx, &via, &mut inner, depth + 1);
        let body = self.apply(t.content.start.byte, t.content.end.byte, inner);
        let base_a = self.base(a, ctx);
        let delta = signed(base_a) - signed(self.base(t, t_ctx));
        let block = !t.flow && matches!(t.kind, NodeKind::Mapping(_) | NodeKind::Sequence(_));
        let multi_line = body.contains('\n');
        let (end, comment) = if multi_line {
            self.trailing_comment(a.span.end.byte)
        } else {
            (a.span.end.byte, None)
        };
        if block {
            let c0 = t.content.start.col.saturating_sub(1);
            let min = match (ctx.role, &t.kind) {
                (Role::Value { .. }, NodeKind::Sequence(_)) => base_a,
                (Role::Item, _) => base_a + 2,
                _ => base_a + 1,
            };
            let first = signed(c0) + delta;
            let delta = delta + (signed(min) - first).max(0);
            let lines = shift(&format!("{}{body}", " ".repeat(c0)), delta, false, None);
            let start = self.blanks_before(a.span.start.byte);
            let mut head = String::new();
            if let Some(tag) = &t.tag {
                head.push(' ');
                head.push_str(tag);
            }
            if let Some(c) = comment {
                head.push(' ');
                head.push_str(c);
            }
            return Some(Splice {
                start,
                end,
                text: format!("{head}{}{lines}", self.eol),
            });
        }
        let block_scalar = matches!(
            t.kind,
            NodeKind::Scalar {
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            }
        );
        let mut text = match &t.tag {
            Some(tag) => format!("{tag} {body}"),
            None => body,
        };
        text = shift(&text, delta, true, (!block_scalar).then_some(base_a + 1));
        if let Some(c) = comment {
            if block_scalar {
                let eol = text.find(['\n', '\r']).unwrap_or(text.len());
                text.insert_str(eol, &format!(" {c}"));
            } else {
                text.push(' ');
                text.push_str(c);
            }
        }
        Some(Splice {
            start: a.span.start.byte,
            end,
            text,
        })
    }

    /// The splice that writes, in place of merge entry `i` of `m`, the entries it merges.
    fn merge_splice(
        &self,
        m: &'t Node,
        i: usize,
        in_flow: bool,
        merged: &[Entry<'t>],
        depth: usize,
    ) -> Splice {
        let entries = m.entries();
        let (k, v) = &entries[i];
        if merged.is_empty() {
            return if let Some((next, _)) = entries.get(i + 1) {
                Splice {
                    start: k.span.start.byte,
                    end: next.span.start.byte,
                    text: String::new(),
                }
            } else if let Some((_, prev)) = i.checked_sub(1).and_then(|p| entries.get(p)) {
                Splice {
                    start: prev.span.end.byte,
                    end: v.span.end.byte,
                    text: String::new(),
                }
            } else {
                Splice {
                    start: k.span.start.byte,
                    end: v.span.end.byte,
                    text: if in_flow {
                        String::new()
                    } else {
                        "{}".to_owned()
                    },
                }
            };
        }
        let col_m = col0(k);
        let texts: Vec<String> = merged
            .iter()
            .map(|e| self.entry_text(e, in_flow, col_m, depth + 1))
            .collect();
        let sep = if in_flow {
            ", ".to_owned()
        } else {
            format!("{}{}", self.eol, " ".repeat(col_m))
        };
        let mut text = texts.join(&sep);
        let (end, comment) = if in_flow {
            (v.span.end.byte, None)
        } else {
            self.trailing_comment(v.span.end.byte)
        };
        if let Some(c) = comment {
            text = format!("{c}{sep}{text}");
        }
        Splice {
            start: k.span.start.byte,
            end,
            text,
        }
    }

    /// One merged entry, written for a mapping whose entries are at column `col_m`.
    fn entry_text(&self, e: &Entry<'t>, target_flow: bool, col_m: usize, depth: usize) -> String {
        let home_ctx = self.ctx_of(e.home);
        let home_flow = home_ctx.in_flow || e.home.flow;
        // A key written over several lines, or an explicit one (`? k` with its `:` on a later
        // line), cannot be copied as the text of an implicit key: the entry is written in
        // flow style, on one line.
        let explicit = !home_flow && {
            let j = self.blanks_after(e.key.span.end.byte);
            self.src.as_bytes().get(j) != Some(&b':')
                || self
                    .src
                    .get(e.key.span.start.byte..e.key.span.end.byte)
                    .is_some_and(|k| k.contains(['\n', '\r']))
        };
        if explicit && !target_flow {
            let text = format!(
                "{}: {}",
                self.flow_key(e.key, &e.via, depth + 1),
                self.flow_text(e.value, &e.via, depth + 1)
            );
            return shift(&text, 0, true, Some(col_m + 1));
        }
        if target_flow && !home_flow {
            return format!(
                "{}: {}",
                self.flow_key(e.key, &e.via, depth + 1),
                self.flow_text(e.value, &e.via, depth + 1)
            );
        }
        let step = step_of(e.home, home_ctx);
        let mut sp = Vec::new();
        self.collect(
            e.key,
            child_ctx(home_flow, Role::Key),
            &e.via,
            &mut sp,
            depth + 1,
        );
        let role = Role::Value {
            key_col: col0(e.key),
            step,
            key_start: e.key.span.start.byte,
        };
        self.collect(
            e.value,
            child_ctx(home_flow, role),
            &e.via,
            &mut sp,
            depth + 1,
        );
        let (a, b) = (
            e.key.span.start.byte,
            e.value.span.end.byte.max(e.key.span.end.byte),
        );
        let mut text = self.apply(a, b, sp);
        if e.value.span.start.byte == e.value.span.end.byte
            && self.edit(&e.via, e.value).is_none()
            && !text.trim_end().ends_with(':')
        {
            text.push(':');
        }
        if home_flow {
            let delta = signed(col_m) - signed(self.line_indent(a));
            shift(&text, delta, true, Some(col_m + 1))
        } else {
            shift(&text, signed(col_m) - signed(col0(e.key)), true, None)
        }
    }

    /// `n` (reached through `via`) written as flow YAML on one line where it can be.
    fn flow_text(&self, n: &'t Node, via: &Via, depth: usize) -> String {
        self.flow_node(n, via, depth, false)
    }

    fn flow_key(&self, n: &'t Node, via: &Via, depth: usize) -> String {
        self.flow_node(n, via, depth, true)
    }

    fn flow_node(&self, n: &'t Node, via: &Via, depth: usize, key: bool) -> String {
        if depth > MAX_RESOLVED_DEPTH {
            return "null".to_owned();
        }
        let tag = n.tag.as_ref().map(|t| format!("{t} ")).unwrap_or_default();
        if let Some(rep) = self.edit(via, n) {
            return match rep {
                Replacement::String(s) => format!("{tag}{}", yaml_scalar(s, true)),
                Replacement::Mapping(pairs) => flow_mapping(pairs, false),
            };
        }
        match &n.kind {
            NodeKind::Alias(_) => match self.anchors {
                Some(a) => {
                    self.flow_node(a.target(n), &via.then(n.span.start.byte), depth + 1, key)
                }
                None => self
                    .src
                    .get(n.span.start.byte..n.span.end.byte)
                    .unwrap_or("")
                    .to_owned(),
            },
            NodeKind::Scalar { value, style } => {
                let tok = self
                    .src
                    .get(n.content.start.byte..n.content.end.byte)
                    .unwrap_or("");
                let one_line = !tok.contains(['\n', '\r']);
                let keep = one_line
                    && match style {
                        ScalarStyle::Plain => plain_flow_safe(value),
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => true,
                        ScalarStyle::Literal | ScalarStyle::Folded => false,
                    };
                if keep {
                    format!("{tag}{tok}")
                } else if *style == ScalarStyle::Plain && value.is_empty() {
                    // An empty plain scalar reads as null, tagged or not (`!GetAZs`); a key
                    // is a string.
                    if key {
                        format!("{tag}''")
                    } else if tag.is_empty() {
                        "null".to_owned()
                    } else {
                        tag
                    }
                } else {
                    format!("{tag}{}", double_quoted(value))
                }
            }
            NodeKind::Sequence(items) => {
                let body: Vec<String> = items
                    .iter()
                    .map(|it| self.flow_text(it, via, depth + 1))
                    .collect();
                format!("{tag}[{}]", body.join(", "))
            }
            NodeKind::Mapping(_) => {
                let entries = match self.anchors {
                    Some(a) => a.flat(n, via, depth).unwrap_or_default(),
                    None => n
                        .entries()
                        .iter()
                        .map(|(key, value)| Entry {
                            key,
                            value,
                            via: via.clone(),
                            home: n,
                        })
                        .collect(),
                };
                let body: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            self.flow_key(e.key, &e.via, depth + 1),
                            self.flow_text(e.value, &e.via, depth + 1)
                        )
                    })
                    .collect();
                format!("{tag}{{{}}}", body.join(", "))
            }
        }
    }
}

/// The line ending used by `src` (its first line break), `\n` when it has none.
pub(crate) fn line_ending(src: &str) -> &'static str {
    match src.find(['\n', '\r']) {
        Some(i) if src.get(i..i + 2) == Some("\r\n") => "\r\n",
        Some(i) if src.get(i..i + 1) == Some("\r") => "\r",
        _ => "\n",
    }
}

pub(crate) fn render(t: &Template, edits: &Edits) -> String {
    let src = &*t.source;
    if edits.is_empty() && !t.unroll {
        return src.to_owned();
    }
    // The template parsed, so its aliases resolve.
    let anchors = if t.unroll {
        Anchors::index(&t.root).ok()
    } else {
        None
    };
    let wanted: HashMap<(Via, usize, usize), &Replacement> = edits
        .edits
        .iter()
        .map(|(via, span, r)| ((via.clone(), span.start.byte, span.end.byte), r))
        .collect();
    let mut r = R {
        src,
        json: t.format == Format::Json,
        eol: line_ending(src),
        global_step: infer_step(&t.root, 0),
        wanted,
        anchors: anchors.as_ref(),
        ctxs: HashMap::new(),
    };
    let root_ctx = Ctx {
        in_flow: false,
        role: Role::Root,
    };
    if r.anchors.is_some() {
        r.record(&t.root, root_ctx, 0);
    }
    let mut splices = Vec::new();
    r.collect(&t.root, root_ctx, &Via::default(), &mut splices, 0);
    r.apply(0, src.len(), splices)
}
