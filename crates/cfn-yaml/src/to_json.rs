//! Rendering the tree as JSON, with short-form intrinsic tags turned into their long form.

use std::collections::HashMap;

use crate::quote::json_string;
use crate::{Edits, Node, NodeKind, Pos, RenderError, Replacement, ScalarStyle, Template};

/// Intrinsic functions written `!Name` in YAML and `{"Fn::Name": ...}` in JSON.
const FN_TAGS: &[&str] = &[
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "ForEach",
    "GetAtt",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
];

/// Intrinsics whose scalar argument is always a string.
const STRING_ARG: &[&str] = &[
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "GetAZs",
    "ImportValue",
    "Base64",
];

/// Expanded output nodes allowed (guards against alias bombs).
const MAX_NODES: usize = 5_000_000;
/// Nesting allowed in the output (aliases can nest deeper than the source).
const MAX_OUT_DEPTH: usize = 4 * crate::MAX_DEPTH;

enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return false;
        }
    }
    i == b.len()
}

/// YAML 1.2 core-schema int/float as a JSON number text, if it can be written without loss.
fn core_number(s: &str) -> Option<String> {
    if let Some(hex) = s.strip_prefix("0x") {
        return u128::from_str_radix(hex, 16).ok().map(|n| n.to_string());
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return u128::from_str_radix(oct, 8).ok().map(|n| n.to_string());
    }
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    // Core schema float/int: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
        None => (body, None),
    };
    let (int, frac) = match mant.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mant, None),
    };
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if !digits(int)
        || !frac.is_none_or(digits)
        || (int.is_empty() && frac.is_none_or(str::is_empty))
    {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(f) = frac {
        out.push('.');
        out.push_str(if f.is_empty() { "0" } else { f });
    }
    if let Some(e) = exp {
        out.push('e');
        out.push_str(e);
    }
    // Leading zeros (`0123`) are not valid JSON: keep such values as strings.
    is_json_number(&out).then_some(out)
}

/// Resolves a plain scalar per the YAML 1.2 core schema.
fn plain(value: &str) -> J {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => J::Null,
        "true" | "True" | "TRUE" => J::Bool(true),
        "false" | "False" | "FALSE" => J::Bool(false),
        v => core_number(v).map_or_else(|| J::Str(v.to_owned()), J::Num),
    }
}

struct W<'a> {
    t: &'a Template,
    wanted: HashMap<(usize, usize), &'a Replacement>,
    anchors: HashMap<&'a str, &'a Node>,
    expanding: usize,
    nodes: usize,
}

