//! Rendering the tree as JSON, with short-form intrinsic tags turned into their long form.

use std::collections::HashMap;

use crate::quote::json_string;
use crate::{
    Edits, Format, Node, NodeKind, Pos, RenderError, Replacement, ScalarStyle, Template, Via,
};

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

/// Output nodes allowed (alias expansion is bounded at parse time; this bounds the rest).
const MAX_NODES: usize = 5_000_000;
/// Nesting allowed in the output (aliases can nest deeper than the source).
const MAX_OUT_DEPTH: usize = crate::resolve::MAX_RESOLVED_DEPTH + 1;

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

/// Digits of `s` in `radix` with YAML 1.1's `_` separators, as an integer.
fn radix_int(s: &str, radix: u32) -> Option<u128> {
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    u128::from_str_radix(&digits, radix).ok()
}

/// `a:b:c` (base 60, YAML 1.1 sexagesimal): the first part any digits, the others 0..59.
fn sexagesimal(s: &str) -> Option<u128> {
    let mut parts = s.split(':');
    let first = parts.next()?;
    let mut n = radix_int(first, 10)?;
    let mut any = false;
    for p in parts {
        any = true;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let d: u128 = p.parse().ok()?;
        if d > 59 {
            return None;
        }
        n = n.checked_mul(60)?.checked_add(d)?;
    }
    any.then_some(n)
}

fn all(s: &str, f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

/// A plain scalar that YAML 1.1 (PyYAML's resolver, which `aws cloudformation package` and
/// CloudFormation's YAML reader follow) reads as an int, as JSON number text.
fn yaml11_int(s: &str) -> Option<String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digit_or_sep = |c: u8| c.is_ascii_digit() || c == b'_';
    let n = if let Some(bin) = body.strip_prefix("0b") {
        all(bin, |c| matches!(c, b'0' | b'1' | b'_')).then(|| radix_int(bin, 2))??
    } else if let Some(hex) = body.strip_prefix("0x") {
        all(hex, |c| c.is_ascii_hexdigit() || c == b'_').then(|| radix_int(hex, 16))??
    } else if body == "0" {
        0
    } else if let Some(oct) = body.strip_prefix('0') {
        all(oct, |c| matches!(c, b'0'..=b'7' | b'_')).then(|| radix_int(oct, 8))??
    } else if body.starts_with(|c: char| c.is_ascii_digit()) && body.contains(':') {
        sexagesimal(body)?
    } else if body.starts_with(|c: char| c.is_ascii_digit()) && all(body, digit_or_sep) {
        radix_int(body, 10)?
    } else {
        return None;
    };
    Some(if neg && n != 0 {
        format!("-{n}")
    } else {
        n.to_string()
    })
}

/// A plain scalar that YAML 1.1 reads as a (finite) float, as JSON number text. `.inf` and
/// `.nan` have no JSON form and stay strings.
fn yaml11_float(s: &str) -> Option<String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digit_or_sep = |c: u8| c.is_ascii_digit() || c == b'_';
    // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*  (sexagesimal float)
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mant.split_once('.')?;
    if !frac.bytes().all(digit_or_sep) {
        return None;
    }
    let int_text = if int.contains(':') {
        if exp.is_some() {
            return None;
        }
        sexagesimal(int)?.to_string()
    } else if int.is_empty() {
        // `.5` takes no sign in YAML 1.1.
        if s.len() != body.len() {
            return None;
        }
        "0".to_owned()
    } else if int.as_bytes()[0].is_ascii_digit() && int.bytes().all(digit_or_sep) {
        let d: String = int.chars().filter(|c| *c != '_').collect();
        let t = d.trim_start_matches('0');
        if t.is_empty() {
            "0".to_owned()
        } else {
            t.to_owned()
        }
    } else {
        return None;
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&int_text);
    out.push('.');
    let f: String = frac.chars().filter(|c| *c != '_').collect();
    out.push_str(if f.is_empty() { "0" } else { &f });
    if let Some(e) = exp {
        // YAML 1.1 wants the exponent's sign.
        let (sign, digits) = (e.get(..1)?, e.get(1..)?);
        if !matches!(sign, "+" | "-") || !all(digits, |c| c.is_ascii_digit()) {
            return None;
        }
        out.push('e');
        if sign == "-" {
            out.push('-');
        }
        out.push_str(digits);
    }
    is_json_number(&out).then_some(out)
}

/// Resolves a plain scalar as YAML 1.1 does (CloudFormation's reader and aws-cli's PyYAML):
/// `yes/no/on/off/true/false` in their three case forms are booleans, `0755` is octal,
/// `0x1F` hex, `1_000` a thousand, `1:30` sexagesimal; timestamps stay strings (as SAM and
/// CloudFormation keep `2010-09-09`).
fn plain(value: &str) -> J {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => J::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => J::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => J::Bool(false),
        v => yaml11_int(v)
            .or_else(|| yaml11_float(v))
            .map_or_else(|| J::Str(v.to_owned()), J::Num),
    }
}

