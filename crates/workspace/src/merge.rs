//! Merging addon templates (SPEC A2, B §3.2): the merge rules and the merged text.

use std::path::PathBuf;

use cfn_yaml::{Node, NodeKind, ScalarStyle, Template};

use cfn_yaml::Located;

use crate::error::{AddonsError, Conflict};
use crate::text::{
    Out, Region, Src, emit, emit_leading, flow_region, mapping_regions, sequence_regions,
};

/// One parsed addon template.
pub(crate) struct Input {
    pub path: PathBuf,
    pub tpl: Template,
}

/// The merged text and, per produced line, its origin (index into the inputs).
pub(crate) struct Merged {
    pub text: String,
    pub lines: Vec<crate::text::OutLine>,
}

/// Copilot's equality: kind, tag, value, anchor, alias and children in order; style,
/// comments, indentation and position do not matter.
pub(crate) fn nodes_equal(a: &Node, b: &Node) -> bool {
    if a.anchor != b.anchor {
        return false;
    }
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar { value: va, .. }, NodeKind::Scalar { value: vb, .. }) => {
            va == vb && scalar_tag(a) == scalar_tag(b)
        }
        (NodeKind::Sequence(x), NodeKind::Sequence(y)) => {
            collection_tag(a, "!!seq") == collection_tag(b, "!!seq")
                && x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| nodes_equal(p, q))
        }
        (NodeKind::Mapping(x), NodeKind::Mapping(y)) => {
            collection_tag(a, "!!map") == collection_tag(b, "!!map")
                && x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| nodes_equal(k1, k2) && nodes_equal(v1, v2))
        }
        (NodeKind::Alias(x), NodeKind::Alias(y)) => x == y,
        _ => false,
    }
}

fn collection_tag<'n>(n: &'n Node, default: &str) -> Option<&'n str> {
    match n.tag.as_deref() {
        Some(t) if t == default => None,
        t => t,
    }
}

/// The resolved tag of a scalar (YAML 1.2 core schema for untagged plain scalars).
fn scalar_tag(n: &Node) -> String {
    if let Some(t) = &n.tag {
        return t.clone();
    }
    let NodeKind::Scalar { value, style } = &n.kind else {
        return String::new();
    };
    if *style != ScalarStyle::Plain {
        return "!!str".into();
    }
    let v = value.as_str();
    let tag = if matches!(v, "" | "~" | "null" | "Null" | "NULL") {
        "!!null"
    } else if matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        "!!bool"
    } else if is_int(v) {
        "!!int"
    } else if is_float(v) {
        "!!float"
    } else {
        "!!str"
    };
    tag.into()
}

/// Whether an untagged plain scalar resolves to a string (not null, bool, int or float).
pub(crate) fn plain_scalar_is_string(v: &str) -> bool {
    !(matches!(v, "" | "~" | "null" | "Null" | "NULL")
        || matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        || is_int(v)
        || is_float(v))
}

fn is_int(v: &str) -> bool {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(h) = v.strip_prefix("0x") {
        return digits(h, 16);
    }
    if let Some(o) = v.strip_prefix("0o") {
        return digits(o, 8);
    }
    digits(v.strip_prefix(['-', '+']).unwrap_or(v), 10)
}

fn is_float(v: &str) -> bool {
    let u = v.strip_prefix(['-', '+']).unwrap_or(v);
    if matches!(u, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exp) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = all_digits(int)
        && frac.is_none_or(all_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exp_ok
}

/// An untagged (or `!!null`) plain null scalar: an empty section.
pub(crate) fn is_null(n: &Node) -> bool {
    match &n.kind {
        NodeKind::Scalar {
            value,
            style: ScalarStyle::Plain,
        } => {
            matches!(n.tag.as_deref(), None | Some("!!null"))
                && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// The word naming a key of a mapping section in conflict messages.
fn section_word(section: &str) -> String {
    match section {
        "Metadata" => "metadata key".into(),
        "Parameters" => "parameter logical ID".into(),
        "Mappings" => "mapping".into(),
        "Conditions" => "condition".into(),
        "Resources" => "resource".into(),
        "Outputs" => "output".into(),
        "Rules" => "rule".into(),
        "Hooks" => "hook".into(),
        other => format!("{other} key"),
    }
}

fn key_str<'n>(inputs: &[Input], file: usize, key: &'n Node) -> Result<&'n str, AddonsError> {
    key.as_scalar().ok_or_else(|| AddonsError::InvalidKey {
        at: inputs[file].tpl.locate_at(key.span.start),
    })
}

/// Where a conflicting definition is: its value node, as Copilot points at it (a tag or
/// anchor of the value included; a block mapping or sequence at its first entry).
fn loc(inputs: &[Input], file: usize, value: &Node) -> Located {
    inputs[file].tpl.locate_at(value.span.start)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    /// Compared as a whole (scalars, sequences, ...).
    Whole,
    /// Single-level mapping merge.
    Map,
    /// Two-level mapping merge (`Mappings`).
    TwoLevel,
    /// Set union (`Transform`).
    Set,
}

/// One top-level key as found in one file.
struct Occ<'a> {
    file: usize,
    key: &'a Node,
    value: &'a Node,
    region: Region,
    /// Regions of the value's entries (mapping) or items (sequence).
    inner: Vec<Region>,
}

/// A merged entry of a mapping section.
struct Ent<'a> {
    file: usize,
    name: String,
    key: &'a Node,
    value: &'a Node,
    region: Region,
    /// Mappings: the map's own second-level entries with their regions.
    inner: Vec<Region>,
    /// Mappings: second-level entries added by later files.
    extra: Vec<Ent<'a>>,
}

