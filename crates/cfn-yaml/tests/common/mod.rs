#![allow(dead_code)]

pub mod lossless;

use cfn_yaml::{Node, NodeKind, Span};

/// A copy of the tree with all spans zeroed, for comparisons modulo positions.
pub fn strip(n: &Node) -> Node {
    Node {
        kind: match &n.kind {
            NodeKind::Scalar { value, style } => NodeKind::Scalar {
                value: value.clone(),
                style: *style,
            },
            NodeKind::Sequence(items) => NodeKind::Sequence(items.iter().map(strip).collect()),
            NodeKind::Mapping(entries) => {
                NodeKind::Mapping(entries.iter().map(|(k, v)| (strip(k), strip(v))).collect())
            }
            NodeKind::Alias(a) => NodeKind::Alias(a.clone()),
        },
        tag: n.tag.clone(),
        anchor: n.anchor.clone(),
        flow: n.flow,
        span: Span::default(),
        content: Span::default(),
        via: Default::default(),
    }
}

/// [`strip`], also forgetting anchors, flow-ness and the kind of quoting (what unrolling may
/// change without changing what CloudFormation reads).
pub fn strip_props(n: &Node) -> Node {
    let kind = match &n.kind {
        NodeKind::Scalar { value, style } => NodeKind::Scalar {
            value: value.clone(),
            style: match style {
                cfn_yaml::ScalarStyle::Plain => cfn_yaml::ScalarStyle::Plain,
                _ => cfn_yaml::ScalarStyle::DoubleQuoted,
            },
        },
        NodeKind::Sequence(items) => NodeKind::Sequence(items.iter().map(strip_props).collect()),
        NodeKind::Mapping(entries) => NodeKind::Mapping(
            entries
                .iter()
                .map(|(k, v)| (strip_props(k), strip_props(v)))
                .collect(),
        ),
        NodeKind::Alias(a) => NodeKind::Alias(a.clone()),
    };
    Node {
        kind,
        tag: n.tag.clone(),
        anchor: None,
        flow: false,
        span: Span::default(),
        content: Span::default(),
        via: Default::default(),
    }
}

/// Checks span invariants of a parsed tree against its source: spans are ordered, content is
/// inside the span, children inside parents, and scalar content text matches the style.
pub fn check_spans(src: &str, n: &Node) {
    assert!(n.span.start.byte <= n.span.end.byte, "{n:?}");
    assert!(n.span.start.byte <= n.content.start.byte, "{n:?}");
    assert!(n.content.end.byte <= n.span.end.byte, "{n:?}");
    assert!(src.get(n.span.start.byte..n.span.end.byte).is_some());
    let text = &src[n.content.start.byte..n.content.end.byte];
    match &n.kind {
        NodeKind::Scalar { value, style } => match style {
            cfn_yaml::ScalarStyle::DoubleQuoted => {
                assert!(
                    text.starts_with('"') && text.ends_with('"') && text.len() >= 2,
                    "{text:?}"
                )
            }
            cfn_yaml::ScalarStyle::SingleQuoted => {
                assert!(
                    text.starts_with('\'') && text.ends_with('\'') && text.len() >= 2,
                    "{text:?}"
                )
            }
            cfn_yaml::ScalarStyle::Literal => assert!(text.starts_with('|'), "{text:?}"),
            cfn_yaml::ScalarStyle::Folded => assert!(text.starts_with('>'), "{text:?}"),
            cfn_yaml::ScalarStyle::Plain => {
                let squashed: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
                let src_squashed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                assert_eq!(squashed, src_squashed, "plain scalar text mismatch");
            }
        },
        NodeKind::Sequence(items) => {
            if n.flow {
                assert!(text.starts_with('[') && text.ends_with(']'), "{text:?}");
            }
            for it in items {
                assert!(
                    it.span.start.byte >= n.content.start.byte
                        && it.span.end.byte <= n.span.end.byte
                );
                check_spans(src, it);
            }
        }
        NodeKind::Mapping(entries) => {
            if n.flow && text.starts_with('{') {
                assert!(text.ends_with('}'), "{text:?}");
            }
            let mut last = n.content.start.byte;
            for (k, v) in entries {
                assert!(k.span.start.byte >= last, "entries out of order");
                assert!(v.span.start.byte >= k.span.end.byte);
                last = v.span.end.byte;
                check_spans(src, k);
                check_spans(src, v);
            }
            assert!(last <= n.span.end.byte);
        }
        NodeKind::Alias(name) => assert_eq!(text, format!("*{name}")),
    }
    if let Some(t) = &n.tag {
        assert!(
            src[n.span.start.byte..n.content.start.byte].contains(t.as_str()),
            "tag {t}"
        );
    }
    if let Some(a) = &n.anchor {
        assert!(src[n.span.start.byte..n.content.start.byte].contains(&format!("&{a}")));
    }
}
