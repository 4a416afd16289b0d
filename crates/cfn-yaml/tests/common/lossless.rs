//! Losslessness under edits, shared by the corpus test and the `yaml_model` fuzz target (which
//! includes this file by path): replace a chosen set of scalar values with markers and compute,
//! independently of the renderer, what the output must be: the source with exactly those spans
//! replaced and every other byte as written.

use cfn_yaml::{Edits, Format, Node, NodeKind, Replacement, ScalarStyle, Template};

/// Every scalar mapping value that an edit may target: plain or quoted, one line, not empty,
/// without a tag or an anchor.
pub fn editable_values<'t>(n: &'t Node, out: &mut Vec<&'t Node>) {
    match &n.kind {
        NodeKind::Mapping(entries) => {
            for (_, v) in entries {
                if let NodeKind::Scalar { value, style } = &v.kind
                    && !value.is_empty()
                    && v.tag.is_none()
                    && v.anchor.is_none()
                    && v.content.start.line == v.content.end.line
                    && matches!(
                        style,
                        ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                    )
                {
                    out.push(v);
                }
                editable_values(v, out);
            }
        }
        NodeKind::Sequence(items) => items.iter().for_each(|i| editable_values(i, out)),
        _ => {}
    }
}

/// Replaces the values `pick` chooses (by index into [`editable_values`]) with the markers
/// `zq{round}x{index}` and returns the rendering and the expected text, or `None` when the
/// template has aliases (their rendering is an unrolled template, not an edit of the source)
/// or nothing was picked.
pub fn edit_picked(
    template: &Template,
    source: &str,
    round: usize,
    pick: &mut dyn FnMut(usize) -> bool,
) -> Option<(String, String)> {
    if template.has_aliases() {
        return None;
    }
    let mut nodes = Vec::new();
    editable_values(template.root(), &mut nodes);
    let mut edits = Edits::new();
    let mut parts: Vec<(usize, usize, String)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if !pick(i) {
            continue;
        }
        let marker = format!("zq{round}x{i}");
        edits.replace(n, Replacement::String(marker.clone()));
        let NodeKind::Scalar { style, .. } = &n.kind else {
            unreachable!("editable_values returns scalars")
        };
        let (written, a, b) = match (template.format(), style) {
            (Format::Json, _) => (format!("\"{marker}\""), n.span.start.byte, n.span.end.byte),
            (Format::Yaml, ScalarStyle::SingleQuoted) => (
                format!("'{marker}'"),
                n.content.start.byte,
                n.content.end.byte,
            ),
            (Format::Yaml, ScalarStyle::DoubleQuoted) => (
                format!("\"{marker}\""),
                n.content.start.byte,
                n.content.end.byte,
            ),
            (Format::Yaml, _) => (marker, n.content.start.byte, n.content.end.byte),
        };
        parts.push((a, b, written));
    }
    if parts.is_empty() {
        return None;
    }
    parts.sort();
    let mut expected = String::with_capacity(source.len());
    let mut at = 0;
    for (a, b, written) in &parts {
        expected.push_str(&source[at..*a]);
        expected.push_str(written);
        at = *b;
    }
    expected.push_str(&source[at..]);
    Some((template.render(&edits), expected))
}

/// Writing each quoted value that needs no escaping back as itself: the output must be the
/// source, byte for byte.
pub fn rewrite_quoted_as_themselves(template: &Template) -> String {
    let mut nodes = Vec::new();
    editable_values(template.root(), &mut nodes);
    let mut edits = Edits::new();
    for n in &nodes {
        if let NodeKind::Scalar { value, style } = &n.kind
            && *style != ScalarStyle::Plain
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            edits.replace(n, Replacement::String(value.clone()));
        }
    }
    template.render(&edits)
}