struct Sec<'a> {
    name: String,
    kind: Kind,
    occs: Vec<Occ<'a>>,
    entries: Vec<Ent<'a>>,
    /// Set: (occurrence index, item index) of each member.
    items: Vec<(usize, usize)>,
    /// Whether a later file added something (else the first occurrence is copied as is).
    changed: bool,
}

fn items_of(n: &Node) -> Vec<&Node> {
    match &n.kind {
        NodeKind::Sequence(items) => items.iter().collect(),
        _ if is_null(n) => Vec::new(),
        _ => vec![n],
    }
}

/// Merges the templates (in the given order) and builds the merged text.
pub(crate) fn merge(inputs: &[Input]) -> Result<Merged, AddonsError> {
    let srcs: Vec<Src> = inputs.iter().map(|i| Src::new(i.tpl.source())).collect();
    let mut secs: Vec<Sec> = Vec::new();
    for (fi, input) in inputs.iter().enumerate() {
        let root = input.tpl.written_root();
        if !matches!(root.kind, NodeKind::Mapping(_)) {
            return Err(AddonsError::NotAMapping {
                at: input.tpl.locate_at(root.span.start),
                what: "a template".into(),
            });
        }
        let top = mapping_regions(&srcs[fi], root, 0);
        for ((k, v), region) in root.entries().iter().zip(top) {
            let name = key_str(inputs, fi, k)?;
            let is_map = matches!(v.kind, NodeKind::Mapping(_)) || is_null(v);
            let inner = match &v.kind {
                NodeKind::Mapping(_) => mapping_regions(&srcs[fi], v, k.span.start.line),
                NodeKind::Sequence(_) => sequence_regions(&srcs[fi], v, k.span.start.line),
                _ => Vec::new(),
            };
            let occ = Occ {
                file: fi,
                key: k,
                value: v,
                region,
                inner,
            };
            match secs.iter_mut().find(|s| s.name == name) {
                None => {
                    let kind = match name {
                        "Transform" => Kind::Set,
                        "Mappings" if is_map => Kind::TwoLevel,
                        _ if is_map => Kind::Map,
                        _ => Kind::Whole,
                    };
                    let mut sec = Sec {
                        name: name.to_string(),
                        kind,
                        occs: vec![occ],
                        entries: Vec::new(),
                        items: Vec::new(),
                        changed: false,
                    };
                    add_occurrence(inputs, &srcs, &mut sec, 0)?;
                    secs.push(sec);
                }
                Some(sec) => {
                    sec.occs.push(occ);
                    let oi = sec.occs.len() - 1;
                    add_occurrence(inputs, &srcs, sec, oi)?;
                }
            }
        }
    }
    Ok(render(&srcs, &secs))
}