/// An unquoted token of a JSON template: written as it is.
fn json_literal(value: &str) -> J {
    match value {
        "null" => J::Null,
        "true" => J::Bool(true),
        "false" => J::Bool(false),
        v if is_json_number(v) => J::Num(v.to_owned()),
        v => J::Str(v.to_owned()),
    }
}

/// A number for `!!int` / `!!float` (any form YAML 1.1 reads as one).
fn number(v: &str) -> Option<String> {
    yaml11_int(v).or_else(|| yaml11_float(v))
}

struct W<'a> {
    t: &'a Template,
    wanted: HashMap<(Via, usize, usize), &'a Replacement>,
    nodes: usize,
}

impl<'a> W<'a> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> RenderError {
        RenderError {
            at: self.t.locate(crate::Span {
                start: pos,
                end: pos,
            }),
            message: message.into(),
        }
    }

    fn replacement(&self, n: &Node) -> Option<&'a Replacement> {
        if self.wanted.is_empty() {
            return None;
        }
        self.wanted
            .get(&(n.via.clone(), n.span.start.byte, n.span.end.byte))
            .copied()
    }

    fn key(&mut self, k: &'a Node) -> Result<String, RenderError> {
        if let Some(Replacement::String(s)) = self.replacement(k) {
            return Ok(s.clone());
        }
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
            return Err(self.err(n.span.start, "JSON output too large"));
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
            return Ok(j);
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
        Ok(j)
    }

    fn untagged(&mut self, n: &'a Node, depth: usize, force_str: bool) -> Result<J, RenderError> {
        Ok(match &n.kind {
            NodeKind::Scalar { value, style } => {
                // An empty plain scalar is null even as an intrinsic's argument (`!GetAZs`).
                if *style == ScalarStyle::Plain && (!force_str || value.is_empty()) {
                    if self.t.format == Format::Json {
                        json_literal(value)
                    } else {
                        plain(value)
                    }
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
            // The resolved tree has no aliases.
            NodeKind::Alias(name) => {
                return Err(self.err(n.span.start, format!("unknown alias *{name}")));
            }
        })
    }

    fn core_tagged(&mut self, n: &'a Node, name: &str, depth: usize) -> Result<J, RenderError> {
        let value = n.as_scalar();
        let bad = || format!("value cannot be converted to !!{name}");
        Ok(match (name, value) {
            ("str" | "binary" | "timestamp", Some(v)) => J::Str(v.to_owned()),
            ("int" | "float", Some(v)) => match number(v) {
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
            .map(|(via, span, r)| ((via.clone(), span.start.byte, span.end.byte), r))
            .collect(),
        nodes: 0,
    };
    let j = w.node(t.root(), 0, false)?;
    let mut out = String::new();
    write(&j, 0, &mut out);
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars() {
        let num = |s: &str| match plain(s) {
            J::Num(n) => Some(n),
            _ => None,
        };
        for (i, o) in [
            ("1", Some("1")),
            ("-1", Some("-1")),
            ("+1", Some("1")),
            ("0", Some("0")),
            ("-0", Some("0")),
            ("0755", Some("493")),
            ("0o17", None),
            ("09", None),
            ("0x1F", Some("31")),
            ("0x_1f", Some("31")),
            ("0b101", Some("5")),
            ("1_000", Some("1000")),
            ("1:30", Some("90")),
            ("190:20:30", Some("685230")),
            ("1:60", None),
            ("1.5", Some("1.5")),
            ("1.", Some("1.0")),
            (".5", Some("0.5")),
            ("-.5", None),
            ("1e3", None),
            ("1.0e3", None),
            ("1.0e+3", Some("1.0e3")),
            ("1.5E-3", Some("1.5e-3")),
            ("1_0.2_5", Some("10.25")),
            ("1:30.5", Some("90.5")),
            ("007.5", Some("7.5")),
            (".inf", None),
            (".nan", None),
            ("2010-09-09", None),
            (".", None),
            ("-", None),
            ("12abc", None),
            ("1__", Some("1")),
        ] {
            assert_eq!(num(i).as_deref(), o, "{i}");
        }
        for (i, b) in [
            ("on", true),
            ("On", true),
            ("ON", true),
            ("yes", true),
            ("Yes", true),
            ("YES", true),
            ("true", true),
            ("off", false),
            ("Off", false),
            ("OFF", false),
            ("no", false),
            ("No", false),
            ("NO", false),
            ("False", false),
        ] {
            assert!(matches!(plain(i), J::Bool(x) if x == b), "{i}");
        }
        // Forms that YAML 1.1 reads as strings (PyYAML has no y/n booleans).
        for s in [
            "y",
            "n",
            "oN",
            "yES",
            "nO",
            "2010-09-09",
            ".inf",
            "0o17",
            "1e3",
        ] {
            assert!(matches!(plain(s), J::Str(ref x) if x == s), "{s}");
        }
        for s in ["~", "null", "Null", "NULL", ""] {
            assert!(matches!(plain(s), J::Null), "{s}");
        }
    }
}
