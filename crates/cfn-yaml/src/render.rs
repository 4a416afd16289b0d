//! Lossless rendering: splicing replacements into the original text.

use std::collections::HashMap;

use crate::quote::{double_quoted, json_string, single_quoted, yaml_scalar};
use crate::{Edits, Format, Node, NodeKind, Replacement, ScalarStyle, Template};

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

/// Finds the replaced nodes (outermost first) with their context.
fn walk<'a>(
    node: &'a Node,
    ctx: Ctx,
    wanted: &HashMap<(usize, usize), &'a Replacement>,
    found: &mut Vec<(&'a Node, Ctx, &'a Replacement)>,
) {
    if let Some(rep) = wanted.get(&(node.span.start.byte, node.span.end.byte)) {
        found.push((node, ctx, rep));
        return;
    }
    let in_flow = ctx.in_flow || node.flow;
    match &node.kind {
        NodeKind::Mapping(entries) => {
            let step = match ctx.role {
                Role::Value { key_col, .. } if !node.flow => node
                    .content
                    .start
                    .col
                    .saturating_sub(1)
                    .checked_sub(key_col)
                    .filter(|s| *s > 0),
                _ => None,
            };
            for (k, v) in entries {
                walk(
                    k,
                    Ctx {
                        in_flow,
                        role: Role::Key,
                    },
                    wanted,
                    found,
                );
                walk(
                    v,
                    Ctx {
                        in_flow,
                        role: Role::Value {
                            key_col: col0(k),
                            step,
                            key_start: k.span.start.byte,
                        },
                    },
                    wanted,
                    found,
                );
            }
        }
        NodeKind::Sequence(items) => {
            for it in items {
                walk(
                    it,
                    Ctx {
                        in_flow,
                        role: Role::Item,
                    },
                    wanted,
                    found,
                );
            }
        }
        _ => {}
    }
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
}

impl R<'_> {
    fn byte_before(&self, i: usize) -> Option<u8> {
        i.checked_sub(1)
            .and_then(|j| self.src.as_bytes().get(j).copied())
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
                // The anchor is kept so that aliases of the node stay valid.
                let anchor = node.anchor.as_ref().map(|a| format!("&{a}"));
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

/// The line ending used by `src` (its first line break), `\n` when it has none.
pub(crate) fn line_ending(src: &str) -> &'static str {
    match src.find(['\n', '\r']) {
        Some(i) if src.get(i..i + 2) == Some("\r\n") => "\r\n",
        Some(i) if src.get(i..i + 1) == Some("\r") => "\r",
        _ => "\n",
    }
}

pub(crate) fn render(t: &Template, edits: &Edits) -> String {
    let src = t.source.as_str();
    if edits.is_empty() {
        return src.to_owned();
    }
    let wanted: HashMap<(usize, usize), &Replacement> = edits
        .edits
        .iter()
        .map(|(span, r)| ((span.start.byte, span.end.byte), r))
        .collect();
    let mut found = Vec::new();
    walk(
        &t.root,
        Ctx {
            in_flow: false,
            role: Role::Root,
        },
        &wanted,
        &mut found,
    );
    let r = R {
        src,
        json: t.format == Format::Json,
        eol: line_ending(src),
        global_step: infer_step(&t.root, 0),
    };
    let mut splices: Vec<Splice> = found
        .into_iter()
        .map(|(n, ctx, rep)| r.splice(n, ctx, rep))
        .collect();
    splices.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(src.len() + 256);
    let mut at = 0usize;
    for sp in splices {
        if sp.start < at || sp.end < sp.start {
            continue;
        }
        let (Some(keep), Some(_)) = (src.get(at..sp.start), src.get(sp.start..sp.end)) else {
            continue;
        };
        out.push_str(keep);
        out.push_str(&sp.text);
        at = sp.end;
    }
    out.push_str(src.get(at..).unwrap_or(""));
    out
}