/// Merges occurrence `oi` of a section into it.
fn add_occurrence<'a>(
    inputs: &[Input],
    srcs: &[Src],
    sec: &mut Sec<'a>,
    oi: usize,
) -> Result<(), AddonsError> {
    let occ = &sec.occs[oi];
    let (file, value) = (occ.file, occ.value);
    let later = oi > 0;
    match sec.kind {
        Kind::Set => {
            for (ii, item) in items_of(value).into_iter().enumerate() {
                let present = sec.items.iter().any(|&(o, i)| {
                    items_of(sec.occs[o].value)
                        .get(i)
                        .is_some_and(|m| nodes_equal(m, item))
                });
                if !present {
                    sec.items.push((oi, ii));
                    sec.changed |= later;
                }
            }
        }
        Kind::Map | Kind::TwoLevel
            if matches!(value.kind, NodeKind::Mapping(_)) || is_null(value) =>
        {
            let word = section_word(&sec.name);
            for ((k, v), region) in value.entries().iter().zip(&occ.inner) {
                let name = key_str(inputs, file, k)?;
                let inner = if sec.kind == Kind::TwoLevel {
                    if let NodeKind::Mapping(_) = v.kind {
                        mapping_regions(&srcs[file], v, k.span.start.line)
                    } else {
                        Vec::new()
                    }
                } else {
                    Vec::new()
                };
                let new = Ent {
                    file,
                    name: name.to_string(),
                    key: k,
                    value: v,
                    region: *region,
                    inner,
                    extra: Vec::new(),
                };
                match sec.entries.iter_mut().find(|e| e.name == name) {
                    None => {
                        sec.entries.push(new);
                        sec.changed |= later;
                    }
                    Some(existing) => {
                        let both_maps = matches!(existing.value.kind, NodeKind::Mapping(_))
                            && matches!(v.kind, NodeKind::Mapping(_));
                        if sec.kind == Kind::TwoLevel && both_maps {
                            if merge_second_level(inputs, existing, new)? {
                                sec.changed = true;
                            }
                        } else if !nodes_equal(existing.value, v) {
                            return Err(Conflict {
                                what: word,
                                key: name.to_string(),
                                first: loc(inputs, existing.file, existing.value),
                                second: loc(inputs, file, v),
                            }
                            .into());
                        }
                    }
                }
            }
        }
        _ => {
            let first = &sec.occs[0];
            if !nodes_equal(first.value, value) {
                return Err(Conflict {
                    what: "section".into(),
                    key: sec.name.clone(),
                    first: loc(inputs, first.file, first.value),
                    second: loc(inputs, file, value),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Merges the second-level entries of `new` (a map of `Mappings`) into `existing`; returns
/// whether something was added.
fn merge_second_level<'a>(
    inputs: &[Input],
    existing: &mut Ent<'a>,
    new: Ent<'a>,
) -> Result<bool, AddonsError> {
    let mut added = false;
    for ((k, v), region) in new.value.entries().iter().zip(&new.inner) {
        let name = key_str(inputs, new.file, k)?;
        let found = existing
            .value
            .entries()
            .iter()
            .map(|(ek, ev)| (existing.file, ek, ev))
            .chain(existing.extra.iter().map(|e| (e.file, e.key, e.value)))
            .find(|(_, ek, _)| ek.as_scalar() == Some(name));
        match found {
            None => {
                existing.extra.push(Ent {
                    file: new.file,
                    name: name.to_string(),
                    key: k,
                    value: v,
                    region: *region,
                    inner: Vec::new(),
                    extra: Vec::new(),
                });
                added = true;
            }
            Some((ef, _, ev)) => {
                if !nodes_equal(ev, v) {
                    return Err(Conflict {
                        what: "mapping".into(),
                        key: format!("{}.{}", existing.name, name),
                        first: loc(inputs, ef, ev),
                        second: loc(inputs, new.file, v),
                    }
                    .into());
                }
            }
        }
    }
    Ok(added)
}

/// Indentation of the entries of a block mapping value, if it has any.
fn block_entry_indent(value: &Node) -> Option<usize> {
    if value.flow {
        return None;
    }
    value
        .entries()
        .first()
        .map(|(k, _)| k.span.start.col.saturating_sub(1))
        .filter(|&i| i > 0)
}

/// Writes the header line `Key:` of a rebuilt mapping (`indent` spaces before it).
fn emit_header(out: &mut Out, src: &Src, file: usize, key: &Node, value: &Node, indent: usize) {
    let keep_line = (matches!(value.kind, NodeKind::Mapping(_)) && !value.flow)
        || (value.span.start.byte == value.span.end.byte);
    if keep_line {
        // The rest of the key line holds at most a tag, an anchor or a comment.
        let mut r = flow_region(key.span.start, key.span.end);
        r.flow = false;
        r.last = key.span.start.line;
        emit(out, src, file, &r, indent, "", false);
    } else {
        let key_text = src.slice(key.span.start.byte, key.span.end.byte);
        out.push(
            format!("{}{key_text}:", " ".repeat(indent)),
            file,
            key.span.start.line,
            indent as isize + 1 - key.span.start.col as isize,
        );
    }
}

fn render(srcs: &[Src], secs: &[Sec]) -> Merged {
    let mut out = Out::default();
    for sec in secs {
        let first = &sec.occs[0];
        let (ff, src) = (first.file, &srcs[first.file]);
        if !out.is_empty() && first.region.blank_before {
            out.blank();
        }
        if !sec.changed {
            emit(&mut out, src, ff, &first.region, 0, "", true);
            continue;
        }
        // The leading comments of the first occurrence, then the `Key:` line.
        emit_leading(&mut out, src, ff, &first.region, 0);
        emit_header(&mut out, src, ff, first.key, first.value, 0);
        if sec.kind == Kind::Set {
            for &(oi, ii) in &sec.items {
                let occ = &sec.occs[oi];
                let s = &srcs[occ.file];
                let region = match occ.inner.get(ii) {
                    Some(r) if matches!(occ.value.kind, NodeKind::Sequence(_)) => *r,
                    _ => flow_region(occ.value.span.start, occ.value.span.end),
                };
                emit(&mut out, s, occ.file, &region, 2, "- ", false);
            }
            continue;
        }
        let indent = sec
            .occs
            .iter()
            .find_map(|o| block_entry_indent(o.value))
            .unwrap_or(2);
        let mut files_seen = vec![ff];
        for (n, e) in sec.entries.iter().enumerate() {
            let s = &srcs[e.file];
            if !files_seen.contains(&e.file) {
                files_seen.push(e.file);
                // The comments above this file's section key go with its first entry.
                if let Some(occ) = sec.occs.iter().find(|o| o.file == e.file) {
                    if n > 0 && (occ.region.blank_before || e.region.blank_before) {
                        out.blank();
                    }
                    emit_leading(&mut out, s, e.file, &occ.region, indent);
                }
            } else if n > 0 && e.region.blank_before {
                out.blank();
            }
            if e.extra.is_empty() {
                emit(&mut out, s, e.file, &e.region, indent, "", true);
                continue;
            }
            // A map of Mappings that collected keys from later files: rebuild it.
            emit_leading(&mut out, s, e.file, &e.region, indent);
            emit_header(&mut out, s, e.file, e.key, e.value, indent);
            let step = block_entry_indent(e.value)
                .and_then(|i| i.checked_sub(e.key.span.start.col.saturating_sub(1)))
                .filter(|&d| d > 0)
                .unwrap_or(2);
            for r in &e.inner {
                emit(&mut out, s, e.file, r, indent + step, "", true);
            }
            for x in &e.extra {
                emit(
                    &mut out,
                    &srcs[x.file],
                    x.file,
                    &x.region,
                    indent + step,
                    "",
                    true,
                );
            }
        }
    }
    Merged {
        text: out.text(),
        lines: out.lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn node(text: &str) -> Node {
        let t = Template::parse(Path::new("t.yml"), format!("k: {text}\n")).expect("parses");
        t.root().get("k").cloned().expect("k")
    }

    #[test]
    fn equality_ignores_style_but_not_kind_or_tag() {
        let eq = |a: &str, b: &str| nodes_equal(&node(a), &node(b));
        assert!(eq("!Equals [a, b]", "!Equals [a, \"b\"]"));
        assert!(eq("!Equals [a, b]", "!Equals\n  - 'a'\n  - b # c"));
        assert!(eq("{a: 1, b: [x]}", "\n  a: 1\n  b:\n    - x"));
        assert!(eq("2012-10-17", "'2012-10-17'"));
        assert!(eq("!!str 5", "'5'"));
        assert!(eq("!!map {a: 1}", "{a: 1}"));
        assert!(!eq("{Ref: X}", "!Ref X"));
        assert!(!eq("!Ref X", "!Sub X"));
        assert!(!eq("5", "'5'"));
        assert!(!eq("true", "'true'"));
        assert!(!eq("~", "''"));
        assert!(!eq("{a: 1, b: 2}", "{b: 2, a: 1}"));
        assert!(!eq("[a, b]", "[a]"));
        assert!(!eq("&x a", "a"));
    }

    #[test]
    fn core_schema_numbers() {
        for v in ["0", "-12", "+3", "0x1F", "0o17"] {
            assert!(is_int(v), "{v}");
        }
        for v in ["", "-", "0x", "1a", "1.0", "0b1"] {
            assert!(!is_int(v), "{v}");
        }
        for v in ["1.0", "-.5", "1e3", "2.5E-3", ".inf", "-.Inf", ".nan", "1."] {
            assert!(is_float(v), "{v}");
        }
        for v in [".", "e3", "1e", "inf", "nan", "1.2.3", "1e+", "-"] {
            assert!(!is_float(v), "{v}");
        }
    }

    #[test]
    fn null_sections() {
        for v in ["", "~", "null", "NULL", "!!null ''"] {
            let n = node(v);
            // `!!null ''` is quoted: not a plain null.
            assert_eq!(is_null(&n), v != "!!null ''", "{v:?}");
        }
        assert!(!is_null(&node("'null'")));
        assert!(!is_null(&node("{}")));
    }

    #[test]
    fn section_words() {
        assert_eq!(section_word("Parameters"), "parameter logical ID");
        assert_eq!(section_word("Metadata"), "metadata key");
        assert_eq!(section_word("Globals"), "Globals key");
    }
}