impl<'a> W<'a> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> RenderError {
        RenderError {
            origin: self.t.origin.clone(),
            pos,
            message: message.into(),
        }
    }

    fn replacement(&self, n: &Node) -> Option<&'a Replacement> {
        self.wanted
            .get(&(n.span.start.byte, n.span.end.byte))
            .copied()
    }

    fn resolve_alias(&self, n: &'a Node) -> Result<&'a Node, RenderError> {
        match &n.kind {
            NodeKind::Alias(name) => self
                .anchors
                .get(name.as_str())
                .copied()
                .ok_or_else(|| self.err(n.span.start, format!("unknown alias *{name}"))),
            _ => Ok(n),
        }
    }

    fn key(&mut self, k: &'a Node) -> Result<String, RenderError> {
        if let Some(Replacement::String(s)) = self.replacement(k) {
            return Ok(s.clone());
        }
        let k = self.resolve_alias(k)?;
        match (&k.kind, k.tag.as_deref()) {
            (
                NodeKind::Scalar { value, .. },
                None | Some("!" | "!!str" | "!<tag:yaml.org,2002:str>"),
            ) => Ok(value.clone()),
            _ => Err(self.err(
                k.span.start,
                "mapping key cannot be represented in JSON (not a string)",
            )),
        }
    }

    fn node(&mut self, n: &'a Node, depth: usize, force_str: bool) -> Result<J, RenderError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES || depth > MAX_OUT_DEPTH {
            return Err(self.err(n.span.start, "JSON output too large (alias expansion)"));
        }
        if let Some(rep) = self.replacement(n) {
            let j = match rep {
                Replacement::String(s) => J::Str(s.clone()),
                Replacement::Mapping(pairs) => J::Obj(
                    pairs
                        .iter()
                        .map(|(k, v)| (k.clone(), J::Str(v.clone())))
                        .collect(),
                ),
            };
            self.register(n);
            return Ok(j);
        }
        if let NodeKind::Alias(_) = n.kind {
            let target = self.resolve_alias(n)?;
            self.expanding += 1;
            let r = self.node(target, depth + 1, force_str);
            self.expanding -= 1;
            return r;
        }
        let j = match n.tag.as_deref() {
            None => self.untagged(n, depth, force_str)?,
            Some("!") => self.untagged(n, depth, true)?,
            Some(t) if t.starts_with("!!") || t.starts_with("!<tag:yaml.org,2002:") => {
                let name = t
                    .strip_prefix("!!")
                    .or_else(|| {
                        t.strip_prefix("!<tag:yaml.org,2002:")
                            .and_then(|s| s.strip_suffix('>'))
                    })
                    .unwrap_or("");
                self.core_tagged(n, name, depth)?
            }
            Some(t) => {
                let name = t.strip_prefix('!').unwrap_or(t);
                let force = STRING_ARG.contains(&name);
                let long = match name {
                    "Ref" | "Condition" => name.to_owned(),
                    n if FN_TAGS.contains(&n) => format!("Fn::{n}"),
                    _ => {
                        return Err(
                            self.err(n.span.start, format!("tag {t} has no long form in JSON"))
                        );
                    }
                };
                let inner = match (&n.kind, name) {
                    (NodeKind::Scalar { value, .. }, "GetAtt") => match value.split_once('.') {
                        Some((a, b)) => J::Arr(vec![J::Str(a.to_owned()), J::Str(b.to_owned())]),
                        None => J::Str(value.clone()),
                    },
                    _ => self.untagged(n, depth, force)?,
                };
                J::Obj(vec![(long, inner)])
            }
        };
        self.register(n);
        Ok(j)
    }

    fn register(&mut self, n: &'a Node) {
        if self.expanding == 0
            && let Some(a) = &n.anchor
        {
            self.anchors.insert(a.as_str(), n);
        }
    }

    fn untagged(&mut self, n: &'a Node, depth: usize, force_str: bool) -> Result<J, RenderError> {
        Ok(match &n.kind {
            NodeKind::Scalar { value, style } => {
                // An empty plain scalar is null even as an intrinsic's argument (`!GetAZs`).
                if *style == ScalarStyle::Plain && (!force_str || value.is_empty()) {
                    plain(value)
                } else {
                    J::Str(value.clone())
                }
            }
            NodeKind::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    out.push(self.node(it, depth + 1, false)?);
                }
                J::Arr(out)
            }
            NodeKind::Mapping(entries) => {
                let mut out: Vec<(String, J)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = self.key(k)?;
                    let val = self.node(v, depth + 1, false)?;
                    out.push((key, val));
                }
                J::Obj(out)
            }
            NodeKind::Alias(_) => self.node(n, depth + 1, force_str)?,
        })
    }

    fn core_tagged(&mut self, n: &'a Node, name: &str, depth: usize) -> Result<J, RenderError> {
        let value = n.as_scalar();
        let bad = || format!("value cannot be converted to !!{name}");
        Ok(match (name, value) {
            ("str" | "binary" | "timestamp", Some(v)) => J::Str(v.to_owned()),
            ("int" | "float", Some(v)) => match core_number(v) {
                Some(num) => J::Num(num),
                None => return Err(self.err(n.span.start, bad())),
            },
            ("bool", Some(v)) => match plain(v) {
                J::Bool(b) => J::Bool(b),
                _ => return Err(self.err(n.span.start, bad())),
            },
            ("null", Some(_)) => J::Null,
            ("map" | "seq" | "omap" | "set", None) => self.untagged(n, depth, false)?,
            _ => {
                let tag = n.tag.as_deref().unwrap_or("");
                return Err(self.err(n.span.start, format!("tag {tag} has no long form in JSON")));
            }
        })
    }
}

fn write(j: &J, level: usize, out: &mut String) {
    let pad = |out: &mut String, l: usize| {
        for _ in 0..l {
            out.push_str("  ");
        }
    };
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => out.push_str(&json_string(s)),
        J::Arr(items) if items.is_empty() => out.push_str("[]"),
        J::Obj(entries) if entries.is_empty() => out.push_str("{}"),
        J::Arr(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                pad(out, level + 1);
                write(it, level + 1, out);
            }
            out.push('\n');
            pad(out, level);
            out.push(']');
        }
        J::Obj(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                pad(out, level + 1);
                out.push_str(&json_string(k));
                out.push_str(": ");
                write(v, level + 1, out);
            }
            out.push('\n');
            pad(out, level);
            out.push('}');
        }
    }
}

pub(crate) fn render_json(t: &Template, edits: &Edits) -> Result<String, RenderError> {
    let mut w = W {
        t,
        wanted: edits
            .edits
            .iter()
            .map(|(span, r)| ((span.start.byte, span.end.byte), r))
            .collect(),
        anchors: HashMap::new(),
        expanding: 0,
        nodes: 0,
    };
    let j = w.node(&t.root, 0, false)?;
    let mut out = String::new();
    write(&j, 0, &mut out);
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (i, o) in [
            ("1", Some("1")),
            ("-1", Some("-1")),
            ("+1", Some("1")),
            ("0", Some("0")),
            ("0123", None),
            ("1.5", Some("1.5")),
            (".5", Some("0.5")),
            ("1.", Some("1.0")),
            ("1e3", Some("1e3")),
            ("1.5E-3", Some("1.5e-3")),
            ("0x1F", Some("31")),
            ("0o17", Some("15")),
            ("1_000", None),
            ("2010-09-09", None),
            (".", None),
            ("e3", None),
            ("-", None),
            ("12abc", None),
        ] {
            assert_eq!(core_number(i).as_deref(), o, "{i}");
        }
    }
}
